// Page-ring helpers shared by FlashStorage and FlashLog (docs/storage-format.md).
#include "spareflash_pages.h"

#include <string.h>

uint16_t sf_rd16(sf_faddr_t a) { return sf_rd(a) | ((uint16_t)sf_rd(a + 1) << 8); }

// Not inlined: every header and record check shares this one loop (code size; it is not on get()'s hot path).
__attribute__((noinline)) uint16_t sf_crc16_flash(uint16_t crc, sf_faddr_t a, uint16_t n) {
  while (n--) crc = sf_crc16_update(crc, sf_rd(a++));
  return crc;
}

// The check bytes a record body of n bytes at a must carry (spareflash_crc.h); shared by every record check.
__attribute__((noinline)) uint16_t sf_rec_flash(sf_faddr_t a, uint8_t n) {
  uint16_t s = SF_REC_INIT;
  while (n--) s = sf_rec_update(s, sf_rd(a++));
  return sf_rec_final(s);
}

bool SfPages::attach(sf_faddr_t start, sf_faddr_t end, uint8_t magic) {
  uint32_t n = (uint32_t)(end - start) / SF_PAGE_SIZE;
  pages_ = 0;
  // A ring needs 2 pages; page numbers are one byte. Anything else is a plan error: refuse, write nothing.
  if (end <= start || n < 1 || n > 255 || (start % SF_PAGE_SIZE)) return false;
  base_ = start;
  pages_ = (uint8_t)n;
  magic_ = magic;
  return true;
}

bool SfPages::hdr_valid(uint8_t p) const {
  sf_faddr_t a = page_addr(p);
  return sf_crc16_flash(sf_crc16_update(0xFFFF, magic_), a, 6) == sf_rd16(a + 6);
}

// The head: the newest page that counts (scanning pages in order, a page replaces the best so far when its seq
// is 1..0x7FFF ahead: serial-number arithmetic, so the 16-bit counter may wrap) whose first record is intact and
// whose ring predecessor, if it counts, has the previous seq. A candidate that fails is dropped and the next
// newest tried: a torn header whose CRC passes by chance (1 in 65,536) must not become the head with a random
// seq and hide the chain (docs/storage-format.md 4.2).
int16_t SfPages::find_head(uint8_t *valid) const {
  uint8_t local[32];
  if (!valid) {
    memset(local, 0, sizeof local);
    valid = local;
  }
  // The first pass marks the pages that count and picks the newest; a rejected candidate (rare) costs a rescan.
  for (bool first = true;; first = false) {
    int16_t best = -1;
    uint16_t best_seq = 0;
    for (uint8_t p = 0; p < pages_; p++) {
      uint8_t bit = (uint8_t)(1 << (p & 7));
      if (first && page_counts(p)) valid[p >> 3] |= bit;
      if (!(valid[p >> 3] & bit)) continue;
      uint16_t s = seq(p);
      uint16_t d = s - best_seq;
      if (best < 0 || (d >= 1 && d < 0x8000)) {
        best = p;
        best_seq = s;
      }
    }
    if (best < 0) return best;
    uint8_t b = (uint8_t)best, pred = b ? b - 1 : pages_ - 1;
    if (first_ok(b) && (pred == b || !(valid[pred >> 3] & (1 << (pred & 7))) || seq(pred) == best_seq - 1))
      return best;
    valid[b >> 3] &= (uint8_t)~(1 << (b & 7));
  }
}

bool SfPages::page_counts(uint8_t p) const {
  if (!hdr_valid(p)) return false;
  // FlashStorage: no page this library writes has seq - oldest >= N (a corrupt or chance header could)
  if (magic_ == SF_STORE_MAGIC && (uint16_t)(seq(p) - sf_rd16(page_addr(p) + 2)) >= pages_) return false;
#ifdef SPAREFLASH_SINGLE_WRITE
  return first_ok(p);
#else
  return true;
#endif
}

bool SfPages::first_ok(uint8_t p) const {
  sf_faddr_t a = page_addr(p) + SF_HDR;
  uint8_t b0 = sf_rd(a);
  // storage record: key, len, data, crc; log record: len, data, crc (the magic tells which)
  bool log = magic_ != SF_STORE_MAGIC;
  if (b0 == 0xFF) return !log && sf_rd16(a - SF_HDR) == 0 && sf_rd16(a - SF_HDR + 2) == 0;  // format()'s page
  uint8_t n = log ? b0 : sf_rd(a + 1);
  uint8_t lim = log ? SPAREFLASH_LOG_MAX_RECORD : SPAREFLASH_MAX_VALUE;
  uint16_t room = SF_PAGE_SIZE - SF_HDR - (log ? 3 : 4);
  if (n > lim || n > room || (log && n == 0)) return false;
  uint8_t body = (log ? 1 : 2) + n;
  return sf_rec_flash(a, body) == sf_rd16(a + body);
}

