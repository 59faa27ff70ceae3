"""What ``sandbox explain`` and ``sandbox table`` say: each arch's convention and each call.

Everything comes from three sources of data and nowhere else: the arch descriptions (trap,
registers, clobbers), the kernel's syscall tables (numbers), and the prototype table (each
argument's name, type and meaning). The ready-to-run stub is made by :mod:`sandbox.stubs`,
from example arguments chosen by each argument's kind.
"""

from __future__ import annotations

from dataclasses import dataclass

import kernel_model  # noqa: F401 - registers every handler, so "implemented" is known
from kernel_model.prototypes import IN, OUT, Param, Prototype, prototype
from kernel_model.registry import REGISTRY, Completeness, place_arguments
from kernel_model.struct_layouts import struct_layout
from sandbox.arch import ARCHES, Arch
from sandbox.arch.syscalls import syscall_table
from sandbox.engine import kernel_arch
from sandbox.errors import SandboxError
from sandbox.records import calling_convention
from sandbox.stubs import StubArg, Words, syscall_stub
from sandbox.terminal import Palette

AT_FDCWD = -100

# A few words on what each kind of argument is, for the explanation of a call.
_KIND_WORDS = {
    "fd": "a file descriptor", "dirfd": "a directory descriptor, or AT_FDCWD (-100) for the cwd",
    "path": "address of a NUL-terminated path, read by the kernel",
    "string": "address of a NUL-terminated string, read by the kernel",
    "cstring_out": "address of a buffer the kernel fills with a NUL-terminated string",
    "mode": "permission bits, usually written in octal (0644)", "pid": "a process id", "uid": "a user or group id",
    "size": "a size in bytes", "off": "a file offset in bytes", "ptr": "an address",
    "signal": "a signal number", "open_mode": "permission bits for a created file (used with O_CREAT)",
    "fcntl_arg": "depends on the command", "ioctl_arg": "depends on the request: often an address",
    "iovec": "address of an array of struct iovec {base, length}", "dirents": "address of a buffer for directory entries",
    "int_ptr": "address of an int", "uint_ptr": "address of an unsigned int", "ulong_ptr": "address of a long",
    "off_ptr": "address of an offset", "sigset": "address of a signal set", "argv": "address of a NULL-ended array of strings",
    "envp": "address of a NULL-ended array of NAME=value strings", "fd_pair": "address of two ints the kernel fills with descriptors",
    "time_ptr": "address of a time_t", "hexoff": "a file offset in bytes", "uid_array": "address of an array of ids",
}


def convention(arch: Arch) -> list[tuple[str, str]]:
    """The arch's system call convention as (what, how) pairs."""
    clobbers = ", ".join(
        f"{c.register} ({'the return address' if c.source == 'next_pc' else 'gets ' + c.source})" for c in arch.clobbers
    ) or f"nothing: every register but {arch.ret_reg} keeps its value"
    table = syscall_table(arch)
    names = table.names()
    implemented = sum(1 for n in names if n in REGISTRY)
    return [
        ("trap instruction", arch.trap.mnemonic),
        ("number in", arch.number_reg),
        ("arguments in", " ".join(arch.arg_regs)),
        ("result in", arch.ret_reg),
        ("errors", f"{arch.ret_reg} between -4095 and -1 is -errno (write to a closed fd: -9, EBADF)"),
        ("also clobbered", clobbers),
        ("system calls", f"{len(names)} in the kernel's {table.table_name} table, {implemented} implemented here"),
    ]


def model_status(name: str) -> str:
    """``full``, ``partial: why`` or ``not implemented`` for a call in the kernel model."""
    spec = REGISTRY.get(name)
    if spec is None:
        return "not implemented (returns -ENOSYS)"
    return "full" if spec.completeness is Completeness.FULL else f"partial: {spec.note}"


def describe_param(param: Param) -> str:
    """A few words on an argument: its direction and what it is."""
    words = _KIND_WORDS.get(param.kind)
    if param.kind == "buffer" or param.kind == "hexbuffer":
        length = param.length or "?"
        words = (f"address of {length} bytes the kernel reads" if param.direction == IN
                 else f"address of a buffer of {length} bytes the kernel fills")
    elif param.kind == "struct":
        verb = {IN: "the kernel reads", OUT: "the kernel fills", "inout": "the kernel reads and updates"}[param.direction]
        words = f"address of a struct {param.struct} {verb}"
    elif words is None:
        words = f"{param.kind.replace('_', ' ')} ({_where_named(param.kind)})" if param.kind not in (
            "int", "uint", "long", "ulong", "hex", "u64", "octal") else "a number"
    return words


