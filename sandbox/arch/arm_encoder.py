"""aarch64 and arm (A32) instructions for the built-in assembler: the forms stubs use.

aarch64: ``movz``/``movk`` (with ``lsl #n``), ``mov xN, #imm`` (as movz), ``adr``, ``str``/``ldr``
``xN, [xM{, #imm}]``, ``b``, ``svc``, ``nop``. arm: ``movw``/``movt``, ``mov rN, #imm``,
``ldr rN, label`` (a pc-relative literal), ``str``/``ldr rN, [rM{, #imm}]``, ``b``, ``svc``, ``nop``.
The encodings are those Keystone and GNU as produce for the same text.
"""

from __future__ import annotations

import re

from sandbox.errors import AssemblyError
from sandbox.stubasm import Context, Encoder

_MEM = re.compile(r"^\[\s*(\w+)\s*(?:,\s*#?(.+?))?\s*\]$")


def _imm(text: str, ctx: Context) -> int:
    text = text.strip()
    if text.startswith("#"):
        text = text[1:]
    return ctx.constant(text)


class AArch64Encoder(Encoder):
    """aarch64 stub instructions."""

    arch_name = "aarch64"
    padding = (0xD503201F).to_bytes(4, "little")
    supported = "movz/movk/mov xN, #imm; adr xN, label; ldr/str xN, [xM, #imm]; b label; svc #imm; nop"

    def __init__(self) -> None:
        self.mnemonics = {"movz": self.movz, "movk": self.movk, "mov": self.mov, "adr": self.adr,
                          "str": self.str_, "ldr": self.ldr, "svc": self.svc, "nop": self.nop, "b": self.b}

    def reg(self, text: str, ctx: Context) -> tuple[int, bool]:
        """(number, is 64-bit) of xN/wN, sp-free (stubs never need sp)."""
        name = text.strip().lower()
        aliases = {"fp": "x29", "lr": "x30", "xzr": "x31", "wzr": "w31"}
        name = aliases.get(name, name)
        m = re.fullmatch(r"([xw])(\d+)", name)
        if not m or int(m.group(2)) > 31:
            raise AssemblyError(f"line {ctx.line}: {text!r} is not an aarch64 general register")
        return int(m.group(2)), m.group(1) == "x"

    def _wide(self, opc: int, ops: list[str], ctx: Context) -> bytes:
        if len(ops) not in (2, 3):
            raise AssemblyError(f"line {ctx.line}: expected `reg, #imm16[, lsl #shift]`")
        rd, is64 = self.reg(ops[0], ctx)
        value = _imm(ops[1], ctx)
        shift = 0
        if len(ops) == 3:
            m = re.fullmatch(r"lsl\s+#?(\d+)", ops[2].strip(), re.I)
            if not m:
                raise AssemblyError(f"line {ctx.line}: expected `lsl #shift`, got {ops[2]!r}")
            shift = int(m.group(1))
        if shift not in ((0, 16, 32, 48) if is64 else (0, 16)) or not 0 <= value <= 0xFFFF:
            raise AssemblyError(f"line {ctx.line}: a 16-bit immediate and a shift of 0, 16, 32 or 48 are needed")
        word = (is64 << 31) | (opc << 29) | (0b100101 << 23) | ((shift // 16) << 21) | (value << 5) | rd
        return self.int_bytes(word, 4)

    def movz(self, ops: list[str], ctx: Context) -> bytes:
        """``movz reg, #imm16{, lsl #shift}``."""
        return self._wide(0b10, ops, ctx)

    def movk(self, ops: list[str], ctx: Context) -> bytes:
        """``movk reg, #imm16{, lsl #shift}``."""
        return self._wide(0b11, ops, ctx)

    def mov(self, ops: list[str], ctx: Context) -> bytes:
        """``mov reg, #imm16`` (a movz)."""
        return self._wide(0b10, ops, ctx)

    def adr(self, ops: list[str], ctx: Context) -> bytes:
        """``adr xN, label``: pc-relative, within 1 MiB."""
        rd, _ = self.reg(ops[0], ctx)
        offset = ctx.value(ops[1]) - ctx.address if ctx.final else 0
        if not -(1 << 20) <= offset < (1 << 20):
            raise AssemblyError(f"line {ctx.line}: label out of adr's 1 MiB reach")
        imm = offset & 0x1FFFFF
        word = ((imm & 3) << 29) | (0b10000 << 24) | ((imm >> 2) << 5) | rd
        return self.int_bytes(word, 4)

    def _mem(self, load: bool, ops: list[str], ctx: Context) -> bytes:
        rt, is64 = self.reg(ops[0], ctx)
        m = _MEM.match(ops[1].strip()) if len(ops) == 2 else None
        if not m:
            raise AssemblyError(f"line {ctx.line}: expected `reg, [xN{{, #imm}}]`")
        rn, _ = self.reg(m.group(1), ctx)
        offset = ctx.constant(m.group(2)) if m.group(2) else 0
        scale = 8 if is64 else 4
        if offset % scale or not 0 <= offset // scale < 4096:
            raise AssemblyError(f"line {ctx.line}: offset must be a multiple of {scale} below {4096 * scale}")
        word = ((0b11 if is64 else 0b10) << 30) | (0b111001 << 24) | ((1 if load else 0) << 22) | (offset // scale << 10) | (rn << 5) | rt
        return self.int_bytes(word, 4)

    def str_(self, ops: list[str], ctx: Context) -> bytes:
        """``str reg, [xN{, #imm}]``."""
        return self._mem(False, ops, ctx)

    def ldr(self, ops: list[str], ctx: Context) -> bytes:
        """``ldr reg, [xN{, #imm}]``."""
        return self._mem(True, ops, ctx)

    def svc(self, ops: list[str], ctx: Context) -> bytes:
        """``svc #imm16``."""
        return self.int_bytes(0xD4000001 | ((_imm(ops[0], ctx) & 0xFFFF) << 5), 4)

    def b(self, ops: list[str], ctx: Context) -> bytes:
        """``b label``, within 128 MiB."""
        offset = ctx.value(ops[0]) - ctx.address if ctx.final else 0
        if offset % 4 or not -(1 << 27) <= offset < (1 << 27):
            raise AssemblyError(f"line {ctx.line}: branch target out of reach")
        return self.int_bytes(0x14000000 | ((offset >> 2) & 0x3FFFFFF), 4)

    def nop(self, ops: list[str], ctx: Context) -> bytes:
        """``nop``."""
        return self.int_bytes(0xD503201F, 4)


_ARM_REGS = {f"r{i}": i for i in range(16)}
_ARM_REGS.update(sb=9, sl=10, fp=11, ip=12, sp=13, lr=14, pc=15)
_AL = 0xE << 28  # the "always" condition


class ArmEncoder(Encoder):
    """arm (A32, little-endian) stub instructions."""

    arch_name = "arm"
    padding = (0xE320F000).to_bytes(4, "little")
    supported = "movw/movt/mov rN, #imm; ldr rN, label; ldr/str rN, [rM, #imm]; b label; svc #imm; nop"

    def __init__(self) -> None:
        self.mnemonics = {"movw": self.movw, "movt": self.movt, "mov": self.mov, "ldr": self.ldr,
                          "str": self.str_, "svc": self.svc, "nop": self.nop, "b": self.b}

    def reg(self, text: str, ctx: Context) -> int:
        """The number of r0..r15 (or sp, lr, pc...)."""
        name = text.strip().lower()
        if name not in _ARM_REGS:
            raise AssemblyError(f"line {ctx.line}: {text!r} is not an arm register")
        return _ARM_REGS[name]

    def _move16(self, top: bool, ops: list[str], ctx: Context) -> bytes:
        rd = self.reg(ops[0], ctx)
        value = _imm(ops[1], ctx)
        if not 0 <= value <= 0xFFFF:
            raise AssemblyError(f"line {ctx.line}: {value:#x} does not fit a 16-bit immediate (use movw and movt)")
        word = _AL | ((0x34 if top else 0x30) << 20) | ((value >> 12) << 16) | (rd << 12) | (value & 0xFFF)
        return self.int_bytes(word, 4)

    def movw(self, ops: list[str], ctx: Context) -> bytes:
        """``movw rN, #imm16``: the low half, clearing the top."""
        return self._move16(False, ops, ctx)

    def movt(self, ops: list[str], ctx: Context) -> bytes:
        """``movt rN, #imm16``: the top half."""
        return self._move16(True, ops, ctx)

    def mov(self, ops: list[str], ctx: Context) -> bytes:
        """``mov rN, #imm``: a rotated 8-bit immediate when one fits, else movw (as GNU as does)."""
        rd = self.reg(ops[0], ctx)
        value = _imm(ops[1], ctx) & 0xFFFFFFFF
        for rot in range(16):
            imm8 = ((value << (2 * rot)) | (value >> (32 - 2 * rot))) & 0xFFFFFFFF if rot else value
            if imm8 <= 0xFF:
                return self.int_bytes(_AL | (0x3A << 20) | (rd << 12) | (rot << 8) | imm8, 4)
        return self._move16(False, ops, ctx)

    def _mem(self, load: bool, ops: list[str], ctx: Context) -> bytes:
        rt = self.reg(ops[0], ctx)
        operand = ops[1].strip() if len(ops) == 2 else ""
        m = _MEM.match(operand)
        if m:
            rn = self.reg(m.group(1), ctx)
            offset = ctx.constant(m.group(2)) if m.group(2) else 0
        elif load:
            rn = 15  # ldr rN, label: pc-relative; the pc reads 8 bytes ahead in A32
            offset = ctx.value(operand) - (ctx.address + 8) if ctx.final else 0
        else:
            raise AssemblyError(f"line {ctx.line}: expected `str rN, [rM{{, #imm}}]`")
        if not -4095 <= offset <= 4095:
            raise AssemblyError(f"line {ctx.line}: offset {offset} is out of a load's 4 KiB reach")
        up = 1 if offset >= 0 else 0
        word = _AL | (0b010 << 25) | (1 << 24) | (up << 23) | ((1 if load else 0) << 20) | (rn << 16) | (rt << 12) | abs(offset)
        return self.int_bytes(word, 4)

    def ldr(self, ops: list[str], ctx: Context) -> bytes:
        """``ldr rN, label`` or ``ldr rN, [rM{, #imm}]``."""
        return self._mem(True, ops, ctx)

    def str_(self, ops: list[str], ctx: Context) -> bytes:
        """``str rN, [rM{, #imm}]``."""
        return self._mem(False, ops, ctx)

    def b(self, ops: list[str], ctx: Context) -> bytes:
        """``b label``: the pc reads 8 bytes ahead in A32."""
        offset = ctx.value(ops[0]) - (ctx.address + 8) if ctx.final else 0
        if offset % 4 or not -(1 << 25) <= offset < (1 << 25):
            raise AssemblyError(f"line {ctx.line}: branch target out of reach")
        return self.int_bytes(_AL | (0xA << 24) | ((offset >> 2) & 0xFFFFFF), 4)

    def svc(self, ops: list[str], ctx: Context) -> bytes:
        """``svc #imm24``."""
        return self.int_bytes(_AL | (0xF << 24) | (_imm(ops[0], ctx) & 0xFFFFFF), 4)

    def nop(self, ops: list[str], ctx: Context) -> bytes:
        """``nop`` (the ARMv6K hint, as Keystone encodes it)."""
        return self.int_bytes(0xE320F000, 4)
