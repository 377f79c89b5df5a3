"""The module's call graph and where loops run: one place for the questions
the passes ask about calls.

- which `func.call` ops each function makes (in walk order), and who calls a
  function (`call_sites`, `called`);
- which functions lie on a call cycle (`recursive`);
- which functions may run inside a `stablehlo.while` (`in_loops`: called from
  a loop body or condition, directly or through other functions);
- whether a loop runs inside a region or op (`runs_loop`: a `while` nested in
  it, or in a function it calls, transitively).

Built by walking each function once (`CallGraph.of`), or from calls an
analysis already gathered in its own walk (`CallGraph(funcs, calls)`: alias
analysis does, so the module is not walked twice). A transform that changes
calls (effect elimination's inlining) calls `rescan` for that function.
"""

from __future__ import annotations

from jaxlib.mlir import ir

from refhlo.compiler import irutil

_WHILE = "stablehlo.while"


class CallGraph:
  """Functions by name, and the `func.call` ops of each."""

  def __init__(self, funcs: dict[str, ir.Operation],
               calls: dict[str, list[ir.Operation]]):
    self.funcs = funcs
    self.calls = calls
    self._runs_loop: dict[str, bool] = {}  # memo per function, see runs_loop
    self._in_loops: set[str] | None = None  # memo, see in_loops

  @classmethod
  def of(cls, module_op: ir.Operation) -> CallGraph:
    funcs = irutil.module_funcs(module_op)
    return cls(funcs, {name: _calls_in(f) for name, f in funcs.items()})

  def rescan(self, name: str) -> None:
    """Gathers the calls of function `name` again (after a rewrite)."""
    self.calls[name] = _calls_in(self.funcs[name])
    self._runs_loop.clear()
    self._in_loops = None

  def callees(self, name: str) -> list[str]:
    return [irutil.callee_name(c) for c in self.calls.get(name, ())]

  def called(self) -> set[str]:
    """Names of the functions some call in the module targets."""
    return {irutil.callee_name(c) for cs in self.calls.values() for c in cs}

  def call_sites(self) -> dict[str, ir.Operation]:
    """The first call of each called function (in function, then walk order)."""
    out: dict[str, ir.Operation] = {}
    for cs in self.calls.values():
      for c in cs:
        out.setdefault(irutil.callee_name(c), c)
    return out

  def recursive(self) -> set[str]:
    """Functions on a call cycle (reachable from themselves)."""
    graph = {name: set(self.callees(name)) for name in self.calls}
    out: set[str] = set()
    for start in graph:
      seen: set[str] = set()
      stack = list(graph[start])
      while stack:
        n = stack.pop()
        if n == start:
          out.add(start)
          break
        if n in seen or n not in graph:
          continue
        seen.add(n)
        stack.extend(graph[n])
    return out

  def in_loops(self) -> set[str]:
    """Functions that may run inside a while loop: called from a loop body or
    condition, or from a function that may, transitively (computed once,
    until a `rescan`)."""
    if self._in_loops is not None:
      return self._in_loops
    out: set[str] = set()
    todo = [irutil.callee_name(c) for cs in self.calls.values() for c in cs
            if irutil.enclosing(c, (_WHILE,)) is not None]
    while todo:
      name = todo.pop()
      if name in out or name not in self.funcs:
        continue
      out.add(name)
      todo += self.callees(name)
    self._in_loops = out
    return out

  def runs_loop(self, where: ir.Region | ir.Operation) -> bool:
    """Whether a while runs inside `where` (an op's regions or a region):
    nested in it, or in a function it calls, directly or transitively."""
    ops = (irutil.walk_region_ops(where) if isinstance(where, ir.Region)
           else irutil.walk_ops(where))
    for inner in ops:
      if inner.name == _WHILE:
        return True
      if inner.name == "func.call" and self._function_runs_loop(irutil.callee_name(inner)):
        return True
    return False

  def _function_runs_loop(self, name: str) -> bool:
    if name not in self._runs_loop:
      self._runs_loop[name] = False  # cuts cycles
      f = self.funcs.get(name)
      self._runs_loop[name] = f is not None and self.runs_loop(f)
    return self._runs_loop[name]


def _calls_in(f: ir.Operation) -> list[ir.Operation]:
  return [op for op in irutil.walk_ops(f) if op.name == "func.call"]
