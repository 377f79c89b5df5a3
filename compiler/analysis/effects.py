"""Effect analysis for refs: which roots an op, a region or a function reads,
writes or accumulates into, interprocedurally over `func.call`.

Effects of the `ref` ops on the ref they take:

| op | effect |
|---|---|
| `ref.get`, `ref.freeze` | READ |
| `ref.set` | WRITE |
| `ref.swap` | READ \\| WRITE |
| `ref.addupdate` | ACCUMULATE |
| `ref.new`, `ref.empty`, `ref.view`, `ref.free` | NONE |

An access through a view is an effect on the view's root (the alias
analysis traces it). A `func.call` has, on each ref it passes, the effects
its callee has on that parameter (computed to a fixpoint, so recursion and
nested calls are transitive). An op with regions (`stablehlo.while`, `case`,
`if`) has the union of the effects of the ops nested in it. A ref handed to
anything else (an unknown op, a call of a function without a body) is
**unresolved**: it gets every effect, and `unresolved_arg` says where.

API:

    me = analyze_effects(module_op)
    me.function_arg_effects("main") -> [Effect.READ | Effect.WRITE, Effect.NONE, ...]
    me.op_effects(op)               -> {Root: Effect}
    me.function_effects("main")     -> {Root: Effect}  (its whole body)
    me.root_effects(root)           -> Effect  (over the whole module)
    me.writes(root), me.reads(root) -> bool
    me.unresolved_arg("main", 0)    -> UnresolvedUse | None
    me.alias                        -> the AliasAnalysis used
"""

from __future__ import annotations

import dataclasses
import enum

from jaxlib.mlir import ir

from refhlo.compiler.analysis.alias import AliasAnalysis, Root
from refhlo.compiler.irutil import callee_name
from refhlo.compiler.dialect.ops import REF_OPS
from refhlo.compiler.dialect.types import is_ref_type


class Effect(enum.Flag):
  """What an op does to a ref's contents."""
  NONE = 0
  READ = enum.auto()
  WRITE = enum.auto()
  ACCUMULATE = enum.auto()

  @property
  def writes(self) -> bool:
    """WRITE or ACCUMULATE: the contents may change."""
    return bool(self & (Effect.WRITE | Effect.ACCUMULATE))

  def format(self) -> str:
    """`none`, `read`, `read|write`, `read|write|accumulate`, ..."""
    if not self:
      return "none"
    return "|".join(e.name.lower() for e in (Effect.READ, Effect.WRITE,
                                             Effect.ACCUMULATE) if e in self)


ALL_EFFECTS = Effect.READ | Effect.WRITE | Effect.ACCUMULATE

def _effect_of(op_class: type) -> Effect:
  e = Effect.NONE
  if op_class.READS:
    e |= Effect.READ
  if op_class.WRITES:
    e |= Effect.WRITE
  if op_class.ACCUMULATES:
    e |= Effect.ACCUMULATE
  return e


REF_OP_EFFECTS: dict[str, Effect] = {n: _effect_of(c) for n, c in REF_OPS.items()}
"""The effect of each `ref` op on its ref operand (from its traits)."""


@dataclasses.dataclass(frozen=True)
class UnresolvedUse:
  """A ref reaching an op whose effects the analysis cannot know."""
  op: ir.Operation
  reason: str


def _union(into: dict[Root, Effect], more: dict[Root, Effect]) -> None:
  for r, e in more.items():
    into[r] = into.get(r, Effect.NONE) | e


