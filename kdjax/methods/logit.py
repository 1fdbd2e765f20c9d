"""The logit term: LS z-score x temperature policy x base divergence, composed by configuration.

``config.logit`` selects the composition (none of the reference codebases offers it:
each of their combinations is a copy of the loss code):

* ``standardize``: the logit standardisation of Sun et al. (CVPR 2024, Eq. 3 /
  Algorithm 1) applied to both logit vectors before the divergence (its
  estimator in ``config.ls``: ``ddof`` 1 as released, ``eps``; ``center`` /
  ``scale`` select the partial pre-processes of its Table 4 ablation);
* ``policy``: ``fixed`` (``logit.temperature``), ``ctkd`` (a learned global or
  per-instance temperature through a gradient-reversal layer, Li et al., AAAI
  2023; ``config.ctkd``) or ``max_logit`` (a per-example temperature from the
  z-scored maxima, Matsuyama et al. 2025, Algorithms 1-3; ``config.max_logit``);
* ``loss``: ``kd`` (Hinton et al. 2015), ``dkd`` (Zhao et al., CVPR 2022, Eq. 1-2,
  ``config.dkd``, its warm-up factor on this term only), ``mlkd`` (Jin et al., CVPR
  2023, two views, ``config.mlkd``), ``ttm`` / ``wttm`` (Zheng & Yang, ICLR 2024,
  Eqs. 10 and 14, ``config.ttm``; with a learned or max-logit policy the
  teacher's exponent is ``gamma = 1 / T``) or ``dist`` (Huang et al., NeurIPS
  2022, as the TTM repository re-implements it, ``config.dist``).

The term returns ``{'kd': logit.weight * mean divergence}`` (for DKD the weight
multiplies alpha and beta, the LS release's convention, and the warm-up factor
multiplies the term; TTM/WTTM's beta IS the weight); MLKD returns its own
``ce``, ``kd``, ``cc``, ``bc`` (its cross-entropy covers both views).
Statistics: ``temperature_mean/min/max`` and ``logit_correlation`` (mean
per-example Pearson correlation of student and teacher logits).
"""

from __future__ import annotations

from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from kdjax import losses
from kdjax import temperature as temperature_lib
from kdjax.methods import base

Array = jax.Array

BASE_LOSSES = ('kd', 'dkd', 'mlkd', 'ttm', 'wttm', 'dist')
POLICIES = ('fixed', 'ctkd', 'max_logit')
MLKD_STRONG_CROPS = ('independent', 'shared')


def config_groups() -> dict[str, ml_collections.ConfigDict]:
  """The config groups of the logit term: ``logit`` and its losses' and policies' settings."""
  return {
      'logit': ml_collections.ConfigDict(dict(
          loss='kd',  # none | kd | dkd | mlkd | ttm | wttm | dist
          weight=0.9,  # the term's weight (DKD: multiplies alpha and beta; TTM/WTTM: beta)
          temperature=4.0,  # fixed T of KD/DKD/DIST, LS base tau, MLKD's T0
          policy='fixed',  # fixed | ctkd | max_logit
          standardize=False,  # LS z-score of both logit vectors
      )),
      'ls': ml_collections.ConfigDict(dict(
          ddof=1,  # 1: the released unbiased std; 0: the paper's Algorithm 1
          eps=1e-7,
          center=True,  # False: x / (eps + std) only (Sun et al. Table 4, "z / std")
          scale=True,  # False: x - mean only (Sun et al. Table 4, "z - mean")
      )),
      'dkd': ml_collections.ConfigDict(dict(alpha=1.0, beta=8.0, warmup_epochs=20)),
      'ttm': ml_collections.ConfigDict(dict(gamma=0.1)),  # teacher exponent gamma = 1 / T
      'ctkd': ml_collections.ConfigDict(dict(
          variant='global',  # global | instance (paper only: no released code, no numbers)
          t_start=1.0, t_range=20.0, init=1.0,  # T = t_start + t_range * sigmoid(theta)
          schedule='cosine',  # cosine | linear lambda schedule
          lambda_max=0.0, lambda_min=-1.0, lambda_epochs=10,
          hidden=64,  # instance variant: MLP width
      )),
      'max_logit': ml_collections.ConfigDict(dict(order=2, teacher_only=False)),
      'mlkd': ml_collections.ConfigDict(dict(
          masking='released',  # released (scalar fractions) | per_sample (the paper's intent)
          strong_crop='independent',  # independent (both releases) | shared (the weak view's)
      )),
      'dist': ml_collections.ConfigDict(dict(beta=1.0, gamma=1.0)),
  }


