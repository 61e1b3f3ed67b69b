// Optiboot backend: SPM through Optiboot >= 8's exported do_spm(address, command, data).
//
// Optiboot 8 starts with two vectors: BOOTLOADER_START: rjmp <bootloader>, BOOTLOADER_START + 2: rjmp do_spm
// (word address (BOOTLOADER_START + 2) >> 1), and keeps its version word at the top of flash
// (FLASHEND - 1: minor, FLASHEND: major). do_spm does: r1:r0 = data, SPMCSR = command, spm, wait for SPMEN to
// clear, and if the command is an erase or a write *and data == 0*, re-enables the RWW section. We always pass
// data = 0 for erase/write, so RWW is readable again before it returns into the application.
// Older Optiboot (the 4.4 on a stock Uno) has no do_spm: its code simply continues at BOOTLOADER_START + 2,
// so sf_flash_begin() checks the version and never calls into such a bootloader.
#include <avr/io.h>
#include "spareflash_flash.h"

#if SPAREFLASH_BACKEND == SPAREFLASH_BACKEND_OPTIBOOT

extern "C" {
sf_status_t sf__backend_begin(void);
sf_status_t sf__backend_spm(sf_addr_t a, uint8_t spmcsr, uint16_t data);
}

#define SF_OPTIBOOT_MIN_MAJOR 8

sf_status_t sf__backend_begin(void) {
  const uint8_t minor = sf_flash_read_byte(FLASHEND - 1);
  const uint8_t major = sf_flash_read_byte(FLASHEND);
  if (major == 0xFF && minor == 0xFF) return SF_ERR_NO_BACKEND;  // erased top of flash: no bootloader at all
  // Custom builds add OPTIBOOT_CUSTOMVER to the major byte (bit 7 and up); the base version is what counts.
  const uint8_t base = major & 0x7F;
  if (base < SF_OPTIBOOT_MIN_MAJOR) return SF_ERR_BOOTLOADER_VERSION;
  // The do_spm vector must be an rjmp (1100 kkkk kkkk kkkk) or a jmp (1001 010k kkkk 110k) into the boot section.
  const sf_addr_t vec = sf_boot_start() + 2;
  const uint16_t op = sf_flash_read_byte(vec) | (uint16_t)(sf_flash_read_byte(vec + 1) << 8);
  if ((op & 0xF000) != 0xC000 && (op & 0xFE0E) != 0x940C) return SF_ERR_NO_BACKEND;
  return SF_OK;
}

sf_status_t sf__backend_spm(sf_addr_t a, uint8_t spmcsr, uint16_t data) {
#if FLASHEND > 0xFFFF
  RAMPZ = (uint8_t)(a >> 16);  // do_spm takes a 16-bit Z; the caller selects the 64 KB bank
#endif
  register uint16_t r_addr asm("r24") = (uint16_t)a;
  register uint8_t r_cmd asm("r22") = spmcsr;
  register uint16_t r_data asm("r20") = data;
  // do_spm is ordinary avr-gcc code: it may clobber every call-clobbered register.
  asm volatile("call __spareflash_boot_start + 2"
               : "+r"(r_addr), "+r"(r_cmd), "+r"(r_data)
               :
               : "r0", "r18", "r19", "r23", "r26", "r27", "r30", "r31", "memory");
  return SF_OK;
}

#endif
