"""``sandbox debug``: a terminal debugger whose commands a gdb user guesses right.

Commands come from a file (``--commands``), then from the terminal, or from stdin when it is
not a terminal (each is echoed after the prompt, so a transcript reads like a session). An
empty line repeats the last command. A bad command gets one line on stderr, never a traceback.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, TextIO

from kernel_model.signals import signal_name

from sandbox.api import Sandbox
from sandbox.debug.expressions import parse_number
from sandbox.debug.points import StopEvent
from sandbox.debug.session import FOLLOW_FORK_MODES, Debugger
from sandbox.debug.snapshot import Snapshot
from sandbox.debug.views import (
    card_lines, fd_lines, frame_lines, inferior_lines, listing_lines, map_lines, register_lines, stop_lines,
    syscall_lines, thread_lines, where_line,
)
from sandbox.errors import SandboxError

if TYPE_CHECKING:
    from kernel_model.tasks import Task

PROMPT = "(sandbox) "

HELP = """\
running      si [N] (stepi)        one instruction (N of them); a syscall instruction is served
             ni [N] (nexti)        the same, but a call runs until it returns
             c (continue)          until a breakpoint, watchpoint, catchpoint or the end
             until LOCATION        until the pc reaches LOCATION
             rsi (reverse-stepi)   back one instruction
             rc (reverse-continue) back to the previous breakpoint or system call
stopping     b LOCATION (break)    before the instruction at an address or symbol: b _start, b *0x401000
             catch syscall [NAME|NUMBER ...]   at the entry and return of these calls (all when none)
             watch LOCATION [LEN]  when the bytes change; rwatch: when read; awatch: any access
             delete [N]            delete one stop (or all of them); info breakpoints lists them
looking      info registers [REG ...]   x/NFU ADDRESS (F: x d u o t c a s i, U: b h w g)
             disas [ADDRESS] [N]   where (pc, symbol, last system call)   p[/x d u o t a c] EXPRESSION
             info frame   info fds   info maps   info syscalls [N]   info symbol ADDRESS
             card (the register card of the call at hand)
tasks        info threads          every thread of every process; * marks the selected one
             thread N              look at (and step) thread N: registers, memory, disas are its
             info inferiors        every process: pid, parent, state, program;  inferior N
             set follow-fork-mode parent|child   after a fork, a step goes on in the parent or the child
