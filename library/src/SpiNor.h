// Minimal SPI NOR flash driver (W25Qxx-compatible command set) for the overlay loader and the uploader sketch.
//
// Wiring is fixed per part (the simulator's SPI NOR part uses the same pins):
//   megaAVR (ATmega328P/168P/88P): hardware SPI, CS = PB2 (D10, the SS pin, so SPI stays master), SCK = PB5,
//                                  MOSI = PB3, MISO = PB4.  SPI clock = F_CPU / 2.
//   ATtiny85: USI in three-wire mode clocked by software strobes, CS = PB3, USCK = PB2, DO = PB1, DI = PB0.
// No heap, no interrupts used; every function leaves CS high on return.
#ifndef SPAREFLASH_SPINOR_H
#define SPAREFLASH_SPINOR_H

#include <avr/io.h>
#include <stdint.h>
#include "spareflash_status.h"

class SpiNor {
 public:
  // Sets up the pins and the SPI/USI, reads the JEDEC id (0x9F) into jedec[]. SF_ERR_NOR when nothing answers
  // (id all 0x00 or all 0xFF) or when expectedId (manufacturer << 16 | type << 8 | capacity) is given and differs.
  sf_status_t begin(uint32_t expectedId = 0);
  uint32_t jedecId() const { return ((uint32_t)jedec[0] << 16) | ((uint16_t)jedec[1] << 8) | jedec[2]; }

  void read(uint32_t addr, void *dst, uint16_t n);
  // Streaming read: readStart(), any number of readNext(), then end(). Used to hash and copy without a buffer.
  void readStart(uint32_t addr);
  uint8_t readNext() {
#if defined(SPDR) && !defined(USICR)
    // inline on the hardware SPI: the loader's streaming loops are paced by the 16-cycle byte transfer
    SPDR = 0xFF;
    while (!(SPSR & (1 << SPIF))) {
    }
    return SPDR;
#else
    return transfer(0xFF);
#endif
  }
  void end();

  // Program up to 256 bytes inside one 256-byte NOR page (waits until done); erase a 4 KB sector.
  sf_status_t programPage(uint32_t addr, const void *src, uint16_t n);
  sf_status_t eraseSector(uint32_t addr);
  void waitReady();

  uint8_t transfer(uint8_t b);

  uint8_t jedec[3];

 private:
  void select();
  void command(uint8_t cmd, uint32_t addr);
};

#endif  // SPAREFLASH_SPINOR_H
