/*
 * Fidelity firmware for the simulator harness (tests/test_sim_fidelity.py).
 *
 * The SPM routine lives in its own section `.spmroutine`; the test links it at 0x7E00, 0x7C00, 0x7800 or 0x7000
 * (-Wl,--section-start=.spmroutine=ADDR) and varies BOOTSZ per run, so the datasheet rule "SPM works only from
 * the boot section" is checked for every combination. Everything that runs while an RWW-section operation is
 * in progress is inside the routine (NRWW flash at all four addresses): code in the RWW section cannot be
 * fetched until the RWW section is re-enabled.
 *
 * Protocol with the harness:
 *   GPIOR0 markers: 1/2 around the page erase of VICTIM_ERASE, 3/4 around the page write into VICTIM_WRITE,
 *                   5/6 around a page erase in the NRWW section (CPU halted), 9 = all done.
 *   GPIOR1 debug bytes (SPMCSR snapshots): [0] just after the erase SPM, [1] once SPMEN cleared,
 *                   [2] after RWWSRE, [3] first byte of the erased page read back after RWWSRE.
 * The run ends with cli(); sleep_cpu();.
 */
#include <avr/io.h>
#include <avr/interrupt.h>
#include <avr/pgmspace.h>
#include <avr/sleep.h>
#include <stdint.h>

#define VICTIM_ERASE 0x1000u   /* RWW section: a page holding 0x00 bytes */
#define VICTIM_WRITE 0x1080u   /* RWW section: a page holding 0x3C, written (not erased) with 0x0F/0xF0 */
#define NRWW_PAGE    0x7400u   /* NRWW section (application side unless BOOTSZ=00), clear of every routine placement */

/* The victims are placed at fixed addresses with -Wl,--section-start; "used" keeps them in the image. */
const uint8_t victim_erase[128] __attribute__((section(".victim_erase"), used)) = {0};
#define X8(v) v, v, v, v, v, v, v, v
#define X64(v) X8(v), X8(v), X8(v), X8(v), X8(v), X8(v), X8(v), X8(v)
const uint8_t victim_write[128] __attribute__((section(".victim_write"), used)) = {X64(0x3C), X64(0x3C)};

#define SPM_ROUTINE __attribute__((section(".spmroutine"), noinline, used))

/* Issue one SPM with `cmd` in SPMCSR and Z = addr, r1:r0 = word. Timed sequence: SPM within 4 cycles. */
static inline void spm(uint8_t cmd, uint16_t addr, uint16_t word) __attribute__((always_inline));
static inline void spm(uint8_t cmd, uint16_t addr, uint16_t word)
{
    __asm__ __volatile__(
        "movw r0, %3\n\t"
        "out %0, %1\n\t"
        "spm\n\t"
        "clr r1\n\t"
        :
        : "I"(_SFR_IO_ADDR(SPMCSR)), "r"(cmd), "z"(addr), "r"(word)
        : "r0", "memory");
}

static inline void spm_wait(void) __attribute__((always_inline));
static inline void spm_wait(void)
{
    while (SPMCSR & _BV(SPMEN)) {
    }
}

void SPM_ROUTINE spm_routine(void)
{
    /* 1. page erase in the RWW section: the CPU keeps running here (NRWW), RWWSB is set */
    GPIOR0 = 1;
    spm(_BV(PGERS) | _BV(SPMEN), VICTIM_ERASE, 0);
    GPIOR1 = SPMCSR;
    spm_wait();
    GPIOR0 = 2;
    GPIOR1 = SPMCSR;
    spm(_BV(RWWSRE) | _BV(SPMEN), 0, 0);
    spm_wait();
    GPIOR1 = SPMCSR;
    GPIOR1 = pgm_read_byte(VICTIM_ERASE);

    /* 2. page write without erase: fill the buffer with 0x0F,0xF0 words, write over 0x3C bytes */
    for (uint8_t i = 0; i < 128; i += 2)
        spm(_BV(SPMEN), VICTIM_WRITE + i, 0xF00Fu);
    GPIOR0 = 3;
    spm(_BV(PGWRT) | _BV(SPMEN), VICTIM_WRITE, 0);
    spm_wait();
    GPIOR0 = 4;
    spm(_BV(RWWSRE) | _BV(SPMEN), 0, 0);
    spm_wait();

    /* 3. page erase in the NRWW section: the CPU halts until it is done */
    GPIOR0 = 5;
    spm(_BV(PGERS) | _BV(SPMEN), NRWW_PAGE, 0);
    GPIOR0 = 6;
    spm_wait();
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
