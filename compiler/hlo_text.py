"""Reading XLA's optimized HLO text: the copies XLA inserted (`parse_copies`),
each with the source location its metadata kept, and the size of an HLO
shape (`shape_bytes`). A ref-sized copy means a ref write was not done in
place; `refhlo.compiler.xla.Compiled.copies` uses this.
"""

from __future__ import annotations

import dataclasses
import re

COPY_OPCODES = ("copy", "copy-start", "copy-done")


@dataclasses.dataclass(frozen=True)
class Copy:
  """One copy instruction of the optimized HLO."""
  name: str          # HLO instruction name, e.g. "copy.1"
  opcode: str        # "copy" | "copy-start" | "copy-done"
  shape: str         # HLO shape text, e.g. "f32[16384,1024]{1,0}"
  size_bytes: int    # bytes of the copied array
  computation: str   # the HLO computation holding it
  instruction: str   # the whole HLO line
  op_name: str | None = None      # metadata op_name (MLIR NameLoc)
  source_file: str | None = None  # metadata source file (MLIR FileLineColLoc)
  source_line: int | None = None
  metadata_from: str | None = None  # instruction the source was taken from

  @property
  def source(self) -> str | None:
    """`file:line` of the op this copy came from, if XLA kept it."""
    if self.source_file is None:
      return None
    if self.source_line is None:
      return self.source_file
    return f"{self.source_file}:{self.source_line}"

  def describe(self) -> str:
    where = self.source or "unknown source"
    op = f" [{self.op_name}]" if self.op_name else ""
    if self.metadata_from:
      where += f" (via %{self.metadata_from})"
    return (f"{self.opcode} of {self.size_bytes} bytes ({self.shape}) "
            f"in {self.computation} from {where}{op}: {self.instruction}")


# Reading the optimized HLO.

_ELEMENT_BITS = {
    "pred": 8, "s1": 1, "u1": 1, "s2": 2, "u2": 2, "s4": 4, "u4": 4,
    "s8": 8, "u8": 8, "s16": 16, "u16": 16, "s32": 32, "u32": 32,
    "s64": 64, "u64": 64, "f16": 16, "bf16": 16, "f32": 32, "f64": 64,
    "c64": 64, "c128": 128, "token": 0,
}

_ARRAY_RE = re.compile(r"\b([a-z]+[0-9]*(?:e[0-9]+m[0-9]+[a-z]*)?)\[([0-9,]*)\]")
_INSTR_RE = re.compile(
    r"^\s*(?:ROOT\s+)?%?(?P<name>[\w.\-]+)\s*=\s*(?P<shape>.+?)\s+"
    r"(?P<opcode>[\w\-]+)\((?P<rest>.*)$")
_COMP_RE = re.compile(r"^(?:ENTRY\s+)?%?(?P<name>[\w.\-]+)\s*\(.*\{\s*$")
_META_RE = re.compile(r"metadata=\{(?P<body>[^}]*)\}")
_FIELD_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')
_TABLE_RE = re.compile(r"^(FileNames|FunctionNames|FileLocations|StackFrames)\s*$")


def _element_bits(name: str) -> int:
  if name in _ELEMENT_BITS:
    return _ELEMENT_BITS[name]
  if name.startswith("f8") or name.startswith("f4") or name.startswith("f6"):
    return 8  # fp8 and narrower floats: count whole bytes
  return 32


