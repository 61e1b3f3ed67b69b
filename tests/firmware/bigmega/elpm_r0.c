/*
 * Known gap of yasimavr 0.1.6 (tests/test_sim_bigmega.py): ELPM without operands (`elpm`, i.e. r0 <- (RAMPZ:Z),
 * opcode 0x95D8) ignores RAMPZ, while `elpm rd, Z` (0x9006) honours it. avr-gcc and avr-libc only emit the
 * second form on the ATmega2560 (avr6 has ELPMX); hand-written assembly using the first reads the wrong 64 KB.
 *
 * Reads the byte at 0x3C000 (the .hi section, 0xA7) both ways with RAMPZ = 3 and sends both to the GPIOR1
 * debug console: [0] = `elpm`, [1] = `elpm rd, Z`.
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include <stdint.h>

const uint8_t hi[2] __attribute__((section(".hi"), used)) = {0xA7, 0xB8};

int main(void)
{
    uint8_t plain, with_reg;
    RAMPZ = 3;
    __asm__ __volatile__(
        "ldi r30, 0\n\t"
        "ldi r31, 0xC0\n\t"
        "elpm\n\t"
        "mov %0, r0\n\t"
        "elpm %1, Z\n\t"
        : "=r"(plain), "=r"(with_reg)
        :
        : "r0", "r30", "r31");
    GPIOR1 = plain;
    GPIOR1 = with_reg;
    cli();
    sleep_enable();
    sleep_cpu();
    for (;;) {
    }
}
