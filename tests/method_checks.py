"""Shared checks for the distillation methods: smoke training, exact resume, 1 vs N devices.

Every method module's tests use these, so each method is checked the same way:

* ``run_once(fn, *args)``: a hand-built check's function compiled once, cheaply;
* ``smoke(method, ...)``: a two-epoch, two-step-per-epoch smoke config of a method on small
  models (random data of CIFAR shape, random teacher);
* ``assert_resumes_exactly(config, tmp_path)``: a run stopped after epoch 1 and resumed ends with
  exactly the state (parameters, BatchNorm statistics, method state such as a memory bank,
  optimizer state) of an uninterrupted run, and logs the same metrics;
* ``run_on_devices(configs, num_devices, tmp_path)``: trains configs in a subprocess with
  ``num_devices`` simulated CPU devices (one process for all, to share JAX's start-up) and
  returns each run's final state leaves and metric rows; ``assert_same_runs`` compares two such
  results (1 vs N devices: the same step on a sharded batch).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any, Mapping

import jax
import ml_collections
import numpy as np

from kdjax import config as config_lib
from kdjax import train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class StopAfterFirstEpoch(Exception):
  """Stands in for a preemption after epoch 1."""


def smoke(method: str, teacher: str = 'resnet8', student: str = 'resnet8', *,
          recipe: str | None = None, **overrides: Any) -> ml_collections.ConfigDict:
  """The smoke config of ``method`` (``overrides``: dotted fields), validated."""
  from kdjax import recipes  # pylint: disable=import-outside-toplevel
  config = config_lib.smoke_config(recipes.resolve(method, teacher, student, recipe=recipe).config)
  config.update_from_flattened_dict(overrides)
  config.method = None
  return config_lib.validate(config)


def run_once(fn: Any, *args: Any) -> Any:
  """``fn(*args)`` jit-compiled once without XLA's CPU backend optimisation.

  For the hand-built checks of a term: one compilation of init + apply instead of op-by-op
  dispatch, whose random initialisers alone take seconds to compile on CPU.
  """
  options = {'xla_backend_optimization_level': 0} if jax.default_backend() == 'cpu' else None
  return jax.jit(fn).lower(*args).compile(compiler_options=options)(*args)


def metric_rows(workdir: str) -> list[dict[str, Any]]:
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


def assert_same_state(a: Any, b: Any) -> None:
  """Bit-identical pytrees (structure and every leaf)."""
  leaves_a, tree_a = jax.tree.flatten(jax.device_get(a))
  leaves_b, tree_b = jax.tree.flatten(jax.device_get(b))
  assert tree_a == tree_b
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def assert_resumes_exactly(config: ml_collections.ConfigDict, tmp_path: Any,
                           keys: tuple[str, ...] = ('train_loss', 'test_top1', 'lr')) -> Any:
  """Uninterrupted vs stopped-after-epoch-1-and-resumed: same final state and metrics."""
  reference = train.train_and_evaluate(config, str(tmp_path / 'uninterrupted'))
  workdir = str(tmp_path / 'interrupted')

  def stop(epoch, row):
    del row
    if epoch == 1:
      raise StopAfterFirstEpoch

  try:
    train.train_and_evaluate(config, workdir, epoch_callback=stop)
  except StopAfterFirstEpoch:
    pass
  else:
    raise AssertionError('the run did not stop after epoch 1')
  epochs = []
  resumed = train.train_and_evaluate(config, workdir,
                                     epoch_callback=lambda epoch, _: epochs.append(epoch))
  assert epochs == list(range(2, config.epochs + 1)), epochs  # resumed, not restarted
  assert_same_state(resumed.state, reference.state)
  rows, reference_rows = metric_rows(workdir), metric_rows(str(tmp_path / 'uninterrupted'))
  assert [r['epoch'] for r in rows] == [r['epoch'] for r in reference_rows]
  for row, ref in zip(rows, reference_rows):
    for key in keys:
      assert row[key] == ref[key], (key, row[key], ref[key])
  return reference


_SCRIPT = textwrap.dedent('''
    import json, sys
    import jax, numpy as np
    from kdjax import config as config_lib, train
    root, configs = sys.argv[1], json.loads(sys.argv[2])
    facts = {'devices': jax.device_count()}

    def save(path, state):
      leaves = jax.tree_util.tree_leaves_with_path(jax.device_get(state))
      np.savez(path, **{jax.tree_util.keystr(p): np.asarray(x) for p, x in leaves})

    for name, values in configs.items():
      config = config_lib.from_mapping(values)
      run = train.prepare_run(config)
      save(f'{root}/{name}.init.npz', run.program.init(np.uint32(config.seed), **train.init_data(run)))
      result = train.train_and_evaluate(config, f'{root}/{name}')
      save(f'{root}/{name}.npz', result.state)
      facts[name] = {'rows': [json.loads(l) for l in open(f'{root}/{name}/metrics.jsonl')],
                     'replicated': all(x.sharding.is_fully_replicated for _, x in
                                       jax.tree_util.tree_leaves_with_path(result.state))}
    json.dump(facts, open(f'{root}/facts.json', 'w'))
''')


def device_env(num_devices: int, **extra: str) -> dict[str, str]:
  """The environment of a subprocess with ``num_devices`` simulated CPU devices.

  The caller's ``XLA_FLAGS`` are kept (e.g. ``--xla_cpu_max_isa=SSE4_2`` to check the
  agreement tests under another code generation): the device count is appended to them.
  """
  flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={num_devices}"
  return dict(os.environ, JAX_PLATFORMS='cpu', JAX_NUM_CPU_DEVICES=str(num_devices),
              XLA_FLAGS=flags.strip(),
              PYTHONPATH=os.pathsep.join([REPO, os.environ.get('PYTHONPATH', '')]), **extra)


def run_on_devices(configs: Mapping[str, ml_collections.ConfigDict], num_devices: int,
                   tmp_path: Any) -> dict[str, Any]:
  """Trains every config in one subprocess with ``num_devices`` simulated CPU devices.

  Returns:
    ``{name: {'state': {leaf path: array}, 'rows': [...], 'replicated': bool}, 'devices': n}``.
  """
  root = str(tmp_path / f'devices{num_devices}')
  os.makedirs(root, exist_ok=True)
  env = device_env(num_devices)
  payload = json.dumps({name: json.loads(config_lib.to_json(c)) for name, c in configs.items()})
  done = subprocess.run([sys.executable, '-c', _SCRIPT, root, payload], env=env, cwd=REPO,
                        capture_output=True, text=True, timeout=1200)
  if done.returncode:
    raise AssertionError(f'the {num_devices}-device run failed:\n{done.stderr[-4000:]}')
  with open(os.path.join(root, 'facts.json')) as f:
    facts = json.load(f)
  out = {'devices': facts['devices']}
  for name in configs:
    with np.load(os.path.join(root, f'{name}.npz')) as arrays, \
         np.load(os.path.join(root, f'{name}.init.npz')) as initial:
      out[name] = {'state': dict(arrays), 'initial': dict(initial), 'rows': facts[name]['rows'],
                   'replicated': facts[name]['replicated']}
  return out


def assert_same_runs(a: Mapping[str, Any], b: Mapping[str, Any], *, rtol: float = 1e-3,
                     atol: float = 1e-4) -> None:
  """Two ``run_on_devices`` results of one config agree.

  Summation order differs between 1 and N devices, and a smoke run's large early gradients
  amplify it over its four updates (about 1e-5 absolute on the parameters); statistics over
  per-device instead of global batches would differ by orders of magnitude more. Use the
  CIFAR ResNets: at initialisation, models with near-constant BatchNorm channels (VGG's biased
  convs, depthwise MobileNet / ShuffleNet blocks, WRN) have gradients so ill-conditioned that
  float32 rounding alone (even XLA's optimisation level on one device) moves them by 1% or more.
  """
  assert a['state'].keys() == b['state'].keys()
  for key in a['state']:
    np.testing.assert_allclose(a['state'][key], b['state'][key], rtol=rtol, atol=atol,
                               err_msg=key)
  for row_a, row_b in zip(a['rows'], b['rows']):
    np.testing.assert_allclose(row_a['train_loss'], row_b['train_loss'], rtol=rtol)
