"""The prototype table and the value tables: complete, consistent with the handlers, per arch."""

from __future__ import annotations

import pytest
import system_calls

import kernel_model  # noqa: F401 - registers the handlers
from kernel_model.constants import table_names, value_names
from kernel_model.abi import ABI
from kernel_model.prototypes import IN, INOUT, OUT, PrototypeError, all_prototypes, parse_line, prototype
from kernel_model.registry import REGISTRY, Width
from kernel_model.seam import KernelArch
from kernel_model.struct_layouts import known_structs, struct_layout

# Every arch the project runs or is about to run (i386, arm and riscv64 are coming).
TABLES = ["x86_64", "arm64", "i386", "arm", "riscv64"]


@pytest.mark.parametrize("table", TABLES)
def test_every_call_of_the_kernel_tables_has_a_prototype(table):
    names = system_calls.syscalls().load_arch_table(table)
    missing = [n for n in names if not prototype(n).known]
    assert missing == []


def test_the_handlers_agree_with_the_table():
    """Same arguments, same names, same decoding: records, traces and handlers see one thing.

    A call whose arguments are in another order on some arches (clone) has one handler for all
    of them, with neutral names: there only the decoding must agree.
    """
    # A model that serves another name on some arch (i386's mmap is old_mmap) is compared with
    # that name's prototype on that arch.
    serving = {model: (guest, arch) for arch, abi in ABI.items() for guest, model in abi.served_by.items()}
    for name, spec in REGISTRY.items():
        guest, arch = serving.get(name, (name, None))
        proto = prototype(guest, arch) if not prototype(name).known else prototype(name)
        assert proto.known, name
        theirs = [(p, kind.width) for p, kind in spec.params]
        variants = {tuple(q.name for q in prototype(name, a).params) for a in ("x86_64", "aarch64", "riscv64")}
        if len(variants) > 1:
            assert [w for _, w in theirs] == [p.width for p in proto.params], name
            continue
        assert [(p.name, p.width) for p in proto.params] == theirs, name


def test_what_rules_derive_from_types_and_names():
    read = prototype("read")
    assert read.decl() == "ssize_t read(int fd, void *buf, size_t count)"
    fd, buf, count = read.params
    assert (fd.kind, fd.width) == ("fd", Width.S32)
    assert (buf.kind, buf.direction, buf.length) == ("buffer", OUT, "count")
    assert buf.writes_memory and not buf.reads_memory and buf.is_pointer
    assert (count.kind, count.width) == ("size", Width.UWORD)
    openat = prototype("openat")
    assert [p.kind for p in openat.params] == ["dirfd", "path", "open_flags", "open_mode"]
    assert openat.params[1].direction == IN and openat.ret_kind == "fd"
    stat = prototype("newfstatat").params[2]
    assert (stat.kind, stat.struct, stat.direction) == ("struct", "stat", OUT)
    assert prototype("exit_group").returns is False
    assert prototype("mmap").ret_kind == "ptr" and prototype("umask").ret_kind == "mode"
    assert prototype("accept").params[2].direction == INOUT
    assert prototype("nanosleep").params[1].on_error


def test_decoding_follows_the_c_types():
    values = prototype("openat").decode((2**64 - 100, 0x1000, 0xFFFFFFFF00000241, 0o644, 7, 7), 64)
    assert values == {"dirfd": -100, "pathname": 0x1000, "flags": 0x241, "mode": 0o644}
    assert prototype("lseek").decode((3, 2**64 - 1, 0), 64)["offset"] == -1


def test_a_few_calls_differ_per_arch():
    x86 = [p.name for p in prototype("clone", "x86_64").params]
    arm = [p.name for p in prototype("clone", "aarch64").params]
    assert x86 == ["flags", "stack", "parent_tid", "child_tid", "tls"]
    assert arm == ["flags", "stack", "parent_tid", "tls", "child_tid"]
    assert prototype("mmap", "i386").decl() == "void *mmap(struct mmap_arg_struct *args)"


def test_a_call_nobody_described_gets_raw_arguments():
    p = prototype("syscall_0x3e7")
    assert not p.known and len(p.params) == 6 and p.params[0].kind == "hex"


@pytest.mark.parametrize("line,message", [
    ("foo(int fd {nonsense}) -> int", "unknown annotation"),
    ("foo(void *buf {len=size}) -> int", "not an argument"),
    ("foo(int a, int b, int c, int d, int e, int f, int g)", "more than six"),
    ("foo(int fd) -> int {weird}", "unknown return kind"),
    ("foo int fd", "cannot parse"),
])
def test_a_bad_line_is_refused_with_a_reason(line, message):
    with pytest.raises(PrototypeError, match=message):
        parse_line(line)


def test_open_flags_differ_between_x86_64_and_aarch64():
    x86, arm = value_names("open_flags", "x86_64"), value_names("open_flags", "aarch64")
    assert x86.render(0o200000) == "O_RDONLY|O_DIRECTORY"
    assert arm.render(0o40000) == "O_RDONLY|O_DIRECTORY"
    assert arm.render(0o200000) == "O_RDONLY|O_DIRECT"
    assert x86.parse("O_WRONLY|O_CREAT|O_TRUNC") == 0o1101
    assert arm.render(0o2000000 | 0o400000 | 2) == "O_RDWR|O_LARGEFILE|O_CLOEXEC"


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
@pytest.mark.parametrize("table", table_names())
def test_every_name_renders_and_parses_back(table, arch):
    names = value_names(table, arch)
    for name, value in names.entries:
        text = names.render(value)
        assert names.parse(text) == value, (name, text)


def test_flags_enums_and_unknown_values_print_like_strace():
    assert value_names("prot", "x86_64").render(0) == "PROT_NONE"
    assert value_names("prot", "x86_64").render(5 | 0x100) == "PROT_READ|PROT_EXEC|0x100"
    assert value_names("map_flags", "x86_64").render(0x22) == "MAP_PRIVATE|MAP_ANONYMOUS"
    assert value_names("map_flags", "x86_64").render(0x20) == "MAP_FILE|MAP_ANONYMOUS"
    assert value_names("map_flags", "aarch64").render(0x42) == "MAP_PRIVATE|0x40"  # MAP_32BIT is x86-only
    assert value_names("access_mode", "x86_64").render(0) == "F_OK"
    assert value_names("whence", "x86_64").render(9) == "0x9 /* SEEK_??? */"
    assert value_names("clockid", "x86_64").render(1) == "CLOCK_MONOTONIC"
    assert value_names("at_flags", "x86_64").render(0) == "0"


def test_struct_layouts_are_the_kernels():
    x86 = KernelArch("x86_64", 64, "x86_64")
    arm = KernelArch("aarch64", 64, "aarch64")
    assert struct_layout("stat", x86).size == 144 and struct_layout("stat", arm).size == 128
    assert struct_layout("timespec", x86).size == 16 and struct_layout("tms", x86).size == 32
    assert struct_layout("sigaction", x86).size == 32 and struct_layout("stack_t", arm).size == 24
    assert struct_layout("nonesuch", x86) is None
    assert all(struct_layout(name, x86) is not None for name in known_structs())


def test_table_is_large_and_distinct():
    protos = all_prototypes()
    assert len(protos) >= 460
    assert all(p.name == name for name, p in protos.items())
