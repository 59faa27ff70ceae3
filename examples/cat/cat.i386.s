# cat: copy each file named on the command line (or stdin when there is none) to stdout.
#
# The calls: mmap2 (a 64 KiB buffer), openat, read, write (looping over short writes),
# close, munmap, exit_group. At _start, [esp] is argc and [esp+4] starts argv.
#
# Every argument register (ebx ecx edx esi edi ebp) is also where i386 passes system call
# arguments, so the program's state lives in memory; `int 0x80` changes only eax.
    .globl _start
_start:
    mov     eax, [esp]              # argc
    mov     [argc], eax
    lea     eax, [esp + 4]          # argv
    mov     [argv], eax

    mov     eax, 192                # mmap2(NULL, 65536, PROT_READ|PROT_WRITE,
    xor     ebx, ebx                #       MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)
    mov     ecx, 65536              # (i386's `mmap`, number 90, takes a pointer to its
    mov     edx, 3                  # six arguments instead; mmap2's offset is in pages)
    mov     esi, 0x22
    mov     edi, -1
    xor     ebp, ebp
    int     0x80
    cmp     eax, -4095              # -4095..-1 is an error
    jae     no_memory
    mov     [buffer], eax

    cmp     dword ptr [argc], 1
    jg      files
    mov     dword ptr [fd], 0       # no file: copy stdin
    call    copy
    jmp     done

files:
    mov     dword ptr [index], 1
next_file:
    mov     eax, [index]
    cmp     eax, [argc]
    jge     done
    mov     ecx, [argv]
    mov     ecx, [ecx + eax*4]      # argv[i]
    mov     eax, 295                # openat(AT_FDCWD, argv[i], O_RDONLY, 0)
    mov     ebx, -100
    xor     edx, edx
    xor     esi, esi
    int     0x80
    test    eax, eax
    js      open_failed
    mov     [fd], eax
    call    copy
    mov     eax, 6                  # close(fd)
    mov     ebx, [fd]
    int     0x80
    inc     dword ptr [index]
    jmp     next_file

open_failed:
    mov     eax, 4                  # write(2, "cat: cannot open a file\n", 24)
    mov     ebx, 2
    lea     ecx, [open_msg]
    mov     edx, 24
    int     0x80
    mov     dword ptr [status], 1
    inc     dword ptr [index]
    jmp     next_file

done:
    mov     eax, 91                 # munmap(buffer, 65536)
    mov     ebx, [buffer]
    mov     ecx, 65536
    int     0x80
    mov     eax, 252                # exit_group(status)
    mov     ebx, [status]
    int     0x80

no_memory:
    mov     eax, 252
    mov     ebx, 12
    int     0x80

# copy: read [fd] until end of file, writing everything read to stdout.
copy:
    mov     eax, 3                  # read(fd, buffer, 65536)
    mov     ebx, [fd]
    mov     ecx, [buffer]
    mov     edx, 65536
    int     0x80
    test    eax, eax
    jz      copy_done               # 0: end of file
    js      copy_failed
    mov     edx, eax                # ecx = where to write from, edx = bytes left
write_more:
    mov     eax, 4                  # write(1, ecx, edx)
    mov     ebx, 1
    int     0x80
    test    eax, eax
    js      copy_failed
    add     ecx, eax                # a short write: go on with the rest
    sub     edx, eax
    jnz     write_more
    jmp     copy
copy_failed:
    mov     dword ptr [status], 1
copy_done:
    ret

open_msg:
    .ascii  "cat: cannot open a file\n"
    .balign 4
argc:   .long 0
argv:   .long 0
buffer: .long 0
fd:     .long 0
index:  .long 0
status: .long 0
