"""A gdb remote serial protocol server for one guest process, on loopback.

``gdb-multiarch`` attaches with ``target remote :PORT``. The stub describes the arch with
target description XML (from the arch's :class:`~sandbox.arch.gdb.GdbTarget`), including
what gdb needs before it offers ``catch syscall``: Linux as the OS ABI and, on x86_64, the
``org.gnu.gdb.i386.linux`` feature with ``orig_rax``. It serves registers (``g G p P``),
memory (``m M X``), breakpoints (``Z0/Z1``), watchpoints (``Z2 Z3 Z4``), stepping and
continuing (``s c vCont``), syscall catchpoints (``QCatchSyscalls``, with ``syscall_entry`` /
``syscall_return`` stops), reverse execution (``bs bc``), ``monitor`` commands (``qRcmd``),
the program file (``qXfer:exec-file``, ``vFile``: for an assembly file, an ELF made with its
labels as symbols), kill and detach, and reports the guest's exit (``W``/``X``).

Threads and processes: every live task is a thread, named ``p<pid>.<tid>`` when gdb says
``multiprocess+`` (so gdb shows one inferior per process) and ``<tid>`` otherwise
(``qfThreadInfo``, ``qThreadExtraInfo``, ``qC``, ``T``, ``thread:`` in stop replies). ``Hg``
selects the task registers and memory are read from (and breakpoints go to, per process),
``Hc`` and ``vCont;s:<id>`` the one a step is of (while it waits in a call the others run;
a continue runs all of them). Where gdb offers them, forks, vforks and execs are stop events
(``fork:``, ``vfork:`` with ``vforkdone``, ``exec:``), ``D;<pid>`` detaches one process (it
runs on, and nothing of its stops), and the end of a process other than the first is
``W..;process:<pid>``. Everything is in all-stop mode.
"""

from __future__ import annotations

import select
import socket
import struct
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, TextIO

from sandbox.arch.gdb import GdbRegister
from sandbox.debug.history import HistoryError
from sandbox.debug.points import StopEvent
from sandbox.debug.session import Debugger
from sandbox.debug.views import card_lines, fd_lines, map_lines, syscall_lines, task_state, where_line
from sandbox.errors import SandboxError

if TYPE_CHECKING:
    from kernel_model.tasks import Task

_EFAULT = "E0e"
_EINVAL = "E16"
_ENOENT = 2
_EBADF = 9
MONITOR_HELP = """\
monitor fds            the guest's open file descriptors (with offsets)
monitor maps           the guest's memory map, as /proc/self/maps
monitor syscalls [N]   the system calls made so far (the last N)
monitor card           the register card of the system call at hand
monitor where          pc, symbol, last system call
"""


class ProtocolError(SandboxError):
    """The peer broke the protocol (or went away)."""


def checksum(data: bytes) -> int:
    """The packet checksum: the sum of the bytes modulo 256."""
    return sum(data) & 0xFF


def escape(data: bytes) -> bytes:
    """Binary data as a packet carries it (``#$}*`` escaped with ``}``)."""
    out = bytearray()
    for b in data:
        if b in b"#$}*":
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def unescape(data: bytes) -> bytes:
    """The binary data of an ``X`` packet."""
    out = bytearray()
    it = iter(data)
    for b in it:
        out.append(next(it) ^ 0x20 if b == 0x7D else b)
    return bytes(out)


