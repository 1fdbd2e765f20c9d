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
import re
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
  """Bit-identical pytrees (structure and every leaf).

  What an exact resume guarantees on any CPU: the resumed and the uninterrupted run execute
  the same compiled program in one process on the same (restored) bits, and XLA's CPU
  programs are deterministic for given inputs, so not even the rounding differs.
  """
  leaves_a, tree_a = jax.tree.flatten(jax.device_get(a))
  leaves_b, tree_b = jax.tree.flatten(jax.device_get(b))
  assert tree_a == tree_b
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def state_leaves(state: Any) -> dict[str, np.ndarray]:
  """``{leaf path: array}`` of an in-process state, as ``run_on_devices`` returns its runs'."""
  return {jax.tree_util.keystr(p): np.asarray(x)
          for p, x in jax.tree_util.tree_leaves_with_path(jax.device_get(state))}


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


# XLA's CPU backend (LLVM) optimisation off in the device subprocesses: compiling the train,
# evaluation and init programs of each method is most of their time (measured: the LLVM passes
# take half of it), and those passes only choose the machine code of each HLO op. What the
# 1- vs N-device checks are about happens before them, in the HLO the device count changes: the
# SPMD partitioning of the step over the sharded batch and its cross-device sums. The rounding
# of the unoptimised code is another code generation, as --xla_cpu_max_isa=SSE4_2 or fast math
# are, which the tolerances below were measured under. With these flags the agreement tests'
# largest part difference was 0.009 of RTOL (PKT; 0.004 ReviewKD, 0.003 CRD and SimKD, 0.0015
# FitNet) and 0.00015 of ILL_CONDITIONED_RTOL (ITRD), as small as with XLA's default level.
# Both runs of a comparison use the same flags; a caller's own XLA_FLAGS come after and win.
FAST_COMPILE_FLAGS = '--xla_backend_optimization_level=0'


def device_env(num_devices: int, **extra: str) -> dict[str, str]:
  """The environment of a subprocess with ``num_devices`` simulated CPU devices.

  ``FAST_COMPILE_FLAGS`` first, then the caller's ``XLA_FLAGS`` (e.g.
  ``--xla_cpu_max_isa=SSE4_2`` to check the agreement tests under another code generation, or
  ``--xla_backend_optimization_level=2`` for XLA's default one), then the device count.
  """
  flags = (f"{FAST_COMPILE_FLAGS} {os.environ.get('XLA_FLAGS', '')} "
           f"--xla_force_host_platform_device_count={num_devices}")
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


# Agreement of 1- and N-device runs (``assert_same_runs``): what float32 guarantees.
#
# The N-device step sums in another order (per device, then across devices), and so do other
# CPUs and XLA code generation settings (vector width, fast math, thread count), so a value
# may differ by a few ulps (u = 2**-24 relative) wherever it is a sum. How far that moves the
# trained state depends on the conditioning of the step, measured by perturbing every initial
# parameter by a relative 2**-23 (one ulp) or 1e-6 (16 ulps) on one device and training the
# smoke run (4 steps):
# * DIST at temperature 1, lr 0.005: one ulp moves the state's change in training by 1e-6;
# * random smoke data make batch-correlation terms ill-conditioned: on noise images pooled
#   features and softmax outputs are nearly equal across the batch, and ITRD (features
#   standardised over the batch, no eps) and DIST at temperature 4 (Pearson correlations over
#   the batch) divide by their tiny spread: 16 ulps move ITRD's state change by 0.4% (at lr
#   0.05, 0.005 and 0.0005 alike) and DIST-at-4's by 7.6%; without CE, a random teacher leaves
#   WTTM a gradient that is the difference of two near-uniform distributions;
# * at the smoke lr 0.05 DIST is moreover chaotic (each step amplifies the previous steps'
#   differences: 1% between 1 and 2 devices after four steps), hence lr 0.005.
# Per entry, or on a small leaf (a 16-channel BatchNorm bias's momentum), there is no useful
# bound: under --xla_cpu_max_isa=SSE4_2 or --xla_cpu_enable_fast_math=true single leaves of
# ITRD, DIST-at-4, CAT-KD and WTTM without CE differed by 0.7-2% of their change. So each part
# of the state (``.params['student']``, ``.params['method']``, the momentum of each, BatchNorm
# statistics, method state) is compared as one vector: the norm of the difference against the
# norm of the change training made, plus a floor of 1e-6 of the norm for parts training barely
# moves (each update rounds a parameter to its ulp, 6e-8 relative). Measured with SSE4_2 and
# with fast math on one core (``taskset -c 0``), the largest part difference was 0.13 of RTOL
# (CAT-KD) for the well-conditioned runs and 0.12 of ILL_CONDITIONED_RTOL (ITRD) for the
# ill-conditioned ones (``ill_conditioned=True``: ITRD, WTTM without CE; DIST runs at
# temperature 1).
# A wiring bug is far outside: per-device instead of global BatchNorm statistics (batch 8 on
# 2 devices) changes resnet8's first gradient by 22% (whole gradient) and 43% (median leaf)
# (``tests/test_parallel.py::test_per_device_batch_statistics_are_far_outside_the_tolerance``),
# 220x RTOL and 11x ILL_CONDITIONED_RTOL.
RTOL = 1e-3
ILL_CONDITIONED_RTOL = 2e-2
FLOOR = 1e-6


