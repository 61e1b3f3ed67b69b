// Overlay benchmark (spareflash.bench.overlay): GPIOR0 markers around (1) a load of bench_b over bench_a in slot 0
// (every page differs: erase + write of each), (2) an identical reload (bench_b moved back to slot 0, which still
// holds its bytes), (3) calls into a resident segment through its stub. Built once more with
// SPAREFLASH_NO_OVERLAYS, the same calls are direct calls: the difference of (3) is the stub's cost.
// GPIOR1 (debug console) gets one status byte per step: the benchmark refuses a run where a step failed.
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>

#include "bench.h"

static volatile uint8_t v = 7;

int main() {
#ifndef SPAREFLASH_NO_OVERLAYS
  GPIOR1 = Overlay.begin();
  GPIOR1 = Overlay.loadInto(0, 0);  // slot 0 holds bench_a (from blank flash: no erase needed)
  GPIOR0 = BM_COLD_START;
  sf_status_t st = Overlay.loadInto(1, 0);  // bench_b over bench_a
  GPIOR0 = BM_COLD_END;
  GPIOR1 = st;
  GPIOR1 = Overlay.loadInto(1, 1);  // bench_b to slot 1: slot 0 keeps bench_b's bytes but is no longer resident
  GPIOR0 = BM_SAME_START;
  st = Overlay.loadInto(1, 0);  // back: pass A finds every byte equal
  GPIOR0 = BM_SAME_END;
  GPIOR1 = st;
#endif
  v = bench_a_peek(v);  // loads bench_a (a miss), so the calls below are resident calls
  GPIOR0 = BM_CALL0_START;
  v = bench_a_id(v);
  GPIOR0 = BM_CALL0_END;
  GPIOR0 = BM_CALL1_START;
  v = bench_a_peek(v);
  GPIOR0 = BM_CALL1_END;
  v = bench_b_peek(v);
  GPIOR0 = BM_DONE;
  cli();
  sleep_enable();
  sleep_cpu();
}
