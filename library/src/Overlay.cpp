// Overlay loader: see Overlay.h and docs/overlay-format.md (the formats and the load procedure are specified
// there; builder/spareflash/overlay/format.py is the byte-for-byte model).
#include "Overlay.h"
#include "overlay_bootpage.h"

// Format-2 builds have no overlay loader (Overlay.h): nothing to compile.
#if SPAREFLASH_STORAGE_FORMAT != 2

#include <avr/eeprom.h>
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <avr/sleep.h>
#include <string.h>

#if RAMEND < 0x400
#define SF_OVL_MAX_SLOTS 4  // RAM: an ATtiny85 has 512 bytes for everything
#else
#define SF_OVL_MAX_SLOTS 8
#endif
#define SF_OVL_HEADER_SIZE 48
#define SF_OVL_DIR_RECORD 20
#define SF_OVL_MAC_SIZE 8
#define SF_OVL_SLOT_HEADER 16
#define SF_OVL_SLOT_MAGIC 0x4F53
#define SF_OVL_FLAG_MAC 0x01
#define SF_OVL_NOT_RESIDENT 0xFF
#define SF_OVL_MAX_PAGES 64  // slot_size <= 4096 (rjmp jump tables) and pages >= 64 bytes
// reuse distances up to this many calls per slot count as periodic (policy.py PERIODIC_GAP_PER_SLOT)
#define SF_OVL_PERIODIC_PER_SLOT 2

// Flash addresses in the loader: 16 bit on parts with <= 64 KB flash. The 32-bit sf_addr_t arithmetic doubles
// the code of every address computation, and on the ATtiny85 every byte of resident code is a byte less for
// the application (the loader is ~2 KB there instead of ~4.5 KB).
#if FLASHEND > 0xFFFF
typedef uint32_t ovl_addr_t;
static inline uint8_t fl_rd(ovl_addr_t a) { return pgm_read_byte_far(a); }
static inline uint8_t fl_rd_inc(ovl_addr_t &a) { return pgm_read_byte_far(a++); }
#else
typedef uint16_t ovl_addr_t;
static inline uint8_t fl_rd(ovl_addr_t a) { return pgm_read_byte(a); }
static inline __attribute__((always_inline)) uint8_t fl_rd_inc(ovl_addr_t &a) {  // lpm Z+: no separate add
  uint8_t v;
  __asm__("lpm %0, Z+" : "=r"(v), "+z"(a));
  return v;
}
#endif

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

static uint8_t n_slots;                   // sf_slot_count(), cached by begin() (it is a 32-bit division)
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
static inline uint16_t slot_bytes() { return (uint16_t)sf_slot_size(); }  // <= 4096 (build rule)
static ovl_addr_t slot_addr(uint8_t k) { return (ovl_addr_t)sf_slots_start() + (ovl_addr_t)k * slot_bytes(); }

static uint32_t rd32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);  // AVR is little-endian, as the format
  return v;
}
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