def check_config(config: ml_collections.ConfigDict) -> list[str]:
  """Problems with the logit settings of ``config`` (empty: fine)."""
  logit, problems = config.logit, []
  if logit.loss not in ('none',) + BASE_LOSSES:
    problems.append(f"logit.loss must be one of {('none',) + BASE_LOSSES}, got {logit.loss!r}")
  if logit.policy not in POLICIES:
    problems.append(f'logit.policy must be one of {POLICIES}, got {logit.policy!r}')
  if logit.loss == 'none' and (logit.policy != 'fixed' or logit.standardize):
    problems.append("a temperature policy or LS needs a logit loss (logit.loss='none' trains "
                    'without one)')
  if logit.temperature <= 0:
    problems.append(f'logit.temperature must be > 0, got {logit.temperature}')
  if not (config.ls.center or config.ls.scale):
    problems.append('ls.center and ls.scale cannot both be False (use logit.standardize=False '
                    'for raw logits)')
  if logit.loss == 'mlkd' and logit.standardize and not (config.ls.center and config.ls.scale):
    problems.append('MLKD supports the full z-score only (ls.center = ls.scale = True)')
  if config.ctkd.variant not in ('global', 'instance'):
    problems.append(f"ctkd.variant must be 'global' or 'instance', got {config.ctkd.variant!r}")
  if config.ctkd.schedule not in ('cosine', 'linear'):
    problems.append(f"ctkd.schedule must be 'cosine' or 'linear', got {config.ctkd.schedule!r}")
  if config.max_logit.order not in (1, 2):
    problems.append(f'max_logit.order must be 1 or 2, got {config.max_logit.order}')
  if config.mlkd.masking not in losses.MLKD_MASKINGS:
    problems.append(f'mlkd.masking must be one of {losses.MLKD_MASKINGS}, '
                    f'got {config.mlkd.masking!r}')
  if config.mlkd.strong_crop not in MLKD_STRONG_CROPS:
    problems.append(f'mlkd.strong_crop must be one of {MLKD_STRONG_CROPS}, '
                    f'got {config.mlkd.strong_crop!r}')
  if config.ttm.gamma <= 0:
    problems.append(f'ttm.gamma (1/T of the TTM teacher) must be > 0, got {config.ttm.gamma}')
  if config.dkd.warmup_epochs < 1:
    problems.append(f'dkd.warmup_epochs must be >= 1, got {config.dkd.warmup_epochs}')
  return problems


def logit_name(config: ml_collections.ConfigDict) -> str:
  """The name of the logit term's composition: ``kd``, ``kd_ls``, ``ctkd``, ``dkd_maxlogit``, ...

  ``<loss>`` for a fixed temperature, ``ctkd`` (KD) or ``ctkd_<loss>`` with a
  learned one, ``<loss>_maxlogit`` with the max-logit policy; ``_ls`` when
  standardised (``_lscenter`` / ``_lsscale`` for the partial pre-processes;
  the max-logit policy implies LS, ``_maxlogit_raw`` without it). '' for none.
  """
  logit = config.logit
  if logit.loss == 'none':
    return ''
  ls = ''
  if logit.standardize:  # neither centre nor scale: raw logits (check_config refuses it)
    ls = {(True, True): '_ls', (True, False): '_lscenter', (False, True): '_lsscale'}.get(
        (bool(config.ls.center), bool(config.ls.scale)), '')
  if logit.policy == 'max_logit':
    return f'{logit.loss}_maxlogit' + ('' if ls == '_ls' else (ls or '_raw'))
  base_name = logit.loss if logit.policy == 'fixed' else (
      'ctkd' if logit.loss == 'kd' else f'ctkd_{logit.loss}')
  return base_name + ls


