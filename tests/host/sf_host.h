// Host build of the SpareFlash storage core (tests/host): the flash interface of spareflash_flash.h over an
// emulated AND-on-write flash, so the C++ storage code runs on the PC against the Python model.
#ifndef SF_HOST_H
#define SF_HOST_H

#include <stdint.h>

#include "spareflash_status.h"

typedef uint32_t sf_addr_t;

extern uint16_t sf_host_page_size;
#define SF_PAGE_SIZE sf_host_page_size

#ifdef __cplusplus
extern "C" {
#endif
sf_status_t sf_flash_begin(void);
uint8_t sf_flash_read_byte(sf_addr_t a);
sf_status_t sf_flash_erase_page(sf_addr_t page_addr);
sf_status_t sf_flash_program(sf_addr_t addr, const void *src, uint16_t n);
uint32_t sf_host_storage_start(void);
uint32_t sf_host_storage_end(void);
uint32_t sf_host_log_start(void);
uint32_t sf_host_log_end(void);
#ifdef __cplusplus
}
#endif

#endif
