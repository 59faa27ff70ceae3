"""Signal frames on every arch, with hand-written handlers: each handler checks the frame it is
given against Linux's layout (the arguments, the siginfo, the saved registers, pc, stack
pointer and mask in the ucontext or sigcontext, the FP record), changes a saved register and
the saved mask, and the interrupted code checks that this is what came back. The exit status
says which check failed (42: none). The same programs run under qemu-user where it is
installed, which must agree.

Exit statuses: 1 kill failed, 2 the changed register did not come back, 3 the handler did not
run or found something wrong, 4 the mask that came back is not the changed one, 5 the FP
register did not come back.

The changed mask adds SIGUSR2 (bit 11, the mask's low word) and signal 35 (bit 34, the high
word, which i386's old frame keeps in ``extramask``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import Sandbox
from sandbox.arch import get_arch
from sandbox.arch.arm_frames import ARM_SIGRETURN
from sandbox.arch.i386_frames import I386_SIGRETURN, RT_SIGRETURN_OFFSET
from sandbox.arch.riscv_frames import RISCV_SIGRETURN
from sandbox.assembler import assemble
from sandbox.elfwriter import build_elf
from sandbox.trace import strace_lines

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from helpers import qemu_for  # noqa: E402

keystone = pytest.importorskip("keystone")

SA_SIGINFO, SA_RESTORER = 0x4, 0x04000000
CHANGED_MASK = 1 << 11 | 1 << 34


def _run(arch: str, text: str, **kw) -> tuple[Sandbox, object]:
    sb = Sandbox(arch, **kw)
    return sb, sb.run_asm(text)


def _sigpage(sb: Sandbox) -> int:
    pages = [v.start for v in sb.machine.kernel.mm.vmas if v.name == "[sigpage]"]
    assert len(pages) == 1
    return pages[0]


def _qemu_status(arch: str, text: str, tmp_path: Path) -> int | None:
    """The exit status of ``text`` under qemu-user, or None when it is not installed."""
    qemu = qemu_for(arch)
    if qemu is None:
        return None
    a = get_arch(arch)
    elf = tmp_path / f"frames.{arch}"
    elf.write_bytes(build_elf(a, assemble(a, text)))
    elf.chmod(0o755)
    return subprocess.run([qemu, str(elf)], timeout=30, capture_output=True).returncode


# -- i386 ----------------------------------------------------------------------------------------
# struct sigcontext_32 offsets: di 16, sp 28, ip 56, fpstate 76, oldmask 80. The rt frame:
# pretcode, sig, pinfo, puc, siginfo (128), then the ucontext (flags, link, stack: 20 bytes,
# the sigcontext, uc_sigmask at 108). The old one: pretcode, sig, sigcontext, the unused
# _fpstate_32 (624), extramask at 720. edi is the saved register changed, xmm1 the FP one (in
# the fxsave image after the 112-byte fsave header: xmm1 at 112 + 160 + 16).

def i386_program(rt: bool, restorer: bool, linux_only: bool = True) -> str:
    flags = (SA_SIGINFO if rt else 0) | (SA_RESTORER if restorer else 0)
    sc = "ecx + 20" if rt else "esp + 8"
    if rt:
        # uc_flags: 0 without XSAVE frames (which qemu 7.2 says it has: UC_FP_XSTATE)
        uc_flags = "    cmp dword ptr [ecx], 0\n    jne hbad\n" if linux_only else ""
        entry = f"""
    cmp edx, [esp + 8]      # regparm(3): eax = sig, edx = &info, ecx = &uc
    jne hbad
    cmp ecx, [esp + 12]
    jne hbad
    lea eax, [esp + 16]     # the siginfo follows pretcode, sig, pinfo and puc
    cmp edx, eax
    jne hbad
    lea eax, [edx + 128]    # and the ucontext follows the siginfo
    cmp ecx, eax
    jne hbad
    cmp dword ptr [edx], 10         # si_signo
    jne hbad
    cmp dword ptr [edx + 8], 0      # si_code: SI_USER
    jne hbad
    cmp [edx + 12], ebx             # si_pid
    jne hbad
{uc_flags}    cmp dword ptr [ecx + 108], 0    # uc_sigmask: the mask before the signal
    jne hbad
    cmp dword ptr [ecx + 112], 0
    jne hbad
