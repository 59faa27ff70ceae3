"""The tracer: an observer on a machine's trap path that records each call with its memory.

Attached as ``machine.observer``, it is told of each call at entry and at exit. It reads the
arguments' memory (see :mod:`sandbox.trace.capture`) when that is asked for, keeps a record of
each call, and can write each call as it happens to a stream, in one of the formats.
Detached, the trap path pays one ``is not None`` test per call.
"""

from __future__ import annotations

import time
from collections import deque
from time import perf_counter
from typing import IO, Any, Protocol

from kernel_model.linux_errno import Errno
from kernel_model.prototypes import Prototype, prototype
from kernel_model.seam import GuestFault, ProcessExit, SyscallRequest
from kernel_model.signals import signal_name
from sandbox.engine import FaultReport, Machine, kernel_arch
from sandbox.faults import code_name, fault_siginfo
from sandbox.records import DEFAULT_RECORDS, SyscallRecord, calling_convention, to_signed
from sandbox.trace.capture import FRAME_MASK, Capture
from sandbox.trace.filter import TraceFilter


SIGRETURN_CALLS = ("rt_sigreturn", "sigreturn")
# What syscall_entry leaves for syscall_exit: the request, its prototype, decoded values,
# memory read at entry, whether the call is shown, and the record begun at entry.
_Pending = tuple[SyscallRequest, Prototype, dict[str, int], "dict[str, Any] | None", bool, "SyscallRecord | None"]


class TraceFormat(Protocol):
    """What a format provides: text at a call's entry and exit, a whole line, and the ending."""

    name: str

    def entry(self, record: SyscallRecord) -> str:
        """Text written when the call enters."""

    def exit(self, record: SyscallRecord) -> str:
        """Text written when the call returns (ends with a newline)."""

    def line(self, record: SyscallRecord) -> str:
        """One call's whole line, without the newline."""

    def finish(self, exit_status: int, signal: str | None, signal_line: str | None) -> str:
        """The text that ends the trace."""


