"""The layout of the package: the step and the loop name no method, and imports go downwards.

* ``kdjax/steps.py`` (the compiled step) and ``kdjax/train.py`` (the loop) carry whatever the
  terms declare (``kdjax.methods``: needs, scalars, views, evaluation options) without naming
  any method: a new method is one module of ``kdjax/methods/`` and never edits them. The
  names come from the registries, so a method added later is checked too.
* The ``kdjax`` modules import each other without a cycle and only downwards, along ``LAYERS``
  (function-level imports included: a deferred import is still a dependency).
"""

import ast
import io
import pathlib
import re
import sys
import tokenize

import pytest

from kdjax import methods

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / 'kdjax'

# Modules that must name no method: the train step and the training loop.
METHOD_BLIND = ('kdjax/steps.py', 'kdjax/train.py')
# Registry words that are not methods: the objective's two term slots (the logit and feature
# groups hold the settings every logit or feature term shares: weight, temperature), and 'ce',
# the preset of a run without distillation, i.e. the student's own cross-entropy, which
# every run has.
NOT_METHODS = frozenset({'logit', 'feature', 'ce'})
# Preset-name parts that only mark a variant of a method name (kdjax.methods.method_name).
NAME_MARKS = frozenset({'noce', 'raw'})
# English words that are also method names: in prose they count only when capitalised as the
# method is (AT, attention transfer), in code identifiers only as the first part (``at_beta``,
# not ``learning_rate_at_epoch``).
ENGLISH = frozenset({'at'})


def method_words() -> frozenset[str]:
  """Every method's name and name part: the presets (``kd_ls``, ``wttm+crd``: their parts too),
  the feature terms and the config groups of the methods' settings (``ls``, ``dkd``,
  ``max_logit``, ...), lower case."""
  words = set(methods.feature_terms()) | set(methods.config_groups())
  for preset in methods.presets():
    for piece in preset.split('+'):
      words.add(piece)
      words.update(piece.split('_'))
  return frozenset(w.lower() for w in words) - NOT_METHODS - NAME_MARKS - {''}


def _matches(word: str, names: frozenset[str], prose: bool) -> list[str]:
  """The method names ``word`` (an identifier or a word of prose) contains as a whole word or
  as ``_``-separated parts (``ls_tau`` contains ``ls``; ``kdjax`` contains none)."""
  found = []
  lower = word.lower()
  for name in names:
    start = '^' if (name in ENGLISH and not prose) else '(?:^|_)'
    if re.search(rf'{start}{re.escape(name)}(?:_|$)', lower):
      if prose and name in ENGLISH and word == word.lower():
        continue
      found.append(name)
  return found


# Comments and strings (from Python 3.12 an f-string's text is its own token).
PROSE_TOKENS = tuple(getattr(tokenize, name) for name in ('COMMENT', 'STRING', 'FSTRING_MIDDLE')
                     if hasattr(tokenize, name))


def method_names_in(source: str) -> list[tuple[int, str, str]]:
  """``(line, word, method)`` for every identifier, comment or string word naming a method."""
  names = method_words()
  hits = []
  for token in tokenize.generate_tokens(io.StringIO(source).readline):
    if token.type == tokenize.NAME:
      words, prose = [token.string], False
    elif token.type in PROSE_TOKENS:
      words, prose = re.findall(r'[A-Za-z0-9_]+', token.string), True
    else:
      continue
    for word in words:
      hits += [(token.start[0], word, name) for name in _matches(word, names, prose)]
  return hits


def test_the_method_words_come_from_the_registries():
  names = method_words()
  # A few of today's names, to show the registries are read (not an exhaustive list).
  assert {'kd', 'ls', 'ctkd', 'dkd', 'mlkd', 'ttm', 'wttm', 'max_logit', 'dist', 'crd',
          'reviewkd', 'at', 'simkd'} <= names
  assert not names & {'logit', 'feature', 'ce', 'kdjax'}


def test_the_checker_finds_method_names_and_spares_other_words():
  source = ('ls_tau = config.logit.temperature  # the CRD memory\n'
            "x = 'ReviewKD'  # look at the kdjax teacher\n"
            'def attention(max_logit_order): return AT\n'
            'rate_at_epoch = at_beta\n')
  found = {(line, name) for line, _, name in method_names_in(source)}
  assert found == {(1, 'ls'), (1, 'crd'), (2, 'reviewkd'), (3, 'max_logit'), (3, 'at'),
                   (4, 'at')}


