// tinycore's main(): the Arduino sketch structure (setup once, loop forever) for ATtiny85 builds.
// spareflash.build links this from an archive, so a sketch that defines its own main() never pulls it in.
#include "Arduino.h"

int main(void) {
  setup();
  for (;;) loop();
}