// CRC-32 (IEEE, reflected, as zlib), one byte: the same CRC the Python model computes with zlib.
#if FLASHEND > 0x1FFF
// Parts with 16 KB or more: the 256-entry table (1 KB of PROGMEM) makes it ~25 cycles a byte instead of ~80, which
// the loader's verify pass spends on every byte of a segment before it may erase anything.
static const uint32_t crc_table[256] PROGMEM = {
    0x00000000UL, 0x77073096UL, 0xEE0E612CUL, 0x990951BAUL, 0x076DC419UL, 0x706AF48FUL,
    0xE963A535UL, 0x9E6495A3UL, 0x0EDB8832UL, 0x79DCB8A4UL, 0xE0D5E91EUL, 0x97D2D988UL,
    0x09B64C2BUL, 0x7EB17CBDUL, 0xE7B82D07UL, 0x90BF1D91UL, 0x1DB71064UL, 0x6AB020F2UL,
    0xF3B97148UL, 0x84BE41DEUL, 0x1ADAD47DUL, 0x6DDDE4EBUL, 0xF4D4B551UL, 0x83D385C7UL,
    0x136C9856UL, 0x646BA8C0UL, 0xFD62F97AUL, 0x8A65C9ECUL, 0x14015C4FUL, 0x63066CD9UL,
    0xFA0F3D63UL, 0x8D080DF5UL, 0x3B6E20C8UL, 0x4C69105EUL, 0xD56041E4UL, 0xA2677172UL,
    0x3C03E4D1UL, 0x4B04D447UL, 0xD20D85FDUL, 0xA50AB56BUL, 0x35B5A8FAUL, 0x42B2986CUL,
    0xDBBBC9D6UL, 0xACBCF940UL, 0x32D86CE3UL, 0x45DF5C75UL, 0xDCD60DCFUL, 0xABD13D59UL,
    0x26D930ACUL, 0x51DE003AUL, 0xC8D75180UL, 0xBFD06116UL, 0x21B4F4B5UL, 0x56B3C423UL,
    0xCFBA9599UL, 0xB8BDA50FUL, 0x2802B89EUL, 0x5F058808UL, 0xC60CD9B2UL, 0xB10BE924UL,
    0x2F6F7C87UL, 0x58684C11UL, 0xC1611DABUL, 0xB6662D3DUL, 0x76DC4190UL, 0x01DB7106UL,
    0x98D220BCUL, 0xEFD5102AUL, 0x71B18589UL, 0x06B6B51FUL, 0x9FBFE4A5UL, 0xE8B8D433UL,
    0x7807C9A2UL, 0x0F00F934UL, 0x9609A88EUL, 0xE10E9818UL, 0x7F6A0DBBUL, 0x086D3D2DUL,
    0x91646C97UL, 0xE6635C01UL, 0x6B6B51F4UL, 0x1C6C6162UL, 0x856530D8UL, 0xF262004EUL,
    0x6C0695EDUL, 0x1B01A57BUL, 0x8208F4C1UL, 0xF50FC457UL, 0x65B0D9C6UL, 0x12B7E950UL,
    0x8BBEB8EAUL, 0xFCB9887CUL, 0x62DD1DDFUL, 0x15DA2D49UL, 0x8CD37CF3UL, 0xFBD44C65UL,
    0x4DB26158UL, 0x3AB551CEUL, 0xA3BC0074UL, 0xD4BB30E2UL, 0x4ADFA541UL, 0x3DD895D7UL,
    0xA4D1C46DUL, 0xD3D6F4FBUL, 0x4369E96AUL, 0x346ED9FCUL, 0xAD678846UL, 0xDA60B8D0UL,
    0x44042D73UL, 0x33031DE5UL, 0xAA0A4C5FUL, 0xDD0D7CC9UL, 0x5005713CUL, 0x270241AAUL,
    0xBE0B1010UL, 0xC90C2086UL, 0x5768B525UL, 0x206F85B3UL, 0xB966D409UL, 0xCE61E49FUL,
    0x5EDEF90EUL, 0x29D9C998UL, 0xB0D09822UL, 0xC7D7A8B4UL, 0x59B33D17UL, 0x2EB40D81UL,
    0xB7BD5C3BUL, 0xC0BA6CADUL, 0xEDB88320UL, 0x9ABFB3B6UL, 0x03B6E20CUL, 0x74B1D29AUL,
    0xEAD54739UL, 0x9DD277AFUL, 0x04DB2615UL, 0x73DC1683UL, 0xE3630B12UL, 0x94643B84UL,
    0x0D6D6A3EUL, 0x7A6A5AA8UL, 0xE40ECF0BUL, 0x9309FF9DUL, 0x0A00AE27UL, 0x7D079EB1UL,
    0xF00F9344UL, 0x8708A3D2UL, 0x1E01F268UL, 0x6906C2FEUL, 0xF762575DUL, 0x806567CBUL,
    0x196C3671UL, 0x6E6B06E7UL, 0xFED41B76UL, 0x89D32BE0UL, 0x10DA7A5AUL, 0x67DD4ACCUL,
    0xF9B9DF6FUL, 0x8EBEEFF9UL, 0x17B7BE43UL, 0x60B08ED5UL, 0xD6D6A3E8UL, 0xA1D1937EUL,
    0x38D8C2C4UL, 0x4FDFF252UL, 0xD1BB67F1UL, 0xA6BC5767UL, 0x3FB506DDUL, 0x48B2364BUL,
    0xD80D2BDAUL, 0xAF0A1B4CUL, 0x36034AF6UL, 0x41047A60UL, 0xDF60EFC3UL, 0xA867DF55UL,
    0x316E8EEFUL, 0x4669BE79UL, 0xCB61B38CUL, 0xBC66831AUL, 0x256FD2A0UL, 0x5268E236UL,
    0xCC0C7795UL, 0xBB0B4703UL, 0x220216B9UL, 0x5505262FUL, 0xC5BA3BBEUL, 0xB2BD0B28UL,
    0x2BB45A92UL, 0x5CB36A04UL, 0xC2D7FFA7UL, 0xB5D0CF31UL, 0x2CD99E8BUL, 0x5BDEAE1DUL,
    0x9B64C2B0UL, 0xEC63F226UL, 0x756AA39CUL, 0x026D930AUL, 0x9C0906A9UL, 0xEB0E363FUL,
    0x72076785UL, 0x05005713UL, 0x95BF4A82UL, 0xE2B87A14UL, 0x7BB12BAEUL, 0x0CB61B38UL,
    0x92D28E9BUL, 0xE5D5BE0DUL, 0x7CDCEFB7UL, 0x0BDBDF21UL, 0x86D3D2D4UL, 0xF1D4E242UL,
    0x68DDB3F8UL, 0x1FDA836EUL, 0x81BE16CDUL, 0xF6B9265BUL, 0x6FB077E1UL, 0x18B74777UL,
    0x88085AE6UL, 0xFF0F6A70UL, 0x66063BCAUL, 0x11010B5CUL, 0x8F659EFFUL, 0xF862AE69UL,
    0x616BFFD3UL, 0x166CCF45UL, 0xA00AE278UL, 0xD70DD2EEUL, 0x4E048354UL, 0x3903B3C2UL,
    0xA7672661UL, 0xD06016F7UL, 0x4969474DUL, 0x3E6E77DBUL, 0xAED16A4AUL, 0xD9D65ADCUL,
    0x40DF0B66UL, 0x37D83BF0UL, 0xA9BCAE53UL, 0xDEBB9EC5UL, 0x47B2CF7FUL, 0x30B5FFE9UL,
    0xBDBDF21CUL, 0xCABAC28AUL, 0x53B39330UL, 0x24B4A3A6UL, 0xBAD03605UL, 0xCDD70693UL,
    0x54DE5729UL, 0x23D967BFUL, 0xB3667A2EUL, 0xC4614AB8UL, 0x5D681B02UL, 0x2A6F2B94UL,
    0xB40BBE37UL, 0xC30C8EA1UL, 0x5A05DF1BUL, 0x2D02EF8DUL,
};
static inline __attribute__((always_inline)) uint32_t crc_byte(uint32_t crc, uint8_t b) {
  return (crc >> 8) ^ pgm_read_dword(&crc_table[(uint8_t)crc ^ b]);
}
#else
// 8 KB parts: no room for the 1 KB table. The table is linear in its index (table[x] = table[x & 15] ^
// table[x & 0xF0]), so two 16-entry halves (128 bytes) give the byte step with two lookups: ~50 cycles a byte
// instead of ~85 for the bitwise loop (8 x shift + conditional xor), for ~110 more bytes of flash. Pass A, the
// directory check and the residency check after a reset all run every byte through it.
static const uint32_t crc_nib[32] PROGMEM = {  // [0..15]: table[i], [16..31]: table[i << 4]
    0x00000000UL, 0x77073096UL, 0xEE0E612CUL, 0x990951BAUL, 0x076DC419UL, 0x706AF48FUL,
    0xE963A535UL, 0x9E6495A3UL, 0x0EDB8832UL, 0x79DCB8A4UL, 0xE0D5E91EUL, 0x97D2D988UL,
    0x09B64C2BUL, 0x7EB17CBDUL, 0xE7B82D07UL, 0x90BF1D91UL, 0x00000000UL, 0x1DB71064UL,
    0x3B6E20C8UL, 0x26D930ACUL, 0x76DC4190UL, 0x6B6B51F4UL, 0x4DB26158UL, 0x5005713CUL,
    0xEDB88320UL, 0xF00F9344UL, 0xD6D6A3E8UL, 0xCB61B38CUL, 0x9B64C2B0UL, 0x86D3D2D4UL,
    0xA00AE278UL, 0xBDBDF21CUL,
};
static uint32_t __attribute__((noinline)) crc_byte(uint32_t crc, uint8_t b) {
  uint8_t t0, t1, t2, t3;
  __asm__(
      "eor %A0, %5\n\t"  // x = crc ^ b (low byte)
      "mov r30, %A0\n\t"
      "andi r30, 0x0F\n\t"
      "lsl r30\n\t"
      "lsl r30\n\t"
      "ldi r31, 0\n\t"
      "subi r30, lo8(-(%6))\n\t"
      "sbci r31, hi8(-(%6))\n\t"
      "lpm %1, Z+\n\t"
      "lpm %2, Z+\n\t"
      "lpm %3, Z+\n\t"
      "lpm %4, Z\n\t"
      "mov r30, %A0\n\t"  // table[x & 0xF0] = crc_nib[16 + (x >> 4)], at byte offset 64 + (x & 0xF0) / 4
      "andi r30, 0xF0\n\t"
      "lsr r30\n\t"
      "lsr r30\n\t"
      "ldi r31, 0\n\t"
      "subi r30, lo8(-(%6 + 64))\n\t"
      "sbci r31, hi8(-(%6 + 64))\n\t"
      "lpm %A0, Z+\n\t"  // crc = (crc >> 8) ^ lo ^ hi, byte by byte
      "eor %A0, %1\n\t"
      "eor %A0, %B0\n\t"
      "lpm %B0, Z+\n\t"
      "eor %B0, %2\n\t"
      "eor %B0, %C0\n\t"
      "lpm %C0, Z+\n\t"
      "eor %C0, %3\n\t"
      "eor %C0, %D0\n\t"
      "lpm %D0, Z\n\t"
      "eor %D0, %4"
      : "+r"(crc), "=&r"(t0), "=&r"(t1), "=&r"(t2), "=&r"(t3)
      : "r"(b), "i"(crc_nib)
      : "r30", "r31");
  return crc;
}
#endif
static uint32_t crc_flash(ovl_addr_t a, uint16_t n) {
  uint32_t c = 0xFFFFFFFFUL;
  while (n--) c = crc_byte(c, fl_rd(a++));
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
  if (rd16(h + 12) != SPM_PAGESIZE || h[14] != n_slots || rd32(h + 16) != sf_slot_size() ||
      rd32(h + 20) != sf_slots_start() || h[15] != nseg() || rd32(h + 24) != build_id())
    return SF_ERR_OVERLAY_IMAGE;
  bool has_mac = h[5] & SF_OVL_FLAG_MAC;
  if (key_ && !has_mac) return SF_ERR_OVERLAY_MAC;
  uint8_t stride = SF_OVL_DIR_RECORD + (has_mac ? SF_OVL_MAC_SIZE : 0);
  if (rd16(h + 30) != stride) return SF_ERR_OVERLAY_IMAGE;
  // directory checksum
  uint16_t dir_bytes = (uint16_t)h[15] * h[14] * stride;
  c = 0xFFFFFFFFUL;
  nor.readStart(norAddr_ + SF_OVL_HEADER_SIZE);
  for (uint16_t i = 0; i < dir_bytes; i++) c = crc_byte(c, nor.readNext());
  uint8_t stored[4];
  for (uint8_t i = 0; i < 4; i++) stored[i] = nor.readNext();
  nor.readEnd();
  if (~c != rd32(stored)) return SF_ERR_OVERLAY_CRC;
  recStride_ = stride;  // MACs present but no key: they are ignored
  return SF_OK;
}

