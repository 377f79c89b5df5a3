"""`ref-effect-elimination`: promote every ref to SSA tensor values.

The heart of the pipeline. Each function is walked in program order keeping,
per root ref (a `ref.new`/`ref.empty` result or a ref parameter of a private
function), its current tensor value; accesses become StableHLO on that value
(see `_lower_access`), so writes are forwarded to later reads and dead writes
become dead SSA values that canonicalize/DCE remove. Control flow:

- `stablehlo.while`: roots written in the body become extra loop-carried
  values (extra operands, results and block arguments); roots only read are
  captured as values from above. Writing a ref in the condition is an error.
- `stablehlo.case` / `stablehlo.if`: roots written in any branch become extra
  results of every branch, marked with `refhlo.ref_results` (each
  result's position and the branches that change it) for
  `ref-prepare-for-xla`, which puts them in the forms XLA
  updates in place.
- `func.call`: each ref parameter of a private callee becomes a tensor
  parameter (its current value) and each written one an extra trailing result
  (its final value), in parameter order. Calls whose ref operands alias (the
  same root passed twice, a view and its parent) are inlined first, so that
  their semantics stay sequential. Recursion through functions that take refs
  is an error at the call.

Nothing here is specific to XLA: the forms XLA needs (case/if shaping, a
barrier against a miscompile) are `ref-prepare-for-xla`'s job.

`ref.empty` starts as zeros of its type (its contents are undefined until
written, so any value is correct).
"""

from __future__ import annotations

import dataclasses

from jaxlib.mlir import ir

from refhlo.compiler import builders as hb
from refhlo.compiler import irutil
from refhlo.compiler.analysis.callgraph import CallGraph
from refhlo.compiler.analysis.effects import analyze_effects
from refhlo.compiler.dialect.indexer import Indexer, IndexerError
from refhlo.compiler.dialect.ops import REF_OPS, op_names
from refhlo.compiler.dialect.types import RefTypeError, is_ref_type, ref_value_type
from refhlo.compiler.passes import Pass, PassError
from refhlo.compiler.transforms import _lower_access as la
from refhlo.compiler.transforms.ref_prepare_for_xla import REF_RESULTS_ATTR

_WRITE_OPS = op_names(changes=True)  # from the ops' traits
_walk_ops = irutil.walk_ops
_walk_ops_region = irutil.walk_region_ops
_callee_name = irutil.callee_name
_attrs = irutil.attrs_of
_func_name = irutil.func_name
_is_private = irutil.is_private
_rebuild = irutil.rebuild
_BRANCH_OPS = ("stablehlo.case", "stablehlo.if")


def _has_ref_operand(op: ir.Operation) -> bool:
  return any(is_ref_type(v.type) for v in op.operands)


def _root_of(v: ir.Value) -> ir.Value:
  """The root a ref value aliases (through views)."""
  while not isinstance(v.owner, ir.Block) and v.owner.operation.name == "ref.view":
    v = v.owner.operation.operands[0]
  return v


def _uses_refs(op: ir.Operation) -> bool:
  """Whether any op nested in `op` touches a ref."""
  return irutil.any_nested_op(op, lambda inner: inner.name.startswith("ref.") or (
      _has_ref_operand(inner) or any(is_ref_type(r.type) for r in inner.results)))


@dataclasses.dataclass
class _Module:
  """The functions of a module and what each does to its ref parameters."""
  # Functions and their calls (kept current by `_inline_aliased_calls`, so
  # each function is walked once for its calls).
  graph: CallGraph
  written: dict[str, list[bool]]  # per parameter: written (ref params only)

  @property
  def funcs(self) -> dict[str, ir.Operation]:
    return self.graph.funcs

  @property
  def calls(self) -> dict[str, list[ir.Operation]]:
    return self.graph.calls


