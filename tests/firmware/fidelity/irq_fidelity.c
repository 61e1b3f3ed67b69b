/*
 * Interrupt-latency fidelity firmware for tests/test_sim_fidelity.py (ATmega328P, bare avr-libc).
 *
 * Datasheet rules checked (ATmega328P "Reset and Interrupt Handling", AVR instruction set manual):
 *  - "When using the SEI instruction to enable interrupts, the instruction following SEI will be executed before
 *    any pending interrupts";
 *  - setting I by writing SREG (`out SREG, r` / `sts SREG, r`) behaves the same: avr-gcc's prologue and epilogue
 *    (`in r0,SREG; cli; out SPH,r29; out SREG,r0; out SPL,r28`) rely on it, or an ISR would push onto a
 *    half-written stack pointer;
 *  - "When the AVR exits from an interrupt, it will always return to the main program and execute one more
 *    instruction before any pending interrupt is served".
 *
 * Each case makes the Timer0 overflow interrupt pending while I is clear (Timer0 runs at clk/1 from 0xFE until
 * TOV0 is set, then stops: exactly one overflow is pending and nothing else happens), then enables interrupts in
 * the way under test, immediately followed by `out GPIOR2, r25` with r25 = 0xAA. The ISR reports, for every
 * entry, the marker = case number (GPIOR0) and three debug bytes (GPIOR1): GPIOR2 as the ISR found it (0xAA: the
 * following instruction ran first; 0x00: the interrupt was taken right after the enabling instruction), then
 * SPH, SPL as the ISR's C code sees them.
 *
 *   case 1: sei
 *   case 2: out SREG, r24        (r24 = the old SREG | I)
 *   case 3: sts SREG, r24        (same, through the data space)
 *   case 4: an avr-gcc style epilogue moving SP from 0x08F0 to 0x0780 across a 256-byte boundary:
 *           out SPH, 0x07; out SREG, r0 (I set); out SPL, 0x80. The ISR must see its stack below 0x0780; taken
 *           between the two SP writes it would push onto 0x07F0 (SPH new, SPL old) instead. No GPIOR2 write
 *           follows here: the instruction after `out SREG` is `out SPL`. Bytes 0x07EE..0x07F0 hold a canary
 *           (0x5A) that such a push would overwrite; main reports them as three more debug bytes after case 4.
 *   case 5: reti: interrupts are enabled in front of a sled of `out GPIOR2, r25` (so where the first entry
 *           happens does not depend on how faithful SEI is); the ISR (marker 5) makes a second overflow pending,
 *           clears GPIOR2 and returns into the sled. Exactly one sled instruction must run before the second
 *           entry (marker 6), which therefore finds GPIOR2 = 0xAA.
 *   case 7: `sei; 1: rjmp 1b` with nothing pending: the overflow comes ~128 cycles later while the CPU spins on
 *           the jump-to-itself right after SEI (yasimavr fast-forwards it as a "pseudo sleep"). The ISR must run
 *           (marker 7); it ends the run: marker 0x7F, sleep with interrupts off. An interrupt taken at the loop's
 *           address always follows the SEI by address, so a delay rule that only looked at the previous
 *           address would defer it forever.
 * Debug bytes in order: 3 per ISR entry for cases 1-4, the 3 canary bytes, 3 per entry for markers 5, 6 and 7.
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>

#define SF_MARK(v) (GPIOR0 = (v))
#define SF_DEBUG(c) (GPIOR1 = (c))
#define RAN 0xAA

static volatile uint8_t current_case;
static volatile uint8_t rearm;

/* one Timer0 overflow pending (TOV0 set), the timer stopped again; call with interrupts off */
static void make_overflow_pending(void)
{
    TCCR0B = 0;
    TCNT0 = 0xFE;
    TIFR0 = _BV(TOV0); /* writing 1 clears a stale flag */
    TCCR0B = _BV(CS00);
    while (!(TIFR0 & _BV(TOV0))) {
    }
    TCCR0B = 0;
}

