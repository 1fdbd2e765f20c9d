"""The shared types of the recipes and the registry every recipe module adds to.

A recipe module (one per paper or method family, ``kdjax/recipes/<name>.py``) states its
settings, each a ``Setting`` with its source, and hands them to ``register``; the resolver
(``kdjax.recipes.resolver``) reads only this registry.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

from kdjax import models

Pair = tuple[str, str]
R32x4, R8x4 = 'resnet32x4', 'resnet8x4'
W40_2, W40_1, W16_2 = 'wrn_40_2', 'wrn_40_1', 'wrn_16_2'
MV2, SV1, SV2 = 'MobileNetV2', 'ShuffleV1', 'ShuffleV2'
# The ImageNet pairs of mdistiller's configs/imagenet (r34_r18, r50_mv1).
IN_R18, IN_MV1 = ('resnet34', 'resnet18'), ('resnet50', 'MobileNetV1')
LIGHT_STUDENTS = ('MobileNetV2', 'ShuffleV1', 'ShuffleV2', 'MobileNetV1')
RECIPES = ('seed001', 'seed002', 'seed000', 'imagenet', 'dist_imagenet', 'deit_imagenet',
           'scratch')
# The recipes on ImageNet: mdistiller's configs/imagenet (``imagenet``), DIST's codebase
# hunto/image_classification_sota (``dist_imagenet``: seed 002 Table 7's KD (T=4) row) and
# yzd-v/cls_KD's DeiT recipe on mmcls (``deit_imagenet``: seed 002 Table 13).
IMAGENET_RECIPES = ('imagenet', 'dist_imagenet', 'deit_imagenet')
# The CIFAR-100 recipes whose logit methods take the per-pair tables of the methods' own papers
# (seed 000 instead gives one setting per method for every pair, its Table 3).
PER_PAIR_RECIPES = ('seed001', 'seed002', 'scratch')
DEFAULT = 'default'
KDJAX = 'kdjax'  # the source of a setting that is this codebase's choice, not a paper's value

# Repositories (github.com/...) the sources name.
MDISTILLER = 'megvii-research/mdistiller'
LS_REPO = 'sunshangquan/logit-standardization-KD'
CTKD_REPO = 'zhengli97/CTKD'
MLKD_REPO = 'Jin-Ying/Multi-Level-Logit-Distillation'
TTM_REPO = 'zkxufo/TTM'
CRD_REPO = 'HobbitLong/RepDistiller'

SEED000_T3 = 'Matsuyama et al. 2025, Table 3'
# Seed 000 re-ran its baselines (the feature-based rows of its Tables 1-2) without giving their
# settings: every such value is the method's own reference setting, marked with this reason.
SEED000_BASELINE = f'seed 000 gives no settings for its re-runs of the baselines ({SEED000_T3} ' \
                   f'lists the logit methods only)'
SEED000_DEFAULT = f'{DEFAULT}: {SEED000_BASELINE}; '  # the prefix of such a value's source


@dataclasses.dataclass(frozen=True)
class Setting:
  """One value and where it comes from."""
  value: Any
  source: str


def family(model: str) -> str:
  """Architecture family of a registry name: resnet, wrn, vgg, mobilenet, shufflenet or vit."""
  lower = model.lower()
  for prefix, name in (('wrn', 'wrn'), ('vgg', 'vgg'), ('mobilenet', 'mobilenet'),
                       ('shuffle', 'shufflenet'), ('resnet', 'resnet'), ('deit', 'vit'),
                       ('vit', 'vit')):
    if lower.startswith(prefix):
      return name
  raise ValueError(f'unknown model family for {model!r}; expected a kdjax.models registry name')


def is_imagenet(model: str) -> bool:
  """Whether ``model`` is an ImageNet model (224 x 224 inputs)."""
  return models.input_shape(model) == models.IMAGENET_INPUT_SHAPE


@dataclasses.dataclass(frozen=True)
class PairTable:
  """Per-pair settings: ``fields`` (dotted config fields) -> one row of values per pair.

  Attributes:
    name: what the table holds (messages).
    fields: the dotted config fields a row sets, in order.
    rows: ``{(teacher, student): (values, source)}``.
    fallback: ``(values, source)`` for a pair without a row (its source says why),
      or None: such a pair keeps the values set before.
  """
  name: str
  fields: tuple[str, ...]
  rows: Mapping[Pair, tuple[tuple[Any, ...], str]]
  fallback: tuple[tuple[Any, ...], str] | None = None

  def settings(self, pair: Pair, *, strict: bool) -> dict[str, Setting]:
    """The pair's values with their source ({} when neither a row nor a fallback applies)."""
    if pair in self.rows:
      values, source = self.rows[pair]
    elif strict:
      raise KeyError(f'{self.name} has no published setting for teacher->student {pair}; pick a '
                     f'pair of that table or resolve(..., strict=False) for the documented '
                     f'default')
    elif self.fallback is not None:
      values, source = self.fallback
    else:
      return {}
    return {field: Setting(v, source) for field, v in zip(self.fields, values)}


def table(name: str, fields: tuple[str, ...], source: str, rows: Mapping[Pair, Any],
          fallback: tuple[tuple[Any, ...], str] | None = None,
          sources: Mapping[Pair, str] | None = None) -> PairTable:
  """A PairTable whose rows share ``source`` unless ``sources`` names another for a pair."""
  sources = sources or {}
  return PairTable(name, fields, {
      pair: ((values if isinstance(values, tuple) else (values,)), sources.get(pair, source))
      for pair, values in rows.items()}, fallback)


