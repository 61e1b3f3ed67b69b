// DataLogger: append timestamped samples to FlashLog and print the log, oldest first.
// The log region comes from the plan (custom_spareflash_log / --log bytes); with FlashLog::OVERWRITE the
// oldest page of samples is dropped when the log is full, with FlashLog::STOP append() returns SF_ERR_FULL.
#include <SpareFlash.h>

FlashLog samples;

struct Sample {
  uint16_t seq;
  uint16_t value;
};

void setup() {
  Serial.begin(115200);
  sf_status_t st = samples.begin(FlashLog::OVERWRITE);
  Serial.print(F("begin: "));
  Serial.println(st);
  uint16_t before = samples.count();
  Serial.print(F("records at boot: "));
  Serial.println(before);

  // A "measurement": a pseudo-random walk, 20 samples per boot.
  uint16_t value = 500 + before;
  for (uint16_t i = 0; i < 20; i++) {
    value = value * 13 + 7;
    Sample s = {(uint16_t)(before + i), (uint16_t)(value % 1024)};
    st = samples.append(s);
    if (st) {
      Serial.print(F("append failed: "));
      Serial.println(st);
      break;
    }
  }

  Sample s;
  uint16_t n = 0, total = samples.count();  // count() walks the log itself: call it before iterating
  samples.rewind();
  while (samples.next(&s, sizeof s) >= 0) {
    if (n < 3 || n + 3 >= total) {  // first and last few
      Serial.print(s.seq);
      Serial.print(':');
      Serial.println(s.value);
    }
    n++;
  }
  Serial.print(F("records: "));
  Serial.println(n);
  Serial.println(F("done"));
  Serial.flush();
  spareflash_halt();
}

void loop() {}
