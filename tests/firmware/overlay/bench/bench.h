// Overlay benchmark firmware (spareflash.bench.overlay): two segments that fill a slot, so a load of one over the
// other changes every page. bench_fill.h is generated per chip by the benchmark (BENCH_FILL_N bytes each, the two
// arrays differ in every byte).
#ifndef SF_OVERLAY_BENCH_H
#define SF_OVERLAY_BENCH_H
#include <Overlay.h>
#include <avr/pgmspace.h>
#include <stdint.h>

#include "bench_fill.h"

#ifdef SPAREFLASH_NO_OVERLAYS
#define BENCH_FILL_SECTION(seg) PROGMEM
#else
// a data section of the segment (`.ovl.<seg>.<suffix>` is linked into the segment)
#define BENCH_FILL_SECTION(seg) __attribute__((section(".ovl." #seg ".fill"), used))
#endif

uint8_t bench_a_id(uint8_t x);    // entry 0 of segment bench_a
uint8_t bench_a_peek(uint8_t i);  // entry 1 of segment bench_a (reads the fill, so it is linked)
uint8_t bench_b_peek(uint8_t i);  // segment bench_b

// markers (GPIOR0) the benchmark reads
#define BM_COLD_START 1
#define BM_COLD_END 2
#define BM_SAME_START 3
#define BM_SAME_END 4
#define BM_CALL0_START 0x20
#define BM_CALL0_END 0x21
#define BM_CALL1_START 0x22
#define BM_CALL1_END 0x23
#define BM_DONE 0xFE
#endif
