"""`ref-effect-analysis`: a test mode that writes the effect analysis into the IR.

The analysis itself lives in `refhlo.compiler.analysis.effects`; this pass
only annotates functions and ops with its results so lit tests can check them.
"""

from __future__ import annotations

import dataclasses

from jaxlib.mlir import ir

from refhlo.compiler.analysis.alias import Root
from refhlo.compiler.analysis.effects import Effect, analyze_effects
from refhlo.compiler.passes import Pass, string_array


def _format(effects: dict[Root, Effect]) -> ir.ArrayAttr:
  return string_array([f"{r.label}: {e.format()}"
                   for r, e in sorted(effects.items()) if e])


@dataclasses.dataclass
class RefEffectAnalysis(Pass):
  NAME = "ref-effect-analysis"
  SUMMARY = "Annotate functions and ops with their ref effects (test mode)"
  STATISTICS = {
      "functions-analysed": "Functions whose ref effects were analysed",
      "ops-with-effects": "Ops annotated with an effect on a ref",
  }
  DESCRIPTION = """\
Runs the effect analysis (`refhlo.compiler.analysis.effects`) and records its
results as attributes, for tests:

- on each `func.func`, `__arg_effects__`: per argument, what the function
  may do to it (`none`, `read`, `write`, `accumulate` or a `|`-joined
  combination), through views and, transitively, through calls; and
  `__effects__`: the effects of its whole body on every root it touches;
- on each op with an effect, `__effects__ = ["<root>: <effects>", ...]`,
  sorted by root. A `func.call` has its callee's effects on the refs it
  passes; `stablehlo.while` / `case` / `if` the union of their regions'.

Roots print as in `ref-alias-analysis` (`@func:arg0`, `@func:new1`, ...).
`ref.get`/`freeze` read, `ref.set` writes, `ref.swap` reads and writes,
`ref.addupdate` accumulates; `ref.new`/`empty`/`view`/`free` have none.

Before:

```mlir
func.func @f(%a: !ref.ref<tensor<4xf32>>, %b: !ref.ref<tensor<4xf32>>, %v: tensor<4xf32>) {
  %old = ref.swap %a, %v : !ref.ref<tensor<4xf32>>, tensor<4xf32> -> tensor<4xf32>
  ref.addupdate %b, %old : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  return
}
```

After:

```mlir
func.func @f(%arg0: !ref.ref<tensor<4xf32>>, %arg1: !ref.ref<tensor<4xf32>>, %arg2: tensor<4xf32>) attributes {__arg_effects__ = ["read|write", "accumulate", "none"], __effects__ = ["@f:arg0: read|write", "@f:arg1: accumulate"]} {
  %0 = ref.swap %arg0, %arg2 {__effects__ = ["@f:arg0: read|write"]} : !ref.ref<tensor<4xf32>>, tensor<4xf32> -> tensor<4xf32>
  ref.addupdate %arg1, %0 {__effects__ = ["@f:arg1: accumulate"]} : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  return
}
```
"""

  def run(self, module: ir.Operation) -> None:
    me = analyze_effects(module)
    self.stat("functions-analysed").add(len(me.alias.functions))
    for name, info in me.alias.functions.items():
      fop = info.op
      fop.attributes["__arg_effects__"] = string_array(
          [e.format() for e in me.function_arg_effects(name)])
      if not info.has_body:
        continue
      fop.attributes["__effects__"] = _format(me.function_effects(name))
      for op in info.ops:
        effects = me.op_effects(op)
        if any(effects.values()):
          op.attributes["__effects__"] = _format(effects)
          self.stat("ops-with-effects").add()


PASS = RefEffectAnalysis
