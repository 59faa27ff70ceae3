"""Signal frames, per arch: how the registers are saved on the stack before a signal handler
runs, and put back by ``rt_sigreturn`` (or, on i386 and arm, the older ``sigreturn``).

The layouts are the kernel's (``arch/x86/kernel/signal_64.c``, ``arch/arm64/kernel/signal.c``
here; i386, arm and riscv64 in modules of their own): a handler that looks at its
``ucontext_t`` finds what it would find on Linux, and one that changes it (a saved register,
the saved mask) changes what ``rt_sigreturn`` restores. :mod:`sandbox.sigframe` does the
arch-independent part and calls :meth:`SignalFrames.push` and :meth:`SignalFrames.pop`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sandbox.engine import Machine

SIGINFO_SIZE = 128
STACK_T = struct.Struct("<QiiQ")  # ss_sp, ss_flags, padding, ss_size


@dataclass
class FrameRequest:
    """What the arch-independent side decided: where, what, and where to go."""

    top: int  # the stack top the frame goes below (the alternate stack's, or sp - red zone)
    sig: int
    siginfo: bytes  # the siginfo_t, in the arch's layout; each frame writes it where Linux does
    sa_siginfo: bool  # the handler was installed with SA_SIGINFO
    saved_mask: int
    uc_stack: tuple[int, int, int]  # ss_sp, ss_flags, ss_size as the frame records them
    handler: int
    restorer: int | None  # SA_RESTORER's address, or None: return through the trampoline
    trampoline: int  # where the arch's sigreturn trampoline is mapped (0: it has none)
    resume_pc: int  # where the interrupted code goes on (after the system call)
    # the address a memory fault's SIGSEGV or SIGBUS is for, which the arch's sigcontext
    # also keeps (x86's cr2, arm's and arm64's fault_address); 0 for any other signal
    fault_address: int = 0
    trap: tuple[int, int] = (0, 0)  # x86's sc.trapno and sc.err for a CPU fault's signal

    def return_address(self, offset: int = 0) -> int:
        """Where the handler returns to: SA_RESTORER's code, else the trampoline's entry at ``offset``."""
        return self.restorer if self.restorer is not None else self.trampoline + offset


@dataclass
class RestoredFrame:
    """What ``rt_sigreturn`` read back besides the registers."""

    mask: int
    uc_stack: tuple[int, int, int] | None  # None: the frame has none to restore (the non-rt ones)


class BadFrame(Exception):
    """The frame ``rt_sigreturn`` was asked to restore is not a valid one (Linux: SIGSEGV)."""


class SignalFrames(Protocol):
    """What an arch's signal-frame object offers :mod:`sandbox.sigframe` and the tracer."""

    red_zone: int  # bytes below the stack pointer a frame must not overwrite

    def push(self, m: "Machine", req: FrameRequest) -> dict[str, int]:
        """Write the frame below ``req.top``; return the registers the handler starts with."""

    def pop(self, m: "Machine", rt: bool) -> tuple[dict[str, int], int, RestoredFrame]:
        """Read the frame at the stack pointer (``rt``: the rt one, else the one ``sigreturn``
        returns from); return the registers, the pc, and the rest. BadFrame if it is not one."""

    def restored_mask(self, m: "Machine", rt: bool) -> int:
        """The signal mask the frame at the stack pointer holds (a GuestFault if unreadable)."""


class FrameBase:
    """What every frame shares: the mask the tracer shows comes from :meth:`mask_address`."""

    def mask_address(self, m: "Machine") -> int:
        """Where, in the rt frame ``rt_sigreturn`` is about to restore, the saved mask is."""
        raise NotImplementedError

    def restored_mask(self, m: "Machine", rt: bool) -> int:
        """The signal mask the frame at the stack pointer holds (a GuestFault if unreadable)."""
        return int.from_bytes(m.memory.read(self.mask_address(m), 8), "little")


def read_frame(m: "Machine", address: int, size: int) -> bytes:
    """Guest memory of a frame being restored; BadFrame where it cannot be read."""
    try:
        return m.memory.read(address, size)
    except Exception as e:  # noqa: BLE001 - GuestFault: an unreadable frame
        raise BadFrame(str(e)) from None


