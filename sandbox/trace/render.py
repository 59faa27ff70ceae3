"""Arguments and results as strace writes them: ``"Hello\\n"...``, ``O_RDONLY|O_CLOEXEC``, ``{st_mode=...}``.

Each kind of argument (from the prototype table) has one way of being shown; nothing here
knows which call it is rendering, but for what strace decodes by hand: clone's named
arguments (:meth:`Renderer.named_parts`) and the restart code a wait shows when a signal's
handler ended it (:meth:`Renderer.restart_code`). The rules follow strace's own: strings are
escaped with ``\\n``/``\\t``/octal and cut at ``-s`` bytes with ``...`` after the closing quote, a NULL
pointer is ``NULL``, memory that could not be read (or that the call did not fill, because it
failed) is shown as its address, flags are joined with ``|`` with unnamed bits in hex.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from kernel_model.constants import value_names
from kernel_model.linux_errno import Errno
from kernel_model.prototypes import (
    IN,
    INOUT,
    OUT,
    Effective,
    Param,
    Prototype,
    dependent_return,
    effective,
    prototype,
)
from kernel_model.signals import SIGNAL_NAMES
from kernel_model.syscall_prototypes import DEPENDENT
from sandbox.arch import get_arch
from sandbox.records import SyscallRecord, calling_convention
from sandbox.trace.capture import FRAME_MASK, UNREADABLE, Buffer, CString, Dirents, IoVec, Struct

_ESCAPES = {ord('"'): '\\"', ord("\\"): "\\\\", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x0B: "\\v"}
_OCTAL_DIGITS = frozenset(b"01234567")


def quote(data: bytes, *, force_hex: bool = False) -> str:
    """``data`` between double quotes, escaped the way strace escapes it."""
    if force_hex:
        return '"' + "".join(f"\\x{b:02x}" for b in data) + '"'
    out = ['"']
    for i, b in enumerate(data):
        esc = _ESCAPES.get(b)
        if esc is not None:
            out.append(esc)
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        elif i + 1 < len(data) and data[i + 1] in _OCTAL_DIGITS:
            out.append(f"\\{b:03o}")  # a following octal digit would join a short escape
        else:
            out.append(f"\\{b:o}")
    out.append('"')
    return "".join(out)


def cstring(value: CString) -> str:
    """A C string, with ``...`` when it went on past what was read."""
    return quote(value.data) + ("" if value.complete else "...")


def buffer(value: Buffer, *, force_hex: bool = False) -> str:
    """A buffer's head, with ``...`` when it is longer than what was read."""
    return quote(value.data, force_hex=force_hex) + ("" if value.complete else "...")


def address(value: int) -> str:
    """A pointer: ``NULL`` or hex."""
    return "NULL" if value == 0 else f"{value:#x}"


def hexa(value: int) -> str:
    """C's ``%#x``: hex with ``0x``, except that zero is plain ``0``."""
    return f"{value:#x}" if value else "0"


def octal_mode(value: int) -> str:
    """A mode as strace prints it: ``0644``, ``022``, ``000``."""
    return ("0" + format(value, "o")).rjust(3, "0")


def symbolic_mode(mode: int, arch: str) -> str:
    """``S_IFREG|0644`` (with ``S_ISUID``/``S_ISGID``/``S_ISVTX`` named, as strace does)."""
    parts = []
    ftype = value_names("st_mode_type", arch).lookup(mode & 0o170000)
    if ftype is not None:
        parts.append(ftype)
    elif mode & 0o170000:
        parts.append(f"{mode & 0o170000:#o}")
    for bit, name in ((0o4000, "S_ISUID"), (0o2000, "S_ISGID"), (0o1000, "S_ISVTX")):
        if mode & bit:
            parts.append(name)
    parts.append(octal_mode(mode & 0o777))
    return "|".join(parts)


def makedev(dev: int) -> str:
    """A ``dev_t`` as ``makedev(0x1, 0x3)`` (Linux's encoding of major and minor)."""
    major = ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~0xFFF)
    minor = (dev & 0xFF) | ((dev >> 12) & ~0xFF)
    return f"makedev({major:#x}, {minor:#x})" if major else f"makedev(0, {minor:#x})" if minor else "makedev(0, 0)"


def signal_name(number: int) -> str:
    """``SIGINT``; realtime signals as strace names them."""
    if number in SIGNAL_NAMES:
        return SIGNAL_NAMES[number]
    if number == 32:
        return "SIGRTMIN"
    if 32 < number <= 64:
        return f"SIGRT_{number - 32}"
    return str(number)


def sigset(signals: list[int], size_bits: int = 64) -> str:
    """A signal set: ``[INT TERM]``, or ``~[...]`` listing the few missing when most are set."""
    names = lambda nums: " ".join(signal_name(n).removeprefix("SIG") for n in nums)  # noqa: E731
    if len(signals) > size_bits // 2:
        missing = [n for n in range(1, size_bits + 1) if n not in signals]
        return f"~[{names(missing)}]"
    return f"[{names(signals)}]"


