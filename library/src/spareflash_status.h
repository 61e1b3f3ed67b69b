// SpareFlash status codes, shared by every part of the library (backends, storage, log, overlays).
//
// Owned by the "backends" part; other parts request new codes (docs/backends.md). Codes are one byte so a
// status fits in r24 and costs nothing to return; 0 is success so `if (st)` reads as "if it failed".
// Ranges: 0x01-0x1F flash access / backends, 0x20-0x3F storage and log, 0x40-0x5F overlays.
#ifndef SPAREFLASH_STATUS_H
#define SPAREFLASH_STATUS_H

#include <stdint.h>

typedef uint8_t sf_status_t;

enum sf_status_code {
  SF_OK = 0,

  // --- flash access / SPM backends -------------------------------------------------------------------------
  SF_ERR_NO_BACKEND = 0x01,   // no usable SPM path: bootloader lacks do_spm/pgm_write_page, SELFPRGEN off,
                              // or sf_flash_begin() was not called (or failed)
  SF_ERR_FENCE = 0x02,        // address (range) outside the reserved regions [__spareflash_app_end, boot_start)
  SF_ERR_VERIFY = 0x03,       // read-back after erase/program does not match
  SF_ERR_ALIGN = 0x04,        // erase address not page aligned, or a program range crosses a page boundary
  SF_ERR_BOOT_FUSES = 0x05,   // bootstub: the boot section the fuses select does not contain the stub (BOOTSZ
                              // too small), so the chip would refuse its SPM
  SF_ERR_LOCK_BITS = 0x06,    // lock bits forbid SPM writes to the application section (BLB0 mode 2/3)
  SF_ERR_BOOTLOADER_VERSION = 0x07,  // a bootloader is present but too old / unknown (e.g. Optiboot 4 on a
                                     // stock Uno: no do_spm); sf_flash_begin() says so instead of crashing
  SF_ERR_ARG = 0x08,          // bad argument (NULL pointer with n > 0, ...)

  // --- storage / log (requested by "storage"; codes may be added here) -------------------------------------
  SF_ERR_FULL = 0x20,         // no room left even after garbage collection
  SF_ERR_NOT_FOUND = 0x21,    // key / record not present
  SF_ERR_CORRUPT = 0x22,      // on-flash data fails its checks
  SF_ERR_TOO_LARGE = 0x23,    // value larger than a record / the region can hold
  SF_ERR_NOT_BEGUN = 0x24,    // begin() was not called or failed
  SF_ERR_NO_REGION = 0x25,    // the plan reserved no bytes for this region

  // --- overlays (requested by "overlay") --------------------------------------------------------------------
  SF_ERR_NOR = 0x40,          // the SPI NOR chip does not answer / has a wrong JEDEC id
  SF_ERR_OVERLAY_CRC = 0x41,  // overlay image fails its checksum
  SF_ERR_NO_SLOT = 0x42,      // no overlay slot available / overlay too large for a slot
  SF_ERR_NO_OVERLAY = 0x43    // overlay id not in the image
};

#endif  // SPAREFLASH_STATUS_H
