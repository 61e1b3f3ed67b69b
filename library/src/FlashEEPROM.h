// FlashEEPROM: the Arduino EEPROM library's API (EEPROM.read/write/update/get/put/length, EEPROM[i]) on top of
// FlashStorage, so a sketch written for EEPROM.h moves to flash by changing one line:
//     #include <EEPROM.h>   ->   #include <FlashEEPROM.h>
// The emulated EEPROM has SPAREFLASH_EEPROM_LENGTH bytes (256 by default; define it to change), reads 0xFF
// until written, and is stored as 16-byte chunks under FlashStorage keys 0..length/16-1: do not use a
// FlashStorage object on the storage region at the same time. Every write is durable when it returns; write()
// behaves like update() (an unchanged byte costs no flash write). The store mounts itself on first use.
#ifndef SPAREFLASH_FLASHEEPROM_H
#define SPAREFLASH_FLASHEEPROM_H

#include "SpareFlash.h"  // FlashStorage, spareflash_halt()

#if SPAREFLASH_STORAGE_FORMAT == 2
#error "FlashEEPROM is not available on parts built with FlashStorage format 2 (<= 4 KB of flash, e.g. ATtiny25/45): use FlashStorage or the chip's EEPROM"
#endif

#ifndef SPAREFLASH_EEPROM_LENGTH
#define SPAREFLASH_EEPROM_LENGTH 256
#endif
#define SPAREFLASH_EEPROM_CHUNK 16
#if SPAREFLASH_EEPROM_LENGTH % SPAREFLASH_EEPROM_CHUNK || SPAREFLASH_EEPROM_LENGTH / SPAREFLASH_EEPROM_CHUNK > 255
#error "SPAREFLASH_EEPROM_LENGTH must be a multiple of 16 and at most 4080"
#endif

class FlashEEPROMClass;

struct FlashEERef {
  FlashEERef(int i) : index(i) {}
  uint8_t operator*() const;
  operator uint8_t() const { return **this; }
  FlashEERef &operator=(const FlashEERef &ref) { return *this = *ref; }
  FlashEERef &operator=(uint8_t in);
  FlashEERef &operator+=(uint8_t in) { return *this = **this + in; }
  FlashEERef &operator-=(uint8_t in) { return *this = **this - in; }
  FlashEERef &operator*=(uint8_t in) { return *this = **this * in; }
  FlashEERef &operator/=(uint8_t in) { return *this = **this / in; }
  FlashEERef &operator^=(uint8_t in) { return *this = **this ^ in; }
  FlashEERef &operator%=(uint8_t in) { return *this = **this % in; }
  FlashEERef &operator&=(uint8_t in) { return *this = **this & in; }
  FlashEERef &operator|=(uint8_t in) { return *this = **this | in; }
  FlashEERef &operator<<=(uint8_t in) { return *this = **this << in; }
  FlashEERef &operator>>=(uint8_t in) { return *this = **this >> in; }
  FlashEERef &update(uint8_t in) { return *this = in; }
  FlashEERef &operator++() { return *this += 1; }
  FlashEERef &operator--() { return *this -= 1; }
  uint8_t operator++(int) {
    uint8_t r = **this;
    ++(*this);
    return r;
  }
  uint8_t operator--(int) {
    uint8_t r = **this;
    --(*this);
    return r;
  }
  int index;
};

struct FlashEEPtr {
  FlashEEPtr(int i) : index(i) {}
  operator int() const { return index; }
  FlashEEPtr &operator=(int in) {
    index = in;
    return *this;
  }
  bool operator!=(const FlashEEPtr &ptr) { return index != ptr.index; }
  FlashEERef operator*() { return index; }
  FlashEEPtr &operator++() {
    ++index;
    return *this;
  }
  FlashEEPtr &operator--() {
    --index;
    return *this;
  }
  FlashEEPtr operator++(int) { return index++; }
  FlashEEPtr operator--(int) { return index--; }
  int index;
};

class FlashEEPROMClass {
 public:
  uint8_t read(int idx) { return FlashEERef(idx); }
  void write(int idx, uint8_t val) { (FlashEERef(idx)) = val; }
  void update(int idx, uint8_t val) { FlashEERef(idx).update(val); }
  FlashEERef operator[](const int idx) { return idx; }
  FlashEEPtr begin() { return 0x00; }
  FlashEEPtr end() { return length(); }
  uint16_t length() { return SPAREFLASH_EEPROM_LENGTH; }

  template <typename T>
  T &get(int idx, T &t) {
    readBytes(idx, &t, sizeof(T));
    return t;
  }
  template <typename T>
  const T &put(int idx, const T &t) {
    writeBytes(idx, &t, sizeof(T));
    return t;
  }

  // Status of the last write (SF_OK, or why it failed: SF_ERR_NO_REGION, SF_ERR_FULL, a backend error).
  sf_status_t status() const { return status_; }
  void readBytes(int idx, void *dst, uint16_t n);
  void writeBytes(int idx, const void *src, uint16_t n);
  // The FlashStorage underneath (for stats()); mounted.
  FlashStorage &storage();

 private:
  FlashStorage store_;
  uint8_t mounted_;
  sf_status_t status_;
  void chunk(uint8_t c, uint8_t *buf);
};

extern FlashEEPROMClass EEPROM;

#endif  // SPAREFLASH_FLASHEEPROM_H