def ctkd_lambda(config: ml_collections.ConfigDict, epoch: int) -> float:
  """CTKD's gradient-reversal strength lambda(epoch) (cosine or linear schedule, epochs from 1)."""
  c = config.ctkd
  schedule = {'cosine': temperature_lib.cosine_lambda,
              'linear': temperature_lib.linear_lambda}[c.schedule]
  return float(schedule(epoch, lambda_max=c.lambda_max, lambda_min=c.lambda_min,
                        num_epochs=c.lambda_epochs))


def dkd_warmup(config: ml_collections.ConfigDict, epoch: int) -> float:
  """DKD's warm-up factor ``min(epoch / warmup_epochs, 1)``, constant within an epoch."""
  if epoch < 1:
    raise ValueError(f'epochs are counted from 1, got {epoch}')
  return min(epoch / config.dkd.warmup_epochs, 1.0)


class LogitTerm(base.Term):
  """The composed logit loss (see the module docstring); all fields come from the config."""
  NAME: ClassVar[str] = 'logit'
  STAT_NAMES: ClassVar[tuple[str, ...]] = ('temperature_mean', 'temperature_min',
                                           'temperature_max', 'logit_correlation')

  loss: str = 'kd'
  policy: str = 'fixed'
  standardize: bool = False
  weight: float = 0.9
  temperature: float = 4.0
  ce_weight: float = 0.1  # MLKD only: its cross-entropy over both views.
  ls_ddof: int = 1
  ls_eps: float = 1e-7
  ls_center: bool = True
  ls_scale: bool = True
  dkd_alpha: float = 1.0
  dkd_beta: float = 8.0
  ttm_gamma: float = 0.1
  ctkd_variant: str = 'global'
  ctkd_t_start: float = 1.0
  ctkd_t_range: float = 20.0
  ctkd_init: float = 1.0
  ctkd_hidden: int = 64
  max_logit_order: int = 2
  max_logit_teacher_only: bool = False
  mlkd_masking: str = 'released'
  dist_beta: float = 1.0
  dist_gamma: float = 1.0

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict, context: base.Context | None = None
                  ) -> 'LogitTerm':
    del context
    c = config
    return cls(
        loss=c.logit.loss, policy=c.logit.policy, standardize=bool(c.logit.standardize),
        weight=float(c.logit.weight), temperature=float(c.logit.temperature),
        ce_weight=float(c.ce_weight), ls_ddof=int(c.ls.ddof), ls_eps=float(c.ls.eps),
        ls_center=bool(c.ls.center), ls_scale=bool(c.ls.scale), dkd_alpha=float(c.dkd.alpha),
        dkd_beta=float(c.dkd.beta), ttm_gamma=float(c.ttm.gamma), ctkd_variant=c.ctkd.variant,
        ctkd_t_start=float(c.ctkd.t_start), ctkd_t_range=float(c.ctkd.t_range),
        ctkd_init=float(c.ctkd.init), ctkd_hidden=int(c.ctkd.hidden),
        max_logit_order=int(c.max_logit.order),
        max_logit_teacher_only=bool(c.max_logit.teacher_only), mlkd_masking=c.mlkd.masking,
        dist_beta=float(c.dist.beta), dist_gamma=float(c.dist.gamma))

  @classmethod
  def epoch_scalars(cls, config: ml_collections.ConfigDict, epoch: int) -> dict[str, float]:
    scalars = {}
    if config.logit.policy == 'ctkd':
      scalars['ctkd_lambda'] = ctkd_lambda(config, epoch)
    if config.logit.loss == 'dkd':
      scalars['dkd_warmup'] = dkd_warmup(config, epoch)
    return scalars

  @classmethod
  def view_options(cls, config: ml_collections.ConfigDict) -> dict[str, str]:
    """MLKD's strong view is cropped as ``mlkd.strong_crop`` says."""
    return {'strong_crop': config.mlkd.strong_crop} if config.logit.loss == 'mlkd' else {}

  @property
  def needs(self) -> base.Needs:
    return base.Needs(teacher=True, strong_view=self.loss == 'mlkd')

  @property
  def owns_ce(self) -> bool:
    return self.loss == 'mlkd'

  @property
  def term_names(self) -> tuple[str, ...]:
    return ('ce', 'kd', 'cc', 'bc') if self.loss == 'mlkd' else ('kd',)

  def _standardize(self, logits: Array) -> Array:
    if not self.standardize:
      return logits
    return temperature_lib.zscore(logits, ddof=self.ls_ddof, eps=self.ls_eps,
                                  center=self.ls_center, scale=self.ls_scale)

  def _temperature(self, z: Array, v: Array, lambda_: Array, temperature: Array) -> Array:
    if self.policy == 'fixed':
      if self.loss in ('ttm', 'wttm'):
        return jnp.float32(1.0 / self.ttm_gamma)
      return jnp.asarray(temperature, jnp.float32)
    if self.policy == 'max_logit':
      return temperature_lib.max_logit(z, v, order=self.max_logit_order,
                                       teacher_only=self.max_logit_teacher_only,
                                       ddof=self.ls_ddof, eps=self.ls_eps)
    if self.ctkd_variant == 'global':
      module = temperature_lib.GlobalTemperature(
          t_start=self.ctkd_t_start, t_range=self.ctkd_t_range, init_value=self.ctkd_init,
          name='temperature')
      return module(lambda_)
    module = temperature_lib.InstanceTemperature(
        t_start=self.ctkd_t_start, t_range=self.ctkd_t_range, init_value=self.ctkd_init,
        hidden_width=self.ctkd_hidden, name='temperature')
    return module(z, v, lambda_)

  def _divergence(self, z: Array, v: Array, labels: Array, t: Array, warmup: Array,
                  weight: Array) -> Array:
    zs, vs = self._standardize(z), self._standardize(v)
    if self.loss == 'kd':
      return weight * jnp.mean(losses.kd(zs, vs, temperature=t))
    if self.loss == 'dkd':
      per_example = losses.dkd(zs, vs, labels, alpha=self.dkd_alpha * weight,
                               beta=self.dkd_beta * weight, temperature=t)
      return warmup * jnp.mean(per_example)
    if self.loss == 'dist':
      return weight * losses.dist(zs, vs, beta=self.dist_beta, gamma=self.dist_gamma,
                                  temperature=t)
    gamma = 1.0 / t  # TTM's teacher exponent (Zheng & Yang 2024, Eq. 9: gamma = 1/T).
    fn = losses.ttm if self.loss == 'ttm' else losses.wttm
    return weight * jnp.mean(fn(zs, vs, gamma=gamma))

  @nn.compact
  def __call__(self, inputs: base.StepInputs, train: bool = True) -> dict[str, Array]:
    del train
    z = inputs.student.logits.astype(jnp.float32)
    v = jax.lax.stop_gradient(inputs.teacher.logits.astype(jnp.float32))
    # The weight and fixed temperature are step inputs when the trainer passes them
    # (kdjax.steps.RUNTIME_FIELDS: a sweep over them compiles once), else the fields.
    weight = inputs.scalars.get('logit_weight', self.weight)
    temperature = inputs.scalars.get('logit_temperature', self.temperature)
    t = self._temperature(z, v, inputs.scalars.get('ctkd_lambda', jnp.float32(0.0)), temperature)
    tf = jnp.asarray(t, jnp.float32)
    out = {'temperature_mean': jnp.mean(tf), 'temperature_min': jnp.min(tf),
           'temperature_max': jnp.max(tf),
           'logit_correlation': jnp.mean(temperature_lib.logit_correlation(z, v))}
    if self.loss == 'mlkd':
      if inputs.student_strong is None or inputs.teacher_strong is None:
        raise ValueError('MLKD needs the strong view of student and teacher (Needs.strong_view)')
      parts = losses.mlkd(
          z, inputs.student_strong.logits.astype(jnp.float32), v,
          jax.lax.stop_gradient(inputs.teacher_strong.logits.astype(jnp.float32)),
          inputs.labels, temperature=t,
          ce_weight=inputs.scalars.get('ce_weight', self.ce_weight), kd_weight=weight,
          standardize=self.standardize, masking=self.mlkd_masking, ddof=self.ls_ddof,
          eps=self.ls_eps)
      out.update({name: parts[name] for name in ('ce', 'kd', 'cc', 'bc')})
      return out
    warmup = jnp.asarray(inputs.scalars.get('dkd_warmup', jnp.float32(1.0)), jnp.float32)
    out['kd'] = self._divergence(z, v, inputs.labels, t, warmup, weight)
    return out


