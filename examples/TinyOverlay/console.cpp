// Output helpers for TinyOverlay: see console.h.
#include "console.h"

#include <avr/io.h>
#include <avr/pgmspace.h>

void con_begin() {
#ifdef UDR0
  UBRR0 = (F_CPU / 8 / 115200) - 1;
  UCSR0A = 1 << U2X0;
  UCSR0B = 1 << TXEN0;
#endif
}

static void con_putc(char c) {
#ifdef UDR0
  while (!(UCSR0A & (1 << UDRE0))) {
  }
  UDR0 = c;
#else
  GPIOR1 = c;
#endif
}

static void con_puts(const char *s) {
  while (*s) con_putc(*s++);
}

static void con_putu(uint32_t v) {
  char b[11];
  uint8_t i = 0;
  do {
    b[i++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (i) con_putc(b[--i]);
}

static void con_puts_P(const char *s) {
  for (char ch; (ch = (char)pgm_read_byte(s)) != 0; s++) con_putc(ch);
}

void con_kv_P(const char *k, uint32_t v) {
  con_puts_P(k);
  con_putc('=');
  con_putu(v);
  con_putc('\n');
}

void con_text_P(const char *k, const char *v) {
  con_puts_P(k);
  con_putc('=');
  con_puts(v);
  con_putc('\n');
}
