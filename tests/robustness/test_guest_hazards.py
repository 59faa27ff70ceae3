"""Broken and hostile guest code: each hazard ends in one clear report, as Linux would end it,
and the Python process is as healthy afterwards as before.

Where ``qemu-user`` is installed, the same code built into an ELF file runs under it too, and
the exit statuses must agree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

import sandbox.engine
from sandbox import Sandbox, get_arch
from sandbox.assembler import assemble
from sandbox.elfwriter import build_elf

EXIT7 = {"x86_64": "mov eax, 60; mov edi, 7; syscall", "aarch64": "mov x8, #93; mov x0, #7; svc #0"}
HELLO = {
    "x86_64": 'mov eax, 1; mov edi, 1; lea rsi, [rip+msg]; mov edx, 3; syscall; mov eax, 60; xor edi, edi; syscall; msg: .ascii "ok\\n"',
    "aarch64": 'mov x8, #64; mov x0, #1; adr x1, msg; mov x2, #3; svc #0; mov x8, #93; mov x0, #0; svc #0; msg: .ascii "ok\\n"',
}

# (arch, name, code run before exit(7), exit status, words the report must hold)
HAZARDS = [
    ("x86_64", "jump to unmapped memory", "mov rax, 0x12345678; jmp rax", 139, "jump to unmapped memory"),
    ("aarch64", "jump to unmapped memory", "movz x0, #0x5678; movk x0, #0x1234, lsl #16; br x0", 139, "jump to unmapped memory"),
    ("x86_64", "stack exhaustion", "f: push rbp; call f", 139, "stack overflow"),
    ("aarch64", "stack exhaustion", "f: stp x29, x30, [sp, #-16]!; bl f", 139, "stack overflow"),
    ("x86_64", "hlt", "hlt", 139, "privileged instruction (hlt)"),
    ("x86_64", "port input", "mov edx, 0x60; in al, dx", 139, "privileged instruction (port input)"),
    ("x86_64", "port output", "out 0x80, al", 139, "privileged instruction (port output)"),
    ("x86_64", "sysenter", "sysenter", 132, "sysenter"),
    ("x86_64", "int to a kernel-only gate", "int 0x81", 139, "int 0x81"),
    ("x86_64", "invalid instruction", "ud2", 132, "invalid instruction"),
    ("x86_64", "division by zero", "xor ecx, ecx; div ecx", 136, "division by zero"),
    ("aarch64", "misaligned exclusive load", "adr x1, data; add x1, x1, #1; ldxr x0, [x1]", 135, "misaligned exclusive"),
    ("aarch64", "misaligned jump", "adr x1, data; add x1, x1, #2; br x1", 135, "misaligned instruction address"),
    ("aarch64", "secure monitor call", "smc #0", 132, "secure monitor call"),
    ("aarch64", "hypervisor call", "hvc #0", 132, "undefined instruction"),
    ("aarch64", "undefined instruction", ".word 0", 132, "undefined instruction"),
    # What Linux lets a process do, the sandbox does too.
    ("aarch64", "wfi is a hint", "wfi; wfe", 7, None),
    ("x86_64", "misaligned loads are fine", "lea rax, [rip+data]; mov rbx, [rax+1]", 7, None),
    ("aarch64", "misaligned loads are fine", "adr x1, data; ldr x0, [x1, #1]", 7, None),
    # Self-modifying code: the rewritten instruction runs (Unicorn sees writes to translated code).
    ("x86_64", "self-modifying code", "lea rax, [rip+patch]; mov byte ptr [rax+1], 9; patch: mov edi, 5; mov eax, 60; syscall", 9, None),
    ("aarch64", "self-modifying code", "adr x1, patch; ldr w2, [x1, #4]; str w2, [x1]; patch: mov x0, #5; mov x0, #9; mov x8, #93; svc #0", 9, None),
]


def qemu_status(arch: str, elf: bytes, folder: Path) -> int | None:
    """The exit status (a shell's: 128 + signal) of ``elf`` under qemu-user; None without it."""
    qemu = shutil.which(f"qemu-{arch}")
    if qemu is None:
        return None
    path = folder / f"prog.{arch}"
    path.write_bytes(elf)
    os.chmod(path, 0o755)
    r = subprocess.run([qemu, str(path)], capture_output=True, timeout=60, start_new_session=True)
    return 128 - r.returncode if r.returncode < 0 else r.returncode


def program(arch: str, code: str) -> str:
    return f"{code}; {EXIT7[arch]}; .align 4; data: .quad 0; .quad 0"


def health_check(arch: str) -> None:
    r = Sandbox(arch).run_asm(HELLO[arch])
    assert (r.exit_status, r.stdout) == (0, b"ok\n")


@pytest.mark.parametrize("arch, name, code, status, words", HAZARDS, ids=[f"{h[0]}-{h[1]}" for h in HAZARDS])
def test_each_hazard_ends_as_linux_ends_it(arch, name, code, status, words, tmp_path):
    r = Sandbox(arch).run_asm(program(arch, code))
    assert r.exit_status == status, r
    if words is None:
        assert r.fault is None
    else:
        assert r.fault is not None and words in r.fault.line()
        assert "\n" not in r.fault.line()
    health_check(arch)
    oracle = qemu_status(arch, build_elf(get_arch(arch), assemble(get_arch(arch), program(arch, code))), tmp_path)
    if oracle is not None:
        assert oracle == status


def test_code_after_a_fatal_instruction_hook_does_not_run():
    # The port-input hook stops the engine only at the end of the block: the write after it
    # in the same block must not be served, and the report keeps the registers of the fault.
    r = Sandbox("x86_64").run_asm(
        "mov eax, 3; in al, 0x60; mov eax, 1; mov edi, 1; lea rsi, [rip+m]; mov edx, 1; syscall; m: .byte 65"
    )
    assert (r.exit_status, r.stdout, r.names()) == (139, b"", [])
    assert r.fault is not None and r.fault.registers["rax"] == 3


def test_writing_to_read_only_code_is_a_segfault(tmp_path):
    # An ELF's text is not writable: self-modifying code there is SIGSEGV, as on Linux.
    arch = get_arch("x86_64")
    code = assemble(arch, "lea rax, [rip]; mov byte ptr [rax], 0x90; mov eax, 60; syscall")
    elf = bytearray(build_elf(arch, code))
    elf[64 + 4] = 5  # p_flags of the only PT_LOAD: R+X, no W
    path = tmp_path / "ro"
    path.write_bytes(bytes(elf))
    r = Sandbox("x86_64").run_file(str(path))
    assert r.signal == "SIGSEGV" and "write to read-only memory" in r.fault.line()


# -- endless guests ------------------------------------------------------------------------

SPIN = {"x86_64": "l: jmp l", "aarch64": "l: b l"}
SLEEP = {  # nanosleep for an hour
    "x86_64": "mov eax, 35; lea rdi, [rip+ts]; xor esi, esi; syscall; ts: .quad 3600; .quad 0",
    "aarch64": "mov x8, #101; adr x0, ts; mov x1, #0; svc #0; ts: .quad 3600; .quad 0",
}


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
@pytest.mark.parametrize("guest", [SPIN, SLEEP], ids=["spin", "sleep"])
def test_a_timeout_kills_an_endless_guest_on_time(arch, guest):
    threads = threading.active_count()
    t = time.monotonic()
    r = Sandbox(arch, timeout=0.3).run_asm(guest[arch])
    elapsed = time.monotonic() - t
    assert (r.exit_status, r.signal, r.limit) == (137, "SIGKILL", "timeout")
    assert r.reason == "SIGKILL (Killed): wall-clock timeout of 0.3s reached"
    assert 0.3 <= elapsed < 3
    health_check(arch)
    assert threading.active_count() <= max(threads, 2)  # at most the watchdog, started once


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_an_instruction_budget_ends_an_endless_loop_with_sigxcpu(arch):
    r = Sandbox(arch, max_insns=100_000).run_asm(SPIN[arch])
    assert (r.exit_status, r.signal, r.limit) == (152, "SIGXCPU", "max_insns")
    assert r.reason == "SIGXCPU (CPU time limit exceeded): instruction budget of 100,000 used up"
    health_check(arch)


LOOP = {  # 1000 getpid calls, then exit(5): 1 + 4 * 1000 + 3 instructions
    "x86_64": "mov rbx, 1000; l: mov eax, 39; syscall; dec rbx; jnz l; mov eax, 60; mov edi, 5; syscall",
    "aarch64": "mov x19, #1000; l: mov x8, #172; svc #0; subs x19, x19, #1; b.ne l; mov x8, #93; mov x0, #5; svc #0",
}


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
@pytest.mark.parametrize("slice_size", [1 << 24, 7, 1])
def test_the_instruction_budget_is_exact_across_slices_and_syscalls(arch, slice_size, monkeypatch):
    monkeypatch.setattr(sandbox.engine, "INSN_SLICE", slice_size)
    enough = Sandbox(arch, max_insns=4004).run_asm(LOOP[arch])
    assert (enough.exit_status, len(enough.names())) == (5, 1001)
    short = Sandbox(arch, max_insns=4003).run_asm(LOOP[arch])
    assert (short.exit_status, short.limit, len(short.names())) == (152, "max_insns", 1000)


def test_a_closed_machine_says_so_instead_of_crashing():
    sb = Sandbox("x86_64")
    machine = sb.load_asm(HELLO["x86_64"])
    sb.close()
    sb.close()  # twice is fine
    from sandbox import SandboxError

    with pytest.raises(SandboxError, match="closed"):
        machine.run()
    with pytest.raises(SandboxError, match="closed"):
        machine.reg("rax")
    machine.request_stop()  # a watchdog arriving late does nothing


def test_a_machine_goes_with_its_last_reference():
    import gc
    import weakref

    gc.disable()
    try:
        sb = Sandbox("aarch64")
        sb.run_asm(HELLO["aarch64"])
        machine, engine = weakref.ref(sb.machine), weakref.ref(sb.machine.uc)
        del sb
        assert machine() is None and engine() is None  # no garbage collection needed
    finally:
        gc.enable()


def test_unmapped_bytes_before_the_pc_are_no_hint():
    # The hint check reads the bytes before the pc; at the start of a mapping there are none.
    r = Sandbox("aarch64").run_code(bytes.fromhex("7f2003d5") + bytes.fromhex("a00080d2a80b80d2010000d4"))
    assert r.exit_status == 5  # wfi; mov x0, #5; mov x8, #93; svc #0


def test_a_burst_of_hazards_leaves_no_thread_behind():
    before = threading.active_count()
    for arch, _, code, _, _ in HAZARDS:
        Sandbox(arch, timeout=5).run_asm(program(arch, code))
    assert threading.active_count() <= max(before, 2)  # at most the one watchdog
