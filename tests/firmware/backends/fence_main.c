/* Backend test firmware: exercises sf_flash_* (and, for the bootstub, the stub's own fence) and reports every
 * status as one byte on the debug console (GPIOR1); markers (GPIOR0) bracket the operations for cycle counts.
 * tests/test_backends.py holds the expected byte sequence and checks the flash afterwards.
 * Layout used: S = sf_storage_start(); the storage region is at least 2 pages; APP_PAGE holds application code. */
#include <avr/io.h>
#include <avr/interrupt.h>
#include <avr/sleep.h>
#include "spareflash_flash.h"

#define OUT(v) (GPIOR1 = (uint8_t)(v))
#define MARK(v) (GPIOR0 = (uint8_t)(v))
#define APP_PAGE ((sf_addr_t)SF_PAGE_SIZE * 2)

#define SPM_FILL (1 << SPMEN)
#define SPM_ERASE ((1 << PGERS) | (1 << SPMEN))
#define SPM_WRITE ((1 << PGWRT) | (1 << SPMEN))

static const uint8_t rec1[5] = {0x11, 0x22, 0x33, 0x44, 0x55};
static const uint8_t rec2[3] = {0xA0, 0xA1, 0xA2};

#if SPAREFLASH_BACKEND == SPAREFLASH_BACKEND_BOOTSTUB
uint8_t sf_bootstub_spm(uint32_t addr, uint8_t spmcsr, uint16_t data);
/* Call the stub directly, skipping every check of the C side: only the stub's own fence stands in the way. */
static uint8_t raw(uint32_t a, uint8_t cmd, uint16_t data) {
  uint8_t sreg = SREG;
  cli();
  uint8_t r = sf_bootstub_spm(a, cmd, data);
  SREG = sreg;
  return r;
}
#endif

int main(void) {
  const sf_addr_t s = sf_storage_start();
  const sf_addr_t p1 = s + SF_PAGE_SIZE; /* second storage page */
  sei(); /* the library must protect itself from interrupts (vectors unreadable while RWW is busy) */
  MARK(1);
  const sf_status_t begun = sf_flash_begin();
  OUT(begun);                                 /* [0] */
  MARK(2);
  OUT(sf_flash_erase_page(p1));               /* [1] */
  MARK(3);
  OUT(sf_flash_program(p1 + 3, rec1, 5));     /* [2] odd start and end: partial words at both ends */
  MARK(4);
  OUT(sf_flash_program(p1 + 8, rec2, 3));     /* [3] append into the same page, no erase */
  OUT(sf_flash_program(p1 + 8, rec1, 1));     /* [4] needs 0->1 bits: SF_ERR_VERIFY, flash holds A0 & 11 */
  OUT(sf_flash_erase_page(0));                /* [5] page 0: SF_ERR_FENCE */
  OUT(sf_flash_erase_page(APP_PAGE));         /* [6] application page: SF_ERR_FENCE */
  OUT(sf_flash_erase_page(sf_boot_start()));  /* [7] boot section: SF_ERR_FENCE */
  OUT(sf_flash_program(sf_app_end() - 1, rec1, 2)); /* [8] straddles app_end: SF_ERR_FENCE */
  OUT(sf_flash_erase_page(s + 1));            /* [9] SF_ERR_ALIGN */
  OUT(sf_flash_program(p1 - 2, rec1, 4));     /* [10] crosses a page: SF_ERR_ALIGN */
  OUT(sf_flash_program(p1, 0, 3));            /* [11] SF_ERR_ARG */
  OUT(sf_flash_program(p1, rec1, 0));         /* [12] n == 0: SF_OK, nothing written */
#if SPAREFLASH_BACKEND == SPAREFLASH_BACKEND_BOOTSTUB
  if (begun != SF_OK) goto done; /* no stub in flash: calling it would run whatever is there */
  OUT(raw(0, SPM_ERASE, 0));                          /* [13] page 0 */
  OUT(raw(0, SPM_WRITE, 0));                          /* [14] page 0, write */
  OUT(raw(APP_PAGE, SPM_ERASE, 0));                   /* [15] an application page */
  OUT(raw(sf_app_end() - SF_PAGE_SIZE, SPM_ERASE, 0)); /* [16] the last application page */
  OUT(raw(sf_app_end() - 1, SPM_WRITE, 0));           /* [17] one byte below the regions */
  OUT(raw(sf_boot_start(), SPM_ERASE, 0));            /* [18] the stub's own page */
  OUT(raw(FLASHEND - 1, SPM_WRITE, 0));               /* [19] the last boot page */
  OUT(raw(0x8000UL, SPM_ERASE, 0));                   /* [20] beyond the boot start (aliases page 0 on 32 KB parts) */
  OUT(raw(0xFFFFFFFFUL, SPM_ERASE, 0));               /* [21] all ones */
  MARK(5);
  OUT(raw(s, SPM_ERASE, 0));                          /* [22] first storage page: accepted */
  MARK(6);
done:
#endif
  MARK(9);
  cli();
  sleep_enable();
  sleep_cpu();
  return 0;
}
