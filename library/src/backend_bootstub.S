; SpareFlash bootstub: the library's own SPM routine, placed in the boot section.
;
; Only the boot section may execute SPM on a megaAVR, so this routine is linked into its own section
; `.spareflash_bootstub`, which the plan places at the start of the boot section
; (-Wl,--section-start=.spareflash_bootstub=<__spareflash_boot_start>). Its entry is that section start.
;
; C prototype (avr-gcc ABI, so it can be called like any function):
;   uint8_t sf_bootstub_spm(uint32_t addr /* r22..r25 */, uint8_t spmcsr /* r20 */, uint16_t data /* r18:r19 */);
;   returns 0 (SF_OK) after the SPM completed, SF_ERR_FENCE when addr is outside the reserved regions.
; spmcsr is masked to PGWRT|PGERS|SPMEN: page-buffer fill (0x01), page erase (0x03) and page write (0x05) only;
; lock-bit writes (BLBSET) and signature reads are not reachable through the stub. Clobbers r0, r20, r21,
; r26, r27, r30, r31 (all call-clobbered) and returns with r1 = 0.
;
; The fence: addr must satisfy __spareflash_app_end <= addr < __spareflash_boot_start (the reserved regions are
; contiguous between those two symbols). This keeps page 0, every application page and the boot section
; (this stub, or anything above it) out of reach of erase and write. The compare uses the same address bits the
; hardware uses (16 bits; 24 bits with RAMPZ on parts with more than 64 KB, the ATmega2560): an address with high bits the hardware would
; ignore compares >= boot_start and is refused, so it cannot alias onto a low page.
;
; Robustness against a wild jump into the middle of the stub (corrupted function pointer or return address):
; the fence check and the SPM are one straight-line path, and Z/RAMPZ are loaded from the *checked* argument
; registers only after the last fence branch. The residual window is the 4-5 instructions between the last
; branch and the `spm` (movw Z / out RAMPZ / movw r0 / out SPMCSR): a jump landing exactly there with a valid
; command in r20 and a harmful address in r22..r24 bypasses the fence. A jump straight onto `spm` does nothing
; unless SPMCSR was written in the 4 cycles before (SPMEN self-clears), which only deliberate code can arrange.
; See docs/backends.md.
;
; RWW rules: while a page of the RWW section is erased/written the RWW section cannot be read (RWWSB=1), so the
; stub (in the NRWW boot section) waits for SPMEN to clear and then re-enables the RWW section (RWWSRE) before
; returning into application code. Interrupts must be off during the call (the vector table is in the RWW
; section); the C side (backend_bootstub_call.cpp) does that and waits for EEPROM writes first.

#include <avr/io.h>
#include "spareflash_flash.h"

#if SPAREFLASH_BACKEND == SPAREFLASH_BACKEND_BOOTSTUB

#define IO(reg) _SFR_IO_ADDR(reg)

        .section .spareflash_bootstub, "ax", @progbits
        .global sf_bootstub_spm
        .type   sf_bootstub_spm, @function
sf_bootstub_spm:
        ; --- fence, lower bound: addr >= __spareflash_app_end --------------------------------------------
        cpi     r22, lo8(__spareflash_app_end)
        ldi     r26, hi8(__spareflash_app_end)
        cpc     r23, r26
#if FLASHEND > 0xFFFF
        ldi     r26, hh8(__spareflash_app_end)
        cpc     r24, r26
#endif
        brlo    1f
        ; --- fence, upper bound: addr < __spareflash_boot_start -------------------------------------------
        cpi     r22, lo8(__spareflash_boot_start)
        ldi     r26, hi8(__spareflash_boot_start)
        cpc     r23, r26
#if FLASHEND > 0xFFFF
        ldi     r26, hh8(__spareflash_boot_start)
        cpc     r24, r26
#endif
        brsh    1f
        ; --- straight line from here to the spm: Z is loaded only now, from the checked registers --------
        andi    r20, (1 << PGWRT) | (1 << PGERS) | (1 << SPMEN)
        movw    r30, r22
#if FLASHEND > 0xFFFF
        out     IO(RAMPZ), r24
#endif
        movw    r0, r18
        out     IO(SPMCSR), r20
        spm
        ; --- wait for completion, then make the RWW section readable again ---------------------------------
2:      in      r0, IO(SPMCSR)
        sbrc    r0, SPMEN
        rjmp    2b
        sbrs    r0, RWWSB
        rjmp    3f
        ldi     r20, (1 << RWWSRE) | (1 << SPMEN)
        out     IO(SPMCSR), r20
        spm
        rjmp    2b
3:      clr     r1
        clr     r24
        ret
1:      ldi     r24, SF_ERR_FENCE
        ret
        .size   sf_bootstub_spm, . - sf_bootstub_spm

#endif
