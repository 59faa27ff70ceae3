"""The parts of the page as plain data (JSON-ready dicts): code, registers, the system call
card, memory, the trace.

Nothing here decides what an argument means or how it is shown: names and registers come
from the arch description and the prototype table (:func:`sandbox.teaching.param_registers`),
values are rendered by the tracer's :class:`~sandbox.trace.render.Renderer`, words about each
argument come from :mod:`sandbox.teaching`, errno names and messages from the kernel model.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from kernel_model.linux_errno import Errno
from kernel_model.prototypes import prototype
from sandbox.arch import Arch
from sandbox.debug.session import Debugger
from sandbox.records import SyscallRecord, calling_convention, to_signed
from sandbox.teaching import convention, describe_param, model_status, param_registers
from sandbox.trace.render import Renderer
from sandbox.web.observer import MemoryChange
from sandbox.web.sourcemap import SourceMap

ROW = 16  # bytes per row of a memory dump


def hex_word(arch: Arch, value: int) -> str:
    """A register's value as hex, zero-padded to the register's width."""
    return f"{value & arch.word_mask:#0{arch.word_size * 2 + 2}x}"


def arch_view(arch: Arch) -> dict[str, Any]:
    """The arch's system call convention, for the page's header."""
    return {
        "name": arch.name,
        "bits": arch.bits,
        "trap": arch.trap.mnemonic,
        "number_reg": arch.number_reg,
        "arg_regs": list(arch.arg_regs),
        "ret_reg": arch.ret_reg,
        "pc": arch.pc,
        "sp": arch.sp,
        "clobbers": [{"register": c.register, "gets": _clobber_gets(c.source)} for c in arch.clobbers],
        "convention": [[what, how] for what, how in convention(arch)],
    }


def _clobber_gets(source: str) -> str:
    return "the return address" if source == "next_pc" else source


# -- code -------------------------------------------------------------------------------------


def code_view(dbg: Debugger, smap: SourceMap, breakpoints: Iterable[int], pc: int, *,
              before: int = 6, total: int = 18) -> list[dict[str, Any]]:
    """Rows of code around ``pc``: each instruction (or data line of an assembly file) with
    its address, bytes, symbol, source line, and whether it is the pc or has a breakpoint."""
    marks = set(breakpoints)
    start = _window_start(dbg, smap, pc, before)
    rows: list[dict[str, Any]] = []
    pos = start
    code_end = smap.ends[-1] if len(smap) else None
    while len(rows) < total:
        if code_end is not None and pos >= code_end and pos > pc:
            break  # past the end of the assembled text: what follows is not the program's
        line = smap.at(pos)
        if line is not None and not line.is_code:
            end = smap.ends[_floor(smap.starts, pos)]
            size = min(end - pos, ROW)
            rows.append({
                "address": f"{pos:#x}", "value": pos, "bytes": _hex(dbg, pos, size), "data": True,
                "text": line.text.strip(), "symbol": dbg.symbols.symbolize(pos),
                "line": line.line, "source": line.text.rstrip(), "current": pos == pc, "breakpoint": pos in marks,
            })
            pos = end
            continue
        got = dbg.disasm(pos, 1)
        if not got:
            if not rows:
                rows.append({"address": f"{pos:#x}", "value": pos, "bytes": "", "data": True,
                             "text": "(cannot read memory here)", "symbol": "", "line": None, "source": "",
                             "current": pos == pc, "breakpoint": pos in marks})
            break
        insn = got[0]
        exact = smap.exact(insn.address)
        rows.append({
            "address": f"{insn.address:#x}", "value": insn.address, "bytes": insn.bytes.hex(" "),
            "data": False, "text": insn.text, "mnemonic": insn.mnemonic, "operands": insn.operands,
            "symbol": insn.symbol, "line": exact.line if exact else None,
            "source": exact.text.rstrip() if exact else "",
            "current": insn.address == pc, "breakpoint": insn.address in marks,
        })
        pos = insn.address + insn.size
    return rows


def _hex(dbg: Debugger, address: int, size: int) -> str:
    try:
        return dbg.read_memory(address, size).hex(" ")
    except Exception:  # noqa: BLE001 - unreadable data is shown empty
        return ""


def _window_start(dbg: Debugger, smap: SourceMap, pc: int, before: int) -> int:
    """An address a few instructions before ``pc`` from which decoding reaches ``pc`` exactly."""
    if smap.at(pc) is not None:  # line starts are instruction boundaries
        return smap.starts[max(0, _floor(smap.starts, pc) - before)]
    candidates = []
    name = dbg.symbols.symbolize(pc)
    base, _, offset = name.partition("+")
    if base and offset.isdigit() and int(offset) <= 512:
        candidates.append(pc - int(offset))
    align = max(dbg.arch.insn_align, 1)
    if align > 1:
        candidates.append(pc - align * before)
    else:
        candidates += [pc - d for d in (24, 20, 16, 12, 8)]
    for start in candidates:
        if start < 0 or start >= pc:
            continue
        addresses = [i.address for i in dbg.disasm(start, 200 if start < pc - 256 else 128)]
        if pc in addresses:
            k = addresses.index(pc)
            return addresses[max(0, k - before)]
    return pc


def _floor(values: list[int], x: int) -> int:
    from bisect import bisect_right

    return max(bisect_right(values, x) - 1, 0)


# -- registers --------------------------------------------------------------------------------


def call_registers(arch: Arch, name: str | None) -> dict[str, str]:
    """Argument register -> parameter name for the call ``name`` (``r2`` -> ``offset (low)``
    when a 64-bit argument takes two registers)."""
    if name is None:
        return {}
    proto = prototype(name, arch.name)
    out: dict[str, str] = {}
    for regs, param in zip(param_registers(arch, proto), proto.params):
        parts = regs.split("/")
        for i, reg in enumerate(parts):
            if reg == "stack":
                continue
            out[reg] = param.name if len(parts) == 1 else f"{param.name} ({'low' if i == 0 else 'high'})"
    return out


def registers_view(dbg: Debugger, call_name: str | None, previous: Mapping[str, int] | None) -> list[dict[str, Any]]:
    """Each register the debugger shows, with its role in the system call convention and
    whether the last step changed it."""
    arch = dbg.arch
    values = dbg.registers()
    labels = call_registers(arch, call_name)
    clobbers = {c.register: c.source for c in arch.clobbers}
    out = []
    for reg, value in values.items():
        roles = []
        order = 99
        if reg == arch.number_reg:
            order = 0
            roles.append({"role": "number", "label": f"number{': ' + call_name if call_name else ''}"})
        if reg in arch.arg_regs:
            i = arch.arg_regs.index(reg)
            order = min(order, 1 + i)
            roles.append({"role": "arg", "label": labels.get(reg, f"argument {i + 1}")})
        if reg == arch.ret_reg:
            order = min(order, 10)
            roles.append({"role": "result", "label": "result"})
        if reg in clobbers:
            order = min(order, 11 + list(clobbers).index(reg))
            roles.append({"role": "clobber", "label": f"{arch.trap.mnemonic} puts {_clobber_gets(clobbers[reg])} here"})
        if reg == arch.pc:
            order = min(order, 20)
            roles.append({"role": "pc", "label": "pc"})
        elif reg == arch.sp:
            order = min(order, 21)
            roles.append({"role": "sp", "label": "stack pointer"})
        fits = value <= arch.word_mask  # x87 registers are wider than a word
        out.append({
            "name": reg,
            "hex": hex_word(arch, value) if fits else f"{value:#x}",
            "decimal": str(to_signed(value, arch.bits)) if fits else str(value),
            "roles": roles,
            "order": order,  # the convention's registers first: number, arguments in order, result...
            "changed": previous is not None and reg in previous and previous[reg] != value,
        })
    return out


# -- the system call card ---------------------------------------------------------------------


def call_card(
    arch: Arch,
    *,
    phase: str,
    nr: int,
    name: str,
    args: tuple[int, ...],
    pc: int,
    captured: Mapping[str, Any] | None,
    ret: int | None = None,
    errno: str | None = None,
    note: str | None = None,
    changes: list[MemoryChange] | None = None,
    index: int | None = None,
    extents: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The card of one system call: the prototype, each argument in its register and decoded,
    the result or ``-errno`` with its meaning, and the memory the call wrote.

    ``phase`` is ``trap`` (the next instruction makes it), ``entry`` (the kernel has it, not yet
    served), ``return`` (served by the last action) or ``earlier`` (the latest call made).
    ``extents`` is the size of the memory each pointer argument points to, where it is known.
    """
    proto = prototype(name, arch.name)
    conv = calling_convention(arch)
    decoded = proto.decode(args, conv)
    record = SyscallRecord(
        arch=arch.name, nr=nr, name=name, args=args, decoded=decoded, ret=ret, errno=errno, pc=pc, note=note,
        implemented=note != "unimplemented", captured=captured,
    )
    renderer = Renderer(arch.name, arch.bits)
    shown = {p.name: eff for p, eff in renderer.shown(record)}
    rows = []
    for regs, param in zip(param_registers(arch, proto), proto.params):
        value = decoded.get(param.name, 0)
        eff = shown.get(param.name)
        text = renderer.arg(param, eff, value, record) if eff is not None else "(not used by this call)"
        pointer = value & arch.word_mask if param.is_pointer and value else None
        rows.append({
            "reg": regs, "name": param.name, "type": param.c_type, "direction": param.direction,
            "raw": hex_word(arch, value) if param.is_pointer else str(value), "text": text,
            "pointer": f"{pointer:#x}" if pointer is not None else None, "about": describe_param(param),
            "size": (extents or {}).get(param.name),
        })
    result = None
    if ret is not None:
        text = renderer.result(record)
        result = {"reg": arch.ret_reg, "value": ret, "text": text, "errno": errno,
                  "message": Errno[errno].message if errno else None, "same": text == str(ret)}
    shown_changes = []
    for c in changes or ():
        positions = [i for i in range(len(c.after)) if i >= len(c.before) or c.before[i] != c.after[i]]
        shown_changes.append({
            "param": c.param, "address": f"{c.address:#x}", "size": len(c.after), "changed": len(positions),
            "before": c.before.hex(" "), "after": c.after.hex(" "), "positions": positions,
            "text": _printable(c.after),
        })
    return {
        "phase": phase, "index": index, "name": name, "nr": nr, "pc": f"{pc:#x}",
        "number_line": f"{arch.number_reg} = {nr} ({name})",
        "decl": proto.decl(), "known": proto.known, "model": model_status(name),
        "returns": proto.returns, "trap": arch.trap.mnemonic, "args": rows, "result": result,
        "ret_reg": arch.ret_reg,
        "clobbers": [{"register": c.register, "gets": _clobber_gets(c.source)} for c in arch.clobbers],
        "changes": shown_changes,
    }


