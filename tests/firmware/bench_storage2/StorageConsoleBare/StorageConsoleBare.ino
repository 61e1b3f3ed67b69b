// StorageConsoleBare: tests/firmware/matrix/StorageConsole with every SpareFlash call removed, for the format-2
// code-size benchmark (spareflash.bench.storage2), as StorageBasicsBare is for format 1. It prints the same text
// through GPIOR1 with the same out() helpers and argument types; the values the library would return on a first
// boot are constants of the same types, so only the library's code, its call sites and its RAM make the
// difference between the two builds. tests/test_bench_storage2.py checks that both print the same first boot.
// Keep it in step with StorageConsole.
#include <avr/pgmspace.h>
#include <avr/sleep.h>

struct Settings {
  uint16_t interval_ms;
  uint8_t channel;
  uint8_t flags;
};

static void out(const char *flash_text) {
  for (char c; (c = pgm_read_byte(flash_text)) != 0; flash_text++) GPIOR1 = c;
}

static void out(uint16_t n) {
  if (n >= 10) out(n / 10);
  GPIOR1 = '0' + n % 10;
}

void setup() {
  uint8_t st = 0;  // sf_status_t of begin()
  out(PSTR("begin: "));
  out(st);
  out(PSTR("\n"));

  uint32_t boots = 1;
  out(PSTR("boots: "));
  out((uint16_t)boots);
  out(PSTR(" put: "));
  out(st);
  out(PSTR("\n"));

  Settings back = Settings{1000, 7, 1};
  out(PSTR("settings: "));
  out(back.interval_ms);
  out(PSTR(" "));
  out(back.channel);
  out(PSTR(" "));
  out(back.flags);
  out(PSTR("\n"));

  bool present = false;
  out(PSTR("scratch after remove: "));
  out(present ? PSTR("present\n") : PSTR("gone\n"));
  out(PSTR("done\n"));
  // what spareflash_halt() does: sleep with interrupts off ends a simulator run
  cli();
  sleep_enable();
  sleep_cpu();
}

void loop() {}
