/* Peripherals the firmware relies on, on the tiny parts (ATtiny25/45/85, ATtiny84), for tests/test_sim_tiny.py.
 *
 * Timer/Counter0 overflow interrupt (on the ATtiny25/45/85 TOIE0 is bit 1 of the TIMSK it shares with Timer1;
 * the ATtiny84 has its own TIMSK0 with TOIE0 at bit 0, as the ATmega): normal mode, clk/8, so one overflow
 * every 256 * 8 = 2048 CPU cycles; the ISR writes marker 0x50 + n for the first four overflows. EEPROM: the
 * last byte (E2END: 0x1FF needs the 9th EEAR bit on the 512-byte parts) and the middle one are written and
 * read back, and the values read are printed on GPIOR1 (the debug console). Then the sleep that ends the run.
 */
#include <avr/eeprom.h>
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include <stdint.h>

#ifndef TIMER0_OVF_vect
#define TIMER0_OVF_vect TIM0_OVF_vect /* the ATtiny84's name (iotnx4.h) */
#endif

static volatile uint8_t overflows;

ISR(TIMER0_OVF_vect) {
    if (overflows < 4) {
        GPIOR0 = 0x50 + overflows;
        overflows++;
    }
}

int main(void) {
    TCCR0A = 0;
    TCNT0 = 0;
#ifdef TIMSK0
    TIMSK0 = _BV(TOIE0);
#else
    TIMSK = _BV(TOIE0);
#endif
    TCCR0B = _BV(CS01); /* clk/8 */
    sei();
    while (overflows < 4) {
    }
    cli();
    TCCR0B = 0;

    eeprom_write_byte((uint8_t *)E2END, 0x5A);
    eeprom_write_byte((uint8_t *)(E2END / 2), 0xC3);
    GPIOR1 = eeprom_read_byte((const uint8_t *)E2END);
    GPIOR1 = eeprom_read_byte((const uint8_t *)(E2END / 2));

    GPIOR0 = 0x7F;
    sleep_enable();
    sleep_cpu();
    return 0;
}