@dataclasses.dataclass
class RefEffectElimination(Pass):
  """Promotes refs to SSA values and lowers accesses to StableHLO."""

  NAME = "ref-effect-elimination"
  SUMMARY = "Promote refs to SSA values, lowering accesses to StableHLO slices and updates"
  STATISTICS = {
      "functions-rewritten": "Functions whose refs were promoted",
      "refs-promoted": "Roots promoted to SSA values (ref.new, ref.empty, ref parameters)",
      "accesses-lowered": "Ref accesses lowered to StableHLO (get/set/swap/addupdate/freeze)",
      "loops-carrying-refs": "stablehlo.while ops given loop-carried ref values",
      "branches-carrying-refs": "stablehlo.case/if ops given ref-carrying results",
      "calls-rewritten": "Calls passing refs rewritten to pass and return values",
      "calls-inlined": "Calls with aliasing ref operands inlined",
  }
  DESCRIPTION = """\
Walks each function in program order, keeping the current tensor value of
every ref rooted at `ref.new`/`ref.empty` (zeros) or at a ref parameter of a
private function. `ref.get` becomes a (dynamic_)slice / gather of that value,
`ref.set`/`ref.swap`/`ref.addupdate` a dynamic_update_slice / scatter producing
its next value, `ref.freeze` the final value; views compose with their parents.
Written refs are threaded through `stablehlo.while` (loop-carried values),
`stablehlo.case`/`stablehlo.if` (extra results) and calls to private functions
(extra arguments and results). Calls with aliasing ref operands are inlined.
The results of a case/if that carry ref state are listed in its
`refhlo.ref_results` attribute; `ref-prepare-for-xla` (which runs next in
`ref-to-stablehlo`) reshapes such ops into the forms XLA updates in place.

Before:

```mlir
func.func @main(%buf: tensor<8x4xf32>, %i: tensor<i32>, %row: tensor<4xf32>)
    -> (tensor<4xf32>, tensor<8x4xf32>) {
  %r = ref.new %buf : !ref.ref<tensor<8x4xf32>>
  %old = ref.swap %r[%i, 0] sizes [1, 4] squeezed [0], %row : !ref.ref<tensor<8x4xf32>>, tensor<4xf32> -> tensor<4xf32>
  %final = ref.get %r : !ref.ref<tensor<8x4xf32>> -> tensor<8x4xf32>
  return %old, %final : tensor<4xf32>, tensor<8x4xf32>
}
```

After (and canonicalize):

```mlir
func.func @main(%arg0: tensor<8x4xf32>, %arg1: tensor<i32>, %arg2: tensor<4xf32>) -> (tensor<4xf32>, tensor<8x4xf32>) {
  %c = stablehlo.constant dense<0> : tensor<i32>
  %0 = stablehlo.dynamic_slice %arg0, %arg1, %c, sizes = [1, 4] : (tensor<8x4xf32>, tensor<i32>, tensor<i32>) -> tensor<1x4xf32>
  %1 = stablehlo.reshape %0 : (tensor<1x4xf32>) -> tensor<4xf32>
  %2 = stablehlo.reshape %arg2 : (tensor<4xf32>) -> tensor<1x4xf32>
  %3 = stablehlo.dynamic_update_slice %arg0, %2, %arg1, %c : (tensor<8x4xf32>, tensor<1x4xf32>, tensor<i32>, tensor<i32>) -> tensor<8x4xf32>
  return %1, %3 : tensor<4xf32>, tensor<8x4xf32>
}
```
"""

  def run(self, module: ir.Operation) -> None:
    with ir.Location.unknown():
      self._run(module)

  def _run(self, module: ir.Operation) -> None:
    mod = _Module(CallGraph.of(module), {})
    order = _call_order(mod)
    self.stat("calls-inlined").add(_inline_aliased_calls(mod, order))
    _summarize(mod, module)
    for name in order:
      f = mod.funcs[name]
      if _uses_refs(f) or any(is_ref_type(t) for t in _arg_types(f)):
        rewriter = _Rewriter(mod, f)
        rewriter.run()
        self.stat("functions-rewritten").add()
        for stat, n in rewriter.counts.items():
          self.stat(stat).add(n)


PASS = RefEffectElimination


# -- module-level analysis --------------------------------------------------------


def _arg_types(f: ir.Operation) -> list[ir.Type]:
  ft = ir.FunctionType(ir.TypeAttr(f.attributes["function_type"]).value)
  return list(ft.inputs)


