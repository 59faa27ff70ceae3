"""System call prototypes: every call's arguments, their C types, direction and meaning.

One table serves everything that needs to know what a call's arguments are: the tracer (how
to show each one, like strace), the teaching commands (``explain``, ``table``: each argument's
name and register), the records' decoded arguments, and a backend that must copy arguments to
and from guest memory (which pointers are read, which are written, and how many bytes).

The table is text, one C-like declaration per call, in :mod:`kernel_model.syscall_prototypes`::

    read(int fd, void *buf {len=count}, size_t count) -> ssize_t
    openat(int dirfd, const char *pathname, int flags {open_flags}, mode_t mode {open_mode}) -> int {fd}

Everything not written in braces is derived from the C type and the name, by the rules in
:func:`_derive`: ``const char *pathname`` is a path read at entry, a non-const pointer is
written by the kernel, ``int fd`` is a descriptor, ``mode_t`` prints in octal... so each line
carries only what a rule cannot know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from kernel_model.constants import table_names, value_names
from kernel_model.registry import CallingConvention, Width, pair_value, place_arguments

IN, OUT, INOUT = "in", "out", "inout"

# Kinds of argument besides the value tables of kernel_model.constants. Each says how the value
# is shown; the memory kinds also say what is read from the guest (see sandbox.trace).
SCALAR_KINDS = frozenset({
    "int", "uint", "long", "ulong", "hex", "octal", "mode", "fd", "dirfd", "pid", "uid", "signal",
    "size", "off", "ptr", "hexoff", "open_mode", "depends", "u64", "futex_wake_op_arg",
})
MEMORY_KINDS = frozenset({
    "path", "string", "buffer", "hexbuffer", "cstring_out", "struct", "iovec", "dirents", "int_ptr",
    "uint_ptr", "ulong_ptr", "off_ptr", "sigset", "argv", "envp", "fd_pair", "time_ptr", "uid_array",
    "ptr_ptr", "cpuset", "pollfds", "comm", "timestamps",
})
RETURN_KINDS = frozenset({
    "int", "long", "ulong", "hex", "ptr", "fd", "pid", "mode", "noreturn", "fcntl_ret", "time", "uid", "signal",
    "poll", "select",
})  # or a value table's name: the number, then its name in parentheses

# How C types decode from a register (as the kernel reads them).
_WIDTHS = {
    "int": Width.S32, "pid_t": Width.S32, "key_serial_t": Width.S32, "timer_t": Width.S32,
    "mqd_t": Width.S32, "clockid_t": Width.S32, "key_t": Width.S32, "rwf_t": Width.S32,
    "unsigned int": Width.U32, "unsigned": Width.U32, "mode_t": Width.U32, "uid_t": Width.U32,
    "gid_t": Width.U32, "qid_t": Width.U32, "uint32_t": Width.U32, "old_sigset_t": Width.U32,
    "long": Width.SWORD, "ssize_t": Width.SWORD, "off_t": Width.SWORD, "loff_t": Width.LOFF,
    "time_t": Width.SWORD,
    "unsigned long": Width.UWORD, "size_t": Width.UWORD, "uint64_t": Width.UWORD,
    "aio_context_t": Width.UWORD,
}
_SCALAR_DEFAULT_KIND = {
    "int": "int", "pid_t": "pid", "unsigned int": "uint", "unsigned": "uint", "mode_t": "mode",
    "uid_t": "uid", "gid_t": "uid", "long": "long", "ssize_t": "long", "off_t": "off", "loff_t": "off",
    "time_t": "long", "unsigned long": "ulong", "size_t": "size", "uint64_t": "u64", "clockid_t": "clockid",
    "aio_context_t": "hex", "key_serial_t": "int", "timer_t": "int", "mqd_t": "int", "qid_t": "uint",
    "uint32_t": "uint", "key_t": "int", "rwf_t": "hex", "old_sigset_t": "hex",
}
_FD_NAMES = re.compile(r"^(fd|oldfd|newfd|epfd|out_fd|in_fd|fd_in|fd_out|pidfd|ufd|fs_fd|fdin|fdout|"
                       r"ruleset_fd|kernel_fd|initrd_fd|sockfd|fanotify_fd|mountdirfd)$")
_DIRFD_NAMES = re.compile(r"^(dirfd|olddirfd|newdirfd|from_dirfd|to_dirfd)$")
_PATH_NAMES = re.compile(r"(path|file|^target$|^source$|^dir$|root|^pathname$|^old$|^new$|^library$|special|"
                         r"^filename$|^name$|^dev_name$|^dir_name$)")


@dataclass(frozen=True)
class Param:
    """One argument of a system call.

    ``kind`` says what the value means and how it is shown: a scalar kind (``fd``, ``mode``),
    a memory kind (``path``, ``buffer``, ``struct``...) or the name of a value table in
    :mod:`kernel_model.constants` (``open_flags``). ``direction`` is which way the data the
    argument points to moves: ``in`` (read by the kernel), ``out`` (written by it) or
    ``inout``; for a plain number it is ``in``. ``length`` names the argument (or ``ret``)
    that gives the size of the pointed-to data; ``struct`` names the struct a pointer points to.
    ``on_error`` marks an output the kernel writes only when the call fails.
    """

    name: str
    c_type: str
    kind: str
    direction: str = IN
    width: Width = Width.UWORD
    length: str | None = None
    struct: str | None = None
    on_error: bool = False  # written only when the call fails (nanosleep's remaining time)

    @property
    def is_pointer(self) -> bool:
        """Whether the argument is an address in guest memory."""
        return self.c_type.endswith("*")

    @property
    def reads_memory(self) -> bool:
        """Whether the kernel reads guest memory through this argument."""
        return self.kind in MEMORY_KINDS and self.direction in (IN, INOUT)

    @property
    def writes_memory(self) -> bool:
        """Whether the kernel writes guest memory through this argument."""
        return self.kind in MEMORY_KINDS and self.direction in (OUT, INOUT)

    def decl(self) -> str:
        """The C declaration: ``const char *pathname``."""
        sep = "" if self.c_type.endswith("*") else " "
        return f"{self.c_type}{sep}{self.name}"


@dataclass(frozen=True)
class Prototype:
    """A system call's signature: its arguments in register order and what it returns."""

    name: str
    params: tuple[Param, ...]
    ret_type: str = "long"
    ret_kind: str = "long"
    known: bool = True  # False: no prototype was written; the arguments are shown raw

    def decl(self) -> str:
        """The C declaration, as a man page writes it: ``ssize_t read(int fd, void *buf, size_t count)``."""
        args = ", ".join(p.decl() for p in self.params) or "void"
        sep = "" if self.ret_type.endswith("*") else " "
        return f"{self.ret_type}{sep}{self.name}({args})"

    def param(self, name: str) -> Param:
        """An argument by name (KeyError if there is none)."""
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def returns(self) -> bool:
        """False for calls that never return (``exit``, ``exit_group``)."""
        return self.ret_kind != "noreturn"

    def decode(self, raw_args: tuple[int, ...], convention: "int | CallingConvention") -> dict[str, int]:
        """Each argument's value as the kernel reads it (signed where the C type is signed).

        ``convention`` is a register width or a :class:`~kernel_model.registry.CallingConvention`:
        on a 32-bit arch a 64-bit argument (``loff_t``) takes two registers, placed as it says.
        """
        conv = convention if isinstance(convention, CallingConvention) else CallingConvention(convention)
        out = {}
        for p, registers in zip(self.params, place_arguments([p.width for p in self.params], conv)):
            values = [raw_args[r] if r < len(raw_args) else 0 for r in registers]
            out[p.name] = pair_value(*values) if len(values) == 2 else decode_width(values[0], p.width, conv.bits)
        return out