def iso_time(seconds: int, fraction: int = 0, digits: int = 0) -> str:
    """A time as strace adds it in a comment: ``2026-11-21T07:17:11+0000`` (local time), with
    ``.000000005`` when a nonzero fraction of ``digits`` digits is given."""
    try:
        t = time.localtime(seconds)
    except (OverflowError, OSError, ValueError):
        return str(seconds)
    frac = f".{fraction:0{digits}d}" if fraction and digits else ""
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + frac + time.strftime("%z", t)


def _rlim(value: int, bits: int) -> str:
    if value == (1 << bits) - 1 or value == (1 << 64) - 1:
        return "RLIM64_INFINITY" if bits == 64 or value == (1 << 64) - 1 else "RLIM_INFINITY"
    if value > 1024 and value % 1024 == 0:
        return f"{value // 1024}*1024"
    return str(value)


def _timeish(prefix: str, fields: dict[str, Any], second: str) -> str:
    return f"{{tv_sec={fields[prefix + 'tv_sec']}, {second}={fields[prefix + second]}}}"


class Renderer:
    """Shows the arguments and the result of calls on one arch, like strace."""

    def __init__(self, arch: str, bits: int = 64) -> None:
        self.arch = arch
        self.bits = bits
        # The last call looked at, and its prototype, values and shown arguments: a live trace
        # renders each call in two parts, and a record's parts ask for these several times.
        self._last_call: tuple[str, str, tuple[int, ...]] | None = None
        self._last_view: tuple[Prototype, dict[str, int], list[tuple[Param, Effective]]] | None = None

    def _view(self, record: SyscallRecord) -> tuple[Prototype, dict[str, int], list[tuple[Param, Effective]]]:
        key = (record.name, record.arch, record.args)
        if key != self._last_call or self._last_view is None:
            proto = prototype(record.name, record.arch)
            values = self.values(record, proto)
            shown = []
            for p in proto.params:
                eff = effective(p, values, self.arch, record.name)
                if eff is not None:
                    shown.append((p, eff))
            self._last_call, self._last_view = key, (proto, values, shown)
        return self._last_view

    # -- a whole call -----------------------------------------------------------------------

    def args(self, record: SyscallRecord, *, entry_only: bool = False, start: int = 0) -> list[str]:
        """Each shown argument of ``record`` from the ``start``-th on; with ``entry_only``, those
        strace prints at entry (everything before the first argument that the call fills in)."""
        proto, values, shown = self._view(record)
        if entry_only:
            shown = shown[:self.entry_count(shown)]
        if not proto.params and record.captured and FRAME_MASK in record.captured:
            return [f"{{mask={sigset(record.captured[FRAME_MASK])}}}"][start:]  # rt_sigreturn's frame
        return [self.arg(p, eff, values[p.name], record) for p, eff in shown[start:]]

    def shown(self, record: SyscallRecord) -> list[tuple[Param, Effective]]:
        """The arguments strace shows for this call, with how each is treated."""
        return list(self._view(record)[2])

    def shown_count(self, record: SyscallRecord) -> int:
        """How many arguments strace shows for this call."""
        return len(self._view(record)[2])

    @staticmethod
    def entry_count(shown: list[tuple[Param, Effective]]) -> int:
        """How many of the shown arguments are printed at entry: those before the first output."""
        for i, (_, eff) in enumerate(shown):
            if eff.direction in (OUT, INOUT):
                return i
        return len(shown)

    def values(self, record: SyscallRecord, proto: Prototype) -> dict[str, int]:
        """The decoded values of the record's arguments, by the prototype's names."""
        if all(p.name in record.decoded for p in proto.params):
            return dict(record.decoded)
        return proto.decode(record.args, calling_convention(get_arch(record.arch)))

    def result(self, record: SyscallRecord) -> str:
        """What follows ``= ``: the value, ``-1 EBADF (Bad file descriptor)``, or ``?``.

        A call a signal's handler ended shows what the kernel returned before the signal was
        delivered, as strace does: ``? ERESTARTNOHAND (To be restarted if no handler)`` for
        pause (the guest sees EINTR, which the JSON record keeps).
        """
        if record.ret is None:
            if record.note and record.note.startswith(_RESTARTED_NOTE):
                return _restart_text("ERESTARTSYS")  # made again after the handler (SA_RESTART)
            return "?"
        if record.errno == "EINTR":
            code = self.restart_code(record)
            if code is not None:
                return _restart_text(code)
        if record.errno is not None:
            text = f"-1 {record.errno} ({Errno[record.errno].message})"
            if not record.implemented:
                text += " (unimplemented)"
            elif record.note:
                text += f" ({record.note})"
            return text
        proto = self._view(record)[0]
        if proto.ret_kind in _PLAIN_RETURNS and record.name not in DEPENDENT:
            text = str(record.ret)  # most calls: the value as it is
        else:
            text = self.returned(proto, record)
        if record.note and record.implemented:
            text += f" ({record.note})"
        return text

    def restart_code(self, record: SyscallRecord) -> str | None:
        """The ``-ERESTART*`` code Linux's call returns when a signal comes while it waits (the
        signal's delivery turns it into the EINTR the program sees), or None when the call
        returns EINTR itself or is not one that waits."""
        name = record.name
        if name in _RESTART_NOHAND:
            return "ERESTARTNOHAND"
        values = self._view(record)[1]
        if name in ("nanosleep", "clock_nanosleep", "clock_nanosleep_time64"):
            # an absolute sleep is made again as it was; a relative one through a restart block
            return "ERESTARTNOHAND" if values.get("flags", 0) & 1 else "ERESTART_RESTARTBLOCK"
        if name == "poll":
            return "ERESTART_RESTARTBLOCK" if values.get("timeout", -1) >= 0 else "ERESTARTNOHAND"
        if name == "futex":
            return "ERESTART_RESTARTBLOCK" if values.get("timeout") else "ERESTARTSYS"
        if name in _RESTART_SYS:
            return "ERESTARTSYS"
        return None

    def returned(self, proto: Prototype, record: SyscallRecord) -> str:
        """A successful return value, in the call's return kind."""
        value = record.ret
        assert value is not None
        kind = proto.ret_kind
        unsigned = value & ((1 << self.bits) - 1)
        if kind in ("ptr", "hex"):
            return hexa(unsigned)
        if kind == "mode":
            return octal_mode(unsigned)
        if kind == "time":
            return f"{value} ({iso_time(value)})"
        if kind == "signal":
            return f"{value} ({signal_name(value)})"  # rt_sigtimedwait's: "17 (SIGCHLD)"
        if kind == "fcntl_ret":
            return self._fcntl_result(record, value)
        if kind == "poll":
            return self._poll_result(proto, record, value)
        if kind == "select":
            return "0 (Timeout)" if value == 0 else str(value)
        if kind in ("ulong", "uid"):
            return str(unsigned)
        table = dependent_return(record.name, self._view(record)[1], self.arch)
        if table is None and kind not in _PLAIN_RETURNS:
            table = kind
        if table is not None:
            name = value_names(table, self.arch).lookup(value)
            if name is not None:
                return f"{value} ({name})"
        return str(value)

    def _poll_result(self, proto: Prototype, record: SyscallRecord, value: int) -> str:
        if value == 0:
            return "0 (Timeout)"
        fds = (record.captured or {}).get(proto.params[0].name)
        if not isinstance(fds, list):
            return str(value)
        events = value_names("poll_events", self.arch)
        ready = [f"{{fd={s.fields['fd']}, revents={events.render(s.fields['revents'])}}}" for s in fds
                 if s.fields["revents"]]
        left = ""
        timeout = next((p for p in proto.params if p.direction == INOUT and p.struct == "timespec"), None)
        remaining = (record.captured or {}).get(timeout.name) if timeout is not None else None
        if isinstance(remaining, Struct):
            left = f", left {self.struct(remaining)}"
        return f"{value} ([{', '.join(ready)}]{left})"

    def _fcntl_result(self, record: SyscallRecord, value: int) -> str:
        values = self._view(record)[1]
        cmd = value_names("fcntl_cmd", self.arch).lookup(values.get("cmd", -1) & 0xFFFFFFFF)
        if cmd == "F_GETFL":
            return f"{hexa(value)} (flags {value_names('open_flags', self.arch).render(value)})"
        if cmd == "F_GETFD" and value:
            return f"{hexa(value)} (flags {value_names('fd_flags', self.arch).render(value)})"
        if cmd == "F_GETLEASE":
            return str(value)
        return str(value)

    # -- one argument -----------------------------------------------------------------------

    def arg(self, param: Param, eff: Effective, value: int, record: SyscallRecord) -> str:
        """One argument as strace shows it."""
        scalar = _SCALARS.get(eff.kind)
        if scalar is not None:
            return scalar(self, value)
        if eff.kind == "ioctl_request":
            return self.ioctl_request(value & 0xFFFFFFFF)
        if eff.kind not in _MEMORY:
            try:
                return value_names(eff.kind, self.arch).render(value & 0xFFFFFFFF if param.width.value in ("s32", "u32") else value)
            except KeyError:
                return str(value)
        if value == 0:
            return "NULL"
        captured = record.captured or {}
        data = captured.get(param.name, UNREADABLE)
        before = captured.get(param.name + "@entry", UNREADABLE)
        if eff.direction == INOUT and before is not UNREADABLE and before is not None:
            if eff.kind in ("int_ptr", "uint_ptr", "ulong_ptr", "off_ptr") and data not in (UNREADABLE, None):
                return f"[{before}] => [{data}]"  # what the kernel read, and what it left
            data = before  # a struct is shown as the call was given it (select's timeout)
        if data is UNREADABLE or data is None:
            return f"{value & ((1 << self.bits) - 1):#x}"
        return _MEMORY[eff.kind](self, data, value, eff, record)

    def ioctl_request(self, code: int) -> str:
        """A request by name, or decoded as ``_IOC(dir, type, nr, size)`` (the generic encoding)."""
        name = value_names("ioctl_request", self.arch).lookup(code)
        if name is not None:
            return name
        direction = value_names("ioctl_dir", self.arch).render(code >> 30 & 3)
        return f"_IOC({direction}, {hexa(code >> 8 & 0xFF)}, {hexa(code & 0xFF)}, {hexa(code >> 16 & 0x3FFF)})"

    # scalar kinds
    def _int(self, v: int) -> str:
        return str(v)

    def _u32(self, v: int) -> str:
        return str(v & 0xFFFFFFFF)

    def _uword(self, v: int) -> str:
        return str(v & ((1 << self.bits) - 1))

    def _futex_wake_op(self, v: int) -> str:
        """FUTEX_WAKE_OP's operation word: op<<28|oparg<<12|cmp<<24|cmparg, as strace splits it."""
        parts = ["FUTEX_OP_OPARG_SHIFT<<28"] if (v >> 28) & 8 else []
        parts.append(f"{value_names('futex_wake_op', self.arch).render((v >> 28) & 7)}<<28")
        parts.append(f"{hexa((v >> 12) & 0xFFF)}<<12")
        parts.append(f"{value_names('futex_wake_cmp', self.arch).render((v >> 24) & 0xF)}<<24")
        parts.append(hexa(v & 0xFFF))
        return "|".join(parts)

    def _hex(self, v: int) -> str:
        return hexa(v & ((1 << self.bits) - 1))

    def _ptr(self, v: int) -> str:
        return address(v & ((1 << self.bits) - 1))

    def _dirfd(self, v: int) -> str:
        return "AT_FDCWD" if v == -100 else str(v)

    def _mode(self, v: int) -> str:
        return octal_mode(v & 0xFFFFFFFF)

    def _uid(self, v: int) -> str:
        return "-1" if v & 0xFFFFFFFF == 0xFFFFFFFF else str(v & 0xFFFFFFFF)

    def _signal(self, v: int) -> str:
        return signal_name(v)

    # memory kinds
    def _cstring(self, data: CString, value: int, eff: Effective, record: SyscallRecord) -> str:
        return cstring(data)

    def _buffer(self, data: Buffer, value: int, eff: Effective, record: SyscallRecord) -> str:
        return buffer(data, force_hex=eff.kind == "hexbuffer")

    def _int_ptr(self, data: int, value: int, eff: Effective, record: SyscallRecord) -> str:
        return f"[{data}]"

    def _time_ptr(self, data: int, value: int, eff: Effective, record: SyscallRecord) -> str:
        return f"[{data} /* {iso_time(data)} */]"

    def _list(self, data: list[int], value: int, eff: Effective, record: SyscallRecord) -> str:
        return "[" + ", ".join(str(x) for x in data) + "]"

    def _ptr_ptr(self, data: int, value: int, eff: Effective, record: SyscallRecord) -> str:
        return f"[{address(data)}]"

    def _cpuset(self, data: list[int], value: int, eff: Effective, record: SyscallRecord) -> str:
        return "[" + " ".join(str(x) for x in data) + "]"

    def _pollfds(self, data: list[Struct], value: int, eff: Effective, record: SyscallRecord) -> str:
        events = value_names("poll_events", self.arch)
        return "[" + ", ".join(f"{{fd={s.fields['fd']}, events={events.render(s.fields['events'])}}}"
                               for s in data) + "]"

    def _sigset(self, data: list[int], value: int, eff: Effective, record: SyscallRecord) -> str:
        return sigset(data)

    def _iovec(self, data: list[IoVec], value: int, eff: Effective, record: SyscallRecord) -> str:
        items = []
        for iov in data:
            base = buffer(iov.data) if iov.data is not None else address(iov.base)
            items.append(f"{{iov_base={base}, iov_len={iov.length}}}")
        values = self.values(record, prototype(record.name, record.arch))
        more = ", ..." if eff.length and values.get(eff.length, 0) > len(data) else ""
        return "[" + ", ".join(items) + more + "]"

    def _dirents(self, data: Dirents, value: int, eff: Effective, record: SyscallRecord) -> str:
        n = len(data.entries)
        return f"{address(value)} /* {n} entr{'y' if n == 1 else 'ies'} */"

    def _argv(self, data: list[Any], value: int, eff: Effective, record: SyscallRecord) -> str:
        if eff.kind == "envp":
            n = len(data)
            return f"{address(value)} /* {n} var{'' if n == 1 else 's'} */"
        return "[" + ", ".join(cstring(s) if isinstance(s, CString) else "???" for s in data) + "]"

    def _timestamps(self, data: Any, value: int, eff: Effective, record: SyscallRecord) -> str:
        items = data if isinstance(data, list) else [data]
        return "[" + ", ".join(self.timestamp(s.fields) for s in items) + "]"

    def timestamp(self, f: dict[str, Any]) -> str:
        """A time a file is given (utimensat's): the struct, and the date it means, as strace shows it."""
        nsec = "tv_nsec" in f
        fraction = f["tv_nsec"] if nsec else f["tv_usec"]
        special = {(1 << 30) - 1: "UTIME_NOW", (1 << 30) - 2: "UTIME_OMIT"}.get(fraction) if nsec else None
        second = "tv_nsec" if nsec else "tv_usec"
        if special is not None:
            return f"{{tv_sec={f['tv_sec']}, tv_nsec={special}}}"
        text = f"{{tv_sec={f['tv_sec']}, {second}={fraction & ((1 << self.bits) - 1)}}}"
        return f"{text} /* {iso_time(f['tv_sec'], fraction, 9 if nsec else 6)} */"

    def _struct(self, data: Any, value: int, eff: Effective, record: SyscallRecord) -> str:
        if eff.struct == "wait_status" and record.ret == 0:
            return address(value)  # WNOHANG and no child changed: nothing was written
        if isinstance(data, list):
            return "[" + ", ".join(self.struct(s) for s in data) + "]"
        return self.struct(data)

    def struct(self, s: Struct) -> str:
        """A struct, abbreviated as strace does without ``-v``."""
        special = _STRUCTS.get(s.name)
        if special is not None:
            return special(self, s.fields)
        return "{" + ", ".join(f"{k}={v}" for k, v in s.fields.items()) + "}"

    def _stat(self, f: dict[str, Any]) -> str:
        mode = f["st_mode"]
        if mode & 0o170000 in (0o020000, 0o060000):
            second = f"st_rdev={makedev(f['st_rdev'])}"
        else:
            second = f"st_size={f['st_size']}"
        return f"{{st_mode={symbolic_mode(mode, self.arch)}, {second}, ...}}"

    def _utsname(self, f: dict[str, Any]) -> str:
        return f"{{sysname={cstring(_cfield(f['sysname']))}, nodename={cstring(_cfield(f['nodename']))}, ...}}"

    def _termios(self, f: dict[str, Any]) -> str:
        speed = _BAUD.get(f["c_cflag"] & 0o10017, f"{f['c_cflag'] & 0o10017:#o}")
        flag = lambda on, name: ("" if on else "-") + name  # noqa: E731
        return (f"{{{speed} {flag(f['c_oflag'] & 1, 'opost')} {flag(f['c_lflag'] & 1, 'isig')} "
                f"{flag(f['c_lflag'] & 2, 'icanon')} {flag(f['c_lflag'] & 0o10, 'echo')} ...}}")

    def _rlimit(self, f: dict[str, Any]) -> str:
        bits = 64 if f.get("_wide") else self.bits
        return f"{{rlim_cur={_rlim(f['rlim_cur'], bits)}, rlim_max={_rlim(f['rlim_max'], bits)}}}"

    def _sigaction(self, f: dict[str, Any]) -> str:
        handler = {0: "SIG_DFL", 1: "SIG_IGN"}.get(f["sa_handler"], f"{f['sa_handler']:#x}")
        mask = sigset([i + 1 for i in range(64) if f["sa_mask"] >> i & 1])
        flags = value_names("sa_flags", self.arch).render(f["sa_flags"])
        text = f"{{sa_handler={handler}, sa_mask={mask}, sa_flags={flags}"
        if f["sa_flags"] & 0x04000000 and "sa_restorer" in f:  # riscv64's struct has no restorer
            text += f", sa_restorer={f['sa_restorer']:#x}"
        return text + "}"

    def _stack(self, f: dict[str, Any]) -> str:
        flags = value_names("ss_flags", self.arch).render(f["ss_flags"] & 0xFFFFFFFF)
        return f"{{ss_sp={address(f['ss_sp'])}, ss_flags={flags}, ss_size={f['ss_size']}}}"

    def _itimer(self, f: dict[str, Any]) -> str:
        second = "tv_nsec" if "it_value.tv_nsec" in f else "tv_usec"
        return (f"{{it_interval={_timeish('it_interval.', f, second)}, "
                f"it_value={_timeish('it_value.', f, second)}}}")

    def _timespec(self, f: dict[str, Any]) -> str:
        # strace shows the seconds signed and the fraction unsigned (-1 is 18446744073709551615)
        second = "tv_nsec" if "tv_nsec" in f else "tv_usec"
        return f"{{tv_sec={f['tv_sec']}, {second}={f[second] & ((1 << self.bits) - 1)}}}"

    def _statfs(self, f: dict[str, Any]) -> str:
        magic = value_names("fs_magic", self.arch).render(f["f_type"] & 0xFFFFFFFF)
        flags = value_names("statfs_flags", self.arch).render(f["f_flags"])
        return (f"{{f_type={magic}, f_bsize={f['f_bsize']}, f_blocks={f['f_blocks']}, f_bfree={f['f_bfree']}, "
                f"f_bavail={f['f_bavail']}, f_files={f['f_files']}, f_ffree={f['f_ffree']}, "
                f"f_fsid={{val=[{hexa(f['f_fsid0'] & 0xFFFFFFFF)}, {hexa(f['f_fsid1'] & 0xFFFFFFFF)}]}}, "
                f"f_namelen={f['f_namelen']}, f_frsize={f['f_frsize']}, f_flags={flags}}}")

    def _statx(self, f: dict[str, Any]) -> str:
        mask = value_names("statx_mask", self.arch).render(f["stx_mask"])
        attrs = value_names("statx_attributes", self.arch).render(f["stx_attributes"])
        return (f"{{stx_mask={mask}, stx_attributes={attrs}, stx_mode={symbolic_mode(f['stx_mode'], self.arch)}, "
                f"stx_size={f['stx_size']}, ...}}")

    def _sysinfo(self, f: dict[str, Any]) -> str:
        return (f"{{uptime={f['uptime']}, loads=[{f['load1']}, {f['load5']}, {f['load15']}], "
                + ", ".join(f"{k}={f[k]}" for k in ("totalram", "freeram", "sharedram", "bufferram", "totalswap",
                                                     "freeswap", "procs", "totalhigh", "freehigh", "mem_unit"))
                + "}")

    def _tms(self, f: dict[str, Any]) -> str:
        # clock ticks, with the seconds they are (USER_HZ is 100) when not zero, as strace shows them
        def ticks(n: int) -> str:
            return f"{n} /* {n // 100}.{n % 100:02d} s */" if n else "0"

        return "{" + ", ".join(f"{k}={ticks(f[k])}" for k in ("tms_utime", "tms_stime", "tms_cutime", "tms_cstime")) + "}"

    def _utimbuf(self, f: dict[str, Any]) -> str:
        return (f"{{actime={f['actime']} /* {iso_time(f['actime'])} */, "
                f"modtime={f['modtime']} /* {iso_time(f['modtime'])} */}}")

    def _rusage(self, f: dict[str, Any]) -> str:
        return (f"{{ru_utime={_timeish('ru_utime.', f, 'tv_usec')}, "
                f"ru_stime={_timeish('ru_stime.', f, 'tv_usec')}, ...}}")

    def _wait_status(self, f: dict[str, Any]) -> str:
        return f"[{wait_status(f['status'])}]"

    def _siginfo(self, f: dict[str, Any]) -> str:
        return siginfo(f, self.bits)

    def _clone_args(self, f: dict[str, Any]) -> str:
        # strace's clone3: the fields that mean something for these flags
        flags = f["flags"]
        parts = [f"flags={value_names('clone_flags', self.arch).render(flags) if flags else 0}"]
        if flags & CLONE_PIDFD:
            parts.append(f"pidfd={address(f['pidfd'])}")
        if flags & (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID):
            parts.append(f"child_tid={address(f['child_tid'])}")
        if flags & CLONE_PARENT_SETTID:
            parts.append(f"parent_tid={address(f['parent_tid'])}")
        signal = f["exit_signal"]
        parts.append(f"exit_signal={signal_name(signal) if signal < 1 << 31 else signal}")
        parts.append(f"stack={address(f['stack'])}")
        parts.append(f"stack_size={hexa(f['stack_size'])}")
        if flags & CLONE_SETTLS:
            parts.append(f"tls={address(f['tls'])}")
        return "{" + ", ".join(parts) + "}"

    # -- calls strace shows with named arguments --------------------------------------------

    def named_parts(self, record: SyscallRecord) -> tuple[list[str], list[str]] | None:
        """For a call strace shows as ``name=value`` arguments (clone), those it prints at entry
        and those it adds at exit (each after ", "); None for the others."""
        if record.name != "clone":
            return None
        values = self._view(record)[1]
        flags = values["flags"] & ((1 << self.bits) - 1)
        signal, rest = flags & 0xFF, flags & ~0xFF
        if rest:
            shown = value_names("clone_flags", self.arch).render(rest) + (f"|{signal_name(signal)}" if signal else "")
        else:
            shown = signal_name(signal)
        entry = [f"child_stack={address(values['stack'])}", f"flags={shown}"]
        done = []
        if rest & (CLONE_PARENT_SETTID | CLONE_PIDFD):
            tid = (record.captured or {}).get("parent_tid")
            done.append(f"parent_tid={f'[{tid}]' if isinstance(tid, int) else address(values['parent_tid'])}")
        if rest & CLONE_SETTLS:
            done.append(f"tls={address(values['tls'])}")
        if rest & (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID):
            done.append(f"child_tidptr={address(values['child_tid'])}")
        return entry, done

    def _pollfd(self, f: dict[str, Any]) -> str:
        events = value_names("poll_events", self.arch).render(f["events"] & 0xFFFF)
        return f"{{fd={f['fd']}, events={events}}}"


