// tinycore's main(): the Arduino sketch structure (setup once, loop forever) for the tiny-part builds.
// spareflash.build links this from an archive, so a sketch that defines its own main() never pulls it in.
#include "Arduino.h"

int main(void) {
  setup();
  for (;;) loop();
}
