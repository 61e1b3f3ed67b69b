// FlashStorage on a bare tiny (no framework, plain avr-libc). The plan's SPAREFLASH_STORAGE_FORMAT must reach
// every compile, the assembler's included: on a format-2 part without it flashstorage_v2.S assembles to nothing
// and the link fails on the undefined sf2_* entries.
#include <avr/io.h>
#include <SpareFlash.h>

FlashStorage store;

int main(void) {
  uint16_t boots = 0;
  GPIOR0 = store.begin();
  store.get(1, boots);
  boots++;
  GPIOR0 = store.put(1, boots);
  spareflash_halt();
}
