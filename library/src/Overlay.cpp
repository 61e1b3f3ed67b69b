// Overlay loader: see Overlay.h and docs/overlay-format.md (the formats and the load procedure are specified
// there; builder/spareflash/overlay/format.py is the byte-for-byte model).
#include "Overlay.h"

#include <avr/eeprom.h>
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <avr/sleep.h>
#include <string.h>

#define SF_OVL_MAX_SLOTS 8
#define SF_OVL_HEADER_SIZE 48
#define SF_OVL_DIR_RECORD 20
#define SF_OVL_MAC_SIZE 8
#define SF_OVL_SLOT_HEADER 16
#define SF_OVL_SLOT_MAGIC 0x4F53
#define SF_OVL_FLAG_MAC 0x01
#define SF_OVL_NOT_RESIDENT 0xFF
// reuse distances up to this many calls per slot count as periodic (policy.py PERIODIC_GAP_PER_SLOT)
#define SF_OVL_PERIODIC_PER_SLOT 2

// State defined by the generated stubs file (spareflash.overlay.linker.stubs_source): sized by the segment count.
extern "C" {
extern uint16_t __sf_ovl_base[];  // word address of the segment's code in its slot, 0 = not resident
extern uint8_t __sf_ovl_stamp[];  // call clock at the last call
extern uint8_t __sf_ovl_gap[];    // reuse distance at the last load, 0xFF unknown
extern uint8_t __sf_ovl_clock;
extern const uint8_t __sf_ovl_nseg PROGMEM;
void sf_ovl_fault(uint8_t segment);
}

OverlayManager Overlay;

static uint8_t seg_in[SF_OVL_MAX_SLOTS];  // segment in each slot, SF_OVL_NOT_RESIDENT if none
static uint8_t seen[8];                   // bit per segment: has been resident since reset
static uint32_t erase_count[SF_OVL_MAX_SLOTS];
static uint8_t page_buf[SPM_PAGESIZE];  // one flash page: the loader programs whole pages (one SPM write each)

static uint32_t build_id() {
  // the build id is an absolute symbol (--defsym) set by the overlay build; all 32 bits via ldi
  uint32_t v;
  __asm__("ldi %A0, lo8(__sf_ovl_build_id)\n\t"
          "ldi %B0, hi8(__sf_ovl_build_id)\n\t"
          "ldi %C0, hlo8(__sf_ovl_build_id)\n\t"
          "ldi %D0, hhi8(__sf_ovl_build_id)"
          : "=d"(v));
  return v;
}

static inline uint8_t nseg() { return pgm_read_byte(&__sf_ovl_nseg); }

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

// CRC-32 (IEEE, reflected, as zlib): bitwise, small; ~70 cycles a byte is noise next to 9 ms per flash page.
static uint32_t crc_byte(uint32_t crc, uint8_t b) {
  crc ^= b;
  for (uint8_t k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320UL & (uint32_t)(-(int32_t)(crc & 1)));
  return crc;
}
static uint32_t crc_flash(sf_addr_t a, uint16_t n) {
  uint32_t c = 0xFFFFFFFFUL;
  while (n--) c = crc_byte(c, sf_flash_read_byte(a++));
  return ~c;
}