@pytest.mark.parametrize('path', METHOD_BLIND)
def test_the_step_and_the_loop_name_no_method(path):
  hits = method_names_in((ROOT / path).read_text())
  assert not hits, (f'{path} names methods (the terms must declare what they need, in '
                    f'kdjax/methods/): ' + '; '.join(f'line {line}: {word!r} ({name})'
                                                      for line, word, name in hits))


# The intended layering, lowest first: a module may import its own layer's modules and those
# of lower layers. A module is matched by its dotted name or a package prefix (``kdjax.data``
# holds ``kdjax.data.sources`` ...). The experiments (``experiments/``) sit above all of it and
# no kdjax module imports them.
LAYERS = (
    # Foundations: no model, no method.
    ('kdjax.extras', 'kdjax.parallel', 'kdjax.workdir', 'kdjax.metrics', 'kdjax.temperature',
     'kdjax.torch_io'),
    # Library: losses, statistics, models, data, teachers, logs (what a notebook imports).
    ('kdjax.mlkd', 'kdjax.losses', 'kdjax.feature_losses', 'kdjax.statistics',
     'kdjax.analysis', 'kdjax.plots', 'kdjax.models', 'kdjax.data', 'kdjax.convert',
     'kdjax.teachers', 'kdjax.teacher_cache', 'kdjax.logs'),
    # The methods: terms, their registry and presets.
    ('kdjax.methods',),
    # The run's configuration schema and its checks.
    ('kdjax.config',),
    # The published recipes, the optimizer of a config.
    ('kdjax.recipes', 'kdjax.optim'),
    # The compiled step, the evaluation.
    ('kdjax.steps', 'kdjax.evaluation'),
    # The loop and its checkpoints.
    ('kdjax.checkpointing', 'kdjax.train'),
)
# Known upward imports, removed by work in progress (each names who removes it).
KNOWN_UPWARD: set[tuple[str, str]] = set()  # exemptions (module, import); none today.


def module_name(path: pathlib.Path) -> str:
  parts = list(path.relative_to(ROOT).with_suffix('').parts)
  if parts[-1] == '__init__':
    parts.pop()
  return '.'.join(parts)


def layer_of(module: str) -> int:
  """The index in ``LAYERS`` of ``module`` (longest matching prefix)."""
  best, index = '', None
  for i, layer in enumerate(LAYERS):
    for prefix in layer:
      if (module == prefix or module.startswith(prefix + '.')) and len(prefix) > len(best):
        best, index = prefix, i
  if index is None:
    raise AssertionError(f'{module} has no layer: add it to LAYERS in tests/test_layout.py')
  return index


def imports_of(path: pathlib.Path, modules: set[str]) -> set[str]:
  """The kdjax (and experiments) modules ``path`` imports, at any depth of the file."""
  tree = ast.parse(path.read_text())
  package = module_name(path) if path.name == '__init__.py' else module_name(path).rpartition(
      '.')[0]
  found = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ''
      if node.level:  # relative: from the importing module's package
        anchor = package.split('.')
        anchor = anchor[:len(anchor) - node.level + 1]
        base = '.'.join(anchor + ([base] if base else []))
      names = [f'{base}.{alias.name}' for alias in node.names] + [base]
    else:
      continue
    for name in names:
      if not name.startswith(('kdjax', 'experiments')):
        continue
      # ``from kdjax import steps`` imports the module kdjax.steps; ``from kdjax.methods.base
      # import Term`` imports kdjax.methods.base.
      while name not in modules and '.' in name:
        name = name.rpartition('.')[0]
      if name.startswith('experiments') or name in modules:
        found.add(name)
  # The packages above a module are imported before it by Python itself (``from kdjax.methods
  # import base`` runs ``kdjax/methods/__init__.py``, which registers the terms that import
  # ``base``): not a dependency of the module's design.
  me = module_name(path)
  return {name for name in found if name != me and not me.startswith(name + '.')}


def import_graph() -> dict[str, set[str]]:
  paths = sorted(PACKAGE.rglob('*.py'))
  modules = {module_name(p) for p in paths}
  return {module_name(p): imports_of(p, modules) for p in paths}


