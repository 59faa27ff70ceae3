# hello: write(1, "Hello world\n", 12), then exit(0).
#
# x86_64: the `syscall` instruction; rax holds the number, rdi rsi rdx r10 r8 r9 the
# arguments, and the result comes back in rax (a negative errno on failure).
    .text
    .globl _start
_start:
    mov     eax, 1              # rax = 1: write
    mov     edi, 1              # rdi = fd 1, stdout
    lea     rsi, [rip + msg]    # rsi = buf
    mov     edx, 12             # rdx = count
    syscall                     # rax = 12 (bytes written); rcx and r11 are clobbered

    mov     eax, 60             # rax = 60: exit
    xor     edi, edi            # rdi = status 0
    syscall                     # does not return

msg:
    .ascii  "Hello world\n"
