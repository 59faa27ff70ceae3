"""i386's two signal frames (``arch/x86/kernel/signal_32.c``, ``arch/x86/include/asm/sigframe.h``).

A handler installed with ``SA_SIGINFO`` gets ``struct rt_sigframe_ia32`` and returns through
``rt_sigreturn``; one without it gets the older ``struct sigframe_ia32`` and returns through
``sigreturn``, which is what glibc's ``signal()`` and plain ``sigaction`` handlers use. Both hold
a ``struct sigcontext_32``; the FP state goes above the frame, 64-byte aligned, as an fsave
header (the x87 environment and registers, ``struct _fpstate_32``'s first 112 bytes) followed by
the 512-byte fxsave image (the SSE state), and the sigcontext points at it. The non-rt frame
keeps the saved mask's low word in ``sc.oldmask`` and the high word in ``extramask``.

The selectors are those of a 32-bit kernel's process: cs 0x73 (``__USER_CS``), ds/es/ss
0x7b (``__USER_DS``). The sandbox's own ss is another (Unicorn runs the guest at privilege
level 0, where ss must hold a level-0 segment), so the frame records Linux's value, and
``sigreturn`` never reloads cs or ss from it.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import unicorn

from sandbox.arch.signal_frames import (
    FCW_DEFAULT,
    FXSAVE_SIZE,
    MXCSR_DEFAULT,
    FrameBase,
    FrameRequest,
    RestoredFrame,
    fxrstor_sse,
    fxsave,
    read_frame,
    read_registers,
    set_x87_stack,
    write_wide,
    x87_stack,
)

if TYPE_CHECKING:
    from sandbox.engine import Machine

USER_CS, USER_DS = 0x73, 0x7B
NR_SIGRETURN, NR_RT_SIGRETURN = 119, 173

# struct sigcontext_32: gs fs es ds (each 16 bits and padding), di si bp sp bx dx cx ax trapno
# err ip, cs (and padding), flags sp_at_signal, ss (and padding), fpstate oldmask cr2.
SIGCONTEXT = struct.Struct("<HxxHxxHxxHxx11IHxxIIHxxIII")
SC_GPRS = ("edi", "esi", "ebp", "esp", "ebx", "edx", "ecx", "eax")
SC_OLDMASK = 80  # sc.oldmask, within the sigcontext
FSAVE_HEADER = 112  # struct _fpstate_32 before its fxsave part (fregs_state)
FPSTATE_SIZE = FSAVE_HEADER + FXSAVE_SIZE  # 624: sizeof(struct _fpstate_32)
X86_FXSR_MAGIC = 0x0000  # _fpstate_32.magic: an fxsave image follows the header
XMM_COUNT = 8

# the flags a frame may change (FIX_EFLAGS: AC OF DF TF SF ZF AF PF CF RF) and those a handler
# starts without (DF, RF, TF, as handle_signal clears them)
FIX_EFLAGS = 0x40000 | 0x800 | 0x400 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | 0x10000
ENTRY_CLEAR = 0x400 | 0x10000 | 0x100

# The vDSO's __kernel_sigreturn (popl %eax; movl $119, %eax; int $0x80) and, 16 bytes on,
# __kernel_rt_sigreturn (movl $173, %eax; int $0x80): the byte patterns unwinders look for.
SIGRETURN_CODE = bytes.fromhex("58b877000000cd80")
RT_SIGRETURN_CODE = bytes.fromhex("b8ad000000cd80")
RT_SIGRETURN_OFFSET = 16
I386_SIGRETURN = SIGRETURN_CODE.ljust(RT_SIGRETURN_OFFSET, b"\x90") + RT_SIGRETURN_CODE
# the same bytes, in the frames' retcode[8] ("not used anymore... some gdb versions need it")
RETCODE = SIGRETURN_CODE
RT_RETCODE = RT_SIGRETURN_CODE + b"\0"


class I386Frame(FrameBase):
    """``struct sigframe_ia32`` (no ``SA_SIGINFO``) and ``struct rt_sigframe_ia32``."""

    red_zone = 0
    # pretcode sig sc(88) fpstate_unused(624) extramask retcode[8]
    frame_size = 4 + 4 + SIGCONTEXT.size + FPSTATE_SIZE + 4 + 8
    # pretcode sig pinfo puc, siginfo(128), ucontext (flags link stack(12) sigcontext sigmask), retcode[8]
    uc_offset = 16 + 128
    rt_frame_size = uc_offset + 20 + SIGCONTEXT.size + 8 + 8
    extramask = 8 + SIGCONTEXT.size + FPSTATE_SIZE

    def push(self, m: "Machine", req: FrameRequest) -> dict[str, int]:
        """Write the frame; return the registers the handler starts with."""
        fx = (req.top - FXSAVE_SIZE) & ~63  # fpu__alloc_mathframe: the fxsave image, aligned
        fpstate = fx - FSAVE_HEADER  # and the fsave header below it
        rt = req.sa_siginfo
        size = self.rt_frame_size if rt else self.frame_size
        frame = ((fpstate - size + 4) & ~15) - 4  # as if a call had pushed the return address
        m.memory.write(fpstate, self._fsave_header(m) + fxsave(m, XMM_COUNT, wide=False))
        sc = self._sigcontext(m, req, fpstate)
        mask = req.saved_mask & 0xFFFFFFFFFFFFFFFF
        if rt:
            uc = struct.pack("<III", 0, 0, req.uc_stack[0]) + struct.pack("<iI", req.uc_stack[1], req.uc_stack[2])
            uc += sc + struct.pack("<Q", mask)
            restorer = req.return_address(RT_SIGRETURN_OFFSET)
            head = struct.pack("<IiII", restorer, req.sig, frame + 16, frame + self.uc_offset)
            m.memory.write(frame, head + req.siginfo + uc + RT_RETCODE)
            out = {"eax": req.sig, "edx": frame + 16, "ecx": frame + self.uc_offset}
        else:
            restorer = req.return_address(0)
            body = struct.pack("<Ii", restorer, req.sig) + sc + bytes(FPSTATE_SIZE)
            m.memory.write(frame, body + struct.pack("<I", mask >> 32) + RETCODE)
            out = {"eax": req.sig, "edx": 0, "ecx": 0}
        self._clear_fpu(m)  # fpu__clear_user_states: the handler starts with a fresh FPU
        out.update(esp=frame, eflags=m.reg("eflags") & ~ENTRY_CLEAR)
        # and with Linux's data segments in ds and es (a handler may interrupt code that changed them)
        self._load_segment(m, "ds", USER_DS)
        self._load_segment(m, "es", USER_DS)
        return out

    def _sigcontext(self, m: "Machine", req: FrameRequest, fpstate: int) -> bytes:
        gs, fs, es, ds, cs, eflags = read_registers(m, ("gs", "fs", "es", "ds", "cs", "eflags"))
        gprs = read_registers(m, SC_GPRS)
        trapno, err = req.trap
        return SIGCONTEXT.pack(gs, fs, es, ds, *gprs, trapno, err, req.resume_pc, cs, eflags, gprs[3], USER_DS, fpstate,
                               req.saved_mask & 0xFFFFFFFF, req.fault_address)

    @staticmethod
    def _fsave_header(m: "Machine") -> bytes:
        """``struct _fpstate_32``'s fsave part, as convert_from_fxsr fills it, then status and magic."""
        fcw, fsw, tags, fop, fip, fcs, fdp, fds = read_registers(m, ("fpcw", "fpsw", "fptag", "fop", "fip", "fcs",
                                                                     "fdp", "fds"))
        env = struct.pack("<7I", fcw | 0xFFFF0000, fsw | 0xFFFF0000, tags | 0xFFFF0000, fip & 0xFFFFFFFF,
                          (fcs & 0xFFFF) | (fop << 16), fdp & 0xFFFFFFFF, fds & 0xFFFF)
        return env + x87_stack(m) + struct.pack("<HH", fsw, X86_FXSR_MAGIC)

    @staticmethod
    def _clear_fpu(m: "Machine") -> None:
        for name, value in (("fpcw", FCW_DEFAULT), ("fpsw", 0), ("fptag", 0xFFFF), ("fop", 0), ("fip", 0),
                            ("fdp", 0), ("fcs", 0), ("fds", 0), ("mxcsr", MXCSR_DEFAULT)):
            m.set_reg(name, value)
        for i in range(8):
            m.uc.reg_write(m.arch.reg_id(f"fp{i}"), (0, 0))
        for i in range(XMM_COUNT):
            write_wide(m, f"xmm{i}", 0)

    def _frame(self, m: "Machine", rt: bool) -> int:
        # the handler's ret popped pretcode; __kernel_sigreturn's popl took sig too
        return m.reg("esp") - (4 if rt else 8)

    def mask_address(self, m: "Machine") -> int:
        """Where, in the rt frame rt_sigreturn is about to restore, the saved mask is (uc_sigmask)."""
        return self._frame(m, True) + self.uc_offset + 20 + SIGCONTEXT.size

    def restored_mask(self, m: "Machine", rt: bool) -> int:
        """The mask the frame at the stack pointer holds: uc_sigmask, or sc.oldmask and extramask."""
        if rt:
            return super().restored_mask(m, rt)
        frame = self._frame(m, False)
        low = int.from_bytes(m.memory.read(frame + 8 + SC_OLDMASK, 4), "little")
        high = int.from_bytes(m.memory.read(frame + self.extramask, 4), "little")
        return high << 32 | low

    def pop(self, m: "Machine", rt: bool) -> tuple[dict[str, int], int, RestoredFrame]:
        """Read the frame at the stack pointer; return the registers, the pc, and the rest."""
        frame = self._frame(m, rt)
        if rt:
            uc = read_frame(m, frame + self.uc_offset, 20 + SIGCONTEXT.size + 8)
            ss_sp, ss_flags, ss_size = struct.unpack_from("<IiI", uc, 8)
            sc = uc[20 : 20 + SIGCONTEXT.size]
            mask, = struct.unpack_from("<Q", uc, 20 + SIGCONTEXT.size)
            uc_stack: tuple[int, int, int] | None = (ss_sp, ss_flags, ss_size)
        else:
            sc = read_frame(m, frame + 8, SIGCONTEXT.size)
            mask = int.from_bytes(read_frame(m, frame + self.extramask, 4), "little") << 32
            mask |= struct.unpack_from("<I", sc, SC_OLDMASK)[0]
            uc_stack = None
        fields = SIGCONTEXT.unpack(sc)
        gs, fs, es, ds = fields[:4]
        regs = dict(zip(SC_GPRS, fields[4:12]))
        eip, eflags, fpstate = fields[14], fields[16], fields[19]
        regs["eflags"] = (m.reg("eflags") & ~FIX_EFLAGS) | (eflags & FIX_EFLAGS)
        for name, selector in (("gs", gs), ("fs", fs), ("es", es), ("ds", ds)):
            self._load_segment(m, name, selector)
        if fpstate:
            self._restore_fpu(m, read_frame(m, fpstate, FPSTATE_SIZE))
        else:
            self._clear_fpu(m)  # no FP state in the frame: Linux starts the FPU afresh
        return regs, eip, RestoredFrame(mask, uc_stack)

    @staticmethod
    def _load_segment(m: "Machine", name: str, selector: int) -> None:
        # A selector the handler changed to one that cannot be loaded becomes the null one, as
        # the kernel's fixups for a faulting segment load do.
        if m.reg(name) == selector:
            return
        try:
            m.set_reg(name, selector)
        except unicorn.UcError:
            m.set_reg(name, 0)

    @staticmethod
    def _restore_fpu(m: "Machine", fpstate: bytes) -> None:
        """What fpu__restore_sig does for a 32-bit frame: the SSE state from the fxsave image, and
        the x87 state from the fsave header before it (which takes precedence)."""
        fxrstor_sse(m, fpstate[FSAVE_HEADER:], XMM_COUNT)
        cwd, swd, twd, fip, fcs, foo, fos = struct.unpack_from("<7I", fpstate, 0)
        for name, value in (("fpcw", cwd & 0xFFFF), ("fpsw", swd & 0xFFFF), ("fptag", twd & 0xFFFF),
                            ("fop", (fcs >> 16) & 0x7FF), ("fip", fip), ("fcs", fcs & 0xFFFF), ("fdp", foo),
                            ("fds", fos & 0xFFFF)):
            m.set_reg(name, value)
        set_x87_stack(m, swd, fpstate[28:108], 10)


I386_FRAME = I386Frame()
