// FlashStorage: see FlashStorage.h and docs/storage-format.md. The Python model
// builder/spareflash/storage/store.py takes the same decisions; tests compare the two byte for byte.
#include "FlashStorage.h"

// Format 2 builds use flashstorage_v2.S instead (FlashStorage.h).
#if SPAREFLASH_STORAGE_FORMAT != 2

#include <string.h>

#define SF_REC_OVERHEAD 4  // key, len, crc8, berger

#ifdef SPAREFLASH_SINGLE_WRITE
#define SF_SINGLE 1
#else
#define SF_SINGLE 0
#endif

static sf_faddr_t storage_start() {
#ifdef SPAREFLASH_HOST
  return sf_host_storage_start();
#else
  return (sf_faddr_t)sf_storage_start();
#endif
}
static sf_faddr_t storage_end() {
#ifdef SPAREFLASH_HOST
  return sf_host_storage_end();
#else
  return (sf_faddr_t)sf_storage_end();
#endif
}

uint8_t FlashStorage::max_value() const {
  uint16_t m = SF_PAGE_SIZE - SF_HDR - SF_REC_OVERHEAD;
  return m < SPAREFLASH_MAX_VALUE ? (uint8_t)m : SPAREFLASH_MAX_VALUE;
}

void FlashStorage::mount() {
  uint8_t valid[32] = {0};  // a bit per page that counts (on the stack: begin() only)
  int16_t h = find_head(valid);
  drain_off_ = SF_HDR;
  // Are all pages of the chain intact? Then reads skip the header CRCs: chain headers never change while the
  // pages are in the chain, and pages joining it (start_page) are written and verified by this object.
  clean_ = 1;
  if (h < 0) {  // empty region: the first record starts page 0 with seq 0
    head_ = pages_ - 1;
    head_seq_ = 0xFFFF;
    oldest_ = 0;
    head_off_ = SF_PAGE_SIZE;
    return;
  }
  head_ = (uint8_t)h;
  head_seq_ = seq(head_);
  oldest_ = sf_rd16(page_addr(head_) + 2);  // page_counts(): head_seq_ - oldest_ < pages_
  // Single-write builds never add to a page that has been programmed (format()'s empty header included).
  head_off_ = SF_SINGLE ? SF_PAGE_SIZE : scan_end(head_);
  for (uint16_t i = 0, s = head_seq_; i < used(); i++, s--) {
    uint8_t p = page_of_seq(s);
    if (!(valid[p >> 3] & (1 << (p & 7))) || seq(p) != s) clean_ = 0;
  }
}

sf_status_t FlashStorage::begin() {
  if (!attach(storage_start(), storage_end(), SF_STORE_MAGIC) || pages_ < 2) {
    pages_ = 0;
    return SF_ERR_NO_REGION;
  }
  mount();
  return sf_flash_begin();
}

uint8_t FlashStorage::rec_size(sf_faddr_t page, uint16_t off) const {
  if (off + SF_REC_OVERHEAD > SF_PAGE_SIZE) return 0;
  sf_faddr_t a = page + off;
  if (sf_rd(a) == SF_KEY_END) return 0;
  uint8_t n = sf_rd(a + 1);
  if (n > max_value() || off + SF_REC_OVERHEAD + n > SF_PAGE_SIZE) return 0;
  return SF_REC_OVERHEAD + n;
}

bool FlashStorage::rec_ok(sf_faddr_t a) const {
  uint8_t n = sf_rd(a + 1);
  return sf_rec_flash(a, 2 + n) == sf_rd16(a + 2 + n);
}

uint16_t FlashStorage::scan_end(uint8_t p) const {
  sf_faddr_t pa = page_addr(p);
  uint16_t o = SF_HDR;
  uint8_t s;
  while ((s = rec_size(pa, o)) != 0) o += s;
  return (o < SF_PAGE_SIZE && blank(p, o)) ? o : SF_PAGE_SIZE;
}