def describe(config: ml_collections.ConfigDict) -> str:
  """One line naming the composition, e.g. ``'LS x ctkd x kd (weight 9)'``."""
  logit = config.logit
  if logit.loss == 'none':
    return 'no logit term'
  ls = 'LS x ' if logit.standardize else ''
  return f'{ls}{logit.policy} x {logit.loss} (weight {logit.weight:g})'



# The logit methods of the papers as presets of the schema (dotted field -> value). Their
# per-pair values (temperatures, weights, DKD's beta, TTM's gamma/beta) are in kdjax.recipes.
PRESETS = {
    'ce': {'ce_weight': 1.0, 'logit.loss': 'none', 'logit.weight': 0.0},
    # Hinton et al. 2015 as the CRD/mdistiller code runs it: T 4, CE 0.1, KD 0.9.
    'kd': {'logit.loss': 'kd', 'logit.temperature': 4.0, 'ce_weight': 0.1, 'logit.weight': 0.9},
    # Sun et al. 2024: LS with base temperature 2, CE 0.1, KD 9.
    'kd_ls': {'logit.loss': 'kd', 'logit.standardize': True, 'logit.temperature': 2.0,
              'ce_weight': 0.1, 'logit.weight': 9.0},
    # Li et al. 2023: the learned global temperature, CE 0.1, KD 0.9.
    'ctkd': {'logit.loss': 'kd', 'logit.policy': 'ctkd', 'ce_weight': 0.1, 'logit.weight': 0.9},
    'ctkd_ls': {'logit.loss': 'kd', 'logit.policy': 'ctkd', 'logit.standardize': True,
                'ce_weight': 0.1, 'logit.weight': 9.0},
    # Zhao et al. 2022: T 4, alpha 1, CE 1, 20 warm-up epochs (beta per pair).
    'dkd': {'logit.loss': 'dkd', 'logit.temperature': 4.0, 'ce_weight': 1.0, 'logit.weight': 1.0,
            'dkd.alpha': 1.0, 'dkd.warmup_epochs': 20},
    'dkd_ls': {'logit.loss': 'dkd', 'logit.standardize': True, 'logit.temperature': 2.0,
               'ce_weight': 1.0, 'logit.weight': 9.0, 'dkd.alpha': 1.0, 'dkd.warmup_epochs': 20},
    # Jin et al. 2023: T0 4, CE 0.1, KD 0.9, two views.
    'mlkd': {'logit.loss': 'mlkd', 'logit.temperature': 4.0, 'ce_weight': 0.1,
             'logit.weight': 0.9},
    'mlkd_ls': {'logit.loss': 'mlkd', 'logit.standardize': True, 'logit.temperature': 2.0,
                'ce_weight': 0.1, 'logit.weight': 9.0},
    # Zheng & Yang 2024: CE 1, (gamma, beta) per pair.
    'ttm': {'logit.loss': 'ttm', 'ce_weight': 1.0},
    'wttm': {'logit.loss': 'wttm', 'ce_weight': 1.0},
    # Seed 002 Table 6: WTTM without the cross-entropy.
    'wttm_noce': {'logit.loss': 'wttm', 'ce_weight': 0.0},
    # Huang et al. 2022 as zkxufo/TTM re-implements it (--dist_tau 4 --dist_beta 1 --dist_gamma 1,
    # -r 1); the weight 2 is DIST's own CIFAR config (kdjax.recipes has the sources).
    'dist': {'logit.loss': 'dist', 'logit.temperature': 4.0, 'ce_weight': 1.0,
             'logit.weight': 2.0, 'dist.beta': 1.0, 'dist.gamma': 1.0},
    # Matsuyama et al. 2025 (zKD+Ours, zDKD+Ours of its Table 3).
    'kd_maxlogit': {'logit.loss': 'kd', 'logit.policy': 'max_logit', 'logit.standardize': True,
                    'ce_weight': 0.1, 'logit.weight': 9.0},
    'dkd_maxlogit': {'logit.loss': 'dkd', 'logit.policy': 'max_logit',
                     'logit.standardize': True, 'ce_weight': 1.0, 'logit.weight': 9.0,
                     'dkd.alpha': 1.0, 'dkd.warmup_epochs': 20},
}
