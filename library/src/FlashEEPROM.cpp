// FlashEEPROM: see FlashEEPROM.h. Byte addresses map to 16-byte chunks (FlashStorage key = address / 16), so a
// byte write costs one 20-byte record and reads search for one key.
// Format-2 builds (parts with <= 4 KB of flash) have no FlashEEPROM: the library's own copy of this file must
// still compile to nothing there (arduino-builder and PlatformIO compile every source of the library). The plan
// defines SPAREFLASH_STORAGE_FORMAT on every build; without it (host tests) the format is 1.
#if !defined(SPAREFLASH_STORAGE_FORMAT) || SPAREFLASH_STORAGE_FORMAT != 2
#include "FlashEEPROM.h"

#include <string.h>

FlashEEPROMClass EEPROM;

FlashStorage &FlashEEPROMClass::storage() {
  if (!mounted_) {
    status_ = store_.begin();
    mounted_ = 1;
  }
  return store_;
}

// The current contents of chunk c; a chunk never written reads as erased EEPROM (0xFF).
void FlashEEPROMClass::chunk(uint8_t c, uint8_t *buf) {
  if (storage().getBytes(c, buf, SPAREFLASH_EEPROM_CHUNK) != SF_OK) memset(buf, 0xFF, SPAREFLASH_EEPROM_CHUNK);
}

void FlashEEPROMClass::readBytes(int idx, void *dst, uint16_t n) {
  uint8_t *d = (uint8_t *)dst;
  uint8_t buf[SPAREFLASH_EEPROM_CHUNK];
  while (n) {
    uint16_t a = (uint16_t)idx % SPAREFLASH_EEPROM_LENGTH;  // EEPROM addresses wrap like the hardware's
    uint8_t off = a % SPAREFLASH_EEPROM_CHUNK;
    chunk(a / SPAREFLASH_EEPROM_CHUNK, buf);
    uint8_t take = SPAREFLASH_EEPROM_CHUNK - off;
    if (take > n) take = n;
    memcpy(d, buf + off, take);
    d += take;
    idx += take;
    n -= take;
  }
}

void FlashEEPROMClass::writeBytes(int idx, const void *src, uint16_t n) {
  const uint8_t *s = (const uint8_t *)src;
  uint8_t buf[SPAREFLASH_EEPROM_CHUNK];
  while (n) {
    uint16_t a = (uint16_t)idx % SPAREFLASH_EEPROM_LENGTH;
    uint8_t off = a % SPAREFLASH_EEPROM_CHUNK;
    uint8_t c = a / SPAREFLASH_EEPROM_CHUNK;
    chunk(c, buf);
    uint8_t take = SPAREFLASH_EEPROM_CHUNK - off;
    if (take > n) take = n;
    if (memcmp(buf + off, s, take) != 0) {  // update semantics: unchanged bytes cost no flash write
      memcpy(buf + off, s, take);
      status_ = store_.putBytes(c, buf, SPAREFLASH_EEPROM_CHUNK);
    }
    s += take;
    idx += take;
    n -= take;
  }
}

uint8_t FlashEERef::operator*() const {
  uint8_t v;
  EEPROM.readBytes(index, &v, 1);
  return v;
}

FlashEERef &FlashEERef::operator=(uint8_t in) {
  EEPROM.writeBytes(index, &in, 1);
  return *this;
}

#endif  // SPAREFLASH_STORAGE_FORMAT != 2