static sf_status_t read_record(SpiNor &nor, uint32_t base, uint8_t stride, uint8_t seg, uint8_t slot, Record &r) {
  uint8_t raw[SF_OVL_DIR_RECORD + SF_OVL_MAC_SIZE];
  uint32_t at = base + SF_OVL_HEADER_SIZE + (uint16_t)(seg * n_slots + slot) * stride;
  nor.read(at, raw, stride);
  if (raw[0] != seg || raw[1] != slot) return SF_ERR_OVERLAY_IMAGE;
  r.size = rd16(raw + 4);
  r.offset = rd32(raw + 8);
  r.link = rd32(raw + 12);
  r.crc = rd32(raw + 16);
  if (stride > SF_OVL_DIR_RECORD) memcpy(r.mac, raw + SF_OVL_DIR_RECORD, SF_OVL_MAC_SIZE);
  if (r.link != (uint32_t)slot_addr(slot) + SF_OVL_SLOT_HEADER) return SF_ERR_OVERLAY_IMAGE;
  if (r.size + SF_OVL_SLOT_HEADER > slot_bytes()) return SF_ERR_NO_SLOT;
  return SF_OK;
}

static void make_slot_header(uint8_t *h, uint8_t seg, uint8_t slot, const Record &r) {
  h[0] = (uint8_t)SF_OVL_SLOT_MAGIC; h[1] = SF_OVL_SLOT_MAGIC >> 8; h[2] = seg; h[3] = slot;
  h[4] = (uint8_t)r.size; h[5] = r.size >> 8; h[6] = 1; h[7] = 0xFF;
  uint32_t b = build_id();
  memcpy(h + 8, &b, 4);
  memcpy(h + 12, &r.crc, 4);
}

// ---- residency ---------------------------------------------------------------------------------------------
static void set_resident(uint8_t seg, uint8_t slot) {
  seg_in[slot] = seg;
  uint16_t w = (uint16_t)((slot_addr(slot) + SF_OVL_SLOT_HEADER) >> 1);
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
  uint32_t bid = build_id();
  for (uint8_t k = 0; k < n_slots; k++) {
    seg_in[k] = SF_OVL_NOT_RESIDENT;
    uint8_t h[SF_OVL_SLOT_HEADER];
    ovl_addr_t a = slot_addr(k);
    for (uint8_t i = 0; i < SF_OVL_SLOT_HEADER; i++) h[i] = fl_rd(a + i);
    uint16_t size = rd16(h + 4);
    if (rd16(h) != SF_OVL_SLOT_MAGIC || h[6] != 1 || h[3] != k || h[2] >= nseg() || rd32(h + 8) != bid ||
        size + SF_OVL_SLOT_HEADER > slot_bytes())
      continue;
    if (crc_flash(a + SF_OVL_SLOT_HEADER, size) != rd32(h + 12)) continue;  // torn or stale: not resident
    if (__sf_ovl_base[h[2]]) continue;  // already resident in a lower slot (a copy): use that one
    set_resident(h[2], k);
  }
}

