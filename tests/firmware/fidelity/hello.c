/*
 * Small firmware for the harness and CLI tests (tests/test_sim_harness.py, tests/test_cli_sim.py).
 * Build variants with -DMODE=...:
 *   MODE_HELLO (default): prints "hello from sim\n" on USART0 (Serial, 1 Mbit/s at 16 MHz), "dbg" on the debug
 *                         console (GPIOR1), markers 1 and 2 around a 1000-iteration loop, then sleeps with cli.
 *   MODE_CRASH:           an SPM page erase from the application section (refused by the chip).
 *   MODE_SPIN:            prints "spin\n" and loops forever (runs out of any cycle budget).
 *   MODE_IDLE:            sleeps with interrupts enabled and nothing to wake it.
 * The .fuse section carries l/h/e = 0xFF/0xDF/0xFD (512-byte boot section, BOOTRST unprogrammed: reset at 0).
 */
#include <avr/boot.h>
#include <avr/fuse.h>
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>

#define MODE_HELLO 0
#define MODE_CRASH 1
#define MODE_SPIN 2
#define MODE_IDLE 3
#ifndef MODE
#define MODE MODE_HELLO
#endif

FUSES = {.low = 0xFF, .high = 0xDF, .extended = 0xFD};

static void uart_init(void)
{
    UBRR0 = 1; /* 16 MHz / (8 * (1 + 1)) = 1 Mbit/s with U2X0 */
    UCSR0A = _BV(U2X0);
    UCSR0B = _BV(TXEN0);
}

static void __attribute__((unused)) uart_puts(const char *s)
{
    while (*s) {
        while (!(UCSR0A & _BV(UDRE0))) {
        }
        UDR0 = *s++;
    }
    /* wait until the last byte has left the shift register, as Serial.flush() does */
    UCSR0A |= _BV(TXC0);
    while (!(UCSR0A & _BV(TXC0))) {
    }
}

int main(void)
{
    uart_init();
#if MODE == MODE_HELLO
    uart_puts("hello from sim\n");
    GPIOR1 = 'd';
    GPIOR1 = 'b';
    GPIOR1 = 'g';
    GPIOR0 = 1;
    for (volatile uint16_t i = 0; i < 1000; i++) {
    }
    GPIOR0 = 2;
#elif MODE == MODE_CRASH
    uart_puts("about to erase\n");
    boot_page_erase(0x1000);
    uart_puts("not reached\n");
#elif MODE == MODE_SPIN
    uart_puts("spin\n");
    for (;;) {
    }
#elif MODE == MODE_IDLE
    sei();
    sleep_enable();
    sleep_cpu();
#endif
    cli();
    sleep_enable();
    sleep_cpu();
    for (;;) {
    }
}
