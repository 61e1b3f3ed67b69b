// Output helpers for TinyOverlay (resident, shared by main and the segments): UART0 at 115200 baud on megaAVR
// (the simulator's Serial), the debug console register GPIOR1 on the ATtiny85 (no UART; docs/simulator.md).
#ifndef TINY_OVERLAY_CONSOLE_H
#define TINY_OVERLAY_CONSOLE_H
#include <stdint.h>

void con_begin();
// keys are flash strings (PSTR, or SPAREFLASH_OVERLAY_STR inside a segment): no RAM for them
void con_kv_P(const char *k, uint32_t v);       // "k=v\n", v in decimal
void con_text_P(const char *k, const char *v);  // "k=v\n", v a RAM string
#endif
