// Segment bench_b: the same shape as bench_a with other bytes in every position (a cold load of one over the other
// erases and writes every page of the slot).
#include "bench.h"

static const uint8_t fill_b[BENCH_FILL_N] BENCH_FILL_SECTION(bench_b) = BENCH_FILL_B;

SPAREFLASH_OVERLAY(bench_b) uint8_t bench_b_peek(uint8_t i) { return (uint8_t)(pgm_read_byte(&fill_b[i]) ^ 0x5A); }
