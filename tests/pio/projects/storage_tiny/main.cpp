// FlashStorage on a bare tiny (no framework, plain avr-libc). The plan's SPAREFLASH_STORAGE_FORMAT must reach
// every compile, the assembler's included: on a format-2 part without it flashstorage_v2.S assembles to nothing
// and the link fails on the undefined sf2_* entries.
// What the first boot finds goes out through GPIOR1 (the simulator's debug bytes), so a seeded build
// (custom_spareflash_seed) can be checked on the simulated chip: begin's status, get(1)'s status and the 16-bit
// value, get(2)'s status and its 4 bytes, then the status of put(1, value + 1).
#include <avr/io.h>
#include <SpareFlash.h>

FlashStorage store;

static void out(const void *p, uint8_t n) {
  const uint8_t *b = (const uint8_t *)p;
  while (n--) GPIOR1 = *b++;
}

int main(void) {
  uint16_t boots = 0;
  uint8_t settings[4] = {0, 0, 0, 0};
  GPIOR1 = store.begin();
  GPIOR1 = store.get(1, boots);
  out(&boots, sizeof(boots));
  GPIOR1 = store.get(2, settings);
  out(settings, sizeof(settings));
  boots++;
  GPIOR1 = store.put(1, boots);
  spareflash_halt();
}
