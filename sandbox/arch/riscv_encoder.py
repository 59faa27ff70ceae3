"""A RISC-V assembler for riscv64: all of RV64I and the M extension, and GNU as's pseudo-instructions.

Keystone has no RISC-V, so stubs, examples and user code for riscv64 are assembled here. The
syntax is GNU as's: ABI register names (``a0``, ``sp``, ``t0``...) or ``x0``-``x31``, loads and
stores as ``ld a0, 8(sp)``, and the pseudo-instructions ``nop li la lla mv not neg negw sext.w
seqz snez sltz sgtz beqz bnez blez bgez bltz bgtz bgt ble bgtu bleu j jr ret call tail`` with
``%hi()``/``%lo()``. Instructions are never compressed (no RVC), so every one is four bytes
and the code runs on any RV64IM CPU.
"""

from __future__ import annotations

import re

from sandbox.errors import AssemblyError
from sandbox.stubasm import Context, Encoder

ABI_NAMES = ("zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4", "a5",
             "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6")
_REGS = {name: i for i, name in enumerate(ABI_NAMES)}
_REGS.update({f"x{i}": i for i in range(32)}, fp=8)

_OP_IMM, _OP, _OP_IMM_32, _OP_32 = 0x13, 0x33, 0x1B, 0x3B
_LOADS = {"lb": 0, "lh": 1, "lw": 2, "ld": 3, "lbu": 4, "lhu": 5, "lwu": 6}
_STORES = {"sb": 0, "sh": 1, "sw": 2, "sd": 3}
_BRANCHES = {"beq": 0, "bne": 1, "blt": 4, "bge": 5, "bltu": 6, "bgeu": 7}
_IMM_OPS = {"addi": 0, "slti": 2, "sltiu": 3, "xori": 4, "ori": 6, "andi": 7}
_SHIFTS = {"slli": (1, 0), "srli": (5, 0), "srai": (5, 0x10)}
_SHIFTS_W = {"slliw": (1, 0), "srliw": (5, 0), "sraiw": (5, 0x20)}
_REG_OPS = {"add": (0, 0), "sub": (0, 0x20), "sll": (1, 0), "slt": (2, 0), "sltu": (3, 0), "xor": (4, 0),
            "srl": (5, 0), "sra": (5, 0x20), "or": (6, 0), "and": (7, 0),
            "mul": (0, 1), "mulh": (1, 1), "mulhsu": (2, 1), "mulhu": (3, 1), "div": (4, 1), "divu": (5, 1),
            "rem": (6, 1), "remu": (7, 1)}
_REG_OPS_W = {"addw": (0, 0), "subw": (0, 0x20), "sllw": (1, 0), "srlw": (5, 0), "sraw": (5, 0x20),
              "mulw": (0, 1), "divw": (4, 1), "divuw": (5, 1), "remw": (6, 1), "remuw": (7, 1)}
# pseudo branch -> (real branch, whether the operands swap)
_BRANCH_ALIASES = {"bgt": ("blt", True), "ble": ("bge", True), "bgtu": ("bltu", True), "bleu": ("bgeu", True)}
# branch against zero -> (real branch, zero first)
_ZERO_BRANCHES = {"beqz": ("beq", False), "bnez": ("bne", False), "blez": ("bge", True), "bgez": ("bge", False),
                  "bltz": ("blt", False), "bgtz": ("blt", True)}
_MEM_OPERAND = re.compile(r"^(.*)\(\s*(\w+)\s*\)$")
_RELOC = re.compile(r"^%(hi|lo)\((.+)\)$")


