r"""Benchmarks the jitted forward+backward of every loss/temperature policy relative to plain KD.

Each policy is ``jax.jit(jax.value_and_grad(...))`` of the batch-mean loss with respect to the
student logits (plus the CTKD temperature parameter ``theta``; MLKD: both student views). The
policies are timed in interleaved rounds and the median per-call time is divided by plain KD's
median from the same run, so slow or shared machines still give comparable ratios.

  python -m experiments.bench_losses --out /tmp/bench_losses.json
  python -m experiments.bench_losses --shapes=64x100 --repeats=5 --inner=5   # quick look
"""

from __future__ import annotations

import json
from typing import Callable

from absl import flags

from experiments import cli
import jax
import jax.numpy as jnp

from experiments import timing
from kdjax import losses
from kdjax import temperature as tl

_SHAPES = flags.DEFINE_list("shapes", ["64x100", "256x1000"], "Batch x classes to benchmark.")
_REPEATS = flags.DEFINE_integer("repeats", 15, "Interleaved timing rounds (median over rounds).")
_INNER = flags.DEFINE_integer("inner", 20, "Calls per policy per round.")
_OUT = flags.DEFINE_string("out", None, "Write the results as JSON to this path.")
_SEED = flags.DEFINE_integer("seed", 0, "PRNG seed of the made-up logits.")

Z = tl.zscore


Batch = tuple  # (ctkd_variables, student_weak, student_strong, teacher_weak, teacher_strong, labels)


def make_policies() -> dict[str, tuple[Callable, tuple[int, ...]]]:
  """Name -> (loss(params, z, z_strong, v, v_strong, y), argnums to differentiate).

  Teacher logits and labels are arguments (as in a train step), never closed-over
  constants, so XLA cannot constant-fold the teacher side.
  """
  ctkd = tl.GlobalTemperature()
  lambda_ = tl.cosine_lambda(5)

  def per_example(base: Callable) -> Callable:
    return lambda params, z, z_strong, v, v_strong, y: jnp.mean(base(z, v, y))

  def ctkd_family(standardize: bool) -> Callable:
    def loss(params, z, z_strong, v, v_strong, y):
      t = ctkd.apply(params, lambda_)
      zs, vs = (Z(z), Z(v)) if standardize else (z, v)
      return jnp.mean(losses.kd(zs, vs, temperature=t))
    return loss

  def mlkd_family(standardize: bool) -> Callable:
    def loss(params, z, z_strong, v, v_strong, y):
      terms = losses.mlkd(z, z_strong, v, v_strong, y,
                          temperature=2.0 if standardize else 4.0, ce_weight=0.1,
                          kd_weight=9.0 if standardize else 0.9, standardize=standardize)
      return sum(terms.values())
    return loss

  def max_logit_dkd(z, v, y):
    return losses.dkd(Z(z), Z(v), y, alpha=1.0, beta=8.0, temperature=tl.max_logit(z, v))

  student_only, with_theta, both_views = (1,), (0, 1), (1, 2)
  return {
      "KD": (per_example(lambda z, v, y: losses.kd(z, v, temperature=4.0)), student_only),
      "KD+LS": (per_example(lambda z, v, y: losses.kd(Z(z), Z(v), temperature=2.0)), student_only),
      "CTKD(global)": (ctkd_family(False), with_theta),
      "CTKD+LS": (ctkd_family(True), with_theta),
      "DKD": (per_example(lambda z, v, y: losses.dkd(z, v, y, alpha=1.0, beta=8.0, temperature=4.0)),
              student_only),
      "DKD+LS": (per_example(lambda z, v, y: losses.dkd(Z(z), Z(v), y, alpha=9.0, beta=72.0,
                                                        temperature=2.0)), student_only),
      "MLKD": (mlkd_family(False), both_views),
      "MLKD+LS": (mlkd_family(True), both_views),
      "TTM": (per_example(lambda z, v, y: losses.ttm(z, v, gamma=0.1)), student_only),
      "WTTM": (per_example(lambda z, v, y: losses.wttm(z, v, gamma=0.1)), student_only),
      "zKD+max-logit": (per_example(
          lambda z, v, y: losses.kd(Z(z), Z(v), temperature=tl.max_logit(z, v))), student_only),
      "zDKD+max-logit": (per_example(max_logit_dkd), student_only),
  }


def bench_shape(batch: int, num_classes: int) -> dict[str, dict[str, float]]:
  """Median seconds per call of each policy and its ratio to KD, for one shape."""
  keys = jax.random.split(jax.random.PRNGKey(_SEED.value), 5)
  args = (tl.GlobalTemperature().init(jax.random.PRNGKey(1), 0.0),
          jax.random.normal(keys[0], (batch, num_classes)),            # student, weak view
          jax.random.normal(keys[1], (batch, num_classes)),            # student, strong view
          3.0 * jax.random.normal(keys[2], (batch, num_classes)),      # teacher, weak view
          3.0 * jax.random.normal(keys[3], (batch, num_classes)),      # teacher, strong view
          jax.random.randint(keys[4], (batch,), 0, num_classes))

  calls = {}
  for name, (loss, argnums) in make_policies().items():
    step = jax.jit(jax.value_and_grad(loss, argnums=argnums))
    calls[name] = lambda step=step: step(*args)
  # Compiles in the warm-up call, then interleaved rounds (experiments/timing.py).
  times = timing.interleaved_times(calls, repeats=_REPEATS.value, inner=_INNER.value)
  return {name: {"median_s": row["median_s"], "ratio_to_kd": row["ratio"]}
          for name, row in timing.median_ratios(times, "KD").items()}


def main(argv):
  del argv
  results = {"device": str(jax.devices()[0]), "repeats": _REPEATS.value, "inner": _INNER.value,
             "shapes": {}}
  for shape in _SHAPES.value:
    batch, num_classes = (int(part) for part in shape.lower().split("x"))
    results["shapes"][shape] = bench_shape(batch, num_classes)

  shapes = list(results["shapes"])
  header = f"{'policy':<16s}" + "".join(f"{'B=%s K=%s' % tuple(s.split('x')):>22s}" for s in shapes)
  print(f"device: {results['device']}; fwd+bwd time / KD time (median of {_REPEATS.value} "
        f"interleaved rounds x {_INNER.value} calls)")
  print(header)
  for name in results["shapes"][shapes[0]]:
    row = "".join(f"{results['shapes'][s][name]['ratio_to_kd']:>22.2f}" for s in shapes)
    print(f"{name:<16s}{row}")
  kd_row = "".join(f"{results['shapes'][s]['KD']['median_s'] * 1e6:>19.1f} us" for s in shapes)
  print(f"{'(KD absolute)':<16s}{kd_row}")
  if _OUT.value:
    with open(_OUT.value, "w") as f:
      json.dump(results, f, indent=2)
    print(f"wrote {_OUT.value}")


if __name__ == "__main__":
  cli.run(main, "experiments.bench_losses")
