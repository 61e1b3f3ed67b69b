// SpareFlash low-level flash access: the part every backend shares (fence, page-buffer filling, verify, reads).
//
// A backend file (backend_<name>.cpp) supplies, with C linkage:
//   sf_status_t sf__backend_begin(void);                       detect/validate the SPM path
//   sf_status_t sf__backend_spm(sf_addr_t a, uint8_t spmcsr, uint16_t data);   one SPM (fill/erase/write),
//       waiting for completion and leaving the RWW section readable   [bootstub, optiboot, direct]
//   or sf_status_t sf__backend_write_page(sf_addr_t page, const uint8_t *buf);  erase + write a whole page from
//       RAM   [urboot, whose bootloader only exports pgm_write_page]
// Only the backend chosen by SPAREFLASH_BACKEND is compiled; the others are empty translation units.
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/eeprom.h>
#include <avr/pgmspace.h>
#include <string.h>

#include "spareflash_flash.h"

#if SPAREFLASH_BACKEND < SPAREFLASH_BACKEND_BOOTSTUB || SPAREFLASH_BACKEND > SPAREFLASH_BACKEND_DIRECT
#error "SPAREFLASH_BACKEND must be one of SPAREFLASH_BACKEND_BOOTSTUB/_OPTIBOOT/_URBOOT/_DIRECT"
#endif

#define SF_SPM_FILL (1 << SPMEN)
#define SF_SPM_ERASE ((1 << PGERS) | (1 << SPMEN))
#define SF_SPM_WRITE ((1 << PGWRT) | (1 << SPMEN))

extern "C" {
sf_status_t sf__backend_begin(void);
#if SPAREFLASH_BACKEND == SPAREFLASH_BACKEND_URBOOT
sf_status_t sf__backend_write_page(sf_addr_t page, const uint8_t *buf);
#else
sf_status_t sf__backend_spm(sf_addr_t a, uint8_t spmcsr, uint16_t data);
#endif
}

// Set by a successful sf_flash_begin(): erase/program never reach an unvalidated SPM path (calling a
// do_spm that is not there would jump into random bootloader code).
static uint8_t s_ready;

uint8_t sf_flash_backend(void) { return SPAREFLASH_BACKEND; }

sf_status_t sf_flash_begin(void) {
  sf_status_t st = sf__backend_begin();
  s_ready = (st == SF_OK);
  return st;
}

uint8_t sf_flash_read_byte(sf_addr_t a) {
#if FLASHEND > 0xFFFF
  return pgm_read_byte_far(a);  // ELPM with RAMPZ = a >> 16
#else
  return pgm_read_byte((uint16_t)a);
#endif
}

void sf_flash_read(sf_addr_t a, void *dst, uint16_t n) {
  uint8_t *d = (uint8_t *)dst;
#if FLASHEND > 0xFFFF
  while (n--) *d++ = pgm_read_byte_far(a++);
#else
  memcpy_P(d, (const void *)(uint16_t)a, n);
#endif
}

// Internal flash addresses: 16 bit on parts with up to 64 KB (half the code of 32-bit compares and adds), the
// full sf_addr_t on the ATmega2560. The public functions keep sf_addr_t.
#if FLASHEND > 0xFFFF
typedef sf_addr_t sf_iaddr_t;
#else
typedef uint16_t sf_iaddr_t;
#endif

// Fence and readiness, in the width the chip uses: [app_end, boot_start) holds every reserved region
// (spareflash_layout.h's sf_in_reserved, computed without 32-bit arithmetic where 16 bits hold every address).
static sf_status_t check_write(sf_iaddr_t a, uint16_t n) {
  if (!s_ready) return SF_ERR_NO_BACKEND;
  const sf_iaddr_t lo = (sf_iaddr_t)sf_app_end(), hi = (sf_iaddr_t)sf_boot_start();
  if (a < lo || a > hi || n > (sf_iaddr_t)(hi - a)) return SF_ERR_FENCE;
  return SF_OK;
}

// Read back n bytes at a: each must equal src[i], or 0xFF when src is null (an erased page).
static sf_status_t verify(sf_iaddr_t a, const uint8_t *src, uint16_t n) {
  for (uint16_t i = 0; i < n; i++) {
    if (sf_flash_read_byte(a + i) != (src ? src[i] : 0xFF)) return SF_ERR_VERIFY;
  }
  return SF_OK;
}

