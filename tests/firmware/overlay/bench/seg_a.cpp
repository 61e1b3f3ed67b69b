// Segment bench_a: two entries (index 0 and 1: their stubs differ by one adiw) and BENCH_FILL_N bytes of data.
#include "bench.h"

static const uint8_t fill_a[BENCH_FILL_N] BENCH_FILL_SECTION(bench_a) = BENCH_FILL_A;

SPAREFLASH_OVERLAY(bench_a) uint8_t bench_a_id(uint8_t x) { return (uint8_t)(x + 1); }

SPAREFLASH_OVERLAY(bench_a) uint8_t bench_a_peek(uint8_t i) { return pgm_read_byte(&fill_a[i]); }