CLONE_PIDFD, CLONE_SETTLS, CLONE_PARENT_SETTID = 0x1000, 0x80000, 0x100000
CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID = 0x200000, 0x1000000


def wait_status(status: int) -> str:
    """A wait status as strace decodes it: ``{WIFEXITED(s) && WEXITSTATUS(s) == 3}``."""
    status &= 0xFFFFFFFF
    low = status & 0x7F
    if status & 0xFF == 0x7F:  # stopped
        sig = (status >> 8) & 0xFF
        text = f"{{WIFSTOPPED(s) && WSTOPSIG(s) == {signal_name(sig & 0x7F)}{' | 0x80' if sig & 0x80 else ''}}}"
        status &= ~((sig << 8) | 0x7F)
    elif low and low != 0x7F:  # killed by a signal
        text = f"{{WIFSIGNALED(s) && WTERMSIG(s) == {signal_name(low)}{' && WCOREDUMP(s)' if status & 0x80 else ''}}}"
        status &= ~0xFF
    elif status & 0xFFFF == 0xFFFF:
        text = "{WIFCONTINUED(s)}"
        status &= ~0xFFFF
    elif not low:
        text = f"{{WIFEXITED(s) && WEXITSTATUS(s) == {(status >> 8) & 0xFF}}}"
        status &= ~0xFF00
    else:
        return hexa(status)
    if status >> 16:
        event = status >> 16
        text += f" | {_PTRACE_EVENTS.get(event, hexa(event))} << 16"
        status &= 0xFFFF
    if status:
        text += f" | {hexa(status)}"
    return text


