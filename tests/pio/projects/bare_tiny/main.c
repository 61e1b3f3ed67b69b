/* A bare tiny (ATtiny85, 84, 25) without a framework (no ATtiny Arduino core is installed here): plain avr-libc. */
#include <avr/io.h>
#include <spareflash_layout.h>

int main(void) {
  /* use the layout so the linker symbols are needed */
  GPIOR0 = (uint8_t)(sf_storage_start() >> 8);
  for (;;) {
  }
}
