// StorageBasicsBare: examples/StorageBasics with every SpareFlash call removed, for the code-size benchmark
// (spareflash.bench.storage). The sketch prints the same text with the same Serial calls and argument types;
// the values the library would return are constants of the same types, so only the library's code, its call
// sites and its RAM make the difference between the two builds. Keep it in step with StorageBasics.
#include <Arduino.h>

struct Settings {
  uint16_t interval_ms;
  uint8_t channel;
  uint8_t flags;
};

void setup() {
  Serial.begin(115200);
  uint8_t st = 0;
  Serial.print(F("begin: "));
  Serial.println(st);

  uint32_t boots = 1;
  Serial.print(F("boots: "));
  Serial.print(boots);
  Serial.print(F(" put: "));
  Serial.println(st);

  Settings back = Settings{1000, 7, 1};
  Serial.print(F("settings: "));
  Serial.print(back.interval_ms);
  Serial.print(' ');
  Serial.print(back.channel);
  Serial.print(' ');
  Serial.println(back.flags);

  Serial.print(F("scratch after remove: "));
  Serial.println(F("gone"));

  uint16_t pages = 32, live = 18, free_bytes = 3800, max_erase = 1;
  uint32_t remaining = 1000000;
  Serial.print(F("pages: "));
  Serial.print(pages);
  Serial.print(F(" live bytes: "));
  Serial.print(live);
  Serial.print(F(" free bytes: "));
  Serial.print(free_bytes);
  Serial.print(F(" max erase: "));
  Serial.print(max_erase);
  Serial.print(F(" remaining writes: "));
  Serial.println(remaining);
  Serial.println(F("done"));
  Serial.flush();
  cli();
  SMCR = _BV(SE);  // sleep with interrupts off: ends a simulator run (what spareflash_halt() does)
  __asm__ __volatile__("sleep");
}

void loop() {}
