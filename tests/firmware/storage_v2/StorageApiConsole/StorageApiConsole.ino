// StorageApiConsole: FlashStorage's public API on a format-2 part, results as raw bytes through GPIOR1 (the
// simulator's debug console): the calls StorageConsole does not make (format, stats, sizeOf, the argument and
// not-begun errors, the largest value). Output, one byte per status unless noted:
//   put before begin, begin, format, put(1, u32), put(2, 4 B), put(3, u8), remove(3), remove(3) again,
//   sizeOf(2), contains(3), get(2) with a wrong size, put key 255, put of MAXV + 1 bytes, put of MAXV bytes,
//   remove(4), stats status, FlashStorageStats (18 bytes, little endian), get(1)'s value (4 bytes),
//   the deepest stack of the run in bytes (u8, measured by painting the free RAM at start).
// The ATtiny25 has 128 bytes of RAM: one global buffer serves the large value, the wrong-size get and the stats.
#include <SpareFlash.h>

FlashStorage store;

// The largest value of format 2: min(32, page size - 10) (docs/storage-format-v2.md).
#define MAXV (SPM_PAGESIZE - 10 < 32 ? SPM_PAGESIZE - 10 : 32)
#define PAINT 0xA5

static uint8_t buf[MAXV + 1];
extern uint8_t __heap_start;  // avr-libc: the first RAM byte after .data and .bss

static void out(uint8_t b) { GPIOR1 = b; }

static void out(const void *p, uint8_t n) {
  const uint8_t *b = (const uint8_t *)p;
  while (n--) GPIOR1 = *b++;
}

// Below the current stack pointer nothing is in use yet: paint it so the end of the run can see how deep the
// stack went (a byte still PAINT was never written; a value byte equal to PAINT could only make it look shallower).
static void paint() {
  for (uint8_t *p = &__heap_start; p < (uint8_t *)SP - 4; p++) *p = PAINT;
}

static uint8_t deepest() {
  uint8_t *p = &__heap_start;
  while (*p == PAINT) p++;
  return (uint8_t)(RAMEND + 1 - (uint16_t)p);
}

void setup() {
  paint();
  uint32_t boots = 7;
  out(store.put(1, boots));
  out(store.begin());
  out(store.format());
  out(store.put(1, boots));
  const uint8_t settings[4] = {0xE8, 0x03, 7, 1};
  out(store.put(2, settings));
  out(store.put(3, (uint8_t)42));
  out(store.remove(3));
  out(store.remove(3));
  out(store.sizeOf(2));
  out(store.contains(3));
  out(store.getBytes(2, buf, 2));
  out(store.put(255, (uint8_t)1));
  for (uint8_t i = 0; i < sizeof buf; i++) buf[i] = i;
  out(store.putBytes(4, buf, MAXV + 1));
  out(store.putBytes(4, buf, MAXV));
  out(store.remove(4));
  FlashStorageStats &stats = *(FlashStorageStats *)buf;
  out(store.stats(stats));
  out(&stats, sizeof stats);
  uint32_t back = 0;
  store.get(1, back);
  out(&back, sizeof back);
  out(deepest());
  spareflash_halt();
}

void loop() {}
