; Test double of Optiboot >= 8's application interface (our own code, same ABI), for the optiboot backend tests.
; Linked into the test image with -Wl,--section-start=.testboot=<boot start> and
; -Wl,--section-start=.testbootver=<FLASHEND - 1>:
;   boot start + 0: rjmp to the "bootloader" (here: straight to the application at 0)
;   boot start + 2: rjmp do_spm
;   FLASHEND - 1 : version minor, FLASHEND: version major (8)
; do_spm(uint16_t address /* r24:r25 */, uint8_t command /* r22 */, uint16_t data /* r20:r21 */):
;   r1:r0 = data, Z = address, SPMCSR = command, spm, wait for SPMEN to clear; when the command is an erase or a
;   write and data == 0, re-enable the RWW section (and wait). Returns with r1 = 0. (Optiboot 8's documented
;   behaviour; RAMPZ is the caller's business.)
#include <avr/io.h>
#define IO(reg) _SFR_IO_ADDR(reg)

        .section .testboot, "ax", @progbits
        .global optiboot_double_start
optiboot_double_start:
        rjmp    boot_main
        rjmp    do_spm
boot_main:
        jmp     0
do_spm:
        movw    r30, r24
        movw    r0, r20
        out     IO(SPMCSR), r22
        spm
        clr     r1
1:      in      r0, IO(SPMCSR)
        sbrc    r0, SPMEN
        rjmp    1b
        andi    r22, (1 << PGWRT) | (1 << PGERS)
        breq    2f
        cp      r20, r1
        cpc     r21, r1
        brne    2f
        ldi     r22, (1 << RWWSRE) | (1 << SPMEN)
        out     IO(SPMCSR), r22
        spm
3:      in      r0, IO(SPMCSR)
        sbrc    r0, SPMEN
        rjmp    3b
2:      ret

        .section .testbootver, "a", @progbits
        .global optiboot_double_version
optiboot_double_version:
        .byte   0       ; minor
        .byte   8       ; major