@dataclass
class Explanation:
    """One call on one arch, ready to print."""

    arch: Arch
    name: str
    number: int
    proto: Prototype
    stub: str

    def lines(self, palette: Palette | None = None) -> list[str]:
        """The explanation as text lines."""
        p = palette or Palette(False)
        arch = self.arch
        out = [
            f"{p(self.name, 'bold')} on {arch.name}: number {self.number} ({arch.number_reg}={self.number}); "
            f"the model: {model_status(self.name)}",
            "",
            "  " + p(self.proto.decl(), "cyan") + ("" if self.proto.known else "   (prototype not described)"),
        ]
        width = max([len(q.name) for q in self.proto.params] + [len("result")])
        types = max([len(q.c_type) for q in self.proto.params] + [4])
        registers = param_registers(arch, self.proto)
        rw = max([len(r) for r in registers] + [5])
        for reg, param in zip(registers, self.proto.params):
            out.append(f"    {reg:<{rw}} {param.name:<{width}}  {param.c_type:<{types}}  {describe_param(param)}")
        if self.proto.returns:
            out.append(f"    {arch.ret_reg:<{rw}} {'result':<{width}}  {self.proto.ret_type:<{types}}  "
                       "the result, or -errno (-4095..-1) on failure")
        else:
            out.append(f"    {'':<{rw}} does not return: the process ends")
        for c in arch.clobbers:
            what = "the return address" if c.source == "next_pc" else c.source
            out.append(f"    {c.register:<{rw}} {'':<{width}}  {'':<{types}}  clobbered by {arch.trap.mnemonic}: gets {what}")
        out += value_lines(self.proto, arch)
        out += ["", f"  a stub that makes this call ({p('sandbox run', 'bold')} it as a .s file):", ""]
        out += ["    " + line for line in self.stub.rstrip("\n").splitlines()]
        return out


_LISTED_TABLES_MAX = 48  # longer tables (errno, signal numbers) have commands of their own


def _where_named(kind: str) -> str:
    from kernel_model.constants import value_names

    try:
        names = value_names(kind, "x86_64")
    except KeyError:
        return f"see the {kind} names"
    listed = 0 < len(names.entries) + len(names.parts) <= _LISTED_TABLES_MAX
    return "the names are below" if listed else f"see the {kind} names"


def value_lines(proto: Prototype, arch: Arch) -> list[str]:
    """The names each named-value argument takes on ``arch`` (``clone``'s flags, ``openat``'s
    ``O_`` flags, a ``whence``), wrapped to the width of a terminal."""
    from kernel_model.constants import value_names

    out: list[str] = []
    seen: set[str] = set()
    for param in proto.params:
        if param.kind in seen:
            continue
        try:
            names = value_names(param.kind, kernel_arch(arch).name)
        except KeyError:
            continue
        seen.add(param.kind)
        entries = list(names.parts) + list(names.entries)
        if not entries or len(entries) > _LISTED_TABLES_MAX:
            continue
        how = "flags, ORed together" if names.flags else "one of these"
        out += ["", f"  {param.name}: {how}"]
        items = [f"{n}={v:#x}" if names.flags else f"{n}={v}" for n, v in entries]
        line = "   "
        for item in items:
            if len(line) + len(item) + 1 > 96:
                out.append(line)
                line = "   "
            line += " " + item
        out.append(line)
        if param.kind == "clone_flags":
            out.append("    the low byte is the signal the parent gets when the child ends "
                       "(SIGCHLD=0x11 for a fork; 0 for a thread)")
    return out


def param_registers(arch: Arch, proto: Prototype) -> list[str]:
    """The register each argument is in: ``r4/r5`` (low/high) for a 64-bit one on a 32-bit arch."""
    placed = place_arguments([p.width for p in proto.params], calling_convention(arch))
    return ["/".join(arch.arg_regs[r] if r < len(arch.arg_regs) else "stack" for r in regs) for regs in placed]


