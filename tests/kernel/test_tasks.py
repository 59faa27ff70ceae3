"""Processes, threads and the scheduler in the kernel model, with a fake CPU and fake memory.

The harness plays the CPU side: it makes each call as the task it is told to, parks a task
whose call waits, and ends a process when a call raises its end.
"""

from __future__ import annotations

import struct

import pytest
from fakes import KernelHarness

from kernel_model.clock import Clock
from kernel_model.lifecycle import ThreadExit
from kernel_model.linux_errno import Errno
from kernel_model.sched import Blocked, Deadlock, Scheduler, Wait, WaitQueue
from kernel_model.seam import ProcessExit, SyscallRequest
from kernel_model.tasks import Task

SIGCHLD, SIGUSR1, SIGKILL, SIGTERM = 17, 10, 9, 15
CLONE_THREAD_FLAGS = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x80000 | 0x100000 | 0x200000 | 0x40000
WNOHANG = 1
FUTEX_WAIT, FUTEX_WAKE = 0, 1


def start(kh: KernelHarness, name: str, *args: int) -> int | Blocked:
    """Make a call as the current task; a call that waits leaves it parked and returns the wait."""
    raw = tuple(a & 0xFFFFFFFFFFFFFFFF for a in args) + (0,) * (6 - len(args))
    req = SyscallRequest(kh.kernel.arch.name, 0, name, raw, kh.memory, cpu=kh.cpu)
    try:
        value = kh.kernel.dispatch(req)
    except Blocked as b:
        kh.kernel.current.block(b.wait)
        return b
    kh.kernel.current.finish_call()
    return value


def test_fork_makes_a_child_with_its_own_copies():
    kh = KernelHarness()
    fd = kh.call("openat", -100, kh.put("/dev/null"), 1, 0)
    child = kh.call("fork")
    assert child == 1001 and kh.call("getpid") == 1000
    kh.as_task(child)
    assert kh.call("getpid") == 1001 and kh.call("getppid") == 1000 and kh.call("gettid") == 1001
    assert kh.call("close", fd) == 0  # its own descriptor table...
    kh.as_task(1000)
    assert kh.call("write", fd, kh.put(b"x"), 1) == 1  # ...so the parent's stays open
    parent, forked = kh.kernel.processes.processes[1000], kh.kernel.processes.processes[1001]
    assert forked.memory is not parent.memory and forked.mm is not parent.mm and forked.fds is not parent.fds


def test_a_child_that_ends_is_a_zombie_until_its_parent_reaps_it():
    kh = KernelHarness()
    from kernel_model.signals import SigAction

    kh.kernel.process.handlers[SIGCHLD] = SigAction(handler=0x400000)  # a SIGCHLD handler
    child = kh.call("fork")
    assert kh.call("wait4", -1, 0, WNOHANG, 0) == 0  # alive: nothing to report yet
    kh.as_task(child)
    kh.end(ProcessExit(3))
    kh.as_task(1000)
    assert kh.kernel.signals.pending & (1 << (SIGCHLD - 1))  # its parent got SIGCHLD
    assert kh.kernel.signals.pending_senders[SIGCHLD][0] == child
    status = kh.buffer(4)
    assert kh.call("wait4", -1, status, 0, 0) == child
    assert struct.unpack("<i", kh.read(status, 4))[0] == 3 << 8
    assert kh.errno("wait4", -1, 0, 0, 0) is Errno.ECHILD  # reaped: no child left


def test_a_parent_waits_for_its_child_then_takes_its_status():
    kh = KernelHarness()
    child = kh.call("fork")
    wait = start(kh, "wait4", child, kh.buffer(4), 0, 0)
    assert isinstance(wait, Blocked) and kh.kernel.current.state == "blocked"
    kh.as_task(child)
    kh.end(ProcessExit(signal=SIGTERM))
    parent = kh.task(1000)
    assert parent.state == "runnable" and parent.wake_reason == "event"
    kh.as_task(1000)
    status = kh.buffer(4)
    assert kh.call("wait4", child, status, 0, 0) == child
    assert struct.unpack("<i", kh.read(status, 4))[0] == SIGTERM  # killed: the signal in the low bits


