"""experiments.benchmark (the smoke run, every section; the runner memo) and experiments.timing."""

import json
import math
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from experiments import timing
from experiments.benchmark import SECTIONS
from experiments.benchmark import gpu
from experiments.benchmark import runner

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATIO_WORDS = ('ratio', '_over_', 'headroom', 'speedup')


def _positive(value):
  return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def _ratios(tree, path=''):
  """``(path, value)`` of every ratio in a section's results (keys naming a ratio)."""
  if isinstance(tree, dict):
    for key, value in tree.items():
      if any(word in key for word in RATIO_WORDS) and not isinstance(value, (dict, list)):
        yield f'{path}/{key}', value
      yield from _ratios(value, f'{path}/{key}')


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
  out = tmp_path_factory.mktemp('bench') / 'smoke.json'
  proc = subprocess.run([sys.executable, '-m', 'experiments.benchmark', '--smoke', f'--out={out}'],
                        cwd=REPO, capture_output=True, text=True, timeout=900, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(out) as f:
    return json.load(f), proc.stdout


@pytest.mark.slow
def test_smoke_run_writes_every_section(smoke):
  results, stdout = smoke
  assert list(results['sections']) == list(SECTIONS)
  assert results['meta']['options']['smoke'] is True
  assert len(results['meta']['load_average_start']) == 3
  for name, section in results['sections'].items():
    assert _positive(section['wall_seconds']), name
    assert len(section['load_average_before_after']) == 2, name
  for name in SECTIONS:
    assert f'[{name}]' in stdout


@pytest.mark.slow
def test_smoke_ratios_are_positive_and_finite(smoke):
  ratios = dict(_ratios(smoke[0]['sections']))
  for section in ('methods', 'torch', 'kernels', 'chunks', 'pipeline', 'dispatch', 'cache', 'gpu'):
    assert any(path.startswith(f'/{section}/') for path in ratios), section  # each has some
  bad = {path: value for path, value in ratios.items() if not _positive(value)}
  assert not bad


@pytest.mark.slow
def test_smoke_methods_torch_and_dispatch_sections(smoke):
  s = smoke[0]['sections']
  rows = s['methods']['rows']
  assert set(rows) == {'kd', 'kd_maxlogit', 'kd_control'} and rows['kd']['ratio'] == 1.0
  assert all(_positive(r['images_per_s']) for r in rows.values())
  np.testing.assert_allclose(rows['kd_maxlogit']['ratio'],
                             rows['kd_maxlogit']['median_s'] / rows['kd']['median_s'])
  torch_rows = s['torch']['rows']
  assert set(torch_rows) == {'kdjax', 'kdjax_cached_teacher', 'torch', 'torch_compute_only'}
  np.testing.assert_allclose(s['torch']['kdjax_cached_teacher_speedup_vs_torch'],
                             torch_rows['torch']['median_s'] /
                             torch_rows['kdjax_cached_teacher']['median_s'])
  assert s['torch']['kdjax_speedup_vs_torch'] == torch_rows['torch']['ratio']
  assert s['dispatch']['k'] == 2 and set(s['dispatch']['per_step_s']) == {
      'separate', 'scan', 'scan_unrolled'}


@pytest.mark.slow
def test_smoke_chunks_section(smoke):
  c = smoke[0]['sections']['chunks']
  assert c['auto_chunks'] == 1 and c['chunks'] == [1, 2]  # CPU auto at batch 8: no slices.
  assert set(c['rows']) == {'step/1', 'cached_step/1', 'step/2', 'cached_step/2'}
  assert c['auto_over_whole_batch'] == {'step': 1.0, 'cached_step': 1.0}
  assert c['rows']['step/1']['ratio'] == 1.0
  assert isinstance(c['models_slice_convolutions'], bool)


@pytest.mark.slow
def test_smoke_kernels_section(smoke):
  k = smoke[0]['sections']['kernels']
  conv = k['conv3x3']['8x8x16']  # The smoke shape.
  assert _positive(conv['gflops_per_s']['xla']) and _positive(conv['gflops_per_s']['torch'])
  np.testing.assert_allclose(conv['xla_over_torch_time'],
                             conv['gflops_per_s']['torch'] / conv['gflops_per_s']['xla'])
  assert k['precision'] == 'highest'
  for label in ('teacher_forward_eval', 'student_forward_backward_train'):
    half = k['step_halves'][label]
    np.testing.assert_allclose(half['kdjax_over_torch_time'],
                               half['ms']['kdjax'] / half['ms']['torch'])


@pytest.mark.slow
def test_smoke_pipeline_and_cache_sections(smoke):
  s = smoke[0]['sections']
  cifar, imagenet = s['pipeline']['cifar_on_device'], s['pipeline']['imagenet_host']
  assert set(cifar['images_per_s']) == {'kd_step', 'train_view', 'strong_view'}
  np.testing.assert_allclose(cifar['train_view_headroom'],
                             cifar['images_per_s']['train_view'] / cifar['images_per_s']['kd_step'])
  assert _positive(imagenet['pipeline_images_per_s']) and _positive(imagenet['headroom'])
  cache = s['cache']['kd']
  assert cache['storage_dtype'] == 'float16'
  assert cache['epoch_bytes'] == 16 * 1 * 100 * 2  # rows x views x classes x float16
  assert _positive(cache['fill_seconds_per_step'])


@pytest.mark.slow
def test_smoke_gpu_section_times_each_precision_and_bfloat16(smoke):
  g = smoke[0]['sections']['gpu']
  assert g['variants'] == ['float32_highest', 'float32_default', 'bfloat16']
  assert [(g[v]['compute_dtype'], g[v]['precision']) for v in g['variants']] == [
      ('float32', 'highest'), ('float32', 'default'), ('bfloat16', 'highest')]
  for name in g['variants']:
    r = g[name]
    assert r['steps_per_epoch'] == 2 and r['epochs_run'] == 2
    assert _positive(r['flops_per_step']) and _positive(r['projected_hours'])
    assert _positive(r['epoch_seconds']) and r['eval_seconds'] >= 0
    assert r['fraction_of_peak'] is None  # CPU: no peak in the table.
    assert math.isfinite(r['final_train_loss'])
  np.testing.assert_allclose(g['default_over_highest_epoch'],
                             g['float32_default']['epoch_train_seconds'] /
                             g['float32_highest']['epoch_train_seconds'])


@pytest.mark.slow
def test_smoke_bf16_accuracy_section(smoke):
  bf16 = smoke[0]['sections']['bf16_accuracy']
  for dtype in ('float32', 'bfloat16'):
    runs = bf16[dtype]['runs']
    assert 0.0 <= bf16[dtype]['last_top1_mean'] <= 100.0 and len(runs) == 1
    assert bf16[dtype]['last_top1_mean'] == runs[0]['last_top1']


def test_context_memoises_runners_by_config():
  """A second request for a runner (or a cached-teacher runner) returns the same object."""
  ctx = runner.Context.create(runner.Options.smoke_options())
  kd = ctx.runner('kd')
  assert ctx.runner('kd') is kd
  assert ctx.runner('kd', conv_batch_chunks=kd.setup.conv_batch_chunks) is kd  # auto resolved
  cached, costs = ctx.cached_runner('kd')
  assert cached is not kd and cached.cached is not None and costs['storage_dtype'] == 'float16'
  assert ctx.cached_runner('kd')[0] is cached
  assert len(ctx.runners) == 1 and len(ctx.cached_runners) == 1
  # Whatever the runner depends on is in the key.
  key = ctx.memo_key(ctx.config('kd'))
  for other in (ctx.config('kd', precision='default'), ctx.config('kd', compute_dtype='bfloat16'),
                ctx.config('kd', conv_batch_chunks=2), ctx.config('kd', seed=1),
                ctx.config('kd_maxlogit')):
    assert ctx.memo_key(other) != key


def test_interleaved_times_runs_rounds_in_turn():
  order = []
  calls = {name: (lambda name=name: order.append(name)) for name in ('a', 'b', 'c')}
  times = timing.interleaved_times(calls, repeats=3, inner=2, warmup=1)
  assert order == (['a', 'b', 'c'] + ['a', 'a', 'b', 'b', 'c', 'c'] + ['b', 'b', 'c', 'c', 'a', 'a']
                   + ['c', 'c', 'a', 'a', 'b', 'b'])
  assert {k: len(v) for k, v in times.items()} == {'a': 3, 'b': 3, 'c': 3}
  with pytest.raises(ValueError, match='repeats'):
    timing.interleaved_times(calls, repeats=0, inner=1)


def test_median_ratios():
  rows = timing.median_ratios({'ref': [2.0, 1.0, 9.0], 'x': [3.0, 3.0, 1.0]}, 'ref')
  assert rows['ref'] == {'median_s': 2.0, 'ratio': 1.0}
  assert rows['x'] == {'median_s': 3.0, 'ratio': 1.5}
  with pytest.raises(KeyError, match='reference'):
    timing.median_ratios({'x': [1.0]}, 'ref')


def test_peak_flops_table():
  h100 = types.SimpleNamespace(device_kind='NVIDIA H100 80GB HBM3')
  assert gpu.peak_flops(h100, 'float32', 'highest') == {'float32': 67e12}
  assert gpu.peak_flops(h100, 'float32', 'default') == {'tf32': 494.7e12}
  assert gpu.peak_flops(h100, 'float32', 'high') == {'float32': 67e12, 'tf32': 494.7e12}
  assert gpu.peak_flops(h100, 'bfloat16', 'highest') == {'bfloat16': 989.4e12}
  assert gpu.peak_flops(types.SimpleNamespace(device_kind='cpu'), 'float32', 'highest') is None
  assert gpu.peak_flops(h100, 'float32', 'default', 100.0) == {'float32': 100e12}


def test_torch_transform_is_pad_crop_flip_normalise():
  """Each output is ``normalise(crop of the zero-padded image)``, mirrored or not."""
  pytest.importorskip('torch')
  from experiments.benchmark import torch as torch_section  # pylint: disable=g-import-not-at-top
  source = runner.synthetic_source(4)
  step = torch_section.TorchKDStep(runner.Options.smoke_options(), source)
  mean, std = (np.asarray(v, np.float32).reshape(3, 1, 1) for v in (source.mean, source.std))
  image = source.train.images[0].transpose(2, 0, 1)  # CHW uint8
  padded = np.pad(image, ((0, 0), (4, 4), (4, 4))).astype(np.float32)
  seen = set()
  for _ in range(40):
    out = step.transform(step.images[0]).numpy()
    matches = [(top, left, flip) for top in range(9) for left in range(9) for flip in (0, 1)
               if np.allclose(out, (((padded[:, top:top + 32, left:left + 32][..., ::-1]
                                      if flip else padded[:, top:top + 32, left:left + 32])
                                     / 255.0 - mean) / std), atol=1e-5)]
    assert matches, 'output is no normalised crop of the padded image'
    seen.update(m[2] for m in matches)
  assert seen == {0, 1}  # Both mirrored and plain crops occur.
