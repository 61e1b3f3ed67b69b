// Header CRC-16 and record CRC-8 + Berger byte; see spareflash_crc.h.
#include "spareflash_crc.h"

#if defined(__AVR__)
#include <util/crc16.h>
#endif

uint16_t sf_crc16_update(uint16_t crc, uint8_t b) {
#if defined(__AVR__)
  return _crc_xmodem_update(crc, b);  // the same polynomial, MSB first; the caller supplies the 0xFFFF start
#else
  crc ^= (uint16_t)b << 8;
  for (uint8_t i = 0; i < 8; i++) crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
  return crc;
#endif
}

uint16_t sf_crc16_ram(uint16_t crc, const void *p, uint16_t n) {
  const uint8_t *d = (const uint8_t *)p;
  while (n--) crc = sf_crc16_update(crc, *d++);
  return crc;
}

// The record check runs on every put (18 body bytes for a 16-byte value) and on every record garbage collection
// tests for liveness, so it is table-driven, a nibble at a time (32 bytes of tables in flash): about 3x faster
// than the bit loops (_crc8_ccitt_update and an 8-step 0-bit count, ~81 cycles a byte on AVR), same bytes.
#if defined(__AVR__)
#include <avr/pgmspace.h>
#define SF_NIB(t, i) pgm_read_byte(&(t)[i])
#else
#define PROGMEM
#define SF_NIB(t, i) ((t)[i])
#endif

// CRC-8 (poly 0x07, MSB first) of the nibble i shifted in at the top: crc' = (crc << 4) ^ crc8_nib[crc >> 4].
static const uint8_t crc8_nib[16] PROGMEM = {0x00, 0x07, 0x0E, 0x09, 0x1C, 0x1B, 0x12, 0x15,
                                             0x38, 0x3F, 0x36, 0x31, 0x24, 0x23, 0x2A, 0x2D};
// 0-bits of a nibble.
static const uint8_t zeros_nib[16] PROGMEM = {4, 3, 3, 2, 3, 2, 2, 1, 3, 2, 2, 1, 2, 1, 1, 0};

// 0-bits of b added to z (mod 256: the Berger byte is one byte; the residual case is in the spec, section 5).
static uint8_t add_zeros(uint8_t z, uint8_t b) {
  return (uint8_t)(z + SF_NIB(zeros_nib, b & 0x0F) + SF_NIB(zeros_nib, b >> 4));
}

uint16_t sf_rec_update(uint16_t s, uint8_t b) {
  uint8_t crc = (uint8_t)s ^ b;
  crc = (uint8_t)(crc << 4) ^ SF_NIB(crc8_nib, crc >> 4);
  crc = (uint8_t)(crc << 4) ^ SF_NIB(crc8_nib, crc >> 4);
  return crc | (uint16_t)add_zeros((uint8_t)(s >> 8), b) << 8;
}

// The CRC-8 byte is covered by the count too: a torn CRC byte must not pass either.
uint16_t sf_rec_final(uint16_t s) { return (s & 0xFF) | (uint16_t)add_zeros((uint8_t)(s >> 8), (uint8_t)s) << 8; }

uint16_t sf_rec_ram(const void *p, uint8_t n) {
  const uint8_t *d = (const uint8_t *)p;
  uint16_t s = SF_REC_INIT;
  while (n--) s = sf_rec_update(s, *d++);
  return sf_rec_final(s);
}
