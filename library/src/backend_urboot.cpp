// urboot backend: page writes through urboot's exported pgm_write_page(sram, progmem).
//
// urboot (v7.2+) keeps a table in the top six bytes of flash: FLASHEND-3 holds `rjmp pgm_write_page` (or a
// `ret` when the bootloader was built without it), FLASHEND-1 a capability byte, FLASHEND the version
// (5 msb major, 3 lsb minor). Before v7.7 the capability bit 0x80 says pgm_write_page exists; from v7.7 the
// rjmp-vs-ret opcode says it. pgm_write_page(void *sram, progmem_t pgm) erases the page at pgm and writes
// SPM_PAGESIZE bytes from sram into it (progmem_t is 32 bit on parts with more than 64 KB).
//
// So this backend needs a RAM copy of the page: sf_flash_program/erase use a stack buffer of SPM_PAGESIZE
// bytes (128 on the ATmega328P, 256 on the ATmega2560) for the duration of the call, and no static RAM.
// Programming is read-modify-write with an erase in between (see docs/backends.md for the power-cut cost).
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/eeprom.h>
#include "spareflash_flash.h"

#if SPAREFLASH_BACKEND == SPAREFLASH_BACKEND_URBOOT

extern "C" {
sf_status_t sf__backend_begin(void);
sf_status_t sf__backend_write_page(sf_addr_t page, const uint8_t *buf);
}

#define SF_URBOOT_PGM_WRITE_PAGE (FLASHEND + 1UL - 4)  // byte address of the rjmp to pgm_write_page
#define SF_URBOOT_MIN_VERSION 072                    // v7.2: first version with the capability byte
#define SF_URBOOT_V77 077
#define SF_URBOOT_CAP_PGMWRITEPAGE 0x80
#define SF_AVR_RET 0x9508

sf_status_t sf__backend_begin(void) {
  const uint8_t version = sf_flash_read_byte(FLASHEND);
  const uint8_t caps = sf_flash_read_byte(FLASHEND - 1);
  const uint16_t op = sf_flash_read_byte(SF_URBOOT_PGM_WRITE_PAGE) |
                      (uint16_t)(sf_flash_read_byte(SF_URBOOT_PGM_WRITE_PAGE + 1) << 8);
  if (version == 0xFF) return SF_ERR_NO_BACKEND;  // erased: no bootloader
  if (version < SF_URBOOT_MIN_VERSION) return SF_ERR_BOOTLOADER_VERSION;  // not urboot (e.g. Optiboot) or too old
  if (version < SF_URBOOT_V77 && !(caps & SF_URBOOT_CAP_PGMWRITEPAGE)) return SF_ERR_NO_BACKEND;
  if ((op & 0xF000) != 0xC000) return SF_ERR_NO_BACKEND;  // `ret` (or anything but an rjmp): no pgm_write_page
  (void)SF_AVR_RET;
  return SF_OK;
}

sf_status_t sf__backend_write_page(sf_addr_t page, const uint8_t *buf) {
  uint8_t sreg = SREG;
  cli();  // the RWW section (vectors included) is unreadable while urboot erases and writes
  eeprom_busy_wait();
  register uint16_t r_sram asm("r24") = (uint16_t)buf;
#if FLASHEND > 0xFFFF
  register uint32_t r_pgm asm("r20") = page;
#else
  register uint16_t r_pgm asm("r22") = (uint16_t)page;
#endif
  asm volatile("call %[target]"
               : "+r"(r_sram), "+r"(r_pgm)
               : [target] "i"(SF_URBOOT_PGM_WRITE_PAGE)
               : "r0", "r18", "r19",
#if FLASHEND <= 0xFFFF
                 "r20", "r21",
#endif
                 "r26", "r27", "r30", "r31", "memory");
  SREG = sreg;
  return SF_OK;
}

#endif
