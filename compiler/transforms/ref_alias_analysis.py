"""`ref-alias-analysis`: a test mode that writes the alias analysis into the IR.

The analysis itself lives in `refhlo.compiler.analysis.alias`; this pass only
annotates ops with its results so lit tests can check them, as One-Shot
Bufferize's `test-analysis-only` does.
"""

from __future__ import annotations

import dataclasses

from jaxlib.mlir import ir

from refhlo.compiler.analysis.alias import AliasAnalysis, AliasResult
from refhlo.compiler.dialect.ops import op_names
from refhlo.compiler.dialect.types import is_ref_type
from refhlo.compiler.passes import Pass, string_array

# From the ops' traits (dialect/ops.py).
_PRODUCERS = op_names(creates_root=True) + op_names(makes_view=True)
_ACCESSES = op_names(indexer=True, makes_view=False) + op_names(reads=True, ends_life=True)


@dataclasses.dataclass
class RefAliasAnalysis(Pass):
  NAME = "ref-alias-analysis"
  SUMMARY = "Annotate ref values and accesses with their roots and aliases (test mode)"
  STATISTICS = {
      "functions-analysed": "Functions whose refs were analysed",
      "accesses-annotated": "Ref accesses annotated with their roots and aliases",
  }
  DESCRIPTION = """\
Runs the alias analysis (`refhlo.compiler.analysis.alias`) and records its
results as attributes, for tests:

- on each `func.func`, `__arg_roots__`: per argument, the roots it may be
  bound to (empty for non-ref arguments). A public function's ref argument is
  its own root; a private function's is what its call sites pass.
- on each `ref.new` / `ref.empty` / `ref.view`, `__roots__`: the roots the
  result denotes;
- on each access (`ref.get` / `set` / `swap` / `addupdate` / `freeze`),
  `__access__ = "aN"` (numbered in program order per function, nested regions
  included), `__roots__`: the part of each root it touches, and
  `__must_alias__` / `__may_alias__`: the other accesses of the same function
  that touch the same part / may overlap (omitted when empty).

A root prints as `@func:argN`, `@func:newN` or `@func:emptyN` (the N-th
`ref.new` / `ref.empty` of the function), followed by the window when it is
not the whole root: one entry per root dim, `lo:hi` (or `lo:hi:stride`) for a
static range, an index for a squeezed dim, `?(lo:hi)` for a dynamic offset
with its bounds.

Before:

```mlir
func.func @f(%a: !ref.ref<tensor<8xf32>>, %v: tensor<4xf32>) {
  %lo = ref.view %a sizes [4] : !ref.ref<tensor<8xf32>> -> !ref.ref<tensor<4xf32>>
  ref.set %lo, %v : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  %x = ref.get %a : !ref.ref<tensor<8xf32>> -> tensor<8xf32>
  return
}
```

After:

```mlir
func.func @f(%arg0: !ref.ref<tensor<8xf32>>, %arg1: tensor<4xf32>) attributes {__arg_roots__ = [["@f:arg0"], []]} {
  %0 = ref.view %arg0 sizes [4] {__roots__ = ["@f:arg0[0:4]"]} : !ref.ref<tensor<8xf32>> -> !ref.ref<tensor<4xf32>>
  ref.set %0, %arg1 {__access__ = "a0", __may_alias__ = ["a1"], __roots__ = ["@f:arg0[0:4]"]} : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  %1 = ref.get %arg0 {__access__ = "a1", __may_alias__ = ["a0"], __roots__ = ["@f:arg0"]} : !ref.ref<tensor<8xf32>> -> tensor<8xf32>
  return
}
```
"""

  def run(self, module: ir.Operation) -> None:
    aa = AliasAnalysis(module)
    self.stat("functions-analysed").add(len(aa.functions))
    for name, info in aa.functions.items():
      fop = info.op
      arg_roots = []
      for i, t in enumerate(info.arg_types):
        if is_ref_type(t):
          arg_roots.append(string_array(aa.format_windows(aa.param_windows(name, i))))
        else:
          arg_roots.append(string_array([]))
      fop.attributes["__arg_roots__"] = ir.ArrayAttr.get(arg_roots)
      accesses = []
      for op in info.ops:
        if op.name in _PRODUCERS:
          op.attributes["__roots__"] = string_array(
              aa.format_windows(aa.windows(op.results[0])))
        elif op.name in _ACCESSES:
          op.attributes["__access__"] = ir.StringAttr.get(f"a{len(accesses)}")
          op.attributes["__roots__"] = string_array(aa.format_windows(aa.footprint(op)))
          accesses.append(op)
      self.stat("accesses-annotated").add(len(accesses))
      for i, a in enumerate(accesses):
        must, may = [], []
        for j, b in enumerate(accesses):
          if i == j:
            continue
          res = aa.access_alias(a, b)
          if res is AliasResult.MUST:
            must.append(f"a{j}")
          elif res is AliasResult.MAY:
            may.append(f"a{j}")
        if must:
          a.attributes["__must_alias__"] = string_array(must)
        if may:
          a.attributes["__may_alias__"] = string_array(may)


PASS = RefAliasAnalysis
