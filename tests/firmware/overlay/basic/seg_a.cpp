#include <stdint.h>
#define OVL(s) __attribute__((section(".ovl." #s), noinline, used))
extern "C" uint16_t seg_b_twice(uint16_t x);
OVL(a) static uint16_t helper(uint16_t x) { return x * 3 + 1; }
extern "C" OVL(a) uint16_t seg_a_f(uint16_t x) { return helper(x) + seg_b_twice(x); }
extern "C" OVL(a) uint16_t seg_a_g(uint16_t x) { return helper(x ^ 0x55); }
