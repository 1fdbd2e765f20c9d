"""Optional dependencies: imported where they are used, with the install command when missing.

``pip install -e .`` installs what the losses, the models, the trainer and the digits main job
need. The extras add the rest: ``data`` (tensorflow-datasets and grain: TFDS-prepared CIFAR-100
and the ImageNet pipeline) and ``figures`` (matplotlib); ``test`` installs both.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingDependencyError(ImportError):
  """An optional dependency is not installed; the message gives the pip command."""


def require(module: str, extra: str, purpose: str) -> ModuleType:
  """``import module``, or ``MissingDependencyError`` naming ``pip install 'kdjax[extra]'``."""
  try:
    return importlib.import_module(module)
  except ImportError as error:
    raise MissingDependencyError(
        f'{purpose} needs the Python package {module.split(".")[0]!r}, which is not installed: '
        f"run `pip install -e '.[{extra}]'` in the kdjax checkout") from error
