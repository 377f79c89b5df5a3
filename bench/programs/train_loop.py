"""The seeds' loss-logging training loop: 1,000 scan steps of gradient
descent, each writing its loss into a log (a ref; in functional JAX, a donated
array carried through the scan)."""

from __future__ import annotations

import numpy as np

from bench.harness import Program, Setup

LR = 0.1


def _mse(w, x, y):
  import jax.numpy as jnp
  return jnp.mean((x @ w - y) ** 2)


def ref_fn(losses_ref, w, x, y):
  import jax
  import jax.numpy as jnp

  def body(w, t):
    loss, grad = jax.value_and_grad(_mse)(w, x, y)
    losses_ref[t] = jax.lax.stop_gradient(loss)
    return w - LR * grad, None

  w, _ = jax.lax.scan(body, w, jnp.arange(losses_ref.shape[0]))
  return w


def functional_fn(losses, w, x, y):
  import jax
  import jax.numpy as jnp

  def body(carry, t):
    w, losses = carry
    loss, grad = jax.value_and_grad(_mse)(w, x, y)
    return (w - LR * grad, losses.at[t].set(loss)), None

  (w, losses), _ = jax.lax.scan(body, (w, losses), jnp.arange(losses.shape[0]))
  return (losses,), w


def make(small: bool) -> Setup:
  steps, n, d = (20, 16, 4) if small else (1000, 256, 64)
  rng = np.random.default_rng(0)
  x = rng.standard_normal((n, d)).astype(np.float32)
  y = (x @ rng.standard_normal(d).astype(np.float32)).astype(np.float32)
  w = np.zeros(d, np.float32)
  return Setup([np.zeros(steps, np.float32)], [w, x, y], ref_fn, functional_fn,
               rtol=1e-4, atol=1e-5, rounds=3 if small else 10)


PROGRAM = Program("train_loop", "seed training loop, loss log in a ref (scan 1000)", make)
