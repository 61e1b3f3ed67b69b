/* Test firmware for the verification suite: a small application with the SpareFlash bootstub section.
 * Compile-time switches make the bad variants (tests/test_verify_mutations.py builds each one):
 *   BIG_CODE=N   a PROGMEM table of N bytes, to push .text past __spareflash_app_end
 *   BIG_RAM=N    a .bss array of N bytes, to overflow SRAM
 *   SPM_IN_APP   an SPM instruction in main(), outside the boot section
 *   NO_STUB      no .spareflash_bootstub section (bootloader backends, ATtiny)
 *   SF_SPM       (ATtiny, direct) the SPM lives in sf_flash_spm(), the library's routine
 *   HFUSE/LFUSE/EFUSE/LOCK   emit .fuse/.lock sections with these values
 */
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <avr/signature.h>
#include <stdint.h>

#if defined(LFUSE) && defined(HFUSE) && defined(EFUSE)
#include <avr/fuse.h>
FUSES = {.low = LFUSE, .high = HFUSE, .extended = EFUSE};
#endif
#ifdef LOCK
#include <avr/lock.h>
LOCKBITS = LOCK;
#endif

#ifndef NO_STUB
/* Stand-in for the library's bootstub: what matters to the verifier is its section and its SPM. */
__attribute__((section(".spareflash_bootstub"), used, naked)) void sf_bootstub(void) {
  __asm__ volatile("spm\n\tret");
}
#endif

#ifdef SF_SPM
__attribute__((noinline, used)) void sf_flash_spm(uint8_t cmd) {
  __asm__ volatile("out %0, %1\n\tspm" ::"I"(_SFR_IO_ADDR(SPMCSR)), "r"(cmd));
}
#endif

#ifdef BIG_CODE
/* Emitted in assembler: a C array is limited to 32 KB (16-bit size_t), the ATmega2560 tests need 200 KB. The
 * fill byte 0x11 never forms an SPM opcode. */
#define SF_STR2(x) #x
#define SF_STR(x) SF_STR2(x)
__asm__(".section .progmem.data.big_table,\"a\",@progbits\n"
        ".global big_table\n"
        "big_table:\n"
        ".fill " SF_STR(BIG_CODE) ", 1, 0x11\n"
        ".text\n");
extern const uint8_t big_table[] PROGMEM;
#endif
#ifdef BIG_RAM
volatile uint8_t big_ram[BIG_RAM];
#endif

volatile uint8_t counter;
uint8_t initialised = 7;

int main(void) {
  counter = initialised;
#ifdef BIG_CODE
  counter += pgm_read_byte(&big_table[counter]);
#endif
#ifdef BIG_RAM
  big_ram[counter] = 1;
#endif
#ifdef SPM_IN_APP
  __asm__ volatile("spm");
#endif
#ifdef SF_SPM
  sf_flash_spm(counter);
#endif
  for (;;) {
  }
}
