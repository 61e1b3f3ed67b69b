// Minimal SPI NOR flash driver (W25Qxx-compatible command set) for the overlay loader and the uploader sketch.
//
// Wiring is fixed per part (the simulator's SPI NOR part uses the same pins):
//   megaAVR (ATmega328P/168P/88P): hardware SPI, CS = PB2 (D10, the SS pin, so SPI stays master), SCK = PB5,
//                                  MOSI = PB3, MISO = PB4.  SPI clock = F_CPU / 2.
//   ATtiny25/45/85: USI in three-wire mode clocked by software strobes, CS = PB3, USCK = PB2, DO = PB1, DI = PB0.
//   ATtiny84: the same on PORTA, CS = PA3 (PB3 is RESET), USCK = PA4, DO = PA5, DI = PA6.
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
  // Streaming read: readStart(), any number of readNext(), then readEnd(): hashing and copying without a buffer.
  // On the hardware SPI the stream is pipelined: readStart() already clocks the first byte in, and readNext()
  // takes the byte that arrived and at once starts the next transfer, so the 16-cycle shift runs while the
  // caller hashes and compares the byte it got (the loader's work per byte hides the bus time). The stream
  // therefore reads one byte ahead; readEnd() waits for that byte and drops it.
  void readStart(uint32_t addr);
#if defined(SPDR) && !defined(USICR)
  __attribute__((always_inline)) uint8_t readNext() {
    while (!(SPSR & (1 << SPIF))) {
    }
    uint8_t b = SPDR;
    SPDR = 0xFF;
    return b;
  }
  void readEnd();
#else
  uint8_t readNext() { return transfer(0xFF); }  // USI: the CPU clocks the bus, nothing to overlap
  void readEnd() { end(); }
#endif
  void end();  // CS high (after a command; a stream ends with readEnd())

  // Program up to 256 bytes inside one 256-byte NOR page (waits until done); erase a 4 KB sector.
  sf_status_t programPage(uint32_t addr, const void *src, uint16_t n);
  sf_status_t eraseSector(uint32_t addr);
  void waitReady();

  uint8_t transfer(uint8_t b);

  uint8_t jedec[3] = {0, 0, 0};  // initialised so OverlayManager's constructor can be constexpr

 private:
  void select();
  void command(uint8_t cmd, uint32_t addr);
};

#endif  // SPAREFLASH_SPINOR_H