def _call_order(mod: _Module) -> list[str]:
  """Functions callees first; recursion through refs is an error at the call."""
  order: list[str] = []
  state: dict[str, int] = {}  # 1 = on the stack, 2 = done
  stack: list[str] = []

  def visit(name: str) -> None:
    state[name] = 1
    stack.append(name)
    for call in mod.calls[name]:
      callee = _callee_name(call)
      if callee not in mod.funcs:
        if _has_ref_operand(call):
          raise PassError(call, f"call to unknown function @{callee} with ref operands")
        continue
      if state.get(callee) == 1:
        cycle = stack[stack.index(callee):]
        if _has_ref_operand(call) or any(_uses_refs(mod.funcs[n]) for n in cycle):
          raise PassError(
              call, f"recursive call to @{callee} in a cycle of functions using refs "
              f"({' -> '.join('@' + n for n in cycle + [callee])}) is not supported")
        continue
      if callee not in state:
        visit(callee)
    stack.pop()
    state[name] = 2
    order.append(name)

  for name in list(mod.funcs):
    if name not in state:
      visit(name)
  return order


def _aliased(call: ir.Operation) -> bool:
  roots = [_root_of(v) for v in call.operands if is_ref_type(v.type)]
  return len(set(roots)) != len(roots)


def _inline_aliased_calls(mod: _Module, order: list[str]) -> int:
  """Inlines every call whose ref operands share a root (until none is left);
  returns how many."""
  inlined = 0
  for name in reversed(order):  # callers first: inlined bodies get re-scanned
    while True:
      call = next((c for c in mod.calls[name] if _has_ref_operand(c) and _aliased(c)),
                  None)
      if call is None:
        break
      _inline(call, mod.funcs[_callee_name(call)])
      inlined += 1
      mod.graph.rescan(name)
  return inlined


def _inline(call: ir.Operation, callee: ir.Operation) -> None:
  region = callee.regions[0]
  blocks = list(region.blocks)
  if len(blocks) != 1:
    raise PassError(call, f"cannot inline @{_func_name(callee)} (aliasing ref "
                    "operands): its body must be a single block")
  clone = callee.clone(ip=ir.InsertionPoint(call))
  block = clone.regions[0].blocks[0]
  for arg, v in zip(block.arguments, call.operands):
    arg.replace_all_uses_with(v)
  ops = [op.operation for op in block.operations]
  ret = ops[-1]
  for op in ops[:-1]:
    op.move_before(call)
  for res, v in zip(call.results, ret.operands):
    res.replace_all_uses_with(v)
  call.erase()
  clone.erase()


def _summarize(mod: _Module, module: ir.Operation) -> None:
  """Which ref parameters each function writes: the effect analysis's
  interprocedural answer (WRITE or ACCUMULATE, through views and calls;
  a ref handed to something it cannot see into counts as written)."""
  effects = analyze_effects(module)
  for name in mod.funcs:
    try:
      mod.written[name] = [e.writes for e in effects.function_arg_effects(name)]
    except KeyError:  # nested deeper than the module's body: assume written
      mod.written[name] = [is_ref_type(t) for t in _arg_types(mod.funcs[name])]


def _written_roots(op: ir.Operation | ir.Region, mod: _Module) -> list[ir.Value]:
  """Roots written anywhere inside `op` (or a region), in first-write order."""
  out: list[ir.Value] = []
  ops = _walk_ops_region(op) if isinstance(op, ir.Region) else _walk_ops(op)
  for inner in ops:
    if inner.name in _WRITE_OPS:
      refs = [inner.operands[0]]
    elif inner.name == "func.call" and _has_ref_operand(inner):
      w = mod.written.get(_callee_name(inner), [])
      refs = [v for i, v in enumerate(inner.operands)
              if is_ref_type(v.type) and i < len(w) and w[i]]
    else:
      continue
    for v in refs:
      r = _root_of(v)
      if r not in out:
        out.append(r)
  return out


# -- rewriting one function -------------------------------------------------------


def _indexer(op: ir.Operation) -> Indexer:
  try:
    idx = Indexer.from_op(op)
    idx.check()
  except (IndexerError, RefTypeError) as e:
    raise PassError(op, f"invalid indexer: {e}") from None
  return idx


