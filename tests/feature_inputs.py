"""Hand-built ``StepInputs`` with random ``Features``, for the feature methods' unit tests."""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from kdjax import methods
from kdjax import models

NUM_CLASSES = 10


def random_features(rng: np.random.Generator, feats: Sequence[tuple[int, int, int]],
                    preact_feats: Sequence[tuple[int, int, int]] = (), pooled: int = 8,
                    batch: int = 4) -> models.Features:
  """``Features`` of normal noise: NHWC maps of the given ``(H, W, C)`` shapes."""
  maps = lambda shapes: tuple(
      jnp.asarray(rng.normal(size=(batch, *shape)), jnp.float32) for shape in shapes)
  return models.Features(feats=maps(feats), preact_feats=maps(preact_feats),
                         pooled=jnp.asarray(rng.normal(size=(batch, pooled)), jnp.float32))


def model_features(rng: np.random.Generator, name: str, batch: int = 4) -> models.Features:
  """Random ``Features`` of model ``name``'s shapes (``models.feature_shapes``)."""
  shapes = models.feature_shapes(name)
  return random_features(rng, [f.shape[1:] for f in shapes.feats],
                         [f.shape[1:] for f in shapes.preact_feats], shapes.pooled.shape[-1],
                         batch)


def step_inputs(student: models.Features, teacher: models.Features,
                teacher_variables: Any = None) -> methods.StepInputs:
  """Train-step inputs of two models' features (zero logits, zero labels)."""
  batch = student.pooled.shape[0]
  logits = jnp.zeros((batch, NUM_CLASSES), jnp.float32)
  return methods.StepInputs(student=methods.Outputs(logits, student),
                            labels=jnp.zeros(batch, jnp.int32),
                            teacher=methods.Outputs(logits, teacher),
                            teacher_variables=teacher_variables)


def context(teacher: str, student: str) -> methods.Context:
  return methods.Context(teacher=teacher, student=student, num_classes=NUM_CLASSES,
                         num_examples=16)


def init(module: Any, inputs: methods.StepInputs, seed: int = 0) -> Any:
  """``module.init(key, inputs, False)``, jitted (eager random initialisers compile per op,
  which is much slower on CPU) without backend optimisation, as the trainer initialises."""
  options = {'xla_backend_optimization_level': 0} if jax.default_backend() == 'cpu' else None
  return jax.jit(lambda key, x: module.init(key, x, False),
                 compiler_options=options)(jax.random.key(seed), inputs)


def apply(module: Any, variables: Any, inputs: methods.StepInputs, train: bool = False) -> Any:
  """``module.apply(variables, inputs, train)``, jitted (BatchNorm updates dropped in train)."""
  def run(v, x):
    if train:
      return module.apply(v, x, True, mutable=['batch_stats', 'state'])[0]
    return module.apply(v, x, False)
  return jax.jit(run)(variables, inputs)


def apply_term(term: methods.Term, inputs: methods.StepInputs, train: bool = False,
               seed: int = 0) -> tuple[dict[str, jax.Array], Any]:
  """``(outputs, variables)`` of a term initialised and applied on ``inputs`` (jitted)."""
  variables = init(term, inputs, seed)
  return apply(term, variables, inputs, train), variables
