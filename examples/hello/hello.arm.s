@ hello: write(1, "Hello world\n", 12), then exit(0).
@
@ arm (EABI): the `svc #0` instruction; r7 holds the number, r0-r5 the arguments, and the
@ result comes back in r0 (a negative errno on failure). No other register is touched.
    .text
    .globl _start
_start:
    mov     r7, #4              @ r7 = 4: write
    mov     r0, #1              @ r0 = fd 1, stdout
    adr     r1, msg             @ r1 = buf
    mov     r2, #12             @ r2 = count
    svc     #0                  @ r0 = 12 (bytes written)

    mov     r7, #1              @ r7 = 1: exit
    mov     r0, #0              @ r0 = status 0
    svc     #0                  @ does not return

msg:
    .ascii  "Hello world\n"
