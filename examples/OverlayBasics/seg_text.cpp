// Segment "text": string work. ovl_fib_digits() calls into segment "math" - through math's resident stub,
// never directly (a direct reference between segments is a build error).
#include <Overlay.h>
#include <stdint.h>

uint32_t ovl_fib(uint8_t n);

SPAREFLASH_OVERLAY(text) uint16_t ovl_checksum(const char *s) {
  uint16_t sum = 0;
  while (*s) sum = (uint16_t)((sum << 1) | (sum >> 15)) ^ (uint8_t)*s++;
  return sum;
}

SPAREFLASH_OVERLAY(text) uint8_t ovl_fib_digits(uint8_t n) {
  uint32_t f = ovl_fib(n);
  uint8_t d = 1;
  while (f >= 10) {
    f /= 10;
    d++;
  }
  return d;
}
