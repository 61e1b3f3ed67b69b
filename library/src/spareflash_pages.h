// Page-ring helpers shared by FlashStorage and FlashLog: the 8-byte page header, the newest-page search and
// erase-count bookkeeping of docs/storage-format.md ("Page header", "Finding the head", "Erase counts").
// Internal to the library; sketches include SpareFlash.h.
#ifndef SPAREFLASH_PAGES_H
#define SPAREFLASH_PAGES_H

#include <stdint.h>

#ifdef SPAREFLASH_HOST
#include "sf_host.h"  // tests/host: the same C interface over an emulated flash
#else
#include <avr/pgmspace.h>
#include "spareflash_flash.h"
#endif
#include "spareflash_crc.h"

// Flash addresses inside the library: 16 bit where flash fits in 64 KB (smaller, faster code), else 32 bit.
#if defined(SPAREFLASH_HOST) || FLASHEND > 0xFFFF
typedef uint32_t sf_faddr_t;
#else
typedef uint16_t sf_faddr_t;
#endif

#ifndef SPAREFLASH_MAX_VALUE
#define SPAREFLASH_MAX_VALUE 32  // largest FlashStorage value (bytes)
#endif
#ifndef SPAREFLASH_LOG_MAX_RECORD
#define SPAREFLASH_LOG_MAX_RECORD 64  // largest FlashLog record (bytes)
#endif

#define SF_STORE_MAGIC 0xA5  // fed into FlashStorage header CRCs (FlashLog: 0x5A)
#define SF_HDR 8          // page header bytes: seq, oldest, erase count, crc (u16 each, little endian)
#define SF_KEY_END 0xFF   // an erased byte where a record would start ends a page's records
#define SF_ENDURANCE 10000UL

// A RAM page image (start_page's buffer): the page size, or the largest page on the host build.
#ifdef SPAREFLASH_HOST
#define SF_PAGE_BUF 256
#else
#define SF_PAGE_BUF SF_PAGE_SIZE
#endif

// Flash reads inline (LPM / ELPM): the record scans read every key byte of the region, and a function call
// per byte would double the worst get() time.
static inline uint8_t sf_rd(sf_faddr_t a) {
#if defined(SPAREFLASH_HOST)
  return sf_flash_read_byte(a);
#elif FLASHEND > 0xFFFF
  return pgm_read_byte_far(a);
#else
  return pgm_read_byte(a);
#endif
}

uint16_t sf_rd16(sf_faddr_t a);
uint16_t sf_crc16_flash(uint16_t crc, sf_faddr_t a, uint16_t n);
uint16_t sf_rec_flash(sf_faddr_t a, uint8_t n);  // a record's check bytes (CRC-8, Berger) over n body bytes

class SfPages {
 public:
  uint8_t pageCount() const { return pages_; }

 protected:
  sf_faddr_t base_;
  uint8_t pages_;     // 0 until begin() found a usable region
  uint8_t magic_;     // fed into the header CRC: storage and log pages never pass for each other
  uint8_t head_;      // newest page
  uint16_t head_seq_; // its sequence number (0xFFFF and head_ = pages_-1 when the region is empty)
  uint16_t head_off_; // where the next record goes in the head page; SF_PAGE_SIZE = closed

  sf_faddr_t page_addr(uint8_t p) const { return base_ + (sf_faddr_t)p * SF_PAGE_SIZE; }
  bool attach(sf_faddr_t start, sf_faddr_t end, uint8_t magic);
  bool hdr_valid(uint8_t p) const;
  uint16_t seq(uint8_t p) const { return sf_rd16(page_addr(p)); }
  // The head (-1: none): the newest page that counts whose first record is intact and whose ring predecessor,
  // if it counts, has the previous seq. valid, if given (pages_/8 rounded up bytes, zeroed), gets bit p set for
  // each page that counts (minus rejected head candidates), so a caller can check the chain without computing
  // each header CRC twice.
  int16_t find_head(uint8_t *valid = 0) const;
  bool blank(uint8_t p, uint16_t from) const;
  uint16_t next_erase_count(uint8_t p) const;
  uint8_t page_of_seq(uint16_t s) const;
  // A page belongs to the ring if its header is intact (and, for FlashStorage, seq - oldest < N); single-write
  // builds also need its first record intact (header and record are one page write there, so a torn write must
  // free the whole page).
  bool page_counts(uint8_t p) const;
  // Its first record is intact (a page without one: only format()'s, seq 0 and oldest 0).
  bool first_ok(uint8_t p) const;
  bool chain_ok(uint8_t p, uint16_t s) const { return page_counts(p) && seq(p) == s; }
  // Start the page after the head: erase it if it is not blank, then program header + the n payload bytes at
  // buf + SF_HDR in one page write (start_page fills buf's first SF_HDR bytes); it becomes the head. header_last:
  // program the payload first and the header in a second write.
  sf_status_t start_page(uint16_t oldest, uint8_t *buf, uint8_t n, uint8_t *ops, bool header_last = false);
  // Program rec at head_off_ (caller checked it fits).
  sf_status_t write_rec(const uint8_t *rec, uint8_t n);
  sf_status_t erase_all();

 public:
  uint16_t eraseCount(uint8_t p) const { return (p < pages_ && hdr_valid(p)) ? sf_rd16(page_addr(p) + 4) : 0; }
};

#endif  // SPAREFLASH_PAGES_H