#if SPAREFLASH_OVERLAY_BOOTPAGE
static sf_status_t bootpage_present();
#endif

sf_status_t OverlayManager::begin(uint32_t norAddr, uint32_t expectedJedec, const uint8_t *macKey) {
  norAddr_ = norAddr;
  key_ = macKey;
  for (uint8_t s = 0; s < nseg(); s++) {
    __sf_ovl_base[s] = 0;
    __sf_ovl_gap[s] = 0xFF;
    __sf_ovl_stamp[s] = 0;
  }
  memset(seen, 0, sizeof seen);
  uint16_t n = sf_slot_count();
  n_slots = n > SF_OVL_MAX_SLOTS ? 0 : (uint8_t)n;
  for (uint8_t k = 0; k < SF_OVL_MAX_SLOTS; k++) {
    uint32_t e = 0;
#if SPAREFLASH_OVERLAY_EEPROM_COUNTERS
    if (eepromAddr1_ && k < n_slots) {
      e = eeprom_read_dword((const uint32_t *)(eepromAddr1_ - 1 + 4 * k));
      if (e == 0xFFFFFFFFUL) e = 0;  // erased EEPROM: never counted
    }
#endif
    erase_count[k] = e;
  }
  if (n_slots == 0) return image_ = last_ = SF_ERR_NO_SLOT;
  scanSlots();
  sf_status_t st = sf_flash_begin();
#if SPAREFLASH_OVERLAY_BOOTPAGE
  if (st == SF_OK) st = bootpage_present();
#endif
  if (st == SF_OK) st = nor.begin(expectedJedec);
  if (st == SF_OK) st = checkImage();
  image_ = st;
  return last_ = st;
}

uint8_t OverlayManager::segmentCount() const { return nseg(); }
uint8_t OverlayManager::slotCount() const { return n_slots; }
uint32_t OverlayManager::erases(uint8_t slot) const { return slot < SF_OVL_MAX_SLOTS ? erase_count[slot] : 0; }
int8_t OverlayManager::slotOf(uint8_t segment) const {
  for (uint8_t k = 0; k < n_slots; k++)
    if (seg_in[k] == segment) return (int8_t)k;
  return -1;
}
int16_t OverlayManager::segmentIn(uint8_t slot) const {
  return slot < n_slots && seg_in[slot] != SF_OVL_NOT_RESIDENT ? seg_in[slot] : -1;
}

// ---- the load ----------------------------------------------------------------------------------------------
// Two streaming passes over the segment in the NOR chip (docs/overlay-format.md, "Load procedure"):
//   A (before anything is erased): CRC-32 (+ SipHash) and Fletcher-16 of the code, and per slot page whether it
//      differs from what is in flash and whether it is blank (so no page is read again to decide on an erase);
//   B: the differing pages are erased and programmed from a second read, each byte loaded into the SPM page
//      buffer as it arrives; a Fletcher-16 over pass B must equal pass A's, so the bytes programmed are the bytes
//      that were verified (a cheap check: CRC-32 again would cost ~25-50 cycles a byte); the header page (header
//      + first code bytes) is programmed last, from a third read of its few code bytes, checked against pass A's
//      Fletcher-16 of them (no second page buffer in RAM).
// Every page is read back in full after its program; after a reset scanSlots checks the CRC-32 again.
static void __attribute__((noinline)) bit_set(uint8_t *m, uint8_t p) { m[p >> 3] |= (uint8_t)(1 << (p & 7)); }
static bool __attribute__((noinline)) bit_get(const uint8_t *m, uint8_t p) { return m[p >> 3] & (1 << (p & 7)); }

struct StreamSums {  // what a pass has computed over the bytes streamed so far
  uint32_t crc;
  uint8_t f1, f2;  // Fletcher-16 (8-bit sums)
};

// Pass A over n code bytes (1..SPM_PAGESIZE) of the slot page at `a`: each byte goes through the CRC-32 and the
// Fletcher-16; d collects old ^ new (nonzero: the page differs) and e the AND of the old bytes (0xFF: blank).
#if defined(SPDR) && !defined(USICR) && FLASHEND > 0x1FFF && FLASHEND <= 0xFFFF
// Hardware SPI, table CRC, 16-bit flash addresses (ATmega328P/168P/32U4...): the hot loop of a load, in
// assembler. The next byte shifts in (16 cycles at F_CPU/2) while this one is hashed, so the SPI poll finds it
// ready. Once a page is known to differ and not to be blank, the rest of it skips the comparison (phase 2):
// ~35 cycles a byte instead of ~55 for the C loop. The CRC step indexes the table from the low byte and shifts
// the other three down as it xors the entry in (no moves).
#define SF_OVL_CRC_STEP                  \
  "mov r30, %A[c]\n\t"                   \
  "eor r30, %[b]\n\t"                    \
  "ldi r31, 0\n\t"                       \
  "lsl r30\n\t"                          \
  "rol r31\n\t"                          \
  "lsl r30\n\t"                          \
  "rol r31\n\t"                          \
  "subi r30, lo8(-(%[tab]))\n\t"         \
  "sbci r31, hi8(-(%[tab]))\n\t"         \
  "lpm %A[c], Z+\n\t"                    \
  "eor %A[c], %B[c]\n\t"                 \
  "lpm %B[c], Z+\n\t"                    \
  "eor %B[c], %C[c]\n\t"                 \
  "lpm %C[c], Z+\n\t"                    \
  "eor %C[c], %D[c]\n\t"                 \
  "lpm %D[c], Z\n\t"                     \
  "add %[f1], %[b]\n\t"                  \
  "add %[f2], %[f1]\n\t"
