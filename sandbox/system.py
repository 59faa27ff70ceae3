"""The guest's processes and threads on the CPU side: whose registers the CPU holds, and which
task runs next.

Unicorn runs one instruction stream at a time and has no atomics across threads, so the
guest's tasks take turns. Each address space is a :class:`~sandbox.engine.Machine` (one
Unicorn engine): a fork copies the parent's into a new one, an execve starts the program
afresh in the process's own (or, for a vfork child that still shares its parent's, in a new
one). Threads of a process share its machine; switching between them saves one's registers
(a Unicorn context) and restores the other's.

:meth:`System.run` runs the current task until it cannot go on (its call waits, it ends, it
exec'd) or its time slice is used, then asks the kernel's
:class:`~kernel_model.sched.Scheduler` for the next. What a time slice counts depends on what
the tasks share:

- threads of one address space can race on its memory at any instruction, so while a process
  has two threads or more, its machine counts instructions (Unicorn's counter, which slows
  its generated code) and a slice is :data:`SLICE` instructions when another of them could
  run. That keeps a race the same on every run, and ``--seed`` changes it;
- tasks of different processes share no memory, so the only order between them anyone can
  see is the order of their system calls: the running one gives way after
  :data:`CALL_SLICE` calls while another could run, and its code runs uncounted (at full
  speed, with the code it translated kept: counting could only start by translating it all
  again).

A task blocked until a deadline (a sleep, a timeout) while another runs is woken by a timer
when it is due, and one waiting for a host descriptor is looked at every
:data:`HOST_POLL_MS`; that is where real time, and so a difference between runs, comes in.
A run ends when the first process does.
"""

from __future__ import annotations

import random
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Callable

from kernel_model.clock import write_remaining
from kernel_model.fsnodes import BytesHandle, StatInfo
from kernel_model.lifecycle import ThreadExit
from kernel_model.linux_errno import Errno
from kernel_model.procfs import Executable
from kernel_model.sched import Deadlock
from kernel_model.seam import Exec, GuestMemory, KernelError, ProcessExit
from kernel_model.signals import SA_RESTART, SIGNAL_WAITS, ProcessStop, SignalDelivery

if TYPE_CHECKING:
    from kernel_model.tasks import Process, Task
    from sandbox.engine import Machine, Stop

# Instructions a task runs before another runnable one gets the CPU (when there is one).
SLICE = 100_000
# Machines of ended processes kept for the next forks: a new engine translates the program's
# code afresh, which costs a shell more than the fork itself.
SPARE_MACHINES = 4
# System calls a task of one process makes before a runnable task of another gets the CPU.
CALL_SLICE = 64
# How often a task waiting for a host descriptor is looked at while another task runs.
HOST_POLL_MS = 10
# The calls a signal handler interrupts with EINTR even under SA_RESTART (Linux's
# ERESTARTNOHAND and the waits for a signal itself).
_NEVER_RESTARTED = frozenset({
    "poll", "ppoll", "ppoll_time64", "select", "_newselect", "pselect6", "pselect6_time64", "epoll_wait",
    "epoll_pwait", "epoll_pwait2", "pause", "rt_sigsuspend", "sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "nanosleep", "clock_nanosleep", "clock_nanosleep_time64",
})


class TaskContext:
    """What the CPU side keeps of a task: its machine, and while it does not run, its registers
    and the call it is waiting in."""

    __slots__ = ("_machine", "registers", "start_pc", "pending", "pending_regs", "restarting", "tls")

    def __init__(self, machine: "Machine", registers: Any = None, start_pc: int | None = None) -> None:
        # weakly: the first machine owns the kernel that holds this (System.machines keeps
        # the others), so no cycle keeps an engine alive until the garbage collector runs
        self._machine = weakref.ref(machine)
        self.registers = registers  # a Unicorn context, None while the registers are in the engine
        self.start_pc = start_pc  # a new task's first pc, written as it first runs
        self.pending: Any = None
        self.pending_regs: Any = None
        self.restarting: Any = None
        self.tls: Any = None  # i386: the task's own TLS entries of the descriptor table

    @property
    def machine(self) -> "Machine":
        """The machine (address space) the task runs in."""
        machine = self._machine()
        assert machine is not None, "a task outlived its machine"
        return machine

    def __deepcopy__(self, memo: dict) -> "TaskContext":
        return self  # the CPU side's object: a snapshot of the kernel shares it


