// CRC-16/CCITT-FALSE; see spareflash_crc.h.
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
