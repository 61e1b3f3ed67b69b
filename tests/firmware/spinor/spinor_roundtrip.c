/* SPI NOR round trip, for tests/test_sim_spinor.py. One source, two wirings:
 *   ATmega328P: hardware SPI master (SCK PB5, MOSI PB3, MISO PB4), chip select on SS = PB2;
 *   ATtiny85:   USI three-wire mode (USCK PB2, DO PB1 -> flash DI, DI PB0 <- flash DO), chip select on PB3;
 *   ATtiny84:   USI three-wire mode on PORTA (USCK PA4, DO PA5, DI PA6), chip select on PA3 (PB3 is RESET).
 * (The same wiring as spareflash.sim.spinor.WIRING.)
 *
 * Output on GPIOR1 (the debug console), in this order:
 *   3 bytes  JEDEC id
 *   8 bytes  read (0x03) of 0x001000, preloaded by the test
 *   1 byte   status register 1 right after the sector-erase command (BUSY expected)
 *   1 byte   number of status polls until BUSY cleared (saturates at 255, polls are spaced ~1000 cycles)
 *   16 bytes fast read (0x0B) of 0x0010F0: the end of the page programmed with a wrap (see below)
 *   8 bytes  read of 0x001000: the start of that page (the wrapped bytes)
 *   1 byte   status register 1 after a program attempted without write enable (0x00 expected)
 * Markers on GPIOR0: 0x30 erase command sent, 0x31 erase done, 0x40 program sent, 0x41 program done, 0x7F end.
 */
#include <avr/io.h>
#include <avr/sleep.h>
#include <avr/interrupt.h>
#include <stdint.h>

#if defined(__AVR_ATtiny85__) || defined(__AVR_ATtiny84__)
#if defined(__AVR_ATtiny84__)
#define CS_PORT PORTA
#define CS_BIT PA3
static void bus_init(void) {
    DDRA |= _BV(PA5) | _BV(PA4) | _BV(PA3); /* DO, USCK, CS out; DI (PA6) in */
    PORTA |= _BV(PA3);
}
#else
#define CS_PORT PORTB
#define CS_BIT PB3
static void bus_init(void) {
    DDRB |= _BV(PB1) | _BV(PB2) | _BV(PB3); /* DO, USCK, CS out; DI (PB0) in */
    PORTB |= _BV(PB3);
}
#endif
static uint8_t xfer(uint8_t b) {
    /* USI three-wire master, SPI mode 0: software clock strobe, 16 toggles of USCK per byte. */
    USIDR = b;
    USISR = _BV(USIOIF);
    do {
        USICR = _BV(USIWM0) | _BV(USICS1) | _BV(USICLK) | _BV(USITC);
    } while (!(USISR & _BV(USIOIF)));
    return USIDR;
}
#else
#define CS_PORT PORTB
#define CS_BIT PB2
static void bus_init(void) {
    /* SS must be an output (it is the chip select) or a low level on it would drop the SPI out of master. */
    DDRB |= _BV(PB2) | _BV(PB3) | _BV(PB5);
    PORTB |= _BV(PB2);
    SPCR = _BV(SPE) | _BV(MSTR); /* mode 0, MSB first, fosc/4 */
}
static uint8_t xfer(uint8_t b) {
    SPDR = b;
    while (!(SPSR & _BV(SPIF))) {
    }
    return SPDR;
}
#endif

static void select(void) { CS_PORT &= ~_BV(CS_BIT); }
static void deselect(void) { CS_PORT |= _BV(CS_BIT); }
static void out(uint8_t b) { GPIOR1 = b; }
static void mark(uint8_t v) { GPIOR0 = v; }

static void command_addr(uint8_t cmd, uint32_t addr) {
    xfer(cmd);
    xfer((uint8_t)(addr >> 16));
    xfer((uint8_t)(addr >> 8));
    xfer((uint8_t)addr);
}

static uint8_t status1(void) {
    select();
    xfer(0x05);
    uint8_t s = xfer(0xFF);
    deselect();
    return s;
}

static void write_enable(void) {
    select();
    xfer(0x06);
    deselect();
}

static uint8_t wait_ready(void) {
    uint8_t polls = 0;
    while (status1() & 0x01) {
        if (polls != 255) polls++;
        for (volatile uint16_t i = 0; i < 60; i++) {
        }
    }
    return polls;
}

static void read_out(uint8_t cmd, uint32_t addr, uint8_t n) {
    select();
    command_addr(cmd, addr);
    if (cmd == 0x0B) xfer(0xFF); /* fast read: one dummy byte */
    while (n--) out(xfer(0xFF));
    deselect();
}

int main(void) {
    bus_init();

    select();
    xfer(0x9F);
    for (uint8_t i = 0; i < 3; i++) out(xfer(0xFF));
    deselect();

    read_out(0x03, 0x001000, 8);

    write_enable();
    select();
    command_addr(0x20, 0x001000);
    deselect();
    mark(0x30);
    out(status1());
    out(wait_ready());
    mark(0x31);

    /* 16 bytes from 0x0010F8: 8 land at the end of the page, the next 8 wrap to its start (0x001000). */
    write_enable();
    select();
    command_addr(0x02, 0x0010F8);
    for (uint8_t i = 0; i < 16; i++) xfer((uint8_t)(0xA0 + i));
    deselect();
    mark(0x40);
    wait_ready();
    mark(0x41);

    read_out(0x0B, 0x0010F0, 16);
    read_out(0x03, 0x001000, 8);

    /* Without write enable the program is ignored: no BUSY, no change. */
    select();
    command_addr(0x02, 0x002000);
    xfer(0x00);
    deselect();
    out(status1());

    mark(0x7F);
    cli();
    sleep_enable();
    sleep_cpu();
    return 0;
}
