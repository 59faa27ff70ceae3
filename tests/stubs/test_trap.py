"""The trap path on each arch, with stubs assembled by Keystone."""

from __future__ import annotations

import pytest

from kernel_model.linux_errno import Errno
from kernel_model.seam import SyscallRequest
from sandbox import Sandbox, Stop

HELLO = {
    "x86_64": "mov eax, 1; mov edi, 1; lea rsi, [rip+msg]; mov edx, 12; syscall; mov eax, 60; xor edi, edi; syscall;"
    ' msg: .ascii "Hello world\\n"',
    "aarch64": "mov x8, #64; mov x0, #1; adr x1, msg; mov x2, #12; svc #0; mov x8, #93; mov x0, #0; svc #0;"
    ' msg: .ascii "Hello world\\n"',
}
# One call, then a label to stop at, for looking at registers right after the trap.
ONE_CALL = {
    "x86_64": "{setup}; syscall; after: nop",
    "aarch64": "{setup}; svc #0; after: nop",
}
SETUP = {
    ("x86_64", "getpid"): "mov eax, 39",
    ("aarch64", "getpid"): "mov x8, #172",
    ("x86_64", "bad_write"): "mov eax, 1; mov edi, 42; xor esi, esi; mov edx, 1",
    ("aarch64", "bad_write"): "mov x8, #64; mov x0, #42; mov x1, #0; mov x2, #1",
    ("x86_64", "efault_write"): "mov eax, 1; mov edi, 1; mov esi, 16; mov edx, 4",
    ("aarch64", "efault_write"): "mov x8, #64; mov x0, #1; mov x1, #16; mov x2, #4",
    ("x86_64", "unknown"): "mov eax, 999",
    ("aarch64", "unknown"): "mov x8, #999",
}
ARCHES = ["x86_64", "aarch64"]


def after_one_call(arch: str, what: str) -> Sandbox:
    sb = Sandbox(arch)
    machine = sb.load_asm(ONE_CALL[arch].format(setup=SETUP[arch, what]))
    assert machine.run_until(machine.symbols["after"]) is Stop.REACHED
    return sb


@pytest.mark.parametrize("arch", ARCHES)
def test_hello_runs_and_is_recorded(arch):
    sb = Sandbox(arch)
    r = sb.run_asm(HELLO[arch])
    assert (r.exit_status, r.stdout, r.stderr) == (0, b"Hello world\n", b"")
    assert r.names() == ["write", "exit"]
    write = r.syscalls[0]
    assert write.arch == arch and write.ret == 12 and write.errno is None
    assert write.decoded == {"fd": 1, "buf": write.args[1], "count": 12}
    assert sb.machine.disassemble_one(write.pc) in ("syscall", "svc #0")
    assert r.syscalls[1].ret is None


@pytest.mark.parametrize("arch", ARCHES)
def test_result_goes_to_the_return_register(arch):
    sb = after_one_call(arch, "getpid")
    assert sb.machine.reg("rax" if arch == "x86_64" else "x0") == sb.identity.pid


@pytest.mark.parametrize("arch", ARCHES)
def test_errors_come_back_as_negative_errno(arch):
    sb = after_one_call(arch, "bad_write")
    ret = sb.machine.reg("rax" if arch == "x86_64" else "x0")
    assert ret == (-9) & (2**64 - 1)
    record = sb.result().syscalls[0]
    assert (record.ret, record.errno, record.error_message) == (-9, "EBADF", "Bad file descriptor")


@pytest.mark.parametrize("arch", ARCHES)
def test_a_bad_pointer_is_efault_not_a_crash(arch):
    sb = after_one_call(arch, "efault_write")
    assert sb.result().syscalls[0].errno == "EFAULT"


@pytest.mark.parametrize("arch", ARCHES)
def test_an_unknown_number_is_enosys_and_marked(arch):
    sb = after_one_call(arch, "unknown")
    record = sb.result().syscalls[0]
    assert record.errno == "ENOSYS" and not record.implemented and record.note == "unimplemented"
    assert record.ret == -int(Errno.ENOSYS)


def test_x86_64_syscall_clobbers_rcx_and_r11():
    sb = Sandbox("x86_64")
    m = sb.load_asm("mov rcx, 1; mov r11, 2; mov eax, 39; syscall; after: nop")
    m.run_until(m.symbols["after"])
    assert m.reg("rcx") == m.symbols["after"]
    assert m.reg("r11") == m.reg("eflags")


