// FlashLog: an append-only record log in the plan's log region (__spareflash_log_start/_end) for data
// acquisition. Records of 1..SPAREFLASH_LOG_MAX_RECORD bytes (64, clipped to page size - 11) are appended with
// one page write each and read back oldest to newest. Format: docs/storage-format.md, "FlashLog".
//
//   FlashLog log;
//   log.begin(FlashLog::OVERWRITE);   // or FlashLog::STOP: append() returns SF_ERR_FULL when the log is full
//   log.append(sample);
//   log.rewind(); while ((n = log.next(&sample, sizeof sample)) >= 0) { ... }
#ifndef SPAREFLASH_FLASHLOG_H
#define SPAREFLASH_FLASHLOG_H

#include "spareflash_pages.h"


class FlashLog : public SfPages {
 public:
#if SPAREFLASH_STORAGE_FORMAT == 2
  // Declared, never defined: a FlashLog object is a compile-time error (not a link error) on format-2 builds.
  FlashLog() __attribute__((error("FlashLog is not available on parts built with FlashStorage format 2 (<= 4 KB "
                                  "of flash, e.g. ATtiny25/45): its page layer does not fit there")));
#endif
  enum Policy : uint8_t { STOP = 0, OVERWRITE = 1 };

  // Mount (read only). SF_ERR_NO_REGION when the plan reserved no log bytes.
  sf_status_t begin(uint8_t policy = STOP);
  sf_status_t append(const void *data, uint8_t n);
  template <typename T>
  sf_status_t append(const T &record) { return append(&record, sizeof(T)); }

  // Iteration, oldest record first. next() copies up to max bytes and returns the record's length, or -1 at
  // the end. Records failing their CRC (torn by a power cut, corrupted) are skipped.
  void rewind();
  int16_t next(void *dst, uint8_t max);
  uint16_t count();
  // Erase the whole log.
  sf_status_t clear();

 private:
  uint8_t policy_;
  uint8_t cur_page_;
  uint8_t cur_left_;  // chain pages left to read, the current one included
  uint16_t cur_off_;

  uint8_t max_record() const;
  uint8_t rec_size(sf_faddr_t page, uint16_t off) const;
  uint16_t scan_end(uint8_t p) const;
  uint8_t chain_len() const;
  void mount();
};

#endif  // SPAREFLASH_FLASHLOG_H
