// The library's SpiNor driver (library/src/SpiNor.cpp) on each wiring, for tests/test_sim_spinor.py: begin() with
// the expected JEDEC id, a read of bytes the test preloads, a sector erase and a page program read back.
// Output on GPIOR1: begin status, 8 bytes read at 0x1000, erase status, program status, 4 bytes read at 0x2000.
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>

#include "SpiNor.h"

int main() {
  SpiNor nor;
  GPIOR1 = nor.begin(0xEF4016UL);
  uint8_t buf[8];
  nor.read(0x1000, buf, sizeof buf);
  for (uint8_t i = 0; i < sizeof buf; i++) GPIOR1 = buf[i];
  static const uint8_t data[4] = {0xDE, 0xAD, 0xBE, 0xEF};
  GPIOR1 = nor.eraseSector(0x2000);
  GPIOR1 = nor.programPage(0x2000, data, sizeof data);
  nor.read(0x2000, buf, 4);
  for (uint8_t i = 0; i < 4; i++) GPIOR1 = buf[i];
  sleep_enable();
  cli();
  sleep_cpu();
  return 0;
}
