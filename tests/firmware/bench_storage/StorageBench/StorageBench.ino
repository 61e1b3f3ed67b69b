// StorageBench: the firmware of the storage benchmark (builder/spareflash/bench/storage.py). It runs in the
// simulator; every measured call sits between two GPIOR0 markers, so the harness reads its cost in cycles.
//
// Build-time parameters (-D, set by the benchmark):
//   BENCH_PUTS   puts of the workload (16 keys of 4 bytes, keys from a xorshift16 sequence; value = put index)
//   BENCH_REPS   repetitions of the 16-byte struct put, FlashStorage vs Arduino's EEPROM.put
// Markers (value before / after the call):
//   10/11 begin()            20/21 get() of keys 0..15, then the absent keys 16, 32, 200
//   1/2   workload put()     12/13 begin() again after the workload   24/25 the gets again after the workload
//   5/6   FlashStorage put of a 16-byte struct   7/8 EEPROM.put of the same struct at EEPROM address 0, up to the
//         end of its last byte write (eeprom_busy_wait)
// Serial prints the status counts, so the harness can tell a measured call that failed.
#include <EEPROM.h>
#include <SpareFlash.h>

#ifndef BENCH_PUTS
#define BENCH_PUTS 0
#endif
#ifndef BENCH_REPS
#define BENCH_REPS 0
#endif
#define BENCH_KEYS 16

FlashStorage store;

static inline void mark(uint8_t v) { GPIOR0 = v; }

struct Blob16 {
  uint8_t b[16];
};

static uint16_t errors;

static void gets(uint8_t before, uint8_t after) {
  static const uint8_t absent[] = {16, 32, 200};
  uint32_t v;
  for (uint8_t i = 0; i < BENCH_KEYS + sizeof absent; i++) {
    uint8_t k = i < BENCH_KEYS ? i : absent[i - BENCH_KEYS];
    mark(before);
    sf_status_t st = store.get(k, v);
    mark(after);
    if (st != SF_OK && st != SF_ERR_NOT_FOUND) errors++;
  }
}

void setup() {
  Serial.begin(115200);
  mark(10);
  sf_status_t st = store.begin();
  mark(11);
  Serial.print(F("begin: "));
  Serial.println(st);
  gets(20, 21);

  uint16_t x = 0xACE1;  // xorshift16 (7, 9, 8): the benchmark's Python side draws the same keys
  for (uint32_t i = 0; i < BENCH_PUTS; i++) {
    x ^= x << 7;
    x ^= x >> 9;
    x ^= x << 8;
    uint8_t k = x % BENCH_KEYS;
    mark(1);
    st = store.put(k, i);
    mark(2);
    if (st) errors++;
  }
  if (BENCH_PUTS) {
    mark(12);
    st = store.begin();
    mark(13);
    if (st) errors++;
    gets(24, 25);
  }

  Blob16 s;
  for (uint8_t r = 0; r < BENCH_REPS; r++) {
    for (uint8_t j = 0; j < 16; j++) s.b[j] = (uint8_t)(r * 3 + j + 1);  // every byte differs from the last rep
    mark(5);
    st = store.put(100, s);
    mark(6);
    if (st) errors++;
    mark(7);
    EEPROM.put(0, s);
    // EEPROM.put returns while its last byte is still being written (~3.3 ms): the data is durable only after
    // that, and the next SPM would wait for it (sf_flash_program waits for EEPROM writes), charging it to the
    // FlashStorage put. So the EEPROM's window ends when its own last write has completed.
    eeprom_busy_wait();
    mark(8);
  }
  // Keep put() reachable when both counts are 0 (begin/get-only builds): otherwise the linker drops the writing
  // path and the bootstub with it, and begin() rightly reports SF_ERR_NO_BACKEND. GPIOR2 reads 0 here.
  if (GPIOR2 == 0xA5) store.put(0, errors);
  Serial.print(F("errors: "));
  Serial.println(errors);
  Serial.println(F("done"));
  Serial.flush();
  spareflash_halt();
}

void loop() {}
