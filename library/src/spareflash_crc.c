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

// 0-bits of b added to z (mod 256: the Berger byte is one byte; the residual case is in the spec, section 5).
static uint8_t add_zeros(uint8_t z, uint8_t b) {
  for (uint8_t i = 0; i < 8; i++, b >>= 1)
    if (!(b & 1)) z++;
  return z;
}

uint16_t sf_rec_update(uint16_t s, uint8_t b) {
  uint8_t crc = (uint8_t)s;
#if defined(__AVR__)
  crc = _crc8_ccitt_update(crc, b);  // poly 0x07, MSB first
#else
  crc ^= b;
  for (uint8_t i = 0; i < 8; i++) crc = (crc & 0x80) ? (uint8_t)((crc << 1) ^ 0x07) : (uint8_t)(crc << 1);
#endif
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
