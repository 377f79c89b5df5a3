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
  results of every branch; then, so that XLA updates them in place
  (docs/inplace.md, rule 3): a single writing branch is moved last; writes of
  one window per branch are hoisted after the op (the branches return offsets
  and window); other writing branches become 0/1-trip `stablehlo.while` loops
  (not inside loops).
- `func.call`: each ref parameter of a private callee becomes a tensor
  parameter (its current value) and each written one an extra trailing result
  (its final value), in parameter order. Calls whose ref operands alias (the
  same root passed twice, a view and its parent) are inlined first, so that
  their semantics stay sequential. Recursion through functions that take refs
  is an error at the call. A view's window passed to a callee that writes it
  goes through an `optimization_barrier` (an XLA miscompile, see `_barrier`).

`ref.empty` starts as zeros of its type (its contents are undefined until
written, so any value is correct).
"""

from __future__ import annotations

import dataclasses

from jaxlib.mlir import ir
from jaxlib.mlir.dialects import stablehlo

from refhlo.compiler.dialect.indexer import Indexer, IndexerError
from refhlo.compiler.dialect.types import RefTypeError, is_ref_type, ref_value_type
from refhlo.compiler.passes import Pass, PassError
from refhlo.compiler.transforms import _lower_access as la

_WRITE_OPS = ("ref.set", "ref.swap", "ref.addupdate")
_BRANCH_OPS = ("stablehlo.case", "stablehlo.if")


def _has_ref_operand(op: ir.Operation) -> bool:
  return any(is_ref_type(v.type) for v in op.operands)


def _root_of(v: ir.Value) -> ir.Value:
  """The root a ref value aliases (through views)."""
  while not isinstance(v.owner, ir.Block) and v.owner.operation.name == "ref.view":
    v = v.owner.operation.operands[0]
  return v


def _walk_ops(op: ir.Operation):
  """Every op nested inside (not including) `op`, in pre-order."""
  for region in op.regions:
    for block in region.blocks:
      for inner in block.operations:
        inner = inner.operation
        yield inner
        yield from _walk_ops(inner)


def _callee_name(call: ir.Operation) -> str:
  return ir.FlatSymbolRefAttr(call.attributes["callee"]).value


def _attrs(op: ir.Operation) -> dict[str, ir.Attribute]:
  attrs = op.attributes
  return {(n if isinstance(n, str) else n.name): (attrs[n] if isinstance(n, str) else n.attr)
          for n in attrs}


def _func_name(f: ir.Operation) -> str:
  return ir.StringAttr(f.attributes["sym_name"]).value


def _is_private(f: ir.Operation) -> bool:
  return ("sym_visibility" in f.attributes
          and ir.StringAttr(f.attributes["sym_visibility"]).value == "private")


def _uses_refs(op: ir.Operation) -> bool:
  """Whether any op nested in `op` touches a ref."""
  for inner in _walk_ops(op):
    if inner.name.startswith("ref.") or _has_ref_operand(inner) or any(
        is_ref_type(r.type) for r in inner.results):
      return True
  return False


@dataclasses.dataclass
class _Module:
  """The functions of a module and what each does to its ref parameters."""
  funcs: dict[str, ir.Operation]
  written: dict[str, list[bool]]  # per parameter: written (ref params only)
  # The `func.call` ops of each function, in walk order (kept current by
  # `_inline_aliased_calls`, so each function is walked once for its calls).
  calls: dict[str, list[ir.Operation]] = dataclasses.field(default_factory=dict)
  in_loop: set[str] = dataclasses.field(default_factory=set)  # may run in a while
  has_loop: dict[str, bool] = dataclasses.field(default_factory=dict)  # memo


@dataclasses.dataclass
class RefEffectElimination(Pass):
  """Promotes refs to SSA values and lowers accesses to StableHLO."""

  NAME = "ref-effect-elimination"
  SUMMARY = "Promote refs to SSA values, lowering accesses to StableHLO slices and updates"
  DESCRIPTION = """\
