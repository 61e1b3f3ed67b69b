// The overlay loader's boot-section page helper (overlay_bootpage.S): when it is used, and its interface.
// Shared by the assembler file and Overlay.cpp, so both agree on the condition (preprocessor only).
#ifndef SPAREFLASH_OVERLAY_BOOTPAGE_H
#define SPAREFLASH_OVERLAY_BOOTPAGE_H

#include <avr/io.h>
#include "spareflash_flash.h"

// Bootstub backend on an RWW part with a hardware SPI and 16-bit flash addresses (ATmega328P/168P/88P/32U4):
// code in the NRWW boot section runs on while an RWW page is erased or written, so the helper streams the next
// page from the NOR chip during that time. The ATmega2560 (24-bit addresses) and the bootloader backends keep
// the per-word path through sf__backend_spm.
#if SPAREFLASH_BACKEND == SPAREFLASH_BACKEND_BOOTSTUB && FLASHEND <= 0xFFFF && defined(SPDR) && \
    !defined(USICR) && defined(RWWSB) && SPM_PAGESIZE <= 128
#define SPAREFLASH_OVERLAY_BOOTPAGE 1
#else
#define SPAREFLASH_OVERLAY_BOOTPAGE 0
#endif

// bits of the `ops` byte (r19)
#define SF_OVL_BP_ERASE 0  // erase the page (after the fill: the loaded page buffer survives an erase)
#define SF_OVL_BP_WRITE 1  // write the page (after the erase); without STREAM: fill the page buffer from buf first
#define SF_OVL_BP_STREAM 2  // fill the page buffer from the NOR stream (n bytes, copied to buf) instead
#define SF_OVL_BP_HEAD 3    // with STREAM: the first SF_OVL_BP_HEAD_BYTES bytes from buf, then the stream
#define SF_OVL_BP_HEAD_BYTES 16  // the slot header (docs/overlay-format.md section 3)

#endif  // SPAREFLASH_OVERLAY_BOOTPAGE_H