"""
        change_mask = "    or dword ptr [ecx + 108], 0x800\n    or dword ptr [ecx + 112], 4\n"
        ret_code = "    mov eax, 173\n    int 0x80\n"
    else:
        entry = """
    cmp dword ptr [esp + 88], 0     # sc.oldmask and extramask: the mask before the signal
    jne hbad
    cmp dword ptr [esp + 720], 0
    jne hbad
"""
        change_mask = "    or dword ptr [esp + 88], 0x800\n    or dword ptr [esp + 720], 4\n"
        ret_code = "    pop eax\n    mov eax, 119\n    int 0x80\n"
    # regparm(3): eax = sig, and for the old frame edx = ecx = 0; then the i386 ABI's stack
    # alignment at a function's entry. qemu 7.2 sets eax for the rt frame only, and aligns
    # frames to 8 bytes; it writes an fsave image only (magic 0xffff, no xmm registers).
    linux_entry = "    cmp eax, 10\n    jne hbad\n" if rt or linux_only else ""
    if linux_only:
        linux_entry += "" if rt else "    test edx, edx\n    jnz hbad\n    test ecx, ecx\n    jnz hbad\n"
        linux_entry += "    lea eax, [esp + 4]\n    test eax, 15\n    jnz hbad\n"
    fp_checks = f"""
    mov eax, [{sc} + 76]            # sc.fpstate: the fsave header, then the fxsave image
    cmp word ptr [eax + 110], 0     # magic: X86_FXSR_MAGIC
    jne hbad
    lea edx, [eax + 112]
    test edx, 63                    # fpu__alloc_mathframe aligns the fxsave image to 64
    jnz hbad
    cmp dword ptr [eax + 288], 0x5555   # xmm1
    jne hbad
    mov dword ptr [eax + 288], 0x6666
""" if linux_only else ""
    fp_after = """
    mov ebx, 5
    movd eax, xmm1
    cmp eax, 0x6666
    jne out
""" if linux_only else ""
    return f"""
    lea eax, [handler]
    mov [act], eax
    lea eax, [restorer]
    mov [act + 8], eax
    mov eax, 174
    mov ebx, 10
    lea ecx, [act]
    xor edx, edx
    mov esi, 8
    int 0x80
    mov edi, 0x1111
    mov eax, 0x5555
    movd xmm1, eax
    mov eax, 20
    int 0x80
    mov ebx, eax            # kill(getpid(), SIGUSR1); the handler compares si_pid with ebx
    mov ecx, 10
    mov [sp_before], esp
    mov eax, 37
    int 0x80
after:
    mov ebx, 1
    test eax, eax
    jnz out
    mov ebx, 2
    cmp edi, 0x2222
    jne out
{fp_after}
    sub esp, 8
    mov eax, 175            # rt_sigprocmask(SIG_BLOCK, NULL, &old, 8)
    xor ebx, ebx
    xor ecx, ecx
    mov edx, esp
    mov esi, 8
    int 0x80
    mov ebx, 4
    cmp dword ptr [esp], 0x800
    jne out
    cmp dword ptr [esp + 4], 4
    jne out
    mov ebx, [seen]
out:
    mov eax, 1
    int 0x80
handler:
{linux_entry}
    cmp dword ptr [esp + 4], 10
    jne hbad
{entry}
    cmp dword ptr [{sc} + 16], 0x1111   # sc.di
    jne hbad
    lea eax, [after]
    cmp [{sc} + 56], eax                # sc.ip
    jne hbad
    mov eax, [sp_before]
    cmp [{sc} + 28], eax                # sc.sp
    jne hbad
{fp_checks}
    mov dword ptr [{sc} + 16], 0x2222
{change_mask}
    mov dword ptr [seen], 42
hbad:
    ret