ISR(TIMER0_OVF_vect)
{
    uint8_t seen = GPIOR2;
    uint16_t sp = SP;
    SF_DEBUG(seen);
    SF_DEBUG(sp >> 8);
    SF_DEBUG(sp & 0xFF);
    SF_MARK(current_case);
    if (current_case == 7) {
        SF_MARK(0x7F);
        sleep_enable();
        sleep_cpu(); /* I is clear inside the ISR: the end of the run */
    }
    if (rearm) {
        rearm = 0;
        current_case++;
        make_overflow_pending(); /* I is clear inside the ISR: stays pending until after RETI */
        GPIOR2 = 0;
    }
}

static void begin_case(uint8_t n)
{
    cli();
    current_case = n;
    GPIOR2 = 0;
    make_overflow_pending();
}

int main(void)
{
    TIMSK0 = _BV(TOIE0);

    begin_case(1);
    __asm__ __volatile__("ldi r25, %0\n\t"
                         "sei\n\t"
                         "out %1, r25\n\t"
                         "nop\n\t" ::"M"(RAN), "I"(_SFR_IO_ADDR(GPIOR2)) : "r25", "memory");

    begin_case(2);
    __asm__ __volatile__("ldi r25, %0\n\t"
                         "in r24, %2\n\t"
                         "ori r24, 0x80\n\t"
                         "out %2, r24\n\t"
                         "out %1, r25\n\t"
                         "nop\n\t" ::"M"(RAN), "I"(_SFR_IO_ADDR(GPIOR2)), "I"(_SFR_IO_ADDR(SREG))
                         : "r24", "r25", "memory");

    begin_case(3);
    __asm__ __volatile__("ldi r25, %0\n\t"
                         "in r24, %2\n\t"
                         "ori r24, 0x80\n\t"
                         "sts %3, r24\n\t"
                         "out %1, r25\n\t"
                         "nop\n\t" ::"M"(RAN), "I"(_SFR_IO_ADDR(GPIOR2)), "I"(_SFR_IO_ADDR(SREG)),
                         "n"(_SFR_MEM_ADDR(SREG))
                         : "r24", "r25", "memory");

    begin_case(4);
    volatile uint8_t *const canary = (volatile uint8_t *)0x07EE;
    canary[0] = canary[1] = canary[2] = 0x5A;
    /* run at SP = 0x08F0, then release the "frame" down to 0x0780 like an epilogue, then restore SP */
    __asm__ __volatile__("in r26, %0\n\t" /* r27:r26 = the C code's SP */
                         "in r27, %1\n\t"
                         "ldi r24, 0x08\n\t"
                         "out %1, r24\n\t"
                         "ldi r24, 0xF0\n\t"
                         "out %0, r24\n\t"
                         "in r0, %2\n\t"
                         "ldi r24, 0x80\n\t"
                         "or r0, r24\n\t" /* the SREG to restore has I set */
                         "ldi r25, 0x07\n\t"
                         "out %1, r25\n\t" /* out SPH */
                         "out %2, r0\n\t"  /* out SREG: I set */
                         "out %0, r24\n\t" /* out SPL */
                         "nop\n\t"
                         "cli\n\t"
                         "out %0, r26\n\t"
                         "out %1, r27\n\t" ::"I"(_SFR_IO_ADDR(SPL)),
                         "I"(_SFR_IO_ADDR(SPH)), "I"(_SFR_IO_ADDR(SREG))
                         : "r0", "r24", "r25", "r26", "r27", "memory");
    SF_DEBUG(canary[0]);
    SF_DEBUG(canary[1]);
    SF_DEBUG(canary[2]);

    begin_case(5);
    rearm = 1;
    __asm__ __volatile__("ldi r25, %0\n\t"
                         "sei\n\t"
                         "out %1, r25\n\t"
                         "out %1, r25\n\t"
                         "out %1, r25\n\t"
                         "out %1, r25\n\t"
                         "nop\n\t" ::"M"(RAN), "I"(_SFR_IO_ADDR(GPIOR2)) : "r25", "memory");

    cli();
    current_case = 7;
    TCCR0B = 0;
    TCNT0 = 0x80;
    TIFR0 = _BV(TOV0);
    TCCR0B = _BV(CS00);
    __asm__ __volatile__("sei\n\t"
                         "1: rjmp 1b\n\t" ::: "memory");
    return 0;
}
