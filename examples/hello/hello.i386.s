# hello: write(1, "Hello world\n", 12), then exit(0).
#
# i386: the `int 0x80` instruction; eax holds the number, ebx ecx edx esi edi ebp the
# arguments, and the result comes back in eax (a negative errno on failure). Nothing else
# is touched.
    .text
    .globl _start
_start:
    mov     eax, 4              # eax = 4: write
    mov     ebx, 1              # ebx = fd 1, stdout
    lea     ecx, [msg]          # ecx = buf (an absolute address: there is no eip-relative addressing)
    mov     edx, 12             # edx = count
    int     0x80                # eax = 12 (bytes written)

    mov     eax, 1              # eax = 1: exit
    xor     ebx, ebx            # ebx = status 0
    int     0x80                # does not return

msg:
    .ascii  "Hello world\n"
