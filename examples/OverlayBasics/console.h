// Tiny output helpers for the overlay examples: UART0 at 115200 baud on megaAVR (the simulator's Serial),
// the debug console register GPIOR1 on the ATtiny85 (no UART; see docs/simulator.md).
#ifndef OVERLAY_EXAMPLE_CONSOLE_H
#define OVERLAY_EXAMPLE_CONSOLE_H
#include <avr/io.h>
#include <stdint.h>

static inline void con_begin() {
#ifdef UDR0
  UBRR0 = (F_CPU / 8 / 115200) - 1;
  UCSR0A = 1 << U2X0;
  UCSR0B = 1 << TXEN0;
#endif
}
static inline void con_putc(char c) {
#ifdef UDR0
  while (!(UCSR0A & (1 << UDRE0))) {
  }
  UDR0 = c;
#else
  GPIOR1 = c;
#endif
}
static inline void con_puts(const char *s) {
  while (*s) con_putc(*s++);
}
static inline void con_putu(uint32_t v) {
  char b[11];
  uint8_t i = 0;
  do {
    b[i++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (i) con_putc(b[--i]);
}
static inline void con_kv(const char *k, uint32_t v) {
  con_puts(k);
  con_putc('=');
  con_putu(v);
  con_putc('\n');
}
#endif