class System:
    """The machines and task contexts of one run, and the loop that runs its tasks."""

    def __init__(self, first: "Machine") -> None:
        self._first = weakref.ref(first)
        self.kernel = first.kernel
        task = self.kernel.current
        task.cpu = TaskContext(first)
        self.running: "Task" = task
        self.machines: list["Machine"] = []  # the others this run made (forks, exec'd vfork children)
        self._spare: list["Machine"] = []  # machines of ended processes, for the next forks
        self._slice_rng: random.Random | None = None
        self.ended = False  # the run is over (its first process ended, or it was killed)
        self._in_task = False  # a task's instructions run (Machine.run_task)
        self._sliced = False  # ... and they have a time slice
        self._alarm: _Alarm | None = None  # wakes a task whose deadline comes while another runs
        # A debugger's: told of each new machine (to hook it too) and of each task's end, and
        # asking the loop to stop before the next task runs (see run)
        self.on_new_machine: "Callable[[Machine], None] | None" = None
        self.on_task_end: "Callable[[int, ProcessExit], None] | None" = None
        self.stop_requested = False
        self.kernel.preempt = self._preempt
        self.kernel.scheduler.on_runnable = self._on_runnable

    @property
    def first(self) -> "Machine":
        """The first process's machine (the one the sandbox gave the program)."""
        machine = self._first()
        assert machine is not None, "the first machine is gone"
        return machine

    def restored(self) -> None:
        """The kernel's state was put back (a debugger went back in time): follow it."""
        self.running = self.kernel.current
        self.ended = self.first.exit is not None

    def seed_slices(self, seed: int | None) -> None:
        """With a seed, time slices of seeded random lengths (between a tenth and twice SLICE)."""
        self._slice_rng = random.Random(seed) if seed is not None else None

    # -- running -------------------------------------------------------------------------------

    def run(self, count: int = 0, timeout_us: int = 0, until: int | None = None) -> "Stop":
        """Run tasks until the first process ends or a stop a caller asked for comes.

        ``count`` (single steps) and ``until`` concern the current task: the others run as without
        them, and a count is over when its task ends. A debugger's stops (syscall entry/exit,
        breakpoints) come from whichever machine hits them; ``stop_requested`` stops the loop
        before the next task runs.
        """
        from sandbox.engine import Stop

        kernel = self.kernel
        first_pid = kernel.processes.first_pid
        # ``until`` is an address in the code of the task that runs now: another task passing
        # there (a forked child running the same code) goes on
        until_task = self.running if until is not None else None
        count_task = self.running if count else None
        while True:
            if self.ended:
                return Stop.EXITED
            first = kernel.processes.processes.get(first_pid)
            if first is None or first.exit is not None:
                # another task ended the first process (a kill): the run ends with it
                self._end_run(first.exit if first is not None and first.exit is not None else ProcessExit(signal=9))
                return Stop.EXITED
            task = self.running
            machine = task.cpu.machine
            if machine.task_change is not None:  # left by a stop that came first (a debugger's)
                self._changed(machine, task)
                continue
            if task.state != "runnable":
                self._next_task()
                continue
            if self.stop_requested:
                self.stop_requested = False
                return Stop.STOPPED
            if count_task is not None and count_task.state == "dead":
                return Stop.COUNT  # the task the count was of ended: so did its steps
            if not self._deliver_signals(task, machine):
                continue
            slice_ = count if count_task is None or task is count_task else 0
            sliced = False
            machine.calls_left = None
            if not slice_:
                others = [t for t in kernel.scheduler.runnable() if t is not task]
                if self._threaded(task.process):
                    # threads race on memory: count instructions, and once counting, keep
                    # counting (starting again would translate every block again)
                    slice_, sliced = self._slice(), True
                elif others:
                    machine.calls_left = CALL_SLICE
            self._in_task, self._sliced = True, bool(slice_)  # a count bounds the run as a slice does
            alarm = self._arm_alarm(machine) if not slice_ or sliced else None
            try:
                stop = machine.run_task(slice_, timeout_us, until if task is until_task else None)
            finally:
                self._in_task = False
                if alarm is not None:
                    alarm.disarm()
            if alarm is not None and alarm.rang:
                kernel.scheduler.check_waits()  # a deadline came, or a host descriptor may be ready
            if stop is Stop.COUNT and sliced:
                kernel.scheduler.expire()
                if any(t is not task for t in kernel.scheduler.runnable()):
                    self._next_task()  # its time slice is used: the next one runs
                continue
            if stop is Stop.SWITCH and machine.task_change is None and task.state == "runnable" and (
                    machine.calls_left == 0 or (alarm is not None and alarm.rang)):
                machine.calls_left = None
                kernel.scheduler.expire()
                self._next_task()  # its calls are used, or a sleeper's time came: the next one runs
                continue
            if stop is Stop.EXITED:
                if self._exited(machine):
                    return Stop.EXITED
                continue
            if stop is Stop.SWITCH:
                self._changed(machine, task)
                continue
            return stop

    def _preempt(self) -> None:
        """Stop the running task after the call it is in (the kernel asks: see Kernel.preempt)."""
        from sandbox.engine import Stop

        if self._in_task:
            self.running.cpu.machine._request_stop(Stop.SWITCH)

    def _on_runnable(self, task: "Task") -> None:
        # A second task can run while the running one has no time slice: stop it, so that it
        # goes on with one and the two take turns.
        if self._in_task and not self._sliced and task is not self.running:
            self._preempt()

    @staticmethod
    def _threaded(proc: "Process") -> bool:
        """Whether ``proc`` has two threads or more alive (its machine then counts instructions)."""
        return sum(1 for t in proc.threads if t.state != "dead") > 1

    def _arm_alarm(self, machine: "Machine") -> "_Alarm | None":
        """While ``machine`` runs, stop it when a blocked task's deadline comes (real time), or
        after HOST_POLL_MS when a task waits for a host descriptor; None when no task waits so."""
        due = self.kernel.scheduler.next_check_ns(HOST_POLL_MS * 1_000_000)
        if due is None:
            return None
        if self._alarm is None:
            self._alarm = _Alarm()
        self._alarm.arm(machine, due)
        return self._alarm

    def _slice(self) -> int:
        if self._slice_rng is None:
            return SLICE
        return self._slice_rng.randint(SLICE // 10, SLICE * 2)

    def _next_task(self) -> None:
        """Give the CPU to the task the scheduler picks (waiting, when none can run)."""
        scheduler = self.kernel.scheduler
        while True:
            self._check_killed()
            if self.ended:
                return
            nxt = scheduler.pick(self.running)
            if nxt is not None:
                self.switch_to(nxt)
                return
            try:
                scheduler.idle()
            except ProcessExit as ex:  # a deadlock, or the run ended while it waited
                self._end_run(ex)
                return

    def _check_killed(self) -> None:
        first = self.first
        if first._killed is not None and not self.ended:
            killed = first._killed
            self._end_run(ProcessExit(killed.status, killed.signal, killed.reason))

    def switch_to(self, task: "Task") -> None:
        """Put ``task``'s registers in its machine's engine and make it the kernel's current."""
        current = self.running
        if task is current:
            self.kernel.switch_to(task)
            return
        if current.state != "dead" and current.cpu is not None:
            self._save(current)
        ctx: TaskContext = task.cpu
        machine = ctx.machine
        if ctx.registers is not None:
            machine.uc.context_restore(ctx.registers)
            ctx.registers = None
        if ctx.start_pc is not None:
            machine.pc = ctx.start_pc
            ctx.start_pc = None
        machine.pending, machine._pending_regs, machine._restarting = ctx.pending, ctx.pending_regs, ctx.restarting
        ctx.pending = ctx.pending_regs = ctx.restarting = None
        if ctx.tls is not None:
            machine.restore_tls(ctx.tls)
        self.kernel.switch_to(task)
        self.running = task
        machine.task_ids = (task.process.pid, task.tid)

    def _save(self, task: "Task") -> None:
        ctx: TaskContext = task.cpu
        machine = ctx.machine
        ctx.registers = machine.uc.context_save()
        ctx.pending, ctx.pending_regs, ctx.restarting = machine.pending, machine._pending_regs, machine._restarting
        machine.pending = machine._restarting = None
        ctx.tls = machine.save_tls()

    # -- what happened to the task -------------------------------------------------------------

    def _changed(self, machine: "Machine", task: "Task") -> None:
        """The current task cannot go on: it waits, yielded, ended, exec'd or was stopped."""
        change, machine.task_change = machine.task_change, None
        if isinstance(change, Exec):
            self._exec(machine, task)
            return
        if change is None and task.state == "runnable":
            return  # stopped to be given a time slice: it goes on
        if isinstance(change, ThreadExit):
            machine.pending = None
            self._tell_end(task.tid, ProcessExit(change.status))
        elif isinstance(change, ProcessStop):
            self._stop_process(task.process, change.sig)
        self._next_task()

    def _exited(self, machine: "Machine") -> bool:
        """The current process ended (exit, a fatal signal, a fault); True when the run did."""
        ex = machine.exit
        assert ex is not None
        proc = self.running.process
        if machine._killed is not None or self.first._killed is not None or self.ended:
            self._end_run(ex)
            return True
        if proc.pid == self.kernel.processes.first_pid:
            self._end_run(ex)
            return True
        # A process other than the first ended: the run goes on without it.
        machine.exit = None
        machine.fault = None  # a child's crash is its parent's to report (as a shell does)
        machine.pending = None
        self.kernel.end_process(proc, ex)
        self._tell_end(proc.pid, ex)
        self._release_unused()
        self._next_task()
        return self.ended

    def _tell_end(self, tid: int, ex: ProcessExit) -> None:
        # a tracer writes "[pid 1001] +++ exited with 3 +++"
        observer = self.first.observer
        ended = getattr(observer, "task_ended", None)
        if ended is not None:
            ended(tid, ex)
        if self.on_task_end is not None:
            self.on_task_end(tid, ex)

    def _end_run(self, ex: ProcessExit) -> None:
        """The run is over: the first process ended (or the run was killed); the others go."""
        if self.ended:
            return
        self.ended = True
        first = self.first
        if first.exit is None:
            first.exit = ex
        kernel = self.kernel
        self._log_unfinished()
        for proc in kernel.processes.live():
            kernel.end_process(proc, ex if proc.pid == kernel.processes.first_pid else ProcessExit(
                signal=9, reason="SIGKILL (Killed): its session ended with the first process"))
        for m in self.machines:
            if not m._closed:
                m.close()
        self.machines.clear()

    def _log_unfinished(self) -> None:
        # The calls tasks were waiting in when the run ended never return: logged as such
        # (a deadlock's pause, a read the run's end cut short), as strace shows "= ?".
        for task in list(self.kernel.processes.tasks.values()):
            ctx = task.cpu
            if ctx is None or ctx._machine() is None:
                continue
            machine = ctx.machine
            if task is self.running:
                req, machine.pending = machine.pending, None
            else:
                req, ctx.pending = ctx.pending, None
            if req is None or machine._closed:
                continue
            saved_ids, machine.task_ids = machine.task_ids, (task.process.pid, task.tid)
            saved_current = self.kernel.current
            self.kernel.switch_to(task)  # an observer asks whose call it is
            try:
                machine._log_outside(req, None, None)
            finally:
                self.kernel.switch_to(saved_current)
                machine.task_ids = saved_ids

    def _release_unused(self) -> None:
        """Keep a few of the machines no live process uses any more for the next forks (their
        translated code is likely the same program's), and close the rest."""
        used = self._machines_in_use()
        for m in list(self.machines):
            if id(m) not in used:
                self.machines.remove(m)
                if len(self._spare) < SPARE_MACHINES and m.reusable:
                    m.reset_for_reuse()
                    self._spare.append(m)
                else:
                    m.close()

    def close_machines(self) -> None:
        """Close every machine the run made (the first one closes itself)."""
        for m in [*self.machines, *self._spare]:
            m.close()
        self.machines.clear()
        self._spare.clear()

    def _machines_in_use(self, but: "Process | None" = None) -> set[int]:
        # the machines a live task runs in (those of ``but`` left out)
        return {id(t.cpu._machine()) for t in self.kernel.processes.tasks.values()
                if t.cpu is not None and t.state != "dead" and t.process is not but}

    def _stop_process(self, proc: "Process", sig: int) -> None:
        """A stop signal's default action: every thread stops; the parent may be told."""
        from kernel_model.lifecycle import CLD_STOPPED, SIGCHLD, post_signal

        proc.stopped = sig
        proc.reported = "stopped"
        for t in proc.threads:
            if t.state in ("runnable", "blocked"):
                t.unblock()
                t.state = "stopped"
        parent = proc.parent
        if parent is not None and parent.alive:
            parent.child_events.wake()
            action = parent.handlers.get(SIGCHLD)
            if not (action is not None and action.flags & 0x1):  # SA_NOCLDSTOP
                post_signal(self.kernel, parent, SIGCHLD, CLD_STOPPED, proc.pid, proc.identity.uid,
                            f"pid {proc.pid} stopping", sig)

    # -- signals -------------------------------------------------------------------------------

    def _deliver_signals(self, task: "Task", machine: "Machine") -> bool:
        """Before a task runs: a signal posted to it meanwhile is delivered, and a call it was
        waiting in when the signal came ends (EINTR, or a restart after the handler). False
        when the task cannot run now (its process ended or stopped)."""
        state = task.signals
        if not state.deliverable():
            return True
        pending = machine.pending
        if pending is not None:
            if task.wake_reason != "signal" or pending.name in SIGNAL_WAITS:
                # the call goes on first (the signal comes on its way back), or it is a call
                # that waits for the signal and takes it itself (sigsuspend)
                return True
            write_remaining(self.kernel, pending, task.call_state.get("deadline"))
            task.finish_call()
        try:
            state.deliver_pending("a signal", None)
        except SignalDelivery as delivery:
            if pending is not None:
                restart = bool(delivery.action.flags & SA_RESTART) and pending.name not in _NEVER_RESTARTED
                machine.interrupt_pending(restart)
            machine.deliver_outside_trap(delivery)
            if machine.exit is not None:
                return self._exited_false(machine)
            return True
        except ProcessExit as ex:
            machine.exit = ex
            machine.pending = None
            self._exited(machine)
            return False
        except ProcessStop as stop:
            self._stop_process(task.process, stop.sig)
            self._next_task()
            return False
        if pending is not None:
            machine.interrupt_pending(False)  # an ignored signal: the call just ends with EINTR
        return True

    def _exited_false(self, machine: "Machine") -> bool:
        self._exited(machine)
        return False

    # -- making tasks and programs (what MachineCpu asks for) -----------------------------------

    def clone_task(self, machine: "Machine", share_memory: bool, stack: int,
                   tls: "int | tuple[int, bytes] | None") -> tuple[TaskContext, GuestMemory]:
        """The context of a new task: the current one's registers as its call returns 0, in
        ``machine`` (a thread, a vfork child) or in a copy of it (a fork)."""
        registers, pc = machine.child_registers(stack, tls)
        if share_memory:
            ctx = TaskContext(machine, registers, pc)
        else:
            child = self.new_machine(machine)
            child.copy_memory_from(machine)
            ctx = TaskContext(child, registers, pc)
        ctx.tls = machine.child_tls(tls)
        return ctx, ctx.machine.memory

    def new_machine(self, like: "Machine") -> "Machine":
        """A new, empty address space for this run's kernel (a fork's, an exec'd vfork child's)."""
        from sandbox.engine import Machine

        if self._spare:
            m = self._spare.pop()
        else:
            m = Machine(like.arch, backend=like.backend, kernel=self.kernel)
        m.system = self
        m.observer = like.observer
        m.log = like.log
        m.captured = like.captured
        # an instruction budget is a limit each process inherits, as RLIMIT_CPU is
        m.insn_budget = like.insn_budget
        m._insn_budget_given = like._insn_budget_given
        self.machines.append(m)
        if self.on_new_machine is not None:
            self.on_new_machine(m)
        return m

    def check_program(self, machine: "Machine", image: bytes) -> None:
        """ENOEXEC for an ELF file the arch cannot run (another machine, a broken header)."""
        from sandbox.elf import inspect_elf
        from sandbox.errors import SandboxError

        try:
            info = inspect_elf(image, "program")
        except SandboxError:
            raise KernelError(Errno.ENOEXEC) from None
        if info.arch is not None and info.arch.name != machine.arch.name:
            raise KernelError(Errno.ENOEXEC)

    def start_program(self, machine: "Machine", image: bytes, path: str, argv: list[bytes], envp: list[bytes],
                      name: str) -> None:
        """Remember the program execve starts: it is loaded once the call's engine has stopped."""
        machine.exec_request = (image, path, argv, envp, name)

    def _exec(self, machine: "Machine", task: "Task") -> None:
        """Load the program an execve asked for, in the process's own machine (emptied) or, when
        that is still shared with its vfork parent, in a new one."""
        from sandbox.elf import load_program
        from sandbox.startup import build_stack

        image, path, argv, envp, name = machine.exec_request
        machine.exec_request = None
        proc = task.process
        shared = id(machine) in self._machines_in_use(but=proc)
        target = self.new_machine(machine) if shared else machine
        target.empty_for_exec()  # (a spare machine has the mappings of the process it ran)
        task.cpu = TaskContext(target)
        proc.memory = target.memory
        proc.mm = proc.mm.fresh(target.memory)
        self.kernel.switch_to(task)
        self.running = task
        target.task_ids = (proc.pid, task.tid)  # an exec'ing thread took the process's pid
        st = StatInfo(mode=0o100755, size=len(image))
        proc.executable = Executable(path=path, open=lambda: BytesHandle(image, st), stat=lambda: st, name=name)
        try:
            loaded = load_program(target, image, path, guest_path=path, file=BytesHandle(image, st))
            build_stack(target, loaded, argv, envp, path.encode("utf-8", "surrogateescape"))
        except (KernelError, Exception) as e:  # noqa: BLE001 - past the point of no return
            what = e.errno.name if isinstance(e, KernelError) else str(e)
            target.exit = ProcessExit(signal=11, reason=f"execve of {path} failed after the old program was gone ({what})")
            self._exited(target)
            return
        target.pc = loaded.entry
        target.program_path = path
        self._release_unused()


class _Alarm:
    """A timer thread that stops a running machine at a time (``Stop.SWITCH``), so that the
    run loop wakes the task whose deadline it is. One per run, started on first use."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._machine: "weakref.ref[Machine] | None" = None
        self._at = 0.0
        self.rang = False
        self._thread = threading.Thread(target=self._wait, name="sandbox-alarm", daemon=True)
        self._thread.start()

    def arm(self, machine: "Machine", due_ns: int) -> None:
        """Stop ``machine`` in ``due_ns`` nanoseconds."""
        delay = max(due_ns, 0) / 1e9
        with self._cond:
            self._machine = weakref.ref(machine)
            self._at = time.monotonic() + delay
            self.rang = False
            self._cond.notify()

    def disarm(self) -> None:
        """The machine stopped by itself: nothing to do."""
        with self._cond:
            self._machine = None

    def _wait(self) -> None:
        from sandbox.engine import Stop

        with self._cond:
            while True:
                if self._machine is None:
                    self._cond.wait()
                    continue
                left = self._at - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                machine = self._machine()
                self._machine = None
                if machine is None:
                    continue
                self.rang = True
                with machine._lock:
                    if not machine._closed:
                        machine._request_stop(Stop.SWITCH)
