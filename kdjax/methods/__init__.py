"""Distillation methods: the registry of terms, the composite objective, method names and presets.

A run's objective (``Distillation``) is

    ce_weight * CE(student, labels) + logit term + feature.weight * feature term

* the **logit term** (``kdjax.methods.logit.LogitTerm``): LS x temperature
  policy x base divergence, selected by ``config.logit``;
* the **feature term**: one registered ``kdjax.methods.base.Term`` selected by
  ``config.feature.loss`` (FitNet, AT, CRD, ...), its settings in
  ``config.<name>``.

Either may be absent; every combination is a configuration (e.g. WTTM + CRD is
``logit.loss='wttm'`` with ``feature.loss='crd'``), never a copy of loss code.

Adding a method: write one module with a ``Term`` subclass (its ``NAME``,
``NEEDS``, ``default_config``, ``from_config``, ``__call__``) exported as
``TERM``, and its ``PRESETS`` (method name -> config overrides); add the module
to ``TERM_MODULES`` below, and give its published cells a recipe entry
(``kdjax.recipes``). ``kdjax/methods/fitnet.py`` is the smallest example.

The method's name is derived from the switches (``method_name``): ``kd``,
``kd_ls``, ``ctkd_ls``, ``dkd_maxlogit``, ``crd``, ``wttm+crd``, ``wttm_noce``
(``simkd``, published without a cross-entropy, is ``simkd`` at ``ce_weight`` 0 and
``simkd_ce`` with one); ``config.method`` is checked against it so a run's name never lies.

Feature terms: ``fitnet``, ``simkd`` (its ``eval_logits`` replaces the student's head), ``catkd``,
``itrd``; seed 002's combinations ``wttm+crd`` / ``wttm+itrd`` are presets (``COMBINATIONS``).
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from kdjax import losses
from kdjax.methods import logit as logit_lib
from kdjax.methods.base import Context, Needs, Outputs, StepInputs, Term

Array = jax.Array

_FEATURE_TERMS: dict[str, type[Term]] = {}
_PRESETS: dict[str, dict[str, Any]] = {}


def register(cls: type[Term]) -> type[Term]:
  """Class decorator: registers a feature term under ``cls.NAME`` with its module's presets."""
  if not cls.NAME or cls.NAME in _FEATURE_TERMS or cls.NAME in logit_lib.config_groups():
    raise ValueError(f'a term needs a new, unique NAME, got {cls.NAME!r}')
  _FEATURE_TERMS[cls.NAME] = cls
  return cls


def add_presets(presets: Mapping[str, Mapping[str, Any]]) -> None:
  """Registers method presets: ``{method name: {dotted config field: value}}``."""
  for name, values in presets.items():
    if name in _PRESETS:
      raise ValueError(f'preset {name!r} is defined twice')
    _PRESETS[name] = dict(values)


def feature_terms() -> dict[str, type[Term]]:
  """The registered feature terms by name."""
  return dict(_FEATURE_TERMS)


def presets() -> dict[str, dict[str, Any]]:
  """Every method preset: ``{name: {dotted config field: value}}``."""
  return {name: dict(values) for name, values in _PRESETS.items()}


def preset_fields() -> tuple[str, ...]:
  """The fields any preset sets (reset to the schema default before a preset is applied)."""
  return tuple(sorted({field for values in _PRESETS.values() for field in values}))


def config_groups() -> dict[str, ml_collections.ConfigDict]:
  """Every method's config group (``logit``, ``ls``, ``dkd``, ..., ``feature``, ``fitnet``, ...)."""
  groups = logit_lib.config_groups()
  groups['feature'] = ml_collections.ConfigDict(dict(
      loss='none',  # none | a registered feature term (feature_terms())
      weight=1.0,  # the feature term's weight
  ))
  for name, cls in _FEATURE_TERMS.items():
    groups[name] = cls.default_config()
  return groups


def method_name(config: ml_collections.ConfigDict) -> str:
  """The method's name, derived from its switches (see the module docstring).

  ``_noce`` marks a run without the cross-entropy its method publishes; a feature term
  published without one (``Term.PUBLISHED_WITH_CE`` False: SimKD) is named plainly at
  ``ce_weight`` 0 and gets ``_ce`` when a cross-entropy is added.
  """
  parts = [p for p in (logit_lib.logit_name(config),
                       '' if config.feature.loss == 'none' else config.feature.loss) if p]
  if not parts:
    return 'ce'
  name = '+'.join(parts)
  term = _FEATURE_TERMS.get(config.feature.loss)
  if config.logit.loss == 'none' and term is not None and not term.PUBLISHED_WITH_CE:
    return name + '_ce' if config.ce_weight != 0 else name
  return name + '_noce' if config.ce_weight == 0 else name


def check_config(config: ml_collections.ConfigDict, context: Context | None = None) -> list[str]:
  """Problems with the method settings of ``config`` (empty: fine)."""
  problems = logit_lib.check_config(config)
  feature = config.feature.loss
  if feature != 'none':
    if feature not in _FEATURE_TERMS:
      problems.append(f'feature.loss must be none or one of {sorted(_FEATURE_TERMS)}, '
                      f'got {feature!r}')
    else:
      problems += _FEATURE_TERMS[feature].check_config(config, context)
  if config.ce_weight < 0:
    problems.append(f'ce_weight must be >= 0, got {config.ce_weight}')
  return problems