class Tracer:
    """Records every call of one machine, with the memory behind its arguments.

    ``capture_memory`` reads strings, buffers and structs (strace's and the JSON view need
    them; the register view does not). ``string_limit`` is strace's ``-s``. With ``sink`` and
    ``format``, each call accepted by ``filter`` is written to ``sink`` as it happens.
    ``records`` holds the records of the last ``keep`` calls (None: all; 0: none, for a trace
    that is only written).
    """

    def __init__(
        self,
        machine: Machine,
        *,
        capture_memory: bool = True,
        string_limit: int = 32,
        sink: IO[str] | None = None,
        format: TraceFormat | None = None,
        filter: TraceFilter | None = None,
        keep: int | None = DEFAULT_RECORDS,
    ) -> None:
        self.machine = machine
        self.arch = machine.arch
        self.capture = Capture(kernel_arch(machine.arch), machine.memory, string_limit) if capture_memory else None
        self.sink = sink
        self.format = format
        self._filter = filter or TraceFilter()
        # the last calls' records (``keep`` of them; None when keep is 0)
        self.records: deque[SyscallRecord] | None = deque(maxlen=keep) if keep != 0 else None
        self._prototypes: dict[str, Prototype] = {}
        self._accepted: dict[str, bool] = {}  # the filter's answer, by call name
        self._convention = calling_convention(machine.arch)
        self._live = sink is not None and format is not None
        # JSON writes nothing at entry: no entry record to build
        self._entry_text = self._live and getattr(format, "writes_at_entry", True)
        # A line's first part is flushed at once only where someone watches it appear (a
        # terminal: a blocking read shows "read(0, " while it waits); elsewhere one flush a call.
        self._flush_at_entry = self._live and _is_terminal(sink)
        # the register view shows the registers after the call; the others read the record
        self.reads_registers = self._live and getattr(format, "reads_registers", True)
        self._signals: list[str] = []  # signal lines waiting for the end of the current call
        # With several tasks (strace -f): each task's call between its entry and its exit, the
        # task whose line was begun and not ended, and those whose line was cut (unfinished).
        self._kernel = machine.kernel
        self._pending: dict[int, _Pending] = {}
        self._open: int | None = None
        self._unfinished: set[int] = set()

    def attach(self) -> "Tracer":
        """Start observing the machine's calls (and the signals its kernel delivers)."""
        self.machine.observer = self
        state = getattr(self.machine.kernel, "signals", None)
        if state is not None and hasattr(state, "watch"):
            state.watch = self.signal_seen
        return self

    def detach(self) -> None:
        """Stop observing."""
        if self.machine.observer is self:
            self.machine.observer = None
        state = getattr(self.machine.kernel, "signals", None)
        if state is not None and getattr(state, "watch", None) == self.signal_seen:
            state.watch = None

    # -- the observer protocol --------------------------------------------------------------

    def _prototype(self, name: str) -> Prototype:
        proto = self._prototypes.get(name)
        if proto is None:
            proto = self._prototypes[name] = prototype(name, self.arch.name)
        return proto

    @property
    def filter(self) -> TraceFilter:
        """Which calls are written (all are recorded)."""
        return self._filter

    @filter.setter
    def filter(self, value: TraceFilter) -> None:
        self._filter = value
        self._accepted.clear()

    def _accepts(self, name: str) -> bool:
        accepted = self._accepted.get(name)
        if accepted is None:
            accepted = self._accepted[name] = self._filter.accepts(name)
        return accepted

    # -- several tasks ------------------------------------------------------------------------

    def _tid(self) -> int:
        return self._kernel.current.tid

    def _prefix(self, tid: int) -> str:
        # strace -f's "[pid  1001] ", once there is more than one task to tell apart
        return f"[pid {tid:5d}] " if len(self._kernel.processes.tasks) > 1 else ""

    def _cut(self, tid: int | None = None) -> None:
        # Another task writes while a line is begun: strace ends it with <unfinished ...>.
        open_tid = self._open
        if open_tid is None or open_tid == tid:
            return
        assert self.sink is not None
        self.sink.write(" <unfinished ...>\n")
        self._unfinished.add(open_tid)
        self._open = None

    def _indented(self, method: Any, record: SyscallRecord, prefix: str) -> str:
        # strace counts a line's prefix in the column it aligns "= " at
        if prefix and getattr(self.format, "indents", False):
            return method(record, indent=len(prefix))
        return method(record)

    def task_ended(self, tid: int, ex: ProcessExit) -> None:
        """A task other than the first process's last ended (strace -f's ``[pid N] +++ exited
        with 3 +++``), told by the CPU side."""
        if not self._live or self.format is None or self.sink is None:
            return
        self._pending.pop(tid, None)
        self._unfinished.discard(tid)
        signal = signal_name(ex.signal) if ex.signal else None
        text = self.format.finish(ex.status, signal, None)
        if not text:
            return
        self._cut()
        prefix = f"[pid {tid:5d}] "
        self.sink.write("".join(prefix + line for line in text.splitlines(keepends=True)))
        self.sink.flush()

    # -- the calls ------------------------------------------------------------------------------

    def syscall_entry(self, request: SyscallRequest) -> None:
        """Read the call's inputs and (live) write its first part."""
        proto = self._prototype(request.name)
        values = proto.decode(request.args, self._convention)
        capture = self.capture
        if capture is not None:
            capture.memory = request.memory  # the calling task's address space
        captured = capture.at_entry(proto, values) if capture is not None else None
        if captured is not None and request.name in SIGRETURN_CALLS:
            self._read_frame_mask(captured, request.name == "rt_sigreturn")
        shown = self._live and self._accepts(request.name)
        record = None
        tid = self._tid()
        if shown and self._entry_text:
            assert self.format is not None and self.sink is not None
            record = self._record(request, values, captured, None, None, entering=True)
            prefix = self._prefix(tid)
            text = self._indented(self.format.entry, record, prefix)
            if text:
                self._cut(tid)
                self.sink.write(prefix + text)
                self._open = tid
                if self._flush_at_entry:
                    self.sink.flush()
        self._pending[tid] = (request, proto, values, captured, shown, record)

    def syscall_exit(self, request: SyscallRequest, value: int | None, errno: Errno | None) -> None:
        """Read the call's outputs, keep its record and (live) finish its line."""
        tid = self._tid()
        pending = self._pending.pop(tid, None)
        if self.capture is not None:
            self.capture.memory = request.memory
        if pending is None or pending[0] is not request:
            # Observed from the middle of a call (attached at its exit): nothing read at entry.
            proto = self._prototype(request.name)
            pending = (request, proto, proto.decode(request.args, self._convention), None, False, None)
        _, proto, values, captured, shown, record = pending
        # as in sandbox.records: an error is -errno, a success the value as given (never negative)
        ret = None if value is None else (value if errno is None else to_signed(value, self.arch.bits))
        if self.capture is not None:
            captured = captured if captured is not None else {}
            self.capture.at_exit(proto, values, ret, errno is not None, captured)
        if record is None:
            record = self._record(request, values, captured, ret, errno)
        else:
            # The record made at entry, nowhere else yet, becomes the call's (a frozen record
            # costs more to make again than the rest of this method).
            record.__dict__.update(
                ret=ret, errno=errno.name if errno is not None else None, note=request.note,
                time=perf_counter() - self.machine.started, implemented=request.note != "unimplemented",
                captured=captured,
            )
        if self.records is not None:
            self.records.append(record)
        # The engine logged the call just before: keep its memory under the entry's number
        # (a debugger going back in time shortens the log, and the calls made again replace these).
        log = self.machine.log
        if log is not None:
            log.captured[log.total - 1] = captured
        if shown:
            assert self.format is not None and self.sink is not None
            if tid in self._unfinished:
                # its line was cut by another task's: strace's "<... read resumed>"
                self._unfinished.discard(tid)
                self._cut()
                resumed = getattr(self.format, "resumed", None)
                prefix = self._prefix(tid)
                text = self._indented(resumed or self.format.exit, record, prefix)
                self.sink.write(prefix + text)
            elif self._open == tid or not self._entry_text:
                if not self._entry_text:
                    self._cut()  # a whole line at exit (JSON)
                self.sink.write(self.format.exit(record))
            else:
                self._cut()
                prefix = self._prefix(tid)
                self.sink.write(prefix + self._indented(self.format.exit, record, prefix))
            self._open = None
            self.sink.flush()
        if self._signals:
            self._flush_signals()

    def _read_frame_mask(self, captured: dict[str, Any], rt: bool) -> None:
        # rt_sigreturn's only "argument" is the frame on the stack: strace shows the mask it restores.
        frames = getattr(self.arch, "signal_frame", None)
        if frames is None:
            return
        try:
            mask = frames.restored_mask(self.machine, rt)
        except GuestFault:
            return
        captured[FRAME_MASK] = [i + 1 for i in range(64) if mask >> i & 1]

    def signal_seen(self, sig: int, code: int, sender: "tuple[int, int, int] | None" = None,
                    addr: int | None = None) -> None:
        """A signal is being delivered (the kernel model tells): strace's ``--- SIGUSR1 {...} ---``.

        It is written after the line of the call that raised it, as strace writes it. A CPU
        fault's signal, on its way to a handler, comes with its si_addr.
        """
        if self.sink is None or self.format is None or self.format.name == "json":
            return
        if addr is not None:
            self._signals.append(f"{self._prefix(self._tid())}--- {fault_info_line(sig, code, addr)} ---\n")
            self._flush_signals()
            return
        state = getattr(self.machine.kernel, "signals", None)
        pid, uid = (state.pid, state.uid) if state is not None else (0, 0)
        status = 0
        if sender is not None:
            pid, uid, status = sender
        tid = self._tid()
        self._signals.append(f"{self._prefix(tid)}--- {signal_info_line(sig, code, pid, uid, status)} ---\n")
        if tid not in self._pending:
            self._flush_signals()

    def _flush_signals(self) -> None:
        if self._signals and self.sink is not None:
            self._cut()
            self.sink.write("".join(self._signals))
            self.sink.flush()
        self._signals.clear()

    def _record(self, request: SyscallRequest, values: dict[str, int], captured: dict[str, Any] | None,
                ret: int | None, errno: Errno | None, entering: bool = False) -> SyscallRecord:
        task = self._kernel.current
        return SyscallRecord._of(
            self.arch.name, request.nr, request.name, request.args, values, ret,
            errno.name if errno is not None else None, request.pc, request.note,
            0.0 if entering else time.perf_counter() - self.machine.started, request.note != "unimplemented", captured,
            task.process.pid, task.tid,
        )

    # -- the end ----------------------------------------------------------------------------

    def finish(self, exit_status: int, signal: str | None, fault: FaultReport | None) -> None:
        """Write how the process ended (``+++ exited with 0 +++``), when writing live."""
        if self.sink is None or self.format is None:
            return
        text = self.format.finish(exit_status, signal, signal_info(self.machine, signal, fault))
        if text:
            self.sink.write(text)
            self.sink.flush()


