// Erase-budget firmware (tests/test_overlay_budget.py), with the bench segments (tests/firmware/overlay/bench) in
// ONE slot: bench_a and bench_b are loaded into it alternately, each load over the other erases every page.
// -DBUDGET=n sets the per-slot erase budget; the counters live in EEPROM at EE_COUNTERS (they survive a reset).
// Debug console (GPIOR1) stream: begin status, erases(0) at boot (4 bytes LE), one status per load until one
// fails, 0xEE, erases(0) after (4 bytes LE); the error hook prints 'H', status, segment. GPIOR0 0x30/0x31 around
// a call through a stub that needs a load (0x31 is never reached when the budget refuses it: the CPU halts).
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>

#include "bench.h"

#define EE_COUNTERS 16

static volatile uint8_t v = 3;

static void put32(uint32_t x) {
  for (uint8_t i = 0; i < 4; i++) GPIOR1 = (uint8_t)(x >> (8 * i));
}

static void hook(sf_status_t st, uint8_t seg) {
  GPIOR1 = 'H';
  GPIOR1 = st;
  GPIOR1 = seg;
}

int main() {
  Overlay.useEepromCounters(EE_COUNTERS);
  Overlay.setEraseBudget(BUDGET);
  Overlay.onError(hook);
  GPIOR1 = Overlay.begin();
  put32(Overlay.erases(0));
  uint8_t seg = 0;
  for (uint8_t k = 0; k < 8; k++, seg ^= 1) {
    sf_status_t st = Overlay.loadInto(seg, 0);
    GPIOR1 = st;
    if (st) break;
  }
  GPIOR1 = 0xEE;
  put32(Overlay.erases(0));
  // `seg` is the segment that was refused (or the next one): call it through its stub
  GPIOR0 = 0x30;
  v = seg ? bench_b_peek(v) : bench_a_id(v);
  GPIOR0 = 0x31;
  GPIOR0 = 0xFE;
  cli();
  sleep_enable();
  sleep_cpu();
}