_PTRACE_EVENTS = {1: "PTRACE_EVENT_FORK", 2: "PTRACE_EVENT_VFORK", 3: "PTRACE_EVENT_CLONE", 4: "PTRACE_EVENT_EXEC",
                  5: "PTRACE_EVENT_VFORK_DONE", 6: "PTRACE_EVENT_EXIT", 7: "PTRACE_EVENT_SECCOMP",
                  128: "PTRACE_EVENT_STOP"}
_SI_CODES = {0: "SI_USER", 0x80: "SI_KERNEL", -1: "SI_QUEUE", -2: "SI_TIMER", -3: "SI_MESGQ", -4: "SI_ASYNCIO",
             -5: "SI_SIGIO", -6: "SI_TKILL", -7: "SI_DETHREAD", -60: "SI_ASYNCNL"}
_SIGNAL_CODES = {
    "SIGCHLD": ("CLD_EXITED", "CLD_KILLED", "CLD_DUMPED", "CLD_TRAPPED", "CLD_STOPPED", "CLD_CONTINUED"),
    "SIGSEGV": ("SEGV_MAPERR", "SEGV_ACCERR", "SEGV_BNDERR", "SEGV_PKUERR", "SEGV_ACCADI", "SEGV_ADIDERR",
                "SEGV_ADIPERR", "SEGV_MTEAERR", "SEGV_MTESERR", "SEGV_CPERR"),
    "SIGBUS": ("BUS_ADRALN", "BUS_ADRERR", "BUS_OBJERR", "BUS_MCEERR_AR", "BUS_MCEERR_AO"),
    "SIGILL": ("ILL_ILLOPC", "ILL_ILLOPN", "ILL_ILLADR", "ILL_ILLTRP", "ILL_PRVOPC", "ILL_PRVREG", "ILL_COPROC",
               "ILL_BADSTK", "ILL_BADIADDR"),
    "SIGFPE": ("FPE_INTDIV", "FPE_INTOVF", "FPE_FLTDIV", "FPE_FLTOVF", "FPE_FLTUND", "FPE_FLTRES", "FPE_FLTINV",
               "FPE_FLTSUB", "FPE_FLTUNK", "FPE_CONDTRAP"),
    "SIGTRAP": ("TRAP_BRKPT", "TRAP_TRACE", "TRAP_BRANCH", "TRAP_HWBKPT", "TRAP_UNK", "TRAP_PERF"),
    "SIGIO": ("POLL_IN", "POLL_OUT", "POLL_MSG", "POLL_ERR", "POLL_PRI", "POLL_HUP"),
    "SIGSYS": ("SYS_SECCOMP", "SYS_USER_DISPATCH"),
}
_FAULTS = ("SIGILL", "SIGFPE", "SIGBUS", "SIGSEGV", "SIGTRAP")


