"""Text views of a debugged process, shared by ``sandbox debug`` and the gdb stub's ``monitor``.

Each returns lines: the open descriptors, the memory map, the system calls made so far, the
registers, and a stop described in one line followed by the next instructions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_model.abi import O_ACCMODE, O_RDONLY, O_RDWR, O_WRONLY
from kernel_model.prototypes import prototype
from kernel_model.signals import signal_name
from sandbox.debug.card import syscall_card
from sandbox.debug.points import StopEvent
from sandbox.debug.session import Debugger
from sandbox.records import SyscallRecord, build_records
from sandbox.trace.render import Renderer

if TYPE_CHECKING:
    from kernel_model.tasks import Process, Task

_ACCESS = {O_RDONLY: "r", O_WRONLY: "w", O_RDWR: "rw"}


def fd_lines(dbg: Debugger) -> list[str]:
    """The descriptor table: fd, access, offset, flags, what it is."""
    if dbg.machine.exit is not None:
        # Linux closes every descriptor when a process ends; the model's table is only left over
        return ["no open descriptors: the process has ended, and its descriptors were closed with it"]
    kernel = dbg.machine.kernel
    lines = [f"{'fd':>3}  {'mode':<4} {'offset':>8}  {'flags':<8} file"]
    for fd, slot in kernel.fds.items():
        of = slot.file
        mode = _ACCESS.get(of.flags & O_ACCMODE, "?")
        offset = str(of.pos) if of.handle.seekable else "-"
        flags = f"{of.flags:#o}" + (" cloexec" if slot.cloexec else "")
        lines.append(f"{fd:>3}  {mode:<4} {offset:>8}  {flags:<8} {of.path}")
    return lines


def map_lines(dbg: Debugger) -> list[str]:
    """The memory map as ``/proc/self/maps`` shows it, then the program break."""
    mm = dbg.machine.kernel.mm
    lines = [v.maps_line() for v in mm.vmas]
    if mm.brk_start:
        lines.append(f"brk: {mm.brk_start:#x}-{mm.brk_end:#x}")
    return lines


def call_text(dbg: Debugger, record: SyscallRecord) -> str:
    """``write(fd=1, buf=0x400021, count=12) = 12``: each argument named, and shown as the trace
    shows it (numbers in decimal, addresses in hex, flags and modes by name), with its result."""
    renderer = Renderer(dbg.arch.name, dbg.arch.bits)
    proto = prototype(record.name, dbg.arch.name)
    values = renderer.values(record, proto)
    args = ", ".join(f"{p.name}={renderer.arg(p, eff, values[p.name], record)}" for p, eff in renderer.shown(record))
    return f"{record.name}({args}) = {renderer.result(record)}"


def syscall_lines(dbg: Debugger, last: int | None = None) -> list[str]:
    """The system calls made so far (the last ``last`` of them), one per line; ``[pid 1001]``
    before each once there was more than one task."""
    records = build_records(dbg.arch, dbg.machine.log)
    start = 0 if last is None else max(len(records) - last, 0)
    several = len({(r.pid, r.tid) for r in records}) > 1 or dbg.multitask
    lines = []
    for i in range(start, len(records)):
        r = records[i]
        who = ""
        if several:
            who = f"[pid {r.pid}] " if r.tid == r.pid else f"[pid {r.pid} thread {r.tid}] "
        lines.append(f"{i:>4}  {r.pc:#x}  {who}{call_text(dbg, r)}")
    return lines


def task_state(dbg: Debugger, task: "Task") -> str:
    """What a task is doing, in words: ``runnable``, ``waiting in wait4 (for ...)``, ``stopped``."""
    if task.state == "blocked":
        req = dbg.task_call(task)
        call = f" in {req.name}" if req is not None else ""
        what = f" (for {task.wait.what})" if task.wait is not None else ""
        return f"waiting{call}{what}"
    if task.state == "stopped":
        sig = task.process.stopped
        return f"stopped by {signal_name(sig)}" if sig else "stopped"
    req = dbg.task_call(task)
    if req is not None and task is dbg.task:
        return f"at the entry of {req.name}"
    return task.state


def thread_lines(dbg: Debugger) -> list[str]:
    """gdb's ``info threads``: every live task, its number, ids, state and pc; ``*`` marks the selected one."""
    tasks = dbg.tasks()
    if not tasks:
        return ["No threads: the program has ended."]
    rows = []
    for t in tasks:
        pc = dbg.task_pc(t)
        frame = f"{pc:#x} {dbg.describe(pc)}".rstrip() if pc is not None else "?"
        rows.append(("*" if t is dbg.task else " ", str(dbg.thread_number(t)), t.name(), task_state(dbg, t), frame))
    widths = [max(len(r[i]) for r in rows + [("", "Id", "Task", "State", "")]) for i in range(4)]
    head = f"  {'Id':<{widths[1]}}  {'Task':<{widths[2]}}  {'State':<{widths[3]}}  Frame"
    return [head] + [f"{r[0]} {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:<{widths[3]}}  {r[4]}" for r in rows]


