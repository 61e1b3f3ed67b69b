// FlashProbe: the backend/fuse proof for parts that FlashStorage does not fit yet (ATtiny45/25). It uses only
// the library's flash layer (the layer FlashStorage writes through: backend check, fence, page-buffer fill,
// read-back) on the first page of the plan's storage region, so what the test learns is exactly what
// StorageBasics would: whether the plan's fuses let SPM reach the region. Output through GPIOR1:
//   "begin: 0" "erase: 0" "program: 0" "read: 5AA5C33C" "fence: 3" "done"
// (fence: a write below the region is refused by the library's own fence, SF_ERR_FENCE, before any SPM).
#include <SpareFlash.h>
#include <avr/pgmspace.h>

static void out(const char *flash_text) {
  for (char c; (c = pgm_read_byte(flash_text)) != 0; flash_text++) GPIOR1 = c;
}

static void out_status(const char *label, uint8_t st) {
  out(label);
  if (st >= 10) GPIOR1 = '0' + st / 10;
  GPIOR1 = '0' + st % 10;
  GPIOR1 = '\n';
}

void setup() {
  static const uint8_t pattern[4] = {0x5A, 0xA5, 0xC3, 0x3C};
  const sf_addr_t page = sf_storage_start();
  out_status(PSTR("begin: "), sf_flash_begin());
  out_status(PSTR("erase: "), sf_flash_erase_page(page));
  out_status(PSTR("program: "), sf_flash_program(page + 8, pattern, sizeof pattern));
  out(PSTR("read: "));
  for (uint8_t i = 0; i < 4; i++) {
    uint8_t b = sf_flash_read_byte(page + 8 + i);
    GPIOR1 = "0123456789ABCDEF"[b >> 4];
    GPIOR1 = "0123456789ABCDEF"[b & 15];
  }
  GPIOR1 = '\n';
  out_status(PSTR("fence: "), sf_flash_program(page - SPM_PAGESIZE, pattern, sizeof pattern));
  out(PSTR("done\n"));
  spareflash_halt();
}

void loop() {}
