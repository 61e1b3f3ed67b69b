// Segment "hash": checksums and hashes over byte strings (32-bit arithmetic: bulky on an 8-bit CPU, which is
// why it lives in the SPI NOR chip rather than in the ATtiny85's 8 KB).
#include <Overlay.h>
#include <stdint.h>

SPAREFLASH_OVERLAY(hash) uint32_t hash_fnv1a(const char *s) {
  uint32_t h = 2166136261UL;
  while (*s) {
    h ^= (uint8_t)*s++;
    h *= 16777619UL;
  }
  return h;
}

SPAREFLASH_OVERLAY(hash) uint32_t hash_djb2(const char *s) {
  uint32_t h = 5381;
  while (*s) h = (h << 5) + h + (uint8_t)*s++;
  return h;
}

SPAREFLASH_OVERLAY(hash) uint32_t hash_adler32(const char *s) {
  uint32_t a = 1, b = 0;
  while (*s) {
    a = (a + (uint8_t)*s++) % 65521UL;
    b = (b + a) % 65521UL;
  }
  return (b << 16) | a;
}

SPAREFLASH_OVERLAY(hash) uint16_t hash_crc16(const char *s) {  // CRC-16/CCITT-FALSE
  uint16_t crc = 0xFFFF;
  while (*s) {
    crc ^= (uint16_t)((uint8_t)*s++) << 8;
    for (uint8_t k = 0; k < 8; k++) crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
  }
  return crc;
}

SPAREFLASH_OVERLAY(hash) uint32_t hash_mix(uint32_t x, uint8_t rounds) {  // murmur3 finaliser, iterated
  while (rounds--) {
    x ^= x >> 16;
    x *= 0x85EBCA6BUL;
    x ^= x >> 13;
    x *= 0xC2B2AE35UL;
    x ^= x >> 16;
  }
  return x;
}

SPAREFLASH_OVERLAY(hash) uint32_t hash_xorshift_sum(uint32_t seed, uint16_t n) {
  uint32_t x = seed, sum = 0;
  while (n--) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    sum += x >> 8;
  }
  return sum;
}
