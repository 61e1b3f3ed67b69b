// Segment "math": number crunching that only runs now and then, so it lives in the SPI NOR chip.
#include <Overlay.h>
#include <stdint.h>

SPAREFLASH_OVERLAY(math) uint32_t ovl_fib(uint8_t n) {
  uint32_t a = 0, b = 1;
  while (n--) {
    uint32_t t = a + b;
    a = b;
    b = t;
  }
  return a;
}

SPAREFLASH_OVERLAY(math) uint16_t ovl_gcd(uint16_t a, uint16_t b) {
  while (b) {
    uint16_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}