#if SPAREFLASH_OVERLAY_MAC
// SipHash-2-4 (Aumasson & Bernstein), streaming: only compiled when MACs are enabled (64-bit code is large).
struct SipState {
  uint64_t v0, v1, v2, v3, m;
  uint16_t n;
};
static inline uint64_t rotl(uint64_t x, uint8_t b) { return (x << b) | (x >> (64 - b)); }
static void sip_round(SipState &s) {
  s.v0 += s.v1; s.v1 = rotl(s.v1, 13); s.v1 ^= s.v0; s.v0 = rotl(s.v0, 32);
  s.v2 += s.v3; s.v3 = rotl(s.v3, 16); s.v3 ^= s.v2;
  s.v0 += s.v3; s.v3 = rotl(s.v3, 21); s.v3 ^= s.v0;
  s.v2 += s.v1; s.v1 = rotl(s.v1, 17); s.v1 ^= s.v2; s.v2 = rotl(s.v2, 32);
}
static void sip_init(SipState &s, const uint8_t *key) {
  uint64_t k0 = 0, k1 = 0;
  for (int8_t i = 7; i >= 0; i--) { k0 = (k0 << 8) | key[i]; k1 = (k1 << 8) | key[8 + i]; }
  s.v0 = k0 ^ 0x736F6D6570736575ULL; s.v1 = k1 ^ 0x646F72616E646F6DULL;
  s.v2 = k0 ^ 0x6C7967656E657261ULL; s.v3 = k1 ^ 0x7465646279746573ULL;
  s.m = 0; s.n = 0;
}
static void sip_byte(SipState &s, uint8_t b) {
  s.m |= (uint64_t)b << (8 * (s.n & 7));
  if ((++s.n & 7) == 0) {
    s.v3 ^= s.m; sip_round(s); sip_round(s); s.v0 ^= s.m; s.m = 0;
  }
}
static uint64_t sip_final(SipState &s) {
  uint64_t b = s.m | ((uint64_t)(s.n & 0xFF) << 56);
  s.v3 ^= b; sip_round(s); sip_round(s); s.v0 ^= b;
  s.v2 ^= 0xFF;
  for (uint8_t i = 0; i < 4; i++) sip_round(s);
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}
#endif

// ---- image checks ------------------------------------------------------------------------------------------
struct Record {  // one directory record (segment linked for one slot)
  uint16_t size;
  uint32_t offset, link, crc;
  uint8_t mac[SF_OVL_MAC_SIZE];
};


sf_status_t OverlayManager::checkImage() {
  uint8_t h[SF_OVL_HEADER_SIZE];
  nor.read(norAddr_, h, sizeof h);
  if (memcmp_P(h, PSTR("SFOV"), 4) != 0 || h[4] != 1 || rd16(h + 6) != SF_OVL_HEADER_SIZE) return SF_ERR_OVERLAY_IMAGE;
  uint32_t c = 0xFFFFFFFFUL;
  for (uint8_t i = 0; i < SF_OVL_HEADER_SIZE - 4; i++) c = crc_byte(c, h[i]);
  if (~c != rd32(h + 44)) return SF_ERR_OVERLAY_CRC;
  if (h[8] != SIGNATURE_0 || h[9] != SIGNATURE_1 || h[10] != SIGNATURE_2) return SF_ERR_OVERLAY_IMAGE;
  if (rd16(h + 12) != SPM_PAGESIZE || h[14] != sf_slot_count() || rd32(h + 16) != sf_slot_size() ||
      rd32(h + 20) != sf_slots_start() || h[15] != nseg() || rd32(h + 24) != build_id())
    return SF_ERR_OVERLAY_IMAGE;
  bool has_mac = h[5] & SF_OVL_FLAG_MAC;
  if (key_ && !has_mac) return SF_ERR_OVERLAY_MAC;
  if (rd16(h + 30) != SF_OVL_DIR_RECORD + (has_mac ? SF_OVL_MAC_SIZE : 0)) return SF_ERR_OVERLAY_IMAGE;
  // directory checksum
  uint16_t dir_bytes = (uint16_t)h[15] * h[14] * rd16(h + 30);
  c = 0xFFFFFFFFUL;
  nor.readStart(norAddr_ + SF_OVL_HEADER_SIZE);
  for (uint16_t i = 0; i < dir_bytes; i++) c = crc_byte(c, nor.readNext());
  uint8_t stored[4];
  for (uint8_t i = 0; i < 4; i++) stored[i] = nor.readNext();
  nor.end();
  if (~c != rd32(stored)) return SF_ERR_OVERLAY_CRC;
  if (!key_ && has_mac) key_ = 0;  // MACs present but not required: ignored
  recStride_ = rd16(h + 30);
  return SF_OK;
}

