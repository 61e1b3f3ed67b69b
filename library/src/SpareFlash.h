// SpareFlash: use the spare program flash of classic AVR chips. Include this one header.
//   FlashStorage  key/value store (FlashStorage.h)
//   FlashLog      append-only record log (FlashLog.h)
//   FlashEEPROM   the EEPROM library's API on flash (FlashEEPROM.h; include it instead of EEPROM.h)
// The regions come from the SpareFlash plan's linker symbols (docs/architecture.md).
#ifndef SPAREFLASH_H
#define SPAREFLASH_H

#include "FlashLog.h"
#include "FlashStorage.h"

#ifndef SPAREFLASH_HOST
#include <avr/interrupt.h>
#include <avr/sleep.h>
// End a simulator run (docs/simulator.md): flush nothing, disable interrupts and sleep for good.
static inline void spareflash_halt() {
  cli();
  sleep_enable();
  sleep_cpu();
}
#endif

#endif  // SPAREFLASH_H
