// cat: copy each file named on the command line (or stdin when there is none) to stdout.
//
// The calls: mmap (a 64 KiB buffer), openat, read, write (looping over short writes),
// close, munmap, exit_group. At _start, [sp] is argc and [sp+8] starts argv, as Linux
// lays out a new process's stack.
//
// Registers kept across calls (svc changes only x0):
//   x19 argc, x20 &argv[0], x21 buffer, x22 exit status, x23 fd, x24 argument index,
//   x25/x26 write position and bytes left.
    .globl _start
_start:
    ldr     x19, [sp]               // argc
    add     x20, sp, #8             // argv

    mov     x8, #222                // mmap(NULL, 65536, PROT_READ|PROT_WRITE,
    mov     x0, #0                  //      MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)
    mov     x1, #65536
    mov     x2, #3
    mov     x3, #0x22
    mov     x4, #-1
    mov     x5, #0
    svc     #0
    cmn     x0, #4095               // -4095..-1 is an error
    b.hs    no_memory
    mov     x21, x0
    mov     x22, #0

    cmp     x19, #1
    b.gt    files
    mov     x23, #0                 // no file: copy stdin
    bl      copy
    b       done

files:
    mov     x24, #1
next_file:
    cmp     x24, x19
    b.ge    done
    mov     x8, #56                 // openat(AT_FDCWD, argv[i], O_RDONLY, 0)
    mov     x0, #-100
    ldr     x1, [x20, x24, lsl #3]
    mov     x2, #0
    mov     x3, #0
    svc     #0
    tbnz    x0, #63, open_failed
    mov     x23, x0
    bl      copy
    mov     x8, #57                 // close(fd)
    mov     x0, x23
    svc     #0
    add     x24, x24, #1
    b       next_file

open_failed:
    mov     x8, #64                 // write(2, "cat: cannot open a file\n", 24)
    mov     x0, #2
    adr     x1, open_msg
    mov     x2, #24
    svc     #0
    mov     x22, #1
    add     x24, x24, #1
    b       next_file

done:
    mov     x8, #215                // munmap(buffer, 65536)
    mov     x0, x21
    mov     x1, #65536
    svc     #0
    mov     x8, #94                 // exit_group(status)
    mov     x0, x22
    svc     #0

no_memory:
    mov     x8, #94
    mov     x0, #12
    svc     #0

// copy: read fd x23 until end of file, writing everything read to stdout.
copy:
    mov     x8, #63                 // read(fd, buffer, 65536)
    mov     x0, x23
    mov     x1, x21
    mov     x2, #65536
    svc     #0
    cbz     x0, copy_done           // 0: end of file
    tbnz    x0, #63, copy_failed
    mov     x25, x21
    mov     x26, x0
write_more:
    mov     x8, #64                 // write(1, x25, x26)
    mov     x0, #1
    mov     x1, x25
    mov     x2, x26
    svc     #0
    tbnz    x0, #63, copy_failed
    add     x25, x25, x0            // a short write: go on with the rest
    subs    x26, x26, x0
    b.ne    write_more
    b       copy
copy_failed:
    mov     x22, #1
copy_done:
    ret

open_msg:
    .ascii  "cat: cannot open a file\n"
