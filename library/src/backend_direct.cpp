// Direct backend: SPM from the application on parts without a boot section (ATtiny25/45/85).
//
// With the SELFPRGEN fuse programmed (efuse bit 0 = 0) SPM works from any address. The CPU halts during a page
// erase or write (there is no RWW section), so there is nothing to re-enable afterwards; the fill of the page
// buffer is immediate. SELFPRGEN cannot be read back from software on these parts, so an unprogrammed fuse
// (SPM silently ignored) shows up as SF_ERR_VERIFY from the first erase/program.
#include <avr/io.h>
#include "spareflash_flash.h"

#if SPAREFLASH_BACKEND == SPAREFLASH_BACKEND_DIRECT

#if defined(BLBSET)
#error "the direct backend is for parts without a boot section; use SPAREFLASH_BACKEND_BOOTSTUB here"
#endif

extern "C" {
sf_status_t sf__backend_begin(void);
sf_status_t sf__backend_spm(sf_addr_t a, uint8_t spmcsr, uint16_t data);
}

sf_status_t sf__backend_begin(void) { return SF_OK; }

// noinline: with LTO (PlatformIO's default) the SPM would otherwise be inlined into FlashStorage's code, and the
// verifier accepts SPM on a direct-backend part only inside the library's sf_* flash routines (spm-in-app).
__attribute__((noinline)) sf_status_t sf__backend_spm(sf_addr_t a, uint8_t spmcsr, uint16_t data) {
  // SPMCSR must be written no more than 4 cycles before the spm: keep them adjacent in one asm block.
  asm volatile(
      "movw r0, %[data]\n\t"
      "out %[spmcsr], %[cmd]\n\t"
      "spm\n\t"
      "clr r1\n\t"
      "1: in r0, %[spmcsr]\n\t"
      "sbrc r0, %[spmen]\n\t"
      "rjmp 1b\n\t"
      :
      : [data] "r"(data), [cmd] "r"(spmcsr), "z"((uint16_t)a), [spmcsr] "I"(_SFR_IO_ADDR(SPMCSR)),
        [spmen] "I"(SPMEN)
      : "r0", "memory");
  return SF_OK;
}

#endif
