// A real sketch with the SpareFlash library (boot counter), built by the verify tests for every backend to prove
// that genuine firmware passes every rule: the library's bootstub/backends, the Arduino core's vector table.
#include <FlashStorage.h>

FlashStorage store;
volatile uint16_t boots;

void setup() {
  uint16_t n = 0;
  if (store.begin() == SF_OK) {
    store.get(1, n);
    n++;
    store.put(1, n);
  }
  boots = n;
}

void loop() {}
