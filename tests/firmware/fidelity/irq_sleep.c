/*
 * The datasheet's sleep idiom (ATmega328P "Reset and Interrupt Handling", assembly and C example):
 *     sei();        set Global Interrupt Enable
 *     sleep_cpu();  enter sleep, waiting for interrupt
 *                   "note: will enter sleep before any pending interrupt(s)"
 * A Timer0 overflow is made pending with interrupts off (the timer then stops: nothing else will ever wake the
 * CPU). SLEEP is the instruction after SEI, so it executes, the pending interrupt wakes the CPU at once, the ISR
 * runs (marker 2) and the program continues after SLEEP (marker 3), then ends (sleep with interrupts off).
 * Taken before SLEEP instead, the ISR would return into SLEEP with nothing left to wake the CPU: it never ends.
 * Used by tests/test_sim_fidelity.py. Marker 1: the interrupt is pending.
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>

ISR(TIMER0_OVF_vect)
{
    GPIOR0 = 2;
}

int main(void)
{
    TIMSK0 = _BV(TOIE0);
    TCNT0 = 0xFE;
    TCCR0B = _BV(CS00);
    while (!(TIFR0 & _BV(TOV0))) {
    }
    TCCR0B = 0;
    GPIOR0 = 1;
    set_sleep_mode(SLEEP_MODE_IDLE);
    sleep_enable();
    __asm__ __volatile__("sei\n\t"
                         "sleep\n\t" ::: "memory");
    GPIOR0 = 3;
    cli();
    sleep_cpu();
    return 0;
}
