; SpareFlash overlay loader: one slot page at a time from the boot section (bootstub backend, RWW parts).
;
; Why it exists: the per-word path calls the bootstub once per page-buffer word and the CPU sits idle in the
; stub's wait loop for the 2 x 4.5 ms of every page's erase and write. Code in the NRWW boot section keeps running
; while an RWW page is erased or written (datasheet "Read-While-Write"), so this helper, placed next to the
; bootstub (section .spareflash_bootpage, which the plan puts at __spareflash_boot_start + 64), fills the page
; buffer from a RAM page, erases, and streams the NEXT page from the NOR chip into another RAM buffer while the
; erase and write run. Only the overlay loader references it (Overlay.cpp): without overlays --gc-sections drops
; it. docs/backends.md and docs/overlay-format.md section 5 describe its use.
;
;; C prototype (avr-gcc ABI):
;   uint32_t sf_ovl_bootpage(uint16_t page /* r24:r25 */, uint8_t *buf /* r22:r23 */,
;                            uint8_t *dst /* r20:r21 */, uint16_t n_ops /* r18 = n, r19 = ops */,
;                            uint16_t sums /* r16 = f1, r17 = f2 */);
; ops (overlay_bootpage.h):
;   SF_OVL_BP_STREAM: fill the page buffer from the next n bytes of the NOR stream (SpiNor::readStart protocol:
;     one byte in flight, SPIF polled, 0xFF sent), a copy of each byte to buf and through the Fletcher-16 sums;
;     an odd last byte gets 0xFF beside it; words after it are not loaded (the buffer is blank after every page
;     write and reset: they stay 0xFFFF). The fill work hides in the SPI's 16-cycle byte time.
;   SF_OVL_BP_HEAD (with STREAM): first the SF_OVL_BP_HEAD_BYTES bytes at buf (the slot header), then the stream
;     (its copy at buf + SF_OVL_BP_HEAD_BYTES).
;   SF_OVL_BP_WRITE without STREAM: fill the whole page buffer from buf (RAM, SPM_PAGESIZE bytes); then, during
;     the first page operation and only if it is still running (an RWW page: the CPU runs on in this NRWW code;
;     an NRWW page halts the CPU until it is done), the next n bytes of the stream go to dst and through the sums.
;   SF_OVL_BP_ERASE: erase the page (after the fill: datasheet "alternative 1", a buffer loaded before the erase
;     is kept). SF_OVL_BP_WRITE: write the page. At least one of the two.
;   Then the RWW section is re-enabled.
; Returns r22 = f1, r23 = f2, r24 = 0 (SF_OK) and r25 = bytes of dst NOT read (the caller reads them), or
; r24 = SF_ERR_FENCE (nothing done) when page is outside [__spareflash_app_end, __spareflash_boot_start).
; Clobbers r0, r18-r27, r30, r31; r16/r17 are only read, r28 is saved; returns with r1 = 0. Interrupts must be
; off and no EEPROM write in progress (the caller's job: the vector table is in the RWW section, and an EEPROM
; write discards the loaded page buffer).
;
; The fence is the bootstub's (same symbols, same 16-bit compare) and is checked first; Z is loaded from the
; checked r24:r25 only after it. Both bounds are page aligned, so the whole page lies inside. No call leaves the
; boot section (the RWW section is unreadable while a page operation runs): rcall only reaches local routines.

#include <avr/io.h>
#include "spareflash_flash.h"
#include "overlay_bootpage.h"

#if SPAREFLASH_OVERLAY_BOOTPAGE

#define IO(reg) _SFR_IO_ADDR(reg)

        .section .spareflash_bootpage, "ax", @progbits
        .global sf_ovl_bootpage
        .type   sf_ovl_bootpage, @function
sf_ovl_bootpage:
        ; --- fence: __spareflash_app_end <= page < __spareflash_boot_start -----------------------------------
        cpi     r24, lo8(__spareflash_app_end)
        ldi     r26, hi8(__spareflash_app_end)
        cpc     r25, r26
        brlo    9f
        cpi     r24, lo8(__spareflash_boot_start)
        ldi     r26, hi8(__spareflash_boot_start)
        cpc     r25, r26
        brlo    8f
