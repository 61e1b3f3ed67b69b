// A sketch that uses SpareFlash: it includes a SpareFlash header, so the extra script applies the plan.
#include <Arduino.h>
#include <spareflash_layout.h>

void setup() {
  Serial.begin(9600);
  Serial.println(sf_storage_start(), HEX);  // the linker symbols must resolve: the plan's --defsym flags
  Serial.println(sf_storage_size());
}

void loop() {}
