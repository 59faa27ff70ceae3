"""What a CPU fault puts in the ``siginfo_t`` of its signal: the ``si_code`` and ``si_addr``.

Linux sends a synchronous signal for a fault with ``force_sig_fault(sig, code, addr)``; the
code and address here are the ones its fault handlers give, for the faults the sandbox can
tell apart. The engine delivers them to a guest's handler (see ``Machine._fault``), and the
tracer shows them (``--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=0x10} ---``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from sandbox.engine import FaultReport

# si_code values by name (include/uapi/asm-generic/siginfo.h)
SI_CODES: dict[str, int] = {
    "SI_KERNEL": 0x80,
    "SEGV_MAPERR": 1, "SEGV_ACCERR": 2,
    "BUS_ADRALN": 1, "BUS_ADRERR": 2, "BUS_OBJERR": 3,
    "ILL_ILLOPC": 1, "ILL_ILLOPN": 2, "ILL_PRVOPC": 5,
    "FPE_INTDIV": 1, "FPE_INTOVF": 2, "FPE_FLTINV": 7,
    "TRAP_BRKPT": 1, "TRAP_TRACE": 2,
}
# The codes a signal may carry, for showing a number by name.
_CODE_NAMES: dict[str, dict[int, str]] = {}
for _name, _value in SI_CODES.items():
    prefix = _name.split("_")[0]
    for _sig in {"SEGV": ("SIGSEGV",), "BUS": ("SIGBUS",), "ILL": ("SIGILL",), "FPE": ("SIGFPE",),
                 "TRAP": ("SIGTRAP",), "SI": ("SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGTRAP")}[prefix]:
        _CODE_NAMES.setdefault(_sig, {})[_value] = _name


def code_name(signal: str, code: int) -> str:
    """A fault's si_code by name (``SIGSEGV``, 2 -> ``SEGV_ACCERR``), or the number."""
    return _CODE_NAMES.get(signal, {}).get(code, str(code))


def fault_siginfo(arch: str, report: "FaultReport", mapped: Callable[[int], bool]) -> tuple[str, int]:
    """The si_code (by name) and si_addr of the fault ``report`` describes on ``arch``.

    The report's ``code`` is the one the arch's fault description names (empty: the usual
    one); ``mapped`` says whether an address is in a mapping (SEGV_ACCERR, not SEGV_MAPERR).
    """
    signal, code = report.signal, report.code
    if code == "SI_KERNEL":
        return code, 0
    if signal == "SIGSEGV":
        if report.address is None:
            return "SI_KERNEL", 0
        return code or ("SEGV_ACCERR" if mapped(report.address) else "SEGV_MAPERR"), report.address
    if signal == "SIGBUS":
        # the alignment faults, unless the fault says otherwise (BUS_ADRERR past a file's end)
        return code or "BUS_ADRALN", report.address if report.address is not None else report.pc
    if signal == "SIGILL":
        # x86's #UD handler says ILL_ILLOPN; arm64's, arm's and riscv's undefined-instruction
        # handlers ILL_ILLOPC
        return code or ("ILL_ILLOPN" if arch in ("x86_64", "i386") else "ILL_ILLOPC"), report.pc
    if signal == "SIGFPE":
        return code or "FPE_INTDIV", report.pc
    if signal == "SIGTRAP":
        return code or "TRAP_BRKPT", report.pc
    return code or "SI_KERNEL", 0
