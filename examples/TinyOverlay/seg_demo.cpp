// Segments "demo_a" and "demo_b": the driver code is overlaid too. Each calls the other segments through their
// stubs; the loader never evicts the demo segment while it is on the call stack (its return addresses are),
// so with two slots the callees take turns in the other slot.
#include <Overlay.h>
#include <stdint.h>

#include "api.h"
#include "console.h"



SPAREFLASH_OVERLAY(demo_a) void demo_a(uint8_t round) {
  con_kv_P(SPAREFLASH_OVERLAY_STR(demo_a, "fnv1a"), hash_fnv1a(msg));
  con_kv_P(SPAREFLASH_OVERLAY_STR(demo_a, "djb2"), hash_djb2(msg));
  con_kv_P(SPAREFLASH_OVERLAY_STR(demo_a, "adler32"), hash_adler32(msg));
  con_kv_P(SPAREFLASH_OVERLAY_STR(demo_a, "crc16"), hash_crc16(digits));
  con_kv_P(SPAREFLASH_OVERLAY_STR(demo_a, "mix"), hash_mix(round + 1, 5));
  con_kv_P(SPAREFLASH_OVERLAY_STR(demo_a, "xorshift"), hash_xorshift_sum(2463534242UL + round, 200));
  con_kv_P(SPAREFLASH_OVERLAY_STR(demo_a, "isqrt"), num_isqrt(1000000007UL + round));
  con_kv_P(SPAREFLASH_OVERLAY_STR(demo_a, "collatz"), num_collatz_longest(300));
  con_kv_P(SPAREFLASH_OVERLAY_STR(demo_a, "primes"), num_primes_below(600));
  con_kv_P(SPAREFLASH_OVERLAY_STR(demo_a, "modpow"), num_modpow(7, 65537UL + round, 1000003UL));
}

// The buffers are static, not on the stack: the loader keeps every slot whose code address appears in a live
// stack frame (it cannot tell a return address from stale bytes in an uninitialised local array), and with
// two slots one stale "address" in a buffer would leave no slot for the callee (SF_ERR_NO_SLOT).
SPAREFLASH_OVERLAY(demo_b) static void demo_sort(uint8_t round) {
  static int16_t a[20];
  sort_fill(a, 20, 1234 + round);
  con_kv_P(SPAREFLASH_OVERLAY_STR(demo_b, "inversions"), sort_inversions(a, 20));
  sort_shell(a, 20);
  con_kv_P(SPAREFLASH_OVERLAY_STR(demo_b, "sorted_sig"), sort_signature(a, 20));
  sort_fill(a, 19, 99 + round);
  con_kv_P(SPAREFLASH_OVERLAY_STR(demo_b, "median"), (uint16_t)sort_median(a, 19));
}

SPAREFLASH_OVERLAY(demo_b) static void demo_text(uint8_t round) {
  static char buf[30];  // base64 of the 19-character message: 28 characters
  text_base64(msg, buf);
  con_text_P(SPAREFLASH_OVERLAY_STR(demo_b, "base64"), buf);
  text_rot13_upper(buf);
  con_text_P(SPAREFLASH_OVERLAY_STR(demo_b, "rot13"), buf);
  text_itoa(3735928559UL - round, 36, buf);
  con_text_P(SPAREFLASH_OVERLAY_STR(demo_b, "base36"), buf);
}

SPAREFLASH_OVERLAY(demo_b) void demo_b(uint8_t round) {
  demo_sort(round);
  con_kv_P(SPAREFLASH_OVERLAY_STR(demo_b, "sin1"), (uint32_t)fixed_sin(4096L));
  con_kv_P(SPAREFLASH_OVERLAY_STR(demo_b, "exp_half"), (uint32_t)fixed_exp(2048L));
  con_kv_P(SPAREFLASH_OVERLAY_STR(demo_b, "sqrt2"), (uint32_t)fixed_sqrt(2 * 4096L));
  con_kv_P(SPAREFLASH_OVERLAY_STR(demo_b, "poly"), (uint32_t)fixed_poly(-7 + round));
  demo_text(round);
}
