// Segment "text": string encodings. text_digest() calls segment "hash" through its resident stub.
#include <Overlay.h>
#include <stdint.h>

#include "api.h"


SPAREFLASH_OVERLAY(text) uint8_t text_base64(const char *s, char *out) {
  uint8_t n = 0;
  while (s[0]) {
    uint8_t b0 = (uint8_t)s[0], b1 = s[1] ? (uint8_t)s[1] : 0, b2 = (s[1] && s[2]) ? (uint8_t)s[2] : 0;
    uint8_t len = s[1] ? (s[2] ? 3 : 2) : 1;
    uint8_t idx[4] = {(uint8_t)(b0 >> 2), (uint8_t)(((b0 & 3) << 4) | (b1 >> 4)),
                      (uint8_t)(((b1 & 15) << 2) | (b2 >> 6)), (uint8_t)(b2 & 63)};
    for (uint8_t k = 0; k < 4; k++) {
      uint8_t v = idx[k];
      char c = v < 26 ? 'A' + v : v < 52 ? 'a' + v - 26 : v < 62 ? '0' + v - 52 : v == 62 ? '+' : '/';
      out[n++] = k > len ? '=' : c;
    }
    s += len;
  }
  out[n] = 0;
  return n;
}

SPAREFLASH_OVERLAY(text) void text_rot13_upper(char *s) {
  for (; *s; s++) {
    char c = *s;
    if (c >= 'a' && c <= 'z') c = (char)('a' + (c - 'a' + 13) % 26);
    else if (c >= 'A' && c <= 'Z') c = (char)('A' + (c - 'A' + 13) % 26);
    if (c >= 'a' && c <= 'z') c = (char)(c - 32);
    *s = c;
  }
}

SPAREFLASH_OVERLAY(text) uint8_t text_itoa(uint32_t v, uint8_t base, char *out) {
  char tmp[33];  // 32 binary digits
  uint8_t n = 0;
  do {
    uint8_t d = (uint8_t)(v % base);
    tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    v /= base;
  } while (v);
  for (uint8_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  out[n] = 0;
  return n;
}

SPAREFLASH_OVERLAY(text) uint32_t text_digest(const char *s) {  // base64, then FNV-1a of the text (segment hash)
  char buf[32] = {0};  // base64 of up to 21 characters; zeroed: stale stack bytes can look like slot addresses
  text_base64(s, buf);
  return hash_fnv1a(buf);
}
