// SpareFlash status codes, shared by every part of the library (backends, storage, log, overlays).
//
// Owned by the "backends" part; other parts request new codes (docs/backends.md). Codes are one byte so a
// status fits in r24 and costs nothing to return; 0 is success so `if (st)` reads as "if it failed".
// Plain #defines (not an enum) so the assembler backends can return them too.
// Ranges: 0x01-0x1F flash access / backends, 0x20-0x3F storage and log, 0x40-0x5F overlays.
#ifndef SPAREFLASH_STATUS_H
#define SPAREFLASH_STATUS_H

#ifndef __ASSEMBLER__
#include <stdint.h>
typedef uint8_t sf_status_t;
#endif

#define SF_OK 0x00

// --- flash access / SPM backends ---------------------------------------------------------------------------
// No usable SPM path: the bootloader lacks do_spm/pgm_write_page, the bootstub is not in the boot section's
// flash (e.g. a bootloader sits there), or sf_flash_begin() was not called / failed.
#define SF_ERR_NO_BACKEND 0x01
// Address (range) outside the reserved regions [__spareflash_app_end, __spareflash_boot_start).
#define SF_ERR_FENCE 0x02
// Read-back after erase/program does not match (e.g. SPM refused or silently ignored, target not erased).
#define SF_ERR_VERIFY 0x03
// Erase address not page aligned, or a program range crosses a page boundary.
#define SF_ERR_ALIGN 0x04
// The boot section the fuses select does not contain the SPM routine (BOOTSZ too small).
#define SF_ERR_BOOT_FUSES 0x05
// Lock bits forbid SPM writes to the application section (BLB0 mode 2/3).
#define SF_ERR_LOCK_BITS 0x06
// A bootloader is present but too old / unknown (e.g. Optiboot 4 on a stock Uno has no do_spm).
#define SF_ERR_BOOTLOADER_VERSION 0x07
// Bad argument (NULL pointer with n > 0, ...).
#define SF_ERR_ARG 0x08

// --- storage / log (for "storage"; ask the backends owner for more) ------------------------------------------
#define SF_ERR_FULL 0x20        // no room left even after garbage collection
#define SF_ERR_NOT_FOUND 0x21   // key / record not present
#define SF_ERR_CORRUPT 0x22     // on-flash data fails its checks
#define SF_ERR_TOO_LARGE 0x23   // value larger than a record / the region can hold
#define SF_ERR_NOT_BEGUN 0x24   // begin() was not called or failed
#define SF_ERR_NO_REGION 0x25   // the plan reserved no bytes for this region

// --- overlays (for "overlay"; ask the backends owner for more) -----------------------------------------------
#define SF_ERR_NOR 0x40         // the SPI NOR chip does not answer / has a wrong JEDEC id
#define SF_ERR_OVERLAY_CRC 0x41 // overlay image fails its checksum
#define SF_ERR_NO_SLOT 0x42     // no overlay slot available / overlay too large for a slot
#define SF_ERR_NO_OVERLAY 0x43  // overlay id not in the image
#define SF_ERR_OVERLAY_IMAGE 0x44  // overlays.bin header/MCU/geometry/build id do not match this firmware
#define SF_ERR_WEAR_BUDGET 0x45    // the load would exceed the slot's erase budget (nothing was erased)
#define SF_ERR_OVERLAY_MAC 0x46    // a segment fails its SipHash-2-4 MAC (or the image has none)

#endif  // SPAREFLASH_STATUS_H