static sf_status_t read_record(SpiNor &nor, uint32_t base, uint8_t stride, uint8_t seg, uint8_t slot, Record &r) {
  uint8_t raw[SF_OVL_DIR_RECORD + SF_OVL_MAC_SIZE];
  uint32_t at = base + SF_OVL_HEADER_SIZE + (uint32_t)(seg * sf_slot_count() + slot) * stride;
  nor.read(at, raw, stride);
  if (raw[0] != seg || raw[1] != slot) return SF_ERR_OVERLAY_IMAGE;
  r.size = rd16(raw + 4);
  r.offset = rd32(raw + 8);
  r.link = rd32(raw + 12);
  r.crc = rd32(raw + 16);
  if (stride > SF_OVL_DIR_RECORD) memcpy(r.mac, raw + SF_OVL_DIR_RECORD, SF_OVL_MAC_SIZE);
  if (r.link != sf_slot_start(slot) + SF_OVL_SLOT_HEADER) return SF_ERR_OVERLAY_IMAGE;
  if ((uint32_t)r.size + SF_OVL_SLOT_HEADER > sf_slot_size()) return SF_ERR_NO_SLOT;
  return SF_OK;
}

static void make_slot_header(uint8_t *h, uint8_t seg, uint8_t slot, const Record &r) {
  h[0] = (uint8_t)SF_OVL_SLOT_MAGIC; h[1] = SF_OVL_SLOT_MAGIC >> 8; h[2] = seg; h[3] = slot;
  h[4] = (uint8_t)r.size; h[5] = r.size >> 8; h[6] = 1; h[7] = 0xFF;
  uint32_t b = build_id();
  for (uint8_t i = 0; i < 4; i++) { h[8 + i] = (uint8_t)(b >> (8 * i)); h[12 + i] = (uint8_t)(r.crc >> (8 * i)); }
}

// Fill page_buf with page p of the slot image (header + code, 0xFF padding), streaming the code from NOR.
static void expected_page(SpiNor &nor, uint32_t norBase, uint8_t seg, uint8_t slot, const Record &r, uint16_t p) {
  uint16_t i = 0;
  int32_t code_at = (int32_t)p * SPM_PAGESIZE - SF_OVL_SLOT_HEADER;  // code offset of the page's first byte
  if (p == 0) {
    make_slot_header(page_buf, seg, slot, r);
    i = SF_OVL_SLOT_HEADER;
    code_at = 0;
  }
  uint16_t avail = code_at < (int32_t)r.size ? (uint16_t)(r.size - code_at) : 0;
  uint16_t take = SPM_PAGESIZE - i;
  if (take > avail) take = avail;
  if (take) nor.read(norBase + r.offset + code_at, page_buf + i, take);
  memset(page_buf + i + take, 0xFF, SPM_PAGESIZE - i - take);
}

static bool flash_equals(sf_addr_t a) {
  for (uint16_t i = 0; i < SPM_PAGESIZE; i++)
    if (sf_flash_read_byte(a + i) != page_buf[i]) return false;
  return true;
}
static bool flash_erased(sf_addr_t a) {
  for (uint16_t i = 0; i < SPM_PAGESIZE; i++)
    if (sf_flash_read_byte(a + i) != 0xFF) return false;
  return true;
}

// ---- residency ---------------------------------------------------------------------------------------------
static void set_resident(uint8_t seg, uint8_t slot) {
  seg_in[slot] = seg;
  uint16_t w = (uint16_t)((sf_slot_start(slot) + SF_OVL_SLOT_HEADER) >> 1);
  uint8_t s = SREG;
  cli();  // the stubs read the two bytes separately
  __sf_ovl_base[seg] = w;
  SREG = s;
  seen[seg >> 3] |= (uint8_t)(1 << (seg & 7));
}

