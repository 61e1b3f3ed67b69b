; FlashStorage format 2 (docs/storage-format-v2.md; Python twin builder/spareflash/storage/store_v2.py) in AVR
; assembly, for the parts the plan builds with SPAREFLASH_STORAGE_FORMAT=2 (Layout.storage_format: <= 4 KB of
; flash, the ATtiny25/45). Why assembly: format 1 in C++ (FlashStorage.cpp) is ~4.8 KB there and the same format
; 2 algorithm in C ~2.9 KB; neither fits the ATtiny25's 1,792-byte application region beside its default storage
; region, this engine (~1.4 KB) does. FlashStorage.h (format 2) is the thin C++ API over the sf2_* entries.
;
; Only what those parts need: the direct SPM backend (no boot section, SELFPRGEN), 32- or 64-byte pages, 16-bit
; flash addresses, no CALL/JMP (rcall only), no MUL. Anything else is an #error, not a silent misbuild.
;
; How it stays small (each trick measured on branch asm-tiny): 8-bit page offsets; one walk primitive (rsize)
; shared by scan, the read-back verify, mount and compaction; the engine state lives in registers during a call
; and only what must survive between calls is in RAM, reached as Y+q (ldd/std are 2 B, lds/sts 4 B); one
; `enter` saves the callee-saved registers for every public entry; records are built on the stack by push; the
; check byte loop needs no table; stats divide by repeated subtraction (the quotients are small: live/count <= 36,
; (P - 6)/avg <= 24, n * q <= 3,048).
;
; Internal register map (the public entries save r2..r17, r28, r29 once, in `enter`):
;   r0 tmp, r1 zero
;   r18 byte in (upd/wbyte), r19 loop, r20 crc, r21 zero-bit count, r22 check length / spm address lo,
;   r23 page index (pa) / spm address hi, r24 key / status, r25 latest's i / saved SREG in spm
;   X  hit address (scan, latest) / RAM source;  Z flash pointer
;   Y  the RAM state block (state: n_, bst_, head_, seq_, used_, off_, h_ as Y+0..Y+11)
;   r14:r15 walk page base, r17 walk offset, r16 record size (rsize) / seek offset / write count
;   r12:r13 writer page base, r11 writer offset, r10 writer pending low byte, r9 writer status
;   r2:r3 record in RAM, r4 record bytes, r5 new page, r6 start tries, r7 end offset / copy count,
;   r8 copy offset
#include <avr/io.h>
#include "spareflash_status.h"
#include "spareflash_flash.h"   // SPAREFLASH_BACKEND and SPAREFLASH_STORAGE_FORMAT (the plan defines both)

#if SPAREFLASH_STORAGE_FORMAT == 2

#if FLASHEND > 0xFFFF
#error "FlashStorage format 2 uses 16-bit flash addresses: build parts above 64 KB with SPAREFLASH_STORAGE_FORMAT=1"
#endif
// The page size is the part's (avr-libc's SPM_PAGESIZE, the value chips.py has): offsets are 8 bit and `pa`
// shifts by 8 - log2(P).
#if SPM_PAGESIZE == 64
#define LOG2P 6
#elif SPM_PAGESIZE == 32
#define LOG2P 5
#else
#error "FlashStorage format 2 is built for 32- or 64-byte pages only: use SPAREFLASH_STORAGE_FORMAT=1 here"
#endif
#if SPAREFLASH_BACKEND != SPAREFLASH_BACKEND_DIRECT || defined(BLBSET)
#error "FlashStorage format 2 does its own SPM (direct backend, parts without a boot section): use format 1 here"
#endif

#define P SPM_PAGESIZE
#define HDR 6
#if P - HDR - 4 < 32           // MAXV = min(32, P - 10): a record (4 + MAXV bytes) always fits a fresh page
#define MAXV (P - HDR - 4)
#else
#define MAXV 32
#endif
#define AGAIN 0xFF
#define START __spareflash_storage_start
#define END __spareflash_storage_end
#define IO(r) _SFR_IO_ADDR(r)

        .section .bss
state:                  ; reached as Y+offset while the engine runs (enter sets Y)
n_:     .skip 1         ; pages, 0 before begin()
bst_:   .skip 1         ; the backend's begin() status (0: ready)
head_:  .skip 1
seq_:   .skip 1
used_:  .skip 1
off_:   .skip 1         ; append offset in the head, P when closed
h_:     .skip 6         ; header being built (seq, oldest, erase count, check bytes)

        .text

