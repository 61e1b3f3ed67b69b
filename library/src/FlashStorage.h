// FlashStorage: a wear-levelled, power-cut-safe key/value store in the spare program flash region the
// SpareFlash plan reserves (linker symbols __spareflash_storage_start/_end). Format: docs/storage-format.md.
//
//   FlashStorage store;
//   store.begin();                 // mount (read only; recovers from any power cut), SF_OK or an error
//   store.put(1, value);           // durable when it returns SF_OK: one page write (plus rare erase / GC)
//   store.get(1, value);           // SF_OK, SF_ERR_NOT_FOUND, or SF_ERR_ARG when sizeof(value) differs
//
// Keys are 0..254. Values are trivially copyable objects of 1..SPAREFLASH_MAX_VALUE bytes (32 by default).
// Keep the live data (4 + size per key) below about a quarter of the region so garbage collection always keeps
// up; past that, put() can return SF_ERR_FULL (nothing is lost; remove keys or format()).
#ifndef SPAREFLASH_FLASHSTORAGE_H
#define SPAREFLASH_FLASHSTORAGE_H

#include "spareflash_pages.h"


struct FlashStorageStats {
  uint16_t pages;          // pages in the region
  uint16_t pageSize;       // bytes per page
  uint16_t liveBytes;      // bytes the current values occupy, record overhead included
  uint16_t liveRecords;    // keys present
  uint16_t freeBytes;      // bytes writable before the next erase
  uint16_t minErase;       // erase counts from the page headers (eraseCount(page) for each page)
  uint16_t maxErase;
  uint32_t remainingWrites;  // estimate: erases left on all pages x records of the average size per page
};

#if SPAREFLASH_STORAGE_FORMAT == 2
// Format 2 (docs/storage-format-v2.md): the plan picks it on parts with at most 4 KB of flash (ATtiny25/45), where
// format 1's engine does not fit beside the storage region. The engine is flashstorage_v2.S; this class is only
// its C++ API (same calls, status codes and FlashStorageStats as format 1), every call one rcall into the
// assembly. The engine's state is its own (one store per firmware, as there is one storage region). Values are
// 1..min(32, page size - 10) bytes (22 on the ATtiny25's 32-byte pages); keys 0..254.
extern "C" {
sf_status_t sf2_begin(void);
sf_status_t sf2_put(uint8_t key, const void *data, uint8_t n);
sf_status_t sf2_get(uint8_t key, void *data, uint8_t n);
sf_status_t sf2_remove(uint8_t key);
uint8_t sf2_size(uint8_t key);
sf_status_t sf2_format(void);
// The endurance is an argument so that SF_ENDURANCE stays the one value both formats use.
sf_status_t sf2_stats(FlashStorageStats *out, uint16_t endurance);
}

class FlashStorage {
 public:
  // Mount the region (read only, recovers from any power cut). SF_ERR_NO_REGION without at least 2 pages.
  sf_status_t begin() { return sf2_begin(); }

  template <typename T>
  sf_status_t put(uint8_t key, const T &value) { return putBytes(key, &value, sizeof(T)); }
  template <typename T>
  sf_status_t get(uint8_t key, T &value) const { return getBytes(key, &value, sizeof(T)); }

  sf_status_t putBytes(uint8_t key, const void *data, uint8_t n) { return sf2_put(key, data, n); }
  sf_status_t getBytes(uint8_t key, void *data, uint8_t n) const { return sf2_get(key, data, n); }
  sf_status_t remove(uint8_t key) { return sf2_remove(key); }
  bool contains(uint8_t key) const { return sf2_size(key) != 0; }
  sf_status_t format() { return sf2_format(); }
  sf_status_t stats(FlashStorageStats &out) const { return sf2_stats(&out, SF_ENDURANCE); }
  // Size of the stored value of key (0 if absent).
  uint8_t sizeOf(uint8_t key) const { return sf2_size(key); }
};

#else  // format 1

class FlashStorage : public SfPages {
 public:
  // Mount the region. Read only: a torn page left by a power cut is recognised, not repaired, so begin() can
  // never make things worse. SF_ERR_NO_REGION without a usable region; the backend's status otherwise.
  sf_status_t begin();

  template <typename T>
  sf_status_t put(uint8_t key, const T &value) { return putBytes(key, &value, sizeof(T)); }
  template <typename T>
  sf_status_t get(uint8_t key, T &value) const { return getBytes(key, &value, sizeof(T)); }

  sf_status_t putBytes(uint8_t key, const void *data, uint8_t n);
  sf_status_t getBytes(uint8_t key, void *data, uint8_t n) const;
  sf_status_t remove(uint8_t key);
  bool contains(uint8_t key) const;
  sf_status_t format();
  sf_status_t stats(FlashStorageStats &out) const;
  // Size of the stored value of key (0 if absent).
  uint8_t sizeOf(uint8_t key) const;

 private:
  uint16_t oldest_;     // sequence number of the oldest page still in use
  uint16_t drain_off_;  // garbage collection's position in that page
  uint8_t clean_;       // 1: every page of the chain had a valid header at mount (reads skip the header CRCs)

  uint8_t max_value() const;
  uint16_t used() const { return head_seq_ - oldest_ + 1; }
  uint8_t rec_size(sf_faddr_t page, uint16_t off) const;
  bool rec_ok(sf_faddr_t a) const;
  uint16_t scan_end(uint8_t p) const;
  sf_faddr_t page_latest(sf_faddr_t pa, uint8_t key) const;
  sf_faddr_t latest(uint8_t key) const;  // 0 = none (a record never starts at flash address 0)
  bool is_live(sf_faddr_t a) const;
  uint16_t live_tail(uint8_t *buf) const;
  bool reclaim_oldest();
  sf_status_t append(uint8_t *buf, uint8_t n, uint8_t *ops);
  void gc(uint8_t budget, uint8_t *buf);
  void mount();
  sf_status_t write(uint8_t key, const void *data, uint8_t n);
};

#endif  // SPAREFLASH_STORAGE_FORMAT

#endif  // SPAREFLASH_FLASHSTORAGE_H