9:      ldi     r24, SF_ERR_FENCE       ; (here: the body is beyond a conditional branch's reach)
        ret
8:      push    r28
        ldi     r28, 0xFF               ; what the stream sends, and the pad byte
        movw    r26, r22                ; X = buf
        ldi     r22, (1 << SPMEN)
        movw    r30, r24                ; Z = page, from the checked registers
        sbrs    r19, SF_OVL_BP_STREAM
        rjmp    6f
        ; --- fill from the stream: two bytes, one buffer word ----------------------------------------------
        movw    r20, r16                ; r20 = f1, r21 = f2
        sbrs    r19, SF_OVL_BP_HEAD     ; the slot header page: its 16 header bytes from buf first
        rjmp    1f
        ldi     r23, SF_OVL_BP_HEAD_BYTES / 2
0:      ld      r0, X+
        ld      r1, X+
        out     IO(SPMCSR), r22
        spm
        adiw    r30, 2
        dec     r23
        brne    0b
1:      tst     r18                     ; (n = 0: nothing to stream, the buffer was loaded by an earlier call)
        breq    8f
11:     in      r23, IO(SPSR)
        sbrs    r23, SPIF
        rjmp    11b
        in      r0, IO(SPDR)
        out     IO(SPDR), r28
        st      X+, r0
        add     r20, r0
        add     r21, r20
        mov     r1, r28
        nop                             ; (2 + 1 nops: the polls below find SPIF on their first look at
        nop                             ;  F_CPU/2, 2 x ~18.5 cycles a word instead of 2 x ~21 in the simulator)
        dec     r18
        breq    3f
12:     in      r23, IO(SPSR)
        sbrs    r23, SPIF
        rjmp    12b
        in      r1, IO(SPDR)
        out     IO(SPDR), r28
        st      X+, r1
        add     r20, r1
        add     r21, r20
        out     IO(SPMCSR), r22
        spm
        adiw    r30, 2
        nop
        dec     r18
        brne    11b
        rjmp    8f
3:      out     IO(SPMCSR), r22         ; odd count: the last word is (0xFF << 8) | byte
        spm
        rjmp    8f
        ; --- fill from buf (the whole page; back-to-back fills need no wait) ----------------------------------
6:      sbrs    r19, SF_OVL_BP_WRITE
        rjmp    7f
5:      ld      r0, X+
        ld      r1, X+
        out     IO(SPMCSR), r22
        spm
        adiw    r30, 2
        mov     r23, r30
        andi    r23, SPM_PAGESIZE - 1
        brne    5b
7:      movw    r26, r20                ; X = dst
        movw    r20, r16                ; r20 = f1, r21 = f2
8:      movw    r30, r24                ; Z = the page again
        sbrs    r19, SF_OVL_BP_ERASE
        rjmp    3f
        ldi     r22, (1 << PGERS) | (1 << SPMEN)
        out     IO(SPMCSR), r22
        spm
        rcall   sf_ovl_bp_read          ; runs while an RWW page is erased
        rcall   sf_ovl_bp_wait
3:      sbrs    r19, SF_OVL_BP_WRITE
        rjmp    4f
        ldi     r22, (1 << PGWRT) | (1 << SPMEN)
        out     IO(SPMCSR), r22
        spm
        rcall   sf_ovl_bp_read          ; (nothing left when the erase took them all)
        rcall   sf_ovl_bp_wait
        ; --- make the RWW section readable again before returning into it -------------------------------------
4:      in      r23, IO(SPMCSR)
        sbrs    r23, RWWSB
        rjmp    5f
        ldi     r22, (1 << RWWSRE) | (1 << SPMEN)
        out     IO(SPMCSR), r22
        spm
        rcall   sf_ovl_bp_wait
        rjmp    4b
5:      movw    r22, r20
        clr     r24
        mov     r25, r18
        clr     r1
        pop     r28
        ret

; While the page operation just started still runs (an RWW page), r18 bytes of the NOR stream to X, Fletcher-16
; in r20/r21, r18 counting down. After an NRWW operation (the CPU was halted until it ended) nothing is read.
sf_ovl_bp_read:
        in      r23, IO(SPMCSR)
        sbrs    r23, SPMEN
        ret
        tst     r18
        breq    2f
1:      in      r23, IO(SPSR)
        sbrs    r23, SPIF
        rjmp    1b
        in      r0, IO(SPDR)
        out     IO(SPDR), r28           ; the next byte shifts in while this one is stored
        st      X+, r0
        add     r20, r0
        add     r21, r20
        dec     r18
        brne    1b
2:      ret

sf_ovl_bp_wait:
        in      r23, IO(SPMCSR)
        sbrc    r23, SPMEN
        rjmp    sf_ovl_bp_wait
        ret
        .size   sf_ovl_bootpage, . - sf_ovl_bootpage

#endif
