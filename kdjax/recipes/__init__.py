"""The published recipes: what each paper's runs used, every value with its source.

``resolve(method, teacher, student, recipe=...)`` builds a run's config in layers
and records where each value comes from (``Resolved.sources``):

1. the **protocol** of the dataset (``protocol.py``): CIFAR-100 (the CRD codebase's
   ``train_student.py``, kept by mdistiller and every cited paper) or ImageNet
   (mdistiller's ``configs/imagenet``), with the recipe's deviations (CTKD's
   ImageNet script, MLKD's 480 / 960 epochs);
2. the **method preset** (``kdjax.methods.presets()``), each value sourced
   (e.g. KD's T 4 / 0.1 / 0.9 from mdistiller's ``engine/cfg.py``);
3. the recipe's **method-wide settings** (seed 000 gives one setting per method
   for every pair, its Table 3);
4. the **per-pair rows** of the recipe's tables (``PairTable``): the values the
   reference configs and logs give that teacher/student pair.

A recipe is the protocol of one paper's table: ``seed001`` (Sun et al., CVPR
2024, logit standardization), ``seed002`` (Zheng & Yang, ICLR 2024, TTM/WTTM),
``seed000`` (Matsuyama et al. 2025, max-logit temperature: its own re-runs),
``imagenet`` (mdistiller's ImageNet configs), ``dist_imagenet`` (DIST's codebase
hunto/image_classification_sota, for seed 002 Table 7's "KD (T=4)" row), ``deit_imagenet``
(yzd-v/cls_KD's DeiT-Tiny recipe on mmcls, seed 002 Table 13) and ``scratch``
(teachers and students trained with CE). A pair
without a row gets the table's documented fallback, whose source starts with
``default:`` (``strict=True`` refuses it); a value with no source at all is
reported as ``default (schema)``, never as a paper's.

Layout: ``core`` (the types and the registry), ``resolver`` (``resolve``), ``protocol``
(the training protocols) and one module per paper or method family holding its tables with
their sources (``ls``, ``dkd``, ``ctkd``, ``mlkd``, ``ttm``, ``maxlogit``, ``crd``, ...).
Every module of this package is imported here (``pkgutil``), so a new method's recipe is one
new file that calls ``core.register``; its upper-case names (tables, settings) are also
attributes of this package (``recipes.TTM``), and must not reuse another module's name.
"""

from __future__ import annotations

import importlib
import pkgutil
import types

from kdjax.recipes.core import (CRD_REPO, CTKD_REPO, DEFAULT, IMAGENET_RECIPES, KDJAX,
                                LIGHT_STUDENTS, LS_REPO, MDISTILLER, MLKD_REPO, PAIR_TABLES,
                                PRESET_SOURCES, RECIPES, SEED000_BASELINE, SETTINGS, TTM_REPO,
                                PairTable, Setting, family, is_imagenet)
from kdjax.recipes.resolver import Resolved, default_recipe, describe, method_config, resolve


def _export(module: types.ModuleType) -> None:
  """Makes the upper-case names of ``module`` attributes of this package (one object a name)."""
  for name, value in vars(module).items():
    if (not name[:1].isupper() or getattr(value, '__module__', None) == 'typing'
        or isinstance(value, (type, types.ModuleType, types.FunctionType))):
      continue
    if name in globals() and globals()[name] is not value:
      raise ImportError(f'kdjax.recipes.{module.__name__.rsplit(".", 1)[-1]} defines {name}, '
                        f'which another recipe module defines too; rename one')
    globals()[name] = value


for _info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
  _export(importlib.import_module(f'{__name__}.{_info.name}'))