static void clear_slot(uint8_t slot) {
  uint8_t old = seg_in[slot];
  seg_in[slot] = SF_OVL_NOT_RESIDENT;
  if (old != SF_OVL_NOT_RESIDENT) {
    uint8_t s = SREG;
    cli();
    __sf_ovl_base[old] = 0;
    SREG = s;
  }
}

void OverlayManager::scanSlots() {
  uint8_t n = sf_slot_count();
  uint32_t bid = build_id();
  for (uint8_t k = 0; k < n && k < SF_OVL_MAX_SLOTS; k++) {
    seg_in[k] = SF_OVL_NOT_RESIDENT;
    uint8_t h[SF_OVL_SLOT_HEADER];
    sf_addr_t a = sf_slot_start(k);
    sf_flash_read(a, h, sizeof h);
    uint16_t size = rd16(h + 4);
    if (rd16(h) != SF_OVL_SLOT_MAGIC || h[6] != 1 || h[3] != k || h[2] >= nseg() || rd32(h + 8) != bid ||
        (uint32_t)size + SF_OVL_SLOT_HEADER > sf_slot_size())
      continue;
    if (crc_flash(a + SF_OVL_SLOT_HEADER, size) != rd32(h + 12)) continue;  // torn or stale: not resident
    if (__sf_ovl_base[h[2]]) continue;  // already resident in a lower slot (a copy): use that one
    set_resident(h[2], k);
  }
}

sf_status_t OverlayManager::begin(uint32_t norAddr, uint32_t expectedJedec, const uint8_t *macKey) {
  norAddr_ = norAddr;
  key_ = macKey;
  for (uint8_t s = 0; s < nseg(); s++) {
    __sf_ovl_base[s] = 0;
    __sf_ovl_gap[s] = 0xFF;
    __sf_ovl_stamp[s] = 0;
  }
  memset(seen, 0, sizeof seen);
  for (uint8_t k = 0; k < SF_OVL_MAX_SLOTS; k++) {
    uint32_t e = 0;
    if (eepromAddr_ != 0xFFFF && k < sf_slot_count()) {
      e = eeprom_read_dword((const uint32_t *)(eepromAddr_ + 4 * k));
      if (e == 0xFFFFFFFFUL) e = 0;  // erased EEPROM: never counted
    }
    erase_count[k] = e;
  }
  if (sf_slot_count() > SF_OVL_MAX_SLOTS || sf_slot_count() == 0) return image_ = last_ = SF_ERR_NO_SLOT;
  scanSlots();
  sf_status_t st = sf_flash_begin();
  if (st == SF_OK) st = nor.begin(expectedJedec);
  if (st == SF_OK) st = checkImage();
  image_ = st;
  return last_ = st;
}

uint8_t OverlayManager::segmentCount() const { return nseg(); }
uint8_t OverlayManager::slotCount() const { return (uint8_t)sf_slot_count(); }
uint32_t OverlayManager::erases(uint8_t slot) const { return slot < SF_OVL_MAX_SLOTS ? erase_count[slot] : 0; }
int8_t OverlayManager::slotOf(uint8_t segment) const {
  for (uint8_t k = 0; k < sf_slot_count(); k++)
    if (seg_in[k] == segment) return (int8_t)k;
  return -1;
}
int16_t OverlayManager::segmentIn(uint8_t slot) const {
  return slot < sf_slot_count() && seg_in[slot] != SF_OVL_NOT_RESIDENT ? seg_in[slot] : -1;
}

