// EepromPutTiny: the EEPROM baseline of the format-2 benchmark (spareflash.bench.storage2) on the ATtiny45/25:
// Arduino's EEPROM.put/get of the same 4-byte values the benchmark's FlashStorage puts write, timed between
// GPIOR0 markers in the simulator (EEPROM byte write 3.4 ms, chips.py eeprom_write_ms).
//
// The workload is the benchmark's: key k = xorshift16 (7, 9, 8) from 0xACE1, mod BENCH_KEYS; put i stores
// (uint32_t)i at EEPROM address 4 k. The first BENCH_WARM puts are not timed and not written one by one: only
// each key's last value before the timed puts is written (EEPROM.put, untimed), which leaves the cells as the
// whole warm-up would. Then BENCH_PUTS timed puts, so each writes exactly the bytes the same put changes on a
// real EEPROM (EEPROM.put writes only the bytes that differ).
//   1/2  EEPROM.put(4 k, i) until its last byte write has completed (eeprom_busy_wait: only then is it durable)
//   3/4  EEPROM.get(4 k, v) of every key after the puts
//   5/6  EEPROM.put of a 4-byte value whose every byte changes (~old), BENCH_FULL times, to the end of its writes
// GPIOR1 gets 'E' when a get reads back something else, 'K' at the end.
#include <EEPROM.h>
#include <avr/sleep.h>

#ifndef BENCH_KEYS
#define BENCH_KEYS 16
#endif
#ifndef BENCH_WARM
#define BENCH_WARM 1000
#endif
#ifndef BENCH_PUTS
#define BENCH_PUTS 20
#endif
#ifndef BENCH_FULL
#define BENCH_FULL 4
#endif

static uint16_t x = 0xACE1;

static uint8_t next_key() {
  x ^= x << 7;
  x ^= x >> 9;
  x ^= x << 8;
  return x % BENCH_KEYS;
}

void setup() {
  uint32_t last[BENCH_KEYS];
  for (uint8_t k = 0; k < BENCH_KEYS; k++) last[k] = 0xFFFFFFFFUL;  // never put: the erased cells
  uint32_t i = 0;
  for (; i < BENCH_WARM; i++) last[next_key()] = i;
  for (uint8_t k = 0; k < BENCH_KEYS; k++) EEPROM.put(4 * k, last[k]);
  eeprom_busy_wait();

  for (; i < (uint32_t)BENCH_WARM + BENCH_PUTS; i++) {
    uint8_t k = next_key();
    GPIOR0 = 1;
    EEPROM.put(4 * k, i);
    eeprom_busy_wait();
    GPIOR0 = 2;
    last[k] = i;
  }
  for (uint8_t k = 0; k < BENCH_KEYS; k++) {
    uint32_t v;
    GPIOR0 = 3;
    EEPROM.get(4 * k, v);
    GPIOR0 = 4;
    if (v != last[k]) GPIOR1 = 'E';
  }
  for (uint8_t r = 0; r < BENCH_FULL; r++) {
    uint32_t v = ~last[0];
    GPIOR0 = 5;
    EEPROM.put(0, v);
    eeprom_busy_wait();
    GPIOR0 = 6;
    last[0] = v;
  }
  GPIOR1 = 'K';
  cli();
  sleep_enable();
  sleep_cpu();
}

void loop() {}
