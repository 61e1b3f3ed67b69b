; Test double of urboot's application interface (our own code, same ABI), for the urboot backend tests.
; Linked with -Wl,--section-start=.testboot=<boot start> and -Wl,--section-start=.testboottab=<FLASHEND - 5>.
; Top six bytes (urboot's table): numblpags, vblvecnum, `rjmp pgm_write_page`, capability byte, version
; (5 msb major, 3 lsb minor: v8.0 = 0100).
; pgm_write_page(void *sram /* r24:r25 */, progmem_t pgm /* r22:r23, or r20:r23 above 64 KB */): erase the page at pgm,
; fill the page buffer with SPM_PAGESIZE bytes from sram, write it, re-enable RWW; returns with r1 = 0.
#include <avr/io.h>
#define IO(reg) _SFR_IO_ADDR(reg)

        .section .testboot, "ax", @progbits
        .global urboot_double_start
urboot_double_start:
        jmp     0                       ; reset entry when BOOTRST is programmed: start the application
pgm_write_page:
        movw    r26, r24                ; X = sram
#if FLASHEND > 0xFFFF
        movw    r30, r20                ; progmem_t is 32-bit here (r20:r23): Z = bits 15:0, RAMPZ = bits 23:16
        out     IO(RAMPZ), r22
#else
        movw    r30, r22                ; Z = pgm, aligned to the page
#endif
        andi    r30, lo8(~(SPM_PAGESIZE - 1))
#if SPM_PAGESIZE > 256
        andi    r31, hi8(~(SPM_PAGESIZE - 1))
#endif
        ldi     r20, (1 << PGERS) | (1 << SPMEN)
        rcall   do_spm
        ldi     r21, SPM_PAGESIZE / 2
1:      ld      r0, X+
        ld      r1, X+
        ldi     r20, (1 << SPMEN)
        rcall   do_spm
        adiw    r30, 2
        dec     r21
        brne    1b
        subi    r30, lo8(SPM_PAGESIZE)
        sbci    r31, hi8(SPM_PAGESIZE)
        ldi     r20, (1 << PGWRT) | (1 << SPMEN)
        rcall   do_spm
        ldi     r20, (1 << RWWSRE) | (1 << SPMEN)
        rcall   do_spm
        clr     r1
        ret
do_spm:
        out     IO(SPMCSR), r20
        spm
2:      in      r19, IO(SPMCSR)
        sbrc    r19, SPMEN
        rjmp    2b
        ret

        .section .testboottab, "a", @progbits
        .global urboot_double_table
urboot_double_table:
#if FLASHEND > 0xFFFF
        ; the double sits at the start of the Mega's 8 KB boot section, out of an rjmp's reach (+-4 KB) from the
        ; table: the table's rjmp lands on this jmp (the section then starts 4 bytes lower: FLASHEND - 9)
trampoline:
        jmp     pgm_write_page
#endif
        .byte   1                       ; numblpags (unused here)
        .byte   0                       ; vblvecnum: not a vector bootloader
#if FLASHEND > 0xFFFF
        rjmp    trampoline
#else
        rjmp    pgm_write_page
#endif
        .byte   0x80 | 0x40             ; capabilities: pgm_write_page (pre-7.7 meaning), EEPROM
        .byte   0100                    ; version u8.0
