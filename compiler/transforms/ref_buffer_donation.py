"""`ref-buffer-donation`: turns the ref arguments of public functions into the
donated-buffer ABI of DESIGN.md (tensor in, aliased tensor out).

Private functions are left alone: effect elimination threads refs through
calls to them.
"""

from __future__ import annotations

import dataclasses

from jaxlib.mlir import ir

from refhlo.compiler import irutil
from refhlo.compiler.analysis.alias import AliasAnalysis, Root
from refhlo.compiler.analysis.effects import analyze_effects
from refhlo.compiler.dialect.ops import RefGetOp, RefNewOp
from refhlo.compiler.dialect.types import ref_value_type
from refhlo.compiler.dialect.verifier import REF_SHARDING
from refhlo.compiler.passes import Pass, PassError

ALIASING_OUTPUT = "tf.aliasing_output"
BUFFER_DONOR = "jax.buffer_donor"
"""Donated without a chosen output; XLA rejects it together with ALIASING_OUTPUT."""
DONATED_ATTR = "ref.donated"
"""Unit attribute on the `ref.new` that stands for a donated argument."""

SDY_SHARDING = "sdy.sharding"
RESULT_ATTRS_FROM_ARG = (SDY_SHARDING, "mhlo.sharding", "mhlo.layout_mode",
                         "mhlo.memory_kind")
"""Argument attributes copied onto the trailing result of a donated ref."""


@dataclasses.dataclass
class RefBufferDonation(Pass):
  NAME = "ref-buffer-donation"
  SUMMARY = "Turn public functions' ref arguments into donated, aliased tensors"
  STATISTICS = {
      "functions-rewritten": "Public functions whose ref arguments became tensors",
      "arguments-donated": "Written ref arguments donated and aliased to a result",
      "arguments-read-only": "Ref arguments never written, passed as plain tensors",
  }
  DESCRIPTION = """\
For every public `func.func` (no `sym_visibility = "private"`), each ref
argument becomes a tensor argument:

- if the function may write it (WRITE or ACCUMULATE, through views and,
  transitively, through calls), the argument gets `tf.aliasing_output = k :
  i32` and its final value is returned as the new trailing result `k` (one
  per written argument, in argument order, after the original results);
  `sdy.sharding`, `mhlo.sharding`, `mhlo.layout_mode` and `mhlo.memory_kind`
  of the argument are copied onto that result (a ref argument's Shardy
  sharding is written `ref.sharding = #sdy.sharding<...>`, since Shardy
  verifies `sdy.sharding` against a tensor type: it becomes the tensor
  argument's `sdy.sharding`), and a `jax.buffer_donor` is
  dropped (the aliasing donates the buffer; XLA rejects an argument that is
  both aliased and a buffer donor);
- a read-only or unused ref argument becomes a plain tensor argument.

Other argument and result attributes are kept. The body stays a ref program:
the entry block starts with `%r = "ref.new"(%arg)` (marked `ref.donated` when
the argument is donated) standing for the old ref argument, and each
`func.return` first reads the final values (`"ref.get"(%r)`) of the donated
refs; `ref-effect-elimination` then promotes these refs to SSA values.
Private functions and functions without ref arguments are unchanged.

It is an error when the effects on a public function's ref argument cannot
be determined (the ref reaches an unknown op or a function without a body),
when a public function with ref arguments is also called inside the
module (its signature is about to change), and when a ref argument already
has a `tf.aliasing_output` (which ref arguments alias which results is this
pass's decision).

Before:

```mlir
func.func @main(%buf: !ref.ref<tensor<4xf32>> {jax.buffer_donor = true, mhlo.sharding = "{replicated}"},
                %x: !ref.ref<tensor<4xf32>>) -> tensor<4xf32> {
  %v = ref.get %x : !ref.ref<tensor<4xf32>> -> tensor<4xf32>
  ref.addupdate %buf, %v : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  return %v : tensor<4xf32>
}
```

After:

```mlir
func.func @main(%arg0: tensor<4xf32> {mhlo.sharding = "{replicated}", tf.aliasing_output = 1 : i32}, %arg1: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32> {mhlo.sharding = "{replicated}"}) {
  %0 = ref.new %arg0 {ref.donated} : !ref.ref<tensor<4xf32>>
  %1 = ref.new %arg1 : !ref.ref<tensor<4xf32>>
  %2 = ref.get %1 : !ref.ref<tensor<4xf32>> -> tensor<4xf32>
  ref.addupdate %0, %2 : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  %3 = ref.get %0 : !ref.ref<tensor<4xf32>> -> tensor<4xf32>
  return %2, %3 : tensor<4xf32>, tensor<4xf32>
}
```
"""

  def run(self, module: ir.Operation) -> None:
    aa = AliasAnalysis(module)
    me = analyze_effects(module, aa)
    callers = aa.call_graph.call_sites()
    todo = []
    kills: list[ir.Operation] | None = None  # gathered once, when needed
    for name, info in aa.functions.items():
      if not info.public or not info.ref_args:
        continue
      if not info.has_body:
        raise PassError(info.op, f"public function @{name} has ref arguments "
                        "but no body: cannot donate its buffers")
      if name in callers:
        raise PassError(callers[name],
                        f"public function @{name} takes refs and is called inside "
                        "the module; buffer donation would change its signature "
                        "(make it private)")
      arg_attrs = irutil.attr_dicts(info.op.attributes, "arg_attrs",
                                    len(info.op.regions[0].blocks[0].arguments))
      for i in info.ref_args:
        if ALIASING_OUTPUT in arg_attrs[i]:
          raise PassError(info.op.regions[0].blocks[0].arguments[i],
                          f"ref argument #{i} of public function @{name} already "
                          f"has '{ALIASING_OUTPUT}': which ref arguments alias which "
                          "results is decided by buffer donation")
      effects = me.function_arg_effects(name)
      for i in info.ref_args:
        why = me.unresolved_arg(name, i)
        if why is not None:
          raise PassError(why.op, f"cannot tell whether ref argument #{i} of "
                          f"public function @{name} is written: {why.reason}")
      donated = [i for i in info.ref_args if effects[i].writes]
      if donated and kills is None:
        kills = _end_of_life_ops(aa)
      for i in donated:
        _check_end_of_life(aa, name, i, kills)
      todo.append((info, donated))
    # Every check passed: only now change the IR.
    for info, donated in todo:
      with info.op.location:
        _donate(info.op, info.ref_args, donated)
      self.stat("functions-rewritten").add()
      self.stat("arguments-donated").add(len(donated))
      self.stat("arguments-read-only").add(len(info.ref_args) - len(donated))


