"""The JSON trace: one JSON object per call, one per line, for tools.

Each object has these keys (the README documents them; a test checks every line against it):

``arch``, ``pc``, ``nr``, ``name``
    the arch, the trap instruction's address, the call's number and ABI name;
``args``
    the six raw argument registers, unsigned;
``decoded``
    each argument by its prototype name, as the kernel reads it (signed where C says so);
``memory``
    what the arguments pointed to at the call, by argument name, for the arguments whose
    memory was read: strings and buffers as strings of code points 0-255 (one per byte),
    structs as objects, arrays as lists; ``null`` for a NULL pointer; absent when unreadable;
``text``
    the arguments as strace shows them, by name (omitted arguments are left out);
``ret``, ``errno``
    the value written back (signed; ``null`` when the call did not return) and the error's
    name (``"EBADF"``) or ``null``;
``implemented``, ``note``, ``time``
    whether the kernel model implements the call, its note (or ``null``), and the seconds
    since the process started;
``pid``, ``tid``
    the process and thread that made the call (the first process is 1000).
"""

from __future__ import annotations

import json
from typing import Any

from kernel_model.prototypes import effective, prototype
from sandbox.records import SyscallRecord
from sandbox.trace.capture import UNREADABLE, Buffer, CString, Dirents, IoVec, Struct
from sandbox.trace.render import Renderer

SCHEMA: dict[str, tuple[type, ...]] = {
    "arch": (str,), "pc": (int,), "nr": (int,), "name": (str,), "args": (list,), "decoded": (dict,),
    "memory": (dict,), "text": (dict,), "ret": (int, type(None)), "errno": (str, type(None)),
    "implemented": (bool,), "note": (str, type(None)), "time": (float,), "pid": (int,), "tid": (int,),
}


def _bytes(data: bytes) -> str:
    return data.decode("latin-1")


def json_value(value: Any) -> Any:
    """A captured value as JSON data."""
    if isinstance(value, CString):
        return _bytes(value.data)
    if isinstance(value, Buffer):
        return _bytes(value.data)
    if isinstance(value, Struct):
        return {k: (_bytes(v.split(b"\0", 1)[0]) if isinstance(v, bytes) else v) for k, v in value.fields.items()}
    if isinstance(value, IoVec):
        return {"iov_base": value.base, "iov_len": value.length,
                "data": None if value.data is None else _bytes(value.data.data)}
    if isinstance(value, Dirents):
        return [{"d_name": n, "d_type": t} for n, t in value.entries]
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return value


class JsonFormat:
    """Renders records as JSON lines."""

    name = "json"
    writes_at_entry = False  # one whole object per call, at its exit
    reads_registers = False  # everything it shows is in the record

    def __init__(self, arch: str, bits: int = 64) -> None:
        self.renderer = Renderer(arch, bits)

    def object(self, record: SyscallRecord) -> dict[str, Any]:
        """The JSON object for one call."""
        proto = prototype(record.name, record.arch)
        values = self.renderer.values(record, proto)
        memory = {}
        text = {}
        for p in proto.params:
            eff = effective(p, values, record.arch, record.name)
            if eff is None:
                continue
            text[p.name] = self.renderer.arg(p, eff, values[p.name], record)
            captured = (record.captured or {}).get(p.name, UNREADABLE)
            if captured is not UNREADABLE:
                memory[p.name] = json_value(captured)
        return {
            "arch": record.arch, "pc": record.pc, "nr": record.nr, "name": record.name, "args": list(record.args),
            "decoded": values, "memory": memory, "text": text, "ret": record.ret, "errno": record.errno,
            "implemented": record.implemented, "note": record.note, "time": round(float(record.time), 6),
            "pid": record.pid, "tid": record.tid,
        }

    def line(self, record: SyscallRecord) -> str:
        """The JSON line for one call (no newline)."""
        return json.dumps(self.object(record), separators=(", ", ": "))

    def entry(self, record: SyscallRecord) -> str:
        """Nothing is written at entry: one whole object per call."""
        return ""

    def exit(self, record: SyscallRecord) -> str:
        """The object, with the newline."""
        return self.line(record) + "\n"

    def finish(self, exit_status: int, signal: str | None, signal_line: str | None) -> str:
        """Nothing: the stream holds calls only."""
        return ""