def write_wide(m: "Machine", name: str, value: int) -> None:
    """Write a register wider than 64 bits (Machine.set_reg keeps 64; vector registers are 128)."""
    m.uc.reg_write(m.arch.reg_id(name), value)


def read_registers(m: "Machine", names: tuple[str, ...]) -> list[int]:
    """Several registers in one call into the engine."""
    return list(m.uc.reg_read_batch([m.arch.reg_id(n) for n in names]))


# -- the x87/SSE state, as fxsave lays it out (x86_64 and i386) ---------------------------------

FXSAVE_SIZE = 512
_FX64_HEAD = struct.Struct("<HHBxHQQII")  # fcw fsw ftw(abridged) fop rip rdp mxcsr mxcsr_mask
_FX32_HEAD = struct.Struct("<HHBxHIHxxIHxxII")  # ... fip fcs fdp fds, for a 32-bit process
MXCSR_DEFAULT, FCW_DEFAULT = 0x1F80, 0x037F


def x87_stack(m: "Machine") -> bytes:
    """ST(0)..ST(7), counted from the top of the stack, each as 10 bytes (fsave's order)."""
    top = (m.reg("fpsw") >> 11) & 7
    out = b""
    for i in range(8):
        mantissa, exponent = m.uc.reg_read(m.arch.reg_id(f"fp{(top + i) & 7}"))
        out += struct.pack("<QH", mantissa, exponent)
    return out


def set_x87_stack(m: "Machine", fsw: int, regs: bytes, stride: int) -> None:
    """Load ST(0)..ST(7) from 10-byte values ``stride`` bytes apart, the top as ``fsw`` says."""
    top = (fsw >> 11) & 7
    for i in range(8):
        mantissa, exponent = struct.unpack_from("<QH", regs, stride * i)
        m.uc.reg_write(m.arch.reg_id(f"fp{(top + i) & 7}"), (mantissa, exponent))


def abridged_tags(full: int) -> int:
    """fxsave's one bit per register (1: in use) from the x87 tag word (two bits, 3: empty)."""
    return sum(1 << i for i in range(8) if (full >> (2 * i)) & 3 != 3)


def fxsave(m: "Machine", xmm_count: int, wide: bool) -> bytes:
    """The x87/SSE state in fxsave's 512-byte layout (``wide``: the 64-bit instruction pointers)."""
    fcw, fsw, tags, fop, fip, fdp, mxcsr = read_registers(m, ("fpcw", "fpsw", "fptag", "fop", "fip", "fdp", "mxcsr"))
    if wide:
        out = _FX64_HEAD.pack(fcw, fsw, abridged_tags(tags), fop, fip, fdp, mxcsr, 0xFFFF)
    else:
        fcs, fds = read_registers(m, ("fcs", "fds"))
        out = _FX32_HEAD.pack(fcw, fsw, abridged_tags(tags), fop, fip & 0xFFFFFFFF, fcs, fdp & 0xFFFFFFFF, fds,
                              mxcsr, 0xFFFF)
    stack = x87_stack(m)
    out += b"".join(stack[10 * i : 10 * i + 10] + bytes(6) for i in range(8))
    out += b"".join(m.reg(f"xmm{i}").to_bytes(16, "little") for i in range(xmm_count))
    return out.ljust(FXSAVE_SIZE, b"\0")


def fxrstor_sse(m: "Machine", fx: bytes, xmm_count: int) -> None:
    """The SSE part of an fxsave image: mxcsr (its reserved bits dropped, as Linux does) and the xmm registers."""
    mxcsr, = struct.unpack_from("<I", fx, 24)
    m.set_reg("mxcsr", mxcsr & 0xFFFF)
    for i in range(xmm_count):
        write_wide(m, f"xmm{i}", int.from_bytes(fx[160 + 16 * i : 176 + 16 * i], "little"))