class _Rewriter:
  """Promotes the refs of one function."""

  def __init__(self, mod: _Module, func: ir.Operation):
    self.mod = mod
    self.func = func
    self.lenses: dict[ir.Value, la.Lens] = {}
    self.dead: list[ir.Operation] = []  # ref-defining ops, erased at the end
    self.counts: dict[str, int] = {}  # the pass's statistics, for this function

  def _count(self, stat: str) -> None:
    self.counts[stat] = self.counts.get(stat, 0) + 1

  def run(self) -> None:
    f = self.func
    if not f.regions[0].blocks:
      if any(is_ref_type(t) for t in _arg_types(f)):
        raise PassError(f, f"function @{_func_name(f)} with ref parameters has no body")
      return
    if len(f.regions[0].blocks) != 1:
      raise PassError(f, "functions using refs must have a single block")
    block = f.regions[0].blocks[0]
    env: dict[ir.Value, ir.Value] = {}
    ref_params = [a for a in block.arguments if is_ref_type(a.type)]
    ref_param_numbers = [a.arg_number for a in ref_params]  # before erasure
    if ref_params and not _is_private(f):
      raise PassError(f, f"public function @{_func_name(f)} has ref arguments; run "
                      "ref-buffer-donation first")
    # Each ref parameter's value comes in as an extra trailing argument.
    for a in ref_params:
      self._count("refs-promoted")
      t = self._value_type(f, a.type)
      self.lenses[a] = la.Lens.identity(a, t)
      env[a] = block.add_argument(t, a.location)
    self._block(block, env, func_return=True)
    for op in reversed(self.dead):
      op.erase()
    for a in reversed(ref_params):
      if list(a.uses):
        raise PassError(f, "internal: a ref parameter is still used")
      block.erase_argument(a.arg_number)
    # The signature: ref params are now tensors; written ones are returned.
    # Each ref parameter's attributes move with it to the trailing tensor
    # argument that replaced it; added results get empty attribute dicts.
    ret = block.operations[len(block.operations) - 1]
    sig = irutil.Signature.of(f)
    moved = set(ref_param_numbers)
    sig.arg_attrs = ([d for i, d in enumerate(sig.arg_attrs) if i not in moved]
                     + [sig.arg_attrs[i] for i in ref_param_numbers])
    sig.inputs = [a.type for a in block.arguments]
    sig.results = [v.type for v in ret.operands]
    sig.apply(f)

  @staticmethod
  def _value_type(where, t: ir.Type) -> ir.RankedTensorType:
    try:
      return ref_value_type(t)
    except RefTypeError as e:
      raise PassError(where, str(e)) from None

  def _lens(self, op: ir.Operation, v: ir.Value) -> la.Lens:
    lens = self.lenses.get(v)
    if lens is None:
      raise PassError(op, f"cannot trace ref operand of '{op.name}' to a ref.new, "
                      "ref.empty or a ref parameter")
    return lens

  # -- blocks ---------------------------------------------------------------

  def _block(self, block: ir.Block, env: dict[ir.Value, ir.Value],
             func_return: bool = False, extra_results: list[ir.Value] | None = None
             ) -> None:
    """Rewrites the ops of `block`; the terminator gets `extra_results` (roots)."""
    ops = [o.operation for o in block.operations]
    for i, op in enumerate(ops):
      if i == len(ops) - 1 and op.name in ("func.return", "stablehlo.return"):
        self._terminator(op, env, func_return, extra_results or [])
      else:
        self._op(op, env)

  def _terminator(self, op: ir.Operation, env, func_return: bool,
                  roots: list[ir.Value]) -> None:
    if _has_ref_operand(op):
      raise PassError(op, "refs cannot be returned")
    extra: list[ir.Value] = []
    if func_return:
      args = self.func.regions[0].blocks[0].arguments
      w = self.mod.written.get(_func_name(self.func), [])
      extra = [env[a] for i, a in enumerate(args)
               if is_ref_type(a.type) and i < len(w) and w[i]]
    extra += [env[r] for r in roots]
    if not extra:
      return
    with ir.InsertionPoint(op), op.location:
      ir.Operation.create(op.name, results=[], operands=list(op.operands) + extra,
                          attributes=_attrs(op))
    op.erase()

  def _op(self, op: ir.Operation, env: dict[ir.Value, ir.Value]) -> None:
    name = op.name
    if not (name.startswith("ref.") or name == "func.call" or op.regions):
      # Most ops of a real program: no insertion point or location needed.
      if _has_ref_operand(op) or any(is_ref_type(r.type) for r in op.results):
        raise PassError(op, f"'{name}' cannot take or produce refs")
      return
    with ir.InsertionPoint(op), op.location:
      rule = _PROMOTION_RULES.get(name)
      if rule is not None:
        rule(self, op, env)
      elif name.startswith("ref."):
        raise PassError(op, f"unknown ref op '{name}'")
      elif name == "func.call" and _has_ref_operand(op):
        self._call(op, env)
      elif name == "stablehlo.while" and _uses_refs(op):
        self._while(op, env)
      elif name in _BRANCH_OPS and _uses_refs(op):
        self._branch(op, env)
      elif _has_ref_operand(op) or any(is_ref_type(r.type) for r in op.results):
        raise PassError(op, f"'{name}' cannot take or produce refs")
      elif len(op.regions) and _uses_refs(op):
        raise PassError(op, f"refs cannot be used inside '{name}' (only inside "
                        "stablehlo.while, stablehlo.case and stablehlo.if)")

  # -- the promotion rules of the ref ops (`_PROMOTION_RULES`) ------------------

  def _new(self, op: ir.Operation, env) -> None:
    self._count("refs-promoted")
    t = self._value_type(op, op.results[0].type)
    self.lenses[op.results[0]] = la.Lens.identity(op.results[0], t)
    env[op.results[0]] = op.operands[0]
    self.dead.append(op)

  def _empty(self, op: ir.Operation, env) -> None:
    self._count("refs-promoted")
    t = self._value_type(op, op.results[0].type)
    self.lenses[op.results[0]] = la.Lens.identity(op.results[0], t)
    env[op.results[0]] = hb.zeros(t)
    self.dead.append(op)

  def _view(self, op: ir.Operation, env) -> None:
    lens = self._lens(op, op.operands[0])
    idx = _indexer(op)
    if idx.indexed_dims:
      raise PassError(op, "a view cannot have indexed dims")
    dyn = [op.operands[i] for i in range(1, len(op.operands))]
    self.lenses[op.results[0]] = la.compose_view(lens, idx, dyn)
    self.dead.append(op)

  def _freeze(self, op: ir.Operation, env) -> None:
    lens = self._lens(op, op.operands[0])
    v = la.read(env[lens.root], la.whole(lens))
    op.results[0].replace_all_uses_with(v)
    op.erase()
    self._count("accesses-lowered")

  def _free(self, op: ir.Operation, env) -> None:
    self._lens(op, op.operands[0])
    op.erase()

  def _access(self, op: ir.Operation, env) -> None:
    """get/set/swap/addupdate, from the op's traits: a read returns the old
    value, a write or an accumulation updates the root's current value."""
    traits = REF_OPS[op.name]
    operands = list(op.operands)  # one trip into the bindings
    lens = self._lens(op, operands[0])
    idx = _indexer(op)
    has_value = traits.HAS_VALUE_OPERAND
    rest = operands[2 if has_value else 1:]
    if len(rest) != idx.num_operands():
      raise PassError(op, f"expected {idx.num_operands()} offset/indices operands, "
                      f"got {len(rest)}")
    dyn, indices = idx.split_operands(rest) if rest else ((), None)
    acc = la.root_access(lens, idx, dyn, indices)
    cur = env[lens.root]
    if traits.READS:
      old = la.read(cur, acc)
      op.results[0].replace_all_uses_with(old)
    if has_value:
      env[lens.root] = la.write(cur, acc, operands[1], add=traits.ACCUMULATES)
    op.erase()
    self._count("accesses-lowered")

  # -- calls -------------------------------------------------------------------

  def _call(self, op: ir.Operation, env) -> None:
    callee = _callee_name(op)
    f = self.mod.funcs.get(callee)
    if f is None:
      raise PassError(op, f"call to unknown function @{callee} with ref operands")
    if not _is_private(f):
      raise PassError(op, f"call passes refs to public function @{callee}; only "
                      "private functions may take refs")
    written = self.mod.written.get(callee, [])
    operands, ref_values, back = [], [], []
    for i, v in enumerate(op.operands):
      if is_ref_type(v.type):
        lens = self._lens(op, v)
        value = la.read(env[lens.root], la.whole(lens))
        if i < len(written) and written[i]:
          back.append(lens)
        ref_values.append(value)
      else:
        operands.append(v)
    operands += ref_values
    results = [r.type for r in op.results] + [ln.value_type for ln in back]
    new = ir.Operation.create("func.call", results=results, operands=operands,
                              attributes=_attrs(op))
    n = len(op.results)
    for old, nv in zip(op.results, new.results):
      old.replace_all_uses_with(nv)
    for k, lens in enumerate(back):
      env[lens.root] = la.write(env[lens.root], la.whole(lens), new.results[n + k])
    op.erase()
    self._count("calls-rewritten")

  # -- control flow -------------------------------------------------------------

  def _while(self, op: ir.Operation, env) -> None:
    cond, body = op.regions[0], op.regions[1]
    for inner in _walk_ops_region(cond):
      if inner.name in _WRITE_OPS or (inner.name == "func.call" and any(
          _root_of(r) in env for r in _written_roots_of_call(inner, self.mod))):
        raise PassError(inner, "writing a ref in the condition of stablehlo.while "
                        "is not supported")
    carried = [r for r in _written_roots(op, self.mod) if r in env]
    types = [env[r].type for r in carried]
    cond_b, body_b = cond.blocks[0], body.blocks[0]
    loc = op.location
    env_c, env_b = dict(env), dict(env)
    for r, t in zip(carried, types):
      env_c[r] = cond_b.add_argument(t, loc)
      env_b[r] = body_b.add_argument(t, loc)
    self._block(cond_b, env_c)
    self._block(body_b, env_b, extra_results=carried)
    n = len(op.results)
    new = _rebuild(op, list(op.operands) + [env[r] for r in carried],
                   [r.type for r in op.results] + types)
    for k, r in enumerate(carried):
      env[r] = new.results[n + k]
    if carried:
      self._count("loops-carrying-refs")

  def _branch(self, op: ir.Operation, env) -> None:
    written = [r for r in _written_roots(op, self.mod) if r in env]
    for region in op.regions:
      self._block(region.blocks[0], dict(env), extra_results=written)
    if not written:
      return
    n = len(op.results)
    rets = [irutil.terminator_of(region) for region in op.regions]
    new = _rebuild(op, list(op.operands),
                   [r.type for r in op.results] + [env[r].type for r in written])
    # Which results carry ref state, and which branches change each: what
    # ref-prepare-for-xla needs to reshape the op for XLA.
    marks = []
    for k, r in enumerate(written):
      changed = [b for b, ret in enumerate(rets) if ret.operands[n + k] != env[r]]
      if changed:
        marks.append(ir.DenseI64ArrayAttr.get([n + k] + changed))
    if marks:
      new.attributes[REF_RESULTS_ATTR] = ir.ArrayAttr.get(marks)
    for k, r in enumerate(written):
      env[r] = new.results[n + k]
    self._count("branches-carrying-refs")


def _written_roots_of_call(call: ir.Operation, mod: _Module) -> list[ir.Value]:
  if not _has_ref_operand(call):
    return []
  w = mod.written.get(_callee_name(call), [])
  return [_root_of(v) for i, v in enumerate(call.operands)
          if is_ref_type(v.type) and i < len(w) and w[i]]


# How effect elimination promotes each ref op (every op in REF_OPS has one:
# test_dialect.py::test_every_op_has_every_rule).
_PROMOTION_RULES = {
    "ref.new": _Rewriter._new,
    "ref.empty": _Rewriter._empty,
    "ref.view": _Rewriter._view,
    "ref.freeze": _Rewriter._freeze,
    "ref.free": _Rewriter._free,
    **{name: _Rewriter._access for name in op_names(indexer=True, makes_view=False)},
}