changing     set $REG = VALUE (or: set REG VALUE)   snapshot   restore N
             q (quit)"""


class CommandError(SandboxError):
    """A command the debugger cannot carry out; shown as one line."""


@dataclass
class _Format:
    count: int
    letter: str
    size: int


_SIZES = {"b": 1, "h": 2, "w": 4, "g": 8}
_PER_LINE = {1: 8, 2: 8, 4: 4, 8: 2}


class CtrlCStopsTheGuest:
    """While the guest runs, Ctrl-C stops it at the next instruction instead of ending the session.

    The guest runs inside Unicorn, where Python's own signal handling cannot run; the signal is
    noticed through a wakeup pipe by a watching thread, which asks the machine to stop.
    """

    def __init__(self, debugger: Debugger) -> None:
        self._dbg = debugger
        self._active = threading.current_thread() is threading.main_thread()
        self._done = threading.Event()

    def __enter__(self) -> "CtrlCStopsTheGuest":
        if not self._active:
            return self
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._old_handler = signal.signal(signal.SIGINT, lambda signo, frame: None)
        self._old_fd = signal.set_wakeup_fd(self._write)
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._done.is_set():
            ready, _, _ = select.select([self._read], [], [], 0.1)
            if ready and signal.SIGINT in os.read(self._read, 64):
                self._dbg.interrupt()

    def __exit__(self, *exc: object) -> None:
        if not self._active:
            return
        self._done.set()
        self._thread.join()
        signal.set_wakeup_fd(self._old_fd)
        signal.signal(signal.SIGINT, self._old_handler)
        os.close(self._read)
        os.close(self._write)


class TerminalDebugger:
    """Reads commands, drives a :class:`Debugger`, and writes what a user needs to see."""

    def __init__(self, sandbox: Sandbox, out: TextIO | None = None, err: TextIO | None = None, *, echo: bool = False) -> None:
        self.sb = sandbox
        self.dbg: Debugger = sandbox.debugger
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.echo = echo
        self.last_command = ""
        self.snapshots: list[Snapshot] = []
        self._printed = [0, 0]  # guest stdout/stderr bytes already shown
        self._mid_line = False
        self._x_format = _Format(1, "x", 4)
        self._commands: dict[str, Callable[[list[str], str], None]] = {}
        for names, fn in (
            (("si", "stepi", "s", "step"), self._cmd_stepi), (("ni", "nexti", "n", "next"), self._cmd_nexti),
            (("c", "continue", "cont"), self._cmd_continue), (("until", "advance", "u"), self._cmd_until),
            (("rsi", "reverse-stepi"), self._cmd_rsi), (("rc", "reverse-continue"), self._cmd_rc),
            (("b", "break", "br"), self._cmd_break), (("tbreak",), self._cmd_tbreak),
            (("catch",), self._cmd_catch), (("watch",), self._cmd_watch), (("rwatch",), self._cmd_rwatch),
            (("awatch",), self._cmd_awatch), (("delete", "d"), self._cmd_delete),
            (("info", "i"), self._cmd_info), (("disas", "disassemble"), self._cmd_disas),
            (("where", "bt", "backtrace"), self._cmd_where), (("p", "print"), self._cmd_print),
            (("set",), self._cmd_set), (("card",), self._cmd_card), (("snapshot", "checkpoint"), self._cmd_snapshot),
            (("restore",), self._cmd_restore), (("help", "h"), self._cmd_help),
            (("thread", "t"), self._cmd_thread), (("inferior",), self._cmd_inferior), (("show",), self._cmd_show),
        ):
            for name in names:
                self._commands[name] = fn

    # -- output ----------------------------------------------------------------------------

    def say(self, *lines: str) -> None:
        """Write lines to the transcript."""
        if self._mid_line:  # the guest's last output did not end its line
            self.out.write("\n")
            self._mid_line = False
        for line in lines:
            self.out.write(line + "\n")
        self.out.flush()

    def error(self, message: str) -> None:
        """One line on stderr."""
        self.out.flush()
        self.err.write(f"error: {message}\n")
        self.err.flush()

    def show_guest_output(self) -> None:
        """Write what the guest printed since the last look (not again after stepping back)."""
        for i, (data, stream) in enumerate(((self.sb.stdout, self.out), (self.sb.stderr, self.err))):
            if len(data) > self._printed[i]:
                stream.write(data[self._printed[i]:].decode("utf-8", "backslashreplace"))
                stream.flush()
                self._printed[i] = len(data)
                if i == 0:
                    self._mid_line = not data.endswith(b"\n")

    def show_stop(self, event: StopEvent) -> None:
        """Describe a stop: why, the next instructions, and at a system call its register card."""
        self.show_guest_output()
        self.say(*stop_lines(self.dbg, event))

    # -- the loop --------------------------------------------------------------------------

    def start(self) -> None:
        """Say what is loaded and where it stands."""
        m = self.dbg.machine
        self.say(f"{m.program_path or 'program'}: {self.dbg.arch.name}, stopped at its first instruction "
                 f"(type help for the commands)")
        self.say(*listing_lines(self.dbg))
        self.say(*card_lines(self.dbg))

    def execute(self, line: str) -> bool:
        """Run one command line; False when the session should end."""
        text = line.strip()
        if not text:
            text = self.last_command
            if not text:
                return True
        if text.startswith("#"):
            return True
        self.last_command = text
        word, _, rest = text.partition(" ")
        if word.startswith("x/") or word == "x":
            word, rest = "x", text[1:].strip()
        word, slash, fmt = word.partition("/")  # gdb's p/x EXPRESSION
        if word in ("q", "quit", "exit", "kill"):
            return False
        try:
            if word == "x":
                self._cmd_x(rest)
            elif slash and word in ("p", "print", "inspect"):
                self._cmd_print(rest.split(), rest, fmt)
            elif slash:
                raise CommandError(f"{word} takes no /FORMAT (p/x and x/8xb do)")
            else:
                fn = self._commands.get(word)
                if fn is None:
                    raise CommandError(f"unknown command {word!r} (type help for the list)")
                fn(rest.split(), rest)
        except SandboxError as e:
            self.error(str(e))
        except Exception as e:  # noqa: BLE001 - a bug: one line, and the session goes on
            if os.environ.get("SANDBOX_DEBUG"):
                raise
            self.error(f"internal error: {type(e).__name__}: {e} (set SANDBOX_DEBUG=1 for the traceback)")
        self.show_guest_output()
        return True

    def run_lines(self, lines: Iterable[str]) -> bool:
        """Run commands one by one, echoing each after the prompt; False once one quits."""
        for line in lines:
            if self.echo:
                self.say(PROMPT + line.rstrip("\n"))
            if not self.execute(line):
                return False
        return True

    def interact(self, read: Callable[[str], str] = input) -> None:
        """Read commands at the prompt until quit or end of input."""
        while True:
            try:
                line = read(PROMPT)
            except EOFError:
                self.say("")
                return
            except KeyboardInterrupt:
                self.say("")
                continue
            if not self.execute(line):
                return

    # -- running ---------------------------------------------------------------------------

    def _count(self, args: list[str]) -> int:
        if not args:
            return 1
        n = parse_number(args[0])
        if n is None or n < 1:
            raise CommandError(f"expected a positive count, not {args[0]!r}")
        return n

    def _cmd_stepi(self, args: list[str], rest: str) -> None:
        self._ensure_alive()
        self.show_stop(self._running(lambda: self.dbg.step(self._count(args))))

    def _cmd_nexti(self, args: list[str], rest: str) -> None:
        self._ensure_alive()
        self.show_stop(self._running(lambda: self.dbg.next(self._count(args))))

    def _cmd_continue(self, args: list[str], rest: str) -> None:
        self._ensure_alive()
        self.show_stop(self._running(lambda: self.dbg.cont()))

    def _cmd_until(self, args: list[str], rest: str) -> None:
        self._ensure_alive()
        if not rest.strip():
            raise CommandError("until needs a location: until LOCATION")
        self.show_stop(self._running(lambda: self.dbg.run_until(pc=rest)))

    def _cmd_rsi(self, args: list[str], rest: str) -> None:
        self.show_stop(self._running(lambda: self.dbg.reverse_step(), notes=False))

    def _cmd_rc(self, args: list[str], rest: str) -> None:
        self.show_stop(self._running(lambda: self.dbg.reverse_continue(syscall_entries=True), notes=False))

    def _running(self, op: Callable[[], StopEvent], *, notes: bool = True) -> StopEvent:
        before = self._task_ids()
        self.dbg.ended_tasks.clear()
        try:
            with CtrlCStopsTheGuest(self.dbg):
                return op()
        finally:
            if notes:  # going back in time, tasks that come and go are the past's, not news
                self._task_notes(before)
            self.dbg.ended_tasks.clear()

    def _task_ids(self) -> dict[int, tuple[int, int]]:
        return {t.tid: (t.process.pid, t.tid) for t in self.dbg.tasks()}

    def _task_notes(self, before: dict[int, tuple[int, int]]) -> None:
        """What happened to the guest's tasks meanwhile: new processes and threads, and ends."""
        dbg = self.dbg
        notes = []
        for tid, (pid, _) in self._task_ids().items():
            if tid not in before:
                notes.append(f"[New process {pid}]" if tid == pid else f"[New thread {tid} of pid {pid}]")
        first_pid = dbg.first.kernel.processes.first_pid
        for tid, ex in dbg.ended_tasks:
            if tid == first_pid and dbg.first.exit is not None:
                continue  # the end of the run, which the stop itself says
            pid = before.get(tid, (tid, tid))[0]
            proc = dbg.first.kernel.processes.processes.get(pid)
            if pid != tid or (proc is not None and proc.exit is None):
                notes.append(f"[thread {tid} of pid {pid} exited]")
                continue
            how = f"was killed by {signal_name(ex.signal)}" if ex.signal else f"exited with status {ex.status}"
            notes.append(f"[pid {tid} {how}]")
        dbg.ended_tasks.clear()
        if notes:
            self.show_guest_output()
            self.say(*notes)

    def _ensure_alive(self) -> None:
        if self.dbg.first.exit is not None:
            raise CommandError("the process has ended (rsi and rc can still go back)")

    # -- stops -----------------------------------------------------------------------------

    def _cmd_break(self, args: list[str], rest: str, temporary: bool = False) -> None:
        if not rest.strip():
            raise CommandError("break needs a location: b _start, b *0x401000, b loop+8")
        bp = self.dbg.break_at(rest.strip(), temporary=temporary)
        self.say(f"{'Temporary breakpoint' if temporary else 'Breakpoint'} {bp.number} at {bp.address:#x} {self.dbg.describe(bp.address)}".rstrip())

    def _cmd_tbreak(self, args: list[str], rest: str) -> None:
        self._cmd_break(args, rest, temporary=True)

    def _cmd_catch(self, args: list[str], rest: str) -> None:
        if not args or args[0] != "syscall":
            raise CommandError("only 'catch syscall [NAME|NUMBER ...]' is supported")
        catch = self.dbg.catch_syscall(*args[1:])
        self.say(f"Catchpoint {catch.number} ({catch.label})")

    def _watch(self, args: list[str], kind: str) -> None:
        if not args:
            raise CommandError("watch needs a location: watch msg, watch $sp+8 4")
        length = None
        if len(args) > 1:
            length = parse_number(args[-1])
            if length is None or length < 1:
                raise CommandError(f"expected a positive length, not {args[-1]!r}")
            args = args[:-1]
        wp = self.dbg.watch(" ".join(args), length, kind)
        what = {"write": "Watchpoint", "read": "Read watchpoint", "access": "Access watchpoint"}[kind]
        self.say(f"{what} {wp.number}: {wp.expression} ({wp.length} bytes at {wp.address:#x})")

    def _cmd_watch(self, args: list[str], rest: str) -> None:
        self._watch(args, "write")

    def _cmd_rwatch(self, args: list[str], rest: str) -> None:
        self._watch(args, "read")

    def _cmd_awatch(self, args: list[str], rest: str) -> None:
        self._watch(args, "access")

    def _cmd_delete(self, args: list[str], rest: str) -> None:
        if not args:
            self.dbg.delete()
            return
        for a in args:
            n = parse_number(a)
            if n is None:
                raise CommandError(f"expected a breakpoint number, not {a!r}")
            self.dbg.delete(n)

    # -- looking ---------------------------------------------------------------------------

    def _cmd_info(self, args: list[str], rest: str) -> None:
        what = args[0] if args else ""
        if what in ("registers", "reg", "r", "all-registers"):
            names = [self.dbg.register_name(a) for a in args[1:]] or None
            self.say(*register_lines(self.dbg, names))
        elif what in ("breakpoints", "b", "break", "watchpoints", "catchpoints"):
            self.say(*self._stop_list())
        elif what in ("frame", "f"):
            self.say(*frame_lines(self.dbg))
        elif what in ("fds", "files"):
            self.say(*fd_lines(self.dbg))
        elif what in ("maps", "proc", "mappings"):
            self.say(*map_lines(self.dbg))
        elif what in ("syscalls", "sys"):
            last = self._count(args[1:]) if len(args) > 1 else None
            self.say(*(syscall_lines(self.dbg, last) or ["no system call made yet"]))
        elif what in ("threads", "thread"):
            self.say(*thread_lines(self.dbg))
        elif what in ("inferiors", "inferior"):
            self.say(*inferior_lines(self.dbg))
        elif what == "symbol":
            if len(args) < 2:
                raise CommandError("info symbol needs an address: info symbol $pc")
            address = self.dbg.address(" ".join(args[1:]))
            sym = self.dbg.symbols.symbolize(address)
            self.say(f"{sym.replace('+', ' + ')}" if sym else f"no symbol matches {address:#x}")
        else:
            said = f"unknown info command {what!r}; " if what else ""
            raise CommandError(f"{said}info takes: registers, breakpoints, frame, fds, maps, syscalls, symbol, threads, "
                               "inferiors")

    def _stop_list(self) -> list[str]:
        dbg = self.dbg
        rows = []
        for bp in dbg.breakpoints.values():
            rows.append((bp.number, f"{bp.number:<4} breakpoint  {bp.address:#x} {dbg.describe(bp.address)}  hits {bp.hits}"))
        for c in dbg.catchpoints.values():
            rows.append((c.number, f"{c.number:<4} catchpoint  {c.label}  hits {c.hits}"))
        for w in dbg.watchpoints.values():
            rows.append((w.number, f"{w.number:<4} watchpoint  {w.kind} {w.length} bytes at {w.address:#x} ({w.expression})  hits {w.hits}"))
        return [r for _, r in sorted(rows)] or ["no breakpoints, catchpoints or watchpoints"]

    def _cmd_where(self, args: list[str], rest: str) -> None:
        self.say(where_line(self.dbg))

    def _cmd_card(self, args: list[str], rest: str) -> None:
        lines = card_lines(self.dbg, self.dbg.last_stop)
        self.say(*(lines or ["not at a system call"]))

    def _cmd_disas(self, args: list[str], rest: str) -> None:
        count = 10
        where: str | None = None
        if args:
            last = parse_number(args[-1]) if len(args) > 1 else None
            if last is not None:
                count, args = last, args[:-1]
            where = " ".join(args)
        address = self.dbg.address(where) if where else None
        insns = self.dbg.disasm(address, count)
        if not insns:
            raise CommandError("cannot read memory there")
        pc = self.dbg.machine.pc
        for i in insns:
            marker = "=>" if i.address == pc else "  "
            sym = f"<{i.symbol}>" if i.symbol else ""
            self.say(f"{marker} {i.address:#x} {sym:<14} {i.bytes.hex():<20} {i.mnemonic:<7} {i.operands}".rstrip())

    def _cmd_print(self, args: list[str], rest: str, fmt: str = "") -> None:
        if not rest.strip():
            raise CommandError("print needs an expression: p $rax, p/x $sp, p msg")
        value = self.dbg.address(rest)
        if fmt:
            self.say(self._formatted(value, fmt))
            return
        sym = self.dbg.describe(value)
        self.say(f"{value:#x} ({value}){' ' + sym if sym else ''}")

    def _formatted(self, value: int, fmt: str) -> str:
        """``value`` in gdb's print format letter ``fmt`` (x d u o t a c z), at the word size."""
        arch = self.dbg.arch
        bits = arch.bits
        unsigned = value & arch.word_mask
        letter = fmt.lstrip("0123456789")  # a count means nothing to print
        if letter == "x":
            return f"{unsigned:#x}"
        if letter == "z":
            return f"{unsigned:#0{2 + bits // 4}x}"
        if letter == "d":
            return str(unsigned - (1 << bits) if unsigned >> (bits - 1) else unsigned)
        if letter == "u":
            return str(unsigned)
        if letter == "o":
            return f"0{unsigned:o}" if unsigned else "0"
        if letter == "t":
            return f"{unsigned:b}"
        if letter == "a":
            sym = self.dbg.describe(unsigned)
            return f"{unsigned:#x}{' ' + sym if sym else ''}"
        if letter == "c":
            return _char(unsigned & 0xFF)
        raise CommandError(f"unknown print format {fmt!r} (p/x p/d p/u p/o p/t p/a p/c p/z)")

    def _cmd_x(self, spec: str) -> None:
        fmt, _, where = spec.partition(" ")
        if not fmt.startswith("/"):
            fmt, where = "", spec
        self._x_format = f = self._parse_format(fmt[1:], self._x_format)
        if not where.strip():
            raise CommandError("x needs an address: x/8xb $sp, x/s msg, x/4i $pc")
        address = self.dbg.address(where)
        if f.letter == "i":
            insns = self.dbg.disasm(address, f.count)
            if not insns:
                raise CommandError(f"cannot access memory at {address:#x}")
            for i in insns:
                sym = f" <{i.symbol}>" if i.symbol else ""
                self.say(f"{i.address:#x}{sym}:  {i.text}")
            return
        if f.letter == "s":
            for _ in range(f.count):
                data = self._cstring(address)
                sym = self.dbg.describe(address)
                self.say(f"{address:#x}{' ' + sym if sym else ''}:  {_quote(data)}")
                address += len(data) + 1
            return
        data = self.dbg.read_memory(address, f.count * f.size)
        per_line = _PER_LINE[f.size]
        for start in range(0, f.count, per_line):
            at = address + start * f.size
            sym = self.dbg.describe(at)
            items = []
            for k in range(start, min(start + per_line, f.count)):
                raw = data[k * f.size:(k + 1) * f.size]
                items.append(_format_unit(raw, f.letter, self.dbg.arch.big_endian))
            self.say(f"{at:#x}{' ' + sym if sym else ''}:  " + "  ".join(items))

    def _parse_format(self, text: str, last: _Format) -> _Format:
        count, letter, size = 1, last.letter, last.size
        digits = ""
        for ch in text:
            if ch.isdigit():
                digits += ch
            elif ch in "xduotcasi":
                letter = ch
            elif ch in _SIZES:
                size = _SIZES[ch]
            else:
                raise CommandError(f"unknown x format {ch!r} (formats x d u o t c a s i, sizes b h w g)")
        if digits:
            count = int(digits)
        if letter == "a":
            size = self.dbg.arch.word_size
        if letter == "c" and not any(ch in _SIZES for ch in text):
            size = 1
        return _Format(count, letter, size)

    def _cstring(self, address: int) -> bytes:
        out = b""
        while len(out) < 4096:
            chunk = self.dbg.read_memory(address + len(out), 1)
            if chunk == b"\0":
                break
            out += chunk
        return out

    # -- changing --------------------------------------------------------------------------

    def _cmd_thread(self, args: list[str], rest: str) -> None:
        dbg = self.dbg
        if not args:
            if dbg.first.exit is not None:
                raise CommandError("no threads: the program has ended")
            task = dbg.task
            self.say(f"[Current thread is {dbg.thread_number(task)} ({task.name()})]")
            return
        n = parse_number(args[0])
        if n is None:
            raise CommandError(f"expected a thread number (info threads lists them), not {args[0]!r}")
        if dbg.first.exit is not None:
            raise CommandError("no threads: the program has ended")
        self._switch(dbg.task_by_number(n))

    def _switch(self, task: "Task") -> None:
        dbg = self.dbg
        dbg.select(task)
        self.say(f"[Switching to thread {dbg.thread_number(task)} ({task.name()})]")
        self.say(*listing_lines(dbg))

    def _cmd_inferior(self, args: list[str], rest: str) -> None:
        dbg = self.dbg
        if dbg.first.exit is not None:
            raise CommandError("no processes: the program has ended")
        if not args:
            proc = dbg.task.process
            self.say(f"[Current inferior is {dbg.inferior_number(proc.pid)} (pid {proc.pid})]")
            return
        n = parse_number(args[0])
        procs = dbg.first.kernel.processes.processes
        match = [p for p in procs.values() if dbg.inferior_number(p.pid) == n] or (
            [procs[n]] if n is not None and n in procs else [])
        if not match:
            raise CommandError(f"no inferior {args[0]} (info inferiors lists them)")
        task = match[0].main_thread()
        if task is None:
            raise CommandError(f"pid {match[0].pid} has ended (a zombie has no thread to look at)")
        self._switch(task)

    def _cmd_show(self, args: list[str], rest: str) -> None:
        if args and args[0] == "follow-fork-mode":
            self.say(f"Debugger response to a program call of fork or vfork is \"{self.dbg.follow_fork}\".")
            return
        raise CommandError("show takes: follow-fork-mode")

    def _cmd_set(self, args: list[str], rest: str) -> None:
        text = rest.strip()
        if args and args[0] == "follow-fork-mode":
            mode = args[1] if len(args) > 1 else ""
            if mode not in FOLLOW_FORK_MODES:
                raise CommandError("set follow-fork-mode takes parent or child")
            self.dbg.follow_fork = mode
            self.dbg._sync_predicates()
            self.say(f"follow-fork-mode is {mode}: after a fork, a step goes on in the {mode}")
            return
        if text.startswith("var "):
            text = text[4:].strip()
        if "=" in text:
            name, _, value_text = text.partition("=")
        else:
            parts = text.split(None, 1)
            if len(parts) != 2:
                raise CommandError("set needs a register and a value: set $rax = 5, set rax 5")
            name, value_text = parts
        name, value_text = name.strip(), value_text.strip()
        if not name.lstrip("$"):
            raise CommandError("set needs a register name")
        register = self.dbg.register_name(name)
        value = self.dbg.address(value_text)
        self.dbg.set_reg(register, value)
        self.say(f"{register} = {self.dbg.reg(register):#x}")

    def _cmd_snapshot(self, args: list[str], rest: str) -> None:
        self.snapshots.append(self.dbg.snapshot())
        self.say(f"Snapshot {len(self.snapshots)} at {self.dbg.machine.pc:#x} {self.dbg.describe(self.dbg.machine.pc)}".rstrip())

    def _cmd_restore(self, args: list[str], rest: str) -> None:
        n = parse_number(args[0]) if args else len(self.snapshots)
        if not self.snapshots or n is None or not 1 <= n <= len(self.snapshots):
            raise CommandError("no such snapshot (take one with: snapshot)")
        self.dbg.restore(self.snapshots[n - 1])
        self.say(f"Restored snapshot {n}")
        self.say(*listing_lines(self.dbg))

    def _cmd_help(self, args: list[str], rest: str) -> None:
        self.say(HELP)


def _quote(data: bytes) -> str:
    return '"' + repr(data)[2:-1].replace('"', '\\"') + '"'


def _format_unit(raw: bytes, letter: str, big_endian: bool) -> str:
    value = int.from_bytes(raw, "big" if big_endian else "little")
    bits = len(raw) * 8
    if letter == "x" or letter == "a":
        return f"{value:#0{2 + 2 * len(raw)}x}"
    if letter == "d":
        return str(value - (1 << bits) if value >> (bits - 1) else value)
    if letter == "u":
        return str(value)
    if letter == "o":
        return oct(value)
    if letter == "t":
        return f"{value:0{bits}b}"
    if letter == "c":
        return _char(value & 0xFF)
    return f"{value:#x}"


def _char(byte: int) -> str:
    """``65 'A'``, ``10 '\\n'``: a byte as gdb shows a char."""
    text = repr(bytes([byte]))[2:-1].replace("\\'", "'")
    return f"{byte} '" + ("\\'" if text == "'" else text) + "'"


def split_command_file(text: str) -> list[str]:
    """The commands of a ``--commands`` file, one per line (blank lines and # comments skipped)."""
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]

