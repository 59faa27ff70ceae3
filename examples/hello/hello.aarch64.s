// hello: write(1, "Hello world\n", 12), then exit(0).
//
// aarch64: the `svc #0` instruction; x8 holds the number, x0-x5 the arguments, and the
// result comes back in x0 (a negative errno on failure). No other register is touched.
    .text
    .globl _start
_start:
    mov     x8, #64             // x8 = 64: write
    mov     x0, #1              // x0 = fd 1, stdout
    adr     x1, msg             // x1 = buf
    mov     x2, #12             // x2 = count
    svc     #0                  // x0 = 12 (bytes written)

    mov     x8, #93             // x8 = 93: exit
    mov     x0, #0              // x0 = status 0
    svc     #0                  // does not return

msg:
    .ascii  "Hello world\n"