def same_leaf(final_a: np.ndarray, final_b: np.ndarray, initial: np.ndarray, rtol: float
              ) -> tuple[bool, float]:
  """Whether two final values of one state leaf (or concatenated leaves) agree (see the
  comment above), and the ratio of their difference to the allowed one."""
  if not np.issubdtype(np.asarray(final_a).dtype, np.floating):
    same = bool(np.array_equal(final_a, final_b))
    return same, 0.0 if same else np.inf
  a, b, x0 = (np.asarray(v, np.float64) for v in (final_a, final_b, initial))
  allowed = rtol * np.linalg.norm(a - x0) + FLOOR * np.linalg.norm(a)
  diff = np.linalg.norm(a - b)
  return bool(diff <= allowed), float(diff / allowed) if allowed else (0.0 if diff == 0 else np.inf)


def _collections(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  """The float leaves of a state concatenated per collection and part: ``.params['student']``,
  ``.params['method']``, ``.opt_state[1][0].trace['student']``, ``.method_state['feature']``..."""
  groups: dict[str, list[np.ndarray]] = {}
  for key in sorted(state):
    if np.issubdtype(state[key].dtype, np.floating):
      part = (re.match(r"^(.*?\['(?:student|method)'\])", key)
              or re.match(r"^(.*?\['[^']*'\])", key))
      groups.setdefault(part.group(1) if part else key, []).append(np.ravel(state[key]))
  return {name: np.concatenate(parts) for name, parts in groups.items()}


def assert_same_states(final_a: Mapping[str, np.ndarray], final_b: Mapping[str, np.ndarray],
                       initial: Mapping[str, np.ndarray], rtol: float = RTOL) -> float:
  """Two final states (``{leaf path: array}``) of one start agree part by part (see above);
  returns the largest ratio of a part's difference to the allowed one."""
  assert final_a.keys() == final_b.keys() == initial.keys()
  for key in final_a:
    if not np.issubdtype(np.asarray(final_a[key]).dtype, np.floating):
      np.testing.assert_array_equal(final_a[key], final_b[key], err_msg=key)
  groups = [_collections(x) for x in (final_a, final_b, initial)]
  worst = 0.0
  for key in groups[0]:
    ok, ratio = same_leaf(groups[0][key], groups[1][key], groups[2][key], rtol)
    assert ok, (f'{key}: the runs differ by {ratio:.3g} x the allowed {rtol:g} x (change in '
                f'training) + {FLOOR:g} x norm')
    worst = max(worst, ratio)
  return worst


def assert_same_runs(a: Mapping[str, Any], b: Mapping[str, Any], *, ill_conditioned: bool = False
                     ) -> float:
  """Two ``run_on_devices`` results of one config agree as float32 guarantees (see above).

  Every part of the state (parameters, BatchNorm statistics, method state, optimizer momentum;
  student and method apart) within RTOL, or ILL_CONDITIONED_RTOL with ``ill_conditioned``
  (integer leaves exactly); each epoch's train loss and continuous test statistics within the
  same tolerance (a loss moves by about that fraction of what training changed it by).

  Returns:
    The largest ratio of a difference to the allowed one (< 1), to report margins.
  """
  rtol = ILL_CONDITIONED_RTOL if ill_conditioned else RTOL
  worst = assert_same_states(a['state'], b['state'], a['initial'], rtol)
  assert len(a['rows']) == len(b['rows'])
  for row_a, row_b in zip(a['rows'], b['rows']):
    for name in ('train_loss', 'test_student_entropy', 'test_kl_transformed_teacher'):
      if name in row_a:
        np.testing.assert_allclose(row_a[name], row_b[name], rtol=rtol, atol=1e-6, err_msg=name)
  return worst