Walks each function in program order, keeping the current tensor value of
every ref rooted at `ref.new`/`ref.empty` (zeros) or at a ref parameter of a
private function. `ref.get` becomes a (dynamic_)slice / gather of that value,
`ref.set`/`ref.swap`/`ref.addupdate` a dynamic_update_slice / scatter producing
its next value, `ref.freeze` the final value; views compose with their parents.
Written refs are threaded through `stablehlo.while` (loop-carried values),
`stablehlo.case`/`stablehlo.if` (extra results) and calls to private functions
(extra arguments and results). Calls with aliasing ref operands are inlined.
Where several branches of a case/if write a ref, each writing one window, the
branches return the window and its offsets and one dynamic_update_slice after
the op writes it; otherwise (outside loops) each writing branch becomes a
while loop running 0 or 1 times, so that XLA updates the buffer in place.

Before:

```mlir
func.func @main(%buf: tensor<8x4xf32>, %i: tensor<i32>, %row: tensor<4xf32>)
    -> (tensor<4xf32>, tensor<8x4xf32>) {
  %r = "ref.new"(%buf) : (tensor<8x4xf32>) -> !ref.ref<tensor<8x4xf32>>
  %old = "ref.swap"(%r, %row, %i) {static_offsets = array<i64: -9223372036854775808, 0>,
      static_sizes = array<i64: 1, 4>, squeezed_dims = array<i64: 0>}
      : (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>, tensor<i32>) -> tensor<4xf32>
  %final = "ref.get"(%r) : (!ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32>
  return %old, %final : tensor<4xf32>, tensor<8x4xf32>
}
```

After (and canonicalize):

