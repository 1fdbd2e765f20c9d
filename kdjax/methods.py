"""From a config to one loss function: LS x temperature policy x base divergence.

``make_loss_fn(LossSpec.from_config(config))`` returns a pure, jittable function
``loss_fn(student_logits, teacher_logits, labels, *, temperature_params, lambda_,
warmup, student_strong, teacher_strong) -> (loss, terms)`` composing
``kdjax.losses`` and ``kdjax.temperature`` (``spec/methods.md`` section 8):

* ``standardize``: LS z-score of both logit vectors before the divergence (Eq. 3 of
  Sun et al. 2024; ``ddof``/``eps`` from the config; ``ls_center``/``ls_scale``
  select the partial pre-processes of its Table 4 ablation).
* ``temperature_policy``: ``fixed`` (``config.temperature``), ``ctkd`` (learned
  global or per-instance T through a gradient-reversal layer, Li et al. 2023), or
  ``max_logit`` (per-example tau from the z-scored maxima, Matsuyama et al. 2025,
  Algorithms 1-3).
* ``loss``: ``none`` (CE only), ``kd`` (Hinton et al. 2015), ``dkd`` (Zhao et al.
  2022, Eq. 2 with the warm-up factor on the DKD term only), ``mlkd`` (Jin et al.
  2023, two views), ``ttm``/``wttm`` (Zheng & Yang 2024, Eqs. 10 and 14; with a
  learned or max-logit policy the teacher exponent is ``gamma = 1/T``).

Total: ``ce_weight * mean CE + kd_weight * mean term`` (for DKD ``kd_weight``
multiplies alpha and beta and the warm-up factor multiplies the term; MLKD's
own function returns its weighted ``ce/kd/cc/bc`` which sum to the loss).
``terms`` holds the named contributions (they sum to ``loss``) and statistics:
``temperature_mean/min/max`` and ``logit_correlation`` (mean per-sample Pearson
correlation of student and teacher logits).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from kdjax import losses
from kdjax import temperature as temperature_lib

Array = jax.Array
LossFn = Callable[..., tuple[Array, dict[str, Array]]]


@dataclasses.dataclass(frozen=True)
class LossSpec:
  """The hashable subset of a config that defines the loss (one compilation per spec)."""
  loss: str
  temperature_policy: str
  standardize: bool
  ls_ddof: int
  ls_eps: float
  ls_center: bool
  ls_scale: bool
  ce_weight: float
  kd_weight: float
  temperature: float
  dkd_alpha: float
  dkd_beta: float
  ttm_gamma: float
  ctkd_variant: str
  ctkd_t_start: float
  ctkd_t_range: float
  ctkd_hidden: int
  ctkd_init: float
  max_logit_order: int
  max_logit_teacher_only: bool
  mlkd_masking: str

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> 'LossSpec':
    """Extracts the loss fields of ``config``."""
    return cls(
        loss=config.loss, temperature_policy=config.temperature_policy,
        standardize=bool(config.standardize), ls_ddof=int(config.ls_ddof),
        ls_eps=float(config.ls_eps), ls_center=bool(config.ls_center),
        ls_scale=bool(config.ls_scale), ce_weight=float(config.ce_weight),
        kd_weight=float(config.kd_weight), temperature=float(config.temperature),
        dkd_alpha=float(config.dkd_alpha), dkd_beta=float(config.dkd_beta),
        ttm_gamma=float(config.ttm_gamma), ctkd_variant=config.ctkd.variant,
        ctkd_t_start=float(config.ctkd.t_start), ctkd_t_range=float(config.ctkd.t_range),
        ctkd_hidden=int(config.ctkd.hidden), ctkd_init=float(config.ctkd.init),
        max_logit_order=int(config.max_logit.order),
        max_logit_teacher_only=bool(config.max_logit.teacher_only),
        mlkd_masking=config.mlkd.masking)

  @property
  def needs_teacher(self) -> bool:
    return self.loss != 'none'

  @property
  def two_views(self) -> bool:
    return self.loss == 'mlkd'


# ---------------------------------------------------------------------------
# Epoch-level scalars (host side, once per epoch; epochs counted from 1).
# ---------------------------------------------------------------------------
def ctkd_lambda(config: ml_collections.ConfigDict, epoch: int) -> float:
  """CTKD gradient-reversal strength lambda(epoch) (cosine or linear schedule)."""
  c = config.ctkd
  schedule = {'cosine': temperature_lib.cosine_lambda,
              'linear': temperature_lib.linear_lambda}[c.schedule]
  return float(schedule(epoch, lambda_max=c.lambda_max, lambda_min=c.lambda_min,
                        num_epochs=c.lambda_epochs))


def dkd_warmup(config: ml_collections.ConfigDict, epoch: int) -> float:
  """DKD warm-up factor ``min(epoch / warmup_epochs, 1)``, constant within an epoch."""
  if epoch < 1:
    raise ValueError(f'epochs are counted from 1, got {epoch}')
  return min(epoch / config.warmup_epochs, 1.0)


def epoch_scalars(config: ml_collections.ConfigDict, epoch: int) -> dict[str, np.ndarray]:
  """The per-epoch inputs of the train step: ``lambda_`` and ``warmup`` (float32)."""
  lam = ctkd_lambda(config, epoch) if config.temperature_policy == 'ctkd' else 0.0
  warm = dkd_warmup(config, epoch) if config.loss == 'dkd' else 1.0
  return {'lambda_': np.float32(lam), 'warmup': np.float32(warm)}


# ---------------------------------------------------------------------------
# Learned temperature (CTKD).
# ---------------------------------------------------------------------------
def temperature_module(spec: LossSpec) -> nn.Module | None:
  """The CTKD temperature module of ``spec`` (None for fixed / max-logit policies)."""
  if spec.temperature_policy != 'ctkd':
    return None
  if spec.ctkd_variant == 'global':
    return temperature_lib.GlobalTemperature(t_start=spec.ctkd_t_start, t_range=spec.ctkd_t_range,
                                             init_value=spec.ctkd_init)
  return temperature_lib.InstanceTemperature(t_start=spec.ctkd_t_start, t_range=spec.ctkd_t_range,
                                             init_value=spec.ctkd_init,
                                             hidden_width=spec.ctkd_hidden)


def init_temperature_params(spec: LossSpec, rng: Array, num_classes: int) -> Any:
  """Initial CTKD parameters (an empty dict when the policy learns nothing)."""
  module = temperature_module(spec)
  if module is None:
    return {}
  if spec.ctkd_variant == 'global':
    return module.init(rng, jnp.float32(0.0))['params']
  logits = jnp.zeros((1, num_classes), jnp.float32)
  return module.init(rng, logits, logits, jnp.float32(0.0))['params']


# ---------------------------------------------------------------------------
# The loss.
# ---------------------------------------------------------------------------
def _stats(temperature: Array) -> dict[str, Array]:
  t = jnp.asarray(temperature, jnp.float32)
  return {'temperature_mean': jnp.mean(t), 'temperature_min': jnp.min(t),
          'temperature_max': jnp.max(t)}


def make_loss_fn(spec: LossSpec) -> LossFn:
  """Builds the loss of ``spec`` (see the module docstring for the composition)."""
  module = temperature_module(spec)

  def standardize(logits: Array) -> Array:
    if not spec.standardize:
      return logits
    return temperature_lib.zscore(logits, ddof=spec.ls_ddof, eps=spec.ls_eps,
                                  center=spec.ls_center, scale=spec.ls_scale)

  def temperature_of(z: Array, v: Array, params: Any, lambda_: Array) -> Array:
    if spec.temperature_policy == 'fixed':
      fixed = 1.0 / spec.ttm_gamma if spec.loss in ('ttm', 'wttm') else spec.temperature
      return jnp.float32(fixed)
    if spec.temperature_policy == 'max_logit':
      return temperature_lib.max_logit(z, v, order=spec.max_logit_order,
                                       teacher_only=spec.max_logit_teacher_only,
                                       ddof=spec.ls_ddof, eps=spec.ls_eps)
    if spec.ctkd_variant == 'global':
      return module.apply({'params': params}, lambda_)
    return module.apply({'params': params}, z, v, lambda_)

  def divergence(z: Array, v: Array, labels: Array, t: Array, warmup: Array) -> Array:
    zs, vs = standardize(z), standardize(v)
    if spec.loss == 'kd':
      per_example = losses.kd(zs, vs, temperature=t)
      return spec.kd_weight * jnp.mean(per_example)
    if spec.loss == 'dkd':
      per_example = losses.dkd(zs, vs, labels, alpha=spec.dkd_alpha * spec.kd_weight,
                               beta=spec.dkd_beta * spec.kd_weight, temperature=t)
      return warmup * jnp.mean(per_example)
    gamma = 1.0 / t  # TTM's teacher exponent (Zheng & Yang 2024, Eq. 9: gamma = 1/T).
    fn = losses.ttm if spec.loss == 'ttm' else losses.wttm
    return spec.kd_weight * jnp.mean(fn(zs, vs, gamma=gamma))

  def loss_fn(student_logits: Array, teacher_logits: Array | None, labels: Array, *,
              temperature_params: Any = None, lambda_: Array = 0.0, warmup: Array = 1.0,
              student_strong: Array | None = None,
              teacher_strong: Array | None = None) -> tuple[Array, dict[str, Array]]:
    """Total loss and named terms for one batch (float32 whatever the compute dtype).

    Args:
      student_logits: ``[B, K]`` student logits (the weak view for MLKD).
      teacher_logits: ``[B, K]`` teacher logits (ignored for ``loss='none'``).
      labels: ``[B]`` integer labels.
      temperature_params: CTKD parameters (``init_temperature_params``).
      lambda_: CTKD gradient-reversal strength of the current epoch.
      warmup: DKD warm-up factor of the current epoch.
      student_strong: ``[B, K]`` student logits on the strong view (MLKD only).
      teacher_strong: ``[B, K]`` teacher logits on the strong view (MLKD only).
    """
    z = student_logits.astype(jnp.float32)
    ce = spec.ce_weight * jnp.mean(losses.cross_entropy(z, labels))
    if spec.loss == 'none':
      return ce, {'ce': ce}
    if teacher_logits is None:
      raise ValueError(f'loss {spec.loss!r} needs teacher logits')
    v = jax.lax.stop_gradient(teacher_logits.astype(jnp.float32))
    t = temperature_of(z, v, temperature_params, lambda_)
    terms = _stats(t)
    terms['logit_correlation'] = jnp.mean(temperature_lib.logit_correlation(z, v))
    if spec.loss == 'mlkd':
      if student_strong is None or teacher_strong is None:
        raise ValueError('MLKD needs student_strong and teacher_strong logits (two views)')
      parts = losses.mlkd(z, student_strong.astype(jnp.float32), v,
                          jax.lax.stop_gradient(teacher_strong.astype(jnp.float32)), labels,
                          temperature=t, ce_weight=spec.ce_weight, kd_weight=spec.kd_weight,
                          standardize=spec.standardize, masking=spec.mlkd_masking,
                          ddof=spec.ls_ddof, eps=spec.ls_eps)
      terms.update({name: parts[name] for name in ('ce', 'kd', 'cc', 'bc')})
      loss = parts['ce'] + parts['kd'] + parts['cc'] + parts['bc']
      return loss, terms
    kd = divergence(z, v, labels, t, jnp.asarray(warmup, jnp.float32))
    terms.update(ce=ce, kd=kd)
    return ce + kd, terms

  return loss_fn


def term_names(spec: LossSpec) -> tuple[str, ...]:
  """Names of the ``terms`` dict of ``make_loss_fn(spec)`` (in a fixed order)."""
  if spec.loss == 'none':
    return ('ce',)
  stats = ('temperature_mean', 'temperature_min', 'temperature_max', 'logit_correlation')
  parts = ('ce', 'kd', 'cc', 'bc') if spec.loss == 'mlkd' else ('ce', 'kd')
  return parts + stats


def describe(spec: LossSpec) -> str:
  """One line naming the composition, e.g. ``'LS x ctkd x kd (0.1 CE + 9 term)'``."""
  ls = 'LS x ' if spec.standardize else ''
  if spec.loss == 'none':
    return f'CE only ({spec.ce_weight:g} CE)'
  return (f'{ls}{spec.temperature_policy} x {spec.loss} '
          f'({spec.ce_weight:g} CE + {spec.kd_weight:g} term)')