def sourced(fields: tuple[str, ...], values: tuple[Any, ...], source: str) -> dict[str, Setting]:
  """``{field: Setting(value, source)}`` of fields and values in order."""
  return {field: Setting(value, source) for field, value in zip(fields, values)}


def defaulted(settings: Mapping[str, Setting], why: str) -> dict[str, Setting]:
  """``settings`` with sources marked as a fallback: ``'default: <why>; <source>'``."""
  return {field: Setting(s.value, f'{DEFAULT}: {why}; {s.source}')
          for field, s in settings.items()}


def defaulted_table(pair_table: PairTable, why: str) -> PairTable:
  """``pair_table`` with its rows' (and fallback's) sources marked ``'default: <why>; ...'``."""
  fallback = pair_table.fallback
  if fallback is not None and not fallback[1].startswith(DEFAULT):
    fallback = (fallback[0], f'{DEFAULT}: {why}; {fallback[1]}')
  return PairTable(pair_table.name, pair_table.fields, {
      pair: (values, f'{DEFAULT}: {why}; {source}')
      for pair, (values, source) in pair_table.rows.items()}, fallback)


# ---------------------------------------------------------------------------------------------
# The registry (filled by the recipe modules when ``kdjax.recipes`` is imported).
# Where each method preset (``kdjax.methods.presets()``) comes from.
PRESET_SOURCES: dict[str, str] = {}
# Per recipe, per method: the method-wide settings, applied after the protocol.
SETTINGS: dict[str, dict[str, dict[str, Setting]]] = {recipe: {} for recipe in RECIPES}
# Per recipe, per method: the PairTables applied (in order) after the method-wide settings.
PAIR_TABLES: dict[str, dict[str, tuple[PairTable, ...]]] = {recipe: {} for recipe in RECIPES}
# The CIFAR-100 recipe of a method's own paper (``default_recipe``; absent: seed001).
OWN_RECIPE: dict[str, str] = {}
# Per recipe: settings of every method of that recipe, applied after the protocol's.
RECIPE_SETTINGS: dict[str, dict[str, Setting]] = {}
# Recipes that hold only the methods they list: {recipe: (its codebase, the recipe to use else)}.
CLOSED_RECIPES: dict[str, tuple[str, str]] = {}
# Top-level fields a run with a teacher takes from its pair when the config leaves them None:
# {field: pair -> Setting}.
PAIR_DEFAULTS: dict[str, Callable[[Pair], Setting]] = {}


def register(method: str, *, preset_source: str | None = None, own_recipe: str | None = None,
             settings: Mapping[str, Mapping[str, Setting]] | None = None,
             tables: Mapping[str, tuple[PairTable, ...]] | None = None) -> None:
  """Adds a method's recipe entries; refuses to replace what another module registered.

  Args:
    method: a preset name (``kdjax.methods.presets()``).
    preset_source: where the preset's values come from.
    own_recipe: the CIFAR-100 recipe of the method's own paper (absent: seed001).
    settings: ``{recipe: {dotted field: Setting}}``, the method-wide settings per recipe.
    tables: ``{recipe: (PairTable, ...)}``, the per-pair tables per recipe.
  """
  def put(registry: dict[str, Any], key: str, value: Any, what: str) -> None:
    if key in registry:
      raise ValueError(f'method {method!r} has {what} registered twice; keep one recipe module '
                       f'for it')
    registry[key] = value

  named = set(settings or {}) | set(tables or {}) | ({own_recipe} if own_recipe else set())
  if named - set(RECIPES):
    raise ValueError(f'method {method!r} names unknown recipes {sorted(named - set(RECIPES))}; '
                     f'choose from {RECIPES}')
  if preset_source is not None:
    put(PRESET_SOURCES, method, preset_source, 'its preset source')
  if own_recipe is not None:
    put(OWN_RECIPE, method, own_recipe, 'its own recipe')
  for recipe, values in (settings or {}).items():
    put(SETTINGS[recipe], method, dict(values), f'its {recipe} settings')
  for recipe, tables_ in (tables or {}).items():
    put(PAIR_TABLES[recipe], method, tuple(tables_), f'its {recipe} pair tables')


def register_recipe(recipe: str, *, settings: Mapping[str, Setting] | None = None,
                    closed: tuple[str, str] | None = None) -> None:
  """Adds a recipe's own entries (see ``RECIPE_SETTINGS`` and ``CLOSED_RECIPES``)."""
  for registry, value in ((RECIPE_SETTINGS, settings), (CLOSED_RECIPES, closed)):
    if value is not None:
      if recipe in registry:
        raise ValueError(f'recipe {recipe!r} is registered twice; keep one recipe module for it')
      registry[recipe] = dict(value) if isinstance(value, Mapping) else value


def pair_default(field: str) -> Callable[[Callable[[Pair], Setting]], Callable[[Pair], Setting]]:
  """Registers the decorated ``rule(pair) -> Setting`` for ``field`` (see ``PAIR_DEFAULTS``)."""
  def add(rule: Callable[[Pair], Setting]) -> Callable[[Pair], Setting]:
    if field in PAIR_DEFAULTS:
      raise ValueError(f'the pair default of {field!r} is registered twice; keep one')
    PAIR_DEFAULTS[field] = rule
    return rule
  return add
