"""Every arch's trap path, through generated stubs (so one test covers every arch), and the
few things that are one arch's own: Thumb state, register pairs, i386's old mmap, set_tls."""

from __future__ import annotations

import importlib
import struct
import subprocess
import sys

import pytest

from kernel_model.linux_errno import Errno
from sandbox import ARCHES, Sandbox, Stop, get_arch
from sandbox.stubs import syscall_stub

ALL = list(ARCHES)
needs_keystone = pytest.mark.skipif(get_arch("arm").ks_arch is None, reason="Keystone is not installed")
UNAME_MACHINE = {"x86_64": "x86_64", "aarch64": "aarch64", "i386": "i686", "arm": "armv7l", "riscv64": "riscv64"}


@pytest.mark.parametrize("arch", ALL)
def test_a_stub_writes_and_exits(arch):
    sb = Sandbox(arch)
    r = sb.run_asm(sb.stub("write", 1, b"hello\n", 6))
    assert (r.exit_status, r.stdout, r.signal) == (0, b"hello\n", None)
    assert r.names() == ["write", "exit"]
    write = r.syscalls[0]
    assert write.decoded["fd"] == 1 and write.decoded["count"] == 6 and write.ret == 6
    # the recorded pc is the trap instruction itself
    assert sb.machine.disassemble_one(write.pc) == get_arch(arch).trap.mnemonic


@pytest.mark.parametrize("arch", ALL)
def test_the_result_and_negative_errno_land_in_the_return_register(arch):
    a = get_arch(arch)
    for args, expected in (((1, b"ab", 2), 2), ((77, b"ab", 2), -int(Errno.EBADF))):
        sb = Sandbox(arch)
        stub = syscall_stub(a, "write", args, exit_after=False)
        m = sb.load_asm(stub.text)
        assert m.run_until(m.symbols["stub_end"]) is Stop.REACHED
        assert m.reg(a.ret_reg) == expected & a.word_mask
        assert sb.result().syscalls[0].ret == expected


@pytest.mark.parametrize("arch", ALL)
def test_the_trap_changes_no_other_argument_register(arch):
    a = get_arch(arch)
    sb = Sandbox(arch)
    values = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66]
    stub = syscall_stub(a, "getpid", tuple(values), exit_after=False)
    m = sb.load_asm(stub.text)
    m.run_until(m.symbols["stub_end"])
    assert [m.reg(r) for r in a.arg_regs[1:]] == values[1:]
    if a.number_reg != a.ret_reg:
        assert m.reg(a.number_reg) == sb.machine.table.number("getpid")


@pytest.mark.parametrize("arch", ALL)
def test_an_unknown_number_is_enosys(arch):
    rec = Sandbox(arch).syscall(0x7777)
    assert rec.errno == "ENOSYS" and not rec.implemented


@pytest.mark.parametrize("arch", ALL)
def test_uname_names_the_arch_as_linux_does(arch):
    buf = bytearray(65 * 6)
    sb = Sandbox(arch)
    assert sb.syscall("uname", buf).ret == 0
    fields = [bytes(buf[i * 65 : (i + 1) * 65]).split(b"\0")[0] for i in range(6)]
    assert fields[0] == b"Linux" and fields[4].decode() == UNAME_MACHINE[arch]


@pytest.mark.parametrize("arch", ["i386", "arm"])
def test_32_bit_addresses_above_2_gib_are_not_negative(arch):
    rec = Sandbox(arch).syscall("mmap2", 0, 4096, 3, 0x22, -1, 0)
    assert rec.errno is None and rec.ret > 0x80000000
    assert rec.ret + 4096 <= get_arch(arch).mmap_top


