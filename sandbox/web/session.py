"""The browser view's model of a debugged program: the controls, and the state the page shows.

A :class:`ProgramView` drives one program through the debugging API (``step``, ``next``,
``run_until(syscall="any")``, ``cont``, ``reverse_step``, ``reverse_continue``, breakpoints,
recording) and describes where it is as plain data (:meth:`ProgramView.state`). A
:class:`Session` holds one view, or two for ``--compare``, and applies each control to all of
them; with two, it also lines up their system call cards (:func:`compare_cards`).

Nothing here knows about HTTP or sockets: the server (:mod:`sandbox.web.server`) only moves
these dicts, so the whole behaviour is tested without a browser.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable

from kernel_model.prototypes import prototype
from kernel_model.signals import signal_name
from sandbox.api import Sandbox
from sandbox.arch import Arch
from sandbox.debug.points import Breakpoint, StopEvent
from sandbox.debug.session import DEFAULT_HISTORY
from sandbox.engine import kernel_arch
from sandbox.errors import SandboxError
from sandbox.program import read_program
from sandbox.records import build_records, calling_convention
from sandbox.trace.capture import Capture
from sandbox.trace.strace import StraceFormat
from sandbox.trace.tracer import signal_info
from sandbox.web.observer import CallObserver, pointed_ranges
from sandbox.web.protocol import ACTIONS
from sandbox.web.sourcemap import SourceMap, assembly_source_map, dwarf_source_map
from sandbox.web.views import arch_view, call_card, code_view, memory_view, registers_view

TRACE_TAIL = 300  # strace lines sent with each state; older ones are counted
OUTPUT_TAIL = 64 << 10  # bytes of stdout and of stderr sent with each state
STRING_LIMIT = 64  # strace's -s for the card and the trace


class ProgramView:
    """One program under the debugger, as the page sees it.

    ``history`` is how many system calls reverse execution remembers (0: no recording), as
    ``sandbox debug --history``. A continue records only as long as what it records can still
    be reached: once it has made ``history`` calls, the older checkpoints are gone anyway, so
    it runs on without taking more and the recording starts again where it stops.
    """

    def __init__(self, sandbox: Sandbox, path: str, argv: list[str] | None = None, *, stdin: bytes = b"",
                 history: int = DEFAULT_HISTORY) -> None:
        if history < 0:
            raise SandboxError("--history must be 0 or more")
        self.sb = sandbox
        self.path = path
        self.argv = list(argv) if argv is not None else [path]
        self.stdin = stdin
        self.history = history
        self.arch = sandbox.arch
        self._breakpoints: list[int] = []  # addresses, kept across restarts
        self._pause = threading.Event()
        self.source_map = SourceMap()
        self.load()
        self.source_map = self._source_map()

    # -- loading ----------------------------------------------------------------------------

    def load(self) -> None:
        """Start the program afresh, stopped at its first instruction (breakpoints kept)."""
        sb = self.sb
        sb.load_file(self.path, self.argv, stdin=self.stdin)
        machine = sb.machine
        assert machine is not None
        self.observer = CallObserver(machine, string_limit=STRING_LIMIT).attach()
        if self.history:
            sb.record(self.history)
        dbg = sb.debugger
        self.breakpoints: dict[int, Breakpoint] = {a: dbg.break_at(a) for a in self._breakpoints}
        self.previous: dict[str, int] | None = None
        self.last_event: StopEvent | None = None
        self.last_action = "start"
        self.log_mark = 0  # the log's length before the last action
        self.recording_note = ""
        self.paused = False
        self._lines: dict[int, tuple[tuple, str]] = {}

    def _source_map(self) -> SourceMap:
        prog = read_program(self.path, self.arch)
        if prog.kind == "asm":
            return assembly_source_map(self.arch, self.path, prog.text)
        if prog.kind == "elf" and prog.elf is not None:
            bias = 0
            loaded = self.sb.machine.symbols if self.sb.machine is not None else {}
            for name, address in prog.elf.symbols.items():
                if name in loaded:
                    bias = loaded[name] - address
                    break
            return dwarf_source_map(prog.data, self.path, bias)
        return SourceMap()

    @property
    def machine(self):  # noqa: ANN201 - sandbox.engine.Machine
        """The current process."""
        machine = self.sb.machine
        assert machine is not None
        return machine

    # -- controls ---------------------------------------------------------------------------

    def perform(self, action: str) -> StopEvent | None:
        """Apply one control (see :data:`sandbox.web.protocol.ACTIONS`); None when it had
        nothing to do (stepping forward after the end)."""
        if action not in ACTIONS:
            raise SandboxError(f"unknown action {action!r}")
        if action == "restart":
            self.load()
            return None
        dbg = self.sb.debugger
        m = self.machine
        forward = not action.startswith("reverse")
        if forward and m.exit is not None:
            return None
        if not forward and dbg.history is None:
            raise SandboxError("reverse execution needs a recording (start without --history 0)")
        self._pause.clear()
        m.forget_stop()  # a pause that came when nothing ran is not for this control
        self.previous = dbg.registers() if m.exit is None else None
        self.log_mark = _logged(m)
        self.last_action = action
        if action == "step":
            event = dbg.step(1)
        elif action == "next":
            event = dbg.next(1)
        elif action == "syscall":
            event = self._to_next_syscall()
        elif action == "continue":
            event = self._continue()
        elif action == "reverse-step":
            event = dbg.reverse_step()
        else:  # reverse-syscall
            event = dbg.reverse_continue(syscall_entries=True)
        self.last_event = event
        self.paused = self._pause.is_set()
        return event

    def _to_next_syscall(self) -> StopEvent:
        """From a syscall's entry, to its return; from anywhere else, to the next entry."""
        dbg = self.sb.debugger
        if self.machine.pending is not None:
            return dbg.step(1)  # serves the call: the card then shows what it did
        return dbg.run_until(syscall="any")

    def _continue(self) -> StopEvent:
        dbg = self.sb.debugger
        if dbg.history is None or not self.history:
            return dbg.cont()
        # Recorded, one system call at a time, while the checkpoints can still be reached.
        # Each call is served by a step of its own, so that a breakpoint right after the trap
        # stops the continue as it would stop a plain one.
        calls = 0
        event = dbg.run_until(syscall="any")
        while event.reason == "syscall-entry" and event.catch is None and not self._pause.is_set():
            event = dbg.step(1)
            calls += 1
            if event.reason != "step":
                return event
            bp = self.breakpoints.get(self.machine.pc)
            if bp is not None:
                bp.hits += 1
                return StopEvent("breakpoint", self.machine.pc, breakpoint=bp)
            if calls >= self.history:
                dbg.history = None
                event = dbg.cont()
                dbg.record(self.history)
                self.recording_note = (
                    f"the continue made more than {self.history:,} system calls; recording started again "
                    f"where it stopped (--history {self.history})"
                )
                return event
            event = dbg.run_until(syscall="any")
        return event

    def pause(self) -> None:
        """Stop a running continue at once (safe from another thread)."""
        self._pause.set()
        machine = self.sb.machine
        if machine is not None:
            machine.request_stop()

    def toggle_breakpoint(self, address: int) -> bool:
        """Set a breakpoint at ``address``, or delete the one there; True when one is now set."""
        dbg = self.sb.debugger
        if address in self.breakpoints:
            dbg.delete(self.breakpoints.pop(address).number)
            self._breakpoints.remove(address)
            return False
        self.breakpoints[address] = dbg.break_at(address)
        self._breakpoints.append(address)
        return True

    def syscall_count(self) -> int:
        """System calls made so far (safe to read while the guest runs)."""
        machine = self.sb.machine
        return _logged(machine) if machine is not None else 0

    # -- what the page shows ----------------------------------------------------------------

    def state(self, memory_at: int | None = None) -> dict[str, Any]:
        """Everything the page shows for this program now."""
        m = self.machine
        dbg = self.sb.debugger
        ended = m.exit is not None
        pc = m.pending.pc if m.pending is not None else m.pc
        card = self._card()
        call_at_hand = card["name"] if card is not None and card["phase"] != "earlier" else None
        registers = registers_view(dbg, call_at_hand, self.previous) if not ended else []
        if memory_at is None and card is not None:
            # Follow the call: the memory it wrote, else the first thing it points to.
            changed = [c for c in card["changes"] if c["changed"]]
            pointers = [a for a in card["args"] if a["pointer"]]
            if changed:
                memory_at = int(changed[0]["address"], 16)
            elif pointers:
                memory_at = int(pointers[0]["pointer"], 16)
        return {
            "program": self.path,
            "argv": self.argv,
            "arch": arch_view(self.arch),
            "status": self._status(pc),
            "code": code_view(dbg, self.source_map, self.breakpoints, pc) if not ended or m.fault else [],
            "source": {"lines": len(self.source_map), "kind": self._source_kind()},
            "registers": registers,
            "card": card,
            "memory": self._memory(memory_at, card) if memory_at is not None else None,
            "trace": self._trace(),
            "stdout": _tail(m.captured[0]) if m.captured else {"text": "", "total": 0},
            "stderr": _tail(m.captured[1]) if m.captured else {"text": "", "total": 0},
            "breakpoints": [f"{a:#x}" for a in self.breakpoints],
            "recording": {
                "on": dbg.history is not None,
                "limit": self.history,
                "checkpoints": len(dbg.history.checkpoints) if dbg.history is not None else 0,
                "note": self.recording_note,
            },
            # One process today; the list is where tasks go once the kernel model has them.
            "tasks": [{"pid": m.kernel.identity.pid, "tid": m.kernel.identity.pid, "name": os.path.basename(self.path),
                       "state": "exited" if ended else "stopped", "current": True}],
        }


    def _source_kind(self) -> str:
        if not len(self.source_map):
            return ""
        return "assembly" if self.path.endswith((".s", ".S", ".asm")) else "debug info"

    def _memory(self, address: int, card: dict[str, Any] | None) -> dict[str, Any]:
        """Memory around ``address``; the argument that points there (its bytes) and what the
        latest call wrote are marked."""
        focus = None
        written: list[int] = []
        for a in card["args"] if card is not None else ():
            if a["pointer"] is not None and int(a["pointer"], 16) == address:
                focus = (address, a["size"] or 1)
        if card is not None and card["phase"] in ("return", "earlier"):
            for c in card["changes"]:
                base = int(c["address"], 16)
                written += [base + i for i in c["positions"]]
        return memory_view(self.sb.debugger, address, focus=focus, changed=written)

    def _status(self, pc: int) -> dict[str, Any]:
        m = self.machine
        event = self.last_event
        ex = m.exit
        out: dict[str, Any] = {
            "pc": f"{pc:#x}", "where": self.sb.debugger.describe(pc), "ended": ex is not None,
            "reason": event.reason if event is not None else "start",
            "reverse": bool(event and event.reverse), "syscalls": _logged(m), "action": self.last_action,
        }
        if ex is not None:
            out["exit_status"] = ex.wait_status
            out["signal"] = signal_name(ex.signal) if ex.signal else None
            out["text"] = (f"killed by {signal_name(ex.signal)}: {m.fault.line() if m.fault else ex.reason}"
                           if ex.signal else f"exited with status {ex.wait_status}")
        elif event is None:
            out["text"] = "stopped at the first instruction"
        elif event.reason == "breakpoint" and event.breakpoint is not None:
            out["text"] = f"breakpoint at {event.pc:#x}"
        elif event.reason == "syscall-entry" and event.syscall is not None:
            out["text"] = f"entering system call {event.syscall.name}"
        elif event.reason == "history-start":
            out["text"] = "at the start of the recorded history"
        elif event.reason == "interrupted":
            out["text"] = "paused"
        elif self.last_action == "syscall" and self.log_mark < _logged(m):
            out["text"] = f"returned from system call {m.log[-1][2]}"
        else:
            out["text"] = ("stepped back" if event.reverse else "stepped") + f" to {pc:#x}"
        if self.paused and ex is None and event is not None and event.reason != "interrupted":
            out["text"] = "paused, " + out["text"]
        return out

    def _card(self) -> dict[str, Any] | None:
        m = self.machine
        dbg = self.sb.debugger
        arch = self.arch
        req = dbg.pending_syscall() if m.exit is None else None
        if req is not None:
            proto = prototype(req.name, arch.name)
            values = proto.decode(req.args, calling_convention(arch))
            captured = Capture(kernel_arch(arch), m.memory, STRING_LIMIT).at_entry(proto, values)
            return call_card(arch, phase="entry" if m.pending is not None else "trap", nr=req.nr, name=req.name,
                             args=req.args, pc=req.pc, captured=captured, extents=_extents(arch, req.name, req.args))
        if not m.log:
            return None
        index = _logged(m) - 1
        record = self._records(index, index + 1)[0]
        fresh = index >= self.log_mark and self.last_action not in ("start", "reverse-step", "reverse-syscall")
        return call_card(arch, phase="return" if fresh else "earlier", nr=record.nr, name=record.name,
                         args=record.args, pc=record.pc, captured=record.captured, ret=record.ret,
                         errno=record.errno, note=record.note, changes=self.observer.changes.get(index), index=index,
                         extents=_extents(arch, record.name, record.args))

    def _records(self, start: int, stop: int) -> list:
        """The records of the calls numbered ``start`` to ``stop`` in the whole run (the log
        keeps the latest ones: its ``base`` counts those it dropped)."""
        log = self.machine.log
        base = log.base
        captured = log.captured
        return build_records(self.arch, log[start - base : stop - base],
                             {i - start: captured.get(i) for i in range(start, stop)})

    def _trace(self) -> dict[str, Any]:
        m = self.machine
        total = _logged(m)
        start = max(total - TRACE_TAIL, m.log.base)
        fmt = StraceFormat(self.arch.name, self.arch.bits)
        lines = []
        log = m.log
        missing = [i for i in range(start, total) if self._lines.get(i, ((), ""))[0] != _key(log[i - log.base])]
        if missing:
            first = missing[0]
            for offset, record in enumerate(self._records(first, total)):
                i = first + offset
                self._lines[i] = (_key(log[i - log.base]), fmt.line(record))
        for i in list(self._lines):
            if i < start or i >= total:
                del self._lines[i]
        lines = [self._lines[i][1] for i in range(start, total)]
        ending = None
        if m.exit is not None:
            sig = signal_name(m.exit.signal) if m.exit.signal else None
            ending = fmt.finish(m.exit.wait_status, sig, signal_info(m, sig, m.fault)).rstrip("\n")
        return {"total": total, "start": start, "lines": lines, "ending": ending}