def inferior_lines(dbg: Debugger) -> list[str]:
    """gdb's ``info inferiors``: every process (zombies too), its parent, state and program."""
    procs = sorted(dbg.first.kernel.processes.processes.values(), key=lambda p: p.pid)
    procs = [p for p in procs if not dbg.process_ignored(p)]
    current = dbg.task.process if dbg.system is not None and not dbg.system.ended else None
    rows = []
    for p in procs:
        rows.append(("*" if p is current else " ", str(dbg.inferior_number(p.pid)), str(p.pid),
                     str(p.parent.pid) if p.parent is not None else "-", _process_state(p), _program(dbg, p)))
    if not rows:
        return ["No processes: the program has ended."]
    titles = ("", "Num", "Pid", "Parent", "State", "Program")
    widths = [max(len(r[i]) for r in rows + [titles]) for i in range(5)]
    head = "  " + "  ".join(f"{titles[i]:<{widths[i]}}" for i in range(1, 5)) + "  Program"
    return [head] + [f"{r[0]} " + "  ".join(f"{r[i]:<{widths[i]}}" for i in range(1, 5)) + f"  {r[5]}" for r in rows]


def _process_state(proc: "Process") -> str:
    if proc.exit is not None:
        ex = proc.exit
        how = f"killed by {signal_name(ex.signal)}" if ex.signal else f"exited with status {ex.status}"
        return f"zombie: {how}"
    live = [t for t in proc.threads if t.state != "dead"]
    if proc.stopped:
        state = f"stopped by {signal_name(proc.stopped)}"
    elif any(t.state == "runnable" for t in live):
        state = "running"
    else:
        state = "waiting"
    return f"{state} ({len(live)} thread{'s' if len(live) != 1 else ''})"


def _program(dbg: Debugger, proc: "Process") -> str:
    if proc.executable is not None:
        return proc.executable.path
    if proc.pid == dbg.first.kernel.processes.first_pid:
        return dbg.first.program_path or "-"
    for t in proc.threads:
        ctx = t.cpu
        m = ctx._machine() if ctx is not None else None
        if m is not None and not m._closed:
            return m.program_path or "-"
    return "-"


def register_lines(dbg: Debugger, names: list[str] | None = None) -> list[str]:
    """``name  0xhex  decimal`` per register."""
    regs = dbg.registers(names)
    width = max((len(n) for n in regs), default=0)
    return [f"{n:<{width}}  {v:#018x}  {v}" for n, v in regs.items()]


def _in_call(dbg: Debugger) -> str:
    """``in the system call read (entered, not yet served)``, or for a task that waits in it,
    ``waiting in the system call read (for data in the pipe)``."""
    m = dbg.machine
    req = m.pending
    assert req is not None
    task = dbg.task
    if task.state == "blocked":
        what = f" (for {task.wait.what})" if task.wait is not None else ""
        return f"waiting in the system call {req.name}{what}"
    if task.state == "stopped":
        return f"in the system call {req.name}, stopped"
    return f"in the system call {req.name} (entered, not yet served)"


def where_line(dbg: Debugger) -> str:
    """The pc with its symbol, and the last system call made."""
    m = dbg.machine
    text = f"pc {m.pc:#x} {dbg.describe(m.pc)}".rstrip()
    if dbg.multitask:
        text = f"[{dbg.task.name()}] " + text
    if m.pending is not None:
        text += f", {_after_trap(dbg, m.pending.pc)}, {_in_call(dbg)}"
    records = build_records(dbg.arch, m.log[-1:]) if m.log else []
    text += f"; last system call: {call_text(dbg, records[0])}" if records else "; no system call made yet"
    return text


def frame_lines(dbg: Debugger) -> list[str]:
    """gdb's ``info frame`` as far as the sandbox knows it: the innermost frame's pc and sp.
    It keeps no unwinding information, so it names no caller frames rather than guess them."""
    m = dbg.machine
    if m.exit is not None:
        return ["no frame: the process has ended"]
    sp = dbg.reg("sp")
    lines = [f"Stack level 0: pc {m.pc:#x} {dbg.describe(m.pc)}".rstrip() + f", sp {sp:#x}"]
    if m.pending is not None:
        lines.append(f"  {_in_call(dbg)}, {_after_trap(dbg, m.pending.pc)}")
    lines.append("  caller frames are not known (the sandbox does not unwind the stack); x/8a $sp shows the stack")
    return lines


