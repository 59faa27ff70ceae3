# hello: write(1, "Hello world\n", 12), then exit(0).
#
# riscv64: the `ecall` instruction; a7 holds the number, a0-a5 the arguments, and the
# result comes back in a0 (a negative errno on failure). No other register is touched.
    .text
    .globl _start
_start:
    li      a7, 64              # a7 = 64: write
    li      a0, 1               # a0 = fd 1, stdout
    la      a1, msg             # a1 = buf
    li      a2, 12              # a2 = count
    ecall                       # a0 = 12 (bytes written)

    li      a7, 93              # a7 = 93: exit
    li      a0, 0               # a0 = status 0
    ecall                       # does not return

msg:
    .ascii  "Hello world\n"