// Address of the last record of key before address lim in the page at pa (0 if none), walking as rec_size()
// does but reading only the key and len bytes: a record's length is all it takes to step over it. This loop is
// the cost of get() (every record of the chain for an absent key), hence the assembler: about 22 cycles a
// record on AVR (a match costs 3 more for the lim compare).
static sf_faddr_t walk_last(sf_faddr_t pa, uint8_t key, uint8_t maxv, sf_faddr_t lim) {
  sf_faddr_t end = pa + SF_PAGE_SIZE, last = 0;
#if !defined(SPAREFLASH_HOST) && FLASHEND <= 0xFFFF
  sf_faddr_t cur, z = pa + SF_HDR;
  uint8_t k, n;
  __asm__ volatile(
      "1:  movw %[cur], r30     \n\t"
      "    lpm  %[k], Z+        \n\t"  // key; 0xFF ends the page
      "    cpi  %[k], 0xFF      \n\t"
      "    breq 2f              \n\t"
      "    lpm  %[n], Z+        \n\t"  // len; > max_value ends the page
      "    cp   %[maxv], %[n]   \n\t"
      "    brlo 2f              \n\t"
      "    add  r30, %[n]       \n\t"  // Z = next record: +len +crc8 +berger
      "    adc  r31, __zero_reg__ \n\t"
      "    adiw r30, 2          \n\t"
      "    cp   %A[end], r30    \n\t"  // past the page end: ends the page
      "    cpc  %B[end], r31    \n\t"
      "    brlo 2f              \n\t"
      "    cpse %[k], %[key]    \n\t"
      "    rjmp 1b              \n\t"
      "    cp   %A[cur], %A[lim] \n\t"  // a match at or after lim does not count
      "    cpc  %B[cur], %B[lim] \n\t"
      "    brsh 1b              \n\t"
      "    movw %[last], %[cur] \n\t"
      "    rjmp 1b              \n\t"
      "2:                       \n\t"
      : [last] "+r"(last), [cur] "=&r"(cur), [k] "=&d"(k), [n] "=&r"(n), "+z"(z)
      : [key] "r"(key), [maxv] "r"(maxv), [end] "r"(end), [lim] "r"(lim)
      : "cc");
  (void)cur;
#else
  for (sf_faddr_t a = pa + SF_HDR;;) {
    uint8_t k = sf_rd(a);
    if (k == SF_KEY_END) break;
    uint8_t n = sf_rd(a + 1);
    if (n > maxv) break;
    sf_faddr_t next = a + SF_REC_OVERHEAD + n;  // (a + 4 > end implies next > end: one test covers both)
    if (next > end) break;
    if (k == key && a < lim) last = a;
    a = next;
  }
#endif
  return last;
}

// The last record of key with a good CRC in the page at pa, or 0: the last match, and if its CRC fails (a torn
// or corrupted record: rare) the last match before it, and so on.
sf_faddr_t FlashStorage::page_latest(sf_faddr_t pa, uint8_t key) const {
  sf_faddr_t lim = pa + SF_PAGE_SIZE, last;
  while ((last = walk_last(pa, key, max_value(), lim)) && !rec_ok(last)) lim = last;
  return last;
}

// Newest record of key with a good CRC: pages newest first; inside a page the last good match wins. The page
// headers of the chain were checked by mount() (clean_), so a page costs its seq compare plus the walk.
sf_faddr_t FlashStorage::latest(uint8_t key) const {
  uint16_t s = head_seq_;
  for (uint16_t i = used(); i; i--, s--) {
    uint8_t p = page_of_seq(s);
    if (seq(p) != s || (!clean_ && !page_counts(p))) continue;
    sf_faddr_t found = page_latest(page_addr(p), key);
    if (found) return found;
  }
  return 0;
}

bool FlashStorage::is_live(sf_faddr_t a) const {
  // A value (not a tombstone: nothing older than the oldest page needs hiding) that is the newest good
  // record of its key.
  // (No CRC check of its own: latest() only returns records whose CRC is good.)
  return sf_rd(a + 1) != 0 && latest(sf_rd(a)) == a;
}

// Bytes of the live records of the oldest page from drain_off_ on (what GC still has to copy); with buf, they are
// also copied there back to back, starting at buf + SF_HDR.
uint16_t FlashStorage::live_tail(uint8_t *buf) const {
  uint16_t m = 0;
  uint8_t op = page_of_seq(oldest_);
  if (seq(op) == oldest_ && (clean_ || page_counts(op))) {
    sf_faddr_t pa = page_addr(op);
    uint16_t o = drain_off_;
    uint8_t size;
    while ((size = rec_size(pa, o)) != 0) {
      if (is_live(pa + o)) {
        for (uint8_t i = 0; buf && i < size; i++) buf[SF_HDR + m + i] = sf_rd(pa + o + i);
        m += size;
      }
      o += size;
    }
  }
  return m;
}

// Every page is in use (an image written before the last-free-page rule of append(), or a reboot in single-write
// builds): free the oldest page if nothing in it is live. No page operation.
bool FlashStorage::reclaim_oldest() {
  if (live_tail(0)) return false;
  oldest_++;
  drain_off_ = SF_HDR;
  return true;
}

