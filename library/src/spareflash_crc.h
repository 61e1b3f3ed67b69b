// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, MSB first) over RAM and flash, as docs/storage-format.md
// specifies. On AVR it is avr-libc's _crc_xmodem_update (about 20 cycles a byte, no table in flash).
#ifndef SPAREFLASH_CRC_H
#define SPAREFLASH_CRC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

uint16_t sf_crc16_update(uint16_t crc, uint8_t b);
uint16_t sf_crc16_ram(uint16_t crc, const void *p, uint16_t n);

#ifdef __cplusplus
}
#endif

#endif  // SPAREFLASH_CRC_H