def epoch_scalars(config: ml_collections.ConfigDict, epoch: int) -> dict[str, float]:
  """The per-epoch step inputs of every term of ``config`` (epochs from 1)."""
  scalars = {}
  if config.logit.loss != 'none':
    scalars.update(logit_lib.LogitTerm.epoch_scalars(config, epoch))
  if config.feature.loss != 'none':
    scalars.update(_FEATURE_TERMS[config.feature.loss].epoch_scalars(config, epoch))
  return scalars


class Distillation(nn.Module):
  """The run's objective: ``ce_weight * CE`` plus its logit and feature terms.

  Attributes:
    ce_weight: weight of the student's cross-entropy on the weak view (MLKD's
      logit term computes its own, over both views).
    logit: the logit term, or None.
    feature: the feature term, or None.
    feature_weight: the feature term's weight.
  """
  ce_weight: float = 1.0
  logit: logit_lib.LogitTerm | None = None
  feature: Term | None = None
  feature_weight: float = 1.0

  @property
  def needs(self) -> Needs:
    needs = Needs()
    for term in (self.logit, self.feature):
      if term is not None:
        needs = needs | term.needs
    return needs

  @property
  def term_names(self) -> tuple[str, ...]:
    """The named contributions, in summation order (they add up to the loss)."""
    names = [] if (self.logit is not None and self.logit.owns_ce) else ['ce']
    if self.logit is not None:
      names += [n for n in self.logit.term_names if n not in names]
    if self.feature is not None:
      names += [n for n in self.feature.term_names if n not in names]
    return tuple(names)

  @property
  def stat_names(self) -> tuple[str, ...]:
    """The logged statistics that are not loss terms."""
    names = ()
    for term in (self.logit, self.feature):
      if term is not None:
        names += tuple(term.STAT_NAMES)
    return names

  def __call__(self, inputs: StepInputs, train: bool = True) -> tuple[Array, dict[str, Array]]:
    """``(loss, metrics)``: the float32 total and every named term and statistic."""
    metrics: dict[str, Array] = {}
    ce_weight = inputs.scalars.get('ce_weight', self.ce_weight)  # step inputs when given
    feature_weight = inputs.scalars.get('feature_weight', self.feature_weight)
    if self.logit is None or not self.logit.owns_ce:
      z = inputs.student.logits.astype(jnp.float32)
      ce = (losses.cross_entropy(z, inputs.labels) if inputs.targets is None
            else losses.soft_cross_entropy(z, inputs.targets))
      metrics['ce'] = ce_weight * jnp.mean(ce)
    if self.logit is not None:
      metrics.update(self.logit(inputs, train))
    if self.feature is not None:
      out = self.feature(inputs, train)
      for name in self.feature.term_names:
        metrics[name] = feature_weight * out[name]
      metrics.update({name: out[name] for name in self.feature.STAT_NAMES})
    loss = functools.reduce(lambda a, b: a + b, [metrics[n] for n in self.term_names])
    return loss, metrics

  @property
  def evaluated_head(self) -> str:
    """What the student is evaluated by: ``'student'`` or the replacing term's head."""
    if self.feature is not None and self.feature.EVAL_HEAD:
      return self.feature.EVAL_HEAD
    return 'student'

  def eval_logits(self, student: Outputs, teacher_variables: Any) -> Array:
    """The logits the student is evaluated by: its own, unless a term replaces its head."""
    if self.feature is not None:
      replaced = self.feature.eval_logits(student, teacher_variables)
      if replaced is not None:
        return replaced
    return student.logits


def build(config: ml_collections.ConfigDict, context: Context | None = None) -> Distillation:
  """The ``Distillation`` of ``config`` (its terms built from their config groups).

  Raises:
    ValueError: the config's method settings are inconsistent (every problem named).
  """
  problems = check_config(config, context)
  if problems:
    raise ValueError('invalid method settings: ' + '; '.join(problems))
  logit_term = (logit_lib.LogitTerm.from_config(config, context)
                if config.logit.loss != 'none' else None)
  feature_term = None
  if config.feature.loss != 'none':
    feature_term = _FEATURE_TERMS[config.feature.loss].from_config(config, context)
  return Distillation(ce_weight=float(config.ce_weight), logit=logit_term, feature=feature_term,
                      feature_weight=float(config.feature.weight))


add_presets(logit_lib.PRESETS)

# The feature terms: one module each (its ``TERM`` class and ``PRESETS``).
# pylint: disable=wrong-import-position
from kdjax.methods import at, catkd, crd, fitnet, itrd, ofd, pkt, reviewkd, rkd, simkd, vid
# pylint: enable=wrong-import-position

TERM_MODULES = (fitnet, at, rkd, pkt, vid, ofd, crd, reviewkd, simkd, catkd, itrd)
for _module in TERM_MODULES:
  register(_module.TERM)
  add_presets(_module.PRESETS)

# Seed 002's combinations (Zheng & Yang 2024, Appendix A.5): CE + beta * WTTM + mu * L_extra,
# configurations of registered terms (WTTM's (gamma, beta) and ITRD's settings per pair are in
# kdjax.recipes).
COMBINATIONS = {
    'wttm+crd': {'ce_weight': 1.0, 'logit.loss': 'wttm', 'feature.loss': 'crd',
                 'feature.weight': 0.8},
    'wttm+itrd': {'ce_weight': 1.0, 'logit.loss': 'wttm', 'feature.loss': 'itrd',
                  'feature.weight': 1.0},
}
add_presets(COMBINATIONS)

__all__ = [
    'Context', 'Distillation', 'Needs', 'Outputs', 'StepInputs', 'Term', 'add_presets', 'build',
    'check_config', 'config_groups', 'epoch_scalars', 'feature_terms', 'method_name', 'presets',
    'preset_fields', 'register',
]
