"""The tracer through the Python API: records with memory, live output, the three formats."""

from __future__ import annotations

import io
import json

import pytest
from oracle import PROGRAMS, make_scratch

from kernel_model.prototypes import prototype
from sandbox import Sandbox
from sandbox.stubs import syscall_stub
from sandbox.trace import JsonFormat, RegsFormat, StraceFormat, Tracer, strace_lines, trace_lines
from sandbox.trace.jsonl import SCHEMA

HELLO = {
    "x86_64": 'mov eax, 1; mov edi, 1; lea rsi, [rip+msg]; mov edx, 12; syscall; mov eax, 60; xor edi, edi; syscall;'
              ' msg: .ascii "Hello world\\n"',
    "aarch64": 'mov x8, #64; mov x0, #1; adr x1, msg; mov x2, #12; svc #0; mov x8, #93; mov x0, #0; svc #0;'
               ' msg: .ascii "Hello world\\n"',
}
WRITE_HELLO = 'write(1, "Hello world\\n", 12)'.ljust(39)  # strace aligns "= " at column 40


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_a_traced_run_reads_the_memory_behind_each_call(arch):
    r = Sandbox(arch, trace=True).run_asm(HELLO[arch])
    assert strace_lines(r) == [WRITE_HELLO + " = 12", "exit(0)".ljust(39) + " = ?", "+++ exited with 0 +++"]
    assert r.syscalls[0].captured["buf"].data == b"Hello world\n"


def test_without_tracing_pointers_show_as_addresses_and_nothing_observes():
    sb = Sandbox("aarch64")
    r = sb.run_asm(HELLO["aarch64"])
    assert sb.machine.observer is None and sb.tracer is None
    assert trace_lines(r.syscalls)[0] == "write(1, 0x400020, 12)                  = 12"


def test_unimplemented_calls_are_traced_with_decoded_arguments_and_marked():
    r = Sandbox("aarch64", trace=True).run_asm(syscall_stub(Sandbox("aarch64").arch, "inotify_init1", (0x80000,)).text)
    call = r.syscalls[0]
    assert call.decoded == {"flags": 0x80000} and not call.implemented
    assert strace_lines(r)[0] == \
        "inotify_init1(IN_CLOEXEC)               = -1 ENOSYS (Function not implemented) (unimplemented)"


def run_program(name, arch, tmp_path, **tracer_kw):
    cwd = make_scratch(tmp_path / "run")
    sb = Sandbox(arch, cwd=str(cwd), mounts=[f"{cwd}:{cwd}:rw"])
    machine = sb.load_file(str(PROGRAMS / f"{name}.{arch}"))
    tracer = Tracer(machine, **tracer_kw).attach()
    result = sb.run()
    return sb, tracer, result


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_live_output_is_the_same_lines_as_the_records(arch, tmp_path):
    sink = io.StringIO()
    _, tracer, _ = run_program("files", arch, tmp_path, sink=sink, format=StraceFormat(arch))
    assert sink.getvalue().splitlines() == [StraceFormat(arch).line(r) for r in tracer.records]
    assert len(tracer.records) > 50


def test_several_processes_are_told_apart_as_strace_f_does(tmp_path):
    sink = io.StringIO()
    _, tracer, _ = run_program("tasks", "x86_64", tmp_path, sink=sink, format=StraceFormat("x86_64"))
    lines = sink.getvalue().splitlines()
    # a prefix once there are two tasks, counted in the column "= " is aligned at, as strace counts it
    assert "[pid  1001] exit_group(3)               = ?" in lines
    assert "[pid  1000] wait4(-1,  <unfinished ...>" in lines
    assert "<... wait4 resumed>[{WIFEXITED(s) && WEXITSTATUS(s) == 3}], 0, NULL) = 1001" in lines
    assert "[pid  1002] getppid()                   = 1000" in lines
    assert "[pid  1003] +++ exited with 7 +++" in lines
    # the records say whose call each is
    assert {(r.name, r.pid) for r in tracer.records if r.name in ("exit", "kill")} == {("exit", 1003), ("kill", 1002)}


