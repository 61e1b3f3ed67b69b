// StorageDriver: runs a command script against the real FlashStorage / FlashLog / FlashEEPROM and the real SPM
// backend on the simulated chip, so the tests can compare the C++ with the Python model byte for byte
// (builder/spareflash/storage/simdriver.py encodes the scripts and decodes the results).
//
// The script is not compiled in: it lives in the PROGMEM array sf_script, which the build leaves empty and the
// test fills in the flash image it powers the chip on with (Simulator flash_in). One firmware build therefore
// serves every sequence, power-cut reboot and corruption case.
//
// Script: one command after another, 0x00 ends it. Arguments are bytes (addresses little endian):
//   'B'                 begin (remount: RAM state rebuilt from flash, like a reset)  -> status
//   'P' k n data[n]     putBytes                                                     -> status
//   'G' k n             getBytes into a zeroed buffer                                -> status [data[n] if SF_OK]
//   'Z' k               sizeOf                                                       -> size
//   'V' k               sizeOf, then getBytes of that size                           -> size [status data[size]]
//   'R' k               remove                                                       -> status
//   'C' k               contains                                                     -> 0/1
//   'F'                 format                                                       -> status
//   'S'                 stats                              -> status, FlashStorageStats (18 B), eraseCount u16 x pages
//   'L' policy          FlashLog begin                                               -> status
//   'A' n data[n]       FlashLog append                                              -> status
//   'I'                 FlashLog rewind + count + next()   -> count u16, then (len data[len]) per record, 0xFF
//   'X'                 FlashLog clear                                               -> status
//   'r' a16 n           EEPROM.readBytes                                             -> data[n]
//   'w' a16 n data[n]   EEPROM.writeBytes                                            -> EEPROM.status()
// Format 2 builds (SPAREFLASH_STORAGE_FORMAT=2: the ATtiny25/45, docs/storage-format-v2.md) have no FlashLog or
// FlashEEPROM: 'L' 'A' 'I' 'X' 'r' 'w' are unknown commands there, and 'S' sends no erase counts (format 2's API
// has no eraseCount(); the headers holding them are in the region dump). The script array then takes the
// application flash the code leaves (SCRIPT_CAP from the build: simdriver.py sizes it), and the buffer holds the
// largest format-2 value (32 bytes) with room for a wrong-size get.
// The ATtiny25 build (simdriver.build_driver_v2('attiny25')) must fit 2 KB of flash and 128 B of RAM beside the
// engine's ~86 B of stack: -DDRIVER_NO_STATS leaves 'S' out (the ATtiny45 driver runs stats on the chip; without
// the call --gc-sections drops the engine's stats code, ~240 B, and setup() needs no stats frame), BUF_SIZE comes
// from the build (the largest value + 1, for the refused MAXV + 1 put and wrong-size get), -DDRIVER_OS_MAIN drops
// setup()'s register saves and -fno-jump-tables turns the dispatch into compares (the table spans 'B'..'Z').
// Results go to GPIOR1 (the harness's debug console: one byte per write, no UART time). GPIOR0 markers frame
// every command: MARK_CMD before it starts, MARK_DONE once its result is out, so the harness knows the cycle
// each operation returned at (a power cut after MARK_DONE must keep that operation's effect).
#include <SpareFlash.h>
#if SPAREFLASH_STORAGE_FORMAT != 2
#include <FlashEEPROM.h>
#endif

#ifndef SCRIPT_CAP
#define SCRIPT_CAP 16384
#endif
#ifndef BUF_SIZE
#if SPAREFLASH_STORAGE_FORMAT == 2
#define BUF_SIZE 40
#else
#define BUF_SIZE (SPAREFLASH_LOG_MAX_RECORD + 8)
#endif
#endif
#define MARK_BOOT 0xB0
#define MARK_CMD 0xC1
#define MARK_DONE 0xD0
#define MARK_END 0xE0
#define MARK_BAD 0xEB

// Zero-filled (an empty script) at build time; the test patches the commands in. `used` keeps LTO from
// dropping it, and the reads go through pgm_read_byte (inline LPM) so the compiler cannot fold the zeros.
extern const uint8_t sf_script[SCRIPT_CAP] PROGMEM;
const uint8_t sf_script[SCRIPT_CAP] PROGMEM __attribute__((used)) = {0};

