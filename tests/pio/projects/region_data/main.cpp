// Puts a constant into the FlashStorage region (0x6E00 on an Uno with the default plan) through a section the
// project places there with its own linker flag: the image is no longer erased where storage lives, so the
// post-build verification must fail the build.
#include <Arduino.h>
#include <avr/pgmspace.h>
#include <spareflash_layout.h>

// referenced below, or --gc-sections drops it
const uint8_t intruder[4] __attribute__((used, section(".intruder"))) = {1, 2, 3, 4};

void setup() {
  Serial.begin(9600);
  Serial.println(pgm_read_byte(&intruder[analogRead(A0) & 3]));
  Serial.println(sf_storage_start(), HEX);
}

void loop() {}