def test_waitid_fills_a_siginfo():
    kh = KernelHarness()
    child = kh.call("fork")
    kh.as_task(child)
    kh.end(ProcessExit(7))
    kh.as_task(1000)
    info = kh.buffer(128)
    assert kh.call("waitid", 1, child, info, 4, 0) == 0  # P_PID, WEXITED
    signo, _, code, _, pid, _, status = struct.unpack_from("<iiiiiIi", kh.read(info, 128))
    assert (signo, code, pid, status) == (SIGCHLD, 1, child, 7)  # CLD_EXITED


def test_orphans_go_to_the_first_process():
    kh = KernelHarness()
    child = kh.call("fork")
    kh.as_task(child)
    grandchild = kh.call("fork")
    kh.end(ProcessExit(0))
    procs = kh.kernel.processes.processes
    assert procs[grandchild].parent is procs[1000] and procs[grandchild] in procs[1000].children
    kh.as_task(grandchild)
    assert kh.call("getppid") == 1000


def test_a_thread_shares_the_process_and_its_clear_child_tid_wakes_a_joiner():
    kh = KernelHarness()
    ptid, ctid = kh.buffer(4), kh.buffer(4)
    tid = kh.call("clone", CLONE_THREAD_FLAGS, 0x7000, ptid, ctid, 0x1234)  # x86_64: ..., child_tid, tls
    assert tid == 1001 and kh.call("getpid") == 1000
    assert struct.unpack("<i", kh.read(ptid, 4))[0] == tid
    thread = kh.task(tid)
    assert thread.process is kh.kernel.process and thread.cpu == {"stack": 0x7000, "tls": 0x1234, "shared": True}
    kh.memory.write(ctid, struct.pack("<i", tid))
    joined = start(kh, "futex", ctid, FUTEX_WAIT, tid, 0, 0, 0)  # what pthread_join does
    assert isinstance(joined, Blocked)
    kh.as_task(tid)
    assert kh.call("gettid") == tid and kh.call("getpid") == 1000
    with pytest.raises(ThreadExit):
        kh.kernel.dispatch(SyscallRequest("x86_64", 60, "exit", (0,) * 6, kh.memory, cpu=kh.cpu))
    assert kh.read(ctid, 4) == bytes(4) and kh.task(1000).state == "runnable"
    kh.as_task(1000)
    assert start(kh, "futex", ctid, FUTEX_WAIT, tid, 0, 0, 0) == 0  # the wait ends with 0


def test_futex_wake_wakes_as_many_as_asked_oldest_first():
    kh = KernelHarness()
    word = kh.put(struct.pack("<i", 1))
    tids = [kh.call("clone", CLONE_THREAD_FLAGS & ~0x300000, 0, 0, 0, 0) for _ in range(3)]
    for tid in tids:
        kh.as_task(tid)
        assert isinstance(start(kh, "futex", word, FUTEX_WAIT, 1, 0, 0, 0), Blocked)
    kh.as_task(1000)
    assert kh.call("futex", word, FUTEX_WAKE, 2, 0, 0, 0) == 2
    assert [kh.task(t).state for t in tids] == ["runnable", "runnable", "blocked"]


def test_a_signal_to_a_waiting_process_ends_its_wait():
    kh = KernelHarness()
    child = kh.call("fork")
    kh.as_task(child)
    pipe = kh.buffer(8)
    assert kh.call("pipe2", pipe, 0) == 0
    r, w = struct.unpack("<ii", kh.read(pipe, 8))
    assert isinstance(start(kh, "read", r, kh.buffer(4), 4), Blocked)
    kh.as_task(1000)
    assert kh.call("kill", child, SIGUSR1) == 0
    task = kh.task(child)
    assert task.state == "runnable" and task.wake_reason == "signal"
    assert task.signals.pending & (1 << (SIGUSR1 - 1))


