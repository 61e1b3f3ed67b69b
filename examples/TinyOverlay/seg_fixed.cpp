// Segment "fixed": fixed-point maths in Q19.12 (int32_t, 1.0 = 4096), no floating point library needed.
// Products of two Q12 values below 8.0 fit in 32 bits, so no 64-bit helpers are pulled into resident code.
#include <Overlay.h>
#include <stdint.h>

typedef int32_t q12;
#define Q12_ONE 4096L

static q12 qmul(q12 a, q12 b) { return (a * b) >> 12; }

SPAREFLASH_OVERLAY(fixed) q12 fixed_sin(q12 x) {  // Taylor series to x^9, |x| <= pi
  q12 x2 = qmul(x, x), term = x, sum = x;
  for (int8_t k = 1; k <= 4; k++) {
    term = -qmul(term, x2) / ((2 * k) * (2 * k + 1));
    sum += term;
  }
  return sum;
}

SPAREFLASH_OVERLAY(fixed) q12 fixed_exp(q12 x) {  // e^x for small x: Taylor to 10 terms
  q12 term = Q12_ONE, sum = Q12_ONE;
  for (int8_t k = 1; k <= 10; k++) {
    term = qmul(term, x) / k;
    sum += term;
  }
  return sum;
}

SPAREFLASH_OVERLAY(fixed) q12 fixed_sqrt(q12 x) {  // Newton's method in Q12
  if (x <= 0) return 0;
  q12 r = x > Q12_ONE ? x / 2 : Q12_ONE;
  for (uint8_t i = 0; i < 12; i++) r = (r + (x << 12) / r) / 2;
  return r;
}

SPAREFLASH_OVERLAY(fixed) int32_t fixed_poly(int16_t x) {  // 3x^4 - 5x^3 + 7x^2 - 11x + 13, Horner
  int32_t v = 3;
  v = v * x - 5;
  v = v * x + 7;
  v = v * x - 11;
  v = v * x + 13;
  return v;
}
