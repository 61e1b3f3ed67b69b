/*
 * Page-buffer fidelity firmware (tests/test_sim_fidelity.py, the page-buffer tests): what the chip's temporary
 * page buffer holds when a page write follows a fill of only some of its words. sf_flash_program relies on it
 * (it loads only the words it programs). ATmega328P datasheet, "Filling the Temporary Buffer": the buffer
 * auto-erases after a page write or by writing RWWSRE, and is erased after a system reset.
 *
 * The routine lives in `.spmroutine` (linked at 0x7E00, the 512-byte boot section). Four 0xFF victim pages in
 * the RWW section, each written with a partly filled buffer:
 *   P0 (fresh after reset): fill word 0 = 0x1111, write           -> the other words must read 0xFFFF
 *   P1: fill words 1, 2 = 0x2222 (all others untouched), write       -> words 1, 2 programmed
 *   P2 (right after P1's write): fill word 0 = 0x3333, write       -> words 1, 2 must read 0xFFFF (auto-erase)
 *   P3: fill word 5 = 0x0000, RWWSRE, fill word 0 = 0x4444, write  -> datasheet: word 5 reads 0xFFFF (RWWSRE
 *       erases the buffer); yasimavr 0.1.6 programs it (a pinned simulator gap, see the test)
 * GPIOR0 = 9 when done; the run ends with cli(); sleep_cpu();.
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include <stdint.h>

#define X8(v) v, v, v, v, v, v, v, v
#define X64(v) X8(v), X8(v), X8(v), X8(v), X8(v), X8(v), X8(v), X8(v)
/* 0xFF pages that are part of the image (LPM of never-programmed flash is a model error). */
const uint8_t victims[4][128] __attribute__((section(".victims"), used, aligned(128))) = {
    {X64(0xFF), X64(0xFF)}, {X64(0xFF), X64(0xFF)}, {X64(0xFF), X64(0xFF)}, {X64(0xFF), X64(0xFF)}};
#define VICTIM 0x1000u

#define SPM_ROUTINE __attribute__((section(".spmroutine"), noinline, used))

/* One SPM (SPMCSR written within 4 cycles of the spm), then wait for it and re-enable the RWW section. Runs in
 * the NRWW boot section, so it may poll while an RWW operation is in progress. */
static void SPM_ROUTINE spm(uint8_t cmd, uint16_t addr, uint16_t word) {
    __asm__ __volatile__(
        "movw r0, %3\n\t"
        "out %0, %1\n\t"
        "spm\n\t"
        "clr r1\n\t"
        :
        : "I"(_SFR_IO_ADDR(SPMCSR)), "r"(cmd), "z"(addr), "r"(word)
        : "r0", "memory");
    while (SPMCSR & _BV(SPMEN)) {
    }
    if (SPMCSR & _BV(RWWSB)) {
        __asm__ __volatile__("out %0, %1\n\tspm\n\t" : : "I"(_SFR_IO_ADDR(SPMCSR)), "r"((uint8_t)(_BV(RWWSRE) | _BV(SPMEN))));
        while (SPMCSR & _BV(SPMEN)) {
        }
    }
}

#define FILL _BV(SPMEN)
#define WRITE (_BV(PGWRT) | _BV(SPMEN))
#define PAGE(i) (VICTIM + (i) * 128u)

int main(void) {
    cli();
    spm(FILL, PAGE(0) + 0, 0x1111);
    spm(WRITE, PAGE(0), 0);
    spm(FILL, PAGE(1) + 2, 0x2222);
    spm(FILL, PAGE(1) + 4, 0x2222);
    spm(WRITE, PAGE(1), 0);
    spm(FILL, PAGE(2) + 0, 0x3333);
    spm(WRITE, PAGE(2), 0);
    spm(FILL, PAGE(3) + 10, 0x0000);
    spm(_BV(RWWSRE) | _BV(SPMEN), 0, 0);
    spm(FILL, PAGE(3) + 0, 0x4444);
    spm(WRITE, PAGE(3), 0);
    GPIOR0 = 9;
    sleep_enable();
    sleep_cpu();
    for (;;) {
    }
}
