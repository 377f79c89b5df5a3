"""Dispatch overhead: tiny functions, so that the time per call is the cost
of getting into and out of the executable (issue 13's variants: no argument
but the ref, a Python float, a NumPy scalar, a jnp scalar, a Python float
and a static argument, 10 refs and 10 arrays, flat or in a dict)."""

from __future__ import annotations

import numpy as np

from bench.harness import Program, Setup


def ref_fn(x_ref):
  x_ref[...] += 1.0


def functional_fn(x):
  return (x + 1.0,), ()


def ref_fn_scalar(x_ref, s):
  x_ref[...] += s


def functional_fn_scalar(x, s):
  return (x + s,), ()


def ref_fn_static(x_ref, s, k):
  x_ref[...] += s * k


def functional_fn_static(x, s, k):
  return (x + s * k,), ()


def make_static(small: bool) -> Setup:
  return Setup([np.zeros(4, np.float32)], [1.0], ref_fn_static,
               functional_fn_static, rounds=5 if small else 200,
               keep_arg_types=True, static=(2,))


def ref_fn_many(*refs_and_arrays):
  n = len(refs_and_arrays) // 2
  for r, a in zip(refs_and_arrays[:n], refs_and_arrays[n:]):
    r[...] += a


def functional_fn_many(*state_and_arrays):
  n = len(state_and_arrays) // 2
  return tuple(s + a for s, a in zip(state_and_arrays[:n], state_and_arrays[n:])), ()


def make(small: bool) -> Setup:
  return Setup([np.zeros(4, np.float32)], [], ref_fn, functional_fn,
               rounds=5 if small else 200)


def _scalar(value, keep: bool):
  def make_it(small: bool) -> Setup:
    return Setup([np.zeros(4, np.float32)], [value], ref_fn_scalar,
                 functional_fn_scalar, rounds=5 if small else 200,
                 keep_arg_types=keep)
  return make_it


def make_many(small: bool) -> Setup:
  return Setup([np.zeros(4, np.float32)] * 10, [np.ones(4, np.float32)] * 10,
               ref_fn_many, functional_fn_many, rounds=5 if small else 200)


def ref_fn_tree(*refs_and_tree):
  *refs, tree = refs_and_tree
  for r, k in zip(refs, sorted(tree)):
    r[...] += tree[k]


def functional_fn_tree(*state_and_tree):
  *state, tree = state_and_tree
  return tuple(s + tree[k] for s, k in zip(state, sorted(tree))), ()


def make_tree(small: bool) -> Setup:
  import jax.numpy as jnp
  tree = {f"a{k}": jnp.ones(4, jnp.float32) for k in range(10)}
  return Setup([np.zeros(4, np.float32)] * 10, [tree], ref_fn_tree,
               functional_fn_tree, rounds=5 if small else 200, keep_arg_types=True)


PROGRAMS = (
    Program("dispatch", "dispatch overhead: tiny function, one ref", make),
    Program("dispatch_py_float", "dispatch: one ref and a Python float",
            _scalar(1.0, True)),
    Program("dispatch_np_scalar", "dispatch: one ref and a NumPy scalar",
            _scalar(np.float32(1.0), True)),
    Program("dispatch_jnp_scalar", "dispatch: one ref and a jnp scalar",
            _scalar(np.float32(1.0), False)),
    Program("dispatch_static", "dispatch: one ref, a Python float, a static int",
            make_static),
    Program("dispatch_10_refs", "dispatch: 10 refs and 10 arrays", make_many),
    Program("dispatch_pytree", "dispatch: 10 refs and a dict of 10 arrays",
            make_tree),
)
PROGRAM = PROGRAMS[0]
