"""Signal frames, with hand-written handlers: the ucontext a handler sees is Linux's, a change
it makes there is what rt_sigreturn restores, and the same code under qemu-user agrees."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import Sandbox
from sandbox.arch import get_arch
from sandbox.assembler import assemble
from sandbox.elfwriter import build_elf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from helpers import qemu_for  # noqa: E402

# Install a SA_SIGINFO handler for SIGUSR1, kill ourselves, and exit with a status that says
# what the handler saw and whether its change to the saved callee-saved register came back.
# x86_64: uc_mcontext starts 40 bytes into the ucontext; r12 is its fifth register.
X86_64 = """
    lea rax, [rip + handler]
    mov [rip + act], rax
    lea rax, [rip + restorer]
    mov [rip + act + 16], rax
    mov eax, 13
    mov edi, 10
    lea rsi, [rip + act]
    xor edx, edx
    mov r10d, 8
    syscall
    mov r12, 0x1111
    mov eax, 39
    syscall
    mov edi, eax
    mov esi, 10
    mov eax, 62
    syscall
    mov edi, 1
    test rax, rax
    jnz out
    cmp r12, 0x2222
    jne out
    mov edi, [rip + seen]
out:
    mov eax, 60
    syscall
handler:
    cmp edi, 10
    jne bad
    cmp dword ptr [rsi], 10
    jne bad
    cmp qword ptr [rdx + 72], 0x1111
    jne bad
    mov qword ptr [rdx + 72], 0x2222
    mov dword ptr [rip + seen], 42
bad:
    ret
restorer:
    mov eax, 15
    syscall
act: .quad 0, 0x04000004, 0, 0
seen: .quad 3
"""
# aarch64: uc_mcontext.regs[19] is 176 + 8 + 19 * 8 bytes into the ucontext; no SA_RESTORER,
# so the handler returns through the kernel's trampoline, as with glibc.
AARCH64 = """
    adr x0, handler
    adr x1, act
    str x0, [x1]
    mov x8, #134
    mov x0, #10
    mov x2, #0
    mov x3, #8
    svc #0
    mov x19, #0x111
    mov x8, #172
    svc #0
    mov x1, #10
    mov x8, #129
    svc #0
    mov x9, x0
    mov x0, #1
    cbnz x9, out
    mov x10, #0x222
    cmp x19, x10
    b.ne out
    adr x11, seen
    ldr x0, [x11]
out:
    mov x8, #93
    svc #0
handler:
    cmp x0, #10
    b.ne bad
    ldr w3, [x1]
    cmp w3, #10
    b.ne bad
    ldr x3, [x2, #336]
    cmp x3, #0x111
    b.ne bad
    mov x3, #0x222
    str x3, [x2, #336]
    adr x4, seen
    mov x5, #42
    str x5, [x4]
bad:
    ret
act: .quad 0, 4, 0, 0
seen: .quad 3
"""
PROGRAMS = {"x86_64": X86_64, "aarch64": AARCH64}


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_the_handler_sees_and_changes_the_saved_context(arch, tmp_path):
    r = Sandbox(arch).run_asm(PROGRAMS[arch])
    assert (r.exit_status, r.names()[-3:]) == (42, ["kill", "rt_sigreturn", "exit"])
    sigreturn = r.calls("rt_sigreturn")[0]
    assert sigreturn.ret == 0  # the restored return register: kill's result
    if qemu_for(arch):
        a = get_arch(arch)
        elf = tmp_path / f"frames.{arch}"
        elf.write_bytes(build_elf(a, assemble(a, PROGRAMS[arch])))
        elf.chmod(0o755)
        assert subprocess.run([qemu_for(arch), str(elf)], timeout=30).returncode == 42


def test_x86_64_handlers_need_sa_restorer():
    # Without SA_RESTORER there is nowhere to return to: Linux kills the process with SIGSEGV.
    text = X86_64.replace("0x04000004", "0x4")
    r = Sandbox("x86_64").run_asm(text)
    assert r.exit_status == 139 and "SA_RESTORER" in r.reason


def test_aarch64_trampoline_is_a_mapping_of_its_own():
    sb = Sandbox("aarch64")
    assert sb.run_asm(AARCH64).exit_status == 42
    assert any(v.name == "[sigpage]" for v in sb.machine.kernel.mm.vmas)


def test_rt_sigreturn_without_a_frame_is_sigsegv():
    r = Sandbox("aarch64").run_asm("mov x9, #0x1001; mov sp, x9; mov x8, #139; svc #0")
    assert r.exit_status == 139 and "no valid signal frame" in r.reason