// ---- the load ----------------------------------------------------------------------------------------------
sf_status_t OverlayManager::loadIntoChecked(uint8_t seg, uint8_t slot) {
  Record r;
  sf_status_t st = read_record(nor, norAddr_, recStride_, seg, slot, r);
  if (st) return st;
  // 1. the whole segment is checked (CRC-32 and MAC) before anything is erased
  uint32_t c = 0xFFFFFFFFUL;
#if SPAREFLASH_OVERLAY_MAC
  SipState sip;
  if (key_) {
    sip_init(sip, key_);
    uint32_t b = build_id();
    for (uint8_t i = 0; i < 4; i++) sip_byte(sip, (uint8_t)(b >> (8 * i)));
    sip_byte(sip, seg); sip_byte(sip, slot); sip_byte(sip, (uint8_t)r.size); sip_byte(sip, r.size >> 8);
  }
#else
  if (key_) return SF_ERR_OVERLAY_MAC;  // a key without the MAC code compiled in: refuse rather than skip
#endif
  nor.readStart(norAddr_ + r.offset);
  for (uint16_t i = 0; i < r.size; i++) {
    uint8_t b = nor.readNext();
    c = crc_byte(c, b);
#if SPAREFLASH_OVERLAY_MAC
    if (key_) sip_byte(sip, b);
#endif
  }
  nor.end();
  if (~c != r.crc) return SF_ERR_OVERLAY_CRC;
#if SPAREFLASH_OVERLAY_MAC
  if (key_) {
    uint64_t tag = sip_final(sip);
    for (uint8_t i = 0; i < 8; i++)
      if (r.mac[i] != (uint8_t)(tag >> (8 * i))) return SF_ERR_OVERLAY_MAC;
  }
#endif
  // 2. which pages differ, and how many erases that costs (the budget is checked before the first erase)
  sf_addr_t base = sf_slot_start(slot);
  uint16_t pages = (uint16_t)((SF_OVL_SLOT_HEADER + r.size + SPM_PAGESIZE - 1) / SPM_PAGESIZE);
  uint16_t changed = 0, need = 0;
  for (uint16_t p = 0; p < pages; p++) {
    expected_page(nor, norAddr_, seg, slot, r, p);
    sf_addr_t a = base + (uint32_t)p * SPM_PAGESIZE;
    if (!flash_equals(a)) {
      changed++;
      if (p && !flash_erased(a)) need++;
    }
  }
  if (!changed) {  // identical content already there (e.g. header valid but RAM state lost): no erase
    clear_slot(slot);
    set_resident(seg, slot);
    return SF_OK;
  }
  bool erase0 = !flash_erased(base);
  if (erase0) need++;
  if (erase_count[slot] + need > budget_) return SF_ERR_WEAR_BUDGET;
  if (eepromAddr_ != 0xFFFF)  // counted before erasing: a power cut can over-count, never under-count
    eeprom_update_dword((uint32_t *)(eepromAddr_ + 4 * slot), erase_count[slot] + need);
  // 3. invalidate: the header page goes first, so a cut from here on leaves no valid header
  clear_slot(slot);
  if (erase0) {
    if ((st = sf_flash_erase_page(base))) return st;
    erase_count[slot]++;
    erased_++;
  }
  // 4. the other pages, skipping those that already hold the right bytes
  for (uint16_t p = 1; p < pages; p++) {
    sf_addr_t a = base + (uint32_t)p * SPM_PAGESIZE;
    expected_page(nor, norAddr_, seg, slot, r, p);
    if (flash_equals(a)) continue;
    if (!flash_erased(a)) {
      if ((st = sf_flash_erase_page(a))) return st;
      erase_count[slot]++;
      erased_++;
    }
    if ((st = sf_flash_program(a, page_buf, SPM_PAGESIZE))) return st;
    written_++;
  }
  // 5. the header page last: from this write on the slot is valid
  expected_page(nor, norAddr_, seg, slot, r, 0);
  if ((st = sf_flash_program(base, page_buf, SPM_PAGESIZE))) return st;
  written_++;
  if (crc_flash(base + SF_OVL_SLOT_HEADER, r.size) != r.crc) return SF_ERR_VERIFY;
  set_resident(seg, slot);
  loads_++;
  return SF_OK;
}

