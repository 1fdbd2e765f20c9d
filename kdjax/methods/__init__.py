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

Adding a method is adding one module to this package: a feature term is a ``Term``
subclass (its ``NAME``, ``NEEDS``, ``default_config``, ``from_config``, ``__call__``)
exported as ``TERM`` (``kdjax/methods/fitnet.py`` is the smallest example); a base
divergence or a temperature policy of the logit term registers itself with
``logit.register_divergence`` / ``logit.register_policy`` (``kdjax/methods/nkd.py``);
either exports its ``PRESETS`` (method name -> config overrides). This package imports
every one of its modules (``pkgutil``), so no other file changes; a method's published
cells get a recipe entry (``kdjax.recipes``), a method without one still builds and trains.

The method's name is derived from the switches (``method_name``): ``kd``,
``kd_ls``, ``ctkd_ls``, ``dkd_maxlogit``, ``crd``, ``wttm+crd``, ``wttm_noce``
(``simkd``, published without a cross-entropy, is ``simkd`` at ``ce_weight`` 0 and
``simkd_ce`` with one); ``config.method`` is checked against it so a run's name never lies.

Feature terms: ``fitnet``, ``simkd`` (its ``eval_logits`` replaces the student's head), ``catkd``,
``itrd``, ``srrl``, ``kdpp`` (KD++: its KD and ND terms together, with its own KD warm-up),
``vitkd``; seed 002's combinations ``wttm+crd`` / ``wttm+itrd`` are presets (``COMBINATIONS``),
``nkd+vitkd`` / ``wttm+vitkd`` presets of ``kdjax.methods.vitkd``.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
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


def _discover() -> tuple[Any, ...]:
  """Imports every module of this package: the logit term's first, then the feature terms.

  The published feature terms keep the order of their tables (``_LISTED``: the order of
  ``presets()`` and of the config groups); any other module follows, by name.
  """
  found = {info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith('_')}
  order = ['logit'] + [n for n in _LISTED if n in found]
  order += sorted(found - set(order) - {'base'})
  return tuple(importlib.import_module(f'{__name__}.{name}') for name in order)


_LISTED = ('fitnet', 'at', 'rkd', 'pkt', 'vid', 'ofd', 'crd', 'reviewkd', 'simkd', 'catkd', 'itrd')
MODULES = _discover()
TERM_MODULES = tuple(module for module in MODULES if hasattr(module, 'TERM'))
for _module in MODULES:
  if hasattr(_module, 'TERM'):
    register(_module.TERM)
  add_presets(getattr(_module, 'PRESETS', {}))
_CLASH = set(logit_lib.config_groups()) & (set(_FEATURE_TERMS) | {'feature'})
if _CLASH:
  raise ValueError(f'config groups declared twice (a feature term and the logit term): {_CLASH}')

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


# What the step and the loop ask of the methods, so that they name none (kdjax/steps.py and
# kdjax/train.py read these; tests/test_layout.py checks that they name no method).


def term_classes(config: ml_collections.ConfigDict) -> tuple[type[Term], ...]:
  """The term classes of ``config``'s objective (its logit term, then its feature term)."""
  classes = []
  if config.logit.loss != 'none':
    classes.append(logit_lib.LogitTerm)
  if config.feature.loss != 'none':
    classes.append(_FEATURE_TERMS[config.feature.loss])
  return tuple(classes)


def scalar_names(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """The names of the per-epoch step inputs of ``config``'s terms (``Term.scalar_names``)."""
  return tuple(name for cls in term_classes(config) for name in cls.scalar_names(config))


def view_options(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """Keyword options of the data views the terms of ``config`` read (``Term.view_options``)."""
  options: dict[str, Any] = {}
  for cls in term_classes(config):
    options.update(cls.view_options(config))
  return options


def evaluation_options(config: ml_collections.ConfigDict) -> tuple[tuple[str, Any], ...]:
  """Compiled options of the evaluation's logged statistics (``statistics.statistic_sums``):
  the exponent gamma of the KL to the transformed teacher (``eval_ttm_gamma``, else the
  ``ttm`` group's gamma) and the ``max_logit`` group's temperature settings. The same for
  every method, so that the statistics of all runs compare."""
  gamma = config.eval_ttm_gamma if config.eval_ttm_gamma is not None else config.ttm.gamma
  return (('gamma', float(gamma)), ('order', int(config.max_logit.order)),
          ('teacher_only', bool(config.max_logit.teacher_only)))


def evaluation_inputs(config: ml_collections.ConfigDict) -> dict[str, float]:
  """Options of the logged statistics passed to the evaluation as inputs (not compiled in, like
  the step's ``logit.temperature``): the base temperature of the LS effective temperatures."""
  return {'ls_tau': float(config.logit.temperature)}


__all__ += ['evaluation_inputs', 'evaluation_options', 'scalar_names', 'term_classes',
            'view_options']
