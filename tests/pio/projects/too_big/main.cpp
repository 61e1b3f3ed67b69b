// Fits the Uno's stock 32256-byte limit but not the 28160 bytes left below SpareFlash's 4 KB storage:
// PlatformIO's own size check must refuse it once the extra script has shrunk upload.maximum_size.
#include <Arduino.h>
#include <avr/pgmspace.h>
#include <spareflash_layout.h>

#define BIG 29000
const uint8_t big[BIG] PROGMEM = {1};

void setup() {
  Serial.begin(9600);
  Serial.println(pgm_read_byte(&big[analogRead(A0)]));
  Serial.println(sf_storage_start(), HEX);
}

void loop() {}