// Append the record staged at buf + SF_PAGE_BUF (n bytes). buf[0, SF_PAGE_BUF) is the RAM image of a new page
// (one buffer for write(), gc() and append(): put()'s whole stack use is about a page + a record).
sf_status_t FlashStorage::append(uint8_t *buf, uint8_t n, uint8_t *ops) {
  const uint8_t *rec = buf + SF_PAGE_BUF;
  if (head_off_ + n <= SF_PAGE_SIZE) {
    (*ops)++;
    return write_rec(rec, n);
  }
  for (uint8_t tries = pages_; tries; tries--) {
    if (used() >= pages_ && !reclaim_oldest()) return SF_ERR_FULL;
    uint16_t m = 0, oldest = oldest_;
    // The last free page also takes the oldest page's remaining live records, and its header's `oldest` skips
    // that page: the chain never holds all N pages while its oldest page has live records, so a torn write
    // that closes the head cannot leave a store with no page to free (docs/storage-format.md 5.3). The header
    // goes last, in a write of its own: the page counts only once every copy in it is complete.
    if (!SF_SINGLE && used() == pages_ - 1) {
      m = live_tail(buf);
      oldest++;
    }
    bool copies = m != 0;
    bool fits = SF_HDR + m + n <= SF_PAGE_SIZE;
    if (fits) {
      memcpy(buf + SF_HDR + m, rec, n);
      m += n;
    }
    sf_status_t st = start_page(oldest, buf, (uint8_t)m, ops, copies);
    if (st) return st;
    if (oldest != oldest_) {
      oldest_ = oldest;
      drain_off_ = SF_HDR;
    }
    if (fits) return SF_OK;
  }
  return SF_ERR_FULL;
}

// Garbage collection, a few page operations at a time: while fewer than `reserve` pages are free, copy the
// live records of the oldest page to the head; when none is left the oldest page is free (it is erased only
// when the head reaches it, so a power cut never loses a record that still counts).
void FlashStorage::gc(uint8_t budget, uint8_t *buf) {
  uint8_t reserve = pages_ >= 4 ? 2 : 1;
  uint16_t loops = 0, limit = (uint16_t)(pages_ * SF_PAGE_SIZE);
  while (budget > 0 && loops < limit) {
    loops++;
    uint16_t u = used();
    if (pages_ - u >= reserve || u <= 1) return;
    uint8_t op = page_of_seq(oldest_);
    sf_faddr_t pa = page_addr(op);
    // (With clean_ every chain page's header was checked at mount: the seq compare alone decides, as in
    // latest(); no header CRC per drained record.)
    uint8_t size = (seq(op) == oldest_ && (clean_ || page_counts(op))) ? rec_size(pa, drain_off_) : 0;
    if (!size) {
      oldest_++;
      drain_off_ = SF_HDR;
      continue;
    }
    sf_faddr_t a = pa + drain_off_;
    if (is_live(a)) {
      if (head_off_ + size > SF_PAGE_SIZE && (!SF_SINGLE || pages_ - u < 1 || budget < 2)) return;
      for (uint8_t i = 0; i < size; i++) buf[SF_PAGE_BUF + i] = sf_rd(a + i);
      uint8_t ops = 0;
      if (append(buf, size, &ops)) return;
      budget = ops >= budget ? 0 : budget - ops;
    }
    drain_off_ += size;
  }
}

sf_status_t FlashStorage::write(uint8_t key, const void *data, uint8_t n) {
  uint8_t buf[SF_PAGE_BUF + SF_REC_OVERHEAD + SPAREFLASH_MAX_VALUE];
#ifdef SPAREFLASH_SINGLE_WRITE
  // Restore the reserve of free pages first: a reboot may have stopped garbage collection half-way, and in
  // this mode every copy needs a free page.
  gc(2 * pages_ > 255 ? 255 : 2 * pages_, buf);
#endif
  uint8_t *rec = buf + SF_PAGE_BUF;
  rec[0] = key;
  rec[1] = n;
  if (n) memcpy(rec + 2, data, n);  // n == 0: a tombstone, data may be null
  uint16_t chk = sf_rec_ram(rec, 2 + n);  // CRC-8, Berger byte: a torn write of this record never passes
  rec[2 + n] = (uint8_t)chk;
  rec[3 + n] = (uint8_t)(chk >> 8);
  uint8_t ops = 0;
  sf_status_t st = append(buf, n + SF_REC_OVERHEAD, &ops);
  if (st) return st;
  // The new record is durable before any garbage collection starts. Worst case per put: new page (erase +
  // write) + one copy = 3 page operations.
  gc(SF_SINGLE ? (uint8_t)(2 * pages_ > 255 ? 255 : 2 * pages_) : (uint8_t)(ops >= 3 ? 0 : 3 - ops), buf);
  return SF_OK;
}

