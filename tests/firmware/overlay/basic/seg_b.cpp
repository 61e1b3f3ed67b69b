#include <stdint.h>
#define OVL(s) __attribute__((section(".ovl." #s), noinline, used))
extern "C" OVL(b) uint16_t seg_b_twice(uint16_t x) { return x * 2; }