def shape_bytes(shape: str) -> int:
  """Bytes of the largest array in an HLO shape (a tuple's largest element:
  for `copy-start`'s `(dst, src, context)` that is the copied array)."""
  best = 0
  for m in _ARRAY_RE.finditer(shape):
    n = 1
    for d in filter(None, m.group(2).split(",")):
      n *= int(d)
    best = max(best, (n * _element_bits(m.group(1)) + 7) // 8)
  return best


def _unquote(s: str) -> str:
  if len(s) >= 2 and s[0] == s[-1] == '"':
    return s[1:-1].encode().decode("unicode_escape")
  return s


def _stack_frames(text: str) -> dict[int, tuple[str, int]]:
  """stack_frame_id -> (file, line) from the HLO text's location tables."""
  tables: dict[str, dict[int, str]] = {}
  current = None
  for line in text.splitlines():
    m = _TABLE_RE.match(line.strip())
    if m:
      current = tables.setdefault(m.group(1), {})
      continue
    if current is None:
      continue
    if not line.strip():
      current = None
      continue
    key, _, value = line.strip().partition(" ")
    if key.isdigit():
      current[int(key)] = value.strip()
  files = {k: _unquote(v) for k, v in tables.get("FileNames", {}).items()}
  locs = {}
  for k, v in tables.get("FileLocations", {}).items():
    f = dict(_FIELD_RE.findall(v.strip("{}")))
    locs[k] = (files.get(int(f.get("file_name_id", 0)), "?"), int(f.get("line", 0)))
  frames = {}
  for k, v in tables.get("StackFrames", {}).items():
    f = dict(_FIELD_RE.findall(v.strip("{}")))
    loc = locs.get(int(f.get("file_location_id", 0)))
    if loc:
      frames[k] = loc
  return frames


def _meta_fields(rest: str, frames: dict[int, tuple[str, int]]
                 ) -> tuple[str | None, str | None, int | None] | None:
  """(op_name, source_file, source_line) from an instruction's metadata."""
  meta = _META_RE.search(rest)
  if not meta:
    return None
  fields = {k: _unquote(v) for k, v in _FIELD_RE.findall(meta.group("body"))}
  op_name = fields.get("op_name")
  source_file = fields.get("source_file")
  source_line = int(fields["source_line"]) if "source_line" in fields else None
  if source_file is None and "stack_frame_id" in fields:
    frame = frames.get(int(fields["stack_frame_id"]))
    if frame:
      source_file, source_line = frame
  if op_name is None and source_file is None:
    return None
  return op_name, source_file, source_line


def parse_copies(hlo_text: str) -> list[Copy]:
  """Every copy / copy-start / copy-done instruction in HLO text.

  Copies that XLA's copy insertion adds carry no metadata of their own; for
  those the source is taken from the first user (else the operand, else the
  while/conditional/fusion calling its computation) that has some, and
  `metadata_from` says which instruction it came from.
  """
  frames = _stack_frames(hlo_text)
  instrs: list[tuple[str, str, str, str, str]] = []  # comp, name, shape, op, rest
  computation = "?"
  for line in hlo_text.splitlines():
    cm = _COMP_RE.match(line)
    if cm and "=" not in line.split("(")[0]:
      computation = cm.group("name")
      continue
    m = _INSTR_RE.match(line)
    if m:
      instrs.append((computation, m.group("name"), m.group("shape"),
                     m.group("opcode"), m.group("rest")))
  meta = {name: _meta_fields(rest, frames) for _, name, _, _, rest in instrs}
  out: list[Copy] = []
  lines = {name: line for line in hlo_text.splitlines()
           for m in [_INSTR_RE.match(line)] if m for name in [m.group("name")]}
  for comp, name, shape, opcode, rest in instrs:
    if opcode not in COPY_OPCODES:
      continue
    found, origin = meta.get(name), None
    if found is None:
      use = re.compile(rf"%{re.escape(name)}(?![\w.\-])")
      users = [n for c, n, _, _, r in instrs if c == comp and use.search(r)]
      operands = re.findall(r"%([\w.\-]+)", rest.split(")")[0])
      # ...else the instruction calling this computation (while, conditional).
      call = re.compile(rf"%{re.escape(comp)}(?![\w.\-])")
      callers = [n for c, n, _, _, r in instrs if c != comp and call.search(r)]
      for other in users + operands + callers:
        if meta.get(other) is not None:
          found, origin = meta[other], other
          break
    op_name, source_file, source_line = found or (None, None, None)
    out.append(Copy(name=name, opcode=opcode, shape=shape,
                    size_bytes=shape_bytes(shape), computation=comp,
                    instruction=lines[name].strip(), op_name=op_name,
                    source_file=source_file, source_line=source_line,
                    metadata_from=origin))
  return out
