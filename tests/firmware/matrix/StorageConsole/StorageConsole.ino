// StorageConsole: examples/StorageBasics for boards without Serial (bare ATmega168P/88P, ATtiny85). Same storage
// calls, same output lines, printed through GPIOR1, the simulator harness's debug console (docs/architecture.md).
#include <SpareFlash.h>
#include <avr/pgmspace.h>

FlashStorage store;

struct Settings {
  uint16_t interval_ms;
  uint8_t channel;
  uint8_t flags;
};

enum : uint8_t { KEY_BOOTS = 1, KEY_SETTINGS = 2, KEY_SCRATCH = 3 };

// Each write to GPIOR1 is one byte of the console; strings stay in flash (the ATtiny85 has 512 bytes of RAM).
static void out(const char *flash_text) {
  for (char c; (c = pgm_read_byte(flash_text)) != 0; flash_text++) GPIOR1 = c;
}

// Decimal with a 16-bit division: a 32-bit one (__udivmodsi4 and its call sites, ~200 B) would not fit the
// ATtiny25 (1,792 B of application flash with its default storage region). Every value printed is below 65,536.
static void out(uint16_t n) {
  if (n >= 10) out(n / 10);
  GPIOR1 = '0' + n % 10;
}

void setup() {
  sf_status_t st = store.begin();
  out(PSTR("begin: "));
  out(st);
  out(PSTR("\n"));

  uint32_t boots = 0;
  store.get(KEY_BOOTS, boots);  // SF_ERR_NOT_FOUND on the first boot: boots stays 0
  boots++;
  st = store.put(KEY_BOOTS, boots);
  out(PSTR("boots: "));
  out((uint16_t)boots);  // 1 .. a few boots in the tests
  out(PSTR(" put: "));
  out(st);
  out(PSTR("\n"));

  Settings s;
  if (store.get(KEY_SETTINGS, s) != SF_OK) s = Settings{1000, 7, 0};
  s.flags++;
  store.put(KEY_SETTINGS, s);
  Settings back;
  store.get(KEY_SETTINGS, back);
  out(PSTR("settings: "));
  out(back.interval_ms);
  out(PSTR(" "));
  out(back.channel);
  out(PSTR(" "));
  out(back.flags);
  out(PSTR("\n"));

  store.put(KEY_SCRATCH, (uint8_t)42);
  store.remove(KEY_SCRATCH);
  out(PSTR("scratch after remove: "));
  out(store.contains(KEY_SCRATCH) ? PSTR("present\n") : PSTR("gone\n"));
  out(PSTR("done\n"));
  spareflash_halt();  // cli(); sleep_cpu(): ends a simulator run
}

void loop() {}
