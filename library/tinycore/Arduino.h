// Minimal stand-in for <Arduino.h> on the tiny parts (ATtiny25/45/85, ATtiny84), which have no Arduino core in
// Debian's packages. Nothing here is specific to one part: avr-libc's <avr/io.h> follows -mmcu.
//
// SpareFlash builds tiny sketches with avr-gcc directly (spareflash.build). A sketch may use avr-libc alone
// and define main(), or define setup()/loop() and let tinycore's main() (main.cpp, linked from an archive only
// when the sketch has no main) call them. This header gives such a sketch the few basics it may expect; it is
// deliberately not a port of the Arduino API (no digitalWrite, Serial or millis).
#ifndef SPAREFLASH_TINYCORE_ARDUINO_H
#define SPAREFLASH_TINYCORE_ARDUINO_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <avr/io.h>
#include <avr/interrupt.h>
#include <avr/pgmspace.h>
#include <avr/sleep.h>
#include <util/delay.h>

#define HIGH 0x1
#define LOW 0x0

typedef uint8_t byte;
typedef bool boolean;

#ifdef __cplusplus
extern "C" {
#endif
void setup(void);
void loop(void);
#ifdef __cplusplus
}
#endif

// Busy-wait; _delay_ms needs a compile-time constant, so loop over 1 ms steps.
static inline void delay(uint16_t ms) {
  while (ms--) _delay_ms(1);
}

#endif  // SPAREFLASH_TINYCORE_ARDUINO_H
