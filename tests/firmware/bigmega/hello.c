/*
 * Hello world for the ATmega2560 / ATmega32U4 models (tests/test_sim_bigmega.py).
 *
 * Prints through the USART the harness captures as Serial: USART0 on the 2560 (Serial on a Mega), USART1 on the
 * 32U4 (Serial1 on a Leonardo; its Serial is USB CDC, which is not modelled). The same text goes to the GPIOR1
 * debug console. Timer0 runs as Arduino's millis() clock (prescaler 64, overflow interrupt): the firmware waits
 * for TICKS overflows and marks them, so the test can check the overflow period in cycles. A deep call chain
 * through a function pointer checks the 3-byte return addresses of the 2560 (EICALL, RET), and the stack
 * pointer seen inside a call shows how many bytes a return address takes ("ret=3" on the 2560, "ret=2" on the
 * 32U4). One EEPROM byte at E2END (the last one: all address bits) is written and read back ("ee=5A").
 *
 * Printed: "Hello from <part> calls ok ret=N ee=5A\n".
 * GPIOR0 markers: 1 start, 2 after TICKS Timer0 overflows, 3 after the call chain, 4/5 around the EEPROM
 * write (erase + write), 9 done.
 */
#include <avr/eeprom.h>
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include <stdint.h>

#ifndef F_CPU
#define F_CPU 16000000UL
#endif
#define BAUD 115200UL
#define TICKS 4

#if defined(UDR0)
#define UDRn UDR0
#define UCSRnA UCSR0A
#define UCSRnB UCSR0B
#define UCSRnC UCSR0C
#define UBRRn UBRR0
#define UDREn UDRE0
#define TXENn TXEN0
#define U2Xn U2X0
#define UCSZn0 UCSZ00
#define UCSZn1 UCSZ01
#define TXCn TXC0
#else
#define UDRn UDR1
#define UCSRnA UCSR1A
#define UCSRnB UCSR1B
#define UCSRnC UCSR1C
#define UBRRn UBRR1
#define UDREn UDRE1
#define TXENn TXEN1
#define U2Xn U2X1
#define UCSZn0 UCSZ10
#define UCSZn1 UCSZ11
#define TXCn TXC1
#endif

static volatile uint8_t overflows;

ISR(TIMER0_OVF_vect)
{
    overflows++;
}

static void put(char c)
{
    while (!(UCSRnA & _BV(UDREn))) {
    }
    UCSRnA |= _BV(TXCn); /* write 1 to clear: TXC then tells when the last byte left */
    UDRn = c;
    GPIOR1 = c;
}

static void print(const char *s)
{
    while (*s)
        put(*s++);
}

/* a call chain deep enough that a 2-byte return address would lose the caller */
typedef uint8_t (*fn_t)(uint8_t);
static uint8_t __attribute__((noinline)) leaf(uint8_t x) { return (uint8_t)(x + 1); }
static volatile fn_t indirect = leaf;
static uint8_t __attribute__((noinline)) level2(uint8_t x) { return (uint8_t)(indirect(x) * 2); }
static uint8_t __attribute__((noinline)) level1(uint8_t x) { return (uint8_t)(level2(x) + 3); }

/* a leaf that pushes nothing: SP inside it is SP before the call minus the return address */
static volatile uint16_t sp_inside;
static void __attribute__((noinline)) sp_probe(void) { sp_inside = SP; }

static void print_hex(uint8_t v)
{
    static const char digits[] = "0123456789ABCDEF";
    put(digits[v >> 4]);
    put(digits[v & 0x0F]);
}

int main(void)
{
    GPIOR0 = 1;
    UBRRn = (uint16_t)((F_CPU / (8 * BAUD)) - 1);
    UCSRnA = _BV(U2Xn);
    UCSRnC = _BV(UCSZn1) | _BV(UCSZn0);
    UCSRnB = _BV(TXENn);

    /* Timer0 like Arduino's wiring.c: fast PWM, clk/64, overflow interrupt */
    TCCR0A = _BV(WGM01) | _BV(WGM00);
    TCCR0B = _BV(CS01) | _BV(CS00);
    TIMSK0 = _BV(TOIE0);
    sei();
    while (overflows < TICKS) {
    }
    GPIOR0 = 2;

    uint8_t r = level1(20); /* (21 * 2) + 3 = 45 */
    GPIOR0 = 3;
    print("Hello from ");
#if defined(__AVR_ATmega2560__)
    print("ATmega2560");
#else
    print("ATmega32U4");
#endif
    print(r == 45 ? " calls ok" : " calls BAD");

    uint16_t sp_before = SP;
    sp_probe();
    print(" ret=");
    put((char)('0' + (sp_before - sp_inside)));

    GPIOR0 = 4;
    eeprom_write_byte((uint8_t *)E2END, 0x5A);
    eeprom_busy_wait();
    GPIOR0 = 5;
    print(" ee=");
    print_hex(eeprom_read_byte((const uint8_t *)E2END));
    put('\n');
    while (!(UCSRnA & _BV(TXCn))) {
    }
    GPIOR0 = 9;
    cli();
    sleep_enable();
    sleep_cpu();
    for (;;) {
    }
}