static FlashStorage store;
#if SPAREFLASH_STORAGE_FORMAT != 2
static FlashLog flog;
#endif
static uint16_t pc;
static uint8_t buf[BUF_SIZE];

static uint8_t arg() { return pgm_read_byte(&sf_script[pc++]); }
static void out(uint8_t b) { GPIOR1 = b; }
#if SPAREFLASH_STORAGE_FORMAT != 2
static void out16(uint16_t v) {
  out((uint8_t)v);
  out((uint8_t)(v >> 8));
}
#endif
static void out_bytes(const uint8_t *p, uint8_t n) {
  while (n--) out(*p++);
}
// Copies n script bytes into buf; a length past the buffer means a broken script (the encoder never makes one).
static bool take(uint8_t n) {
  if (n > sizeof buf) return false;
  for (uint8_t i = 0; i < n; i++) buf[i] = arg();
  return true;
}

static bool step(uint8_t cmd) {
  uint8_t k, n;
  switch (cmd) {
    case 'B':
      out(store.begin());
      return true;
    case 'P':
      k = arg();
      n = arg();
      if (!take(n)) return false;
      out(store.putBytes(k, buf, n));
      return true;
    case 'G': {
      k = arg();
      n = arg();
      if (n > sizeof buf) return false;
      memset(buf, 0, sizeof buf);
      sf_status_t st = store.getBytes(k, buf, n);
      out(st);
      if (st == SF_OK) out_bytes(buf, n);
      return true;
    }
    case 'Z':
      out(store.sizeOf(arg()));
      return true;
    case 'V': {
      k = arg();
      n = store.sizeOf(k);
      out(n);
      if (n) {
        out(store.getBytes(k, buf, n));
        out_bytes(buf, n);
      }
      return true;
    }
    case 'R':
      out(store.remove(arg()));
      return true;
    case 'C':
      out(store.contains(arg()) ? 1 : 0);
      return true;
    case 'F':
      out(store.format());
      return true;
#ifndef DRIVER_NO_STATS
    case 'S': {
      FlashStorageStats s;
      memset(&s, 0, sizeof s);
      out(store.stats(s));
      out_bytes((const uint8_t *)&s, sizeof s);
#if SPAREFLASH_STORAGE_FORMAT != 2
      for (uint8_t p = 0; p < s.pages; p++) out16(store.eraseCount(p));
#endif
      return true;
    }
#endif
#if SPAREFLASH_STORAGE_FORMAT != 2
    case 'L':
      out(flog.begin(arg()));
      return true;
    case 'A':
      n = arg();
      if (!take(n)) return false;
      out(flog.append(buf, n));
      return true;
    case 'I': {
      flog.rewind();
      out16(flog.count());
      int16_t r;
      while ((r = flog.next(buf, sizeof buf)) >= 0) {
        out((uint8_t)r);
        out_bytes(buf, (uint8_t)r);
      }
      out(0xFF);
      return true;
    }
    case 'X':
      out(flog.clear());
      return true;
    case 'r': {
      uint16_t a = arg();
      a |= (uint16_t)arg() << 8;
      n = arg();
      if (n > sizeof buf) return false;
      EEPROM.readBytes(a, buf, n);
      out_bytes(buf, n);
      return true;
    }
    case 'w': {
      uint16_t a = arg();
      a |= (uint16_t)arg() << 8;
      n = arg();
      if (!take(n)) return false;
      EEPROM.writeBytes(a, buf, n);
      out(EEPROM.status());
      return true;
    }
#endif
  }
  return false;
}

#ifdef DRIVER_OS_MAIN
// setup() never returns (spareflash_halt), so it need not save the registers it uses: 20 B of the 2 KB build.
__attribute__((OS_main))
#endif
void setup() {
  GPIOR0 = MARK_BOOT;
  for (;;) {
    uint8_t cmd = arg();
    if (cmd == 0 || pc >= SCRIPT_CAP) break;
    GPIOR0 = MARK_CMD;
    if (!step(cmd)) {
      GPIOR0 = MARK_BAD;  // unknown command or bad length: stop here, the harness reports it
      break;
    }
    GPIOR0 = MARK_DONE;
  }
  GPIOR0 = MARK_END;
  spareflash_halt();
}

void loop() {}
