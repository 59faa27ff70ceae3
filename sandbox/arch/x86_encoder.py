"""x86_64 and i386 instructions for the built-in assembler: the forms system call stubs use.

``mov reg, imm``, ``lea reg, [rip + label]`` (x86_64) or ``lea reg, [label]`` (i386),
``mov`` between a register and ``qword/dword ptr [...]``, ``jmp label``, ``syscall``, ``int imm`` and ``nop``. The encodings are the
ones Keystone chooses for the same text, so a stub assembles to the same bytes either way.
"""

from __future__ import annotations

import re

from sandbox.errors import AssemblyError
from sandbox.stubasm import Context, Encoder

_REG64 = {name: i for i, name in enumerate(("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"))}
_REG64.update({f"r{i}": i for i in range(8, 16)})
_REG32 = {name: i for i, name in enumerate(("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"))}
_REG32_X64 = dict(_REG32, **{f"r{i}d": i for i in range(8, 16)})
_MEMORY = re.compile(r"^(?:(?:qword|dword)\s+ptr\s+)?\[\s*(?:rip\s*\+\s*)?(.+?)\s*\]$", re.I)


def _s32(value: int) -> bool:
    return -(1 << 31) <= value < (1 << 31)


class _X86(Encoder):
    padding = b"\x90"
    word_directive_size = 2
    align_is_power_of_two = False
    rip_relative = False
    supported = ""

    def __init__(self) -> None:
        self.mnemonics = {"mov": self.mov, "lea": self.lea, "syscall": self.syscall, "int": self.int_, "nop": self.nop,
                          "jmp": self.jmp}

    def reg(self, text: str, ctx: Context) -> tuple[int, int]:
        """(register number, width in bits) of a register operand."""
        raise NotImplementedError

    def memory_operand(self, text: str, ctx: Context) -> int | None:
        """The label address of a ``[label]`` / ``[rip + label]`` operand, or None if not one."""
        m = _MEMORY.match(text.strip())
        if not m:
            return None
        if self.rip_relative != ("rip" in text.lower()):
            raise AssemblyError(
                f"line {ctx.line}: the built-in {self.arch_name} assembler takes memory operands as "
                + ("[rip + label]" if self.rip_relative else "[label]")
            )
        return ctx.value(m.group(1))

    def _modrm_label(self, opcode: bytes, reg: int, rex: int, target: int, ctx: Context) -> bytes:
        # mod=00 rm=101: [rip + disp32] on x86_64, [disp32] on i386.
        head = (bytes([rex]) if rex else b"") + opcode + bytes([0x05 | (reg & 7) << 3])
        if self.rip_relative:
            disp = target - (ctx.address + len(head) + 4) if ctx.final else 0
            if not _s32(disp):
                raise AssemblyError(f"line {ctx.line}: label out of reach of a rip-relative operand")
        else:
            disp = target
        return head + self.int_bytes(disp, 4)

    def mov(self, ops: list[str], ctx: Context) -> bytes:
        """``mov reg, imm``, ``mov [label], reg`` or ``mov reg, [label]``."""
        if len(ops) != 2:
            raise AssemblyError(f"line {ctx.line}: mov takes two operands")
        source = self.memory_operand(ops[1], ctx)
        if source is not None:
            reg, bits = self.reg(ops[0], ctx)
            if reg == 0 and not self.rip_relative:
                return b"\xa1" + self.int_bytes(source, 4)  # mov eax, moffs32
            return self._modrm_label(b"\x8b", reg, self.rex(bits, reg), source, ctx)
        target = self.memory_operand(ops[0], ctx)
        if target is not None:
            reg, bits = self.reg(ops[1], ctx)
            if reg == 0 and not self.rip_relative:
                return b"\xa3" + self.int_bytes(target, 4)  # mov moffs32, eax
            return self._modrm_label(b"\x89", reg, self.rex(bits, reg), target, ctx)
        reg, bits = self.reg(ops[0], ctx)
        value = ctx.constant(ops[1])
        if bits == 64:
            rex = 0x48 | (reg >> 3)
            value &= (1 << 64) - 1
            signed = value - (1 << 64) if value >> 63 else value
            if _s32(signed):
                return bytes([rex, 0xC7, 0xC0 | (reg & 7)]) + self.int_bytes(signed, 4)
            return bytes([rex, 0xB8 | (reg & 7)]) + self.int_bytes(value, 8)
        rex = 0x41 if reg >= 8 else 0
        return (bytes([rex]) if rex else b"") + bytes([0xB8 | (reg & 7)]) + self.int_bytes(value, 4)

    def rex(self, bits: int, reg: int) -> int:
        """The REX prefix for a register in the ModRM reg field (0: none needed)."""
        return (0x48 if bits == 64 else (0x40 if reg >= 8 else 0)) | (0x04 if reg >= 8 else 0)

    def lea(self, ops: list[str], ctx: Context) -> bytes:
        """``lea reg, [label]`` / ``lea reg, [rip + label]``: the address of a label."""
        if len(ops) != 2:
            raise AssemblyError(f"line {ctx.line}: lea takes two operands")
        reg, bits = self.reg(ops[0], ctx)
        target = self.memory_operand(ops[1], ctx)
        if target is None:
            raise AssemblyError(f"line {ctx.line}: lea needs a memory operand")
        return self._modrm_label(b"\x8d", reg, self.rex(bits, reg), target, ctx)

    def syscall(self, ops: list[str], ctx: Context) -> bytes:
        """``syscall``."""
        if not self.rip_relative:
            raise AssemblyError(f"line {ctx.line}: i386 traps with `int 0x80`, not `syscall`")
        return b"\x0f\x05"

    def int_(self, ops: list[str], ctx: Context) -> bytes:
        """``int imm8``."""
        return bytes([0xCD, ctx.constant(ops[0]) & 0xFF])

    def nop(self, ops: list[str], ctx: Context) -> bytes:
        """``nop``."""
        return b"\x90"

    def jmp(self, ops: list[str], ctx: Context) -> bytes:
        """``jmp label``, always the 5-byte form (Keystone may choose the 2-byte one)."""
        offset = ctx.value(ops[0]) - (ctx.address + 5) if ctx.final else 0
        if not _s32(offset):
            raise AssemblyError(f"line {ctx.line}: jump target out of reach")
        return b"\xe9" + self.int_bytes(offset, 4)


class X86_64Encoder(_X86):
    """x86_64 stub instructions."""

    arch_name = "x86_64"
    rip_relative = True
    supported = "mov reg, imm; lea reg, [rip + label]; mov between a register and [rip + label]; jmp label; syscall; int imm; nop"

    def reg(self, text: str, ctx: Context) -> tuple[int, int]:
        """(register number, width) of rax..r15 or eax..r15d."""
        name = text.strip().lower()
        if name in _REG64:
            return _REG64[name], 64
        if name in _REG32_X64:
            return _REG32_X64[name], 32
        raise AssemblyError(f"line {ctx.line}: {text!r} is not a register the built-in x86_64 assembler knows")


class I386Encoder(_X86):
    """i386 stub instructions."""

    arch_name = "i386"
    supported = "mov reg, imm; lea reg, [label]; mov between a register and [label]; jmp label; int 0x80; nop"

    def reg(self, text: str, ctx: Context) -> tuple[int, int]:
        """(register number, width) of eax..edi."""
        name = text.strip().lower()
        if name in _REG32:
            return _REG32[name], 32
        raise AssemblyError(f"line {ctx.line}: {text!r} is not an i386 register")
