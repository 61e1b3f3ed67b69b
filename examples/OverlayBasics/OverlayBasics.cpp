// OverlayBasics: two code segments ("math", "text") in an SPI NOR chip, run from two 512-byte slots of an
// ATmega328P. Build: spareflash overlay build examples/OverlayBasics --mcu atmega328p --slots 2 --slot-bytes 512
// (the output is firmware.hex for the chip and overlays.bin for the NOR chip: `spareflash overlay upload`).
#include <Overlay.h>
#include <avr/interrupt.h>
#include <avr/sleep.h>

#include "console.h"

uint32_t ovl_fib(uint8_t n);
uint16_t ovl_gcd(uint16_t a, uint16_t b);
uint16_t ovl_checksum(const char *s);
uint8_t ovl_fib_digits(uint8_t n);

#if SPAREFLASH_OVERLAY_MAC
// Authenticated segments: built with -DSPAREFLASH_OVERLAY_MAC=1 and the image signed with the same key
// (`spareflash overlay build --mac-key ...`). A real product keeps the key out of the source (EEPROM, a fuse-
// protected page); the example takes it from -DOVERLAY_KEY=0x..,0x.. so the test can set it.
static uint8_t mac_key[16] = {OVERLAY_KEY};
#endif

static void fail(sf_status_t st, uint8_t seg) {
  con_kv("overlay_error", st);
  con_kv("segment", seg);
}

int main() {
  con_begin();
#ifndef SPAREFLASH_NO_OVERLAYS
  Overlay.onError(fail);
#if SPAREFLASH_OVERLAY_MAC
  sf_status_t st = Overlay.begin(0, 0, mac_key);
#else
  sf_status_t st = Overlay.begin();
#endif
  con_kv("begin", st);
  con_kv("resident_math", Overlay.slotOf(0) >= 0);
  con_kv("resident_text", Overlay.slotOf(1) >= 0);
#endif
  GPIOR0 = 1;
  con_kv("fib24", ovl_fib(24));
  GPIOR0 = 2;
  con_kv("gcd", ovl_gcd(1071, 462));
  con_kv("checksum", ovl_checksum("SpareFlash"));
  con_kv("fib_digits40", ovl_fib_digits(40));
  con_kv("fib30", ovl_fib(30));
#ifndef SPAREFLASH_NO_OVERLAYS
  con_kv("loads", Overlay.loads());
  con_kv("erased", Overlay.pagesErased());
  con_kv("written", Overlay.pagesWritten());
#endif
  con_puts("done\n");
  GPIOR0 = 0xFE;  // end-of-run marker (the test harness also stops here)
  cli();
  sleep_enable();
  sleep_cpu();
}
