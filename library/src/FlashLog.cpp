// FlashLog: see FlashLog.h and docs/storage-format.md; twin of builder/spareflash/storage/log.py.
#include "FlashLog.h"

// Format-2 builds (parts with <= 4 KB of flash) have no FlashLog (FlashLog.h): nothing to compile.
#if SPAREFLASH_STORAGE_FORMAT != 2

#define SF_LOG_MAGIC 0x5A
#define SF_LOG_OVERHEAD 3  // len, crc8, berger

uint8_t FlashLog::max_record() const {
  uint16_t m = SF_PAGE_SIZE - SF_HDR - SF_LOG_OVERHEAD;
  return m < SPAREFLASH_LOG_MAX_RECORD ? (uint8_t)m : SPAREFLASH_LOG_MAX_RECORD;
}

void FlashLog::mount() {
  int16_t h = find_head();
  if (h < 0) {
    head_ = pages_ - 1;
    head_seq_ = 0xFFFF;
    head_off_ = SF_PAGE_SIZE;
  } else {
    head_ = (uint8_t)h;
    head_seq_ = seq(head_);
#ifdef SPAREFLASH_SINGLE_WRITE
    head_off_ = SF_PAGE_SIZE;
#else
    head_off_ = scan_end(head_);
#endif
  }
  rewind();
}

sf_status_t FlashLog::begin(uint8_t policy) {
  policy_ = policy;
#ifdef SPAREFLASH_HOST
  bool ok = attach(sf_host_log_start(), sf_host_log_end(), SF_LOG_MAGIC);
#else
  bool ok = attach((sf_faddr_t)sf_log_start(), (sf_faddr_t)sf_log_end(), SF_LOG_MAGIC);
#endif
  if (!ok) return SF_ERR_NO_REGION;
  mount();
  return sf_flash_begin();
}

uint8_t FlashLog::rec_size(sf_faddr_t page, uint16_t off) const {
  if (off + SF_LOG_OVERHEAD > SF_PAGE_SIZE) return 0;
  uint8_t n = sf_rd(page + off);
  if (n == 0 || n > max_record() || off + SF_LOG_OVERHEAD + n > SF_PAGE_SIZE) return 0;
  return SF_LOG_OVERHEAD + n;
}

uint16_t FlashLog::scan_end(uint8_t p) const {
  sf_faddr_t pa = page_addr(p);
  uint16_t o = SF_HDR;
  uint8_t s;
  while ((s = rec_size(pa, o)) != 0) o += s;
  return (o < SF_PAGE_SIZE && blank(p, o)) ? o : SF_PAGE_SIZE;
}

// The log is the run of pages ending at the head whose sequence numbers count down by one going backwards
// around the ring; a blank or torn page ends it.
uint8_t FlashLog::chain_len() const {
  uint8_t n = 0;
  uint8_t p = head_;
  uint16_t s = head_seq_;
  while (n < pages_ && chain_ok(p, s)) {
    n++;
    s--;
    p = p ? p - 1 : pages_ - 1;
  }
  return n;
}

sf_status_t FlashLog::append(const void *data, uint8_t n) {
  if (!pages_) return SF_ERR_NOT_BEGUN;
  if (n == 0 || n > max_record()) return SF_ERR_TOO_LARGE;
  // The record is built behind room for a page header: a new page is programmed from the same buffer.
  uint8_t buf[SF_HDR + SF_LOG_OVERHEAD + SPAREFLASH_LOG_MAX_RECORD];
  uint8_t *rec = buf + SF_HDR;
  rec[0] = n;
  const uint8_t *d = (const uint8_t *)data;
  for (uint8_t i = 0; i < n; i++) rec[1 + i] = d[i];
  uint16_t chk = sf_rec_ram(rec, 1 + n);  // CRC-8, Berger byte: a torn write of this record never passes
  rec[1 + n] = (uint8_t)chk;
  rec[2 + n] = (uint8_t)(chk >> 8);
  n += SF_LOG_OVERHEAD;
  if (head_off_ + n <= SF_PAGE_SIZE) return write_rec(rec, n);
  // The next page in the ring holds the oldest records once the log has gone all the way round.
  if (policy_ == STOP && chain_len() == pages_) return SF_ERR_FULL;
  uint8_t ops = 0;
  return start_page(0xFFFF, buf, n, &ops);
}

void FlashLog::rewind() {
  cur_left_ = chain_len();
  uint8_t back = cur_left_ ? cur_left_ - 1 : 0;
  cur_page_ = head_ >= back ? head_ - back : head_ + pages_ - back;
  cur_off_ = SF_HDR;
}

int16_t FlashLog::next(void *dst, uint8_t max) {
  while (cur_left_) {
    sf_faddr_t pa = page_addr(cur_page_);
    uint8_t s = rec_size(pa, cur_off_);
    if (!s) {
      cur_left_--;
      cur_page_ = cur_page_ + 1 == pages_ ? 0 : cur_page_ + 1;
      cur_off_ = SF_HDR;
      continue;
    }
    sf_faddr_t a = pa + cur_off_;
    cur_off_ += s;
    uint8_t n = s - SF_LOG_OVERHEAD;
    if (sf_rec_flash(a, 1 + n) != sf_rd16(a + 1 + n)) continue;
    uint8_t *d = (uint8_t *)dst;
    for (uint8_t i = 0; i < n && i < max; i++) d[i] = sf_rd(a + 1 + i);
    return n;
  }
  return -1;
}

uint16_t FlashLog::count() {
  uint16_t c = 0;
  rewind();
  while (next(0, 0) >= 0) c++;
  rewind();
  return c;
}

sf_status_t FlashLog::clear() {
  if (!pages_) return SF_ERR_NOT_BEGUN;
  sf_status_t st = erase_all();
  mount();
  return st;
}

#endif  // SPAREFLASH_STORAGE_FORMAT != 2
