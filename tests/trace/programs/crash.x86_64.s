// crash: a write, then a load from an unmapped address (SIGSEGV).
mov eax, 1; mov edi, 1; lea rsi, [rip + msg]; mov edx, 6; syscall; mov rax, qword ptr [0x10]
msg: .ascii "crash\n"
