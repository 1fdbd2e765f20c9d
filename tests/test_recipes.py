"""The recipe registry (``kdjax/recipes/core.py``) that the recipe modules fill.

A recipe module is found by ``pkgutil`` and registers its method's settings; a typo there (a method
or a field name) would otherwise only surface when some cell resolves that method on that recipe,
so every registered name is checked here against the presets and the config schema. The values
themselves are checked cell by cell in ``tests/test_configs.py``.
"""

import pkgutil
import sys

import pytest

from kdjax import config as config_lib
from kdjax import methods
from kdjax import recipes
from kdjax.recipes import core


def test_every_module_of_the_package_is_imported():
  names = {info.name for info in pkgutil.iter_modules(recipes.__path__)}
  assert {'core', 'resolver', 'protocol', 'ttm', 'dkd'} <= names
  assert all(f'kdjax.recipes.{name}' in sys.modules for name in names)


def test_every_registered_method_is_a_preset():
  # (A preset needs no recipe: resolve() then names the preset itself as the source.)
  presets = set(methods.presets())
  registered = set(core.PRESET_SOURCES) | set(core.OWN_RECIPE)
  for recipe in core.RECIPES:
    registered |= set(core.SETTINGS[recipe]) | set(core.PAIR_TABLES[recipe])
  assert registered <= presets, sorted(registered - presets)
  assert set(core.OWN_RECIPE.values()) <= set(core.RECIPES)


def test_every_registered_field_is_a_config_field():
  schema = set(config_lib.flatten(config_lib.get_config().to_dict()))
  fields = set(core.PAIR_DEFAULTS)
  fields |= {f for settings in core.RECIPE_SETTINGS.values() for f in settings}
  for recipe in core.RECIPES:
    fields |= {f for settings in core.SETTINGS[recipe].values() for f in settings}
    fields |= {f for tables in core.PAIR_TABLES[recipe].values() for t in tables for f in t.fields}
  assert fields <= schema, sorted(fields - schema)


def test_a_second_registration_of_a_method_is_refused():
  before = dict(core.PRESET_SOURCES)
  with pytest.raises(ValueError, match="method 'kd' has its preset source registered twice"):
    core.register('kd', preset_source='another source')
  with pytest.raises(ValueError, match="method 'ttm' has its seed001 pair tables registered twice"):
    core.register('ttm', tables={'seed001': ()})
  with pytest.raises(ValueError, match=r"method 'ttm' names unknown recipes \['seed003'\]"):
    core.register('ttm', tables={'seed003': ()})
  assert core.PRESET_SOURCES == before
  assert core.PAIR_TABLES['seed001']['ttm'] == (recipes.TTM,)


def test_method_config_is_the_resolved_config():
  config = recipes.method_config('dkd', 'vgg13', 'vgg8')
  resolved = recipes.resolve('dkd', 'vgg13', 'vgg8')
  assert config_lib.to_json(config) == config_lib.to_json(resolved.config)
  assert config.dkd.beta == 6.0  # mdistiller configs/cifar100/dkd/vgg13_vgg8.yaml
