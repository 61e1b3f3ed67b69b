// SpareFlash Overlay: code segments kept in an external SPI NOR chip (overlays.bin, docs/overlay-format.md) and
// run from internal-flash slots (the plan's __spareflash_slots_* region).
//
//   SPAREFLASH_OVERLAY(dsp) int filter(int x) { ... }   // in a source file of its own per segment
//   Overlay.begin();                                      // JEDEC id, image header, what is resident
//   filter(3);                                            // loads segment "dsp" if needed, then runs it
//
// The build (`spareflash overlay build`, spareflash.overlay.build) generates a resident stub for every entry
// function: a call costs 15-19 cycles more than a direct call while the segment is resident; otherwise the stub
// calls the loader, which checks the image (header, MCU, geometry, build id, CRC-32, optional SipHash MAC) before
// erasing anything, skips pages that already hold the right bytes, and writes the slot header page last.
// A load that fails inside a call (bad image, erase budget exhausted, no slot) calls the error hook; the call
// cannot return a value, so after the hook returns the CPU halts (cli; sleep). Use Overlay.load() to load
// explicitly and get a status instead.
#ifndef SPAREFLASH_OVERLAY_H
#define SPAREFLASH_OVERLAY_H

#include <avr/pgmspace.h>
#include <stdint.h>
#include "SpiNor.h"
#include "spareflash_flash.h"

// Put a function into overlay segment `seg` (section .ovl.<seg>). Use it on every function of the segment,
// helpers included (unmarked helpers stay resident, which works but costs resident flash).
// SPAREFLASH_OVERLAY_STR(seg, "text"): a string constant stored in segment `seg` itself (read it with LPM, e.g.
// pgm_read_byte / strcpy_P, and only while the segment runs): no RAM and no resident flash, unlike a literal.
#ifdef SPAREFLASH_NO_OVERLAYS  // the same code built as one ordinary program (reference builds)
#define SPAREFLASH_OVERLAY(seg) __attribute__((noinline))
#define SPAREFLASH_OVERLAY_STR(seg, s) PSTR(s)
#else
#define SPAREFLASH_OVERLAY(seg) __attribute__((section(".ovl." #seg), noinline, used))
#define SPAREFLASH_OVERLAY_STR(seg, s)                                                         \
  (__extension__({                                                                           \
    static const char sf__str[] __attribute__((section(".ovl." #seg ".str"), used)) = (s);  \
    &sf__str[0];                                                                             \
  }))
#endif

// Per-slot erase counters kept in EEPROM (useEepromCounters) are compiled in except on 8 KB parts, where every
// resident byte is a byte less for the application; build with -DSPAREFLASH_OVERLAY_EEPROM_COUNTERS=1 to have
// them there too (the counters in RAM and the erase budget exist on every part).
#ifndef SPAREFLASH_OVERLAY_EEPROM_COUNTERS
#if FLASHEND > 0x1FFF
#define SPAREFLASH_OVERLAY_EEPROM_COUNTERS 1
#else
#define SPAREFLASH_OVERLAY_EEPROM_COUNTERS 0
#endif
#endif

// Status codes: spareflash_status.h, overlay range 0x40-0x46.

// Format-2 builds (parts with <= 4 KB of flash, SPAREFLASH_STORAGE_FORMAT=2) have no overlay loader: calling into
// it is a compile-time error that says why, not an undefined reference at link time (Overlay.cpp is empty there).
#if SPAREFLASH_STORAGE_FORMAT == 2
#define SF_OVERLAY_UNAVAILABLE                                                                                \
  __attribute__((error("Overlay is not available on parts built with FlashStorage format 2 (<= 4 KB of flash, " \
                       "e.g. ATtiny25/45): only FlashStorage is built for them")))
#else
#define SF_OVERLAY_UNAVAILABLE
#endif

typedef void (*sf_overlay_hook_t)(sf_status_t status, uint8_t segment);

// The global `Overlay` costs nothing in a sketch that never uses it (arduino-builder links every library object,
// e.g. into a FlashStorage-only sketch): the constructor is constexpr and every member starts at zero, so the
// object is constant-initialised in .bss (no static-initialisation code keeps it alive) and --gc-sections / LTO
// drop it with the loader when nothing references them. Keep new members zero by default for the same reason.
class OverlayManager {
 public:
  constexpr OverlayManager() {}

  // Reads the JEDEC id (expectedJedec: 0 = any chip that answers) and checks the image at norAddr. Always
  // restores what is resident from the slot headers in internal flash (so resident segments run even if the
  // image is bad). macKey (16 bytes, RAM): require and check SipHash-2-4 MACs (build with
  // -DSPAREFLASH_OVERLAY_MAC=1). Returns the image check's status.
  sf_status_t begin(uint32_t norAddr = 0, uint32_t expectedJedec = 0, const uint8_t *macKey = 0)
      SF_OVERLAY_UNAVAILABLE;

  sf_status_t load(uint8_t segment) SF_OVERLAY_UNAVAILABLE;  // make resident, the policy picks the slot
  sf_status_t loadInto(uint8_t segment, uint8_t slot) SF_OVERLAY_UNAVAILABLE;
  int8_t slotOf(uint8_t segment) const;              // -1: not resident
  int16_t segmentIn(uint8_t slot) const;             // -1: nothing valid
  uint8_t segmentCount() const;
  uint8_t slotCount() const;                         // 0 until begin()

  // Page erases done in `slot` (persistent in EEPROM at eepromAddr + 4 * slot when enabled).
  uint32_t erases(uint8_t slot) const;
  void setEraseBudget(uint32_t perSlot) { budgetInv_ = ~perSlot; }
#if SPAREFLASH_OVERLAY_EEPROM_COUNTERS
  void useEepromCounters(uint16_t eepromAddr) { eepromAddr1_ = (uint16_t)(eepromAddr + 1); }
#endif
  void onError(sf_overlay_hook_t hook) { hook_ = hook; }

  sf_status_t lastError() const { return last_; }
  uint16_t loads() const { return loads_; }
  uint16_t pagesWritten() const { return written_; }
  uint16_t pagesErased() const { return erased_; }

  // internal: the stubs' miss path
  void fault(uint8_t segment) SF_OVERLAY_UNAVAILABLE;

  SpiNor nor;

 private:
  sf_status_t checkImage();
  sf_status_t loadIntoChecked(uint8_t segment, uint8_t slot);
  uint8_t pickSlot(uint8_t segment, uint8_t protectedMask);
  void scanSlots();

  // All zero by default (see above), so sentinels are stored shifted:
  uint32_t norAddr_ = 0;
  uint32_t budgetInv_ = 0;    // ~(erase budget per slot): 0 = unlimited
  uint16_t eepromAddr1_ = 0;  // EEPROM address of the counters + 1: 0 = not kept in EEPROM
  const uint8_t *key_ = 0;
  sf_overlay_hook_t hook_ = 0;
  // The image check's status. 0 before begin() is harmless: every load first needs slot < slotCount(), which
  // is 0 until begin() has run, so loads before begin() return SF_ERR_NO_SLOT.
  sf_status_t image_ = SF_OK;
  sf_status_t last_ = SF_OK;
  uint16_t loads_ = 0, written_ = 0, erased_ = 0;
  uint8_t recStride_ = 0;  // directory record size, set by checkImage() before image_ can be SF_OK
};

extern OverlayManager Overlay;

#endif  // SPAREFLASH_OVERLAY_H