def _extents(arch: Arch, name: str, args: tuple[int, ...]) -> dict[str, int]:
    return {param: size for param, _, size, _ in pointed_ranges(arch, name, args)}


def _key(entry: tuple) -> tuple:
    """What identifies a log entry's line: its pc, number, arguments and result."""
    return entry[:6]


def _tail(buffer: bytearray) -> dict[str, Any]:
    data = bytes(buffer[-OUTPUT_TAIL:])
    return {"text": data.decode("utf-8", "replace"), "total": len(buffer)}


class Session:
    """What one page drives: one program, or two side by side (``--compare``)."""

    def __init__(self, views: list[ProgramView]) -> None:
        if not 1 <= len(views) <= 2:
            raise SandboxError("a session shows one program, or two to compare")
        self.views = views
        self.running = False
        self.started = 0.0

    @property
    def compare(self) -> bool:
        """Whether two programs are shown side by side."""
        return len(self.views) == 2

    def perform(self, action: str) -> None:
        """Apply a control to every program (each stops where the control takes it)."""
        self.running = True
        self.started = time.monotonic()
        try:
            for view in self.views:
                view.perform(action)
        finally:
            self.running = False

    def pause(self) -> None:
        """Stop whatever is running."""
        for view in self.views:
            view.pause()

    def progress(self) -> dict[str, Any]:
        """How far a running control has gone: the system calls made by each program."""
        return {"type": "progress", "syscalls": [v.syscall_count() for v in self.views],
                "seconds": round(time.monotonic() - self.started, 2)}

    def state(self, memory_at: list[int | None] | None = None) -> dict[str, Any]:
        """The page's whole state: each program's, and the comparison of their calls."""
        wanted = memory_at or [None] * len(self.views)
        panes = [v.state(wanted[i] if i < len(wanted) else None) for i, v in enumerate(self.views)]
        out: dict[str, Any] = {"type": "state", "compare": self.compare, "panes": panes}
        if self.compare:
            out["diff"] = compare_cards(panes[0]["card"], panes[1]["card"])
        return out

    def run_with_progress(self, action: str, report: Callable[[dict[str, Any]], None], every: float = 0.25) -> None:
        """Apply ``action`` in this thread while another reports :meth:`progress` every
        ``every`` seconds (for callers that are not the server)."""
        done = threading.Event()

        def tick() -> None:
            while not done.wait(every):
                report(self.progress())

        t = threading.Thread(target=tick, daemon=True)
        t.start()
        try:
            self.perform(action)
        finally:
            done.set()
            t.join()