def test_arm_passes_a_64_bit_argument_in_an_aligned_register_pair(tmp_path):
    (tmp_path / "f").write_bytes(b"0123456789")
    sb = Sandbox("arm", cwd=str(tmp_path))
    fd = sb.syscall("openat", -100, "f", 0, 0).ret
    buf = bytearray(4)
    # pread64(fd, buf, count, <r3 unused>, offset low in r4, offset high in r5)
    rec = sb.syscall("pread64", fd, buf, 4, 0xDEAD, 6, 0)
    assert (rec.ret, bytes(buf)) == (4, b"6789")
    assert rec.decoded == {"fd": fd, "buf": rec.args[1], "count": 4, "offset": 6}
    assert sb.syscall("pread64", fd, buf, 4, 0, 6, 1).ret == 0  # offset 4 GiB + 6: end of file


def test_i386_passes_a_64_bit_argument_in_the_next_two_registers(tmp_path):
    (tmp_path / "f").write_bytes(b"0123456789")
    sb = Sandbox("i386", cwd=str(tmp_path))
    fd = sb.syscall("openat", -100, "f", 0, 0).ret
    buf = bytearray(4)
    rec = sb.syscall("pread64", fd, buf, 4, 6, 0)  # esi = offset low, edi = offset high
    assert (rec.ret, bytes(buf), rec.decoded["offset"]) == (4, b"6789", 6)
    assert sb.syscall("ftruncate64", fd, 0, 0).errno == "EINVAL"  # opened read-only


def test_i386_mmap_takes_a_pointer_to_its_arguments():
    sb = Sandbox("i386")
    args = struct.pack("<6I", 0, 8192, 3, 0x22, 0xFFFFFFFF, 0)
    rec = sb.syscall("mmap", args)
    assert rec.errno is None and rec.ret % 4096 == 0
    assert sb.machine.kernel.mm.find(rec.ret).size == 8192
    assert sb.syscall("mmap", struct.pack("<6I", 0, 4096, 3, 0x22, 0xFFFFFFFF, 100)).errno == "EINVAL"
    assert sb.syscall("mmap", 16).errno == "EFAULT"


@needs_keystone
@needs_keystone
def test_i386_thread_local_storage_is_a_segment():
    sb = Sandbox("i386")
    # set_thread_area({entry -1, base of `tls`, limit 0xfffff, 32-bit, in pages, usable}), then
    # load gs with the entry it chose and read through it
    r = sb.run_asm("""
        lea ebx, [desc]; mov eax, 243; int 0x80
        mov eax, dword ptr [desc]; lea eax, [eax*8 + 3]; mov gs, eax
        mov ebx, dword ptr gs:[4]
        push 0x1234; pop ecx
        mov eax, 1; int 0x80
        .balign 4
        desc: .long -1; .long tls; .long 0xfffff; .long 0x51
        tls: .long 0; .long 42
    """)
    assert r.names() == ["set_thread_area", "exit"] and r.syscalls[0].ret == 0
    assert r.exit_status == 42  # read through gs, with a 32-bit stack still working (push/pop)
    assert sb.machine.reg("gs") == 6 * 8 + 3


def test_arm_set_tls_sets_the_register_mrc_reads():
    sb = Sandbox("arm")
    r = sb.run_asm("movw r0, #0x5678; movt r0, #0x1234; movw r7, #5; movt r7, #0xf; svc #0\n"
                   "mrc p15, 0, r0, c13, c0, 3; mov r7, #1; svc #0")
    assert r.names() == ["set_tls", "exit"] and r.syscalls[0].ret == 0
    assert r.exit_status == 0x78  # exit(0x12345678) keeps the low byte
    assert sb.machine.reg("tpidruro") == 0x12345678


@needs_keystone
def test_arm_runs_thumb_code_entered_at_an_odd_address():
    import keystone

    base = get_arch("arm").code_base
    thumb = keystone.Ks(keystone.KS_ARCH_ARM, keystone.KS_MODE_THUMB)
    code, _ = thumb.asm("movs r0, #1; adr r1, msg; movs r2, #3; movs r7, #4; svc #0; movs r0, #5; movs r7, #1; svc #0;"
                        " .balign 4; msg: .ascii \"hi\\n\"", base)
    sb = Sandbox("arm")
    m = sb.load_code(bytes(code), entry=base | 1)
    m.stop_at_syscall_entry = lambda req: True  # stop, then resume: Thumb state must survive
    assert m.run() is Stop.SYSCALL_ENTRY
    assert m.pending.pc == base + 8  # the svc after four 2-byte instructions
    assert m.disassemble_one(m.pending.pc) == "svc #0"
    m.stop_at_syscall_entry = None
    r = sb.run()
    assert (r.exit_status, r.stdout) == (5, b"hi\n")


