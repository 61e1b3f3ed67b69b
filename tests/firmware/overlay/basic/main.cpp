#include <avr/io.h>
#include <stdint.h>
extern "C" uint16_t seg_a_f(uint16_t x);
extern "C" uint16_t seg_a_g(uint16_t x);
extern "C" void sf_ovl_fault(uint8_t seg) { (void)seg; GPIOR1 = 'F'; for (;;) {} }
int main() { volatile uint16_t r = seg_a_f(5) + seg_a_g(3); GPIOR0 = r; for (;;) {} }
