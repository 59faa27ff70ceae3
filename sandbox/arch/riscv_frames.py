"""riscv64's signal frame (``arch/riscv/kernel/signal.c``, ``uapi/asm/ucontext.h``, ``sigcontext.h``).

There is one frame, ``struct rt_sigframe``: the ``siginfo``, then a ``struct ucontext`` whose
mask comes before the context (flags, link, stack, mask, padding to 1024 bits, then the
16-aligned ``struct sigcontext`` at 176: ``user_regs_struct`` (pc, x1-x31) and the FP state,
``__riscv_d_ext_state`` (f0-f31, fcsr) in a 528-byte union whose last words are the reserved
word and the end header of the extension records, all zero without the vector extension).
Every handler gets a0 = sig, a1 = &info, a2 = &uc, whatever its flags ("since some things
rely on this"), and returns to the vDSO's ``__vdso_rt_sigreturn`` through ra: the arch has
no ``SA_RESTORER`` (its ``struct sigaction`` no ``sa_restorer``).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from sandbox.arch.riscv_encoder import ABI_NAMES
from sandbox.arch.signal_frames import SIGINFO_SIZE, STACK_T, BadFrame, FrameBase, FrameRequest, RestoredFrame, read_frame

if TYPE_CHECKING:
    from sandbox.engine import Machine

UC_SIGMASK = 40
UC_MCONTEXT = 176  # 40 + 128 (the mask and __unused), 16-aligned
SC_REGS = struct.Struct("<32Q")  # pc, then x1 (ra) .. x31 (t6)
SC_GPRS = ABI_NAMES[1:]  # x1 .. x31 by their ABI names
FP_STATE = struct.Struct("<32QI")  # __riscv_d_ext_state: f[32], fcsr
FP_UNION = 528  # union __riscv_fp_state (its q-extension member is the largest)
EXT_RESERVED = SC_REGS.size + 516  # sc_extdesc.reserved: zero, checked on return
EXT_END = SC_REGS.size + 520  # the END header (magic 0, size 0) of the extension records
SIGCONTEXT_SIZE = SC_REGS.size + FP_UNION  # 784
UC_SIZE = UC_MCONTEXT + SIGCONTEXT_SIZE  # 960
FRAME_SIZE = (SIGINFO_SIZE + UC_SIZE + 15) & ~15  # get_rt_frame_size: 1088
FS_MASK = 0x6000  # mstatus.FS

# the vDSO's __vdso_rt_sigreturn: li a7, 139 (rt_sigreturn); ecall
RISCV_SIGRETURN = bytes.fromhex("9308b008" "73000000")


class RiscvFrame(FrameBase):
    """``struct rt_sigframe`` of riscv."""

    red_zone = 0

    def push(self, m: "Machine", req: FrameRequest) -> dict[str, int]:
        """Write the frame; return the registers the handler starts with."""
        frame = (req.top - FRAME_SIZE) & ~15
        uc = struct.pack("<QQ", 0, 0) + STACK_T.pack(req.uc_stack[0], req.uc_stack[1], 0, req.uc_stack[2])
        uc += struct.pack("<Q", req.saved_mask)
        uc = uc.ljust(UC_MCONTEXT, b"\0")
        uc += SC_REGS.pack(req.resume_pc, *(m.reg(name) for name in SC_GPRS))
        uc += FP_STATE.pack(*(m.reg(f"f{i}") for i in range(32)), m.reg("fcsr"))
        m.memory.write(frame, req.siginfo + uc.ljust(UC_SIZE, b"\0"))
        return {"a0": req.sig, "a1": frame, "a2": frame + SIGINFO_SIZE, "sp": frame, "ra": req.return_address()}

    def mask_address(self, m: "Machine") -> int:
        """Where, in the frame rt_sigreturn is about to restore, the saved mask is."""
        return m.reg("sp") + SIGINFO_SIZE + UC_SIGMASK

    def pop(self, m: "Machine", rt: bool = True) -> tuple[dict[str, int], int, RestoredFrame]:
        """Read the frame at the stack pointer; return the registers, the pc, and the rest."""
        uc = read_frame(m, m.reg("sp") + SIGINFO_SIZE, UC_SIZE)
        mask, = struct.unpack_from("<Q", uc, UC_SIGMASK)
        ss_sp, ss_flags, _, ss_size = STACK_T.unpack_from(uc, 16)
        values = SC_REGS.unpack_from(uc, UC_MCONTEXT)
        pc = values[0]
        regs = dict(zip(SC_GPRS, values[1:]))
        fp = FP_STATE.unpack_from(uc, UC_MCONTEXT + SC_REGS.size)
        reserved, magic, size = struct.unpack_from("<III", uc, UC_MCONTEXT + EXT_RESERVED)
        if reserved:
            raise BadFrame("the reserved word of the FP state is not zero")
        if magic != 0 or size != 0:  # only the END record: the sandbox has no vector state
            raise BadFrame(f"unknown extension record {magic:#x} in the signal context")
        for i in range(32):
            regs[f"f{i}"] = fp[i]
        regs["fcsr"] = fp[32]
        return regs, pc, RestoredFrame(mask, (ss_sp, ss_flags, ss_size))


RISCV_FRAME = RiscvFrame()