def test_aarch64_svc_changes_only_x0():
    sb = Sandbox("aarch64")
    m = sb.load_asm("mov x1, #11; mov x5, #55; mov x8, #172; svc #0; after: nop")
    m.run_until(m.symbols["after"])
    assert (m.reg("x1"), m.reg("x5"), m.reg("x8")) == (11, 55, 172)


@pytest.mark.parametrize("arch", ARCHES)
def test_exit_stops_before_the_next_instruction(arch):
    code = {"x86_64": "mov eax, 60; mov edi, 3; syscall; mov eax, 1; syscall",
            "aarch64": "mov x8, #93; mov x0, #3; svc #0; mov x8, #64; svc #0"}[arch]
    r = Sandbox(arch).run_asm(code)
    assert r.exit_status == 3 and r.names() == ["exit"]


@pytest.mark.parametrize("arch", ARCHES)
def test_an_exception_in_the_backend_surfaces(arch):
    class Broken:
        def dispatch(self, request: SyscallRequest) -> int:
            raise RuntimeError("backend bug")

    sb = Sandbox(arch)
    m = sb.load_asm(ONE_CALL[arch].format(setup=SETUP[arch, "getpid"]))
    m.backend = Broken()
    with pytest.raises(RuntimeError, match="backend bug"):
        m.run()


@pytest.mark.parametrize("arch", ARCHES)
def test_sandbox_syscall_makes_one_call(arch):
    sb = Sandbox(arch)
    rec = sb.syscall("write", 1, b"hi\n", 3)
    assert (rec.name, rec.ret, rec.errno) == ("write", 3, None)
    assert sb.stdout == b"hi\n"
    assert sb.syscall("write", 99, b"x", 1).errno == "EBADF"
    buf = bytearray(64)
    rec = sb.syscall("getcwd", buf, 64)
    assert rec.ret > 1 and buf[: rec.ret - 1] == sb.machine.kernel.ns.resolve(".", sb.machine.kernel.cwd).text.encode()


def test_sandbox_syscall_keeps_state_between_calls():
    sb = Sandbox("aarch64")
    fd = sb.syscall("openat", -100, "/tmp/f", 0o101, 0o644).ret  # O_WRONLY|O_CREAT
    assert fd == 3
    assert sb.syscall("write", fd, b"abc", 3).ret == 3
    assert sb.syscall("close", fd).ret == 0
    assert sb.syscall("close", fd).errno == "EBADF"


def test_sandbox_syscall_refuses_a_call_the_arch_lacks():
    from sandbox import SandboxError

    with pytest.raises(SandboxError, match="not a system call on aarch64"):
        Sandbox("aarch64").syscall("open", "/tmp/x", 0)


FAULTS = [
    ("x86_64", "mov rax, [8]", "SIGSEGV", 8),
    ("x86_64", "lea rax, [rip]; mov dword ptr [rax], 1", None, None),  # code is writable in a stub
    ("x86_64", "ud2", "SIGILL", None),
    ("x86_64", "int3", "SIGTRAP", None),
    ("x86_64", "hlt", "SIGSEGV", None),
    ("x86_64", "xor ecx, ecx; mov eax, 1; div ecx", "SIGFPE", None),
    ("aarch64", "mov x0, #8; ldr x1, [x0]", "SIGSEGV", 8),
    ("aarch64", ".word 0", "SIGILL", None),  # udf #0 (Keystone lacks the mnemonic)
    ("aarch64", "brk #0", "SIGTRAP", None),
    ("aarch64", "mov x0, #0x1000; br x0", "SIGSEGV", 0x1000),
]


@pytest.mark.parametrize("arch,code,signal,address", FAULTS)
def test_faults_end_the_guest_like_linux(arch, code, signal, address):
    tail = {"x86_64": "; mov eax, 60; xor edi, edi; syscall", "aarch64": "; mov x8, #93; mov x0, #0; svc #0"}[arch]
    r = Sandbox(arch).run_asm(code + tail)
    if signal is None:
        assert r.exit_status == 0
        return
    assert r.signal == signal
    assert r.exit_status == 128 + {"SIGSEGV": 11, "SIGILL": 4, "SIGTRAP": 5, "SIGFPE": 8}[signal]
    assert r.fault is not None and r.fault.pc >= 0
    if address is not None:
        assert r.fault.address == address
    assert signal in r.fault.line()