class X86_64Frame(FrameBase):
    """``struct rt_sigframe`` of x86_64: pretcode, ucontext, siginfo; the fxsave area below."""

    red_zone = 128
    frame_size = 8 + 304 + SIGINFO_SIZE
    # struct sigcontext's general registers, in its order
    gprs = ("r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rdi", "rsi", "rbp", "rbx", "rdx", "rax", "rcx", "rsp")
    uc_flags = 0x2 | 0x4  # UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS (no xsave: the FP state is fxsave's)
    user_cs, user_ss = 0x33, 0x2B
    # the flags a frame may change (FIX_EFLAGS) and those a handler starts without
    fix_eflags = 0x40000 | 0x800 | 0x400 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | 0x10000
    entry_clear = 0x400 | 0x100 | 0x10000 | 0x40000  # DF, TF, RF, AC

    def push(self, m: "Machine", req: FrameRequest) -> dict[str, int]:
        """Write the frame; return the registers the handler starts with."""
        fpstate = (req.top - 512) & ~63
        frame = fpstate - self.frame_size
        frame = ((frame + 8) & ~15) - 8  # as if a call had pushed the return address
        regs = [m.reg(name) for name in self.gprs]
        sigcontext = struct.pack("<16Q", *regs) + struct.pack("<QQ", req.resume_pc, m.reg("eflags"))
        sigcontext += struct.pack("<HHHH", self.user_cs, 0, 0, self.user_ss)
        trapno, err = req.trap
        sigcontext += struct.pack("<QQQQQ", err, trapno, req.saved_mask, req.fault_address, fpstate) + bytes(64)
        uc = struct.pack("<QQ", self.uc_flags, 0) + STACK_T.pack(req.uc_stack[0], req.uc_stack[1], 0, req.uc_stack[2])
        uc += sigcontext + struct.pack("<Q", req.saved_mask)
        m.memory.write(frame, struct.pack("<Q", req.return_address()) + uc)
        if req.sa_siginfo:
            m.memory.write(frame + 8 + len(uc), req.siginfo)
        m.memory.write(fpstate, fxsave(m, 16, wide=True))
        return {
            "rdi": req.sig, "rsi": frame + 8 + len(uc), "rdx": frame + 8, "rax": 0, "rsp": frame,
            "eflags": m.reg("eflags") & ~self.entry_clear,
        }

    def mask_address(self, m: "Machine") -> int:
        """Where, in the frame rt_sigreturn is about to restore, the saved signal mask is."""
        return m.reg("rsp") - 8 + 8 + 296

    def pop(self, m: "Machine", rt: bool = True) -> tuple[dict[str, int], int, RestoredFrame]:
        """Read the frame at the stack pointer; return the registers, the pc, and the rest."""
        frame = m.reg("rsp") - 8  # the handler's ret popped pretcode
        raw = read_frame(m, frame + 8, 304)
        uc_stack = STACK_T.unpack_from(raw, 16)
        sc = 40
        values = struct.unpack_from("<16Q", raw, sc)
        rip, eflags = struct.unpack_from("<QQ", raw, sc + 128)
        fpstate, = struct.unpack_from("<Q", raw, sc + 184)
        mask, = struct.unpack_from("<Q", raw, 296)
        regs = dict(zip(self.gprs, values))
        regs["eflags"] = (m.reg("eflags") & ~self.fix_eflags) | (eflags & self.fix_eflags)
        if fpstate:
            self._fxrstor(m, read_frame(m, fpstate, FXSAVE_SIZE))
        return regs, rip, RestoredFrame(mask, (uc_stack[0], uc_stack[1], uc_stack[3]))

    @staticmethod
    def _fxrstor(m: "Machine", fx: bytes) -> None:
        fcw, fsw, abridged = struct.unpack_from("<HHB", fx, 0)
        m.set_reg("fpcw", fcw)
        m.set_reg("fpsw", fsw)
        m.set_reg("fptag", sum((0 if abridged >> i & 1 else 3) << (2 * i) for i in range(8)))
        set_x87_stack(m, fsw, fx[32:160], 16)
        fxrstor_sse(m, fx, 16)