sf_status_t sf_flash_erase_page(sf_addr_t page_addr) {
  const sf_iaddr_t page = (sf_iaddr_t)page_addr;
  sf_status_t st = check_write(page, SF_PAGE_SIZE);
  if (st) return st;
  if (page & (SF_PAGE_SIZE - 1)) return SF_ERR_ALIGN;
#if SPAREFLASH_BACKEND == SPAREFLASH_BACKEND_URBOOT
  // urboot only exports "write this RAM page" (it erases first): a page of 0xFF is an erase.
  uint8_t buf[SF_PAGE_SIZE];
  memset(buf, 0xFF, sizeof buf);
  st = sf__backend_write_page(page, buf);
#else
  uint8_t sreg = SREG;
  cli();  // the vector table is in the RWW section, unreadable until the erase completes
  eeprom_busy_wait();  // SPM cannot start while an EEPROM write is in progress
  st = sf__backend_spm(page, SF_SPM_ERASE, 0);
  SREG = sreg;
#endif
  if (st) return st;
  return verify(page, 0, SF_PAGE_SIZE);
}

sf_status_t sf_flash_program(sf_addr_t addr_in, const void *src, uint16_t n) {
  if (n == 0) return SF_OK;
  if (!src) return SF_ERR_ARG;
  const sf_iaddr_t addr = (sf_iaddr_t)addr_in;
  sf_status_t st = check_write(addr, n);
  if (st) return st;
  const sf_iaddr_t page = addr & ~(sf_iaddr_t)(SF_PAGE_SIZE - 1);
  const uint16_t off = (uint16_t)(addr - page);
  if (off + n > SF_PAGE_SIZE) return SF_ERR_ALIGN;  // (n <= boot_start - addr, so off + n cannot wrap)
  const uint8_t *s = (const uint8_t *)src;

#if SPAREFLASH_BACKEND == SPAREFLASH_BACKEND_URBOOT
  // Read-modify-write through a stack page buffer (urboot writes whole pages from RAM and erases first).
  // Result = old & new, the same as an in-place program, but the page is erased in between: a power cut
  // during this call can lose the whole page, not only the bytes being programmed (docs/backends.md).
  uint8_t buf[SF_PAGE_SIZE];
  sf_flash_read(page, buf, SF_PAGE_SIZE);
  for (uint16_t i = 0; i < n; i++) buf[off + i] &= s[i];
  st = sf__backend_write_page(page, buf);
#else
  // Load only the buffer words that hold bytes being programmed: the chip's temporary page buffer is erased
  // (all 0xFFFF) after reset and after every page write (datasheet "Filling the Temporary Buffer"; proven for
  // the simulator by tests/test_sim_fidelity.py), and an unloaded 0xFFFF word leaves its cells unchanged under
  // the page write's AND. A partial word at either end gets 0xFF in its other byte. For a 6-byte record that is
  // 3-4 loads instead of SF_PAGE_SIZE / 2. No RAM page buffer.
  // Byte i of the page is s[i - off] when i - off < n (unsigned: also false for i < off), else 0xFF.
  uint8_t sreg = SREG;
  cli();  // an ISR writing EEPROM would discard the loaded buffer; the write makes the vectors unreadable
  eeprom_busy_wait();
  const uint16_t end = off + n;
  for (uint16_t i = off & ~1u; i < end && !st; i += 2) {
    const uint16_t j = i - off, k = j + 1;  // 16-bit: i = off - 1 gives j = 0xFFFF (0xFF) and k = 0 (s[0])
    uint8_t lo = j < n ? s[j] : 0xFF;
    uint8_t hi = k < n ? s[k] : 0xFF;
    st = sf__backend_spm(page + i, SF_SPM_FILL, (uint16_t)(hi << 8) | lo);
  }
  if (!st) st = sf__backend_spm(page, SF_SPM_WRITE, 0);
  SREG = sreg;
#endif
  if (st) return st;
  // Verify against what was asked for: a target that was not erased where src has 1 bits reads back as
  // src & old and is reported (the flash then holds src & old).
  return verify(addr, s, n);
}
