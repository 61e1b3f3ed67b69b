/* ATtiny85 peripherals the firmware relies on, for tests/test_sim_attiny85.py.
 *
 * Timer/Counter0 overflow interrupt (TOIE0 is bit 1 of TIMSK on this part, not bit 0 as on the ATmega):
 * normal mode, clk/8, so one overflow every 256 * 8 = 2048 CPU cycles; the ISR writes marker 0x50 + n for
 * the first four overflows. EEPROM: the last byte (address 0x1FF, needs the 9th EEAR bit) is written and read
 * back, and the value read is printed on GPIOR1 (the debug console). Then the sleep that ends the run.
 */
#include <avr/eeprom.h>
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include <stdint.h>

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
    TIMSK = _BV(TOIE0);
    TCCR0B = _BV(CS01); /* clk/8 */
    sei();
    while (overflows < 4) {
    }
    cli();
    TCCR0B = 0;

    eeprom_write_byte((uint8_t *)0x1FF, 0x5A);
    eeprom_write_byte((uint8_t *)0x0FF, 0xC3);
    GPIOR1 = eeprom_read_byte((const uint8_t *)0x1FF);
    GPIOR1 = eeprom_read_byte((const uint8_t *)0x0FF);

    GPIOR0 = 0x7F;
    sleep_enable();
    sleep_cpu();
    return 0;
}
