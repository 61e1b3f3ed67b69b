// Segment "prime": primes and modular arithmetic.
#include <Overlay.h>
#include <stdint.h>

SPAREFLASH_OVERLAY(prime) uint16_t num_primes_below(uint16_t n) {
  uint16_t count = 0;
  for (uint16_t i = 2; i < n; i++) {
    bool prime = true;
    for (uint16_t d = 2; (uint32_t)d * d <= i; d++)
      if (i % d == 0) {
        prime = false;
        break;
      }
    count += prime;
  }
  return count;
}

// (a * b) mod m by doubling, for m < 2^31: no 64-bit multiply (libgcc's would be resident and large)
SPAREFLASH_OVERLAY(prime) uint32_t num_mulmod(uint32_t a, uint32_t b, uint32_t m) {
  uint32_t r = 0;
  a %= m;
  while (b) {
    if (b & 1) {
      r += a;
      if (r >= m) r -= m;
    }
    a <<= 1;
    if (a >= m) a -= m;
    b >>= 1;
  }
  return r;
}

SPAREFLASH_OVERLAY(prime) uint32_t num_modpow(uint32_t b, uint32_t e, uint32_t m) {
  uint32_t r = 1 % m, x = b % m;
  while (e) {
    if (e & 1) r = num_mulmod(r, x, m);
    x = num_mulmod(x, x, m);
    e >>= 1;
  }
  return r;
}