class Connection:
    """Packets over a socket: framing, checksums, acknowledgements, and ^C."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.acks = True
        self._buf = bytearray()

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self._buf += chunk
        return True

    def read_packet(self) -> bytes | None:
        """The next packet's data, ``b"\\x03"`` for an interrupt, or None when gdb went away."""
        while True:
            while not self._buf:
                if not self._fill():
                    return None
            first = self._buf[0]
            if first in b"+-":
                del self._buf[0]
                continue
            if first == 3:
                del self._buf[0]
                return b"\x03"
            if first != ord("$"):
                del self._buf[0]  # noise between packets
                continue
            end = self._buf.find(b"#")
            while end < 0 or len(self._buf) < end + 3:
                if not self._fill():
                    return None
                end = self._buf.find(b"#")
            data = bytes(self._buf[1:end])
            sent = self._buf[end + 1 : end + 3]
            del self._buf[: end + 3]
            if self.acks:
                ok = int(sent, 16) == checksum(data) if all(c in b"0123456789abcdefABCDEF" for c in sent) else False
                self.sock.sendall(b"+" if ok else b"-")
                if not ok:
                    continue
            return data

    def send(self, data: bytes | str) -> None:
        """Send one packet (and, in ack mode, wait for gdb's ``+``)."""
        payload = data.encode("latin-1") if isinstance(data, str) else data
        frame = b"$" + payload + b"#" + f"{checksum(payload):02x}".encode()
        for _ in range(10):
            self.sock.sendall(frame)
            if not self.acks:
                return
            while True:
                if not self._buf and not self._fill():
                    raise ProtocolError("gdb closed the connection")
                ack = self._buf[0]
                if ack in b"+-":
                    del self._buf[0]
                    break
                if ack == 3:
                    del self._buf[0]  # an interrupt while stopped means nothing
                    continue
                return  # gdb went on with a new packet: take the old one as received
            if ack == ord("+"):
                return
        raise ProtocolError("gdb keeps rejecting packets")


class _InterruptWatcher:
    """While the guest runs, a thread that turns gdb's ^C into a stop."""

    def __init__(self, conn: Connection, interrupt: Callable[[], None]) -> None:
        self._conn = conn
        self._interrupt = interrupt
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> "_InterruptWatcher":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _watch(self) -> None:
        sock = self._conn.sock
        while not self._done.is_set():
            readable, _, _ = select.select([sock], [], [], 0.05)
            if not readable:
                continue
            try:
                peek = sock.recv(1, socket.MSG_PEEK)
            except OSError:
                return
            if peek == b"\x03":
                sock.recv(1)
                self._interrupt()
            else:
                return  # not ours: the main loop reads it after the stop (or gdb left)


@dataclass
class ExecFile:
    """The program file gdb may read through the stub: its name and bytes."""

    name: str
    data: bytes


