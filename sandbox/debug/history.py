"""Reverse execution from snapshots taken at system calls, with no per-instruction recording.

While recording, a checkpoint (a full :class:`~sandbox.debug.snapshot.Snapshot`) is taken
right after each system call is served, and one where recording starts. Between two
checkpoints the guest only runs CPU instructions, and Unicorn runs them deterministically; so
any moment of the past is "checkpoint *c*, then *n* instructions", and going there is:
restore checkpoint *c*, run exactly *n* instructions.

Forward runs are not slowed to count instructions. A position's count is found only when
stepping back needs it, by replaying from the checkpoint:

- the trap that ends a segment is the first one after its checkpoint: the least *x* for which
  running *x* instructions reaches a trap is found by doubling and bisection;
- any other position (a breakpoint, a watchpoint, an interrupt) is found by replaying with a
  hook on its pc alone, comparing registers (and memory, on a tie) at each arrival to learn
  which arrival it is, then bisecting the instruction count of that arrival.

Going forward again while in the past re-runs the instructions and, at each system call,
restores the recorded checkpoint instead of serving the call again: no output is written
twice, and the results are the recorded ones even for calls that are not deterministic (the
host clock, host files). Changing registers or memory, or restoring a snapshot, starts a new
history from that point: the future that was recorded no longer follows from it.

A checkpoint holds the first machine and the kernel: that is the whole guest only while it
has one task. So the recording covers one task: once a fork or a new thread makes a second
one, going back is refused (saying which call made it), and checkpoints are no longer
taken; when one task is left again, a new recording starts there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable

from kernel_model.seam import SyscallRequest
from sandbox.engine import Stop
from sandbox.errors import SandboxError
from sandbox.sigframe import resume_pc

if TYPE_CHECKING:
    from sandbox.debug.session import Debugger
    from sandbox.debug.snapshot import Snapshot

_MAX_SEARCH = 1 << 40  # instructions: beyond this a segment is treated as having no trap


class HistoryError(SandboxError):
    """Reverse execution could not find its way (nothing recorded, or the history is inconsistent)."""


@dataclass(eq=False)
class Checkpoint:
    """The state right after a system call was served (or where recording began).

    ``trap_count`` is found lazily: how many instructions run from here before the trap that
    ends this segment (the position of that trap).
    """

    snapshot: "Snapshot"
    nr: int | None = None
    name: str | None = None
    trap_pc: int | None = None
    trap_count: int | None = None


@dataclass(frozen=True)
class Position:
    """A moment of the recorded history: ``count`` instructions after checkpoint ``segment``.

    ``at_entry`` marks the moment after the trap at ``count`` ran and before its system call
    was served (a syscall-entry stop).
    """

    segment: int
    count: int
    at_entry: bool = False


class History:
    """The recorded past of one debugged process, and the moves through it."""

    def __init__(self, debugger: "Debugger", limit: int) -> None:
        self.debugger = debugger
        self.machine = debugger.first
        self.limit = max(limit, 2)
        self.checkpoints: list[Checkpoint] = []
        self.segment = 0
        self.count: int | None = 0
        self.gap: str | None = None  # why there is no recording now: the guest has several tasks
        self.restarted: str | None = None  # why the recording began where it did, if not at the start
        self.restart()

    # -- recording -------------------------------------------------------------------------

    def restart(self) -> None:
        """Forget the recorded history; it begins again at the current state."""
        self.segment = 0
        self.count = 0
        self.restarted = None
        if self.debugger.multitask:
            self.checkpoints = []
            if self.gap is None:
                tasks = self.debugger.live_tasks()
                self.gap = f"the guest had {len(tasks)} tasks ({', '.join(t.name() for t in tasks)}) when recording began"
            return
        self.gap = None
        self.checkpoints = [Checkpoint(self.debugger.snapshots.take())]

    def refusal(self) -> str | None:
        """Why reverse execution cannot go back now (None: it can)."""
        if self.gap is None:
            return None
        return f"reverse execution covers one task: {self.gap}; it records again once one task is left"

    @property
    def in_past(self) -> bool:
        """Whether recorded history lies ahead of the current position."""
        return self.segment < len(self.checkpoints) - 1

    def on_syscall_served(self, req: SyscallRequest) -> None:
        """Take the checkpoint after a live system call (called from the trap path)."""
        dbg = self.debugger
        if dbg.multitask:
            if self.gap is None:
                self.gap = self._made_a_task(req)
                self.checkpoints = []
                self.segment, self.count = 0, None
            return
        resume = resume_pc(self.machine)  # after the trap, or in the signal handler it entered
        checkpoint = Checkpoint(dbg.snapshots.take(pc=resume), nr=req.nr, name=req.name, trap_pc=req.pc)
        if self.gap is not None:
            # one task is left: a new recording begins after this call
            self.restarted = (f"the recording began again after call #{self._call_number()} ({req.name}), once "
                              f"one task was left ({self.gap})")
            self.gap = None
            self.checkpoints = [checkpoint]
            self.segment, self.count = 0, 0
            return
        self.checkpoints.append(checkpoint)
        if len(self.checkpoints) > self.limit:
            del self.checkpoints[0]  # the oldest moment can no longer be reached
        self.segment = len(self.checkpoints) - 1
        self.count = 0

    def _call_number(self) -> int:
        # the call's number in the log (`info syscalls`): it is logged before this is called
        log = self.machine.log
        return len(log) - 1 if log is not None else 0

    def _made_a_task(self, req: SyscallRequest) -> str:
        dbg = self.debugger
        task = dbg.task
        new = max(dbg.live_tasks(), key=lambda t: t.tid)
        proc = new.process
        if new.tid != proc.pid:
            maker, made = f"pid {proc.pid}", f"made thread {new.tid}"
        else:
            maker, made = (f"pid {proc.parent.pid}" if proc.parent is not None else "a task"), f"forked pid {proc.pid}"
        if new is not task and task.name() == maker:
            return f"{maker} {made} at call #{self._call_number()} ({req.name})"
        return f"{maker} {made}, and the recording ended at call #{self._call_number()} ({req.name})"

    def replay_syscall(self, req: SyscallRequest) -> bool:
        """In the past, at a trap: move to the recorded result instead of serving it again.

        Returns False when the trap is not the recorded one (which cannot happen unless the
        guest is not deterministic); the caller then serves it live, and the recorded future
        is dropped.
        """
        nxt = self.checkpoints[self.segment + 1]
        if nxt.trap_pc != req.pc or nxt.nr != req.nr:
            del self.checkpoints[self.segment + 1 :]
            return False
        self.debugger.snapshots.restore(nxt.snapshot)
        self.segment += 1
        self.count = 0
        return True

    # -- moving ----------------------------------------------------------------------------

    def goto(self, segment: int, count: int) -> None:
        """Make the machine be at ``count`` instructions after checkpoint ``segment``."""
        self.debugger.snapshots.restore(self.checkpoints[segment].snapshot)
        if count:
            with self.debugger.replaying():
                stop = self.machine.run(count=count)
            if stop is not Stop.COUNT:
                raise HistoryError(f"replaying {count} instructions stopped early ({stop.value})")
        self.segment, self.count = segment, count

    def goto_entry(self, segment: int) -> None:
        """Make the machine be at the syscall-entry stop of the trap that ends ``segment``."""
        self.goto(segment, self.trap_count(segment))
        with self.debugger.replaying():
            stop = self.machine.run(count=1)
        if stop is not Stop.SYSCALL_ENTRY:
            raise HistoryError("the recorded system call was not found where it was")
        self.count = self.checkpoints[segment].trap_count

    def position(self) -> Position:
        """Where the machine is, with its instruction count found if it was not known."""
        m = self.machine
        at_entry = m.pending is not None or (m.exit is not None and m.fault is None)
        if self.count is None:
            # finding it replays from the checkpoint: come back here afterwards
            snaps = self.debugger.snapshots
            here = snaps.take()
            try:
                self.count = self.trap_count(self.segment) if at_entry else self._locate_by_state(here)
            finally:
                snaps.restore(here)
        return Position(self.segment, self.count, at_entry)

    def previous(self, pos: Position) -> Position | None:
        """The position one instruction before ``pos`` (None at the start of the history)."""
        if pos.at_entry:
            return Position(pos.segment, pos.count)
        if pos.count > 0:
            return Position(pos.segment, pos.count - 1)
        if pos.segment == 0:
            return None
        return Position(pos.segment - 1, self.trap_count(pos.segment - 1))

    # -- reverse searches ------------------------------------------------------------------

    def latest_event(
        self,
        pos: Position,
        breakpoints: Iterable[int],
        entry: Callable[[int], bool],
        ret: Callable[[int], bool],
        at_return_stop: bool,
    ) -> tuple[str, Position]:
        """The latest stop strictly before ``pos``: a breakpoint arrival, a syscall return or
        entry (when ``ret``/``entry`` accept its number), or the start of the history.

        Returns the kind (``breakpoint``, ``syscall-return``, ``syscall-entry``,
        ``history-start``) and the position.
        """
        addresses = sorted(set(breakpoints))
        segment = pos.segment
        limit = pos.count + 1 if pos.at_entry else pos.count  # positions [0, limit) are before pos
        return_is_before = not (pos.count == 0 and not pos.at_entry and at_return_stop)
        while True:
            if addresses and limit > 0:
                arrivals = self._arrivals_before(segment, limit, addresses)
                if arrivals:
                    return "breakpoint", Position(segment, self._nth_arrival(segment, arrivals, addresses))
            cp = self.checkpoints[segment]
            if segment == 0:
                return "history-start", Position(0, 0)
            if return_is_before and ret(cp.nr):  # type: ignore[arg-type]
                return "syscall-return", Position(segment, 0)
            segment -= 1
            if entry(cp.nr):  # type: ignore[arg-type]
                return "syscall-entry", Position(segment, self.trap_count(segment), at_entry=True)
            limit = self.trap_count(segment) + 1
            return_is_before = True

    # -- finding instruction counts by replay ----------------------------------------------

    def _probe(self, segment: int, count: int, addresses: Iterable[int] = ()) -> tuple[Stop, int]:
        """Replay ``count`` instructions from checkpoint ``segment``, counting arrivals at ``addresses``."""
        m = self.machine
        self.debugger.snapshots.restore(self.checkpoints[segment].snapshot, kernel=False)
        hits = 0

        def arrived(address: int) -> None:
            nonlocal hits
            hits += 1

        handles = [m.add_code_hook(arrived, a, a) for a in addresses]
        try:
            with self.debugger.replaying():
                # the recorded task's own instructions, whatever the kernel's state says of
                # the others (it is not put back for a probe)
                stop = m.run_task(count=count) if count else Stop.COUNT
        finally:
            for h in handles:
                m.remove_hook(h)
        return stop, hits

    def _least(self, holds: Callable[[int], bool]) -> int:
        """The least x >= 1 for which ``holds(x)``, given it is monotone (false, then true)."""
        lo, hi = 0, 1
        while not holds(hi):
            lo, hi = hi, hi * 2
            if hi > _MAX_SEARCH:
                raise HistoryError("the recorded history is inconsistent: no such position")
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if holds(mid):
                hi = mid
            else:
                lo = mid
        return hi

    def trap_count(self, segment: int) -> int:
        """How many instructions run after checkpoint ``segment`` before the trap that ends it."""
        cp = self.checkpoints[segment]
        if cp.trap_count is None:

            def trapped(x: int) -> bool:
                stop, _ = self._probe(segment, x)
                if stop is Stop.EXITED:
                    raise HistoryError("the guest faulted while replaying the recorded history")
                return stop is Stop.SYSCALL_ENTRY

            cp.trap_count = self._least(trapped) - 1
        return cp.trap_count

    def _arrivals_before(self, segment: int, limit: int, addresses: list[int]) -> int:
        return self._probe(segment, limit, addresses)[1]

    def _nth_arrival(self, segment: int, n: int, addresses: list[int]) -> int:
        """The position of the ``n``-th arrival (1-based) at ``addresses`` after checkpoint ``segment``."""
        return self._least(lambda y: self._arrivals_before(segment, y, addresses) >= n) - 1

    def _locate_by_state(self, here: "Snapshot") -> int:
        """The count of the machine's current state in its segment, found by replay.

        Which arrival at the current pc is this one: replay with a hook on that pc alone and
        compare registers (and on equal registers, memory). Then bisect the count of that
        arrival. ``here`` is a snapshot of the current state.
        """
        m = self.machine
        snaps = self.debugger.snapshots
        pc = m.fault.pc if m.fault is not None else m.pc
        names = [r for r in m.arch.debugger_registers if r != m.arch.pc]
        target = [m.reg(r) for r in names]
        segment = self.segment
        snaps.restore(self.checkpoints[segment].snapshot, kernel=False)
        arrivals = 0
        found = False

        def arrived(address: int) -> None:
            nonlocal arrivals, found
            arrivals += 1
            if [m.reg(r) for r in names] == target and snaps.same_memory(here):
                found = True
                m.request_stop()

        handle = m.add_code_hook(arrived, pc, pc)
        try:
            with self.debugger.replaying():
                m.run()
        finally:
            m.remove_hook(handle)
        if not found:
            raise HistoryError("the current state is not in the recorded history")
        return self._nth_arrival(segment, arrivals, [pc])