def _sext(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def li_sequence(value: int, top: bool = True) -> list[tuple[str, int]]:
    """The instructions ``li`` expands to for a 64-bit value: (``lui``/``addi``/``addiw``/``slli``, imm).

    GNU as's expansion, so the bytes are the same: a 12-bit immediate is one ``addi``; a
    32-bit value is ``lui`` plus ``addiw``; a wider one is the value without its low 12 bits,
    shifted right past its trailing zeros and built the same way, then ``slli`` and an
    ``addi`` for the low 12 bits.
    """
    value = _sext(value, 64)
    if top and -2048 <= value < 2048:
        return [("addi", value)]
    lo = _sext(value, 12)
    upper = value - lo
    if -(1 << 31) <= value < (1 << 31):
        seq = [("lui", (upper >> 12) & 0xFFFFF)] if upper else []
        if lo or not upper:
            seq.append(("addiw", lo))
        return seq
    shift = 12
    while not (upper >> shift) & 1:
        shift += 1
    seq = li_sequence(upper >> shift, top=False) + [("slli", shift)]
    if lo:
        seq.append(("addi", lo))
    return seq


class RiscvEncoder(Encoder):
    """RV64IM with GNU as's pseudo-instructions."""

    padding = (0x13).to_bytes(4, "little")

    arch_name = "riscv64"
    complete = True
    supported = "RV64I, the M extension and the usual pseudo-instructions (li, la, mv, call, ret, beqz, rdtime...)"

    def __init__(self) -> None:
        m: dict = {}
        for name in _LOADS:
            m[name] = self.load
        for name in _STORES:
            m[name] = self.store
        for name in _BRANCHES:
            m[name] = self.branch
        for name in _BRANCH_ALIASES:
            m[name] = self.branch
        for name in _ZERO_BRANCHES:
            m[name] = self.branch_zero
        for name in (*_IMM_OPS, "addiw"):
            m[name] = self.op_imm
        for name in (*_SHIFTS, *_SHIFTS_W):
            m[name] = self.shift
        for name in (*_REG_OPS, *_REG_OPS_W):
            m[name] = self.op
        m.update(
            lui=self.lui, auipc=self.auipc, jal=self.jal, jalr=self.jalr, j=self.j, jr=self.jr, ret=self.ret,
            call=self.call, tail=self.tail, ecall=self.fixed(0x73), ebreak=self.fixed(0x00100073),
            fence=self.fixed(0x0FF0000F), nop=self.fixed(0x13), li=self.li, la=self.la, lla=self.la,
            mv=self.mv, neg=self.neg, negw=self.neg,
            seqz=self.compare_zero, snez=self.compare_zero, sltz=self.compare_zero, sgtz=self.compare_zero,
        )
        for name, csr in (("rdcycle", 0xC00), ("rdtime", 0xC01), ("rdinstret", 0xC02)):
            m[name] = self.counter_read(csr)
        m["fence.i"] = self.fixed(0x0000100F)
        m["sext.w"] = self.sext_w
        m["not"] = self.not_
        self.mnemonics = m
        self._mnemonic = ""

    def encode(self, mnemonic: str, operands: list[str], ctx: Context) -> bytes:
        """The machine code of one instruction (or pseudo-instruction)."""
        self._mnemonic = mnemonic
        return super().encode(mnemonic, operands, ctx)

    def counter_read(self, csr: int):  # type: ignore[no-untyped-def]
        """``rdtime rd`` and its kin: ``csrrs rd, csr, x0``."""

        def encode(ops: list[str], ctx: Context) -> bytes:
            self.count(ops, 1, ctx, "rd")
            return self.i_type(0x73, 2, self.reg(ops[0], ctx), 0, csr)

        return encode

    # -- operands ----------------------------------------------------------------------------

    def reg(self, text: str, ctx: Context) -> int:
        """The number of a register by ABI name or ``xN``."""
        name = text.strip().lower()
        if name not in _REGS:
            raise AssemblyError(f"line {ctx.line}: {text!r} is not a riscv64 register")
        return _REGS[name]

    def imm(self, text: str, ctx: Context, bits: int, *, constant: bool = False) -> int:
        """A signed immediate of ``bits`` bits (``%hi``/``%lo`` of an address allowed)."""
        text = text.strip()
        m = _RELOC.match(text)
        if m:
            value = ctx.value(m.group(2))
            lo = _sext(value, 12)
            return lo if m.group(1) == "lo" else ((value - lo) >> 12) & 0xFFFFF
        value = ctx.constant(text) if constant else ctx.value(text)
        if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
            raise AssemblyError(f"line {ctx.line}: {value} does not fit a {bits}-bit signed immediate")
        return value

    def count(self, ops: list[str], n: int, ctx: Context, form: str) -> None:
        """Refuse a wrong number of operands, naming the expected form."""
        if len(ops) != n:
            raise AssemblyError(f"line {ctx.line}: expected `{self._mnemonic} {form}`")

    def word(self, value: int) -> bytes:
        """One 32-bit instruction."""
        return self.int_bytes(value, 4)

    # -- formats -------------------------------------------------------------------------------

    def i_type(self, opcode: int, f3: int, rd: int, rs1: int, imm: int) -> bytes:
        """An I-type instruction."""
        return self.word(((imm & 0xFFF) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opcode)

    def r_type(self, opcode: int, f3: int, f7: int, rd: int, rs1: int, rs2: int) -> bytes:
        """An R-type instruction."""
        return self.word((f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opcode)

    def s_type(self, f3: int, rs1: int, rs2: int, imm: int) -> bytes:
        """A store."""
        imm &= 0xFFF
        return self.word(((imm >> 5) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 0x1F) << 7) | 0x23)

    def b_type(self, f3: int, rs1: int, rs2: int, offset: int, ctx: Context) -> bytes:
        """A conditional branch by ``offset`` bytes."""
        if offset & 1 or not -4096 <= offset < 4096:
            raise AssemblyError(f"line {ctx.line}: branch target out of reach (±4 KiB)")
        o = offset & 0x1FFF
        return self.word(
            ((o >> 12) << 31) | (((o >> 5) & 0x3F) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12)
            | (((o >> 1) & 0xF) << 8) | (((o >> 11) & 1) << 7) | 0x63
        )

    def j_type(self, rd: int, offset: int, ctx: Context) -> bytes:
        """``jal rd, offset``."""
        if offset & 1 or not -(1 << 20) <= offset < (1 << 20):
            raise AssemblyError(f"line {ctx.line}: jump target out of reach (±1 MiB)")
        o = offset & 0x1FFFFF
        return self.word(
            ((o >> 20) << 31) | (((o >> 1) & 0x3FF) << 21) | (((o >> 11) & 1) << 20) | (((o >> 12) & 0xFF) << 12)
            | (rd << 7) | 0x6F
        )

    def u_type(self, opcode: int, rd: int, imm20: int) -> bytes:
        """``lui``/``auipc``."""
        return self.word(((imm20 & 0xFFFFF) << 12) | (rd << 7) | opcode)

    def target(self, text: str, ctx: Context) -> int:
        """A branch target as an offset from this instruction (0 in the first pass)."""
        return ctx.value(text) - ctx.address if ctx.final else 0

    def pcrel(self, text: str, ctx: Context, at: int) -> tuple[int, int]:
        """(hi20, lo12) of a label's offset from ``at``, for auipc + a 12-bit immediate."""
        if not ctx.final:
            return 0, 0
        offset = ctx.value(text) - at
        lo = _sext(offset, 12)
        hi = (offset - lo) >> 12
        if not -(1 << 19) <= hi < (1 << 19):
            raise AssemblyError(f"line {ctx.line}: label out of auipc's ±2 GiB reach")
        return hi & 0xFFFFF, lo

    # -- instructions ----------------------------------------------------------------------------

    def fixed(self, word: int):  # type: ignore[no-untyped-def]
        """An instruction with no operands."""

        def encode(ops: list[str], ctx: Context) -> bytes:
            if ops:
                raise AssemblyError(f"line {ctx.line}: the built-in assembler takes {self._mnemonic} without operands")
            return self.word(word)

        return encode

    def memory(self, text: str, ctx: Context) -> tuple[int, int]:
        """(offset, base register) of ``imm(reg)``."""
        m = _MEM_OPERAND.match(text.strip())
        if not m:
            raise AssemblyError(f"line {ctx.line}: expected `offset(register)`, got {text!r}")
        offset = self.imm(m.group(1), ctx, 12) if m.group(1).strip() else 0
        return offset, self.reg(m.group(2), ctx)

    def load(self, ops: list[str], ctx: Context) -> bytes:
        """``lX rd, imm(rs1)``, or ``lX rd, label`` (auipc + load)."""
        self.count(ops, 2, ctx, "rd, offset(rs1)")
        rd = self.reg(ops[0], ctx)
        f3 = _LOADS[self._mnemonic]
        if "(" not in ops[1]:
            hi, lo = self.pcrel(ops[1], ctx, ctx.address)
            return self.u_type(0x17, rd, hi) + self.i_type(0x03, f3, rd, rd, lo)
        offset, rs1 = self.memory(ops[1], ctx)
        return self.i_type(0x03, f3, rd, rs1, offset)

    def store(self, ops: list[str], ctx: Context) -> bytes:
        """``sX rs2, imm(rs1)``, or ``sX rs2, label, rt`` (auipc into rt + store)."""
        f3 = _STORES[self._mnemonic]
        rs2 = self.reg(ops[0], ctx) if ops else 0
        if len(ops) == 3:
            rt = self.reg(ops[2], ctx)
            hi, lo = self.pcrel(ops[1], ctx, ctx.address)
            return self.u_type(0x17, rt, hi) + self.s_type(f3, rt, rs2, lo)
        self.count(ops, 2, ctx, "rs2, offset(rs1)")
        offset, rs1 = self.memory(ops[1], ctx)
        return self.s_type(f3, rs1, rs2, offset)

    def branch(self, ops: list[str], ctx: Context) -> bytes:
        """``bXX rs1, rs2, label`` (and bgt/ble/bgtu/bleu, with the operands swapped)."""
        self.count(ops, 3, ctx, "rs1, rs2, label")
        name, swap = _BRANCH_ALIASES.get(self._mnemonic, (self._mnemonic, False))
        a, b = self.reg(ops[0], ctx), self.reg(ops[1], ctx)
        if swap:
            a, b = b, a
        return self.b_type(_BRANCHES[name], a, b, self.target(ops[2], ctx), ctx)

    def branch_zero(self, ops: list[str], ctx: Context) -> bytes:
        """``beqz``/``bnez``/``blez``/``bgez``/``bltz``/``bgtz rs, label``."""
        self.count(ops, 2, ctx, "rs, label")
        name, zero_first = _ZERO_BRANCHES[self._mnemonic]
        rs = self.reg(ops[0], ctx)
        a, b = (0, rs) if zero_first else (rs, 0)
        return self.b_type(_BRANCHES[name], a, b, self.target(ops[1], ctx), ctx)

    def op_imm(self, ops: list[str], ctx: Context) -> bytes:
        """``addi``/``slti``/``sltiu``/``xori``/``ori``/``andi``/``addiw rd, rs1, imm``."""
        self.count(ops, 3, ctx, "rd, rs1, imm")
        rd, rs1 = self.reg(ops[0], ctx), self.reg(ops[1], ctx)
        imm = self.imm(ops[2], ctx, 12)
        if self._mnemonic == "addiw":
            return self.i_type(_OP_IMM_32, 0, rd, rs1, imm)
        return self.i_type(_OP_IMM, _IMM_OPS[self._mnemonic], rd, rs1, imm)

    def shift(self, ops: list[str], ctx: Context) -> bytes:
        """``slli``/``srli``/``srai`` (shift 0-63) and their ``w`` forms (0-31)."""
        self.count(ops, 3, ctx, "rd, rs1, shamt")
        rd, rs1 = self.reg(ops[0], ctx), self.reg(ops[1], ctx)
        amount = ctx.constant(ops[2])
        word = self._mnemonic in _SHIFTS_W
        f3, high = (_SHIFTS_W if word else _SHIFTS)[self._mnemonic]
        if not 0 <= amount < (32 if word else 64):
            raise AssemblyError(f"line {ctx.line}: shift amount {amount} out of range")
        imm = (high << 5 | amount) if word else (high << 6 | amount)
        return self.i_type(_OP_IMM_32 if word else _OP_IMM, f3, rd, rs1, imm)

    def op(self, ops: list[str], ctx: Context) -> bytes:
        """Register-register arithmetic (RV64I and M, and the ``w`` forms)."""
        self.count(ops, 3, ctx, "rd, rs1, rs2")
        word = self._mnemonic in _REG_OPS_W
        f3, f7 = (_REG_OPS_W if word else _REG_OPS)[self._mnemonic]
        return self.r_type(_OP_32 if word else _OP, f3, f7, *(self.reg(o, ctx) for o in ops))

    def lui(self, ops: list[str], ctx: Context) -> bytes:
        """``lui rd, imm20``."""
        return self._upper(0x37, ops, ctx)

    def auipc(self, ops: list[str], ctx: Context) -> bytes:
        """``auipc rd, imm20``."""
        return self._upper(0x17, ops, ctx)

    def _upper(self, opcode: int, ops: list[str], ctx: Context) -> bytes:
        self.count(ops, 2, ctx, "rd, imm20")
        rd = self.reg(ops[0], ctx)
        m = _RELOC.match(ops[1].strip())
        value = self.imm(ops[1], ctx, 21) if m else ctx.value(ops[1])
        if not m and not 0 <= value < (1 << 20):
            raise AssemblyError(f"line {ctx.line}: {value} does not fit a 20-bit immediate")
        return self.u_type(opcode, rd, value)

    def jal(self, ops: list[str], ctx: Context) -> bytes:
        """``jal label`` (link in ra) or ``jal rd, label``."""
        rd, where = (1, ops[0]) if len(ops) == 1 else (self.reg(ops[0], ctx), ops[1])
        return self.j_type(rd, self.target(where, ctx), ctx)

    def j(self, ops: list[str], ctx: Context) -> bytes:
        """``j label``."""
        self.count(ops, 1, ctx, "label")
        return self.j_type(0, self.target(ops[0], ctx), ctx)

    def jalr(self, ops: list[str], ctx: Context) -> bytes:
        """``jalr rs``, ``jalr rd, rs, imm``, ``jalr rd, imm(rs)``."""
        if len(ops) == 1:
            return self.i_type(0x67, 0, 1, self.reg(ops[0], ctx), 0)
        rd = self.reg(ops[0], ctx)
        if len(ops) == 2 and "(" in ops[1]:
            offset, rs1 = self.memory(ops[1], ctx)
        elif len(ops) == 2:
            offset, rs1 = 0, self.reg(ops[1], ctx)
        else:
            self.count(ops, 3, ctx, "rd, rs1, imm")
            rs1, offset = self.reg(ops[1], ctx), self.imm(ops[2], ctx, 12)
        return self.i_type(0x67, 0, rd, rs1, offset)

    def jr(self, ops: list[str], ctx: Context) -> bytes:
        """``jr rs``."""
        self.count(ops, 1, ctx, "rs")
        return self.i_type(0x67, 0, 0, self.reg(ops[0], ctx), 0)

    def ret(self, ops: list[str], ctx: Context) -> bytes:
        """``ret``: jump to ra."""
        self.count(ops, 0, ctx, "")
        return self.i_type(0x67, 0, 0, 1, 0)

    def call(self, ops: list[str], ctx: Context) -> bytes:
        """``call label``: auipc ra + jalr ra (any distance within ±2 GiB)."""
        self.count(ops, 1, ctx, "label")
        hi, lo = self.pcrel(ops[0], ctx, ctx.address)
        return self.u_type(0x17, 1, hi) + self.i_type(0x67, 0, 1, 1, lo)

    def tail(self, ops: list[str], ctx: Context) -> bytes:
        """``tail label``: auipc t1 + jalr zero."""
        self.count(ops, 1, ctx, "label")
        hi, lo = self.pcrel(ops[0], ctx, ctx.address)
        return self.u_type(0x17, 6, hi) + self.i_type(0x67, 0, 0, 6, lo)

    def li(self, ops: list[str], ctx: Context) -> bytes:
        """``li rd, imm``: any 64-bit constant, in as few instructions as GNU as uses."""
        self.count(ops, 2, ctx, "rd, imm")
        rd = self.reg(ops[0], ctx)
        value = ctx.constant(ops[1])
        if not -(1 << 63) <= value < (1 << 64):
            raise AssemblyError(f"line {ctx.line}: {value} does not fit 64 bits")
        out = b""
        source = 0
        for name, imm in li_sequence(value):
            if name == "lui":
                out += self.u_type(0x37, rd, imm)
            elif name == "addi":
                out += self.i_type(_OP_IMM, 0, rd, source, imm)
            elif name == "addiw":
                out += self.i_type(_OP_IMM_32, 0, rd, source, imm)
            else:
                out += self.i_type(_OP_IMM, 1, rd, rd, imm)
            source = rd
        return out

    def la(self, ops: list[str], ctx: Context) -> bytes:
        """``la``/``lla rd, label``: auipc + addi, pc-relative (the code is not position-bound)."""
        self.count(ops, 2, ctx, "rd, label")
        rd = self.reg(ops[0], ctx)
        hi, lo = self.pcrel(ops[1], ctx, ctx.address)
        return self.u_type(0x17, rd, hi) + self.i_type(_OP_IMM, 0, rd, rd, lo)

    def mv(self, ops: list[str], ctx: Context) -> bytes:
        """``mv rd, rs``."""
        self.count(ops, 2, ctx, "rd, rs")
        return self.i_type(_OP_IMM, 0, self.reg(ops[0], ctx), self.reg(ops[1], ctx), 0)

    def not_(self, ops: list[str], ctx: Context) -> bytes:
        """``not rd, rs``."""
        self.count(ops, 2, ctx, "rd, rs")
        return self.i_type(_OP_IMM, 4, self.reg(ops[0], ctx), self.reg(ops[1], ctx), -1)

    def neg(self, ops: list[str], ctx: Context) -> bytes:
        """``neg``/``negw rd, rs``."""
        self.count(ops, 2, ctx, "rd, rs")
        opcode = _OP_32 if self._mnemonic == "negw" else _OP
        return self.r_type(opcode, 0, 0x20, self.reg(ops[0], ctx), 0, self.reg(ops[1], ctx))

    def sext_w(self, ops: list[str], ctx: Context) -> bytes:
        """``sext.w rd, rs``."""
        self.count(ops, 2, ctx, "rd, rs")
        return self.i_type(_OP_IMM_32, 0, self.reg(ops[0], ctx), self.reg(ops[1], ctx), 0)

    def compare_zero(self, ops: list[str], ctx: Context) -> bytes:
        """``seqz``/``snez``/``sltz``/``sgtz rd, rs``."""
        self.count(ops, 2, ctx, "rd, rs")
        rd, rs = self.reg(ops[0], ctx), self.reg(ops[1], ctx)
        if self._mnemonic == "seqz":
            return self.i_type(_OP_IMM, 3, rd, rs, 1)
        if self._mnemonic == "snez":
            return self.r_type(_OP, 3, 0, rd, 0, rs)
        if self._mnemonic == "sltz":
            return self.r_type(_OP, 2, 0, rd, rs, 0)
        return self.r_type(_OP, 2, 0, rd, 0, rs)