def example_args(proto: Prototype, arch: Arch) -> tuple[StubArg, ...]:
    """Arguments for a stub that makes the call harmlessly: stdin/stdout, ".", small buffers."""
    karch = kernel_arch(arch)
    reads_into = any(q.direction == OUT and q.kind in ("buffer", "cstring_out", "iovec") for q in proto.params)
    lengths: dict[str, int] = {}
    args: list[StubArg] = []
    for param in proto.params:
        value: StubArg = 0
        kind = param.kind
        if kind == "fd":
            value = 0 if reads_into else 1
        elif kind == "dirfd":
            value = AT_FDCWD
        elif kind == "path":
            value = "."
        elif kind == "string":
            value = "sandbox"
        elif kind in ("buffer", "hexbuffer") and param.direction == IN:
            value = b"hello\n"
            lengths[param.length or ""] = 6
        elif kind in ("buffer", "hexbuffer", "cstring_out", "dirents"):
            value = bytearray(256)
            lengths[param.length or ""] = 256
        elif kind == "iovec":
            value = Words(b"hello\n", 6) if param.direction == IN else Words(bytes(64), 64)
            lengths[param.length or ""] = 1
        elif kind == "struct":
            layout = struct_layout(param.struct or "", karch)
            value = bytearray(layout.size if layout else 256) if param.direction != IN else bytes(layout.size if layout else 0)
            if value == b"":
                value = 0
        elif kind in ("int_ptr", "uint_ptr", "ulong_ptr", "off_ptr", "time_ptr", "fd_pair", "sigset"):
            value = bytearray(8) if param.direction != IN else bytes(8)
        elif kind in ("mode", "open_mode"):
            value = 0o644
        args.append(value)
    # A length argument matches the buffer it describes.
    for i, param in enumerate(proto.params):
        if param.name in lengths:
            args[i] = lengths[param.name]
    return tuple(args)


def explain_call(arch: Arch, name: str) -> Explanation:
    """The explanation of ``name`` on ``arch`` (a clear error for a call the arch lacks)."""
    table = syscall_table(arch)
    number = table.number(name)
    if number is None:
        elsewhere = [a.name for a in ARCHES.values() if syscall_table(a).number(name) is not None]
        hint = f" (it exists on {', '.join(elsewhere)})" if elsewhere else ""
        raise SandboxError(f"{name!r} is not a system call on {arch.name}{hint}")
    proto = prototype(name, arch.name)
    args = example_args(proto, arch)
    stub = syscall_stub(arch, name, args, exit_after=proto.returns).text
    return Explanation(arch, name, number, proto, stub)


def compare_rows(name: str) -> list[list[str]]:
    """``name`` on every arch, side by side: a header row, then one row per aspect."""
    arches = list(ARCHES.values())
    present = [a for a in arches if syscall_table(a).number(name) is not None]
    if not present:
        raise SandboxError(f"{name!r} is not a system call on any supported arch ({', '.join(ARCHES)})")
    proto = prototype(name, present[0].name)
    rows = [[name, *(a.name for a in arches)]]
    cell = lambda a, text: text if a in present else "-"  # noqa: E731
    rows.append(["trap", *(cell(a, a.trap.mnemonic) for a in arches)])
    rows.append(["number", *(cell(a, f"{a.number_reg} = {syscall_table(a).number(name)}") for a in arches)])
    for i, param in enumerate(proto.params):
        # The same argument may sit in another position on an arch (clone): look it up by name.
        def register(a: Arch, pname: str = param.name) -> str:
            proto_a = prototype(name, a.name)
            names = [q.name for q in proto_a.params]
            return param_registers(a, proto_a)[names.index(pname)] if pname in names else "-"

        rows.append([param.name, *(cell(a, register(a)) for a in arches)])
    rows.append(["result", *(cell(a, a.ret_reg if proto.returns else "(no return)") for a in arches)])
    rows.append(["clobbered", *(cell(a, ", ".join(c.register for c in a.clobbers) or "nothing") for a in arches)])
    return rows


def table_rows(arch: Arch) -> list[tuple[int, str, str, str]]:
    """Every call of the arch's table: (number, name, model status, prototype), by number."""
    table = syscall_table(arch)
    rows = []
    for name in sorted(table.names(), key=lambda n: (table.number(n), n)):
        nr = table.number(name)
        assert nr is not None
        spec = REGISTRY.get(name)
        status = "-" if spec is None else ("full" if spec.completeness is Completeness.FULL else "partial")
        rows.append((nr, name, status, prototype(name, arch.name).decl()))
    return rows
