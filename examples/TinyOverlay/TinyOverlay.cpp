// TinyOverlay: a program larger than the ATtiny85's 8 KB flash. Eight code segments (demo_a, demo_b, fixed,
// hash, num, prime, sort, text) live in an SPI NOR chip on the USI pins and run from two 640-byte slots at the
// top of the tiny's flash; the resident part (this file, the loader, the SPI driver) stays below. Output goes
// to the debug console (GPIOR1) on the tiny and to the UART on a larger chip; built with
// SPAREFLASH_NO_OVERLAYS (one ordinary program, e.g. for an ATmega328P) the same sources print the same lines.
//   spareflash overlay build examples/TinyOverlay --mcu attiny85 --slots 2 --slot-bytes 640 --storage-bytes 0
#include <Overlay.h>
#include <avr/interrupt.h>
#include <avr/pgmspace.h>
#include <avr/sleep.h>

#include "api.h"
#include "console.h"

const char msg[] = "SpareFlash overlays";
const char digits[] = "123456789";

static void fail(sf_status_t st, uint8_t seg) {
  con_kv_P(PSTR("overlay_error"), st);
  con_kv_P(PSTR("segment"), seg);
}

int main() {
  con_begin();
#ifndef SPAREFLASH_NO_OVERLAYS
  Overlay.onError(fail);
  con_kv_P(PSTR("begin"), Overlay.begin());
#endif
  for (uint8_t r = 0; r < 2; r++) {
    con_kv_P(PSTR("round"), r);
    demo_a(r);
    demo_b(r);
    con_kv_P(PSTR("digest"), text_digest(msg));  // text calls hash: both resident at once
  }
#ifndef SPAREFLASH_NO_OVERLAYS
  con_kv_P(PSTR("loads"), Overlay.loads());
  con_kv_P(PSTR("erased"), Overlay.pagesErased());
#endif
  con_kv_P(PSTR("done"), 1);
  GPIOR0 = 0xFE;  // end-of-run marker
  cli();
  sleep_enable();
  sleep_cpu();
}
