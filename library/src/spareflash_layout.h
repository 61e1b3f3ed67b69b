// Region addresses of the SpareFlash flash plan, read from the linker symbols the plan defines.
//
// The plan (builder/spareflash/plan.py) passes `-Wl,--defsym=__spareflash_*=0x...` for every symbol below.
// The values are absolute *byte* addresses in flash (24 bit on the ATmega2560), `_end` is exclusive. They are
// read with avr-libc's far-address idiom (`ldi lo8/hi8/hh8(sym)`, as pgm_get_far_address does) and never by
// dereferencing `&sym`: a C pointer is 16 bit and would drop bit 16 on the ATmega2560, and the symbols are not
// objects anyway. Each accessor compiles to 3 `ldi` + 1 `clr`; no flash or RAM is read.
//
// A firmware linked without the plan's flags fails at link time with "undefined reference to
// __spareflash_..." - on purpose: guessing a layout could erase application code.
#ifndef SPAREFLASH_LAYOUT_H
#define SPAREFLASH_LAYOUT_H

#include <avr/io.h>

// FlashStorage's on-flash format, chosen by the plan (Layout.storage_format, with the region sizes): 1 is
// FlashStorage.cpp (docs/storage-format.md), 2 the small assembly engine flashstorage_v2.S for parts with at most
// 4 KB of flash (docs/storage-format-v2.md). A build without the plan's defines has no regions either.
#ifndef SPAREFLASH_STORAGE_FORMAT
#define SPAREFLASH_STORAGE_FORMAT 1
#endif

#ifndef __ASSEMBLER__
#include <stdint.h>

#ifndef SPAREFLASH_ADDR_T_DEFINED
#define SPAREFLASH_ADDR_T_DEFINED
typedef uint32_t sf_addr_t;  // byte address in program flash (24 bit used on the ATmega2560)
#endif

// Bytes per flash page of the compiled-for part (avr-libc's SPM_PAGESIZE, same value as chips.py's page_size).
#define SF_PAGE_SIZE ((uint16_t)SPM_PAGESIZE)

// Value of an absolute linker symbol as a 32-bit number. "d" = r16..r31, the registers `ldi` can load.
#define SF_LINKER_SYMBOL(sym)                                         \
  (__extension__({                                                    \
    uint32_t sf__v;                                                   \
    __asm__("ldi %A0, lo8(" #sym ")\n\t"                              \
            "ldi %B0, hi8(" #sym ")\n\t"                              \
            "ldi %C0, hh8(" #sym ")\n\t"                              \
            "clr %D0"                                                 \
            : "=d"(sf__v));                                           \
    sf__v;                                                            \
  }))

static inline sf_addr_t sf_app_end(void) { return SF_LINKER_SYMBOL(__spareflash_app_end); }
static inline sf_addr_t sf_storage_start(void) { return SF_LINKER_SYMBOL(__spareflash_storage_start); }
static inline sf_addr_t sf_storage_end(void) { return SF_LINKER_SYMBOL(__spareflash_storage_end); }
static inline sf_addr_t sf_log_start(void) { return SF_LINKER_SYMBOL(__spareflash_log_start); }
static inline sf_addr_t sf_log_end(void) { return SF_LINKER_SYMBOL(__spareflash_log_end); }
static inline sf_addr_t sf_slots_start(void) { return SF_LINKER_SYMBOL(__spareflash_slots_start); }
static inline sf_addr_t sf_slots_end(void) { return SF_LINKER_SYMBOL(__spareflash_slots_end); }
static inline sf_addr_t sf_boot_start(void) { return SF_LINKER_SYMBOL(__spareflash_boot_start); }
static inline uint32_t sf_slot_size(void) { return SF_LINKER_SYMBOL(__spareflash_slot_size); }

static inline uint32_t sf_storage_size(void) { return sf_storage_end() - sf_storage_start(); }
static inline uint32_t sf_log_size(void) { return sf_log_end() - sf_log_start(); }
static inline uint32_t sf_slots_size(void) { return sf_slots_end() - sf_slots_start(); }
static inline uint16_t sf_slot_count(void) {
  return sf_slot_size() ? (uint16_t)(sf_slots_size() / sf_slot_size()) : 0;
}
// Start of overlay slot i (no range check: callers compare i with sf_slot_count()).
static inline sf_addr_t sf_slot_start(uint16_t i) { return sf_slots_start() + (uint32_t)i * sf_slot_size(); }

// The fence every backend applies: the reserved regions are contiguous from app_end to boot_start.
static inline uint8_t sf_in_reserved(sf_addr_t a, uint32_t n) {
  return a >= sf_app_end() && a <= sf_boot_start() && n <= sf_boot_start() - a;
}

#endif  // !__ASSEMBLER__

#endif  // SPAREFLASH_LAYOUT_H