sf_status_t FlashStorage::putBytes(uint8_t key, const void *data, uint8_t n) {
  if (!pages_) return SF_ERR_NOT_BEGUN;
  if (key == SF_KEY_END) return SF_ERR_ARG;
  if (n == 0 || n > max_value()) return SF_ERR_TOO_LARGE;
  return write(key, data, n);
}

uint8_t FlashStorage::sizeOf(uint8_t key) const {
  if (!pages_ || key == SF_KEY_END) return 0;
  sf_faddr_t a = latest(key);
  return a ? sf_rd(a + 1) : 0;
}

sf_status_t FlashStorage::getBytes(uint8_t key, void *data, uint8_t n) const {
  if (!pages_) return SF_ERR_NOT_BEGUN;
  sf_faddr_t a = key == SF_KEY_END ? 0 : latest(key);
  if (!a || sf_rd(a + 1) == 0) return SF_ERR_NOT_FOUND;
  if (sf_rd(a + 1) != n) return SF_ERR_ARG;
  uint8_t *d = (uint8_t *)data;
  for (uint8_t i = 0; i < n; i++) d[i] = sf_rd(a + 2 + i);
  return SF_OK;
}

bool FlashStorage::contains(uint8_t key) const { return sizeOf(key) != 0; }

sf_status_t FlashStorage::remove(uint8_t key) {
  if (!pages_) return SF_ERR_NOT_BEGUN;
  if (key == SF_KEY_END) return SF_ERR_ARG;
  if (!contains(key)) return SF_OK;
  return write(key, 0, 0);  // a tombstone: len 0
}

sf_status_t FlashStorage::format() {
  if (!pages_) return SF_ERR_NOT_BEGUN;
  // Keep the wear history: page 0's fresh header carries the highest erase count seen.
  uint16_t ec = 0;
  for (uint8_t p = 0; p < pages_; p++)
    if (hdr_valid(p) && sf_rd16(page_addr(p) + 4) > ec) ec = sf_rd16(page_addr(p) + 4);
  sf_status_t st = erase_all();
  if (st) return st;
  if (ec != 0xFFFF) ec++;
  uint8_t hdr[SF_HDR] = {0, 0, 0, 0, (uint8_t)ec, (uint8_t)(ec >> 8), 0, 0};
  uint16_t crc = sf_crc16_ram(sf_crc16_update(0xFFFF, SF_STORE_MAGIC), hdr, 6);
  hdr[6] = (uint8_t)crc;
  hdr[7] = (uint8_t)(crc >> 8);
  st = sf_flash_program(page_addr(0), hdr, SF_HDR);
  mount();
  return st;
}

sf_status_t FlashStorage::stats(FlashStorageStats &out) const {
  if (!pages_) return SF_ERR_NOT_BEGUN;
  uint16_t live = 0, count = 0;
  for (uint8_t k = 0; k < SF_KEY_END; k++) {
    uint8_t n = sizeOf(k);
    if (n) {
      live += SF_REC_OVERHEAD + n;
      count++;
    }
  }
  uint16_t mn = 0xFFFF, mx = 0;
  uint32_t left = 0;
  for (uint8_t p = 0; p < pages_; p++) {
    uint16_t e = eraseCount(p);
    if (e < mn) mn = e;
    if (e > mx) mx = e;
    if (e < SF_ENDURANCE) left += SF_ENDURANCE - e;
  }
  uint16_t avg = count ? live / count : SF_REC_OVERHEAD + 4;
  out.pages = pages_;
  out.pageSize = SF_PAGE_SIZE;
  out.liveBytes = live;
  out.liveRecords = count;
  out.freeBytes = (SF_PAGE_SIZE - head_off_) + (uint16_t)(pages_ - used()) * (SF_PAGE_SIZE - SF_HDR);
  out.minErase = mn;
  out.maxErase = mx;
  out.remainingWrites = left * ((SF_PAGE_SIZE - SF_HDR) / avg);
  return SF_OK;
}

#endif  // SPAREFLASH_STORAGE_FORMAT != 2
