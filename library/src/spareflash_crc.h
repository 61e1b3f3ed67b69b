// Checks of docs/storage-format.md "CRCs":
// * page headers: CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, MSB first); on AVR avr-libc's
//   _crc_xmodem_update (about 20 cycles a byte, no table in flash).
// * records: 2 check bytes, a CRC-8 (poly 0x07, init 0xFF, MSB first: avr-libc's _crc8_ccitt_update, computed
//   here a nibble at a time from a table) then a Berger byte, the count of 0-bits in the body and the CRC-8 byte
//   (mod 256). A torn write leaves only bits at 1 that should have become 0: it lowers the body's real 0-count
//   and can only raise the stored count, so a torn record never passes (while the covered bytes hold <= 255
//   zero bits); garbage passes with p ~ 2^-16.
#ifndef SPAREFLASH_CRC_H
#define SPAREFLASH_CRC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

uint16_t sf_crc16_update(uint16_t crc, uint8_t b);
uint16_t sf_crc16_ram(uint16_t crc, const void *p, uint16_t n);

// Record check state: low byte CRC-8, high byte 0-bit count. Start from SF_REC_INIT, feed every body byte to
// sf_rec_update, then sf_rec_final gives the 2 check bytes as a little-endian u16 (CRC-8 first, then Berger).
#define SF_REC_INIT 0x00FF
uint16_t sf_rec_update(uint16_t s, uint8_t b);
uint16_t sf_rec_final(uint16_t s);
uint16_t sf_rec_ram(const void *p, uint8_t n);

#ifdef __cplusplus
}
#endif

#endif  // SPAREFLASH_CRC_H