def _is_terminal(stream: IO[str] | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def signal_info(machine: Machine | None, signal: str | None, fault: FaultReport | None) -> str | None:
    """strace's ``SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=0x10}`` for a fault.

    The ``si_code`` follows what Linux reports for the common faults; a fault the sandbox does
    not describe precisely gets the generic ``SI_KERNEL``.
    """
    if signal is None or fault is None:
        return None
    arch = machine.arch.name if machine is not None else ""
    code, where = fault_siginfo(arch, fault, lambda a: machine is not None and machine.memory.accessible(a, 1, 0) == 1)
    addr = "NULL" if not where else f"{where:#x}"
    return f"{signal} {{si_signo={signal}, si_code={code}, si_addr={addr}}}"


def fault_info_line(sig: int, code: int, addr: int) -> str:
    """strace's ``SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=0x10}`` from the numbers."""
    name = signal_name(sig)
    text = code_name(name, code)
    return f"{name} {{si_signo={name}, si_code={text}, si_addr={'NULL' if not addr else f'{addr:#x}'}}}"


_SI_CODES = {0: "SI_USER", 0x80: "SI_KERNEL", -1: "SI_QUEUE", -2: "SI_TIMER", -6: "SI_TKILL"}


_CLD_CODES = {1: "CLD_EXITED", 2: "CLD_KILLED", 3: "CLD_DUMPED", 4: "CLD_TRAPPED", 5: "CLD_STOPPED", 6: "CLD_CONTINUED"}


def signal_info_line(sig: int, code: int, pid: int, uid: int, status: int = 0) -> str:
    """strace's ``SIGUSR1 {si_signo=SIGUSR1, si_code=SI_TKILL, si_pid=1000, si_uid=0}``, and for
    a child's end ``SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=1001, si_uid=1000,
    si_status=3, si_utime=0, si_stime=0}``."""
    name = signal_name(sig)
    if name == "SIGCHLD" and code in _CLD_CODES:
        what = signal_name(status) if code in (2, 3, 5) and status else str(status)
        return (f"{name} {{si_signo={name}, si_code={_CLD_CODES[code]}, si_pid={pid}, si_uid={uid}, "
                f"si_status={what}, si_utime=0, si_stime=0}}")
    text = _SI_CODES.get(code, str(code))
    sender = f", si_pid={pid}, si_uid={uid}" if code in (0, -1, -6) else ""
    return f"{name} {{si_signo={name}, si_code={text}{sender}}}"