class Aarch64Frame(FrameBase):
    """``struct rt_sigframe`` of arm64: siginfo, then the ucontext whose ``__reserved`` area holds
    the FP/SIMD record; a frame record (x29, x30) above it for unwinders."""

    red_zone = 0
    frame_size = SIGINFO_SIZE + 4560  # sizeof(struct rt_sigframe)
    uc_offset = SIGINFO_SIZE
    mcontext = SIGINFO_SIZE + 176
    reserved = mcontext + 288
    fpsimd_magic, fpsimd_size = 0x46508001, 528

    def push(self, m: "Machine", req: FrameRequest) -> dict[str, int]:
        """Write the frame; return the registers the handler starts with."""
        record = (req.top - 16) & ~15
        frame = (record & ~15) - self.frame_size
        regs = [m.reg(f"x{i}") for i in range(31)]
        uc = struct.pack("<QQ", 0, 0) + STACK_T.pack(req.uc_stack[0], req.uc_stack[1], 0, req.uc_stack[2])
        uc += struct.pack("<Q", req.saved_mask) + bytes(120 + 8)  # __unused, then alignment to 16
        mc = struct.pack("<Q31QQQQ", req.fault_address, *regs, m.reg("sp"), req.resume_pc, m.reg("nzcv")) + bytes(8)
        fpsimd = struct.pack("<IIII", self.fpsimd_magic, self.fpsimd_size, m.reg("fpsr"), m.reg("fpcr"))
        fpsimd += b"".join(m.reg(f"q{i}").to_bytes(16, "little") for i in range(32))
        m.memory.write(frame + self.uc_offset, uc + mc + fpsimd + bytes(16))  # a zero record ends the list
        if req.sa_siginfo:
            m.memory.write(frame, req.siginfo)
        m.memory.write(record, struct.pack("<QQ", regs[29], regs[30]))
        out = {"x0": req.sig, "sp": frame, "x29": record, "x30": req.return_address()}
        if req.sa_siginfo:
            out.update(x1=frame, x2=frame + self.uc_offset)
        return out

    def mask_address(self, m: "Machine") -> int:
        """Where, in the frame rt_sigreturn is about to restore, the saved signal mask is."""
        return m.reg("sp") + self.uc_offset + 40

    def pop(self, m: "Machine", rt: bool = True) -> tuple[dict[str, int], int, RestoredFrame]:
        """Read the frame at the stack pointer; return the registers, the pc, and the rest."""
        frame = m.reg("sp")
        if frame & 15:
            raise BadFrame("misaligned stack pointer")
        uc = read_frame(m, frame + self.uc_offset, 176)
        mc = read_frame(m, frame + self.mcontext, 288)
        fp = read_frame(m, frame + self.reserved, self.fpsimd_size)
        uc_stack = STACK_T.unpack_from(uc, 16)
        mask, = struct.unpack_from("<Q", uc, 40)
        values = struct.unpack_from("<Q31QQQQ", mc, 0)
        regs = {f"x{i}": values[1 + i] for i in range(31)}
        regs["sp"], pc, pstate = values[32], values[33], values[34]
        regs["nzcv"] = pstate & 0xF0000000
        magic, size, fpsr, fpcr = struct.unpack_from("<IIII", fp, 0)
        if magic != self.fpsimd_magic or size != self.fpsimd_size:
            raise BadFrame("no FP/SIMD record")
        regs["fpsr"], regs["fpcr"] = fpsr, fpcr
        for i in range(32):
            write_wide(m, f"q{i}", int.from_bytes(fp[16 + 16 * i : 32 + 16 * i], "little"))
        return regs, pc, RestoredFrame(mask, (uc_stack[0], uc_stack[1], uc_stack[3]))


X86_64_FRAME = X86_64Frame()
AARCH64_FRAME = Aarch64Frame()
# arm64's vDSO __kernel_rt_sigreturn: mov x8, #139 (rt_sigreturn); svc #0
AARCH64_SIGRETURN = bytes.fromhex("681180d2" "010000d4")
