// crash: a write, then a load from an unmapped address (SIGSEGV).
mov x8, #64; mov x0, #1; adr x1, msg; mov x2, #6; svc #0; mov x0, #16; ldr x1, [x0]
msg: .ascii "crash\n"
