// Host driver: runs FlashStorage / FlashLog / FlashEEPROM commands read from stdin against an emulated flash
// and prints one result line per command, so tests/test_storage_diff.py can compare them with the Python model.
//
// Usage: sf_host PAGE_SIZE STORAGE_PAGES LOG_PAGES
// Flash: [0, BASE) application, storage at BASE, log right after it. Writes outside the two regions, programs
// crossing a page, or (with -DSPAREFLASH_SINGLE_WRITE) a second program of a page between erases abort with
// exit code 3.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "FlashEEPROM.h"
#include "FlashLog.h"
#include "FlashStorage.h"

uint16_t sf_host_page_size = 128;
static const uint32_t BASE = 0x1000;
static uint32_t g_spages, g_lpages, g_end;
static uint8_t *g_flash;
static uint16_t *g_programs;  // programs since the last erase, per page
static unsigned long g_prog_ops, g_erase_ops;

static void die(const char *msg, uint32_t a) {
  fprintf(stderr, "sf_host: %s at 0x%lx\n", msg, (unsigned long)a);
  exit(3);
}

extern "C" {
sf_status_t sf_flash_begin(void) { return SF_OK; }
uint8_t sf_flash_read_byte(sf_addr_t a) { return a < g_end ? g_flash[a] : 0xFF; }
uint32_t sf_host_storage_start(void) { return BASE; }
uint32_t sf_host_storage_end(void) { return BASE + g_spages * sf_host_page_size; }
uint32_t sf_host_log_start(void) { return sf_host_storage_end(); }
uint32_t sf_host_log_end(void) { return g_end; }

sf_status_t sf_flash_erase_page(sf_addr_t a) {
  if (a < BASE || a >= g_end || a % sf_host_page_size) die("erase outside the regions", a);
  memset(g_flash + a, 0xFF, sf_host_page_size);
  g_programs[a / sf_host_page_size] = 0;
  g_erase_ops++;
  return SF_OK;
}

sf_status_t sf_flash_program(sf_addr_t a, const void *src, uint16_t n) {
  if (a < BASE || a + n > g_end || n == 0) die("program outside the regions", a);
  if (a / sf_host_page_size != (a + n - 1) / sf_host_page_size) die("program crosses a page", a);
  uint32_t page = a / sf_host_page_size;
#ifdef SPAREFLASH_SINGLE_WRITE
  if (g_programs[page]) die("second program of a page between erases", a);
#endif
  g_programs[page]++;
  const uint8_t *s = (const uint8_t *)src;
  for (uint16_t i = 0; i < n; i++) g_flash[a + i] &= s[i];  // AND-on-write: bits only go 1 -> 0
  g_prog_ops++;
  return SF_OK;
}
}

