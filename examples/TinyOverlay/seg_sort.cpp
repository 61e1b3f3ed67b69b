// Segment "sort": sorting and order statistics on a small array.
#include <Overlay.h>
#include <stdint.h>

SPAREFLASH_OVERLAY(sort) void sort_fill(int16_t *a, uint8_t n, uint16_t seed) {
  uint16_t x = seed;
  for (uint8_t i = 0; i < n; i++) {
    x = (uint16_t)(x * 25173u + 13849u);  // 16-bit LCG
    a[i] = (int16_t)(x >> 3) - 4096;
  }
}

SPAREFLASH_OVERLAY(sort) uint16_t sort_inversions(const int16_t *a, uint8_t n) {
  uint16_t inv = 0;
  for (uint8_t i = 0; i < n; i++)
    for (uint8_t j = i + 1; j < n; j++) inv += a[i] > a[j];
  return inv;
}

SPAREFLASH_OVERLAY(sort) void sort_shell(int16_t *a, uint8_t n) {
  for (uint8_t gap = n / 2; gap; gap /= 2)
    for (uint8_t i = gap; i < n; i++) {
      int16_t t = a[i];
      uint8_t j = i;
      for (; j >= gap && a[j - gap] > t; j -= gap) a[j] = a[j - gap];
      a[j] = t;
    }
}

SPAREFLASH_OVERLAY(sort) uint32_t sort_signature(const int16_t *a, uint8_t n) {  // order-sensitive digest
  uint32_t sig = 0;
  for (uint8_t i = 0; i < n; i++) sig = sig * 31 + (uint16_t)a[i];
  return sig;
}

SPAREFLASH_OVERLAY(sort) int16_t sort_median(int16_t *a, uint8_t n) {
  sort_shell(a, n);
  return n & 1 ? a[n / 2] : (int16_t)((a[n / 2 - 1] + a[n / 2]) / 2);
}
