// SpareFlash is installed (lib_deps) but this sketch does not include it: the build must be untouched.
#include <Arduino.h>

void setup() { Serial.begin(9600); Serial.println(F("no SpareFlash here")); }

void loop() {}