def test_live_output_writes_the_inputs_at_entry(tmp_path):
    sink = io.StringIO()
    fmt = StraceFormat("x86_64")
    sb = Sandbox("x86_64")
    machine = sb.load_asm(HELLO["x86_64"])
    tracer = Tracer(machine, sink=sink, format=fmt).attach()
    seen = []
    machine.stop_at_syscall_exit = lambda req: seen.append(sink.getvalue()) or False
    sb.run()
    assert seen[0] == WRITE_HELLO + " = 12\n"
    tracer.detach()
    assert machine.observer is None


def test_the_register_view_names_each_register():
    sb = Sandbox("aarch64")
    machine = sb.load_asm(HELLO["aarch64"])
    sink = io.StringIO()
    Tracer(machine, capture_memory=False, sink=sink, format=RegsFormat(sb.arch, None, machine.reg)).attach()
    sb.run()
    assert sink.getvalue().splitlines() == [
        "svc #0 @0x400010  x8=64 (write)  x0=1 (fd)  x1=0x400020 (buf)  x2=12 (count)  ->  x0=12",
        "svc #0 @0x40001c  x8=93 (exit)  x0=0 (status)  ->  (does not return)",
    ]


def test_the_register_view_shows_what_syscall_clobbers_on_x86_64():
    sb = Sandbox("x86_64")
    machine = sb.load_asm(HELLO["x86_64"].replace("mov edi, 1;", "mov edi, 9;"))
    sink = io.StringIO()
    Tracer(machine, capture_memory=False, sink=sink, format=RegsFormat(sb.arch, None, machine.reg)).attach()
    sb.run()
    first = sink.getvalue().splitlines()[0]
    rec = sb.result().syscalls[0]
    assert machine.disassemble_one(rec.pc) == "syscall"
    assert first.startswith(f"syscall @{rec.pc:#x}  rax=1 (write)  rdi=9 (fd)  rsi={rec.args[1]:#x} (buf)  "
                            f"rdx=12 (count)  ->  rax=-9 (-EBADF: Bad file descriptor)  [rcx={rec.pc + 2:#x} r11=0x")
    assert first.endswith(" clobbered]")
    # Without a live machine only the names can be given.
    assert RegsFormat(sb.arch).line(rec).endswith("[rcx, r11 clobbered]")


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_json_lines_follow_the_documented_schema(arch, tmp_path):
    sink = io.StringIO()
    _, tracer, _ = run_program("files", arch, tmp_path, sink=sink, format=JsonFormat(arch))
    objects = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert len(objects) == len(tracer.records) > 50
    for obj in objects:
        assert set(obj) == set(SCHEMA)
        for key, types in SCHEMA.items():
            assert isinstance(obj[key], types), (key, obj)
        assert obj["arch"] == arch and len(obj["args"]) == 6
        names = [p.name for p in prototype(obj["name"], arch).params]
        assert list(obj["decoded"]) == names
        assert set(obj["text"]) <= set(names) and set(obj["memory"]) <= set(names)
        assert (obj["ret"] is None) == (obj["name"] in ("exit", "exit_group"))
        assert obj["errno"] is None or obj["ret"] < 0
    first = objects[0]
    assert first["name"] == "openat" and first["memory"] == {"pathname": "data.txt"}
    assert first["text"] == {"dirfd": "AT_FDCWD", "pathname": '"data.txt"', "flags": "O_RDONLY"}
    assert first["decoded"]["dirfd"] == -100 and first["args"][0] == 2**64 - 100
    assert objects[1]["memory"]["buf"] == "Hello world\n" and objects[1]["ret"] == 12
    stat = next(o for o in objects if o["name"] == "fstat")
    assert stat["memory"]["statbuf"]["st_size"] == 12
    failed = next(o for o in objects if o["errno"] == "EBADF")
    assert failed["ret"] == -9


def test_a_fault_ends_the_trace_with_the_signal():
    r = Sandbox("aarch64", trace=True).run_file(str(PROGRAMS / "crash.aarch64"))
    assert strace_lines(r)[-2:] == [
        "--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=0x10} ---",
        "+++ killed by SIGSEGV +++",
    ]
