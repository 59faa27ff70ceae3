@ cat: copy each file named on the command line (or stdin when there is none) to stdout.
@
@ The calls: mmap2 (a 64 KiB buffer), openat, read, write (looping over short writes),
@ close, munmap, exit_group. At _start, [sp] is argc and [sp+4] starts argv.
@
@ Registers kept across calls (svc changes only r0; r7 is the number, r0-r5 the arguments):
@   r10 argc, r11 &argv[0], r6 buffer, r8 exit status, r9 fd, r4 argument index,
@   r5/r12 write position and bytes left.
    .globl _start
_start:
    ldr     r10, [sp]               @ argc
    add     r11, sp, #4             @ argv

    mov     r7, #192                @ mmap2(NULL, 65536, PROT_READ|PROT_WRITE,
    mov     r0, #0                  @       MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)
    mov     r1, #65536              @ (arm has no plain mmap; mmap2's offset is in pages)
    mov     r2, #3
    mov     r3, #0x22
    mvn     r4, #0                  @ -1
    mov     r5, #0
    svc     #0
    cmn     r0, #4096               @ -4095..-1 is an error: r0 + 4096 carries and is not 0
    bhi     no_memory
    mov     r6, r0
    mov     r8, #0

    cmp     r10, #1
    bgt     files
    mov     r9, #0                  @ no file: copy stdin
    bl      copy
    b       done

files:
    mov     r4, #1
next_file:
    cmp     r4, r10
    bge     done
    movw    r7, #322                @ openat(AT_FDCWD, argv[i], O_RDONLY, 0)
    mvn     r0, #99                 @ -100
    ldr     r1, [r11, r4, lsl #2]
    mov     r2, #0
    mov     r3, #0
    svc     #0
    cmp     r0, #0
    blt     open_failed
    mov     r9, r0
    bl      copy
    mov     r7, #6                  @ close(fd)
    mov     r0, r9
    svc     #0
    add     r4, r4, #1
    b       next_file

open_failed:
    mov     r7, #4                  @ write(2, "cat: cannot open a file\n", 24)
    mov     r0, #2
    adr     r1, open_msg
    mov     r2, #24
    svc     #0
    mov     r8, #1
    add     r4, r4, #1
    b       next_file

done:
    mov     r7, #91                 @ munmap(buffer, 65536)
    mov     r0, r6
    mov     r1, #65536
    svc     #0
    mov     r7, #248                @ exit_group(status)
    mov     r0, r8
    svc     #0

no_memory:
    mov     r7, #248
    mov     r0, #12
    svc     #0

@ copy: read fd r9 until end of file, writing everything read to stdout.
copy:
    mov     r7, #3                  @ read(fd, buffer, 65536)
    mov     r0, r9
    mov     r1, r6
    mov     r2, #65536
    svc     #0
    cmp     r0, #0
    beq     copy_done               @ 0: end of file
    blt     copy_failed
    mov     r5, r6
    mov     r12, r0
write_more:
    mov     r7, #4                  @ write(1, r5, r12)
    mov     r0, #1
    mov     r1, r5
    mov     r2, r12
    svc     #0
    cmp     r0, #0
    blt     copy_failed
    add     r5, r5, r0              @ a short write: go on with the rest
    subs    r12, r12, r0
    bne     write_more
    b       copy
copy_failed:
    mov     r8, #1
copy_done:
    bx      lr

open_msg:
    .ascii  "cat: cannot open a file\n"