def _end_of_life_ops(aa: AliasAnalysis) -> list[ir.Operation]:
  """Every `ref.freeze` / `ref.free` of the module, in function and op order."""
  return [op for info in aa.functions.values() for op in info.ops
          if op.name in ("ref.freeze", "ref.free")]


def _check_end_of_life(aa: AliasAnalysis, name: str, index: int,
                       kills: list[ir.Operation]) -> None:
  """A donated argument's final value is read before each return, so it may
  be frozen or freed only by an op directly in the entry block (whose value,
  or a read just before it, is then the final value). `kills`: see
  `_end_of_life_ops`."""
  root = Root(name, "arg", index)
  shape = aa.root_shape(root)
  entry = aa.functions[name].op.regions[0].blocks[0]
  arg = entry.arguments[index]
  for op in kills:
    v = op.operands[0]
    if not any(r == root and w.is_whole_of(shape) for r, w in aa.windows(v)):
      continue
    if v == arg and op.parent == entry.owner:
      continue
    raise PassError(op, f"ref argument #{index} of public function @{name} is "
                    f"written and may end its life here ('{op.name}' inside a "
                    "region or a callee): cannot return its final value")


def _final_value(ref: ir.Value, ret: ir.Operation) -> ir.Value:
  """The final value of a donated ref at `ret`: the result of a top-level
  `ref.freeze`, a read just before a top-level `ref.free`, else a read here."""
  for use in ref.uses:
    op = use.owner
    if op.name == "ref.freeze":
      return op.results[0]
    if op.name == "ref.free":
      return RefGetOp.build(ref, loc=op.location, ip=ir.InsertionPoint(op)).result
  return RefGetOp.build(ref, loc=ret.location, ip=ir.InsertionPoint(ret)).result


def _donate(fop: ir.Operation, ref_args: list[int], donated: list[int]) -> None:
  sig = irutil.Signature.of(fop)
  inputs, results = sig.inputs, sig.results
  arg_attrs, res_attrs = sig.arg_attrs, sig.res_attrs
  n_res = len(results)
  entry = fop.regions[0].blocks[0]

  new_refs: dict[int, ir.Value] = {}
  first = entry.operations[0] if len(entry.operations) else None
  for i in ref_args:
    if REF_SHARDING in arg_attrs[i]:  # a tensor argument takes Shardy's own
      arg_attrs[i][SDY_SHARDING] = arg_attrs[i].pop(REF_SHARDING)
    arg = entry.arguments[i]
    tensor = ref_value_type(arg.type)
    inputs[i] = tensor
    arg.set_type(tensor)
    if i not in donated and not any(True for _ in arg.uses):
      continue  # unused: a plain tensor argument, no ref needed
    ip = ir.InsertionPoint(first) if first is not None else ir.InsertionPoint(entry)
    new = RefNewOp.build(arg, loc=arg.location, ip=ip).operation
    if i in donated:
      new.attributes[DONATED_ATTR] = ir.UnitAttr.get()
    arg.replace_all_uses_except(new.results[0], new)
    new_refs[i] = new.results[0]

  for k, i in enumerate(donated):
    out = n_res + k
    arg_attrs[i][ALIASING_OUTPUT] = ir.IntegerAttr.get(
        ir.IntegerType.get_signless(32), out)
    arg_attrs[i].pop(BUFFER_DONOR, None)  # the aliasing donates it
    results.append(inputs[i])
    res_attrs.append({key: arg_attrs[i][key] for key in RESULT_ATTRS_FROM_ARG
                      if key in arg_attrs[i]})

  if donated:
    for block in fop.regions[0].blocks:
      if not len(block.operations):
        continue
      ret = block.operations[len(block.operations) - 1].operation
      if ret.name != "func.return":
        continue
      finals = [_final_value(new_refs[i], ret) for i in donated]
      ip = ir.InsertionPoint(ret)
      ir.Operation.create("func.return", results=[],
                          operands=list(ret.operands) + finals,
                          loc=ret.location, ip=ip)
      ret.erase()

  sig.apply(fop)


PASS = RefBufferDonation