def _printable(data: bytes) -> str:
    return "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in data)


# -- memory -----------------------------------------------------------------------------------


def memory_view(dbg: Debugger, address: int, length: int = 128, *, focus: tuple[int, int] | None = None,
                changed: Iterable[int] = ()) -> dict[str, Any]:
    """``length`` bytes from a row boundary at or before ``address``, as hex and text rows.
    ``focus`` is the (start, size) of the bytes asked about; ``changed`` the addresses the
    last system call wrote."""
    start = max(address - address % ROW - (ROW if address % ROW == 0 and address >= ROW else 0), 0)
    written = set(changed)
    rows = []
    memory = dbg.machine.memory
    for row in range(start, start + length, ROW):
        cells: list[int | None]
        if memory.accessible(row, ROW, 0) == ROW:
            cells = list(memory.peek(row, ROW))
        else:
            cells = []
            for a in range(row, row + ROW):
                cells.append(memory.peek(a, 1)[0] if memory.accessible(a, 1, 0) == 1 else None)
        rows.append({
            "address": f"{row:#x}",
            "bytes": [None if b is None else f"{b:02x}" for b in cells],
            "text": "".join(" " if b is None else (chr(b) if 0x20 <= b < 0x7F else ".") for b in cells),
            "focus": [i for i in range(ROW) if focus is not None and focus[0] <= row + i < focus[0] + focus[1]],
            "changed": [i for i in range(ROW) if row + i in written],
        })
    return {"address": f"{address:#x}", "start": f"{start:#x}", "rows": rows,
            "symbol": dbg.symbols.symbolize(address)}
