// Bootstub backend, C side: validates that the stub is really in the boot section's flash and calls it.
// The SPM routine itself is backend_bootstub.S (section .spareflash_bootstub, at __spareflash_boot_start).
#include <avr/io.h>
#include <avr/pgmspace.h>
#include "spareflash_flash.h"

#if SPAREFLASH_BACKEND == SPAREFLASH_BACKEND_BOOTSTUB

extern "C" {
uint8_t sf_bootstub_spm(uint32_t addr, uint8_t spmcsr, uint16_t data);
sf_status_t sf__backend_begin(void);
sf_status_t sf__backend_spm(sf_addr_t a, uint8_t spmcsr, uint16_t data);
}

sf_status_t sf__backend_begin(void) {
  // The image may have been uploaded through a bootloader, which never writes the boot section: then the
  // boot section holds the bootloader, and calling "the stub" would run bootloader code. Check that the
  // stub's first two instructions, built from this image's fence, are really there. A stub from another
  // build (another layout) differs too.
  // Their opcodes depend on the layout alone, so the assembler encodes the same two instructions here, in
  // program memory, as the reference (the linker fills in the same values): a 4-byte compare, no opcode
  // arithmetic in C. One asm statement (a local label) so LTO cannot separate the reference from its use.
  const uint8_t *ref;
  __asm__("ldi %A0, lo8(1f)\n\t"
          "ldi %B0, hi8(1f)\n\t"
          ".pushsection .progmem.sf_stub_ref, \"a\", @progbits\n"
          "1: cpi r22, lo8(__spareflash_app_end)\n\t"
          "ldi r26, hi8(__spareflash_app_end)\n\t"
          ".popsection"
          : "=d"(ref));
  const sf_addr_t at = sf_boot_start();
  for (uint8_t i = 0; i < 4; i++) {
    if (sf_flash_read_byte(at + i) != pgm_read_byte(ref + i)) return SF_ERR_NO_BACKEND;
  }
  return SF_OK;
}

sf_status_t sf__backend_spm(sf_addr_t a, uint8_t spmcsr, uint16_t data) { return sf_bootstub_spm(a, spmcsr, data); }

#endif
