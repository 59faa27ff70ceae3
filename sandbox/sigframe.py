"""Running a guest's signal handler, and coming back from it: the CPU side of signal delivery.

The kernel model decides that a handler runs (and does the mask bookkeeping); here the
registers of the interrupted code are saved in a signal frame on the guest's stack (or on its
alternate stack), the handler is entered with the arguments Linux gives it, and
``rt_sigreturn`` (i386's and arm's ``sigreturn`` for a handler without ``SA_SIGINFO``) puts
everything back from the frame. Both run inside the trap hook, right
after the system call that delivered the signal, which is exactly when Linux delivers it.
The frame layouts are per arch: x86_64's and aarch64's in :mod:`sandbox.arch.signal_frames`
(with what they all share), i386's, arm's and riscv64's in modules of their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_model.seam import PROT_EXEC, PROT_READ, GuestFault, ProcessExit
from kernel_model.signals import (
    SA_ONSTACK,
    SA_RESTORER,
    SA_SIGINFO,
    SS_AUTODISARM,
    SS_DISABLE,
    SS_ONSTACK,
    AltStack,
    HandlerNotSupported,
    SignalDelivery,
    on_altstack,
    siginfo_bytes,
    signal_name,
)
from sandbox.arch.signal_frames import BadFrame, FrameRequest

if TYPE_CHECKING:
    from sandbox.engine import Machine

SIGBUS, SIGSEGV = 7, 11
SIGPAGE = "[sigpage]"  # the trampoline's mapping, as /proc/PID/maps names arm's signal page


def _stack_flags(alt: AltStack, sp: int) -> int:
    # sas_ss_flags() plus the sticky SS_AUTODISARM, as __save_altstack records them
    if alt.size == 0:
        return SS_DISABLE
    return (SS_ONSTACK if on_altstack(alt, sp) else 0) | (alt.flags & SS_AUTODISARM)


def set_resume_pc(machine: "Machine", target: int) -> None:
    """Make the guest go on at ``target`` once the trap hook returns.

    Unicorn still adds the trap's length to the pc after an x86 ``syscall`` hook (not after
    aarch64's ``svc``, whose hook already sees the next pc), so that part is taken off.
    """
    trap = machine.arch.trap
    machine.pc = target - (trap.length + trap.pc_offset)


def resume_pc(machine: "Machine") -> int:
    """Where the guest goes on when the trap hook returns, as things stand."""
    trap = machine.arch.trap
    return machine.pc + trap.length + trap.pc_offset


def siginfo(machine: "Machine", d: SignalDelivery) -> bytes:
    """The ``siginfo_t`` of a delivered signal, in the arch's layout: signo, errno, code, then
    the sender's pid and uid (and a child's status for SIGCHLD), or a fault's address."""
    return siginfo_bytes(machine.kernel, d.sig, d.code, d.pid, d.uid, d.status, d.addr)


def _sigreturn_trampoline(machine: "Machine") -> int | None:
    """The address of the arch's sigreturn trampoline (mapped on first use: the code the vDSO or
    arm's signal page holds), or None if the arch has none."""
    code = machine.arch.sigreturn_trampoline
    if code is None:
        return None
    # looked for in the address space, not kept on the machine: a forked process has its
    # parent's page already, an exec'd one none
    mm = machine.kernel.mm
    address = next((v.start for v in mm.vmas if v.name == SIGPAGE), None)
    if address is None:
        address = mm.find_free(mm.page)
        mm.map(address, mm.page, PROT_READ | PROT_EXEC, name=SIGPAGE)
        machine.memory.load(address, code)
    return address


def enter_handler(machine: "Machine", d: SignalDelivery) -> None:
    """Save the interrupted state in a signal frame and start the handler (or end the process
    with SIGSEGV, as Linux does, when no frame can be built)."""
    frames = machine.arch.signal_frame
    if frames is None:
        raise HandlerNotSupported(d.sig, d.action.handler)
    act = d.action
    restorer = act.restorer if act.flags & SA_RESTORER else None
    trampoline = 0
    if restorer is None:
        trampoline = _sigreturn_trampoline(machine) or 0
        if not trampoline:
            raise ProcessExit(signal=SIGSEGV, reason=f"{signal_name(d.sig)}'s handler was installed without "
                              "SA_RESTORER, which this arch needs to return from it (Linux: SIGSEGV)")
    kernel = machine.kernel
    alt = kernel.signals.altstack
    sp = machine.reg(machine.arch.sp)
    top = sp - frames.red_zone
    if act.flags & SA_ONSTACK and alt.size and not on_altstack(alt, sp):
        top = alt.sp + alt.size
    request = FrameRequest(
        top=top, sig=d.sig, siginfo=siginfo(machine, d), sa_siginfo=bool(act.flags & SA_SIGINFO),
        saved_mask=d.saved_mask, uc_stack=(alt.sp, _stack_flags(alt, sp), alt.size), handler=act.handler,
        restorer=restorer, trampoline=trampoline, resume_pc=resume_pc(machine),
        fault_address=d.addr if d.addr is not None and d.sig in (SIGSEGV, SIGBUS) else 0, trap=d.trap,
    )
    if alt.flags & SS_AUTODISARM:
        kernel.signals.altstack = AltStack()
    try:
        regs = frames.push(machine, request)
    except GuestFault:
        raise ProcessExit(signal=SIGSEGV, reason=f"no room for {signal_name(d.sig)}'s signal frame at "
                          f"{request.top:#x} (Linux: SIGSEGV)") from None
    for name, value in regs.items():
        machine.set_reg(name, value)
    set_resume_pc(machine, act.handler)


def return_from_handler(machine: "Machine", rt: bool = True) -> int:
    """``rt_sigreturn`` (``rt``) or ``sigreturn``: restore the frame's registers and mask, and
    for the rt frame the alternate stack.

    Returns the value the call leaves in the return register (the restored one). A pending
    signal the restored mask lets in is delivered at once (its SignalDelivery propagates).
    """
    call = "rt_sigreturn" if rt else "sigreturn"
    frames = machine.arch.signal_frame
    if frames is None:
        raise ProcessExit(signal=SIGSEGV, reason=f"{call} without a signal frame (Linux: SIGSEGV)")
    try:
        regs, pc, rest = frames.pop(machine, rt)
    except BadFrame as e:
        raise ProcessExit(signal=SIGSEGV, reason=f"{call} found no valid signal frame ({e}) (Linux: SIGSEGV)") from None
    for name, value in regs.items():
        machine.set_reg(name, value)
    set_resume_pc(machine, pc)
    sp = regs.get(machine.arch.sp, machine.reg(machine.arch.sp))
    kernel = machine.kernel
    altstack = None
    # sigreturn's frames have no uc_stack; restoring it while on it is EPERM, which Linux ignores
    if rest.uc_stack is not None and not on_altstack(kernel.signals.altstack, sp):
        ss_sp, ss_flags, ss_size = rest.uc_stack
        mode = ss_flags & ~SS_AUTODISARM
        if mode == SS_DISABLE:
            altstack = AltStack()
        elif mode in (0, SS_ONSTACK) and ss_size >= kernel.abi.minsigstksz:
            altstack = AltStack(ss_sp, ss_size, ss_flags & SS_AUTODISARM)
    value = regs.get(machine.arch.ret_reg, machine.reg(machine.arch.ret_reg))
    kernel.signals.after_handler(rest.mask, altstack)
    return value