@needs_keystone
def test_arm_starts_in_user_mode_with_the_fpu_on():
    sb = Sandbox("arm")
    r = sb.run_asm("vmov.f32 s0, #1.0; vadd.f32 s1, s0, s0; vmov r0, s1; lsr r0, r0, #24; mov r7, #1; svc #0")
    assert r.exit_status == 0x40  # 2.0f is 0x40000000
    assert sb.machine.reg("cpsr") & 0x1F == 0x10


def test_riscv64_runs_in_user_mode_with_the_fpu_on():
    sb = Sandbox("riscv64")
    tail = "\nli a7, 93; li a0, 0; ecall"
    assert sb.run_asm(".word 0x022080d3" + tail).exit_status == 0  # fadd.d
    r = sb.run_asm(".word 0x30002573" + tail)  # csrr a0, mstatus: machine mode only
    assert r.signal == "SIGILL" and r.fault.pc == get_arch("riscv64").code_base


FAULTS = [
    ("i386", "ud2", "SIGILL", None),
    ("i386", "mov eax, [8]", "SIGSEGV", 8),
    ("i386", "int3", "SIGTRAP", None),
    ("i386", "xor ecx, ecx; mov eax, 1; div ecx", "SIGFPE", None),
    ("arm", ".word 0xe7f000f0", "SIGILL", None),
    ("arm", "bkpt #0", "SIGTRAP", None),
    ("arm", "mov r0, #8; ldr r1, [r0]", "SIGSEGV", 8),
    ("riscv64", "ebreak", "SIGTRAP", None),
    ("riscv64", ".word 0", "SIGILL", None),
    ("riscv64", "li a0, 8; sd a1, 0(a0)", "SIGSEGV", 8),
    ("riscv64", "li a0, 0x1000; jr a0", "SIGSEGV", 0x1000),
]


@pytest.mark.parametrize("arch,code,signal,address", FAULTS)
def test_faults_on_the_new_arches(arch, code, signal, address):
    if arch != "riscv64" and get_arch(arch).ks_arch is None:
        pytest.skip("Keystone is not installed")
    sb = Sandbox(arch)
    r = sb.run_asm(code + "\n" + sb.stub("exit", 0).replace("_start:", ""))
    assert r.signal == signal and r.exit_status == 128 + {"SIGSEGV": 11, "SIGILL": 4, "SIGTRAP": 5, "SIGFPE": 8}[signal]
    assert r.fault is not None
    if r.fault.access != "execute":
        assert r.fault.instruction  # the faulting instruction, disassembled
    if address is not None:
        assert r.fault.address == address


def test_the_arch_index_matches_each_description():
    # sandbox.arch finds an arch by name, alias or ELF header without importing the others
    import sandbox.arch as index

    for name, (module, aliases, elf) in index._INDEX.items():
        arch = get_arch(name)
        assert importlib.import_module(module).ARCH is arch
        assert (arch.name, arch.aliases) == (name, aliases)
        assert (arch.elf_machine, arch.bits, arch.big_endian) == elf
        assert index.arch_for_elf(*elf) is arch and all(get_arch(a) is arch for a in aliases)


def test_a_run_imports_only_its_guests_arch_description():
    code = ("import sys; from sandbox import Sandbox; Sandbox('aarch64').run_asm('mov x8, #93; mov x0, #0; svc #0'); "
            "print(sorted(m for m in sys.modules if m.startswith('sandbox.arch.') and m[13:] in "
            "('x86_64', 'aarch64', 'i386', 'arm', 'riscv64')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['sandbox.arch.aarch64']"