def siginfo(f: dict[str, Any], bits: int = 64, big_endian: bool = False) -> str:
    """A ``siginfo_t`` as strace prints it: ``{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=1001,
    si_uid=0, si_status=3, si_utime=0, si_stime=0}`` (fields from the ``siginfo`` layout)."""
    signo = f["si_signo"]
    if not signo:
        return "{}"
    name = signal_name(signo)
    code = f["si_code"]
    codes = _SIGNAL_CODES.get(name, ())
    code_name = _SI_CODES.get(code) or (codes[code - 1] if 0 < code <= len(codes) else str(code))
    parts = [f"si_signo={name}", f"si_code={code_name}"]
    if f["si_errno"]:
        known = Errno._value2member_map_.get(f["si_errno"])
        parts.append(f"si_errno={known.name if known is not None else f['si_errno']}")
    pid, uid = f["si_pid"], f["si_uid"]
    source = [f"si_pid={pid}", f"si_uid={uid}"]
    def word(first: int, second: int) -> int:  # two ints of the union as the word they share
        first, second = first & 0xFFFFFFFF, second & 0xFFFFFFFF
        if bits != 64:
            return first
        return first << 32 | second if big_endian else second << 32 | first

    si_addr = word(pid, uid)
    si_ptr = word(f["si_status"], f.get("si_status_next", 0))
    value = [f"si_int={f['si_status']}", f"si_ptr={address(si_ptr)}"]
    if code <= 0:  # sent by a process: kill, tkill, sigqueue
        parts += source
        if code not in (0, -6) and si_ptr:
            parts += value
    elif name == "SIGCHLD":
        status = f["si_status"]
        parts += source + [f"si_status={status if code == 1 else signal_name(status)}",
                           f"si_utime={f['si_utime']}", f"si_stime={f['si_stime']}"]
    elif name in _FAULTS:
        parts.append(f"si_addr={address(si_addr)}")
    elif name != "SIGIO":
        if pid or uid:
            parts += source
        if si_ptr:
            parts += value
    return "{" + ", ".join(parts) + "}"


