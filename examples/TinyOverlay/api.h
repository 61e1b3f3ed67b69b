// The entry points of TinyOverlay's segments (each is a resident stub in the overlay build).
#ifndef TINY_OVERLAY_API_H
#define TINY_OVERLAY_API_H
#include <stdint.h>

uint32_t hash_fnv1a(const char *s);
uint32_t hash_djb2(const char *s);
uint32_t hash_adler32(const char *s);
uint16_t hash_crc16(const char *s);
uint32_t hash_mix(uint32_t x, uint8_t rounds);
uint32_t hash_xorshift_sum(uint32_t seed, uint16_t n);
uint16_t num_isqrt(uint32_t v);
uint16_t num_collatz_longest(uint16_t below);
uint16_t num_primes_below(uint16_t n);
uint32_t num_mulmod(uint32_t a, uint32_t b, uint32_t m);
uint32_t num_modpow(uint32_t b, uint32_t e, uint32_t m);
void sort_fill(int16_t *a, uint8_t n, uint16_t seed);
uint16_t sort_inversions(const int16_t *a, uint8_t n);
void sort_shell(int16_t *a, uint8_t n);
uint32_t sort_signature(const int16_t *a, uint8_t n);
int16_t sort_median(int16_t *a, uint8_t n);
uint8_t text_base64(const char *s, char *out);
void text_rot13_upper(char *s);
uint8_t text_itoa(uint32_t v, uint8_t base, char *out);
uint32_t text_digest(const char *s);
int32_t fixed_sin(int32_t x);
int32_t fixed_exp(int32_t x);
int32_t fixed_sqrt(int32_t x);
int32_t fixed_poly(int16_t x);
void demo_a(uint8_t round);
// the inputs the segments work on (RAM: the functions take RAM pointers), defined once in TinyOverlay.cpp
extern const char msg[];     // "SpareFlash overlays"
extern const char digits[];  // "123456789"
void demo_b(uint8_t round);
#endif