sf_status_t OverlayManager::loadInto(uint8_t seg, uint8_t slot) {
  if (seg >= nseg()) return last_ = SF_ERR_NO_OVERLAY;
  if (slot >= sf_slot_count()) return last_ = SF_ERR_NO_SLOT;
  if (image_) return last_ = image_;
  if (seg_in[slot] == seg) return last_ = SF_OK;
  int8_t other = slotOf(seg);
  sf_status_t st = loadIntoChecked(seg, slot);
  if (st == SF_OK && other >= 0) clear_slot((uint8_t)other);  // one copy is enough
  return last_ = st;
}

// The firmware's replacement policy; policy.py StatsPolicy is its model (same arithmetic, same tie-break).
uint8_t OverlayManager::pickSlot(uint8_t seg, uint8_t protectedMask) {
  uint8_t n = sf_slot_count();
  uint8_t clock = __sf_ovl_clock;
  if (seen[seg >> 3] & (1 << (seg & 7))) {
    uint8_t g = (uint8_t)(clock - __sf_ovl_stamp[seg]);
    __sf_ovl_gap[seg] = g > 0xFE ? 0xFE : g;
  }
  for (uint8_t k = 0; k < n; k++)
    if (seg_in[k] == SF_OVL_NOT_RESIDENT && !(protectedMask & (1 << k))) return k;
  uint8_t best = 0xFF;
  int16_t best_key = -1;
  for (uint8_t k = 0; k < n; k++) {
    if (protectedMask & (1 << k)) continue;
    uint8_t s = seg_in[k];
    uint8_t age = (uint8_t)(clock - __sf_ovl_stamp[s]);
    uint8_t g = __sf_ovl_gap[s];
    int16_t key = (g != 0xFF && age <= g && g <= SF_OVL_PERIODIC_PER_SLOT * n) ? (int16_t)(g - age) : 256 + age;
    if (key > best_key) {
      best = k;
      best_key = key;
    }
  }
  return best;
}

sf_status_t OverlayManager::load(uint8_t seg) {
  if (seg >= nseg()) return last_ = SF_ERR_NO_OVERLAY;
  if (slotOf(seg) >= 0) return last_ = SF_OK;
  uint8_t k = pickSlot(seg, 0);
  return loadInto(seg, k);
}

// Slots that hold a return address on the stack (a segment that called, directly or through resident code, the
// function being loaded) must not be evicted: the call would return into other code. Scanning every byte pair
// can only over-protect (data that looks like an address), never under-protect.
static uint8_t protected_slots() {
  uint8_t mask = 0;
  uint16_t lo = (uint16_t)(sf_slots_start() >> 1), size_w = (uint16_t)(sf_slot_size() >> 1);
  uint16_t hi = lo + size_w * sf_slot_count();
  const uint8_t *p = (const uint8_t *)SP + 1;
  const uint8_t *end = (const uint8_t *)RAMEND;
  for (; p < end; p++) {
    uint16_t w = (uint16_t)((p[0] << 8) | p[1]);  // return addresses are pushed high byte at the lower address
    if (w >= lo && w < hi) mask |= (uint8_t)(1 << ((w - lo) / size_w));
  }
  return mask;
}

void OverlayManager::fault(uint8_t seg) {
  sf_status_t st = SF_ERR_NO_OVERLAY;
  if (seg < nseg()) {
    uint8_t k = pickSlot(seg, protected_slots());
    st = k == 0xFF ? SF_ERR_NO_SLOT : loadInto(seg, k);
  }
  if (st == SF_OK) return;
  last_ = st;
  if (hook_) hook_(st, seg);
  // the overlaid call cannot return a value: stop here rather than run whatever the slot holds
  cli();
  sleep_enable();
  for (;;) sleep_cpu();
}

extern "C" void sf_ovl_fault(uint8_t segment) { Overlay.fault(segment); }
