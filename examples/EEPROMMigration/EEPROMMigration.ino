/***
    EEPROMMigration: Arduino's stock eeprom_put example (EEPROM library, Christopher Andrews 2015, MIT) moved
    from the EEPROM to spare program flash. The ONE line changed is the include:

        #include <EEPROM.h>        ->        #include <FlashEEPROM.h>

    Everything else up to "added for SpareFlash" is the stock sketch. The additions read the values back (what
    the stock eeprom_get example does) and end the run so the simulator stops (docs/simulator.md).
***/

#include <FlashEEPROM.h>

struct MyObject {
  float field1;
  byte field2;
  char name[10];
};

void setup() {

  Serial.begin(9600);
  while (!Serial) {
    ; // wait for serial port to connect. Needed for native USB port only
  }

  float f = 123.456f;  //Variable to store in EEPROM.
  int eeAddress = 0;   //Location we want the data to be put.


  //One simple call, with the address first and the object second.
  EEPROM.put(eeAddress, f);

  Serial.println("Written float data type!");

  /** Put is designed for use with custom structures also. **/

  //Data to store.
  MyObject customVar = {
    3.14f,
    65,
    "Working!"
  };

  eeAddress += sizeof(float); //Move address to the next byte after float 'f'.

  EEPROM.put(eeAddress, customVar);
  Serial.print("Written custom data type! \n\nView the example sketch eeprom_get to see how you can retrieve the values!");

  // ---- added for SpareFlash: read back as eeprom_get does, then end the run -----------------------------
  float fBack = 0;
  MyObject back;
  EEPROM.get(0, fBack);
  EEPROM.get(sizeof(float), back);
  Serial.println();
  Serial.print("Read float: ");
  Serial.println(fBack, 3);
  Serial.print("Read object: ");
  Serial.print(back.field1);
  Serial.print(' ');
  Serial.print(back.field2);
  Serial.print(' ');
  Serial.println(back.name);
  EEPROM[100] += 1;  // operator[] works too: a counter of runs
  Serial.print("runs: ");
  Serial.println((int)EEPROM.read(100));  // erased EEPROM reads 0xFF, so the first run counts 0
  Serial.print("length: ");
  Serial.println(EEPROM.length());
  Serial.print("status: ");
  Serial.println(EEPROM.status());
  Serial.println("done");
  Serial.flush();
  spareflash_halt();
}

void loop() {
  /* Empty loop */
}
