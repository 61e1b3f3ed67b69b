// Low-level flash access for SpareFlash: reads, page erase and in-page programming through an SPM backend.
//
// Backends (chosen at compile time by SPAREFLASH_BACKEND, which the plan defines; see docs/backends.md):
//   BOOTSTUB (1)  the library's own address-fenced SPM routine in the boot section (section .spareflash_bootstub)
//   OPTIBOOT (2)  Optiboot >= 8's do_spm() at word address (BOOTLOADER_START + 2) >> 1
//   URBOOT   (3)  urboot's pgm_write_page(sram, progmem) at FLASHEND + 1 - 4
//   DIRECT   (4)  SPM from the application on parts without a boot section (ATtiny25/45/85, SELFPRGEN fuse)
// Without the define: DIRECT on parts without a boot section, BOOTSTUB otherwise.
//
// Every write path is fenced in C to [sf_app_end(), sf_boot_start()) (the reserved regions, see
// spareflash_layout.h); the bootstub fences again in the boot section, where the SPM happens.
// All functions have C linkage so C and C++ (and assembler) can call them.
#ifndef SPAREFLASH_FLASH_H
#define SPAREFLASH_FLASH_H

#include "spareflash_status.h"
#include "spareflash_layout.h"

#define SPAREFLASH_BACKEND_BOOTSTUB 1
#define SPAREFLASH_BACKEND_OPTIBOOT 2
#define SPAREFLASH_BACKEND_URBOOT 3
#define SPAREFLASH_BACKEND_DIRECT 4

#ifndef SPAREFLASH_BACKEND
#if defined(BLBSET)  // boot lock bits exist <=> the part has a hardware boot section
#define SPAREFLASH_BACKEND SPAREFLASH_BACKEND_BOOTSTUB
#else
#define SPAREFLASH_BACKEND SPAREFLASH_BACKEND_DIRECT
#endif
#endif

#ifndef __ASSEMBLER__
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Detect and validate the backend; must return SF_OK before erase/program do anything (they return
// SF_ERR_NO_BACKEND otherwise). Reads never need it. Safe to call again.
//   BOOTSTUB: the stub's first instructions (built from this image's fence) must be in flash at
//             sf_boot_start(), else SF_ERR_NO_BACKEND (e.g. the image was uploaded through a bootloader).
//   OPTIBOOT: the version word at the top of flash must say Optiboot >= 8 (else SF_ERR_BOOTLOADER_VERSION,
//             e.g. the Optiboot 4.4 of a stock Uno; SF_ERR_NO_BACKEND when erased) - do_spm is never called
//             blindly. Needs lock bits that let the application read the boot section (docs/backends.md).
//   URBOOT:   the urboot table at the top of flash must advertise pgm_write_page (else SF_ERR_NO_BACKEND /
//             SF_ERR_BOOTLOADER_VERSION).
//   DIRECT:   SF_OK (SELFPRGEN cannot be read back on the ATtiny; an unprogrammed fuse shows up as
//             SF_ERR_VERIFY on the first program).
// Fuses (BOOTSZ) are not checked: an SPM routine below the boot section is ignored by the chip, which the
// verify after every erase/program reports as SF_ERR_VERIFY.
sf_status_t sf_flash_begin(void);

// The backend compiled in (SPAREFLASH_BACKEND_*).
uint8_t sf_flash_backend(void);

// Reads work anywhere in flash (ELPM + RAMPZ above 64 KB on the ATmega2560).
uint8_t sf_flash_read_byte(sf_addr_t a);
void sf_flash_read(sf_addr_t a, void *dst, uint16_t n);

// Erase the page starting at page_addr (must be page aligned and inside the reserved regions).
// Verifies the page reads 0xFF afterwards (SF_ERR_VERIFY otherwise).
sf_status_t sf_flash_erase_page(sf_addr_t page_addr);

// Program n bytes at addr, all inside one page, WITHOUT erasing: only the page-buffer words holding those bytes
// are loaded (a partial word at either end gets 0xFF in its other byte); the others are 0xFFFF because the chip
// erases the buffer at reset and after every page write, so the page write's AND-with-old-content leaves every
// other byte of the page unchanged. No RAM page buffer on bootstub, optiboot
// and direct (urboot needs one: see docs/backends.md). Bits can only go 1 -> 0: programming over bytes that
// would need a 0 -> 1 bit leaves src & old in flash and returns SF_ERR_VERIFY (the read-back must equal src).
// n == 0 is SF_OK.
sf_status_t sf_flash_program(sf_addr_t addr, const void *src, uint16_t n);

#ifdef __cplusplus
}
#endif
#endif  // !__ASSEMBLER__

#endif  // SPAREFLASH_FLASH_H
