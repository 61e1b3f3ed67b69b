// Segment "num": integer number theory.
#include <Overlay.h>
#include <stdint.h>

SPAREFLASH_OVERLAY(num) uint16_t num_isqrt(uint32_t v) {
  uint32_t r = 0, bit = 1UL << 30;
  while (bit > v) bit >>= 2;
  while (bit) {
    if (v >= r + bit) {
      v -= r + bit;
      r = (r >> 1) + bit;
    } else {
      r >>= 1;
    }
    bit >>= 2;
  }
  return (uint16_t)r;
}

SPAREFLASH_OVERLAY(num) uint16_t num_collatz_longest(uint16_t below) {
  uint16_t best = 1, best_len = 0;
  for (uint16_t s = 1; s < below; s++) {
    uint32_t x = s;
    uint16_t len = 0;
    while (x != 1) {
      x = (x & 1) ? 3 * x + 1 : x >> 1;
      len++;
    }
    if (len > best_len) {
      best_len = len;
      best = s;
    }
  }
  return best;
}