```mlir
func.func @main(%buf: tensor<8x4xf32>, %i: tensor<i32>, %row: tensor<4xf32>)
    -> (tensor<4xf32>, tensor<8x4xf32>) {
  %c = stablehlo.constant dense<0> : tensor<i32>
  %0 = stablehlo.dynamic_slice %buf, %i, %c, sizes = [1, 4] : (tensor<8x4xf32>, tensor<i32>, tensor<i32>) -> tensor<1x4xf32>
  %1 = stablehlo.reshape %0 : (tensor<1x4xf32>) -> tensor<4xf32>
  %2 = stablehlo.reshape %row : (tensor<4xf32>) -> tensor<1x4xf32>
  %3 = stablehlo.dynamic_update_slice %buf, %2, %i, %c : (tensor<8x4xf32>, tensor<1x4xf32>, tensor<i32>, tensor<i32>) -> tensor<8x4xf32>
  return %1, %3 : tensor<4xf32>, tensor<8x4xf32>
}
```
"""

  def run(self, module: ir.Operation) -> None:
    with ir.Location.unknown():
      self._run(module)

  def _run(self, module: ir.Operation) -> None:
    mod = _collect(module)
    order = _call_order(mod)
    _inline_aliased_calls(mod, order)
    _summarize(mod, order)
    mod.in_loop = _in_loop_funcs(mod)
    for name in order:
      f = mod.funcs[name]
      if _uses_refs(f) or any(is_ref_type(t) for t in _arg_types(f)):
        _Rewriter(mod, f).run()


PASS = RefEffectElimination


# -- module-level analysis --------------------------------------------------------


def _arg_types(f: ir.Operation) -> list[ir.Type]:
  ft = ir.FunctionType(ir.TypeAttr(f.attributes["function_type"]).value)
  return list(ft.inputs)


def _collect(module: ir.Operation) -> _Module:
  funcs: dict[str, ir.Operation] = {}
  calls: dict[str, list[ir.Operation]] = {}
  stack = [module]
  while stack:  # functions are not nested in functions: no walk of bodies here
    for region in stack.pop().regions:
      for block in region.blocks:
        for op in block.operations:
          op = op.operation
          if op.name == "func.func":
            funcs[_func_name(op)] = op
          elif len(op.regions):
            stack.append(op)
  for name, f in funcs.items():
    calls[name] = list(_calls(f))
  return _Module(funcs, {}, calls)


def _calls(f: ir.Operation):
  for op in _walk_ops(f):
    if op.name == "func.call":
      yield op


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


def _inline_aliased_calls(mod: _Module, order: list[str]) -> None:
  """Inlines every call whose ref operands share a root (until none is left)."""
  for name in reversed(order):  # callers first: inlined bodies get re-scanned
    f = mod.funcs[name]
    while True:
      call = next((c for c in mod.calls[name] if _has_ref_operand(c) and _aliased(c)),
                  None)
      if call is None:
        break
      _inline(call, mod.funcs[_callee_name(call)])
      mod.calls[name] = list(_calls(f))


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


def _summarize(mod: _Module, order: list[str]) -> None:
  """Which ref parameters each function writes (callees first)."""
  for name in order:
    f = mod.funcs[name]
    args = list(f.regions[0].blocks[0].arguments) if f.regions[0].blocks else []
    written = [False] * len(args)
    index = {a: i for i, a in enumerate(args) if is_ref_type(a.type)}
    for root in _written_roots(f, mod):
      if root in index:
        written[index[root]] = True
    mod.written[name] = written


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


def _update_attr_arrays(f: ir.Operation, ref_params: list[int],
                        num_old_args: int, num_results: int) -> None:
  """Keeps `arg_attrs`/`res_attrs` in step with the rewritten signature: each
  ref parameter's attributes move with it to the trailing tensor argument that
  replaced it; added results get empty attribute dicts."""
  attrs = f.attributes
  if "arg_attrs" in attrs and ref_params:
    old = list(ir.ArrayAttr(attrs["arg_attrs"]))
    moved = set(ref_params)
    kept = [old[i] for i in range(num_old_args) if i not in moved]
    attrs["arg_attrs"] = ir.ArrayAttr.get(kept + [old[i] for i in ref_params])
  if "res_attrs" in attrs:
    old = list(ir.ArrayAttr(attrs["res_attrs"]))
    if len(old) < num_results:
      empty = ir.DictAttr.get({})
      attrs["res_attrs"] = ir.ArrayAttr.get(old + [empty] * (num_results - len(old)))


def _barrier(value: ir.Value) -> ir.Value:
  """`stablehlo.optimization_barrier` of a view's window passed to a callee
  that writes it.

  Works around an XLA miscompile (jax 0.10.2, also hit by plain `jax.jit`):
  in `dynamic_slice` -> single-index `scatter` that drops out-of-bounds
  updates -> `dynamic_update_slice` back, XLA's simplifier folds the scatter
  into the outer slice/update and keeps, for a dropped update, an element read
  from the wrong column (minimal case: `test_xla_window_scatter_fold` in
  test/python/test_differential.py). The barrier stops the fold; it costs no
  copy of the root buffer, whose update stays in place.
  """
  return ir.Operation.create("stablehlo.optimization_barrier",
                             results=[value.type], operands=[value]).result


class _Rewriter:
  """Promotes the refs of one function."""

  def __init__(self, mod: _Module, func: ir.Operation):
    self.mod = mod
    self.func = func
    self.lenses: dict[ir.Value, la.Lens] = {}
    self.dead: list[ir.Operation] = []  # ref-defining ops, erased at the end

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
    ret = block.operations[len(block.operations) - 1]
    old_ft = ir.FunctionType(ir.TypeAttr(f.attributes["function_type"]).value)
    f.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get(
        [a.type for a in block.arguments], [v.type for v in ret.operands]))
    _update_attr_arrays(f, ref_param_numbers,
                        len(old_ft.inputs), len(ret.operands))

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
      if name == "ref.new":
        t = self._value_type(op, op.results[0].type)
        self.lenses[op.results[0]] = la.Lens.identity(op.results[0], t)
        env[op.results[0]] = op.operands[0]
        self.dead.append(op)
      elif name == "ref.empty":
        t = self._value_type(op, op.results[0].type)
        self.lenses[op.results[0]] = la.Lens.identity(op.results[0], t)
        env[op.results[0]] = la.zeros(t)
        self.dead.append(op)
      elif name == "ref.view":
        lens = self._lens(op, op.operands[0])
        idx = _indexer(op)
        if idx.indexed_dims:
          raise PassError(op, "a view cannot have indexed dims")
        dyn = [op.operands[i] for i in range(1, len(op.operands))]
        self.lenses[op.results[0]] = la.compose_view(lens, idx, dyn)
        self.dead.append(op)
      elif name in ("ref.get", "ref.set", "ref.swap", "ref.addupdate"):
        self._access(op, env)
      elif name == "ref.freeze":
        lens = self._lens(op, op.operands[0])
        v = la.read(env[lens.root], la.whole(lens))
        op.results[0].replace_all_uses_with(v)
        op.erase()
      elif name == "ref.free":
        self._lens(op, op.operands[0])
        op.erase()
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

  # -- accesses -------------------------------------------------------------

  def _access(self, op: ir.Operation, env) -> None:
    name = op.name
    operands = list(op.operands)  # one trip into the bindings
    lens = self._lens(op, operands[0])
    idx = _indexer(op)
    has_value = name != "ref.get"
    rest = operands[2 if has_value else 1:]
    if len(rest) != idx.num_operands():
      raise PassError(op, f"expected {idx.num_operands()} offset/indices operands, "
                      f"got {len(rest)}")
    dyn, indices = idx.split_operands(rest) if rest else ((), None)
    acc = la.root_access(lens, idx, dyn, indices)
    cur = env[lens.root]
    if name == "ref.get" or name == "ref.swap":
      old = la.read(cur, acc)
      op.results[0].replace_all_uses_with(old)
    if has_value:
      env[lens.root] = la.write(cur, acc, operands[1], add=name == "ref.addupdate")
    op.erase()

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
          if not all(lens.is_direct(r) for r in range(len(lens.root_shape))):
            value = _barrier(value)
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

  def _branch(self, op: ir.Operation, env) -> None:
    written = [r for r in _written_roots(op, self.mod) if r in env]
    for region in op.regions:
      self._block(region.blocks[0], dict(env), extra_results=written)
    n = len(op.results)
    cur = [env[r] for r in written]
    rets = [_terminator_of(region) for region in op.regions]
    # vals[j][k]: the value of root `written[j]` at the end of branch k.
    vals = [[ret.operands[n + j] for ret in rets] for j in range(len(written))]
    plan = _plan_branches(vals, cur, [ret.block for ret in rets])
    if plan.loops and not self._loops_allowed(op, plan.writers):
      plan = _BranchPlan((), plan.writers)  # the case form: copies
    if plan.loops:
      new_vals = _branches_as_loops(op, n, cur, vals)
    else:
      new_vals = _branches_hoisted(op, n, cur, vals, plan)
    for r, v in zip(written, new_vals):
      env[r] = v

  def _loops_allowed(self, op: ir.Operation, writers: list[int]) -> bool:
    """Whether the branches of `op` may become while loops without nesting a
    loop in a loop (which turns XLA's region analysis off for the module)."""
    if (_func_name(self.func) in self.mod.in_loop
        or not all(_zeroable(r.type) for r in op.results)):
      return False
    p = op.parent
    while p is not None and p.name != "func.func":
      if p.name == "stablehlo.while":
        return False
      p = p.parent
    return not any(_contains_loop(op.regions[k], self.mod) for k in writers)


def _walk_ops_region(region: ir.Region):
  for block in region.blocks:
    for op in block.operations:
      op = op.operation
      yield op
      yield from _walk_ops(op)


def _written_roots_of_call(call: ir.Operation, mod: _Module) -> list[ir.Value]:
  if not _has_ref_operand(call):
    return []
  w = mod.written.get(_callee_name(call), [])
  return [_root_of(v) for i, v in enumerate(call.operands)
          if is_ref_type(v.type) and i < len(w) and w[i]]


def _permuted_index(name: str, index: ir.Value, k: int, last: int) -> ir.Value:
  """The selector of a case/if whose branches `k` and `last` were swapped."""
  if name == "stablehlo.if":  # two branches: negate the predicate
    return stablehlo.NotOp(index).result
  t = index.type
  elt = ir.RankedTensorType(t).element_type

  def c(v: int) -> ir.Value:
    return la.int_const(v, elt)

  # Out-of-range indices select the last branch: normalise first.
  in_range = stablehlo.AndOp(la.compare(index, c(0), "GE"),
                             la.compare(index, c(last + 1), "LT")).result
  e = stablehlo.SelectOp(in_range, index, c(last)).result
  was_last = stablehlo.SelectOp(la.compare(e, c(last), "EQ"), c(k), e).result
  return stablehlo.SelectOp(la.compare(e, c(k), "EQ"), c(last), was_last).result


def _rebuild(op: ir.Operation, operands: list[ir.Value], results: list[ir.Type],
             order: list[int] | None = None) -> ir.Operation:
  """A copy of `op` with new operands/results, its regions' ops moved over
  (new region i takes old region order[i])."""
  with ir.InsertionPoint(op), op.location:
    new = ir.Operation.create(op.name, results=results, operands=operands,
                              attributes=_attrs(op),
                              regions=len(op.regions))
  order = order if order is not None else list(range(len(op.regions)))
  for old_r, new_r in zip([op.regions[i] for i in order], new.regions):
    for old_b in old_r.blocks:
      args = list(old_b.arguments)
      nb = ir.Block.create_at_start(new_r, [a.type for a in args],
                                    [a.location for a in args])
      for a, na in zip(args, nb.arguments):
        a.replace_all_uses_with(na)
      for inner in list(old_b.operations):
        nb.append(inner.operation)
  for old, nv in zip(op.results, new.results):
    old.replace_all_uses_with(nv)
  op.erase()
  return new


# -- case / if with writing branches (docs/inplace.md, rule 3) -----------------------
#
# XLA:CPU updates a buffer returned by a case/if in place only when the last
# branch is the one that modifies it; any other modifying branch costs a
# whole-buffer copy. After the branches are lowered (each returning the final
# value of every root written in the case), one of three forms is chosen:
#
# - hoisted: a root written by several branches, each with one
#   dynamic_update_slice of the captured value and one window shape: the
#   branches return (offsets, window) instead (a non-writing branch the window
#   at offset 0, unchanged) and one dynamic_update_slice after the op writes it;
# - the single branch that modifies the roots still returned whole is moved
#   last (the index is remapped);
# - loops: if two or more branches still modify returned roots, each such
#   branch becomes a `stablehlo.while` running 0 or 1 times (loop-carried
#   buffers are updated in place), after a case that runs the other branches
#   (the writers' slots return zeros). Not used where it would nest a loop in
#   a loop (XLA's region analysis is then turned off for the whole module,
#   `compiler/xla.py`); the case then keeps its copies.


@dataclasses.dataclass(frozen=True)
class _Hoist:
  """A root whose writes are hoisted out of the branches."""
  j: int                                      # position among the written roots
  updates: tuple[ir.Operation | None, ...]    # per branch: its update (None: none)
  window: ir.RankedTensorType
  offset_type: ir.Type                        # element type of the offsets


@dataclasses.dataclass(frozen=True)
class _BranchPlan:
  hoisted: tuple[_Hoist, ...]
  writers: list[int]   # branches modifying a root returned whole
  loops: bool = False  # one 0/1-trip while loop per writer


def _terminator_of(region: ir.Region) -> ir.Operation:
  ops = region.blocks[0].operations
  return ops[len(ops) - 1].operation


def _hoist_of(j: int, vals: list[ir.Value], cur: ir.Value,
              block_of: list[ir.Block]) -> _Hoist | None:
  updates: list[ir.Operation | None] = []
  window, elts = None, set()
  for v, block in zip(vals, block_of):
    if v == cur:
      updates.append(None)
      continue
    if isinstance(v.owner, ir.Block):
      return None
    dus = v.owner.operation
    if (dus.name != "stablehlo.dynamic_update_slice" or dus.operands[0] != cur
        or dus.block != block or len(list(v.uses)) != 1):
      return None
    t = dus.operands[1].type
    if window is not None and t != window:
      return None
    window = t
    elts.update(str(la.elt_of(o)) for o in list(dus.operands)[2:])
    updates.append(dus)
  if window is None:
    return None
  if len(elts) == 1:
    elt = la.elt_of(next(d for d in updates if d is not None).operands[2])
  elif elts <= {"i32", "i64"}:
    elt = ir.IntegerType.get_signless(64)  # i32 offsets widen exactly
  else:
    return None
  return _Hoist(j, tuple(updates), ir.RankedTensorType(window), elt)


def _plan_branches(vals: list[list[ir.Value]], cur: list[ir.Value],
                   block_of: list[ir.Block]) -> _BranchPlan:
  modifies = [[v != c for v in vs] for vs, c in zip(vals, cur)]
  hoists = {j: _hoist_of(j, vals[j], cur[j], block_of)
            for j in range(len(vals)) if any(modifies[j])}

  def whole_writers(hoisted: set[int]) -> list[int]:
    return sorted({k for j, m in enumerate(modifies) if j not in hoisted
                   for k, w in enumerate(m) if w})

  # Hoist roots with several writers; then, if that is not enough, all.
  chosen = {j for j, h in hoists.items() if h is not None and sum(modifies[j]) >= 2}
  writers = whole_writers(chosen)
  if len(writers) >= 2:
    chosen = {j for j, h in hoists.items() if h is not None}
    writers = whole_writers(chosen)
  if len(writers) >= 2:
    return _BranchPlan((), whole_writers(set()), loops=True)
  return _BranchPlan(tuple(hoists[j] for j in sorted(chosen)), writers)


def _replace_terminator(ret: ir.Operation, operands: list[ir.Value]) -> None:
  with ir.InsertionPoint(ret), ret.location:
    ir.Operation.create(ret.name, results=[], operands=operands,
                        attributes=_attrs(ret))
  ret.erase()


def _branches_hoisted(op: ir.Operation, n: int, cur: list[ir.Value],
                      vals: list[list[ir.Value]], plan: _BranchPlan) -> list[ir.Value]:
  """Rebuilds the lowered case/if `op` in the hoisted form (see above); the
  new values of the written roots."""
  hoisted = {h.j for h in plan.hoisted}
  whole_js = [j for j in range(len(cur)) if j not in hoisted]
  for k, region in enumerate(op.regions):
    ret = _terminator_of(region)
    operands = list(ret.operands)
    new_ops = operands[:n] + [operands[n + j] for j in whole_js]
    with ir.InsertionPoint(ret), ret.location:
      for h in plan.hoisted:
        dus = h.updates[k]
        if dus is None:  # the window at offset 0, unchanged
          offs = [la.int_const(0, h.offset_type)] * len(h.window.shape)
          window = la._op("stablehlo.dynamic_slice", h.window, [cur[h.j]] + offs,
                          {"slice_sizes": ir.DenseI64ArrayAttr.get(list(h.window.shape))})
        else:
          offs = [la.convert(o, h.offset_type) for o in list(dus.operands)[2:]]
          window = dus.operands[1]
        new_ops += offs + [window]
    _replace_terminator(ret, new_ops)
    for h in plan.hoisted:
      if h.updates[k] is not None:
        h.updates[k].erase()
  operands, order = list(op.operands), list(range(len(op.regions)))
  last = len(order) - 1
  if len(plan.writers) == 1 and plan.writers[0] != last:
    # Only the last branch's result is updated in place: move the writer there.
    k = plan.writers[0]
    order[k], order[last] = last, k
    with ir.InsertionPoint(op), op.location:
      operands[0] = _permuted_index(op.name, operands[0], k, last)
  types = [r.type for r in op.results] + [cur[j].type for j in whole_js]
  for h in plan.hoisted:
    types += [la.scalar_type(h.offset_type)] * len(h.window.shape) + [h.window]
  loc = op.location
  new = _rebuild(op, operands, types, order)
  out = list(cur)
  for pos, j in enumerate(whole_js):
    out[j] = new.results[n + pos]
  at = n + len(whole_js)
  with ir.InsertionPoint.after(new), loc:
    for h in plan.hoisted:
      rank = len(h.window.shape)
      parts = [new.results[at + i] for i in range(rank + 1)]
      at += rank + 1
      out[h.j] = la._op("stablehlo.dynamic_update_slice", cur[h.j].type,
                        [cur[h.j], parts[rank]] + parts[:rank])
  return out


def _branches_as_loops(op: ir.Operation, n: int, cur: list[ir.Value],
                       vals: list[list[ir.Value]]) -> list[ir.Value]:
  """Rebuilds the lowered case/if `op` in the loop form (see above); the new
  values of the written roots."""
  num = len(op.regions)
  modified = [[j for j in range(len(cur)) if vals[j][k] != cur[j]] for k in range(num)]
  writers = [k for k in range(num) if modified[k]]
  res_types = [r.type for r in op.results]
  loc = op.location
  index = op.operands[0]
  i1 = ir.IntegerType.get_signless(1)
  with ir.InsertionPoint(op), loc:
    if op.name == "stablehlo.if":
      flags = {0: index, 1: stablehlo.NotOp(index).result}
    else:
      elt = la.elt_of(index)
      last = la.int_const(num - 1, elt)
      in_range = stablehlo.AndOp(la.compare(index, la.int_const(0, elt), "GE"),
                                 la.compare(index, la.int_const(num, elt), "LT")).result
      e = stablehlo.SelectOp(in_range, index, last).result
      flags = {k: la.compare(e, la.int_const(k, elt), "EQ") for k in writers}
    zeros = [la.zeros(ir.RankedTensorType(t)) for t in res_types]
  case = _rebuild(op, [index], res_types)
  for k in range(num):
    if k not in writers:
      ret = _terminator_of(case.regions[k])
      _replace_terminator(ret, list(ret.operands)[:n])
  results, out, ip, first = list(case.results), list(cur), ir.InsertionPoint.after(case), None
  for k in writers:
    block = case.regions[k].blocks[0]
    ret = _terminator_of(case.regions[k])
    js = modified[k]
    types = [ir.RankedTensorType.get([], i1)] + res_types + [cur[j].type for j in js]
    with ip, loc:
      w = ir.Operation.create("stablehlo.while", results=types,
                              operands=[flags[k]] + results + [out[j] for j in js],
                              regions=2)
    if first is None:
      first = w
    cond = ir.Block.create_at_start(w.regions[0], types, [loc] * len(types))
    body = ir.Block.create_at_start(w.regions[1], types, [loc] * len(types))
    with ir.InsertionPoint(cond), loc:
      ir.Operation.create("stablehlo.return", results=[], operands=[cond.arguments[0]])
    ops = [o.operation for o in block.operations]
    for inner in ops[:-1]:
      body.append(inner)
    # Inside the loop each root is its carried value, or (not written here)
    # its value after the previous loops: the same value, as at most one loop
    # runs, but reading it there keeps the in-place chain intact.
    for j in range(len(cur)):
      v = body.arguments[1 + n + js.index(j)] if j in js else out[j]
      if v != cur[j]:
        _replace_in(ops, cur[j], v)
    ret_ops = list(ret.operands)
    with ir.InsertionPoint(body), ret.location:
      done = la.int_const(0, i1)
      ir.Operation.create("stablehlo.return", results=[],
                          operands=[done] + ret_ops[:n] + [ret_ops[n + j] for j in js])
    ret_loc = ret.location
    ret.erase()
    with ir.InsertionPoint(block), ret_loc:  # the writer's slot in the case
      ir.Operation.create("stablehlo.return", results=[], operands=zeros)
    results = list(w.results[1:1 + n])
    for pos, j in enumerate(js):
      out[j] = w.results[1 + n + pos]
    ip = ir.InsertionPoint.after(w)
  for old, new in zip(case.results, results):
    old.replace_all_uses_except(new, first)
  if n == 0 and all(len(r.blocks[0].operations) == 1 for r in case.regions):
    case.erase()  # nothing left to run
  return out


def _replace_in(ops: list[ir.Operation], old: ir.Value, new: ir.Value) -> None:
  """Replaces `old` by `new` in `ops` and everything nested in them."""

  def visit(o: ir.Operation) -> ir.WalkResult:
    o.replace_uses_of_with(old, new)
    return ir.WalkResult.ADVANCE

  for o in ops:
    o.walk(visit)


def _zeroable(t: ir.Type) -> bool:
  if not isinstance(t, ir.RankedTensorType):
    return False
  elt = ir.RankedTensorType(t).element_type
  return isinstance(elt, (ir.IntegerType, ir.FloatType))


def _contains_loop(where: ir.Region | ir.Operation, mod: _Module) -> bool:
  """Whether a while runs inside `where` (directly or through calls)."""
  ops = _walk_ops_region(where) if isinstance(where, ir.Region) else _walk_ops(where)
  for inner in ops:
    if inner.name == "stablehlo.while":
      return True
    if inner.name == "func.call":
      callee = _callee_name(inner)
      if callee not in mod.has_loop:
        mod.has_loop[callee] = False  # cut cycles
        f = mod.funcs.get(callee)
        mod.has_loop[callee] = f is not None and _contains_loop(f, mod)
      if mod.has_loop[callee]:
        return True
  return False


def _in_loop_funcs(mod: _Module) -> set[str]:
  """Functions that may run inside a while loop (called from a loop body or
  condition, directly or transitively)."""
  out: set[str] = set()
  todo: list[str] = []
  for name, calls in mod.calls.items():
    for call in calls:
      p = call.parent
      while p is not None and p.name != "func.func":
        if p.name == "stablehlo.while":
          todo.append(_callee_name(call))
          break
        p = p.parent
  while todo:
    name = todo.pop()
    if name in out or name not in mod.funcs:
      continue
    out.add(name)
    todo += [_callee_name(c) for c in mod.calls.get(name, [])]
  return out
