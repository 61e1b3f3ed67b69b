// Bootstub backend, C side: validates that the stub is really in the boot section's flash and calls it.
// The SPM routine itself is backend_bootstub.S (section .spareflash_bootstub, at __spareflash_boot_start).
#include <avr/io.h>
#include "spareflash_flash.h"

#if SPAREFLASH_BACKEND == SPAREFLASH_BACKEND_BOOTSTUB

extern "C" {
uint8_t sf_bootstub_spm(uint32_t addr, uint8_t spmcsr, uint16_t data);
sf_status_t sf__backend_begin(void);
sf_status_t sf__backend_spm(sf_addr_t a, uint8_t spmcsr, uint16_t data);
}

// Encoding of "cpi/ldi Rd, K" (d in r16..r31): the stub's first two instructions load the fence from the
// linker symbols, so their opcodes are known from the layout alone.
static uint16_t imm_opcode(uint16_t base, uint8_t reg, uint8_t k) {
  return base | ((uint16_t)(k & 0xF0) << 4) | (uint16_t)((reg - 16) << 4) | (k & 0x0F);
}

sf_status_t sf__backend_begin(void) {
  // The image may have been uploaded through a bootloader, which never writes the boot section: then the
  // boot section holds the bootloader, and calling "the stub" would run bootloader code. Check that the
  // stub's first two instructions, built from this image's fence, are really there. A stub from another
  // build (another layout) differs too.
  const sf_addr_t at = sf_boot_start();
  const uint32_t app_end = sf_app_end();
  uint16_t w0 = sf_flash_read_byte(at) | (uint16_t)(sf_flash_read_byte(at + 1) << 8);
  uint16_t w1 = sf_flash_read_byte(at + 2) | (uint16_t)(sf_flash_read_byte(at + 3) << 8);
  if (w0 != imm_opcode(0x3000, 22, (uint8_t)app_end) || w1 != imm_opcode(0xE000, 26, (uint8_t)(app_end >> 8))) {
    return SF_ERR_NO_BACKEND;
  }
  return SF_OK;
}

sf_status_t sf__backend_spm(sf_addr_t a, uint8_t spmcsr, uint16_t data) { return sf_bootstub_spm(a, spmcsr, data); }

#endif