bool SfPages::blank(uint8_t p, uint16_t from) const {
  sf_faddr_t a = page_addr(p);
  for (uint16_t i = from; i < SF_PAGE_SIZE; i++)
    if (sf_rd(a + i) != 0xFF) return false;
  return true;
}

// A page's erase count lives in its header, so it is read before the erase and written with the new header.
// A page without a valid header (blank, torn) takes the lowest count of the valid headers: the ring erases
// pages in turn, so their counts differ by little.
uint16_t SfPages::next_erase_count(uint8_t p) const {
  uint16_t ec;
  if (hdr_valid(p)) {
    ec = sf_rd16(page_addr(p) + 4);
  } else {
    ec = 0xFFFF;
    bool any = false;
    for (uint8_t q = 0; q < pages_; q++) {
      if (!hdr_valid(q)) continue;
      uint16_t e = sf_rd16(page_addr(q) + 4);
      if (!any || e < ec) ec = e;
      any = true;
    }
    if (!any) ec = 0;
  }
  return ec == 0xFFFF ? ec : ec + 1;
}

uint8_t SfPages::page_of_seq(uint16_t s) const {
  uint16_t d = head_seq_ - s;  // < pages_ for every seq of the chain
  return head_ >= d ? head_ - d : head_ + pages_ - d;
}

sf_status_t SfPages::start_page(uint16_t oldest, uint8_t *buf, uint8_t n, uint8_t *ops, bool header_last) {
  uint8_t np = head_ + 1 == pages_ ? 0 : head_ + 1;
  uint16_t ec = next_erase_count(np);
  sf_faddr_t a = page_addr(np);
  sf_status_t st;
  if (!blank(np, 0)) {
    st = sf_flash_erase_page(a);
    if (st) return st;
    (*ops)++;
  }
  // Header and first record in one page write: the page never holds a header without its first record, and
  // a torn write fails the header CRC, so the page simply does not count (docs: "Recovery"). header_last:
  // the payload is programmed first, the header in a write of its own after it, so the page counts only once
  // all of the payload is complete (a tear can complete a header and leave a later byte short).
  uint16_t s = head_seq_ + 1;
  buf[0] = (uint8_t)s;
  buf[1] = (uint8_t)(s >> 8);
  buf[2] = (uint8_t)oldest;
  buf[3] = (uint8_t)(oldest >> 8);
  buf[4] = (uint8_t)ec;
  buf[5] = (uint8_t)(ec >> 8);
  uint16_t crc = sf_crc16_ram(sf_crc16_update(0xFFFF, magic_), buf, 6);
  buf[6] = (uint8_t)crc;
  buf[7] = (uint8_t)(crc >> 8);
  if (header_last) {
    st = sf_flash_program(a + SF_HDR, buf + SF_HDR, n);
    (*ops)++;
    if (st) return st;
  }
  st = sf_flash_program(a, buf, header_last ? SF_HDR : SF_HDR + n);
  (*ops)++;
  if (st) return st;
  head_ = np;
  head_seq_ = s;
#ifdef SPAREFLASH_SINGLE_WRITE
  head_off_ = SF_PAGE_SIZE;  // every page is programmed once between erases
#else
  head_off_ = SF_HDR + n;
#endif
  return SF_OK;
}

sf_status_t SfPages::write_rec(const uint8_t *rec, uint8_t n) {
  sf_status_t st = sf_flash_program(page_addr(head_) + head_off_, rec, n);
#ifdef SPAREFLASH_SINGLE_WRITE
  head_off_ = SF_PAGE_SIZE;
#else
  // After a failed write the page is closed: the next record starts a new page instead of landing on
  // half-programmed bytes.
  head_off_ = st ? SF_PAGE_SIZE : head_off_ + n;
#endif
  return st;
}

sf_status_t SfPages::erase_all() {
  for (uint8_t p = 0; p < pages_; p++) {
    if (blank(p, 0)) continue;
    sf_status_t st = sf_flash_erase_page(page_addr(p));
    if (st) return st;
  }
  return SF_OK;
}