def test_sigkill_ends_a_process_at_once():
    kh = KernelHarness()
    child = kh.call("fork")
    assert kh.call("kill", child, SIGKILL) == 0
    proc = kh.kernel.processes.processes[child]
    assert proc.exit is not None and proc.exit.signal == SIGKILL and proc.threads[0].state == "dead"
    assert kh.call("wait4", child, 0, 0, 0) == child


def test_kill_reaches_a_process_group_and_refuses_what_does_not_exist():
    kh = KernelHarness()
    a = kh.call("fork")
    kh.as_task(a)
    assert kh.call("setpgid", 0, 0) == 0 and kh.call("getpgrp") == a
    b = kh.call("fork")  # in a's group
    kh.as_task(1000)
    assert kh.call("kill", -a, SIGTERM) == 0
    for pid in (a, b):
        assert kh.kernel.processes.processes[pid].threads[0].signals.pending & (1 << (SIGTERM - 1))
    assert kh.errno("kill", 4242, SIGTERM) is Errno.ESRCH
    assert kh.errno("kill", -4242, SIGTERM) is Errno.ESRCH


def test_sessions_and_groups():
    kh = KernelHarness()
    assert kh.errno("setsid") is Errno.EPERM  # the first process leads its group
    child = kh.call("fork")
    kh.as_task(child)
    assert kh.call("setsid") == child and kh.call("getsid", 0) == child and kh.call("getpgid", 0) == child
    assert kh.errno("setpgid", 0, 1000) is Errno.EPERM  # a session leader cannot move


def test_vfork_parks_the_parent_until_the_child_execs_or_exits():
    kh = KernelHarness()
    waited = start(kh, "vfork")
    assert isinstance(waited, Blocked)
    child = max(kh.kernel.processes.processes)
    kh.as_task(child)
    kh.end(ProcessExit(0))
    parent = kh.task(1000)
    assert parent.state == "runnable"
    kh.as_task(1000)
    assert start(kh, "vfork") == child  # the restarted call returns the child's pid


def test_execve_runs_a_script_through_its_interpreter(hostdir):
    (hostdir / "run.sh").write_bytes(b"#!/bin/busybox sh -e\necho hi\n")
    (hostdir / "run.sh").chmod(0o755)
    (hostdir / "not-exec").write_bytes(b"\x7fELF\x02")
    (hostdir / "garbage").write_bytes(b"plain text\n")
    (hostdir / "garbage").chmod(0o755)
    kh = KernelHarness(cwd=str(hostdir))
    argv = kh.put(struct.pack("<QQ", kh.put("run.sh"), 0))
    # the interpreter does not exist in the guest's view: ENOENT, and nothing changed
    assert kh.errno("execve", kh.put("run.sh"), argv, 0) is Errno.ENOENT
    assert kh.errno("execve", kh.put("not-exec"), argv, 0) is Errno.EACCES
    assert kh.errno("execve", kh.put("garbage"), argv, 0) is Errno.ENOEXEC
    assert kh.errno("execve", kh.put("missing"), argv, 0) is Errno.ENOENT
    huge = kh.call("mmap", 0, 200 << 10, 3, 0x22, -1, 0)
    kh.memory.write(huge, b"x" * (140 << 10) + b"\0")
    assert kh.errno("execve", kh.put("garbage"), kh.put(struct.pack("<QQ", huge, 0)), 0) is Errno.E2BIG


def test_the_schedule_is_round_robin_and_a_seed_changes_it():
    def tasks(seed):
        s = Scheduler(now=lambda: 0, poll=lambda h, t: {}, sleep=lambda x: None, seed=seed)
        ts = [Task(i, None, None, None) for i in range(5)]  # type: ignore[arg-type]
        for t in ts:
            s.add(t)
        order, current = [], None
        for _ in range(10):
            current = s.pick(current)
            order.append(current.tid)
        return order

    assert tasks(None) == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]
    assert tasks(7) == tasks(7) and tasks(7) != tasks(8)


