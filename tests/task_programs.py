"""Small guest programs with several tasks, for the debugger's tests (tests/debug, tests/e2e).

``THREADS``: the main thread makes a thread (clone with CLONE_THREAD, its tid written to and
cleared from ``tid``), waits for it with FUTEX_WAIT on ``tid``, then writes "main\\n"; the
thread writes "thread\\n" and exits. ``FORK``: the parent forks, waits for the child (wait4)
and writes "parent\\n"; the child writes "child\\n" and exits with status 3. ``FORK_EXEC``:
the child execs ``/x/hello`` (see :func:`hello_elf`), the parent waits. Each has the labels
the tests break at: ``thread``, ``wait``, ``parent``, ``child``.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

THREADS = {
    "x86_64": """
_start:
    mov eax, 56
    mov edi, 0x310f00
    lea rsi, [rip + stack_top]
    lea rdx, [rip + tid]
    lea r10, [rip + tid]
    xor r8, r8
    syscall
    test rax, rax
    jz thread
wait:
    mov edx, dword ptr [rip + tid]
    test edx, edx
    jz joined
    mov eax, 202
    lea rdi, [rip + tid]
    xor esi, esi
    xor r10, r10
    syscall
    jmp wait
joined:
    mov eax, 1
    mov edi, 1
    lea rsi, [rip + mmsg]
    mov edx, 5
    syscall
    mov eax, 231
    xor edi, edi
    syscall
thread:
    mov eax, 1
    mov edi, 1
    lea rsi, [rip + tmsg]
    mov edx, 7
    syscall
    mov eax, 60
    xor edi, edi
    syscall
tmsg: .ascii "thread\\n"
mmsg: .ascii "main\\n"
.align 8
tid: .long 0
stack: .space 512
stack_top:
""",
    "aarch64": """
_start:
    mov x8, #220
    movz x0, #0x0f00
    movk x0, #0x31, lsl #16
    adr x1, stack_top
    adr x2, tid
    mov x3, #0
    adr x4, tid
    svc #0
    cbz x0, thread
wait:
    adr x9, tid
    ldr w2, [x9]
    cbz w2, joined
    mov x8, #98
    mov x0, x9
    mov x1, #0
    mov x3, #0
    svc #0
    b wait
joined:
    mov x8, #64
    mov x0, #1
    adr x1, mmsg
    mov x2, #5
    svc #0
    mov x8, #94
    mov x0, #0
    svc #0
thread:
    mov x8, #64
    mov x0, #1
    adr x1, tmsg
    mov x2, #7
    svc #0
    mov x8, #93
    mov x0, #0
    svc #0
tmsg: .ascii "thread\\n"
mmsg: .ascii "main\\n"
.align 3
tid: .long 0
.align 4
stack: .space 512
stack_top:
""",
}

# fork, then the child's part and the parent's (aarch64 has no fork: clone(SIGCHLD, 0, ...))
_FORK_CALL = {
    "x86_64": "    mov eax, 57\n    syscall\n    test rax, rax\n    jz child\n",
    "aarch64": "    mov x8, #220\n    mov x0, #17\n    mov x1, #0\n    mov x2, #0\n    mov x3, #0\n    mov x4, #0\n"
               "    svc #0\n    cbz x0, child\n",
}
_WAIT_ANY = {
    "x86_64": "    mov eax, 61\n    mov rdi, -1\n    xor esi, esi\n    xor edx, edx\n    xor r10, r10\n    syscall\n",
    "aarch64": "    mov x8, #260\n    mov x0, #-1\n    mov x1, #0\n    mov x2, #0\n    mov x3, #0\n    svc #0\n",
}
_WRITE = {
    "x86_64": "    mov eax, 1\n    mov edi, 1\n    lea rsi, [rip + {msg}]\n    mov edx, {n}\n    syscall\n",
    "aarch64": "    mov x8, #64\n    mov x0, #1\n    adr x1, {msg}\n    mov x2, #{n}\n    svc #0\n",
}
_EXIT = {
    "x86_64": "    mov eax, 60\n    mov edi, {status}\n    syscall\n",
    "aarch64": "    mov x8, #93\n    mov x0, #{status}\n    svc #0\n",
}
_EXEC = {
    "x86_64": "    mov eax, 59\n    lea rdi, [rip + path]\n    xor esi, esi\n    xor edx, edx\n    syscall\n",
    "aarch64": "    mov x8, #221\n    adr x0, path\n    mov x1, #0\n    mov x2, #0\n    svc #0\n",
}


def _fork(arch: str, child: str) -> str:
    return ("_start:\n" + _FORK_CALL[arch] + "parent:\n" + _WAIT_ANY[arch]
            + _WRITE[arch].format(msg="pmsg", n=7) + _EXIT[arch].format(status=0) + "child:\n" + child
            + 'pmsg: .ascii "parent\\n"\ncmsg: .ascii "child\\n"\npath: .asciz "/x/hello"\n')


FORK = {arch: _fork(arch, _WRITE[arch].format(msg="cmsg", n=6) + _EXIT[arch].format(status=3)) for arch in _EXIT}
FORK_EXEC = {arch: _fork(arch, _EXEC[arch] + _EXIT[arch].format(status=1)) for arch in _EXIT}


def hello_elf(arch: str, directory: Path) -> Path:
    """``directory/hello``: examples/hello as an ELF with its labels, for FORK_EXEC to exec (as /x/hello)."""
    from sandbox.arch import get_arch
    from sandbox.assembler import assemble
    from sandbox.debug.symbolfile import elf_with_symbols

    a = get_arch(arch)
    path = directory / "hello"
    path.write_bytes(elf_with_symbols(a, assemble(a, (ROOT / f"examples/hello/hello.{arch}.s").read_text())))
    path.chmod(0o755)
    return path
