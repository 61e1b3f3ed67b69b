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

static void out(uint32_t n) {
  char digits[10];
  uint8_t i = 0;
  do {
    digits[i++] = '0' + n % 10;
    n /= 10;
  } while (n);
  while (i) GPIOR1 = digits[--i];
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
  out(boots);
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