def test_the_import_parser_reads_function_level_and_relative_imports(tmp_path, monkeypatch):
  package = tmp_path / 'kdjax'
  (package / 'sub').mkdir(parents=True)
  (package / '__init__.py').write_text('')
  (package / 'sub' / '__init__.py').write_text('from . import leaf\n')
  (package / 'sub' / 'leaf.py').write_text('def f():\n  from kdjax import top\n')
  (package / 'top.py').write_text('import kdjax.sub.leaf as l\nfrom kdjax.sub.leaf import f\n')
  monkeypatch.setattr(sys.modules[__name__], 'ROOT', tmp_path)
  modules = {'kdjax', 'kdjax.sub', 'kdjax.sub.leaf', 'kdjax.top'}
  assert imports_of(package / 'sub' / '__init__.py', modules) == {'kdjax.sub.leaf'}
  assert imports_of(package / 'sub' / 'leaf.py', modules) == {'kdjax.top'}
  assert imports_of(package / 'top.py', modules) == {'kdjax.sub.leaf'}


def test_no_import_cycle():
  graph = import_graph()
  for module, dep in KNOWN_UPWARD:  # an exempted import is no cycle either
    graph[module].discard(dep)
  state: dict[str, int] = {}
  stack: list[str] = []

  def visit(module: str):
    state[module] = 1
    stack.append(module)
    for dep in sorted(graph.get(module, ())):
      if dep not in graph:
        continue
      if state.get(dep) == 1:
        cycle = stack[stack.index(dep):] + [dep]
        raise AssertionError('import cycle: ' + ' -> '.join(cycle))
      if dep not in state:
        visit(dep)
    stack.pop()
    state[module] = 2

  for module in sorted(graph):
    if module not in state:
      visit(module)


def test_imports_go_downwards_only():
  graph = import_graph()
  upward, known = [], set()
  for module, deps in sorted(graph.items()):
    if module == 'kdjax':
      continue
    for dep in sorted(deps):
      if dep.startswith('experiments'):
        upward.append(f'{module} imports {dep} (experiments are above the library)')
        continue
      if dep == 'kdjax' or layer_of(dep) <= layer_of(module):
        continue
      if (module, dep) in KNOWN_UPWARD:
        known.add((module, dep))
        continue
      upward.append(f'{module} (layer {layer_of(module)}) imports {dep} (layer {layer_of(dep)})')
  assert not upward, 'imports from a lower layer to a higher one:\n' + '\n'.join(upward)
  # An exemption whose import is gone must go too (the coordinator removes it on merging).
  assert known == KNOWN_UPWARD, f'KNOWN_UPWARD lists imports no longer made: {KNOWN_UPWARD - known}'



@pytest.mark.slow
def test_a_run_builds_its_objective_once_and_asks_for_epoch_scalars_once_per_epoch(
    tmp_path, monkeypatch):
  """DKD (an epoch scalar: its warm-up) for two epochs of tiny digits: ``methods.build`` runs
  once (``Setup.create`` and ``build_program`` share the objective) and
  ``methods.epoch_scalars`` once per epoch (the step's inputs and the logged row share them)."""
  from kdjax import steps  # pylint: disable=import-outside-toplevel
  from kdjax import train  # pylint: disable=import-outside-toplevel
  from tests import method_checks  # pylint: disable=import-outside-toplevel
  config = method_checks.smoke('dkd', dataset='digits', image_size=16, smoke_examples=8,
                               smoke_steps=1, eval_statistics=False, eval_batch_size=8)
  calls = {'build': 0, 'epoch_scalars': []}
  build, epoch_scalars = methods.build, methods.epoch_scalars

  def counted_build(*args, **kwargs):
    calls['build'] += 1
    return build(*args, **kwargs)

  def counted_scalars(config_, epoch):
    calls['epoch_scalars'].append(epoch)
    return epoch_scalars(config_, epoch)

  monkeypatch.setattr(methods, 'build', counted_build)
  monkeypatch.setattr(methods, 'epoch_scalars', counted_scalars)
  monkeypatch.setattr(steps, '_OBJECTIVES', {})
  steps.build_program.cache_clear()
  rows = []
  train.train_and_evaluate(config, str(tmp_path), epoch_callback=lambda e, row: rows.append(row))
  assert calls['build'] == 1
  assert calls['epoch_scalars'] == [1, 2]
  # The logged warm-up is the one the step got: epoch / warmup_epochs (2 in smoke configs).
  assert [row['dkd_warmup'] for row in rows] == [0.5, 1.0]