_RESTARTED_NOTE = "interrupted by a signal; made again"  # sandbox.engine's note on a restarted call
_RESTART_MESSAGES = {
    "ERESTARTSYS": "To be restarted if SA_RESTART is set", "ERESTARTNOINTR": "To be restarted",
    "ERESTARTNOHAND": "To be restarted if no handler", "ERESTART_RESTARTBLOCK": "Interrupted by signal",
}
# The waits Linux ends with -ERESTARTNOHAND: made again only when the signal had no handler.
_RESTART_NOHAND = frozenset({"pause", "rt_sigsuspend", "sigsuspend", "select", "_newselect", "old_select", "pselect6",
                             "pselect6_time64", "ppoll", "ppoll_time64"})
# The waits that end with -ERESTARTSYS: made again after a handler with SA_RESTART.
_RESTART_SYS = frozenset({
    "read", "readv", "pread64", "preadv", "preadv2", "write", "writev", "pwrite64", "pwritev", "pwritev2",
    "wait4", "waitid", "waitpid", "accept", "accept4", "connect", "recvfrom", "recvmsg", "recvmmsg", "sendto",
    "sendmsg", "sendmmsg", "open", "openat", "openat2", "creat", "flock", "fcntl", "fcntl64", "ioctl", "sendfile",
    "sendfile64", "splice", "tee", "getrandom", "msgrcv", "msgsnd", "semop", "mq_timedreceive", "mq_timedsend",
})