static int hexval(char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }
static size_t unhex(const char *h, uint8_t *out, size_t max) {
  size_t n = 0;
  while (h[0] && h[1] && n < max && h[0] != '\n') {
    out[n++] = (uint8_t)(hexval(h[0]) << 4 | hexval(h[1]));
    h += 2;
  }
  return n;
}
static void puthex(const uint8_t *d, size_t n) {
  for (size_t i = 0; i < n; i++) printf("%02x", d[i]);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: sf_host PAGE_SIZE STORAGE_PAGES LOG_PAGES\n");
    return 2;
  }
  sf_host_page_size = (uint16_t)atoi(argv[1]);
  g_spages = (uint32_t)atoi(argv[2]);
  g_lpages = (uint32_t)atoi(argv[3]);
  g_end = BASE + (g_spages + g_lpages) * sf_host_page_size;
  g_flash = (uint8_t *)malloc(g_end);
  g_programs = (uint16_t *)calloc(g_end / sf_host_page_size, sizeof(uint16_t));
  memset(g_flash, 0xFF, g_end);
  memset(g_flash, 0x00, BASE);  // "application code": never written, reads as programmed

  static char line[4096];
  static uint8_t buf[2048];
  FlashStorage *store = new FlashStorage();
  FlashLog *log = new FlashLog();
  while (fgets(line, sizeof line, stdin)) {
    char cmd[8] = {0};
    int k = 0, n = 0;
    sscanf(line, "%7s", cmd);
    const char *arg = line + strlen(cmd);
    while (*arg == ' ') arg++;
    if (!strcmp(cmd, "B")) {  // begin (a fresh object: RAM state lost, like a reset)
      delete store;
      store = new FlashStorage();
      printf("%d\n", store->begin());
    } else if (!strcmp(cmd, "P")) {
      sscanf(arg, "%d", &k);
      const char *h = strchr(arg, ' ');
      size_t len = h ? unhex(h + 1, buf, sizeof buf) : 0;
      printf("%d\n", store->putBytes((uint8_t)k, buf, (uint8_t)len));
    } else if (!strcmp(cmd, "G")) {
      sscanf(arg, "%d %d", &k, &n);
      memset(buf, 0, sizeof buf);
      sf_status_t st = store->getBytes((uint8_t)k, buf, (uint8_t)n);
      printf("%d ", st);
      if (st == SF_OK) puthex(buf, n);
      printf("\n");
    } else if (!strcmp(cmd, "Z")) {  // size of key
      sscanf(arg, "%d", &k);
      printf("%d\n", store->sizeOf((uint8_t)k));
    } else if (!strcmp(cmd, "R")) {
      sscanf(arg, "%d", &k);
      printf("%d\n", store->remove((uint8_t)k));
    } else if (!strcmp(cmd, "C")) {
      sscanf(arg, "%d", &k);
      printf("%d\n", store->contains((uint8_t)k) ? 1 : 0);
    } else if (!strcmp(cmd, "F")) {
      printf("%d\n", store->format());
    } else if (!strcmp(cmd, "S")) {
      FlashStorageStats s;
      sf_status_t st = store->stats(s);
      printf("%d %u %u %u %u %u %u %u %lu", st, s.pages, s.pageSize, s.liveBytes, s.liveRecords, s.freeBytes,
             s.minErase, s.maxErase, (unsigned long)s.remainingWrites);
      for (uint8_t p = 0; p < s.pages; p++) printf(" %u", store->eraseCount(p));
      printf("\n");
    } else if (!strcmp(cmd, "LB")) {
      sscanf(arg, "%d", &k);
      delete log;
      log = new FlashLog();
      printf("%d\n", log->begin((uint8_t)k));
    } else if (!strcmp(cmd, "LA")) {
      size_t len = unhex(arg, buf, sizeof buf);
      printf("%d\n", log->append(buf, (uint8_t)len));
    } else if (!strcmp(cmd, "LL")) {
      log->rewind();
      int16_t r;
      uint8_t rec[256];
      printf("%u", log->count());
      while ((r = log->next(rec, 255)) >= 0) {
        printf(" ");
        puthex(rec, (size_t)r);
      }
      printf("\n");
    } else if (!strcmp(cmd, "LC")) {
      printf("%d\n", log->clear());
    } else if (!strcmp(cmd, "ER")) {  // EEPROM read: ER addr n
      sscanf(arg, "%d %d", &k, &n);
      EEPROM.readBytes(k, buf, (uint16_t)n);
      puthex(buf, n);
      printf("\n");
    } else if (!strcmp(cmd, "EW")) {  // EEPROM put: EW addr hex
      sscanf(arg, "%d", &k);
      const char *h = strchr(arg, ' ');
      size_t len = h ? unhex(h + 1, buf, sizeof buf) : 0;
      EEPROM.writeBytes(k, buf, (uint16_t)len);
      printf("%d\n", EEPROM.status());
    } else if (!strcmp(cmd, "W")) {  // load raw bytes into the regions: W hex (storage then log)
      size_t len = unhex(arg, buf, sizeof buf);
      memcpy(g_flash + BASE, buf, len);
      printf("0\n");
    } else if (!strcmp(cmd, "D")) {  // dump storage + log regions
      puthex(g_flash + BASE, g_end - BASE);
      printf("\n");
    } else if (!strcmp(cmd, "O")) {  // page operations so far, and max programs between erases
      unsigned mx = 0;
      for (uint32_t p = 0; p < g_end / sf_host_page_size; p++) mx = g_programs[p] > mx ? g_programs[p] : mx;
      printf("%lu %lu %u\n", g_prog_ops, g_erase_ops, mx);
    } else if (cmd[0]) {
      fprintf(stderr, "sf_host: unknown command %s\n", cmd);
      return 2;
    }
    fflush(stdout);
  }
  delete store;
  delete log;
  free(g_programs);
  free(g_flash);
  return 0;
}