def compare_cards(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any]:
    """The two programs' current calls row by row: the call, its number and register, each
    argument (by parameter name) with its register and value, and the result. A row whose
    two sides differ is marked, and so is each differing part (number, register, value)."""
    if a is None or b is None:
        return {"rows": [], "same_call": a is None and b is None}
    rows = [
        _row("system call", a["name"], b["name"]),
        _row("number", a["number_line"], b["number_line"], number=(a["nr"] != b["nr"])),
        _row("trap", a["trap"], b["trap"]),
    ]
    b_args = {r["name"]: r for r in b["args"]}
    names = [r["name"] for r in a["args"]] + [r["name"] for r in b["args"] if r["name"] not in {x["name"] for x in a["args"]}]
    a_args = {r["name"]: r for r in a["args"]}
    for name in names:
        ra, rb = a_args.get(name), b_args.get(name)
        left = f"{ra['reg']} = {ra['text']}" if ra else "-"
        right = f"{rb['reg']} = {rb['text']}" if rb else "-"
        row = _row(name, left, right)
        row["register_differs"] = bool(ra and rb and ra["reg"] != rb["reg"])
        row["value_differs"] = bool(ra and rb and ra["text"] != rb["text"]) or (ra is None) != (rb is None)
        row["differs"] = row["register_differs"] or row["value_differs"]
        rows.append(row)
    ra_res, rb_res = a.get("result"), b.get("result")
    left = f"{ra_res['reg']} = {ra_res['text']}" if ra_res else "(not yet)"
    right = f"{rb_res['reg']} = {rb_res['text']}" if rb_res else "(not yet)"
    res = _row("result", left, right)
    res["register_differs"] = a["ret_reg"] != b["ret_reg"]
    res["value_differs"] = (ra_res or {}).get("text") != (rb_res or {}).get("text")
    res["differs"] = res["register_differs"] or res["value_differs"]
    rows.append(res)
    return {"rows": rows, "same_call": a["name"] == b["name"]}


def _row(what: str, left: str, right: str, *, number: bool = False) -> dict[str, Any]:
    return {"what": what, "a": left, "b": right, "differs": left != right, "number_differs": number,
            "register_differs": False, "value_differs": left != right}


def _logged(machine: Machine) -> int:
    """How many calls the machine has logged since it started (the dropped ones too)."""
    log = machine.log
    return log.total if log is not None else 0
