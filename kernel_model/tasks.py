"""Tasks and processes: what a thread has of its own, and what the threads of a process share.

A :class:`Task` is a thread: its CPU context (held by the CPU side), its tid, its signal mask
and pending signals, its ``clear_child_tid`` and robust list, its name. A :class:`Process` is
a thread group: pid, parent, process group and session, address space, descriptor table,
filesystem state (cwd, umask), signal handlers, resource limits, children and exit status.
What ``clone`` shares is these objects themselves, as Linux shares them: ``CLONE_VM`` the
address space, ``CLONE_FILES`` the descriptor table, ``CLONE_FS`` the filesystem state,
``CLONE_SIGHAND`` the handlers, ``CLONE_THREAD`` the process.

The first process keeps pid 1000 (the guest's pid before there were others) and reaps the
orphans. Pids and tids come from one counter, in order, so runs are reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from kernel_model.sched import Scheduler, Wait, WaitQueue
from kernel_model.seam import ProcessExit

if TYPE_CHECKING:
    from kernel_model.fdtable import FdTable
    from kernel_model.limits import ResourceLimits
    from kernel_model.mm import AddressSpace
    from kernel_model.procfs import Executable
    from kernel_model.process import Identity, PrctlState
    from kernel_model.seam import GuestMemory
    from kernel_model.signals import SigAction, SignalState
    from kernel_model.threads import ThreadState
    from kernel_model.vfs import GuestPath


@dataclass
class FsState:
    """What ``CLONE_FS`` shares: the working directory and the umask."""

    cwd: "GuestPath" = ()
    umask: int = 0o022


class Task:
    """One thread of the guest."""

    def __init__(self, tid: int, process: "Process", signals: "SignalState", thread: "ThreadState", cpu: Any = None) -> None:
        self.tid = tid
        self.process = process
        self.signals = signals  # its mask, pending set and alternate stack; the handlers are the process's
        self.thread = thread  # clear_child_tid, the robust list, rseq, the name
        self.cpu = cpu  # the CPU side's context of this task (registers), opaque here
        self.state = "runnable"  # runnable | blocked | stopped | dead
        self.wait: Wait | None = None
        self.wake_reason: str | None = None  # why the last wait ended: event | timeout | signal
        self.scheduler: Scheduler | None = None
        # What a call that blocked keeps across its restarts (its deadline, a vfork's child).
        self.call_state: dict[str, Any] = {}
        self.instructions = 0  # run so far, for the scheduler's time slices

    def __repr__(self) -> str:
        return f"Task({self.tid} of {self.process.pid}, {self.state})"

    def name(self) -> str:
        """How a report names the task: ``pid 1001`` or ``pid 1000 thread 1003``."""
        if self.tid == self.process.pid:
            return f"pid {self.process.pid}"
        return f"pid {self.process.pid} thread {self.tid}"

    # -- waiting ---------------------------------------------------------------------------

    def block(self, wait: Wait) -> None:
        """Park the task until ``wait`` ends (a queue wakes it, its deadline, a host descriptor)."""
        self.unblock()
        self.wait = wait
        self.state = "blocked"
        self.wake_reason = None
        for queue in wait.queues:
            queue.waiters.append(self)

    def unblock(self) -> None:
        """Leave every queue the task waits on (it stays in the state it is in)."""
        if self.wait is not None:
            for queue in self.wait.queues:
                if self in queue.waiters:
                    queue.waiters.remove(self)
            self.wait = None

    def wake(self, reason: str) -> None:
        """End the task's wait: it becomes runnable and makes its call again."""
        if self.state != "blocked":
            return
        self.unblock()
        self.state = "runnable"
        self.wake_reason = reason
        scheduler = self.scheduler
        if scheduler is not None and scheduler.on_runnable is not None:
            scheduler.on_runnable(self)

    def finish_call(self) -> None:
        """The blocked call is over: forget what it kept across restarts."""
        self.call_state.clear()
        self.wake_reason = None