def decode_width(raw: int, width: Width, bits: int) -> int:
    """A raw register as a value of ``width`` on a ``bits``-wide arch."""
    if width in (Width.LOFF, Width.LOHI):
        bits = 64  # one register holds all of it on a 64-bit arch
    if width is Width.UWORD:
        return raw & ((1 << bits) - 1)
    if width is Width.U32:
        return raw & 0xFFFFFFFF
    if width is Width.S32:
        return ((raw & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000
    sign = 1 << (bits - 1)
    return ((raw & ((1 << bits) - 1)) ^ sign) - sign


class PrototypeError(ValueError):
    """A line of the prototype table does not parse (a bug in the table, caught by the tests)."""


_LINE = re.compile(r"^(?P<name>\w+)(?:@(?P<arches>[\w,]+))?\((?P<params>.*)\)\s*(?:->\s*(?P<ret>[^{]+?)\s*(?:\{(?P<rann>[^}]*)\})?)?$")
_ALIAS = re.compile(r"^(?P<name>\w+)\s*=\s*(?P<target>\w+)$")
_PARAM = re.compile(r"^(?P<type>.*?[\s*])(?P<name>\w+)\s*(?:\{(?P<ann>[^}]*)\})?$")


def _split_params(text: str) -> list[str]:
    out, depth, cur = [], 0, []
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def _normal_type(text: str) -> str:
    text = " ".join(text.replace("*", " * ").split())
    return text.replace(" *", "*").replace("*", " *").replace("* *", "**").replace("* const", "*const").strip()


def _derive(c_type: str, name: str, notes: list[str], call: str) -> Param:
    """Fill in what a parameter's annotations leave out, from its C type and name."""
    values = set(table_names())
    kind = None
    direction = None
    length = None
    struct = None
    on_error = False
    lohi = False
    for note in notes:
        if note == "lohi":
            lohi = True  # a position the call takes as two words, low then high (preadv)
        elif note == "on_error":
            on_error = True
            direction = OUT
        elif note in (IN, OUT, INOUT):
            direction = note
        elif note.startswith("len="):
            length = note[4:]
        elif note.startswith("struct "):
            kind, struct = "struct", note[7:]
        elif note in SCALAR_KINDS or note in MEMORY_KINDS or note in values or note == "clockid":
            kind = note
        else:
            raise PrototypeError(f"{call}: unknown annotation {note!r} on {name}")
    pointer = c_type.endswith("*")
    const = c_type.startswith("const ")
    base = c_type.removeprefix("const ").rstrip(" *")
    if pointer:
        width = Width.UWORD
        if direction is None:
            direction = IN if const else OUT
        if kind == "timestamps" and struct is None:
            struct = base[7:] if base.startswith("struct ") else None
        if kind is None:
            if base == "char" and c_type.count("*") == 1 and length is None:
                kind = "path" if _PATH_NAMES.search(name) and const else ("string" if const else "cstring_out")
            elif base in ("char", "void", "unsigned char") and length is not None and c_type.count("*") == 1:
                kind = "buffer"
            elif base.startswith("struct ") and c_type.count("*") == 1:
                kind, struct = "struct", base[7:]
            elif c_type.count("*") == 2 and "char" in base:
                kind = "argv"
            elif base in ("int",):
                kind = "int_ptr"
            elif base in ("unsigned int", "unsigned", "uint32_t"):
                kind = "uint_ptr"
            elif base in ("unsigned long", "size_t", "uint64_t"):
                kind = "ulong_ptr"
            elif base in ("loff_t", "off_t"):
                kind = "off_ptr"
            elif base in ("sigset_t", "old_sigset_t"):
                kind = "sigset"
            elif base in ("uid_t", "gid_t"):
                kind = "uid_array" if length else "uint_ptr"
            elif base == "time_t":
                kind = "time_ptr"
            else:
                kind = "ptr"
        if base.startswith("struct ") and struct is None and c_type.count("*") == 1:
            struct = base[7:]
        if kind == "ptr" and not any(n in (IN, OUT, INOUT) for n in notes):
            direction = IN  # an address passed as a value: nothing is known to be copied
    else:
        width = _WIDTHS.get(base, Width.UWORD)
        direction = direction or IN
        if kind is None:
            if _FD_NAMES.match(name):
                kind = "fd"
            elif _DIRFD_NAMES.match(name):
                kind = "dirfd"
            else:
                kind = _SCALAR_DEFAULT_KIND.get(base, "ulong" if base.startswith("unsigned") else "long")
        if kind in ("fd", "dirfd", "pid", "signal") and width is not Width.S32:
            width = Width.S32  # the kernel reads them as int whatever the declared type
        if lohi:
            width = Width.LOHI
    if kind == "struct" and struct is None:
        raise PrototypeError(f"{call}: {name} is a struct without a struct name")
    return Param(name=name, c_type=c_type, kind=kind, direction=direction, width=width, length=length,
                 struct=struct, on_error=on_error)


def parse_line(line: str) -> tuple[Prototype, tuple[str, ...]]:
    """One declaration of the table: the :class:`Prototype`, and the arches it is limited to (if any)."""
    m = _LINE.match(line.strip())
    if not m:
        raise PrototypeError(f"cannot parse prototype {line!r}")
    name = m.group("name")
    params = []
    text = m.group("params").strip()
    if text and text != "void":
        for item in _split_params(text):
            pm = _PARAM.match(item)
            if not pm:
                raise PrototypeError(f"{name}: cannot parse parameter {item!r}")
            notes = [n.strip() for n in (pm.group("ann") or "").split(",") if n.strip()]
            params.append(_derive(_normal_type(pm.group("type")), pm.group("name"), notes, name))
    if len(params) > 6:
        raise PrototypeError(f"{name}: more than six arguments")
    ret_type = _normal_type(m.group("ret") or "long")
    ret_kind = (m.group("rann") or "").strip()
    if not ret_kind:
        base = ret_type.rstrip(" *")
        if ret_type.endswith("*"):
            ret_kind = "ptr"
        elif base in ("int", "long", "ssize_t", "off_t", "loff_t"):
            ret_kind = "int" if base == "int" else "long"
        elif base == "pid_t":
            ret_kind = "pid"
        elif base == "mode_t":
            ret_kind = "mode"
        elif base in ("uid_t", "gid_t"):
            ret_kind = "uid"
        elif base == "void":
            ret_kind = "noreturn"
        else:
            ret_kind = "ulong" if base.startswith("unsigned") or base == "size_t" else "long"
    if ret_kind not in RETURN_KINDS and ret_kind not in table_names():
        raise PrototypeError(f"{name}: unknown return kind {ret_kind!r}")
    names = [p.name for p in params]
    for p in params:
        if p.length and p.length != "ret" and p.length not in names and not p.length.isdigit():
            raise PrototypeError(f"{name}: {p.name} has len={p.length}, which is not an argument")
    arches = tuple(m.group("arches").split(",")) if m.group("arches") else ()
    return Prototype(name=name, params=tuple(params), ret_type=ret_type, ret_kind=ret_kind), arches


@lru_cache(maxsize=None)
def _parsed() -> tuple[dict[str, Prototype], dict[tuple[str, str], Prototype]]:
    from kernel_model.syscall_prototypes import PROTOTYPES

    table: dict[str, Prototype] = {}
    variants: dict[tuple[str, str], Prototype] = {}
    aliases: list[tuple[str, str]] = []
    for raw in PROTOTYPES.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        am = _ALIAS.match(line)
        if am:
            aliases.append((am.group("name"), am.group("target")))
            continue
        proto, arches = parse_line(line)
        for arch in arches:
            if (proto.name, arch) in variants:
                raise PrototypeError(f"{proto.name}@{arch} is declared twice")
            variants[proto.name, arch] = proto
        if arches:
            continue
        if proto.name in table:
            raise PrototypeError(f"{proto.name} is declared twice")
        table[proto.name] = proto
    for name, target in aliases:
        if target not in table:
            raise PrototypeError(f"{name} = {target}: no such prototype")
        if name in table:
            raise PrototypeError(f"{name} is declared twice")
        base = table[target]
        table[name] = Prototype(name=name, params=base.params, ret_type=base.ret_type, ret_kind=base.ret_kind)
    for (name, arch), proto in list(variants.items()):
        if name not in table:
            raise PrototypeError(f"{name}@{arch} has no generic prototype")
    return table, variants


def all_prototypes() -> dict[str, Prototype]:
    """Every prototype in the table, by system call name (aliases included), in its generic form."""
    return _parsed()[0]


def prototype(name: str, arch: str | None = None) -> Prototype:
    """The prototype of ``name`` on ``arch`` (a few calls differ: ``clone``'s argument order...).

    A call nobody described gets six raw ``unsigned long`` arguments and ``known`` False.
    """
    table, variants = _parsed()
    if arch is not None:
        variant = variants.get((name, arch))
        if variant is not None:
            return variant
    proto = table.get(name)
    if proto is not None:
        return proto
    return _unknown(name)


@lru_cache(maxsize=None)
def _unknown(name: str) -> Prototype:
    params = tuple(Param(name=f"arg{i}", c_type="unsigned long", kind="hex") for i in range(6))
    return Prototype(name=name, params=params, known=False)


@dataclass(frozen=True)
class Effective:
    """How one argument is read and shown in one call, once its value's context is known."""

    kind: str
    direction: str = IN
    struct: str | None = None
    length: str | None = None


def dependent_return(call: str, values: dict[str, int], arch: str) -> str | None:
    """The value table a call's result is named from, when it depends on an argument (prctl)."""
    dep = _dependent_cases(call)
    if dep is None:
        return None
    selector, table, mask, cases = dep
    name = value_names(table, arch).lookup(values.get(selector, 0) & mask)
    spec = cases.get(name or "", cases["*"]).get("return")
    return spec.kind if spec is not None else None


def _case_spec(text: str) -> Effective:
    words = text.split()
    direction = words.pop() if words[-1] in (IN, OUT, INOUT) else IN
    if words[0] == "struct":
        return Effective("struct", direction, words[1])
    return Effective(words[0], direction)


@lru_cache(maxsize=None)
def _dependent_cases(call: str) -> tuple[str, str, int, dict[str, dict[str, Effective]]] | None:
    from kernel_model.syscall_prototypes import DEPENDENT

    entry = DEPENDENT.get(call)
    if entry is None:
        return None
    selector, table, mask, cases = entry
    return selector, table, mask, {k: {p: _case_spec(v) for p, v in c.items()} for k, c in cases.items()}


def effective(param: Param, values: dict[str, int], arch: str, call: str) -> Effective | None:
    """How ``param`` of ``call`` is shown and read given the call's decoded ``values``.

    None: the argument is not shown (a mode without O_CREAT, fcntl's unused argument).
    """
    kind = param.kind
    if kind == "open_mode":
        # The mode means something only when the call may create a file (strace omits it too).
        flags = values.get("flags", values.get("oflag", 0))
        names = value_names("open_flags", arch)
        tmpfile = names.parse("O_TMPFILE")
        if flags & names.parse("O_CREAT") or flags & tmpfile == tmpfile:
            return Effective("mode")
        return None
    if kind == "depends":
        dep = _dependent_cases(call)
        if dep is None:
            return Effective("hex")
        selector, table, mask, cases = dep
        name = value_names(table, arch).lookup(values.get(selector, 0) & mask)
        case = cases.get(name or "", cases["*"])
        return case.get(param.name)
    return Effective(kind, param.direction, param.struct, param.length)
