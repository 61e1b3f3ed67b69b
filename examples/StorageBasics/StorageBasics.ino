// StorageBasics: keep a boot counter and a settings struct in spare program flash with FlashStorage.
// Every put() is durable when it returns; begin() recovers after a power cut at any moment.
// Output (Serial, 115200): the counter, the settings, a removed key, the store's statistics.
#include <SpareFlash.h>

FlashStorage store;

struct Settings {
  uint16_t interval_ms;
  uint8_t channel;
  uint8_t flags;
};

enum : uint8_t { KEY_BOOTS = 1, KEY_SETTINGS = 2, KEY_SCRATCH = 3 };

void setup() {
  Serial.begin(115200);
  sf_status_t st = store.begin();
  Serial.print(F("begin: "));
  Serial.println(st);

  uint32_t boots = 0;
  store.get(KEY_BOOTS, boots);  // SF_ERR_NOT_FOUND on the first boot: boots stays 0
  boots++;
  st = store.put(KEY_BOOTS, boots);
  Serial.print(F("boots: "));
  Serial.print(boots);
  Serial.print(F(" put: "));
  Serial.println(st);

  Settings s;
  if (store.get(KEY_SETTINGS, s) != SF_OK) s = Settings{1000, 7, 0};
  s.flags++;
  store.put(KEY_SETTINGS, s);
  Settings back;
  store.get(KEY_SETTINGS, back);
  Serial.print(F("settings: "));
  Serial.print(back.interval_ms);
  Serial.print(' ');
  Serial.print(back.channel);
  Serial.print(' ');
  Serial.println(back.flags);

  store.put(KEY_SCRATCH, (uint8_t)42);
  store.remove(KEY_SCRATCH);
  Serial.print(F("scratch after remove: "));
  Serial.println(store.contains(KEY_SCRATCH) ? F("present") : F("gone"));

  FlashStorageStats stats;
  store.stats(stats);
  Serial.print(F("pages: "));
  Serial.print(stats.pages);
  Serial.print(F(" live bytes: "));
  Serial.print(stats.liveBytes);
  Serial.print(F(" free bytes: "));
  Serial.print(stats.freeBytes);
  Serial.print(F(" max erase: "));
  Serial.print(stats.maxErase);
  Serial.print(F(" remaining writes: "));
  Serial.println(stats.remainingWrites);
  Serial.println(F("done"));
  Serial.flush();     // the UART drains by interrupt: wait before interrupts go off
  spareflash_halt();  // cli(); sleep_cpu(): ends a simulator run
}

void loop() {}