static void __attribute__((noinline)) pass_a_page(SpiNor &, StreamSums &s, ovl_addr_t a, uint16_t count,
                                                  uint8_t &dr, uint8_t &er) {
  uint32_t c = s.crc;
  uint8_t f1 = s.f1, f2 = s.f2, d = dr, e = er, n = (uint8_t)count, b, t;  // n = 0: 256 (dec wraps)
  const uint8_t ff = 0xFF;
  __asm__ volatile(
      "1: in %[t], %[spsr]\n\t"  // phase 1: hash and compare
      "sbrs %[t], %[spif]\n\t"
      "rjmp 1b\n\t"
      "in %[b], %[spdr]\n\t"
      "out %[spdr], %[ff]\n\t"  // the next byte starts shifting now
      "movw r30, %[a]\n\t"
      "lpm %[t], Z+\n\t"
      "movw %[a], r30\n\t"
      "and %[e], %[t]\n\t"
      "eor %[t], %[b]\n\t"
      "or %[d], %[t]\n\t"  //
      SF_OVL_CRC_STEP
      "dec %[n]\n\t"
      "brne 6f\n\t"
      "rjmp 3f\n"  // (out of a branch's reach)
      "6: tst %[d]\n\t"
      "breq 1b\n\t"
      "cpi %[e], 0xFF\n\t"
      "breq 1b\n"
      "sbrs %[n], 0\n\t"  // phase 2: the page differs and is not blank, only hash; two bytes a round (the
      "rjmp 2f\n"         // loop count costs 1.5 cycles a byte less), an odd byte first
      "4: in %[t], %[spsr]\n\t"
      "sbrs %[t], %[spif]\n\t"
      "rjmp 4b\n\t"
      "in %[b], %[spdr]\n\t"
      "out %[spdr], %[ff]\n\t"  //
      SF_OVL_CRC_STEP
      "dec %[n]\n\t"
      "breq 3f\n"
      "2: in %[t], %[spsr]\n\t"
      "sbrs %[t], %[spif]\n\t"
      "rjmp 2b\n\t"
      "in %[b], %[spdr]\n\t"
      "out %[spdr], %[ff]\n\t"  //
      SF_OVL_CRC_STEP
      "5: in %[t], %[spsr]\n\t"
      "sbrs %[t], %[spif]\n\t"
      "rjmp 5b\n\t"
      "in %[b], %[spdr]\n\t"
      "out %[spdr], %[ff]\n\t"  //
      SF_OVL_CRC_STEP
      "subi %[n], 2\n\t"
      "brne 2b\n"
      "3:"
      : [c] "+r"(c), [f1] "+r"(f1), [f2] "+r"(f2), [d] "+r"(d), [e] "+d"(e), [n] "+d"(n), [a] "+r"(a),
        [b] "=&r"(b), [t] "=&r"(t)
      : [ff] "r"(ff), [tab] "i"(crc_table), [spsr] "I"(_SFR_IO_ADDR(SPSR)), [spdr] "I"(_SFR_IO_ADDR(SPDR)),
        [spif] "I"(SPIF)
      : "r30", "r31");
  s.crc = c;
  s.f1 = f1;
  s.f2 = f2;
  dr = d;
  er = e;
}
#else
static void __attribute__((noinline)) pass_a_page(SpiNor &nor, StreamSums &s, ovl_addr_t a, uint16_t n, uint8_t &dr,
                                                  uint8_t &er) {
  uint32_t c = s.crc;
  uint8_t f1 = s.f1, f2 = s.f2, d = dr, e = er;
  do {
    uint8_t b = nor.readNext();
    c = crc_byte(c, b);
    f1 += b;
    f2 += f1;
    uint8_t o = fl_rd(a++);
    d |= (uint8_t)(o ^ b);
    e &= o;
  } while (--n);
  s.crc = c;
  s.f1 = f1;
  s.f2 = f2;
  dr = d;
  er = e;
}
#endif

#if !SPAREFLASH_OVERLAY_BOOTPAGE
// n bytes of the stream through the Fletcher-16 only (pass B over pages that need no write).
static void sum_stream(SpiNor &nor, uint16_t n, StreamSums &g) {
  uint8_t f1 = g.f1, f2 = g.f2;
  while (n--) {
    f1 += nor.readNext();
    f2 += f1;
  }
  g.f1 = f1;
  g.f2 = f2;
}

#if SPAREFLASH_BACKEND != SPAREFLASH_BACKEND_URBOOT
// The loader drives the SPM page buffer itself through the flash layer's backend entry (spareflash_flash.cpp:
// one SPM, waits for completion and re-enables the RWW section; the bootstub fences the address again), so pass
// B loads each word as it arrives instead of buffering the page and filling it from RAM afterwards, and an
// erase is not read back separately (see erase_page). The pages are slot pages computed from the plan's slot
// symbols, inside the reserved regions, and sf_flash_begin() succeeded (a load needs image_ == SF_OK, which
// begin() only sets after it). On 8 KB parts this also keeps sf_flash_program/erase_page out of the image.
extern "C" sf_status_t sf__backend_spm(sf_addr_t a, uint8_t spmcsr, uint16_t data);

// Erase a slot page without reading it back: every page the loader erases is then programmed in full and read
// back in full, and a page write ANDs, so that read-back (src & old == src) passes only if the erase left every
// needed 1 bit (the header page's erase, the invalidation, is checked on its own: loadIntoChecked).
static sf_status_t erase_page(ovl_addr_t pa) {
  uint8_t sreg = SREG;
  cli();  // the vector table is unreadable during the erase (RWW); SPM waits for EEPROM writes
  eeprom_busy_wait();
  sf_status_t st = sf__backend_spm(pa, (1 << PGERS) | (1 << SPMEN), 0);
  SREG = sreg;
  return st;
}

