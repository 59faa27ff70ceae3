# cat: copy each file named on the command line (or stdin when there is none) to stdout.
#
# The calls: mmap (a 64 KiB buffer), openat, read, write (looping over short writes),
# close, munmap, exit_group. At _start, 0(sp) is argc and 8(sp) starts argv.
#
# Registers kept across calls (ecall changes only a0):
#   s0 argc, s1 &argv[0], s2 buffer, s3 exit status, s4 fd, s5 argument index,
#   s6/s7 write position and bytes left.
    .globl _start
_start:
    ld      s0, 0(sp)               # argc
    addi    s1, sp, 8               # argv

    li      a7, 222                 # mmap(NULL, 65536, PROT_READ|PROT_WRITE,
    li      a0, 0                   #      MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)
    li      a1, 65536
    li      a2, 3
    li      a3, 0x22
    li      a4, -1
    li      a5, 0
    ecall
    li      t0, -4095               # -4095..-1 is an error: as unsigned, the top 4095 values
    bgeu    a0, t0, no_memory
    mv      s2, a0
    li      s3, 0

    li      t0, 1
    bgt     s0, t0, files
    li      s4, 0                   # no file: copy stdin
    call    copy
    j       done

files:
    li      s5, 1
next_file:
    bge     s5, s0, done
    li      a7, 56                  # openat(AT_FDCWD, argv[i], O_RDONLY, 0)
    li      a0, -100
    slli    t0, s5, 3
    add     t0, s1, t0
    ld      a1, 0(t0)
    li      a2, 0
    li      a3, 0
    ecall
    bltz    a0, open_failed
    mv      s4, a0
    call    copy
    li      a7, 57                  # close(fd)
    mv      a0, s4
    ecall
    addi    s5, s5, 1
    j       next_file

open_failed:
    li      a7, 64                  # write(2, "cat: cannot open a file\n", 24)
    li      a0, 2
    la      a1, open_msg
    li      a2, 24
    ecall
    li      s3, 1
    addi    s5, s5, 1
    j       next_file

done:
    li      a7, 215                 # munmap(buffer, 65536)
    mv      a0, s2
    li      a1, 65536
    ecall
    li      a7, 94                  # exit_group(status)
    mv      a0, s3
    ecall

no_memory:
    li      a7, 94
    li      a0, 12
    ecall

# copy: read fd s4 until end of file, writing everything read to stdout.
copy:
    li      a7, 63                  # read(fd, buffer, 65536)
    mv      a0, s4
    mv      a1, s2
    li      a2, 65536
    ecall
    beqz    a0, copy_done           # 0: end of file
    bltz    a0, copy_failed
    mv      s6, s2
    mv      s7, a0
write_more:
    li      a7, 64                  # write(1, s6, s7)
    li      a0, 1
    mv      a1, s6
    mv      a2, s7
    ecall
    bltz    a0, copy_failed
    add     s6, s6, a0              # a short write: go on with the rest
    sub     s7, s7, a0
    bnez    s7, write_more
    j       copy
copy_failed:
    li      s3, 1
copy_done:
    ret

open_msg:
    .ascii  "cat: cannot open a file\n"
