/* Test firmware with two overlay segments (.ovl.a and .ovl.b), linked at overlay slot addresses by the test.
 * CROSSREF makes segment a call into segment b directly, which the verifier must reject (overlay-crossref). */
#include <avr/io.h>
#include <stdint.h>

__attribute__((section(".ovl.b"), noinline, used)) uint8_t ovl_b_work(uint8_t x) { return (uint8_t)(x * 3 + 1); }

__attribute__((section(".ovl.a"), noinline, used)) uint8_t ovl_a_work(uint8_t x) {
#ifdef CROSSREF
  return ovl_b_work(x) + 2;
#else
  return (uint8_t)(x + 2);
#endif
}

volatile uint8_t sink;

int main(void) {
  sink = 1;
  for (;;) {
  }
}
