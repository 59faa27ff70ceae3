"""arm's two signal frames (``arch/arm/kernel/signal.c``, ``signal.h``, ``sigreturn_codes.S``).

``struct sigframe`` is a ``struct ucontext`` (flags, link, stack, ``struct sigcontext``, the
mask, then ``uc_regspace`` holding the VFP record: magic 0x56465001, size 288, d0-d31, fpscr,
fpexc, fpinst, fpinst2, and a zero word ending the records) and two words of return code; a
handler installed without ``SA_SIGINFO`` gets it and returns through ``sigreturn``.
``struct rt_sigframe`` puts the ``siginfo`` first, and the handler also gets r1 = &info and
r2 = &uc. Both ``sigreturn`` and ``rt_sigreturn`` restore the mask from ``uc_sigmask``.

The handler starts with r0 = sig, sp = the frame, lr = the return code, in the instruction
set bit 0 of its address names (Thumb: CPSR.T set). The return code is ``sa_restorer`` with
``SA_RESTORER``; without it, the signal page's ``sigreturn_codes``, whose four snippets (ARM
and Thumb, sigreturn and rt_sigreturn) the kernel also copies into the frame's ``retcode``.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from sandbox.arch.signal_frames import SIGINFO_SIZE, BadFrame, FrameBase, FrameRequest, RestoredFrame, read_frame

if TYPE_CHECKING:
    from sandbox.engine import Machine

# struct sigcontext: trap_no error_code oldmask r0-r10 fp ip sp lr pc cpsr fault_address
SIGCONTEXT = struct.Struct("<21I")
SC_GPRS = tuple(f"r{i}" for i in range(13)) + ("sp", "lr")  # arm_r0 .. arm_lr, in order
UC_MCONTEXT = 20  # after uc_flags, uc_link and uc_stack
UC_SIGMASK = UC_MCONTEXT + SIGCONTEXT.size  # 104
UC_REGSPACE = 232  # after the mask and __unused[30], 8-aligned
UC_SIZE = UC_REGSPACE + 128 * 4  # sizeof(struct ucontext): 744
SIGFRAME_SIZE = UC_SIZE + 8  # and retcode[2]
RT_SIGFRAME_SIZE = SIGINFO_SIZE + SIGFRAME_SIZE

VFP_MAGIC, VFP_STORAGE_SIZE = 0x56465001, 288
# struct vfp_sigframe: magic size, fpregs[32] fpscr (struct user_vfp, padded to 8), fpexc
# fpinst fpinst2 (struct user_vfp_exc), padded to 8
VFP_RECORD = struct.Struct("<II32QI4xIII4x")
NON_RT_UC_FLAGS = 0x5AC3C35A  # setup_frame: "a value which sc.trap_no would never have"

# CPSR bits
PSR_T, PSR_F, PSR_I, PSR_A, PSR_E = 0x20, 0x40, 0x80, 0x100, 0x200
PSR_FLAGS = 0xFF000000  # PSR_f: N Z C V Q, IT[1:0], J
PSR_IT = 0x0600FC00
MODE_MASK, USR_MODE = 0x1F, 0x10
FPEXC_EN, FPEXC_EX, FPEXC_FP2V = 0x40000000, 0x80000000, 0x10000000
FPSCR_LENGTH_STRIDE = 0x00370000  # FPSCR.LEN and FPSCR.STRIDE, cleared for the handler

# sigreturn_codes: mov r7, #119; swi #0x900077 | movs r7, #119; swi #0 (Thumb) | mov r7, #173;
# swi #0x9000ad | movs r7, #173; swi #0 (Thumb). An EABI kernel takes the number from r7; the
# OABI immediates say the same. Word idx is (thumb << 1) + (3 if SA_SIGINFO).
ARM_SIGRETURN = bytes.fromhex("7770a0e3" "770090ef" "7727" "00df" "ad70a0e3" "ad0090ef" "ad27" "00df")


def _idx(thumb: int, rt: bool) -> int:
    return (thumb << 1) + (3 if rt else 0)


class ArmFrame(FrameBase):
    """``struct sigframe`` (no ``SA_SIGINFO``) and ``struct rt_sigframe``."""

    red_zone = 0

    def push(self, m: "Machine", req: FrameRequest) -> dict[str, int]:
        """Write the frame; return the registers the handler starts with."""
        rt = req.sa_siginfo
        size = RT_SIGFRAME_SIZE if rt else SIGFRAME_SIZE
        frame = (req.top - size) & ~7  # get_sigframe: ATPCS's 8-byte alignment
        sf = frame + SIGINFO_SIZE if rt else frame
        cpsr = m.reg("cpsr")
        regs = [m.reg(name) for name in SC_GPRS]
        mask = req.saved_mask & 0xFFFFFFFFFFFFFFFF
        sc = SIGCONTEXT.pack(0, 0, mask & 0xFFFFFFFF, *regs, req.resume_pc, cpsr, req.fault_address)
        if rt:
            head = struct.pack("<II", 0, 0) + struct.pack("<IiI", req.uc_stack[0], req.uc_stack[1], req.uc_stack[2])
        else:
            head = struct.pack("<II", NON_RT_UC_FLAGS, 0) + bytes(12)
        uc = head + sc + struct.pack("<Q", mask)
        uc = uc.ljust(UC_REGSPACE, b"\0") + self._vfp_record(m) + struct.pack("<I", 0)  # end_magic
        uc = uc.ljust(UC_SIZE, b"\0")
        thumb = req.handler & 1
        idx = _idx(thumb, rt)
        retcode = b""
        if req.restorer is None:  # the code goes on the stack too, "to remain ABI compliant"
            retcode = ARM_SIGRETURN[4 * idx : 4 * idx + 8]
        if rt:
            m.memory.write(frame, req.siginfo)
        m.memory.write(sf, uc + retcode)
        # the handler starts with a fresh FPSCR.LEN and STRIDE (vfp_preserve_user_clear_hwstate)
        m.set_reg("fpscr", m.reg("fpscr") & ~FPSCR_LENGTH_STRIDE)
        new_cpsr = (cpsr & ~(PSR_FLAGS | PSR_E | PSR_IT | PSR_T)) | (PSR_T if thumb else 0)
        # the snippet for the handler's instruction set, entered in it (bit 0 of lr)
        out = {"cpsr": new_cpsr, "r0": req.sig, "sp": frame, "lr": req.return_address(4 * idx + thumb)}
        if rt:
            out.update(r1=frame, r2=sf)
        return out

    @staticmethod
    def _vfp_record(m: "Machine") -> bytes:
        d = [m.reg(f"d{i}") for i in range(32)]
        # FPINST and FPINST2 exist only on VFP implementations with a support-code trap (not
        # a Cortex-A15's, nor Unicorn's): they are 0, as the kernel's copy of them is
        return VFP_RECORD.pack(VFP_MAGIC, VFP_STORAGE_SIZE, *d, m.reg("fpscr"), m.reg("fpexc"), 0, 0)

    @staticmethod
    def _sigframe(m: "Machine", rt: bool) -> int:
        # sigreturn's sp is the frame (the handler's return popped nothing)
        return m.reg("sp") + (SIGINFO_SIZE if rt else 0)

    def mask_address(self, m: "Machine") -> int:
        """Where, in the rt frame rt_sigreturn is about to restore, the saved mask is (uc_sigmask)."""
        return self._sigframe(m, True) + UC_SIGMASK

    def restored_mask(self, m: "Machine", rt: bool) -> int:
        """The mask the frame at the stack pointer holds: uc_sigmask, for both calls."""
        return int.from_bytes(m.memory.read(self._sigframe(m, rt) + UC_SIGMASK, 8), "little")

    def pop(self, m: "Machine", rt: bool) -> tuple[dict[str, int], int, RestoredFrame]:
        """Read the frame at the stack pointer; return the registers, the pc, and the rest."""
        if m.reg("sp") & 7:  # the frame was 8-aligned: "the user is trying to mess with us"
            raise BadFrame("misaligned stack pointer")
        sf = self._sigframe(m, rt)
        uc = read_frame(m, sf, UC_SIZE)
        mask, = struct.unpack_from("<Q", uc, UC_SIGMASK)
        fields = SIGCONTEXT.unpack_from(uc, UC_MCONTEXT)
        regs = dict(zip(SC_GPRS, fields[3:18]))
        pc, cpsr = fields[18], fields[19]
        # valid_user_regs: F and A always cleared; a cpsr not in user mode, or with IRQs
        # masked, makes a bad frame
        cpsr &= ~(PSR_F | PSR_A)
        if cpsr & PSR_I or cpsr & MODE_MASK != USR_MODE:
            raise BadFrame(f"cpsr {cpsr:#x} is not a user-mode one")
        vfp = VFP_RECORD.unpack_from(uc, UC_REGSPACE)
        if vfp[0] != VFP_MAGIC or vfp[1] != VFP_STORAGE_SIZE:
            raise BadFrame("no VFP record")
        for i in range(32):
            regs[f"d{i}"] = vfp[2 + i]
        fpscr, fpexc = vfp[34:36]  # fpinst and fpinst2 go nowhere (see _vfp_record)
        regs.update(fpscr=fpscr, fpexc=(fpexc | FPEXC_EN) & ~(FPEXC_EX | FPEXC_FP2V))
        regs["cpsr"] = cpsr
        uc_stack = struct.unpack_from("<IiI", uc, 8) if rt else None
        # the pc's bit 0 says the instruction set to Unicorn: the restored CPSR.T's
        return regs, (pc & ~1) | (1 if cpsr & PSR_T else 0), RestoredFrame(mask, uc_stack)


ARM_FRAME = ArmFrame()
