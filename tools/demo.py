"""`make demo`: the seeds' loss-logging training loop through refhlo.jit.

Trains a small linear model for a few steps with `lax.scan`, logging each
step's loss into a `jax.Ref` (the loop carry stays just the weights), checks
the result against `jax.jit`, and prints the losses, the StableHLO refhlo
produced, and the in-place report (bytes aliased, copies of ref buffers).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import refhlo

steps = 5
lr = 0.1


def mse(w, x, y):
  pred = x @ w
  return jnp.mean((pred - y) ** 2)


def train_with_refs(w, x, y, losses_ref):
  def body(w, t):
    loss, grad = jax.value_and_grad(mse)(w, x, y)
    w = w - lr * grad
    # The loss is diagnostic data, not optimization state.
    losses_ref[t] = jax.lax.stop_gradient(loss)
    return w, None
  w, _ = jax.lax.scan(
      body,
      w,
      jnp.arange(steps),
  )
  return w


def main() -> None:
  key_w, key_x = jax.random.split(jax.random.key(0))
  w0 = jax.random.normal(key_w, (3,))
  x = jax.random.normal(key_x, (8, 3))
  y = x @ jnp.array([1.0, -2.0, 0.5])

  train = refhlo.jit(train_with_refs)
  losses_ref = jax.new_ref(jnp.zeros((steps,)))
  w_final = train(w0, x, y, losses_ref)
  losses = np.asarray(losses_ref[...])

  ref_losses = jax.new_ref(jnp.zeros((steps,)))
  w_jax = jax.jit(train_with_refs)(w0, x, y, ref_losses)
  np.testing.assert_allclose(losses, np.asarray(ref_losses[...]), rtol=1e-5)
  np.testing.assert_allclose(np.asarray(w_final), np.asarray(w_jax), rtol=1e-5)

  print("== losses (logged into a jax.Ref inside lax.scan) ==")
  for t, loss in enumerate(losses):
    print(f"  step {t}: {loss:.6f}")
  print(f"  final w: {np.asarray(w_final)}  (matches jax.jit)")

  lowered = train.lower(w0, x, y, losses_ref)
  print("\n== StableHLO (after ref-to-stablehlo) ==")
  print(lowered.as_text("stablehlo"))

  compiled = lowered.compile()
  stats = compiled.memory_analysis()
  report = compiled.copy_report()
  print("== in-place report ==")
  print(f"  bytes aliased (ref buffers donated and updated in place): "
        f"{stats.alias_size_in_bytes}")
  print(f"  temp bytes: {stats.temp_size_in_bytes}")
  print(f"  copies of ref buffers: {report if report else 'none'}")


if __name__ == "__main__":
  main()