// Program the slot page at pa: its first `ram` bytes (even) from page_buf, then the next n bytes of the NOR
// stream, each word loaded into the SPM page buffer as soon as its two bytes have arrived (on the hardware SPI
// the backend call overlaps the next byte's shift) and kept in page_buf. Words not loaded stay 0xFFFF (the page
// buffer is blank after every page write and RWW re-enable, see sf_flash_program). The whole page is read back
// against page_buf (0xFF past the data).
static sf_status_t __attribute__((noinline)) program_page(SpiNor &nor, ovl_addr_t pa, uint16_t ram, uint16_t n,
                                                          StreamSums &g) {
  uint8_t sreg = SREG;
  cli();  // an ISR writing EEPROM would discard the loaded buffer
  eeprom_busy_wait();
  uint8_t *q = page_buf;
  ovl_addr_t w = pa;
  for (; q < page_buf + ram; q += 2, w += 2) sf__backend_spm(w, 1 << SPMEN, (uint16_t)(q[1] << 8) | q[0]);
  uint8_t f1 = g.f1, f2 = g.f2;
  for (; n; w += 2) {
    uint8_t lo = nor.readNext(), hi = 0xFF;  // the first byte arrived during the previous word's call
    f1 += lo;
    f2 += f1;
    q[0] = lo;
    if (--n) {
      hi = nor.readNext();  // the next word's first byte starts shifting: it overlaps the call below
      f1 += hi;
      f2 += f1;
      n--;
    }
    q[1] = hi;
    q += 2;
    // a fill is refused only outside the fence, and then the write below is refused as well
    sf__backend_spm(w, 1 << SPMEN, (uint16_t)(hi << 8) | lo);
  }
  g.f1 = f1;
  g.f2 = f2;
  sf_status_t st = sf__backend_spm(pa, (1 << PGWRT) | (1 << SPMEN), 0);
  SREG = sreg;
  if (st) return st;
  while (q < page_buf + SPM_PAGESIZE) *q++ = 0xFF;
  q = page_buf;
  w = pa;
  do {
    if (fl_rd_inc(w) != *q++) return SF_ERR_VERIFY;
  } while (q < page_buf + SPM_PAGESIZE);
  return SF_OK;
}
#else
// urboot exports only "erase and write this RAM page": the flash layer's own calls, from page_buf.
static sf_status_t erase_page(ovl_addr_t pa) { return sf_flash_erase_page(pa); }
static sf_status_t program_page(SpiNor &nor, ovl_addr_t pa, uint16_t ram, uint16_t n, StreamSums &g) {
  uint8_t *q = page_buf + ram;
  for (; n; n--) {
    uint8_t b = nor.readNext();
    g.f1 += b;
    g.f2 += g.f1;
    *q++ = b;
  }
  while (q < page_buf + SPM_PAGESIZE) *q++ = 0xFF;
  return sf_flash_program(pa, page_buf, SPM_PAGESIZE);
}
#endif
#endif  // !SPAREFLASH_OVERLAY_BOOTPAGE

#if SPAREFLASH_OVERLAY_BOOTPAGE
// The boot-section page helper (overlay_bootpage.S): fill + erase + write of one slot page per call, streaming
// the next page from the NOR chip into the other RAM buffer while the RWW page is erased and written.
extern "C" uint32_t sf_ovl_bootpage(uint16_t page, const uint8_t *src, uint8_t *dst, uint16_t n_ops, uint16_t sums);
static uint8_t page_buf2[SPM_PAGESIZE];  // pass B alternates: one page is programmed while the next arrives

// The helper must be there: an image uploaded without its boot section, or a boot section from a build without
// overlays, has the bootstub (sf_flash_begin checks it) but not the helper, and calling erased flash would run
// into the application. Its first two instructions (the fence, layout dependent) are compared with the same two
// assembled here, as backend_bootstub_call.cpp does for the stub.
static sf_status_t bootpage_present() {
  const uint8_t *ref;
  uint16_t at;
  __asm__("ldi %A0, lo8(1f)\n\t"
          "ldi %B0, hi8(1f)\n\t"
          "ldi %A1, lo8(sf_ovl_bootpage)\n\t"
          "ldi %B1, hi8(sf_ovl_bootpage)\n\t"
          ".pushsection .progmem.sf_bootpage_ref, \"a\", @progbits\n"
          "1: cpi r24, lo8(__spareflash_app_end)\n\t"
          "ldi r26, hi8(__spareflash_app_end)\n\t"
          ".popsection"
          : "=d"(ref), "=d"(at));
  for (uint8_t i = 0; i < 4; i++)
    if (pgm_read_byte(at + i) != pgm_read_byte(ref + i)) return SF_ERR_NO_BACKEND;
  return SF_OK;
}

static sf_status_t boot_page(ovl_addr_t pa, uint8_t *buf, uint8_t *dst, uint8_t n, uint8_t ops, StreamSums &g,
                             uint8_t &unread) {
  uint8_t sreg = SREG;
  cli();  // the vector table is unreadable while the RWW page is busy; an EEPROM write would drop the buffer
  eeprom_busy_wait();
  uint32_t r = sf_ovl_bootpage(pa, buf, dst, (uint16_t)(ops << 8) | n, (uint16_t)(g.f2 << 8) | g.f1);
  SREG = sreg;
  g.f1 = (uint8_t)r;
  g.f2 = (uint8_t)(r >> 8);
  unread = (uint8_t)(r >> 24);
  return (sf_status_t)(r >> 16);
}

// n bytes of the stream into dst and through the Fletcher-16 (when no page operation can hide them).
static void read_into(SpiNor &nor, uint8_t *dst, uint8_t n, StreamSums &g) {
  uint8_t f1 = g.f1, f2 = g.f2;
  for (; n; n--) {
    uint8_t b = nor.readNext();
    *dst++ = b;
    f1 += b;
    f2 += f1;
  }
  g.f1 = f1;
  g.f2 = f2;
}

// The programmed page read back in full against what was loaded (a page write ANDs, so this also proves the
// erase before it): ~7.5 cycles a byte, four bytes a round.
#define SF_OVL_CMP_BYTE "lpm %[t0], Z+\n\tld %[t1], X+\n\tcp %[t0], %[t1]\n\tbrne 2f\n\t"
static bool __attribute__((noinline)) page_matches(ovl_addr_t pa, const uint8_t *q) {
  uint8_t n = SPM_PAGESIZE / 4, t0, t1;
  __asm__ volatile("1: " SF_OVL_CMP_BYTE SF_OVL_CMP_BYTE SF_OVL_CMP_BYTE SF_OVL_CMP_BYTE
                   "dec %[n]\n\t"
                   "brne 1b\n"
                   "2:"
                   : [n] "+r"(n), [t0] "=&r"(t0), [t1] "=&r"(t1), "+z"(pa), "+x"(q));
  return n == 0;
}
#endif