class GdbStub:
    """Serves one gdb connection for a debugged guest process."""

    def __init__(self, debugger: Debugger, exec_file: ExecFile | None = None, log: TextIO | None = None) -> None:
        self.dbg = debugger
        self.arch = debugger.arch
        if self.arch.gdb is None:
            raise SandboxError(f"the gdb stub does not describe {self.arch.name} registers yet")
        self.target = self.arch.gdb
        self.registers: tuple[GdbRegister, ...] = self.target.registers
        self.exec_file = exec_file
        self.log = log
        self.conn: Connection | None = None
        self.last_stop: StopEvent | None = None
        self.detached = False
        self.killed = False
        self._breakpoints: dict[tuple[str, int], int] = {}  # (kind, address) -> debugger number
        self._watchpoints: dict[tuple[str, int, int, int | None], int] = {}  # (kind, address, length, pid) -> number
        self._catch: int | None = None
        self._files: dict[int, bytes] = {}
        self.multiprocess = False  # gdb said multiprocess+: thread ids name their process
        self._step_tid: int | None = None  # Hc: the task `s` steps (None: the selected one)
        self._known: set[int] = set()  # the pids gdb was told of and not yet told the end of
        self._xml = self._target_xml().encode()

    # -- serving ---------------------------------------------------------------------------

    def serve(self, sock: socket.socket) -> None:
        """Answer packets on an accepted connection until gdb kills, detaches or leaves."""
        self.conn = Connection(sock)
        while True:
            packet = self.conn.read_packet()
            if packet is None:
                return
            if packet == b"\x03":
                continue  # stopped already
            reply = self.handle(packet)
            if reply is not None:
                self.conn.send(reply)
            if self.killed or self.detached:
                return

    def handle(self, packet: bytes) -> bytes | str | None:
        """The reply to one packet (None: send nothing)."""
        text = packet.decode("latin-1")
        if self.log is not None:
            self.log.write(f"gdb> {text[:200]}\n")
        try:
            reply = self._dispatch(text, packet)
            if self.log is not None and reply is not None:
                shown = reply if isinstance(reply, str) else reply.decode("latin-1")
                self.log.write(f"  -> {shown[:120]}\n")
            return reply
        except (SandboxError, ValueError, IndexError, KeyError) as e:
            if self.log is not None:
                self.log.write(f"     error: {e}\n")
            return _EINVAL
        except ProtocolError:
            raise
        except Exception as e:  # noqa: BLE001 - a bug: say it in one line, keep gdb's session
            print(f"sandbox: internal error answering {text[:40]!r}: {type(e).__name__}: {e}", file=sys.stderr)
            return "E01"

    def _dispatch(self, text: str, packet: bytes) -> bytes | str | None:
        head = text[:1]
        if text == "?":
            return self._stop_reply(self.last_stop)
        if text.startswith("qSupported"):
            return self._supported(text[len("qSupported:"):].split(";"))
        if text == "QStartNoAckMode":
            assert self.conn is not None
            self.conn.send("OK")
            self.conn.acks = False
            return None
        if text.startswith("qXfer:features:read:"):
            annex, _, span = text[len("qXfer:features:read:"):].partition(":")
            if annex != "target.xml":
                return "E00"
            return self._xfer(self._xml, span)
        if text.startswith("qXfer:exec-file:read:"):
            annex, _, span = text[len("qXfer:exec-file:read:"):].partition(":")
            name = self._program_name(int(annex, 16) if annex else None)
            if name is None:
                return "E00"
            return self._xfer(name.encode(), span)
        if text.startswith("vFile:"):
            return self._vfile(text[6:], packet)
        if text == "qfThreadInfo":
            tasks = self.dbg.tasks()
            self._known.update(t.process.pid for t in tasks)
            return "m" + ",".join(self._thread_id(t) for t in tasks) if tasks else "l"
        if text == "qsThreadInfo":
            return "l"
        if text.startswith("qThreadExtraInfo,"):
            task = self._task(text[len("qThreadExtraInfo,"):])
            if task is None:
                return "E01"
            return task_state(self.dbg, task).encode().hex()
        if text == "qC":
            return "QC" + self._thread_id(self.dbg.task)
        if text.startswith("qAttached"):
            return "1"
        if head == "H" and len(text) > 1:
            return self._select(text[1], text[2:])
        if head == "T":
            task = self._task(text[1:])
            return "OK" if task is not None else "E01"
        if text.startswith("qSymbol"):
            return "OK"
        if text == "vCont?":
            return "vCont;c;C;s;S"
        if text.startswith("vCont;"):
            return self._vcont(text[6:])
        if text.startswith("vKill"):
            return self._kill(text[len("vKill;"):])
        if text == "k":
            self.killed = True
            return None
        if head == "D":
            return self._detach(text[2:] if text.startswith("D;") else "")
        if text.startswith("qRcmd,"):
            return self._monitor(bytes.fromhex(text[6:]).decode("utf-8", "replace"))
        if text.startswith("QCatchSyscalls:"):
            return self._catch_syscalls(text[len("QCatchSyscalls:"):])
        if text in ("QDisableRandomization:1", "QDisableRandomization:0") or text.startswith("QPassSignals") \
                or text.startswith("QProgramSignals"):
            return "OK"
        if head == "g":
            return "".join(self._read_register(r).hex() for r in self.registers)
        if head == "G":
            return self._write_all(bytes.fromhex(text[1:]))
        if head == "p":
            return self._read_register(self.registers[int(text[1:], 16)]).hex()
        if head == "P":
            number, _, value = text[1:].partition("=")
            self._write_register(self.registers[int(number, 16)], bytes.fromhex(value))
            return "OK"
        if head == "m":
            address, length = (int(x, 16) for x in text[1:].split(","))
            try:
                return self.dbg.read_memory(address, length).hex()
            except SandboxError:
                return _EFAULT
        if head == "M":
            where, _, data = text[1:].partition(":")
            address = int(where.split(",")[0], 16)
            return self._write_memory(address, bytes.fromhex(data))
        if head == "X":
            colon = packet.index(b":")
            address = int(packet[1:colon].split(b",")[0], 16)
            return self._write_memory(address, unescape(packet[colon + 1:]))
        if head in ("Z", "z"):
            return self._point(text)
        if head in ("c", "C"):
            return self._resume("c")
        if head in ("s", "S"):
            step = self.dbg.first.kernel.processes.tasks.get(self._step_tid) if self._step_tid is not None else None
            return self._resume("s", step)
        if text in ("bs", "bc"):
            return self._reverse(text)
        return ""  # not supported: the empty reply tells gdb so

    # -- target description and files ------------------------------------------------------

    def _target_xml(self) -> str:
        parts = ['<?xml version="1.0"?>', '<!DOCTYPE target SYSTEM "gdb-target.dtd">', "<target>",
                 f"<architecture>{self.target.architecture}</architecture>",
                 f"<osabi>{self.target.osabi}</osabi>"]
        number = 0
        for feature in self.target.features:
            parts.append(f'<feature name="{feature.name}">{feature.types}')
            for reg in feature.registers:
                group = f' group="{reg.group}"' if reg.group else ""
                parts.append(f'<reg name="{reg.name}" bitsize="{reg.bits}" type="{reg.type}" regnum="{number}"{group}/>')
                number += 1
            parts.append("</feature>")
        parts.append("</target>")
        return "\n".join(parts)

    @staticmethod
    def _xfer(data: bytes, span: str) -> bytes:
        offset, length = (int(x, 16) for x in span.split(","))
        chunk = data[offset : offset + length]
        return (b"l" if offset + length >= len(data) else b"m") + escape(chunk)

    def _vfile(self, text: str, packet: bytes) -> bytes | str:
        op, _, args = text.partition(":")
        if op == "setfs":
            return "F0"
        if op == "open":
            name = bytes.fromhex(args.split(",")[0]).decode("utf-8", "replace")
            data = self._program_data(name)
            if data is None:
                return f"F-1,{_ENOENT:x}"
            fd = max(self._files, default=2) + 1
            self._files[fd] = data
            return f"F{fd:x}"
        if op == "pread":
            fd, count, offset = (int(x, 16) for x in args.split(","))
            data = self._files.get(fd)
            if data is None:
                return f"F-1,{_EBADF:x}"
            chunk = data[offset : offset + count]
            return f"F{len(chunk):x};".encode() + escape(chunk)
        if op == "close":
            return "F0" if self._files.pop(int(args, 16), None) is not None else f"F-1,{_EBADF:x}"
        if op == "fstat":
            data = self._files.get(int(args, 16))
            if data is None:
                return f"F-1,{_EBADF:x}"
            # gdb's File-I/O struct stat: big-endian, fixed sizes
            st = struct.pack(">IIIIIIIQQQIII", 0, 0, 0o100755, 1, 0, 0, 0, len(data), 4096,
                             (len(data) + 511) // 512, 0, 0, 0)
            return f"F{len(st):x};".encode() + escape(st)
        return ""

    def _program_name(self, pid: int | None) -> str | None:
        """The program file of a process (the first one's by default), as gdb opens it."""
        processes = self.dbg.first.kernel.processes
        proc = processes.processes.get(pid if pid is not None else processes.first_pid)
        if proc is None:
            return None
        if (proc.pid == processes.first_pid and not proc.execed) or proc.executable is None:
            return self.exec_file.name if self.exec_file is not None else None
        return proc.executable.path

    def _program_data(self, name: str) -> bytes | None:
        """The bytes of a program file gdb asks for: the first program's, or one a process exec'd."""
        if self.exec_file is not None and name == self.exec_file.name:
            return self.exec_file.data
        for proc in self.dbg.first.kernel.processes.processes.values():
            exe = proc.executable
            if exe is not None and exe.path == name and proc.execed:
                handle = exe.open()
                size = exe.stat().size
                return handle.pread(size, 0)
        return None

    # -- threads ---------------------------------------------------------------------------

    def _supported(self, features: list[str]) -> str:
        """qSupported: what gdb offers decides thread ids and the fork, vfork and exec events."""
        offered = {f[:-1] for f in features if f.endswith("+")}
        dbg = self.dbg
        self.multiprocess = "multiprocess" in offered
        events = []
        if self.multiprocess:
            dbg.stop_events.add("process-exit")
            for feature, event in (("fork-events", "fork"), ("vfork-events", "vfork"), ("exec-events", "exec")):
                if feature in offered:
                    dbg.stop_events.add(event)
                    events.append(f"{feature}+;")
        dbg._sync_predicates()
        reverse = "ReverseStep+;ReverseContinue+;" if dbg.history is not None else ""
        multi = "multiprocess+;" if self.multiprocess else ""
        return ("PacketSize=20000;qXfer:features:read+;qXfer:exec-file:read+;QStartNoAckMode+;"
                f"QCatchSyscalls+;{reverse}{multi}{''.join(events)}swbreak+;hwbreak+;vContSupported+")

    def _thread_id(self, task: "Task") -> str:
        """How the protocol names a task: ``p<pid>.<tid>`` (multiprocess) or ``<tid>``, in hex."""
        if self.multiprocess:
            return f"p{task.process.pid:x}.{task.tid:x}"
        return f"{task.tid:x}"

    def _event_thread(self, event: StopEvent | None) -> str:
        if event is not None and event.pid is not None and event.tid is not None:
            return f"p{event.pid:x}.{event.tid:x}" if self.multiprocess else f"{event.tid:x}"
        return self._thread_id(self.dbg.task)

    @staticmethod
    def _parse_id(text: str) -> tuple[int | None, int | None]:
        """``p<pid>.<tid>``, ``p<pid>``, ``<tid>``, ``-1`` (all), ``0`` (any): (pid, tid)."""
        def number(t: str) -> int:
            return -1 if t == "-1" else int(t, 16)

        if text.startswith("p"):
            pid, _, tid = text[1:].partition(".")
            return number(pid), (number(tid) if tid else None)
        return None, number(text) if text else None

    def _task(self, text: str) -> "Task | None":
        """The visible task a thread id names (for ``any``: the selected one, or its process's main thread)."""
        pid, tid = self._parse_id(text)
        tasks = self.dbg.tasks()
        if pid not in (None, 0, -1):
            tasks = [t for t in tasks if t.process.pid == pid]
        if tid in (None, 0, -1):
            if not tasks:
                return None
            current = self.dbg.task
            if current in tasks:
                return current
            main = [t for t in tasks if t.tid == t.process.pid]
            return main[0] if main else tasks[0]
        return next((t for t in tasks if t.tid == tid), None)

    def _select(self, kind: str, text: str) -> str:
        """``Hg``: the task registers, memory and breakpoints are of; ``Hc``: the one ``s`` steps."""
        task = self._task(text)
        if task is None:
            return "E01"
        if kind == "g":
            self.dbg.select(task)
        elif kind == "c":
            _, tid = self._parse_id(text)
            self._step_tid = None if tid in (None, 0, -1) else task.tid
        return "OK"

    def _kill(self, spec: str) -> str:
        """vKill: the first process's kill ends the run; another process gets SIGKILL."""
        dbg = self.dbg
        first_pid = dbg.first.kernel.processes.first_pid
        pid = int(spec, 16) if spec else first_pid
        if pid == first_pid or dbg.first.exit is not None:
            self.killed = True
            return "OK"
        dbg.kill_process(pid)
        if not dbg.tasks():
            self.killed = True
        return "OK"

    def _detach(self, spec: str) -> str:
        """D: detach from everything (the program runs on); D;<pid>: from one process only."""
        dbg = self.dbg
        if not spec or dbg.first.exit is not None:
            self.detached = True
            return "OK"
        pid = int(spec, 16)
        dbg.detach_process(pid)
        self._known.discard(pid)
        if not dbg.tasks():
            self.detached = True  # nothing left to debug: the program runs on
        return "OK"

    # -- registers and memory --------------------------------------------------------------

    def _read_register(self, reg: GdbRegister) -> bytes:
        size = reg.bits // 8
        order = "big" if self.arch.big_endian else "little"
        if reg.role == "syscall":
            value = self._syscall_number()
        elif reg.source is None:
            value = 0
        else:
            value = self.dbg.reg(reg.source)
        return (value & ((1 << reg.bits) - 1)).to_bytes(size, order)

    def _syscall_number(self) -> int:
        stop = self.last_stop
        task = self.dbg.task
        of_task = stop is not None and (stop.tid is None or stop.tid == task.tid)
        if of_task and stop.reason in ("syscall-entry", "syscall-return") and stop.syscall is not None:  # type: ignore[union-attr]
            return stop.syscall.nr  # type: ignore[union-attr]
        pending = self.dbg.task_call(task)
        if pending is not None and not of_task:
            return pending.nr  # a task that waits in a call
        return -1

    def _write_register(self, reg: GdbRegister, data: bytes) -> None:
        if reg.source is None:
            return  # orig_rax and the like: gdb writes -1 there when it moves the pc
        value = int.from_bytes(data, "big" if self.arch.big_endian else "little")
        if reg.bits < self.arch.bits and reg.bits <= 32:
            current = self.dbg.reg(reg.source)
            value |= current & ~((1 << reg.bits) - 1) & self.arch.word_mask
        self.dbg.set_reg(reg.source, value)

    def _write_all(self, data: bytes) -> str:
        pos = 0
        for reg in self.registers:
            size = reg.bits // 8
            if pos + size > len(data):
                break
            self._write_register(reg, data[pos : pos + size])
            pos += size
        return "OK"

    def _write_memory(self, address: int, data: bytes) -> str:
        try:
            if self.dbg.read_memory(address, len(data)) != data:
                self.dbg.write_memory(address, data)
        except SandboxError:
            return _EFAULT
        return "OK"

    # -- breakpoints, watchpoints, catchpoints ---------------------------------------------

    def _point(self, text: str) -> str:
        insert = text[0] == "Z"
        kind, address_text, length_text = text[1:].split(",")[:3]
        address = int(address_text, 16)
        length = int(length_text.split(";")[0], 16)
        dbg = self.dbg
        # with several processes a breakpoint is in the memory of the selected one (as
        # gdbserver's): a fork's child gets copies, an exec loses them
        pid = dbg.task.process.pid if self.multiprocess else None
        if kind in ("0", "1"):
            key = ("hw" if kind == "1" else "sw", address)
            number = self._breakpoints.get(key)
            bp = dbg.breakpoints.get(number) if number is not None else None
            if insert:
                if bp is None:
                    self._breakpoints[key] = dbg.break_at(address, processes=None if pid is None else {pid}).number
                elif bp.processes is not None and pid is not None:
                    bp.processes.add(pid)
            elif bp is not None:
                if bp.processes is not None and pid is not None:
                    bp.processes.discard(pid)
                if bp.processes is None or not bp.processes:
                    dbg.delete(self._breakpoints.pop(key))
            return "OK"
        if kind in ("2", "3", "4"):
            watch_kind = {"2": "write", "3": "read", "4": "access"}[kind]
            wkey = (watch_kind, address, length, pid)
            if insert:
                if wkey not in self._watchpoints:
                    self._watchpoints[wkey] = dbg.watch(address, length, watch_kind).number
            elif wkey in self._watchpoints:
                dbg.delete(self._watchpoints.pop(wkey))
            return "OK"
        return ""

    def _catch_syscalls(self, spec: str) -> str:
        if self._catch is not None:
            self.dbg.delete(self._catch)
            self._catch = None
        if spec.startswith("0"):
            return "OK"
        numbers = [int(n, 16) for n in spec.split(";")[1:] if n]
        self._catch = self.dbg.catch_syscall(*numbers).number
        return "OK"

    # -- running ---------------------------------------------------------------------------

    def _vcont(self, actions: str) -> bytes | str | None:
        step: "Task | None" = None
        cont = False
        for action in actions.split(";"):
            verb, _, thread = action.partition(":")
            task = self._task(thread) if thread else self.dbg.task
            if task is None:
                continue  # a thread that is gone (or detached)
            if verb[:1] in ("s", "S"):
                step = step or task
            elif verb[:1] in ("c", "C"):
                cont = True
        if step is not None:
            return self._resume("s", step)  # the others are held (they run while it waits)
        if cont:
            return self._resume("c")
        return "E01"

    def _resume(self, how: str, task: "Task | None" = None) -> str:
        dbg = self.dbg
        if dbg.first.exit is not None:
            return self._stop_reply(self.last_stop)
        assert self.conn is not None
        if task is not None:
            dbg.select(task)
        with _InterruptWatcher(self.conn, dbg.interrupt):
            event = dbg.step() if how == "s" else dbg.cont()
        self.last_stop = event
        return self._stop_reply(event)

    def _reverse(self, how: str) -> str:
        try:
            if how == "bs":
                event = self.dbg.reverse_step()
            else:
                event = self.dbg.reverse_continue(syscall_entries=None, syscall_returns=True)
        except HistoryError as e:
            if self.log is not None:
                self.log.write(f"     reverse: {e}\n")
            assert self.conn is not None
            self.conn.send("O" + f"sandbox: {e}\n".encode().hex())  # gdb shows why, then the error
            return "E01"
        self.last_stop = event
        return self._stop_reply(event)

    def _stop_reply(self, event: StopEvent | None) -> str:
        thread = f"thread:{self._event_thread(event)};"
        if event is None:
            return "T05" + thread
        first_pid = self.dbg.first.kernel.processes.first_pid
        process = f";process:{first_pid:x}" if self.multiprocess else ""
        if event.ended and self.multiprocess and first_pid in self.dbg.ignored:
            # gdb detached from the first process (it followed a child): the run's end is the
            # end of the processes it still debugs, killed with the rest
            others = sorted(self._known - {first_pid})
            if others:
                self._known.discard(others[0])
                return f"X09;process:{others[0]:x}"
        if event.reason == "exited":
            return f"W{(event.exit_status or 0) & 0xFF:02x}{process}"
        if event.reason == "signal":
            from kernel_model.signals import signal_number

            return f"X{signal_number(event.signal or 'SIGKILL'):02x}{process}"
        if event.reason == "process-exited" and event.ended_pid is not None:
            self._known.discard(event.ended_pid)
            which = f";process:{event.ended_pid:x}"
            if event.signal:
                from kernel_model.signals import signal_number

                return f"X{signal_number(event.signal):02x}{which}"
            return f"W{(event.exit_status or 0) & 0xFF:02x}{which}"
        if event.pid is not None:
            self._known.add(event.pid)
        if event.reason in ("fork", "vfork") and event.child is not None:
            pid, tid = event.child
            self._known.add(pid)
            child = f"p{pid:x}.{tid:x}" if self.multiprocess else f"{tid:x}"
            return f"T05{event.reason}:{child};" + thread
        if event.reason == "vforkdone":
            return "T05vforkdone:;" + thread
        if event.reason == "exec":
            return f"T05exec:{(event.path or '').encode().hex()};" + thread
        if event.reason == "breakpoint":
            hw = event.breakpoint is not None and ("hw", event.breakpoint.address) in self._breakpoints
            return "T05" + ("hwbreak:;" if hw else "swbreak:;") + thread
        if event.reason == "watchpoint" and event.watch is not None:
            wp = event.watch.watchpoint
            kind = {"write": "watch", "read": "rwatch", "access": "awatch"}[wp.kind]
            return f"T05{kind}:{wp.address:x};" + thread
        if event.reason == "syscall-entry" and event.syscall is not None:
            return f"T05syscall_entry:{event.syscall.nr:x};" + thread
        if event.reason == "syscall-return" and event.syscall is not None:
            return f"T05syscall_return:{event.syscall.nr:x};" + thread
        if event.reason == "interrupted":
            return "T02" + thread
        if event.reason == "history-start":
            return "T05replaylog:begin;" + thread
        return "T05" + thread

    # -- monitor ---------------------------------------------------------------------------

    def _monitor(self, command: str) -> str:
        words = command.split()
        what = words[0] if words else "help"
        if what == "fds":
            lines = fd_lines(self.dbg)
        elif what == "maps":
            lines = map_lines(self.dbg)
        elif what == "syscalls":
            last = int(words[1]) if len(words) > 1 and words[1].isdigit() else None
            lines = syscall_lines(self.dbg, last) or ["no system call made yet"]
        elif what == "card":
            lines = card_lines(self.dbg, self.last_stop) or ["not at a system call"]
        elif what == "where":
            lines = [where_line(self.dbg)]
        elif what == "help":
            lines = MONITOR_HELP.splitlines()
        else:
            lines = [f"unknown monitor command {what!r}; try: monitor help"]
        assert self.conn is not None
        self.conn.send("O" + ("\n".join(lines) + "\n").encode().hex())
        return "OK"


def listen(port: int, host: str = "127.0.0.1") -> socket.socket:
    """A listening socket on loopback (port 0 picks a free one)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind((host, port))
    except OSError as e:
        server.close()
        raise SandboxError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    server.listen(1)
    return server


def serve_once(server: socket.socket, stub: GdbStub, out: TextIO | None = None) -> None:
    """Accept one gdb, serve it, and close."""
    conn, _ = server.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        stub.serve(conn)
    except (ProtocolError, ConnectionError) as e:
        print(f"sandbox: gdb connection lost: {e}", file=out or sys.stderr)
    finally:
        conn.close()
        server.close()

