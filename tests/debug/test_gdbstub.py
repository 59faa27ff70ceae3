"""The gdb stub's protocol, driven packet by packet without gdb."""

from __future__ import annotations

import io
import socket
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from sandbox import Sandbox
from sandbox.commands.gdbserver import exec_file_for
from sandbox.debug.gdbstub import Connection, GdbStub, checksum, escape, unescape

ROOT = Path(__file__).resolve().parents[2]
ARCHES = ["x86_64", "aarch64"]


def stub_for(arch: str, text: str | None = None) -> tuple[GdbStub, Sandbox, socket.socket]:
    sb = Sandbox(arch)
    path = str(ROOT / f"examples/hello/hello.{arch}.s")
    if text is None:
        sb.load_file(path)
    else:
        sb.load_asm(text)
    sb.record()
    stub = GdbStub(sb.debugger, exec_file_for(sb, path))
    ours, theirs = socket.socketpair()
    stub.conn = Connection(ours)
    stub.conn.acks = False
    return stub, sb, theirs


def test_escaping_and_checksums():
    data = bytes(range(256))
    assert unescape(escape(data)) == data
    assert b"#" not in escape(b"a#b$c}d*") and checksum(b"OK") == 0x9A


def test_framing_acks_and_interrupts():
    ours, theirs = socket.socketpair()
    conn = Connection(ours)
    good = f"{checksum(b'm0,1'):02x}".encode()
    theirs.sendall(b"+$qC#b4\x03$m0,1#00$m0,1#" + good)
    assert conn.read_packet() == b"qC"
    assert conn.read_packet() == b"\x03"
    assert conn.read_packet() == b"m0,1"  # a bad checksum is refused with '-'; gdb sends it again
    theirs.settimeout(1)
    assert theirs.recv(3) == b"+-+"
    theirs.close()
    assert conn.read_packet() is None


@pytest.mark.parametrize("arch", ARCHES)
def test_target_description(arch):
    stub, sb, _ = stub_for(arch)
    reply = stub.handle(b"qXfer:features:read:target.xml:0,fffff")
    assert reply[:1] == b"l"
    root = ET.fromstring(unescape(reply[1:]).decode())
    assert root.findtext("osabi") == "GNU/Linux"
    regs = root.findall(".//reg")
    assert [int(r.get("regnum")) for r in regs] == list(range(len(regs)))
    names = {r.get("name") for r in regs}
    features = {f.get("name") for f in root.findall("feature")}
    if arch == "x86_64":
        assert root.findtext("architecture") == "i386:x86-64"
        assert "org.gnu.gdb.i386.linux" in features and "orig_rax" in names and "st7" in names
    else:
        assert root.findtext("architecture") == "aarch64"
        assert {"org.gnu.gdb.aarch64.core", "org.gnu.gdb.aarch64.fpu"} <= features and "cpsr" in names
    size = sum(int(r.get("bitsize")) for r in regs) // 4
    assert len(stub.handle(b"g")) == size


@pytest.mark.parametrize("arch,pc_reg", [("x86_64", 16), ("aarch64", 32)])
def test_registers_and_memory_packets(arch, pc_reg):
    stub, sb, _ = stub_for(arch)
    assert stub.handle(f"p{pc_reg:x}".encode()) == (0x400000).to_bytes(8, "little").hex()
    assert stub.handle(b"m400000,4") == sb.read_memory(0x400000, 4).hex()
    assert stub.handle(b"m10,4") == "E0e"
    msg = sb.machine.symbols["msg"]
    assert stub.handle(f"M{msg:x},5:4a656c6c6f".encode()) == "OK"
    assert stub.handle(f"X{msg:x},2:".encode() + escape(b"#$")) == "OK"
    assert sb.read_memory(msg, 5) == b"#$llo"
    ret = {"x86_64": 0, "aarch64": 0}[arch]
    assert stub.handle(f"P{ret:x}=".encode() + (5).to_bytes(8, "little").hex().encode()) == "OK"
    assert sb.reg({"x86_64": "rax", "aarch64": "x0"}[arch]) == 5


@pytest.mark.parametrize("arch", ARCHES)
def test_catch_syscalls_breakpoints_and_the_exit(arch):
    stub, sb, _ = stub_for(arch)
    nr = {"x86_64": 1, "aarch64": 64}[arch]
    assert stub.handle(f"QCatchSyscalls:1;{nr:x}".encode()) == "OK"
    assert stub.handle(b"vCont;c") == f"T05syscall_entry:{nr:x};thread:3e8;"
    if arch == "x86_64":
        assert stub.handle(b"p39") == (1).to_bytes(8, "little").hex()  # orig_rax at the entry
    assert stub.handle(b"c") == f"T05syscall_return:{nr:x};thread:3e8;"
    assert stub.handle(b"bc") == f"T05syscall_entry:{nr:x};thread:3e8;"  # backwards: the entry is next
    stub.handle(b"QCatchSyscalls:0")
    assert stub.handle(b"Z0,400000,1") == "OK" and stub.handle(b"bc") == "T05swbreak:;thread:3e8;"
    assert stub.handle(b"z0,400000,1") == "OK" and not sb.debugger.breakpoints
    assert stub.handle(b"bs") == "T05replaylog:begin;thread:3e8;"
    assert stub.handle(b"s") == "T05thread:3e8;" and sb.reg("pc") != 0x400000
    assert stub.handle(b"vCont;c:3e8") == "W00"


def test_an_interrupt_stops_a_running_guest():
    stub, sb, theirs = stub_for("x86_64", "loop: jmp loop")
    threading.Timer(0.3, lambda: theirs.sendall(b"\x03")).start()
    t = time.perf_counter()
    assert stub.handle(b"c") == "T02thread:3e8;"
    assert time.perf_counter() - t < 10


def test_monitor_commands_answer_with_console_output():
    stub, sb, theirs = stub_for("x86_64")
    assert stub.handle(b"qRcmd," + b"maps".hex().encode()) == "OK"
    theirs.settimeout(1)
    data = theirs.recv(65536)
    text = bytes.fromhex(data[2:data.index(b"#")].decode()).decode()
    assert "[stack]" in text and "hello.x86_64.s" in text


@pytest.mark.parametrize("arch", ARCHES)
def test_the_program_file_for_an_assembly_stub_has_its_labels(arch):
    stub, sb, _ = stub_for(arch)
    name = unescape(stub.handle(b"qXfer:exec-file:read::0,fff")[1:]).decode()
    assert name.endswith(f"hello.{arch}.s.elf")
    fd = int(stub.handle(b"vFile:open:" + name.encode().hex().encode() + b",0,0")[1:], 16)
    data = b""
    while True:
        reply = stub.handle(f"vFile:pread:{fd:x},1000,{len(data):x}".encode())
        count, _, chunk = reply[1:].partition(b";")
        if int(count, 16) == 0:
            break
        data += unescape(chunk)
    assert stub.handle(f"vFile:close:{fd:x}".encode()) == "F0"
    elf = ELFFile(io.BytesIO(data))
    symbols = {s.name: s["st_value"] for s in elf.get_section_by_name(".symtab").iter_symbols() if s.name}
    assert symbols == sb.machine.symbols
    assert stub.handle(b"vFile:open:" + b"/etc/passwd".hex().encode() + b",0,0") == "F-1,2"
