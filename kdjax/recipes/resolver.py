"""The resolver: a run's config from the registered recipes, with the source of each value."""

from __future__ import annotations

import dataclasses
from typing import Mapping

import ml_collections

from kdjax import config as config_lib
from kdjax import methods
from kdjax.recipes import core
from kdjax.recipes import protocol
from kdjax.recipes.core import Setting


@dataclasses.dataclass
class Resolved:
  """A resolved config and the source of each value set on top of the schema."""
  config: ml_collections.ConfigDict
  sources: dict[str, str]


def default_recipe(method: str, teacher: str, student: str) -> str:
  """The recipe of a method's own paper (``imagenet`` for ImageNet CNNs, ``deit_imagenet`` for
  the ImageNet vision transformers)."""
  del teacher  # the student alone decides the dataset
  if core.is_imagenet(student):
    return 'deit_imagenet' if core.family(student) == 'vit' else 'imagenet'
  return core.OWN_RECIPE.get(method, 'seed001')


def _method_settings(method: str, recipe: str) -> dict[str, Setting]:
  settings = core.SETTINGS[recipe]
  if recipe in core.CLOSED_RECIPES and method not in settings:
    codebase, instead = core.CLOSED_RECIPES[recipe]
    raise ValueError(f'recipe {recipe} ({codebase}) has settings for {sorted(settings)} only, '
                     f'not {method!r}; use recipe {instead}')
  return dict(settings.get(method, {}))


def resolve(method: str, teacher: str, student: str, *, recipe: str | None = None,
            config: ml_collections.ConfigDict | None = None, strict: bool = False) -> Resolved:
  """The config of ``method`` for ``teacher -> student`` and the source of each of its values.

  Args:
    method: a preset name (``kdjax.methods.presets()``).
    teacher, student: registry names (``teacher`` '' for CE training).
    recipe: one of ``RECIPES`` (default: the method's own paper, ``default_recipe``).
    config: the config to start from (copied); default ``get_config()``.
    strict: ``KeyError`` for a pair a table of the recipe lacks (instead of its fallback).

  Returns:
    The validated config (``method`` filled in) and ``{dotted field: source}``.
  """
  recipe = recipe or default_recipe(method, teacher, student)
  if recipe not in core.RECIPES:
    raise ValueError(f'unknown recipe {recipe!r}; choose one of {core.RECIPES}')
  base = config_lib.get_config() if config is None else config
  c = config_lib.apply_preset(base, method)
  c.teacher, c.student = teacher, student
  sources: dict[str, str] = {}
  pair = (teacher, student)

  def apply(settings: Mapping[str, Setting]) -> None:
    for field, setting in settings.items():
      if setting.value is not None:
        c.update_from_flattened_dict({field: setting.value})
      sources[field] = setting.source

  on_imagenet = recipe in core.IMAGENET_RECIPES
  apply(protocol.IMAGENET_PROTOCOL if on_imagenet else protocol.CIFAR_PROTOCOL)
  if not on_imagenet:
    light = student in core.LIGHT_STUDENTS
    apply({'lr': Setting(config_lib.default_lr(student),
                         protocol.CIFAR_LIGHT_LR if light else protocol.CIFAR_SOURCE)})
  apply(core.RECIPE_SETTINGS.get(recipe, {}))
  apply({'precision': protocol.PRECISION})
  preset_source = core.PRESET_SOURCES.get(method, f'{method} preset')
  apply({field: Setting(None, preset_source) for field in methods.presets()[method]})
  apply(_method_settings(method, recipe))
  for table in core.PAIR_TABLES[recipe].get(method, ()):
    apply(table.settings(pair, strict=strict))
  if c.lr is None:
    c.lr = config_lib.default_lr(student)
  if teacher:
    for field, rule in core.PAIR_DEFAULTS.items():
      if c[field] is None:
        apply({field: rule(pair)})
  config_lib.validate(c)
  return Resolved(config=c, sources=sources)


def method_config(method: str, teacher: str, student: str, *,
                  config: ml_collections.ConfigDict | None = None,
                  strict: bool = False) -> ml_collections.ConfigDict:
  """A method preset with its published per-pair settings: ``resolve(...).config``.

  Args:
    method: a preset name (``kdjax.config.METHODS``).
    teacher, student: registry names (e.g. ``'resnet32x4'``, ``'resnet8x4'``).
    config: the config to start from (copied); default ``get_config()``.
    strict: raise ``KeyError`` when the pair has no published setting the
      method needs, instead of using the documented default.

  Returns:
    A validated ConfigDict (its ``method`` filled in).
  """
  return resolve(method, teacher, student, config=config, strict=strict).config


def describe(resolved: Resolved) -> list[tuple[str, str, str]]:
  """``(field, value, source)`` rows of every sourced value, then the schema values in use."""
  flat = config_lib.flatten(resolved.config.to_dict())
  rows = [(field, repr(flat[field]), source) for field, source in sorted(resolved.sources.items())
          if field in flat]
  return rows