; ---- public entries: r24 key / out, r22:r23 data, r20 n (avr-gcc ABI) ----------------------------------------
        .global sf2_begin, sf2_put, sf2_get, sf2_remove, sf2_size, sf2_format, sf2_stats
; Each entry is `rcall enter` right before its body: enter pops that return address (the body) into Z, saves the
; registers the engine uses and calls the body, so a public entry costs one word.
enter:  pop r31
        pop r30
        push r28
        push r29
        ldi r26, 2              ; r2..r17 saved by a loop over the register file (data addresses 2..17)
        clr r27
1:      ld r0, X+
        push r0
        cpi r26, 18
        brne 1b
        ldi r28, lo8(state)
        ldi r29, hi8(state)
        clr r9                  ; writer: no error, even offset
        clr r11
        icall
        ldi r26, 18
        clr r27
2:      pop r0
        st -X, r0
        cpi r26, 2
        brne 2b
        pop r29
        pop r28
        ret

; ---- check bytes: crc8 poly 0x07 MSB first, then the 0-bits of body and crc, mod 256 --------------------------
; A tear moves the 0-bit count and the stored count byte in opposite directions, so a torn header or record never
; passes; the same check is the read-back verify. Bit loops, not nibble tables: ~100 cycles a byte instead of
; ~30, but 44 bytes of code instead of ~198, and size is what these parts lack.
upd:    eor r20, r18            ; crc ^= b, then count b's zeros while shifting the crc
        rcall zcnt
        ldi r18, 7
        ldi r19, 8
1:      lsl r20
        brcc 2f
        eor r20, r18
2:      dec r19
        brne 1b
        ret
fin:    mov r18, r20            ; the crc byte is covered by the count too
zcnt:   subi r21, -8            ; r21 += 8 - popcount(r18); r18 -> 0
1:      lsr r18
        sbci r21, 0
        tst r18
        brne 1b
        ret

; Z = body in flash, r22 = n >= 1 -> SREG.Z set when the 2 bytes after the body match; Z moves past them.
chkf:   ldi r20, 0xFF
        clr r21
1:      lpm r18, Z+
        rcall upd
        dec r22
        brne 1b
        rcall fin
        lpm r0, Z+
        cp r0, r20
        lpm r0, Z+
        cpc r0, r21
        ret

; X = body in RAM, r22 = n >= 1: stores the 2 check bytes after the body.
chkr:   ldi r20, 0xFF
        clr r21
1:      ld r18, X+
        rcall upd
        dec r22
        brne 1b
        rcall fin
        st X+, r20
        st X+, r21
        ret

; ---- pages ---------------------------------------------------------------------------------------------------
; r23 = page -> Z = its address (region start + page * P): page * 256 shifted right 8 - log2(P) times
pa:     mov r31, r23
        clr r30
        .rept 8 - LOG2P
        lsr r31
        ror r30
        .endr
        subi r30, lo8(-(START))
        sbci r31, hi8(-(START))
        ret

; r23 = page -> r23 = the next page round the ring
next:   inc r23
        ldd r0, Y+0
        cp r23, r0
        brne 1f
        clr r23
1:      ret

; r23 = page -> SREG.Z set when its header passes its check; Z = page + 6
hdrok:  rcall pa
        ldi r22, 4
        rjmp chkf

; The shared walk step: Y = page, r17 = offset -> r16 = record size (0 and SREG.Z where the walk ends),
; Z = record address.
rsize:  movw r30, r14
        add r30, r17
        adc r31, r1
        clr r16
        cpi r17, P - 3          ; o + 4 > P
        brsh 9f
        lpm r18, Z+
        lpm r19, Z
        sbiw r30, 1
        cpi r18, 0xFF
        breq 9f
        cpi r19, MAXV + 1
        brsh 9f
        subi r19, -4
        ldi r18, P
        sub r18, r17
        cp r18, r19             ; o + 4 + len > P
        brlo 9f
        mov r16, r19
9:      tst r16
        ret

; Y = page, r24 = key -> X = its last good record (0: none), r17 = where the walk ended.
scan:   ldi r17, HDR
        clr r26
        clr r27
1:      rcall rsize
        breq 9f
        lpm r0, Z
        cp r0, r24
        brne 2f
        mov r22, r16
        subi r22, 2
        rcall chkf
        brne 2f
        movw r26, r14
        add r26, r17
        adc r27, r1