restorer:
{ret_code}
act: .long 0, {flags}, 0, 0, 0
seen: .long 3
sp_before: .long 0
"""


@pytest.mark.parametrize("restorer", [False, True], ids=["trampoline", "sa_restorer"])
@pytest.mark.parametrize("rt", [True, False], ids=["rt", "old"])
def test_i386_frames(rt, restorer, tmp_path):
    sb, r = _run("i386", i386_program(rt, restorer))
    call = "rt_sigreturn" if rt else "sigreturn"
    assert (r.exit_status, r.names()[-4:]) == (42, ["kill", call, "rt_sigprocmask", "exit"]), r.reason
    ret = r.calls(call)[0]
    assert ret.ret == 0  # the restored eax: kill's result
    if restorer:
        assert ret.pc == sb.machine.symbols["restorer"] + (5 if rt else 6)
    else:  # __kernel_rt_sigreturn or __kernel_sigreturn, on the signal page
        start = RT_SIGRETURN_OFFSET if rt else 0
        assert ret.pc == _sigpage(sb) + start + (5 if rt else 6)
        assert sb.machine.memory.peek(_sigpage(sb), len(I386_SIGRETURN)) == I386_SIGRETURN
    assert sb.machine.kernel.signals.blocked == CHANGED_MASK
    assert _qemu_status("i386", i386_program(rt, restorer, linux_only=False), tmp_path) in (None, 42)


def test_i386_handler_starts_with_a_fresh_fpu():
    # fpu__clear_user_states: the handler's xmm1 is 0 and its control words the defaults
    text = i386_program(True, False).replace(
        "handler:\n", "handler:\n    movd edx, xmm1\n    test edx, edx\n    jnz hbad\n    mov edx, [esp + 8]\n")
    assert Sandbox("i386").run_asm(text).exit_status == 42


def test_i386_sigreturn_shows_the_mask_it_restores():
    sb = Sandbox("i386", trace=True)
    r = sb.run_asm(i386_program(False, False))
    assert r.exit_status == 42
    line = next(x for x in strace_lines(r) if x.startswith("sigreturn("))
    assert line.startswith("sigreturn({mask=[USR2 RT_3]})"), line


def test_i386_sigreturn_without_a_frame_is_sigsegv():
    r = Sandbox("i386").run_asm("mov esp, 0x1000; mov eax, 119; int 0x80")
    assert r.exit_status == 139 and "sigreturn found no valid signal frame" in r.reason


# -- arm -----------------------------------------------------------------------------------------
# struct ucontext: uc_flags, uc_link, uc_stack, then struct sigcontext at 20 (trap_no,
# error_code, oldmask, arm_r0 at 32 .. arm_r10, fp, ip, sp at 84, lr, pc at 92, cpsr at 96,
# fault_address), uc_sigmask at 104, uc_regspace at 232 (the VFP record: magic, size 288,
# d0-d31 from 240; its end marker at 520). The rt frame has the siginfo first. r4 is the
# register changed, r5 carries the handler's verdict back (its saved value), d8 the FP one.
# The handler is the same text for ARM and Thumb: it reaches only its registers and the frame.

def arm_handler(rt: bool, linux_only: bool = True) -> str:
    if rt:
        entry = """
    ldr r3, [r1]
    cmp r3, #10
    bne hbad
    ldr r3, [r1, #8]
    cmp r3, #0
    bne hbad
    ldr r3, [r1, #12]
    cmp r3, r9
    bne hbad
    add r3, r1, #128
    cmp r3, r2
    bne hbad
    mov r3, sp
    cmp r3, r1
    bne hbad
    ldr r3, [r2]
    cmp r3, #0
    bne hbad
"""
    else:  # the old frame's uc_flags is 0x5ac3c35a (qemu 7.2 leaves it 0)
        entry = "    mov r2, sp\n"
        if linux_only:
            entry += "    ldr r3, [r2]\n    movw r12, #0xc35a\n    movt r12, #0x5ac3\n    cmp r3, r12\n    bne hbad\n"
    return f"""
    cmp r0, #10
    bne hbad
    mov r3, sp
    tst r3, #7
    bne hbad
{entry}
    ldr r3, [r2, #48]
    movw r12, #0x1111
    cmp r3, r12
    bne hbad
    ldr r3, [r2, #92]
    cmp r3, r6
    bne hbad
    ldr r3, [r2, #96]
    and r3, r3, #0x20
    cmp r3, r8
    bne hbad
    ldr r3, [r2, #104]
    cmp r3, #0
    bne hbad
    ldr r3, [r2, #232]
    movw r12, #0x5001
    movt r12, #0x5646
    cmp r3, r12
    bne hbad
    ldr r3, [r2, #236]
    cmp r3, #288
    bne hbad
    ldr r3, [r2, #520]
    cmp r3, #0
    bne hbad
    ldr r3, [r2, #304]
    movw r12, #0x3333
    cmp r3, r12
    bne hbad
    movw r3, #0x4444
    str r3, [r2, #304]
    movw r3, #0x2222
    str r3, [r2, #48]
    ldr r3, [r2, #104]
    orr r3, r3, #0x800
    str r3, [r2, #104]
    ldr r3, [r2, #108]
    orr r3, r3, #4
    str r3, [r2, #108]
    mov r3, #42
    str r3, [r2, #52]
hbad:
    bx lr
"""


def _thumb(text: str) -> bytes:
    ks = keystone.Ks(keystone.KS_ARCH_ARM, keystone.KS_MODE_THUMB)
    code, _ = ks.asm(text, 0)
    return bytes(code)


def _byte_lines(label: str, code: bytes) -> str:
    return f"    .align 2\n{label}: .byte {', '.join(str(b) for b in code)}\n"


ARM_TKILL = "movs r1, #10; movs r7, #37; svc #0"  # kill(r0, SIGUSR1), in Thumb code


def arm_program(rt: bool, restorer: bool, thumb_handler: bool = False, thumb_main: bool = False,
                linux_only: bool = True) -> str:
    flags = (SA_SIGINFO if rt else 0) | (SA_RESTORER if restorer else 0)
    if thumb_main:  # the kill is made from Thumb code: the saved CPSR.T is set, and comes back
        kill = f"""
    ldr r12, tkill_addr
    add r6, r12, #{len(_thumb(ARM_TKILL))}
    mov r8, #0x20
    add r12, r12, #1
    mov r0, r9
    blx r12
"""
    else:
        kill = """
    ldr r6, after_addr
    mov r8, #0
    mov r0, r9
    mov r1, #10
    mov r7, #37
    svc #0
after:
"""
    handler = "thandler + 1" if thumb_handler else "handler"
    return f"""
    ldr r0, handler_addr
    ldr r1, act_addr
    str r0, [r1]
    ldr r0, restorer_addr
    str r0, [r1, #8]
    mov r7, #174
    mov r0, #10
    mov r2, #0
    mov r3, #8
    svc #0
    movw r4, #0x1111
    mov r5, #3
    movw r0, #0x3333
    vmov d8, r0, r0
    mov r7, #20
    svc #0
    mov r9, r0
{kill}
    mov r10, r0
    mov r0, #1
    cmp r10, #0
    bne out
    mov r0, #2
    movw r10, #0x2222
    cmp r4, r10
    bne out
    mov r0, #5
    vmov r10, r11, d8
    movw r12, #0x4444
    cmp r10, r12
    bne out
    sub sp, sp, #8
    mov r0, #0
    mov r1, #0
    mov r2, sp
    mov r3, #8
    mov r7, #175
    svc #0
    ldr r10, [sp]
    ldr r11, [sp, #4]
    mov r0, #4
    cmp r10, #0x800
    bne out
    cmp r11, #4
    bne out
    mov r0, r5
out:
    mov r7, #1
    svc #0
handler:
{arm_handler(rt, linux_only)}
restorer:
    mov r7, #{173 if rt else 119}
    svc #0
handler_addr: .word {handler}
act_addr: .word act
restorer_addr: .word restorer
after_addr: .word {"0" if thumb_main else "after"}
tkill_addr: .word tkill
act: .word 0, {flags}, 0, 0, 0
{_byte_lines("thandler", _thumb(arm_handler(rt, linux_only)))}
{_byte_lines("tkill", _thumb(ARM_TKILL + "; bx lr"))}
"""


ARM_CASES = [
    pytest.param(rt, restorer, th, tm, id=f"{'rt' if rt else 'old'}-{'sa_restorer' if restorer else 'trampoline'}"
                 f"{'-thumb-handler' if th else ''}{'-thumb-code' if tm else ''}")
    for rt, restorer, th, tm in [
        (True, False, False, False), (True, True, False, False), (False, False, False, False),
        (False, True, False, False), (True, False, True, False), (False, False, True, False),
        (True, True, True, False), (True, False, False, True), (False, False, True, True),
    ]
]


@pytest.mark.parametrize("rt, restorer, thumb_handler, thumb_main", ARM_CASES)
def test_arm_frames(rt, restorer, thumb_handler, thumb_main, tmp_path):
    text = arm_program(rt, restorer, thumb_handler, thumb_main)
    sb, r = _run("arm", text)
    call = "rt_sigreturn" if rt else "sigreturn"
    assert (r.exit_status, r.names()[-4:]) == (42, ["kill", call, "rt_sigprocmask", "exit"]), r.reason
    ret = r.calls(call)[0]
    assert ret.ret == 0  # the restored r0: kill's result
    if restorer:
        assert ret.pc == sb.machine.symbols["restorer"] + 4
    else:  # sigreturn_codes on the signal page: the ARM or Thumb snippet, rt or not
        idx = (2 if thumb_handler else 0) + (3 if rt else 0)
        assert ret.pc == _sigpage(sb) + 4 * idx + (2 if thumb_handler else 4)
        assert sb.machine.memory.peek(_sigpage(sb), len(ARM_SIGRETURN)) == ARM_SIGRETURN
    assert sb.machine.kernel.signals.blocked == CHANGED_MASK
    qemu_text = arm_program(rt, restorer, thumb_handler, thumb_main, linux_only=False)
    assert _qemu_status("arm", qemu_text, tmp_path) in (None, 42)


def test_arm_rt_sigreturn_refuses_a_privileged_cpsr():
    # valid_user_regs: a handler that asks for supervisor mode gets SIGSEGV, not the mode
    text = arm_program(True, False).replace("    mov r3, #42\n    str r3, [r2, #52]\n",
                                            "    mov r3, #0x13\n    str r3, [r2, #96]\n")
    r = Sandbox("arm").run_asm(text)
    assert r.exit_status == 139 and "not a user-mode one" in r.reason


def test_arm_sigreturn_needs_an_aligned_frame():
    r = Sandbox("arm").run_asm("mov r7, #119; mov r0, sp; sub sp, sp, #4; svc #0")
    assert r.exit_status == 139 and "misaligned stack pointer" in r.reason


def test_arm_rt_sigreturn_shows_the_mask_it_restores():
    r = Sandbox("arm", trace=True).run_asm(arm_program(True, False))
    line = next(x for x in strace_lines(r) if x.startswith("rt_sigreturn("))
    assert line.startswith("rt_sigreturn({mask=[USR2 RT_3]})"), line


# -- riscv64 -------------------------------------------------------------------------------------
# struct ucontext: uc_flags, uc_link, uc_stack, uc_sigmask at 40, then struct sigcontext at
# 176: pc, x1-x31 (s1 = x9 at 248, s3 = x19 at 328, sp = x2 at 192), the FP state from 432
# (fs0 = f8 at 496). s1 is the register changed, s3 the verdict, fs0 the FP one.
# fmv.d.x fs0, t0 and fmv.x.d t0, fs0, which the project's assembler (RV64IM) does not know:
FMV_D_X_FS0_T0, FMV_X_D_T0_FS0 = 0xF2028453, 0xE20402D3

RISCV = f"""
    la a0, handler
    la a1, act
    sd a0, 0(a1)
    li a7, 134
    li a0, 10
    li a2, 0
    li a3, 8
    ecall
    li s1, 0x111
    li s3, 3
    li t0, 0x3333
    .word {FMV_D_X_FS0_T0:#x}
    li a7, 172
    ecall
    mv s2, a0
    la s4, after
    la t0, sp_before
    sd sp, 0(t0)
    li a1, 10
    li a7, 129
    ecall
after:
    mv t1, a0
    li a0, 1
    bnez t1, out
    li a0, 2
    li t2, 0x222
    bne s1, t2, out
    li a0, 5
    .word {FMV_X_D_T0_FS0:#x}
    li t2, 0x4444
    bne t0, t2, out
    addi sp, sp, -16
    li a0, 0
    li a1, 0
    mv a2, sp
    li a3, 8
    li a7, 135
    ecall
    ld t1, 0(sp)
    li t2, {CHANGED_MASK:#x}
    li a0, 4
    bne t1, t2, out
    mv a0, s3
out:
    li a7, 93
    ecall
handler:
    li t0, 10
    bne a0, t0, hbad
    lw t1, 0(a1)
    bne t1, t0, hbad
    lw t1, 8(a1)
    bnez t1, hbad
    lw t1, 16(a1)
    bne t1, s2, hbad
    addi t1, a1, 128
    bne t1, a2, hbad
    bne a1, sp, hbad
    andi t1, sp, 15
    bnez t1, hbad
    ld t1, 0(a2)
    bnez t1, hbad
    ld t1, 40(a2)
    bnez t1, hbad
    ld t1, 176(a2)
    bne t1, s4, hbad
    ld t1, 192(a2)
    la t2, sp_before
    ld t2, 0(t2)
    bne t1, t2, hbad
    ld t1, 248(a2)
    li t2, 0x111
    bne t1, t2, hbad
    ld t1, 496(a2)
    li t2, 0x3333
    bne t1, t2, hbad
    lw t1, 0(ra)
    li t2, 0x08b00893
    bne t1, t2, hbad
    li t1, 0x4444
    sd t1, 496(a2)
    li t1, 0x222
    sd t1, 248(a2)
    ld t1, 40(a2)
    li t2, {CHANGED_MASK:#x}
    or t1, t1, t2
    sd t1, 40(a2)
    li t1, 42
    sd t1, 328(a2)
hbad:
    ret
act: .quad 0, {SA_SIGINFO}, 0
sp_before: .quad 0
"""


@pytest.mark.parametrize("flags", [SA_SIGINFO, 0], ids=["siginfo", "plain"])
def test_riscv64_frame(flags, tmp_path):
    # one frame whatever the flags: a plain handler gets &info and &uc as well
    text = RISCV.replace(f"act: .quad 0, {SA_SIGINFO}, 0", f"act: .quad 0, {flags}, 0")
    sb, r = _run("riscv64", text)
    assert (r.exit_status, r.names()[-4:]) == (42, ["kill", "rt_sigreturn", "rt_sigprocmask", "exit"]), r.reason
    ret = r.calls("rt_sigreturn")[0]
    assert ret.ret == 0 and ret.pc == _sigpage(sb) + 4  # __vdso_rt_sigreturn's ecall
    assert sb.machine.memory.peek(_sigpage(sb), len(RISCV_SIGRETURN)) == RISCV_SIGRETURN
    assert sb.machine.kernel.signals.blocked == CHANGED_MASK
    assert _qemu_status("riscv64", text, tmp_path) in (None, 42)


def test_riscv64_rt_sigreturn_checks_the_reserved_word():
    # sc_extdesc.reserved (176 + 256 + 516 into the ucontext) must stay 0, else SIGSEGV
    text = RISCV.replace("    li t1, 42\n    sd t1, 328(a2)\n", "    li t1, 1\n    sw t1, 948(a2)\n")
    r = Sandbox("riscv64").run_asm(text)
    assert r.exit_status == 139 and "reserved word" in r.reason


# -- x86_64 and aarch64: the same checks on the frames they had already ---------------------------
# x86_64: uc_mcontext at 40 (r12 at 72, r13 at 80, rsp at 160, rip at 168), uc_sigmask at 296,
# the siginfo after the 304-byte ucontext. aarch64: uc_sigmask at 40, uc_mcontext at 176 (x19
# at 336, x20 at 344, sp at 432, pc at 440), the FP/SIMD record at 464; the siginfo first.

def x86_64_program(linux_only: bool = True) -> str:
    # (rsp + 8) % 16 == 0 at the handler's entry, as after a call: qemu 7.2 aligns rsp itself
    align = "    lea rax, [rsp + 8]\n    test al, 15\n    jnz hbad\n" if linux_only else ""
    return f"""
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
    mov r13, 3
    mov eax, 39
    syscall
    mov r14, rax
    lea r15, [rip + after]
    mov [rip + sp_before], rsp
    mov edi, eax
    mov esi, 10
    mov eax, 62
    syscall
after:
    mov edi, 1
    test rax, rax
    jnz out
    mov edi, 2
    cmp r12, 0x2222
    jne out
    sub rsp, 8
    mov eax, 14
    xor edi, edi
    xor esi, esi
    mov rdx, rsp
    mov r10d, 8
    syscall
    mov edi, 4
    mov rax, {CHANGED_MASK:#x}
    cmp [rsp], rax
    jne out
    mov rdi, r13
out:
    mov eax, 60
    syscall
handler:
    cmp edi, 10
    jne hbad
    cmp dword ptr [rsi], 10
    jne hbad
    cmp dword ptr [rsi + 8], 0
    jne hbad
    cmp [rsi + 16], r14d
    jne hbad
    lea rax, [rdx + 304]
    cmp rax, rsi
    jne hbad
    lea rax, [rsp + 8]
    cmp rax, rdx
    jne hbad
{align}    cmp qword ptr [rdx + 72], 0x1111
    jne hbad
    cmp [rdx + 168], r15
    jne hbad
    mov rax, [rip + sp_before]
    cmp [rdx + 160], rax
    jne hbad
    cmp qword ptr [rdx + 296], 0
    jne hbad
    mov qword ptr [rdx + 72], 0x2222
    mov rax, {CHANGED_MASK:#x}
    or [rdx + 296], rax
    mov qword ptr [rdx + 80], 42
hbad:
    ret
restorer:
    mov eax, 15
    syscall
act: .quad 0, {SA_SIGINFO | SA_RESTORER:#x}, 0, 0
sp_before: .quad 0
"""


def aarch64_program(restorer: bool) -> str:
    flags = SA_SIGINFO | (SA_RESTORER if restorer else 0)
    return f"""
    adr x0, handler
    adr x1, act
    str x0, [x1]
    adr x0, restorer
    str x0, [x1, #16]
    mov x8, #134
    mov x0, #10
    mov x2, #0
    mov x3, #8
    svc #0
    mov x19, #0x111
    mov x20, #3
    mov x8, #172
    svc #0
    mov x21, x0
    adr x22, after
    mov x9, sp
    adr x10, sp_before
    str x9, [x10]
    mov x1, #10
    mov x8, #129
    svc #0
after:
    mov x9, x0
    mov x0, #1
    cbnz x9, out
    mov x0, #2
    mov x10, #0x222
    cmp x19, x10
    b.ne out
    sub sp, sp, #16
    mov x0, #0
    mov x1, #0
    mov x2, sp
    mov x3, #8
    mov x8, #135
    svc #0
    ldr x9, [sp]
    mov x10, #0x800
    movk x10, #4, lsl #32
    mov x0, #4
    cmp x9, x10
    b.ne out
    mov x0, x20
out:
    mov x8, #93
    svc #0
handler:
    cmp x0, #10
    b.ne hbad
    ldr w3, [x1]
    cmp w3, #10
    b.ne hbad
    ldr w3, [x1, #8]
    cbnz w3, hbad
    ldr w3, [x1, #16]
    cmp w3, w21
    b.ne hbad
    add x3, x1, #128
    cmp x3, x2
    b.ne hbad
    mov x3, sp
    cmp x3, x1
    b.ne hbad
    tst x3, #15
    b.ne hbad
    ldr x3, [x2, #336]
    cmp x3, #0x111
    b.ne hbad
    ldr x3, [x2, #440]
    cmp x3, x22
    b.ne hbad
    ldr x3, [x2, #432]
    adr x4, sp_before
    ldr x4, [x4]
    cmp x3, x4
    b.ne hbad
    ldr x3, [x2, #40]
    cbnz x3, hbad
    ldr w3, [x2, #464]
    mov w4, #0x8001
    movk w4, #0x4650, lsl #16
    cmp w3, w4
    b.ne hbad
    mov x3, #0x222
    str x3, [x2, #336]
    ldr x3, [x2, #40]
    orr x3, x3, #0x800
    orr x3, x3, #0x400000000
    str x3, [x2, #40]
    mov x3, #42
    str x3, [x2, #344]
hbad:
    ret
restorer:
    mov x8, #139
    svc #0
act: .quad 0, {flags:#x}, 0, 0
sp_before: .quad 0
"""


def test_x86_64_frame(tmp_path):
    sb, r = _run("x86_64", x86_64_program())
    assert (r.exit_status, r.names()[-4:]) == (42, ["kill", "rt_sigreturn", "rt_sigprocmask", "exit"]), r.reason
    assert r.calls("rt_sigreturn")[0].pc == sb.machine.symbols["restorer"] + 5
    assert sb.machine.kernel.signals.blocked == CHANGED_MASK
    assert _qemu_status("x86_64", x86_64_program(linux_only=False), tmp_path) in (None, 42)


@pytest.mark.parametrize("restorer", [False, True], ids=["trampoline", "sa_restorer"])
def test_aarch64_frame(restorer, tmp_path):
    text = aarch64_program(restorer)
    sb, r = _run("aarch64", text)
    assert (r.exit_status, r.names()[-4:]) == (42, ["kill", "rt_sigreturn", "rt_sigprocmask", "exit"]), r.reason
    where = sb.machine.symbols["restorer"] if restorer else _sigpage(sb)
    assert r.calls("rt_sigreturn")[0].pc == where + 4
    assert sb.machine.kernel.signals.blocked == CHANGED_MASK
    assert _qemu_status("aarch64", text, tmp_path) in (None, 42)