def card_lines(dbg: Debugger, event: StopEvent | None = None) -> list[str]:
    """The register card of the system call at hand: at its entry, about to be made, or returned."""
    m = dbg.machine
    if event is not None and event.reason == "syscall-return" and event.syscall is not None:
        req = event.syscall
        return syscall_card(dbg.arch, req.nr, req.name, req.args, m.memory, result=event.result, errno=event.errno)
    req = dbg.pending_syscall()
    if req is None:
        return []
    return syscall_card(dbg.arch, req.nr, req.name, req.args, m.memory)


def _after_trap(dbg: Debugger, trap_pc: int) -> str:
    """``after the syscall at 0x400016 <_start+22>``: where a system call was entered from."""
    return f"after the {dbg.arch.trap.mnemonic} at {trap_pc:#x} {dbg.describe(trap_pc)}".rstrip()


def listing_lines(dbg: Debugger, count: int = 4) -> list[str]:
    """The next instructions, the current one marked ``=>``; in a system call, from the trap
    instruction that entered it (the pc is the instruction after it, as on Linux)."""
    m = dbg.machine
    pc = m.pc
    insns = dbg.disasm(m.pending.pc if m.pending is not None else pc, count)
    width = max((len(i.symbol) for i in insns), default=0) + 2
    out = []
    for insn in insns:
        marker = "=>" if insn.address == pc else "  "
        sym = f"<{insn.symbol}>" if insn.symbol else ""
        out.append(f"{marker} {insn.address:#x} {sym:<{width}}  {insn.mnemonic:<7} {insn.operands}".rstrip())
    if not insns:
        out.append(f"=> {pc:#x}: <cannot read memory>")
    return out


def stop_lines(dbg: Debugger, event: StopEvent) -> list[str]:
    """How ``sandbox debug`` shows a stop: a line saying why, then code and, at a system call, its card."""
    head = _headline(dbg, event)
    if event.pid is not None and not event.ended and (dbg.multitask or event.pid != dbg.first.kernel.processes.first_pid):
        # with several tasks, which one stopped
        who = f"pid {event.pid}" if event.tid in (None, event.pid) else f"pid {event.pid} thread {event.tid}"
        head = f"[{who}] " + (head or f"at {event.pc:#x} {dbg.describe(event.pc)}".rstrip())
    lines = [head] if head else []
    if event.ended:
        return lines
    if event.reason == "syscall-return":
        lines += card_lines(dbg, event)
        lines += listing_lines(dbg)
        return lines
    lines += listing_lines(dbg)
    lines += card_lines(dbg)
    return lines


def _headline(dbg: Debugger, event: StopEvent) -> str:
    where = f"{event.pc:#x} {dbg.describe(event.pc)}".rstrip()
    back = "(backwards) " if event.reverse else ""
    reason = event.reason
    if reason == "breakpoint" and event.breakpoint is not None:
        return f"{back}Breakpoint {event.breakpoint.number}, {where}"
    if reason == "until":
        return f"{back}Reached {where}"
    if reason == "syscall-entry" and event.syscall is not None:
        by = f" (catchpoint {event.catch.number})" if event.catch is not None else ""
        return f"{back}Entering system call {event.syscall.name}{by}, at {where}, {_after_trap(dbg, event.syscall.pc)}"
    if reason == "syscall-return" and event.syscall is not None:
        by = f" (catchpoint {event.catch.number})" if event.catch is not None else ""
        return f"{back}Returned from system call {event.syscall.name}{by}, at {where}"
    if reason == "watchpoint" and event.watch is not None:
        hit = event.watch
        wp = hit.watchpoint
        who = f"the kernel, in {hit.by_syscall}()" if hit.by_syscall else f"the instruction at {hit.pc:#x}"
        verb = "written" if hit.is_write else "read"
        text = f"{back}Watchpoint {wp.number} ({wp.expression}) {verb} by {who}"
        if hit.is_write:
            text += f": old {hit.old.hex() or '-'}, new {hit.new.hex() or '-'}"
        else:
            text += f": value {hit.new.hex()}"
        return text
    if reason == "exited":
        return f"[the process exited with status {event.exit_status}]"
    if reason == "signal":
        what = event.fault.line() if event.fault is not None else f"killed by {event.signal}"
        return f"[the process was killed: {what}]"
    if reason == "interrupted":
        return f"Interrupted at {where}"
    if reason == "history-start":
        if dbg.history is not None and dbg.history.restarted:
            return f"No more reverse-execution history: {dbg.history.restarted}; at {where}"
        return f"No more reverse-execution history: at the start of the recording, {where}"
    if reason in ("fork", "vfork") and event.child is not None:
        return f"{reason.capitalize()}ed pid {event.child[0]}, at {where}"
    if reason == "vforkdone":
        return f"The vfork child went on its own (it exec'd or exited), at {where}"
    if reason == "exec":
        return f"Executing new program {event.path}, at {where}"
    if reason == "process-exited":
        how = f"was killed by {event.signal}" if event.signal else f"exited with status {event.exit_status}"
        return f"[pid {event.ended_pid} {how}]"
    return ""