2:      add r17, r16
        rjmp 1b
9:      ret

; r24 = key -> X = the newest good record of key in the chain, 0 if none (the chain is searched from the head backwards). Keeps r24, r2..r13.
latest: ldd r23, Y+2
        clr r25
        clr r26
        clr r27
1:      ldd r0, Y+4
        cp r25, r0
        brsh 9f
        rcall pa
        movw r14, r30
        lpm r0, Z
        ldd r18, Y+3
        sub r18, r25
        cp r0, r18              ; a page whose seq is not the one its place expects is skipped
        brne 2f
        rcall scan
        adiw r26, 0
        brne 9f
2:      inc r25
        subi r23, 1
        brcc 1b
        ldd r23, Y+0
        dec r23
        rjmp 1b
9:      ret

; ---- SPM -----------------------------------------------------------------------------------------------------
; r22:r23 = address, r20 = SPMCSR command, r18:r19 = data -> r24 status. Keeps X and Z.
; Direct SPM from the application (SELFPRGEN programmed), as library/src/backend_direct.cpp: SPMCSR written within
; 4 cycles of the spm. The CPU halts during an erase or page write (no RWW section); the busy wait is boot.h's.
; No fence: every address comes from pa() of a page < n_. r24 = 0 (the backend's status) on the way. Z waits in
; r18:r19 once the data is in r0:r1 (no caller needs r18:r19 after an spm: 4 B less than push/pop).
; A sized function whose name starts with sf_: the verifier (verify.py, spm-in-app) accepts SPM on a direct-backend part only inside
; the library's flash routines, so a stray SPM elsewhere in the image still fails the build.
        .type sf_direct_spm, @function
sf_direct_spm:
        ldd r24, Y+1
        tst r24
        brne 9f
        in r25, IO(SREG)
        cli
1:      sbic IO(EECR), EEPE     ; an EEPROM write would discard the page buffer
        rjmp 1b
        movw r0, r18
        movw r18, r30
        movw r30, r22
        out IO(SPMCSR), r20
        spm
        clr r1
2:      in r0, IO(SPMCSR)
        sbrc r0, SPMEN
        rjmp 2b
        movw r30, r18
        out IO(SREG), r25
9:      ret
        .size sf_direct_spm, . - sf_direct_spm

; Page-buffer writer: r18 = the byte for offset r11 of page r12:r13; a word is loaded when its
; high byte arrives, words never loaded stay 0xFFFF. The first error sticks in r9.
wbyte:  sbrs r11, 0
        rjmp 2f
        tst r9
        brne 3f
        movw r22, r12
        or r22, r11             ; page base is P-aligned and r11 < P: or = add
        dec r22
        mov r19, r18
        mov r18, r10
        ldi r20, 1 << SPMEN
        rcall sf_direct_spm
        mov r9, r24
        rjmp 3f
2:      mov r10, r18
3:      inc r11
        ret

; r16 = new offset: completes a pending odd byte with 0xFF, then opens at r16 (the low byte of a first odd word
; is 0xFF, never a stale byte).
wseek:  ldi r18, 0xFF
        sbrc r11, 0
        rcall wbyte
        mov r11, r16
        ldi r18, 0xFF
        mov r10, r18
        ret

; X = RAM source, r16 = count (may be 0)
wram:   tst r16
        breq 9f
        ld r18, X+
        rcall wbyte
        dec r16
        rjmp wram
9:      ret

; -> r24 status of the whole write (the first fill error or the page write's)
wcommit:
        clr r16
        rcall wseek
        mov r24, r9
        tst r24
        brne 1f
        movw r22, r12
        ldi r20, (1 << PGWRT) | (1 << SPMEN)
        rcall sf_direct_spm
1:      clr r9
        ret

; Y = page, r17 = start, r7 = end -> r24: every record of [r17, r7) walks and passes its check (read-back verify)
runok:  cp r17, r7
        brsh 8f
        rcall rsize
        breq verr
        mov r22, r16
        subi r22, 2
        rcall chkf
        brne verr
        add r17, r16
        rjmp runok
8:      clr r24
        ret
verr:   ldi r24, SF_ERR_VERIFY
        ret

; r23 = page -> r24: erase it, verify all 0xFF
erase:  rcall pa
        movw r22, r30
        ldi r20, (1 << PGERS) | (1 << SPMEN)
        rcall sf_direct_spm
        tst r24
        brne eret
        ldi r19, P
1:      lpm r0, Z+
        inc r0
        brne verr
        dec r19
        brne 1b
eret:   ret

; ---- start the next page (compaction when it is the last free one): r2:r3 record, r4 its bytes (0: header only) -> r24 (0, AGAIN, error)
start:  ldd r23, Y+2
        rcall next
        mov r5, r23
        rcall hdrok
        breq 1f
        ldd r23, Y+2          ; no valid header: the head's erase count + 1
        rcall pa
        adiw r30, HDR
1:      sbiw r30, HDR - 2
        lpm r18, Z+
        lpm r19, Z
        subi r18, 0xFF
        sbci r19, 0xFF
        std Y+8, r18
        std Y+9, r19
        mov r23, r5
        rcall erase
        tst r24
        brne eret
        ldd r18, Y+3
        ldd r19, Y+4
        inc r18
        std Y+6, r18
        sub r18, r19
        std Y+7, r18         ; oldest
        mov r23, r5
        rcall pa
        movw r12, r30
        ldi r18, HDR
        mov r8, r18
        ldd r18, Y+0
        dec r18
        cp r19, r18
        brne 5f
        ; compaction: the live records of the oldest page O = next(np) go to np first, verified; header last
        rcall next
        rcall pa
        movw r14, r30
        lpm r0, Z
        ldi r17, HDR
        mov r16, r17
        rcall wseek
        ldd r18, Y+7
        cp r0, r18
        brne 3f
2:      rcall rsize
        breq 3f
        lpm r24, Z+
        lpm r0, Z
        tst r0                  ; tombstones are dropped
        breq 4f
        push r16
        push r17
        push r14
        push r15
        rcall latest
        pop r15
        pop r14
        pop r17
        pop r16
        movw r30, r14
        add r30, r17
        adc r31, r1
        cp r26, r30             ; live: the newest good record of its key
        cpc r27, r31
        brne 4f
        mov r7, r16
6:      lpm r18, Z+
        rcall wbyte
        dec r7
        brne 6b
        add r8, r16
4:      add r17, r16
        rjmp 2b
sverr:  ldi r24, SF_ERR_VERIFY  ; branch targets within reach of the whole of start
sret:   ret
3:      ldi r18, HDR
        cp r18, r8
        brsh 7f
        rcall wcommit
        tst r24
        brne sret
        movw r14, r12
        ldi r17, HDR
        mov r7, r8
        rcall runok
        tst r24
        brne sret
7:      ldd r18, Y+7
        inc r18
        std Y+7, r18
5:      mov r7, r8              ; r7 = o + fit
        mov r18, r8
        add r18, r4
        cpi r18, P + 1
        brsh 8f
        mov r7, r18
8:      movw r26, r28
        adiw r26, 6             ; h_
        ldi r22, HDR - 2
        rcall chkr
        sbiw r26, HDR
        clr r16
        rcall wseek
        ldi r18, HDR
        mov r16, r18
        rcall wram
        mov r16, r8
        rcall wseek
        movw r26, r2
        mov r16, r7
        sub r16, r8
        rcall wram
        rcall wcommit
        tst r24
        brne sret
        mov r23, r5
        rcall hdrok
        brne sverr
        std Y+2, r5
        ldd r18, Y+3
        inc r18
        std Y+3, r18
        ldd r19, Y+7
        sub r18, r19
        inc r18
        std Y+4, r18
        ldi r18, P
        std Y+5, r18           ; closed until the record is verified
        movw r14, r12
        mov r17, r8
        rcall runok
        tst r24
        brne 9f
        std Y+5, r7
        mov r18, r7
        sub r18, r8
        cp r18, r4
        breq 9f
        ldi r24, AGAIN
9:      ret

; r2:r3 record, r4 bytes -> r24
append: ldi r24, SF_ERR_NOT_BEGUN
        ldd r6, Y+0
        tst r6
        breq 9f
        ldd r8, Y+5
        mov r18, r8
        add r18, r4
        cpi r18, P + 1
        brsh 5f
        mov r7, r18
        ldi r18, P
        std Y+5, r18
        ldd r23, Y+2
        rcall pa
        movw r12, r30
        mov r16, r8
        rcall wseek
        movw r26, r2
        mov r16, r4
        rcall wram
        rcall wcommit
        tst r24
        brne 9f
        movw r14, r12
        mov r17, r8
        rcall runok
        tst r24
        brne 9f
        std Y+5, r7
9:      ret
5:      rcall start             ; at most n_ starts
        cpi r24, AGAIN
        brne 9b
        dec r6
        brne 5b
        ldi r24, SF_ERR_FULL
        ret

; ---- bodies (reached through enter) ------------------------------------------------------------------------
sf2_put: rcall enter
put_b:  cpi r24, 0xFF
        breq arg
        cpi r20, 0
        breq arg
        cpi r20, MAXV + 1
        brsh arg
        ; the record goes on the stack: room for the check bytes, the value backwards, len, key
write:  mov r4, r20
        movw r26, r22
        add r26, r20
        adc r27, r1
        push r0
        push r0
        mov r18, r4
1:      subi r18, 1
        brcs 2f
        ld r0, -X
        push r0
        rjmp 1b
2:      push r4
        push r24
        in r26, IO(SPL)
#ifdef __AVR_HAVE_8BIT_SP__
        clr r27                 ; ATtiny25: 8-bit stack pointer, RAM below 0x100
#else
        in r27, IO(SPH)
#endif
        adiw r26, 1
        movw r2, r26
        mov r22, r4
        subi r22, -2
        rcall chkr
        ldi r18, 4
        add r4, r18
        rcall append
3:      pop r0
        dec r4
        brne 3b
        ret
arg:    ldi r24, SF_ERR_ARG
        ret

sf2_remove: rcall enter
remove_b:
        cpi r24, 0xFF
        breq arg
        push r24
        rcall size_b
        pop r25
        tst r24
        breq 9f                 ; absent: nothing to write, SF_OK
        mov r24, r25
        clr r20
        rjmp write
9:      ret

sf2_size: rcall enter
size_b: rcall latest
        movw r30, r26
        adiw r30, 1
        lpm r24, Z
        adiw r26, 0
        brne 1f
        clr r24
1:      ret

sf2_get: rcall enter
get_b:  movw r12, r22
        mov r11, r20
        rcall size_b
        tst r24
        breq 8f
        cp r24, r11
        brne arg
        adiw r30, 1
        movw r26, r12
1:      lpm r0, Z+
        st X+, r0
        dec r24
        brne 1b
        ret
8:      ldi r24, SF_ERR_NOT_FOUND
        ret

; format() and stats() each sit in a section of their own, so --gc-sections drops them from a sketch that does
; not call them (stats is ~244 B, an eighth of the ATtiny25's application region).
        .section .text.sf2_format, "ax", @progbits
sf2_format: rcall enter
format_b:
        ldi r24, SF_ERR_NOT_BEGUN
        ldd r18, Y+0
        tst r18
        breq 9f
        ldd r18, Y+4          ; a header whose oldest is itself; the old chain counts until it is whole
        push r18
        std Y+4, r1
        clr r4
        rcall start
        pop r18
        tst r24
        breq 9f
        std Y+4, r18
9:      ret

        .text
noreg:  ldi r24, SF_ERR_NO_REGION
        ret
sf2_begin: rcall enter
begin_b:
        ldi r24, lo8(END)
        ldi r25, hi8(END)
        subi r24, lo8(START)
        sbci r25, hi8(START)
        std Y+0, r1
        cpi r24, 2 * P          ; fewer than 2 pages
        cpc r25, r1
        brlo noreg
        cpi r24, lo8(127 * P + 1)
        ldi r18, hi8(127 * P + 1)
        cpc r25, r18
        brsh noreg
        .rept 8 - LOG2P         ; n = size / P (the high byte of size << (8 - log2(P)); size <= 127 * P)
        lsl r24
        rol r25
        .endr
        std Y+0, r25
        clr r24                 ; the direct backend is always ready (backend_direct.cpp: SELFPRGEN cannot be read)
        std Y+1, r24
        push r24
        std Y+4, r1
        ldd r23, Y+0
        dec r23
        std Y+2, r23
        ldi r18, 0xFF
        std Y+3, r18
        ldi r18, P
        std Y+5, r18
        clr r23
1:      rcall hdrok             ; the head: the valid header with the newest seq (serial arithmetic)
        brne 2f
        sbiw r30, HDR
        lpm r18, Z
        ldd r19, Y+4
        tst r19
        breq 3f
        ldd r20, Y+3
        mov r21, r18
        sub r21, r20
        breq 2f
        brmi 2f
3:      std Y+2, r23
        std Y+3, r18
        ldi r19, 1
        std Y+4, r19
2:      inc r23
        ldd r0, Y+0
        cp r23, r0
        brlo 1b
        ldd r19, Y+4
        tst r19
        breq 7f
        ldd r23, Y+2
        rcall pa
        movw r14, r30
        adiw r30, 1
        lpm r0, Z
        ldd r18, Y+3
        sub r18, r0
        inc r18
        mov r19, r18
        dec r19
        ldd r20, Y+0
        dec r20
        cp r19, r20             ; only a corrupt header says 0 or >= N
        brlo 4f
        mov r18, r20
4:      std Y+4, r18
        ldi r24, 0xFF
        rcall scan
        std Y+5, r17
        movw r30, r14
        add r30, r17
        adc r31, r1
5:      cpi r17, P
        brsh 7f
        lpm r0, Z+
        inc r0
        brne 6f
        inc r17
        rjmp 5b
6:      ldi r18, P              ; a torn tail is never written over
        std Y+5, r18
7:      pop r24
        ret

; r24:r25 = FlashStorageStats *, r22:r23 = flash endurance (SF_ENDURANCE, passed by FlashStorage.h)
        .section .text.sf2_stats, "ax", @progbits
sf2_stats: rcall enter
stats_b:
        push r24
        push r25
        movw r2, r22
        clr r4                  ; r4:r5 live bytes, r6 records
        clr r5
        clr r6
        clr r7
        dec r7
1:      dec r7                  ; keys 254..0
        mov r24, r7
        rcall size_b
        tst r24
        breq 2f
        subi r24, -4
        add r4, r24
        adc r5, r1
        inc r6
2:      tst r7
        brne 1b
        ldi r18, 0xFF           ; r8:r9 min erase, r10:r11 max erase
        mov r8, r18
        mov r9, r18
        clr r10
        clr r11
        clr r23
3:      ldd r0, Y+0
        cp r23, r0
        brsh 5f
        rcall hdrok
        ldi r18, 0              ; no valid header: 0 (ldi keeps the flags)
        ldi r19, 0
        brne 4f
        sbiw r30, HDR - 2
        lpm r18, Z+
        lpm r19, Z
4:      cp r18, r8
        cpc r19, r9
        brsh 6f
        movw r8, r18
6:      cp r10, r18
        cpc r11, r19
        brsh 7f
        movw r10, r18
7:      inc r23
        rjmp 3b
5:      pop r31
        pop r30
        ldd r18, Y+0
        st Z+, r18
        st Z+, r1
        ldi r18, P
        st Z+, r18
        st Z+, r1
        st Z+, r4
        st Z+, r5
        st Z+, r6
        st Z+, r1
        ldd r18, Y+0             ; free = (P - off) + (n - used) * (P - HDR)
        ldd r19, Y+4
        sub r18, r19
        ldd r20, Y+5            ; no MUL: (P - HDR) added n - used times to P - off
        ldi r24, P
        sub r24, r20
        clr r25
8:      subi r18, 1
        brcs 9f
        adiw r24, P - HDR
        rjmp 8b
9:      st Z+, r24
        st Z+, r25
        st Z+, r8
        st Z+, r9
        st Z+, r10
        st Z+, r11
        ; remaining = (E - max) * n * ((P - HDR) / avg), avg = live / records (8 without records); 0 when max >= E
        ldi r20, 8
        tst r6
        breq 1f
        movw r24, r4
        mov r22, r6
        rcall div
1:      mov r22, r20
        ldi r24, P - HDR
        clr r25
        rcall div
        ldd r18, Y+0
        clr r24                 ; no MUL: n * q by n additions
        clr r25
8:      subi r18, 1
        brcs 9f
        add r24, r20
        adc r25, r1
        rjmp 8b
9:
        movw r18, r2
        sub r18, r10
        sbc r19, r11
        brcc 2f
        clr r18
        clr r19
2:      clr r20
        clr r21
        clr r22
        clr r23
3:      sbiw r24, 1
        brcs 4f
        add r20, r18
        adc r21, r19
        adc r22, r1
        adc r23, r1
        rjmp 3b
4:      st Z+, r20
        st Z+, r21
        st Z+, r22
        st Z+, r23
        clr r24
        ret

; r25:r24 / r22 -> r20 (quotient < 256), by repeated subtraction
div:    ldi r20, 0xFF
1:      inc r20
        sub r24, r22
        sbc r25, r1
        brcc 1b
        ret

#endif  // SPAREFLASH_STORAGE_FORMAT == 2
