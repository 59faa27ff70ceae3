# cat: copy each file named on the command line (or stdin when there is none) to stdout.
#
# The calls: mmap (a 64 KiB buffer), openat, read, write (looping over short writes),
# close, munmap, exit_group. At _start, [rsp] is argc and [rsp+8] starts argv, as Linux
# lays out a new process's stack.
#
# Registers kept across calls (the kernel preserves everything but rax, rcx, r11):
#   r12 argc, r13 &argv[0], r14 buffer, r15 exit status, rbx argument index, rbp fd.
    .globl _start
_start:
    mov     r12, [rsp]              # argc
    lea     r13, [rsp + 8]          # argv

    mov     eax, 9                  # mmap(NULL, 65536, PROT_READ|PROT_WRITE,
    xor     edi, edi                #      MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)
    mov     esi, 65536
    mov     edx, 3
    mov     r10d, 0x22
    mov     r8, -1
    xor     r9d, r9d
    syscall
    cmp     rax, -4095              # -4095..-1 is an error
    jae     no_memory
    mov     r14, rax
    xor     r15d, r15d

    cmp     r12, 1
    jg      files
    xor     ebp, ebp                # no file: copy stdin
    call    copy
    jmp     done

files:
    mov     ebx, 1
next_file:
    cmp     rbx, r12
    jge     done
    mov     eax, 257                # openat(AT_FDCWD, argv[i], O_RDONLY, 0)
    mov     edi, -100
    mov     rsi, [r13 + rbx*8]
    xor     edx, edx
    xor     r10d, r10d
    syscall
    test    rax, rax
    js      open_failed
    mov     rbp, rax
    call    copy
    mov     eax, 3                  # close(fd)
    mov     rdi, rbp
    syscall
    inc     rbx
    jmp     next_file

open_failed:
    mov     eax, 1                  # write(2, "cat: cannot open a file\n", 24)
    mov     edi, 2
    lea     rsi, [rip + open_msg]
    mov     edx, 24
    syscall
    mov     r15d, 1
    inc     rbx
    jmp     next_file

done:
    mov     eax, 11                 # munmap(buffer, 65536)
    mov     rdi, r14
    mov     esi, 65536
    syscall
    mov     eax, 231                # exit_group(status)
    mov     edi, r15d
    syscall

no_memory:
    mov     eax, 231
    mov     edi, 12
    syscall

# copy: read fd rbp until end of file, writing everything read to stdout.
copy:
    xor     eax, eax                # read(fd, buffer, 65536)
    mov     rdi, rbp
    mov     rsi, r14
    mov     edx, 65536
    syscall
    test    rax, rax
    jz      copy_done               # 0: end of file
    js      copy_failed
    mov     r8, r14                 # r8: what is left to write, r9: how much
    mov     r9, rax
write_more:
    mov     eax, 1                  # write(1, r8, r9)
    mov     edi, 1
    mov     rsi, r8
    mov     rdx, r9
    syscall
    test    rax, rax
    js      copy_failed
    add     r8, rax                 # a short write: go on with the rest
    sub     r9, rax
    jnz     write_more
    jmp     copy
copy_failed:
    mov     r15d, 1
copy_done:
    ret

open_msg:
    .ascii  "cat: cannot open a file\n"
