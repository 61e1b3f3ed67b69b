/* Self-programming round trip on the tiny parts (ATtiny25/45/85, ATtiny84), for tests/test_sim_tiny.py.
 *
 * No boot section on the tiny parts: SPM works from anywhere once SELFPRGEN (efuse bit 0) is programmed.
 * The test builds this file twice, with efuse 0xFE and 0xFF (-DTEST_EFUSE), and checks from Python that
 * the page is written in the first case and refused in the second.
 *
 * Markers on GPIOR0 (the harness records (cycle, value) for each write):
 *   0x10 just before the page erase SPM, 0x11 when it is done; 0x12 just before the page write SPM (buffer
 *   already filled), 0x13 when it is done; 0x20/0x21 the same around the second (unerased) write; 0x7F end.
 * The erased-and-written page is TEST_PAGE (given by the test from the chip model: a page far above this small
 * program, inside the part's flash); the second write ANDs 0x0F0F.. into the first word pattern, so
 * Python can check the AND-on-write semantics without the CPU reading the page back.
 */
#include <avr/boot.h>
#include <avr/fuse.h>
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <avr/sleep.h>
#include <stdint.h>

#ifndef TEST_EFUSE
#define TEST_EFUSE 0xFE
#endif
#ifndef TEST_PAGE
#error "TEST_PAGE (byte address of the page to program) comes from the test"
#endif

FUSES = {
    .low = 0xE2, /* 8 MHz internal RC, no CKDIV8: the 4.5 ms programming time is 36000 cycles */
    .high = 0xDF,
    .extended = TEST_EFUSE,
};

static void marker(uint8_t v) { GPIOR0 = v; }

static void fill_and_write(uint16_t page, uint16_t first, uint16_t step, uint8_t mark_before) {
    /* Fill the whole temporary page buffer, then write it; boot_spm_busy_wait() spins on SPMEN (the CPU is
     * halted during the write anyway: the tiny parts have no read-while-write section). */
    for (uint8_t i = 0; i < SPM_PAGESIZE; i += 2) {
        boot_page_fill(page + i, first + (uint16_t)(i / 2) * step);
    }
    marker(mark_before);
    boot_page_write(page);
    boot_spm_busy_wait();
    marker(mark_before + 1);
}

int main(void) {
    cli();
    marker(0x10);
    boot_page_erase(TEST_PAGE);
    boot_spm_busy_wait();
    marker(0x11);

    fill_and_write(TEST_PAGE, 0xA5F0, 0x0101, 0x12);

    /* Second write into the same page without an erase: flash can only clear bits, so the result is
     * the AND of the old and the new word. */
    fill_and_write(TEST_PAGE, 0x0F0F, 0x0000, 0x20);

    /* The page read back through LPM, printed on GPIOR1 (the debug console byte), first 4 bytes. */
    for (uint8_t i = 0; i < 4; i++) {
        GPIOR1 = pgm_read_byte(TEST_PAGE + i);
    }
    marker(0x7F);
    sleep_enable();
    sleep_cpu();
    return 0;
}