class ModuleEffects:
  """The effects of every op and function of a module (see module doc)."""

  def __init__(self, module_op: ir.Operation | ir.Module,
               alias: AliasAnalysis | None = None):
    self.alias = alias if alias is not None else AliasAnalysis(module_op)
    self._arg: dict[str, list[Effect]] = {}
    self._unresolved: dict[str, list[UnresolvedUse | None]] = {}
    self._ops: dict[ir.Operation, dict[Root, Effect]] = {}
    self._roots: dict[Root, Effect] | None = None
    self._solve()

  # -- interprocedural parameter effects ---------------------------------------

  def _use_effect(self, op: ir.Operation, operand: int
                  ) -> tuple[Effect, UnresolvedUse | None]:
    """The effect of `op` on its ref operand number `operand`."""
    name = op.name
    if name in REF_OP_EFFECTS:
      if operand == 0:
        return REF_OP_EFFECTS[name], None
      return ALL_EFFECTS, UnresolvedUse(op, f"a ref is operand #{operand} of '{name}'")
    if name == "func.call":
      callee = callee_name(op)
      info = self.alias.functions.get(callee)
      if info is None:
        return ALL_EFFECTS, UnresolvedUse(op, f"a ref is passed to unknown function @{callee}")
      if not info.has_body:
        return ALL_EFFECTS, UnresolvedUse(
            op, f"a ref is passed to @{callee}, which has no body")
      if operand >= len(self._arg[callee]):
        return ALL_EFFECTS, UnresolvedUse(op, f"call of @{callee} has too many operands")
      return self._arg[callee][operand], self._unresolved[callee][operand]
    return ALL_EFFECTS, UnresolvedUse(op, f"a ref is an operand of '{name}'")

  def _solve(self) -> None:
    funcs = self.alias.functions
    for name, info in funcs.items():
      n = len(info.arg_types)
      if info.has_body:
        self._arg[name] = [Effect.NONE] * n
        self._unresolved[name] = [None] * n
      else:
        self._arg[name] = [ALL_EFFECTS if is_ref_type(t) else Effect.NONE
                           for t in info.arg_types]
        self._unresolved[name] = [None] * n
    # The uses of each function's own ref arguments, gathered once (walking
    # the IR is the expensive part): (op, operand number, argument index).
    # Ref ops' effects never change; only calls need the fixpoint.
    uses: dict[str, list[tuple[ir.Operation, int, int]]] = {}
    for name, info in funcs.items():
      if not info.has_body:
        continue
      mine = uses[name] = []
      for op in info.ops:
        for k, v in enumerate(op.operands):
          if not is_ref_type(v.type):
            continue
          origin = self.alias.origin(v)
          if origin is None or origin.root.kind != "arg" or \
              origin.root.func != name:
            continue
          mine.append((op, k, origin.root.index))
    changed = True
    while changed:
      changed = False
      for name, mine in uses.items():
        effects = list(self._arg[name])
        unresolved = list(self._unresolved[name])
        for op, k, i in mine:
          eff, why = self._use_effect(op, k)
          if eff is not effects[i]:
            effects[i] |= eff
          if why is not None and unresolved[i] is None:
            unresolved[i] = why
        if effects != self._arg[name] or unresolved != self._unresolved[name]:
          self._arg[name] = effects
          self._unresolved[name] = unresolved
          changed = True

  # -- queries -----------------------------------------------------------------

  def function_arg_effects(self, func_name: str) -> list[Effect]:
    """One Effect per argument of `func_name` (NONE for non-ref arguments):
    what the function, its views and its callees may do to the argument."""
    if func_name not in self._arg:
      raise KeyError(f"no function @{func_name} in the module")
    return list(self._arg[func_name])

  def unresolved_arg(self, func_name: str, index: int) -> UnresolvedUse | None:
    """Where the effects on argument `index` of `func_name` become unknown
    (the innermost op, possibly in a callee), or None if they are known."""
    return self._unresolved[func_name][index]

  def op_effects(self, op: ir.Operation | ir.OpView) -> dict[Root, Effect]:
    """The effects of one op on roots; for an op with regions the union over
    the ops nested in it. Roots with no effect are left out."""
    op = op.operation
    if op in self._ops:
      return self._ops[op]
    out: dict[Root, Effect] = {}
    for k, v in enumerate(op.operands):
      if not is_ref_type(v.type):
        continue
      eff, _ = self._use_effect(op, k)
      if not eff:
        continue
      roots = self.alias.roots(v)
      for r in roots:
        out[r] = out.get(r, Effect.NONE) | eff
    for region in op.regions:
      _union(out, self.region_effects(region))
    self._ops[op] = out
    return out

  def region_effects(self, region: ir.Region) -> dict[Root, Effect]:
    """The union of the effects of the ops in a region."""
    out: dict[Root, Effect] = {}
    for block in region.blocks:
      for inner in block.operations:
        _union(out, self.op_effects(inner))
    return out

  def function_effects(self, func_name: str) -> dict[Root, Effect]:
    """The effects of a function's body on roots (its own allocations too)."""
    info = self.alias.functions[func_name]
    if not info.has_body:
      return {}
    return self.region_effects(info.op.regions[0])

  def root_effects(self, root: Root) -> Effect:
    """Everything any op of the module may do to `root`."""
    if self._roots is None:
      self._roots = {}
      for name in self.alias.functions:
        _union(self._roots, self.function_effects(name))
    return self._roots.get(root, Effect.NONE)

  def writes(self, root: Root) -> bool:
    """True if some op may WRITE or ACCUMULATE into `root`."""
    return self.root_effects(root).writes

  def reads(self, root: Root) -> bool:
    return bool(self.root_effects(root) & Effect.READ)


def analyze_effects(module_op: ir.Operation | ir.Module,
                    alias: AliasAnalysis | None = None) -> ModuleEffects:
  """Runs alias and effect analysis on a module."""
  return ModuleEffects(module_op, alias)