def test_a_deadlock_names_every_task_and_its_wait():
    s = Scheduler(now=lambda: 0, poll=lambda h, t: {}, sleep=lambda x: None)
    proc = type("P", (), {"pid": 1000})()
    a, b = Task(1000, proc, None, None), Task(1001, proc, None, None)  # type: ignore[arg-type]
    for t, what in ((a, "a read of pipe:[1]"), (b, "the futex at 0x10")):
        s.add(t)
        t.block(Wait((WaitQueue(),), what=what))
    with pytest.raises(Deadlock) as ex:
        s.idle()
    assert ex.value.wait_status == 137
    assert "pid 1000 waits on a read of pipe:[1]" in ex.value.reason and "thread 1001 waits on the futex" in ex.value.reason


def test_a_sleep_lets_the_virtual_clock_run_to_its_deadline():
    kh = KernelHarness(clock=Clock(virtual=True))
    before = kh.kernel.monotonic()
    assert kh.call("nanosleep", kh.put(struct.pack("<qq", 2, 0)), 0) == 0
    assert kh.kernel.monotonic() - before >= 2 * 10**9


def test_the_memory_limit_holds_for_the_whole_process_tree():
    kh = KernelHarness(max_memory=0x80000)  # 512 KiB, of which the scratch area maps 64
    assert kh.call("mmap", 0, 0x30000, 3, 0x22, -1, 0) > 0  # the parent now maps 256 KiB
    child = kh.call("fork")  # the copy fits: 512 KiB in all
    kh.as_task(child)
    assert kh.errno("mmap", 0, 0x1000, 3, 0x22, -1, 0) is Errno.ENOMEM  # one page more does not
    kh.as_task(1000)
    assert kh.errno("fork") is Errno.ENOMEM  # nor does a second copy
    assert kh.kernel.mm.pool.refusals == 2
    kh.as_task(child)
    kh.end(ProcessExit(0))  # a zombie holds no memory
    kh.as_task(1000)
    assert kh.call("fork") > child  # its memory is free again


def test_nice_values_are_per_process_and_inherited():
    from kernel_model.process import Identity

    kh = KernelHarness(identity=Identity(uid=1000, gid=1000))
    assert kh.call("getpriority", 0, 0) == 20  # 20 - nice
    assert kh.call("setpriority", 0, 0, 5) == 0
    child = kh.call("fork")
    assert kh.call("getpriority", 0, child) == 15  # inherited
    assert kh.call("setpriority", 0, child, 10) == 0
    assert kh.call("getpriority", 0, 0) == 15 and kh.call("getpriority", 0, child) == 10
    assert kh.call("getpriority", 1, 0) == 15  # the group's best
    assert kh.errno("setpriority", 0, 0, 0) is Errno.EACCES  # lowering it takes privilege
    assert kh.errno("getpriority", 0, 4242) is Errno.ESRCH
    assert kh.errno("getpriority", 7, 0) is Errno.EINVAL
    assert kh.call("setpriority", 0, 0, 99) == 0 and kh.call("getpriority", 0, 0) == 1  # at most 19


def test_the_old_nice_call_adds_to_the_nice_value():
    from kernel_model.process import Identity
    from kernel_model.seam import KernelArch

    kh = KernelHarness(KernelArch("i386", 32, "i386"), identity=Identity(uid=1000, gid=1000))
    assert kh.call("nice", 5) == 0 and kh.call("getpriority", 0, 0) == 15
    assert kh.errno("nice", -1) is Errno.EPERM  # nice(2) says EPERM where setpriority says EACCES


def test_sched_yield_gives_the_cpu_away_only_when_another_task_can_run():
    from kernel_model.sched import Yield

    kh = KernelHarness()
    assert kh.call("sched_yield") == 0  # alone: it goes on
    kh.call("clone", CLONE_THREAD_FLAGS, 0, 0, 0, 0)
    req = SyscallRequest("x86_64", 24, "sched_yield", (0,) * 6, kh.memory, cpu=kh.cpu)
    with pytest.raises(Yield) as y:
        kh.kernel.dispatch(req)
    assert y.value.result == 0
