"""The register card of a system call: which register holds the number, which each argument,
and what each argument means, from the arch's data and the handler's declared parameters.

    write (x86_64 system call 1), number in rax
      rdi  fd     1
      rsi  buf    0x400021  "Hello world\\n"
      rdx  count  12
      result in rax; the syscall instruction also overwrites rcx, r11
"""

from __future__ import annotations

from kernel_model.linux_errno import Errno
from kernel_model.registry import REGISTRY, ArgKind, Width
from kernel_model.seam import GuestMemory
from sandbox.arch import Arch
from sandbox.records import to_signed

PREVIEW = 40  # bytes of a buffer or string shown
_AT_FDCWD = -100
# Parameters that are sets of bits read best in hex, whatever their C type.
_BIT_MASKS = {"flags", "prot", "mask", "how"}


def _preview(memory: GuestMemory, address: int, limit: int, *, cstring: bool) -> str:
    size = min(limit, PREVIEW)
    available = memory.accessible(address, size, 0)
    if available == 0:
        return "<not mapped>" if address else ""
    data = memory.peek(address, available)  # type: ignore[attr-defined]
    cut = available < limit  # more bytes than shown
    if cstring:
        nul = data.find(b"\0")
        cut = nul < 0
        data = data[:nul] if nul >= 0 else data
    text = '"' + repr(bytes(data))[2:-1].replace('"', '\\"') + '"'
    return text + ("..." if cut else "")


def _value(name: str, kind: ArgKind, raw: int, bits: int) -> str:
    if name in _BIT_MASKS:
        return hex(raw & 0xFFFFFFFF)
    if kind.width is Width.S32:
        value = to_signed(raw, 32)
        if kind.name == "dirfd" and value == _AT_FDCWD:
            return "AT_FDCWD"
        return str(value)
    if kind.width is Width.SWORD:
        return str(to_signed(raw, bits))
    if kind.name == "mode":
        return oct(raw & 0xFFFFFFFF)
    if kind.width is Width.U32:
        value = raw & 0xFFFFFFFF
        return hex(value) if value > 9 else str(value)
    if kind.name == "size":
        return str(raw)
    return hex(raw) if raw > 9 else str(raw)


def syscall_card(
    arch: Arch,
    nr: int,
    name: str,
    args: tuple[int, ...],
    memory: GuestMemory,
    *,
    result: int | None = None,
    errno: str | None = None,
) -> list[str]:
    """The card for a call to ``name`` (number ``nr``) with raw arguments ``args``.

    With ``result`` it is the card of the return: what came back, and where.
    """
    head = f"{name} ({arch.name} system call {nr}), number in {arch.number_reg}"
    spec = REGISTRY.get(name)
    lines = [head]
    if spec is not None:
        params = list(spec.params)
    else:
        params = [(f"arg{i}", ArgKind("ulong", Width.UWORD, "unsigned long")) for i in range(len(arch.arg_regs))]
        lines[0] += " (not modelled: the kernel model answers ENOSYS)"
    width = max((len(p) for p, _ in params), default=0)
    for i, (pname, kind) in enumerate(params):
        raw = args[i]
        text = _value(pname, kind, raw, arch.bits)
        if kind.name == "path":
            text += "  " + _preview(memory, raw, 4096, cstring=True)
        elif kind.is_pointer and i + 1 < len(params) and params[i + 1][1].name == "size" and raw:
            text += "  " + _preview(memory, raw, args[i + 1], cstring=False)
        lines.append(f"  {arch.arg_regs[i]:<4} {pname:<{width}}  {text}".rstrip())
    clobbers = [c.register for c in arch.clobbers]
    tail = f"  result in {arch.ret_reg}"
    if clobbers:
        tail += f"; the {arch.trap.mnemonic} instruction also overwrites {', '.join(clobbers)}"
    if result is None:
        lines.append(tail)
    else:
        outcome = f"{result} ({errno}: {Errno[errno].message})" if errno else str(result)
        lines.append(f"  returned {outcome} in {arch.ret_reg}")
    return lines