def _restart_text(code: str) -> str:
    return f"? {code} ({_RESTART_MESSAGES[code]})"


def _cfield(raw: bytes) -> CString:
    return CString(raw.split(b"\0", 1)[0])


_BAUD = {0o0: "B0", 0o1: "B50", 0o2: "B75", 0o3: "B110", 0o4: "B134", 0o5: "B150", 0o6: "B200", 0o7: "B300",
         0o10: "B600", 0o11: "B1200", 0o12: "B1800", 0o13: "B2400", 0o14: "B4800", 0o15: "B9600",
         0o16: "B19200", 0o17: "B38400", 0o10001: "B57600", 0o10002: "B115200", 0o10003: "B230400",
         0o10004: "B460800", 0o10005: "B500000", 0o10006: "B576000", 0o10007: "B921600"}

_SCALARS: dict[str, Callable[[Renderer, int], str]] = {
    "int": Renderer._int, "long": Renderer._int, "off": Renderer._int, "pid": Renderer._int, "fd": Renderer._int,
    "uint": Renderer._u32, "ulong": Renderer._uword, "size": Renderer._uword, "u64": Renderer._uword,
    "futex_wake_op_arg": Renderer._futex_wake_op,
    "hex": Renderer._hex, "hexoff": Renderer._hex, "ptr": Renderer._ptr, "dirfd": Renderer._dirfd,
    "mode": Renderer._mode, "octal": Renderer._mode, "uid": Renderer._uid, "signal": Renderer._signal,
}
_MEMORY: dict[str, Callable[..., str]] = {
    "path": Renderer._cstring, "string": Renderer._cstring, "cstring_out": Renderer._cstring,
    "buffer": Renderer._buffer, "hexbuffer": Renderer._buffer, "int_ptr": Renderer._int_ptr,
    "uint_ptr": Renderer._int_ptr, "ulong_ptr": Renderer._int_ptr, "off_ptr": Renderer._int_ptr,
    "time_ptr": Renderer._time_ptr, "fd_pair": Renderer._list, "uid_array": Renderer._list,
    "sigset": Renderer._sigset, "iovec": Renderer._iovec, "dirents": Renderer._dirents,
    "argv": Renderer._argv, "envp": Renderer._argv, "struct": Renderer._struct, "ptr_ptr": Renderer._ptr_ptr,
    "cpuset": Renderer._cpuset, "pollfds": Renderer._pollfds, "comm": Renderer._cstring,
    "timestamps": Renderer._timestamps,
}
_STRUCTS: dict[str, Callable[[Renderer, dict[str, Any]], str]] = {
    "stat": Renderer._stat, "stat64": Renderer._stat, "utsname": Renderer._utsname,
    "termios": Renderer._termios, "rlimit": Renderer._rlimit,
    "rlimit64": lambda r, f: Renderer._rlimit(r, dict(f, _wide=True)), "sigaction": Renderer._sigaction,
    "stack_t": Renderer._stack, "itimerspec": Renderer._itimer, "itimerval": Renderer._itimer,
    "pollfd": Renderer._pollfd, "timespec": Renderer._timespec, "timeval": Renderer._timespec,
    "statfs": Renderer._statfs, "statx": Renderer._statx, "sysinfo": Renderer._sysinfo,
    "utimbuf": Renderer._utimbuf, "rusage": Renderer._rusage, "tms": Renderer._tms,
    "wait_status": Renderer._wait_status, "siginfo": Renderer._siginfo, "clone_args": Renderer._clone_args,
}
# Return kinds shown as a plain number (any other kind names the value table of the result).
_PLAIN_RETURNS = frozenset({"int", "long", "fd", "pid", "noreturn"})


__all__ = ["IN", "Renderer", "address", "buffer", "cstring", "makedev", "octal_mode", "quote", "sigset",
           "symbolic_mode"]