sf_status_t OverlayManager::loadIntoChecked(uint8_t seg, uint8_t slot) {
  Record r;
  sf_status_t st = read_record(nor, norAddr_, recStride_, seg, slot, r);
  if (st) return st;
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
  const ovl_addr_t base = slot_addr(slot);
  const uint8_t pages = (uint8_t)((SF_OVL_SLOT_HEADER + r.size + SPM_PAGESIZE - 1) / SPM_PAGESIZE);
  uint8_t differ[SF_OVL_MAX_PAGES / 8], blank[SF_OVL_MAX_PAGES / 8];
  memset(differ, 0, sizeof differ);
  memset(blank, 0, sizeof blank);
  // pass A: page 0 starts with the slot header
  make_slot_header(page_buf, seg, slot, r);
  uint8_t d = 0, e = 0xFF, any = 0;
  for (uint8_t i = 0; i < SF_OVL_SLOT_HEADER; i++) {
    uint8_t o = fl_rd(base + i);
    d |= (uint8_t)(o ^ page_buf[i]);
    e &= o;
  }
  const uint16_t head = r.size < SPM_PAGESIZE - SF_OVL_SLOT_HEADER ? r.size : SPM_PAGESIZE - SF_OVL_SLOT_HEADER;
  StreamSums s = {0xFFFFFFFFUL, 0, 0};
  uint8_t h1 = 0, h2 = 0;
  ovl_addr_t a = base + SF_OVL_SLOT_HEADER;
  uint16_t n = head, rem = r.size;
  nor.readStart(norAddr_ + r.offset);
  for (uint8_t p = 0;; p++) {
    if (n) {
#if SPAREFLASH_OVERLAY_MAC
      if (key_) {  // (MAC builds: the slower per-byte loop; the MAC dominates anyway)
        for (uint16_t i = 0; i < n; i++, a++) {
          uint8_t b = nor.readNext(), o = fl_rd(a);
          s.crc = crc_byte(s.crc, b);
          s.f1 += b;
          s.f2 += s.f1;
          sip_byte(sip, b);
          d |= (uint8_t)(o ^ b);
          e &= o;
        }
      } else
#endif
      {
        pass_a_page(nor, s, a, n, d, e);
        a += n;
      }
      rem -= n;
    }
    if (p == 0) {  // Fletcher-16 of the header page's code bytes (`head` of them)
      h1 = s.f1;
      h2 = s.f2;
    }
    if (!rem) {
      for (; a < base + (ovl_addr_t)pages * SPM_PAGESIZE; a++) {  // the rest of the last page must be blank
        uint8_t o = fl_rd(a);
        d |= (uint8_t)~o;
        e &= o;
      }
    }
    any |= d;
    if (d) bit_set(differ, p);
    if (e == 0xFF) bit_set(blank, p);
    if (!rem) break;
    d = 0;
    e = 0xFF;
    n = rem < SPM_PAGESIZE ? rem : SPM_PAGESIZE;
  }
  nor.readEnd();
  if (~s.crc != r.crc) return SF_ERR_OVERLAY_CRC;
#if SPAREFLASH_OVERLAY_MAC
  if (key_) {
    uint64_t tag = sip_final(sip);
    if (memcmp(r.mac, &tag, SF_OVL_MAC_SIZE) != 0) return SF_ERR_OVERLAY_MAC;
  }
#endif
  // which pages change, and how many erases that costs (the budget is checked before the first erase)
  if (!any) {  // identical content already there (e.g. moved back to a slot it still fills): no erase
    clear_slot(slot);
    set_resident(seg, slot);
    return SF_OK;
  }
  bit_set(differ, 0);  // the header page is always rewritten (it is invalidated first)
  uint8_t need = 0;
  for (uint8_t p = 0; p < pages; p++)
    if (bit_get(differ, p) && !bit_get(blank, p)) need++;
  if (erase_count[slot] + need > ~budgetInv_) return SF_ERR_WEAR_BUDGET;
#if SPAREFLASH_OVERLAY_EEPROM_COUNTERS
  if (eepromAddr1_)  // counted before erasing: a power cut can over-count, never under-count
    eeprom_update_dword((uint32_t *)(eepromAddr1_ - 1 + 4 * slot), erase_count[slot] + need);
#endif
  // invalidate: the header page goes first (erased and read back), so a cut from here on leaves no valid header
  clear_slot(slot);
#if SPAREFLASH_OVERLAY_BOOTPAGE
  // Pass B through the boot-section helper, one call per page: fill + erase + write. On an NRWW page the CPU is
  // halted during the operations, so the helper fills the page buffer straight from the stream (the fill hides
  // in the SPI byte time, the bytes are kept in RAM for the read-back). On an RWW page it runs on during them:
  // there the page is filled from RAM and the next chunk streams into the other buffer during the erase (page
  // 1's bytes during page 0's erase, page p+1's during page p's, and during the last page the header page's
  // code bytes, read a third time from the segment's start); the helper reports what it could not read ahead.
  // Pass B's Fletcher-16 starts from pass A's over the header-page bytes and must end at pass A's total; the
  // third read must give pass A's header-page sums.
  uint8_t *cur = page_buf, *nxt = page_buf2, unread;
  StreamSums g = {0, h1, h2}, hs = {0, 0, 0};
  uint16_t rest = r.size - head;
  bool ahead = false, head_in = false;  // cur holds the next page's bytes / page 0's code bytes (at +16)
  nor.readStart(norAddr_ + r.offset + head);
  if (!bit_get(blank, 0)) {
    n = rest < SPM_PAGESIZE ? rest : SPM_PAGESIZE;  // page 1's bytes (0 with a single page)
    st = boot_page(base, cur, cur, (uint8_t)n, 1 << SF_OVL_BP_ERASE, g, unread);
    if (st) goto out;
    erase_count[slot]++;
    erased_++;
    if ((fl_rd(base) & fl_rd(base + 1)) != 0xFF) {  // the old magic must be gone first
      st = SF_ERR_VERIFY;
      goto out;
    }
    if (unread != n) {  // (an RWW page) finish what the erase did not cover
      read_into(nor, cur + n - unread, unread, g);
      ahead = true;
    }
  }
  for (uint8_t p = 1; p < pages; p++) {
    const uint8_t cnt = (uint8_t)(rest < SPM_PAGESIZE ? rest : SPM_PAGESIZE);
    rest -= cnt;
    const ovl_addr_t pa = base + (ovl_addr_t)p * SPM_PAGESIZE;
    if (!bit_get(differ, p)) {
      if (!ahead) read_into(nor, cur, cnt, g);  // its bytes only go through the checksum
      ahead = false;
      continue;
    }
    uint8_t ops = 1 << SF_OVL_BP_WRITE;
    if (!bit_get(blank, p)) ops |= 1 << SF_OVL_BP_ERASE;
    memset(cur + cnt, 0xFF, SPM_PAGESIZE - cnt);
    if (ahead) {  // fill from RAM, read the next chunk during the operation
      uint8_t *d = nxt;
      StreamSums *ps = &g;
      n = rest < SPM_PAGESIZE ? rest : SPM_PAGESIZE;
      if (p == pages - 1) {
        nor.readEnd();
        nor.readStart(norAddr_ + r.offset);
        n = head;
        d = nxt + SF_OVL_SLOT_HEADER;
        ps = &hs;
      }
      st = boot_page(pa, cur, d, (uint8_t)n, ops, *ps, unread);
      if (st) break;
      ahead = unread != n || p == pages - 1;
      if (ahead) read_into(nor, d + n - unread, unread, *ps);
    } else {  // fill from the stream
      st = boot_page(pa, cur, 0, cnt, ops | (1 << SF_OVL_BP_STREAM), g, unread);
      if (st) break;
    }
    if (ops & (1 << SF_OVL_BP_ERASE)) {
      erase_count[slot]++;
      erased_++;
    }
    written_++;
    if (!page_matches(pa, cur)) {
      st = SF_ERR_VERIFY;
      break;
    }
    if (ahead) {
      uint8_t *t = cur;
      cur = nxt;
      nxt = t;
      head_in = p == pages - 1;
    }
  }
out:
  nor.readEnd();
  if (st) return st;
  const uint8_t sreg = SREG;
  cli();  // (an EEPROM write by an ISR would drop a page buffer loaded by one call and written by the next)
  if (!head_in) {  // no RWW operation read them ahead: page 0 is filled straight from a third read
    make_slot_header(cur, seg, slot, r);
    memset(cur + SF_OVL_SLOT_HEADER + head, 0xFF, SPM_PAGESIZE - SF_OVL_SLOT_HEADER - head);
    nor.readStart(norAddr_ + r.offset);
    st = boot_page(base, cur, 0, (uint8_t)head, (1 << SF_OVL_BP_STREAM) | (1 << SF_OVL_BP_HEAD), hs, unread);
    nor.readEnd();  // (the page buffer is loaded: the write below happens only after the checks)
  }
  // the chip gave other bytes than in pass A (pass B's pages, or the header page's third read)
  if (!st && (g.f1 != s.f1 || g.f2 != s.f2 || hs.f1 != h1 || hs.f2 != h2)) st = SF_ERR_OVERLAY_CRC;
  if (!st) {  // the header page last (cur: header + its code bytes): from this write on the slot is valid
    uint8_t ops = 1 << SF_OVL_BP_WRITE;
    if (head_in) {
      make_slot_header(cur, seg, slot, r);
      memset(cur + SF_OVL_SLOT_HEADER + head, 0xFF, SPM_PAGESIZE - SF_OVL_SLOT_HEADER - head);
    } else {
      ops |= 1 << SF_OVL_BP_STREAM;  // with n = 0: the buffer the call above loaded
    }
    st = boot_page(base, cur, 0, 0, ops, g, unread);
  }
  SREG = sreg;
  if (st) return st;
  written_++;
  if (!page_matches(base, cur)) return SF_ERR_VERIFY;
#else
  if (!bit_get(blank, 0)) {
    if ((st = erase_page(base))) return st;
    erase_count[slot]++;
    erased_++;
    if ((fl_rd(base) & fl_rd(base + 1)) != 0xFF) return SF_ERR_VERIFY;  // the old magic must be gone first
  }
  // pass B: stream the code again, program the differing pages (page 0's bytes only go through the checksum)
  StreamSums g = {0, 0, 0};
  nor.readStart(norAddr_ + r.offset);
  sum_stream(nor, head, g);
  uint16_t left = r.size - head;
  for (uint8_t p = 1; p < pages; p++) {
    n = left < SPM_PAGESIZE ? left : SPM_PAGESIZE;
    left -= n;
    if (!bit_get(differ, p)) {
      sum_stream(nor, n, g);
      continue;
    }
    ovl_addr_t pa = base + (ovl_addr_t)p * SPM_PAGESIZE;
    if (!bit_get(blank, p)) {
      if ((st = erase_page(pa))) break;
      erase_count[slot]++;
      erased_++;
    }
    if ((st = program_page(nor, pa, 0, n, g))) break;
    written_++;
  }
  nor.readEnd();
  if (st) return st;
  if (g.f1 != s.f1 || g.f2 != s.f2) return SF_ERR_OVERLAY_CRC;  // the chip gave other bytes than in pass A
  // the header page last: from this write on the slot is valid
  make_slot_header(page_buf, seg, slot, r);
  nor.read(norAddr_ + r.offset, page_buf + SF_OVL_SLOT_HEADER, head);
  g.f1 = g.f2 = 0;
  for (uint8_t i = 0; i < head; i++) {
    g.f1 += page_buf[SF_OVL_SLOT_HEADER + i];
    g.f2 += g.f1;
  }
  if (g.f1 != h1 || g.f2 != h2) return SF_ERR_OVERLAY_CRC;
  memset(page_buf + SF_OVL_SLOT_HEADER + head, 0xFF, SPM_PAGESIZE - SF_OVL_SLOT_HEADER - head);
  if ((st = program_page(nor, base, SPM_PAGESIZE, 0, g))) return st;
  written_++;
#endif
  set_resident(seg, slot);
  loads_++;
  return SF_OK;
}

sf_status_t OverlayManager::loadInto(uint8_t seg, uint8_t slot) {
  if (seg >= nseg()) return last_ = SF_ERR_NO_OVERLAY;
  if (slot >= n_slots) return last_ = SF_ERR_NO_SLOT;
  if (image_) return last_ = image_;
  if (seg_in[slot] == seg) return last_ = SF_OK;
  int8_t other = slotOf(seg);
  sf_status_t st = loadIntoChecked(seg, slot);
  // one copy is enough: forget the other slot (its bytes stay; a later load back finds them equal). Only the
  // slot's owner: clear_slot would also zero the segment's base, which set_resident just pointed at `slot`.
  if (st == SF_OK && other >= 0) seg_in[(uint8_t)other] = SF_OVL_NOT_RESIDENT;
  return last_ = st;
}

// The firmware's replacement policy; policy.py StatsPolicy is its model (same arithmetic, same tie-break).
uint8_t OverlayManager::pickSlot(uint8_t seg, uint8_t protectedMask) {
  uint8_t n = n_slots;
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
  uint16_t hi = lo + size_w * n_slots;
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

#endif  // SPAREFLASH_STORAGE_FORMAT != 2
