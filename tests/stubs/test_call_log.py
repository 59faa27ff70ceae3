"""The call log: records kept only when asked, and only the last ones, so memory stays flat."""

from __future__ import annotations

import pytest

from sandbox import Sandbox
from sandbox.debug import Debugger
from sandbox.records import CallLog

# N getpid calls, then exit(0); LOOP_WRITE writes one byte N times, a different byte each time.
LOOP = {
    "x86_64": "mov rbx, {n}\nl: mov eax, 39\nsyscall\ndec rbx\njnz l\nmov eax, 60\nxor edi, edi\nsyscall",
    "aarch64": "mov x19, #{n}\nl: mov x8, #172\nsvc #0\nsubs x19, x19, #1\nb.ne l\nmov x8, #93\nmov x0, #0\nsvc #0",
}
LOOP_WRITE = (
    "mov rbx, {n}\nl: inc byte ptr [rip+buf]\nmov eax, 1\nmov edi, 1\nlea rsi, [rip+buf]\nmov edx, 1\nsyscall\n"
    "dec rbx\njnz l\nmov eax, 60\nxor edi, edi\nsyscall\nbuf: .byte 0"
)


def test_a_log_keeps_the_last_calls_and_counts_the_others():
    log = CallLog(4)
    for i in range(10):
        log.append((i,))
        if len(log) > log.high:
            log.trim()
    log.trim()
    assert list(log) == [(6,), (7,), (8,), (9,)]
    assert (log.base, log.total) == (6, 10)
    assert log.since(8) == [(8,), (9,)] and log.since(0) == list(log)


def test_trimming_drops_the_memory_of_dropped_calls_only():
    log = CallLog(2)
    for i in range(3):
        log.append((i,))
        log.captured[i] = {"n": i}
    log.trim()
    assert log.captured == {1: {"n": 1}, 2: {"n": 2}}


def test_a_log_without_a_limit_keeps_everything():
    log = CallLog(None)
    log.extend((i,) for i in range(1000))
    log.trim()
    assert (len(log), log.base) == (1000, 0)
    with pytest.raises(ValueError):
        CallLog(0)


@pytest.mark.parametrize("arch", list(LOOP))
def test_a_run_keeps_only_its_last_max_records_calls(arch):
    r = Sandbox(arch, max_records=100).run_asm(LOOP[arch].format(n=3000))
    assert r.exit_status == 0
    assert len(r.syscalls) == 100 and r.dropped_calls == 2901
    assert r.names() == ["getpid"] * 99 + ["exit"]
    assert all(c.ret == r.syscalls[0].ret for c in r.syscalls[:-1])


@pytest.mark.parametrize("arch", list(LOOP))
def test_no_records_when_none_are_asked_for(arch):
    sb = Sandbox(arch, max_records=0)
    r = sb.run_asm(LOOP[arch].format(n=50))
    assert r.exit_status == 0 and r.syscalls == [] and r.names() == []
    assert sb.machine.log is None
    # one call made on purpose still answers with its record
    assert sb.syscall("getpid").ret == sb.identity.pid


def test_every_call_is_kept_when_asked():
    r = Sandbox("x86_64", max_records=None).run_asm(LOOP["x86_64"].format(n=120_000))
    assert len(r.syscalls) == 120_001 and r.dropped_calls == 0


def test_a_traced_run_keeps_each_kept_calls_own_memory():
    r = Sandbox("x86_64", trace=True, max_records=10).run_asm(LOOP_WRITE.format(n=300))
    assert r.stdout == bytes(i % 256 for i in range(1, 301))
    writes = r.calls("write")
    assert len(writes) == 9 and r.dropped_calls == 291
    assert [w.captured["buf"].data for w in writes] == [bytes([i % 256]) for i in range(292, 301)]


def test_a_debugger_keeps_every_call_from_when_it_starts():
    sb = Sandbox("x86_64", max_records=0)
    machine = sb.load_asm(LOOP["x86_64"].format(n=5))
    dbg = Debugger(machine)
    assert machine.log is not None and machine.log.limit is None
    dbg.cont()
    assert [entry[2] for entry in machine.log] == ["getpid"] * 5 + ["exit"]


def test_the_quick_record_constructor_makes_the_same_record():
    from sandbox.records import SyscallRecord

    fields = dict(arch="arm", nr=4, name="write", args=(1, 2, 3, 0, 0, 0), decoded={"fd": 1, "buf": 2, "count": 3},
                  ret=-9, errno="EBADF", pc=0x10074, note="a note", time=1.5, implemented=False, captured={"buf": 1},
                  pid=1001, tid=1002)
    quick = SyscallRecord._of(*fields.values())
    assert list(fields) == [f for f in SyscallRecord.__dataclass_fields__]
    assert quick == SyscallRecord(**fields) and vars(quick) == vars(SyscallRecord(**fields))
