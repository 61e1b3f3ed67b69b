/*
 * Self-programming fidelity firmware for the ATmega2560 / ATmega32U4 models (tests/test_sim_bigmega.py).
 *
 * The SPM routine lives in its own section `.spmroutine`; the test links it at the start of each of the four
 * boot sections (-Wl,--section-start=.spmroutine=ADDR) and varies BOOTSZ per run: SPM must work only when the
 * routine is inside the boot section the fuses select. Everything that runs while an RWW-section operation is in
 * progress is inside the routine (NRWW flash): RWW code cannot be fetched until the section is re-enabled.
 *
 * Addresses are 24-bit: on the 2560 the victims sit above 64 KB (VICTIM_ERASE = 0x3C000), so every SPM loads
 * RAMPZ with bits 23:16 of the address and every read-back uses ELPM (pgm_read_byte_far). On the 32U4 RAMPZ is
 * not used (32 KB of flash) and LPM reads.
 *
 * Protocol with the harness:
 *   GPIOR0 markers: 1/2 around the page erase of VICTIM_ERASE, 3/4 around the page write into VICTIM_WRITE
 *                   (no erase before it: the new data ANDs into the old), 5/6 around a page erase in the NRWW
 *                   section (the CPU halts), 7/8 around the erase + write of VICTIM_ERASE with a counting
 *                   pattern, 9 = all done.
 *   GPIOR1 debug bytes: [0] SPMCSR just after the erase SPM (RWWSB set), [1] SPMCSR once SPMEN cleared,
 *                   [2] SPMCSR after RWWSRE, [3] first byte of the erased page read back,
 *                   [4..7] the first four bytes of VICTIM_WRITE read back, [8..11] the first four bytes of
 *                   VICTIM_ERASE after the pattern write, read back.
 * The run ends with cli(); sleep_cpu();.
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <avr/sleep.h>
#include <stdint.h>

#ifndef VICTIM_ERASE
#error "VICTIM_ERASE, VICTIM_WRITE and NRWW_PAGE come from the test (-D)"
#endif

#if defined(RAMPZ) && FLASHEND > 0xFFFF
#define FAR_READ(a) pgm_read_byte_far(a)
#define SET_RAMPZ(a) (RAMPZ = (uint8_t)((uint32_t)(a) >> 16))
#else
#define FAR_READ(a) pgm_read_byte((uint16_t)(a))
#define SET_RAMPZ(a) ((void)(a))
#endif

#define X8(v) v, v, v, v, v, v, v, v
#define X32(v) X8(v), X8(v), X8(v), X8(v)
/* victims at fixed addresses (-Wl,--section-start); "used" keeps them in the image */
const uint8_t victim_erase[SPM_PAGESIZE] __attribute__((section(".victim_erase"), used)) = {0};
const uint8_t victim_write[SPM_PAGESIZE] __attribute__((section(".victim_write"), used)) = {
    X32(0x3C), X32(0x3C), X32(0x3C), X32(0x3C),
#if SPM_PAGESIZE == 256
    X32(0x3C), X32(0x3C), X32(0x3C), X32(0x3C),
#endif
};

#define SPM_ROUTINE __attribute__((section(".spmroutine"), noinline, used))

/* One SPM with `cmd` in SPMCSR, RAMPZ:Z = addr, r1:r0 = word: the SPM must follow the SPMCSR write within 4
 * cycles, so RAMPZ is loaded first. */
static inline void spm(uint8_t cmd, uint32_t addr, uint16_t word) __attribute__((always_inline));
static inline void spm(uint8_t cmd, uint32_t addr, uint16_t word)
{
    SET_RAMPZ(addr);
    __asm__ __volatile__(
        "movw r0, %3\n\t"
        "out %0, %1\n\t"
        "spm\n\t"
        "clr r1\n\t"
        :
        : "I"(_SFR_IO_ADDR(SPMCSR)), "r"(cmd), "z"((uint16_t)addr), "r"(word)
        : "r0", "memory");
}

static inline void spm_wait(void) __attribute__((always_inline));
static inline void spm_wait(void)
{
    while (SPMCSR & _BV(SPMEN)) {
    }
}

static inline void rww_enable(void) __attribute__((always_inline));
static inline void rww_enable(void)
{
    spm(_BV(RWWSRE) | _BV(SPMEN), 0, 0);
    spm_wait();
}

void SPM_ROUTINE spm_routine(void)
{
    uint16_t i;

    /* 1. page erase in the RWW section: the CPU runs on here (NRWW), RWWSB is set until it completes */
    GPIOR0 = 1;
    spm(_BV(PGERS) | _BV(SPMEN), VICTIM_ERASE, 0);
    GPIOR1 = SPMCSR;
    spm_wait();
    GPIOR0 = 2;
    GPIOR1 = SPMCSR;
    rww_enable();
    GPIOR1 = SPMCSR;
    GPIOR1 = FAR_READ(VICTIM_ERASE);

    /* 2. page write without erase: 0x0F,0xF0 words over 0x3C bytes -> 0x0C,0x30 */
    for (i = 0; i < SPM_PAGESIZE; i += 2)
        spm(_BV(SPMEN), VICTIM_WRITE + i, 0xF00Fu);
    GPIOR0 = 3;
    spm(_BV(PGWRT) | _BV(SPMEN), VICTIM_WRITE, 0);
    spm_wait();
    GPIOR0 = 4;
    rww_enable();
    for (i = 0; i < 4; i++)
        GPIOR1 = FAR_READ(VICTIM_WRITE + i);

    /* 3. page erase in the NRWW section: the CPU halts until it is done */
    GPIOR0 = 5;
    spm(_BV(PGERS) | _BV(SPMEN), NRWW_PAGE, 0);
    GPIOR0 = 6;
    spm_wait();

    /* 4. erase + write the first victim with a counting pattern (word k = 0x0100 * (2k+1) + 2k) */
    GPIOR0 = 7;
    spm(_BV(PGERS) | _BV(SPMEN), VICTIM_ERASE, 0);
    spm_wait();
    for (i = 0; i < SPM_PAGESIZE; i += 2)
        spm(_BV(SPMEN), VICTIM_ERASE + i, (uint16_t)(((i + 1) << 8) | (i & 0xFF)));
    spm(_BV(PGWRT) | _BV(SPMEN), VICTIM_ERASE, 0);
    spm_wait();
    rww_enable();
    GPIOR0 = 8;
    for (i = 0; i < 4; i++)
        GPIOR1 = FAR_READ(VICTIM_ERASE + i);
}

int main(void)
{
    spm_routine();
    GPIOR0 = 9;
    cli();
    sleep_enable();
    sleep_cpu();
    for (;;) {
    }
}