class Process:
    """A thread group: one guest process."""

    def __init__(
        self,
        pid: int,
        identity: "Identity",
        memory: "GuestMemory",
        mm: "AddressSpace",
        fds: "FdTable",
        fs: FsState,
        handlers: dict[int, "SigAction"],
        limits: "ResourceLimits",
        prctl: "PrctlState",
        parent: "Process | None" = None,
    ) -> None:
        self.pid = pid
        self.identity = identity
        self.memory = memory
        self.mm = mm
        self.fds = fds
        self.fs = fs
        self.handlers = handlers  # signal dispositions (shared with CLONE_SIGHAND)
        self.limits = limits
        self.prctl = prctl
        self.parent = parent
        # The first process leads its own process group, as a shell starts a job, in the
        # session of whoever started it (its parent outside the sandbox): not a session leader.
        self.pgid = pid if parent is None else parent.pgid
        self.sid = identity.ppid if parent is None else parent.sid
        self.threads: list[Task] = []
        self.children: list[Process] = []
        self.executable: "Executable | None" = None
        self.exit_signal = 17  # SIGCHLD: what the parent gets when this process ends
        self.exit: ProcessExit | None = None  # set when the whole group has ended (a zombie until reaped)
        self.child_events = WaitQueue(f"the children of pid {pid}")  # wait4 in this process waits here
        self.vfork_done = WaitQueue(f"the vfork of pid {pid}")  # a vfork parent waits here
        self.signal_events = WaitQueue(f"a signal for pid {pid}")  # the readers of its signalfds wait here
        self.stopped: int | None = None  # the signal that stopped it (job control), or None
        self.reported: str | None = None  # "stopped"/"continued": a change wait4 has not reported yet
        self.cpu_ns = 0  # CPU time its tasks used (rusage)
        self.children_cpu_ns = 0
        self.execed = False  # it ran execve (setpgid may no longer move it)
        self.nice = 0  # its nice value, -20..19 (a fork inherits it)
        self.itimers: dict[int, Any] = {}  # its interval timers (kernel_model.itimers); a fork's child has none

    def __repr__(self) -> str:
        return f"Process({self.pid}{', exited' if self.exit else ''})"

    @property
    def alive(self) -> bool:
        """Whether it has a task still running (not ended, not a zombie)."""
        return self.exit is None

    def main_thread(self) -> Task | None:
        """The thread whose tid is the pid, while it lives (else any live thread)."""
        live = [t for t in self.threads if t.state != "dead"]
        return next((t for t in live if t.tid == self.pid), live[0] if live else None)

    def with_parent(self, parent: "Process") -> None:
        """Make ``parent`` the parent (a fork, or an orphan given to the reaper)."""
        self.parent = parent
        self.identity = replace(self.identity, ppid=parent.pid)


@dataclass
class ProcessTable:
    """Every process and task of the guest, and the counter their ids come from."""

    first_pid: int = 1000
    processes: dict[int, Process] = field(default_factory=dict)
    tasks: dict[int, Task] = field(default_factory=dict)
    last_id: int = 0
    limit_refusals: int = 0  # forks refused with EAGAIN because as many processes as allowed live

    def new_id(self) -> int:
        """The next pid or tid: one counter for both, as Linux has."""
        self.last_id = max(self.last_id + 1, self.first_pid)
        while self.last_id in self.tasks or self.last_id in self.processes:
            self.last_id += 1
        return self.last_id

    @property
    def reaper(self) -> Process | None:
        """The first process: orphans become its children."""
        return self.processes.get(self.first_pid)

    def live(self) -> list[Process]:
        """The processes that have not ended, in pid order."""
        return [p for p in sorted(self.processes.values(), key=lambda p: p.pid) if p.alive]

    def group(self, pgid: int) -> list[Process]:
        """The live processes of a process group."""
        return [p for p in self.live() if p.pgid == pgid]
