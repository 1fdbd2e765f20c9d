"""experiments.benchmark (the smoke run, every section) and experiments.timing (interleaving)."""

import json
import math
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from experiments import benchmark
from experiments import timing

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _positive(value):
  return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
  out = tmp_path_factory.mktemp('bench') / 'smoke.json'
  proc = subprocess.run([sys.executable, '-m', 'experiments.benchmark', '--smoke', f'--out={out}'],
                        cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(out) as f:
    return json.load(f), proc.stdout


def test_smoke_run_writes_every_section(smoke):
  results, stdout = smoke
  assert set(results['sections']) == set(benchmark.SECTIONS)
  assert results['meta']['options']['smoke'] is True
  assert len(results['meta']['load_average_start']) == 3
  for name, section in results['sections'].items():
    assert _positive(section['wall_seconds']), name
    assert len(section['load_average_before_after']) == 2, name
  for header in ('[methods]', '[torch]', '[kernels]', '[chunks]', '[pipeline]', '[dispatch]', '[cache]', '[gpu]',
                 '[bf16_accuracy]'):
    assert header in stdout


def test_smoke_methods_torch_and_dispatch_sections(smoke):
  s = smoke[0]['sections']
  rows = s['methods']['rows']
  assert set(rows) == {'kd', 'kd_maxlogit', 'kd_control'} and rows['kd']['ratio'] == 1.0
  assert all(_positive(r['ratio']) and _positive(r['images_per_s']) for r in rows.values())
  np.testing.assert_allclose(rows['kd_maxlogit']['ratio'],
                             rows['kd_maxlogit']['median_s'] / rows['kd']['median_s'])
  torch_rows = s['torch']['rows']
  assert set(torch_rows) == {'kdjax', 'kdjax_cached_teacher', 'torch', 'torch_compute_only'}
  np.testing.assert_allclose(s['torch']['kdjax_cached_teacher_speedup_vs_torch'],
                             torch_rows['torch']['median_s'] /
                             torch_rows['kdjax_cached_teacher']['median_s'])
  assert s['torch']['kdjax_speedup_vs_torch'] == torch_rows['torch']['ratio']
  assert _positive(s['torch']['kdjax_speedup_vs_torch_compute_only'])
  assert s['dispatch']['k'] == 2 and _positive(s['dispatch']['scan_over_separate'])
  assert _positive(s['dispatch']['scan_unrolled_over_separate'])


def test_smoke_chunks_section(smoke):
  c = smoke[0]['sections']['chunks']
  assert c['auto_chunks'] == 1 and c['chunks'] == [1, 2]  # CPU auto at batch 8: no slices.
  assert set(c['rows']) == {'step/1', 'cached_step/1', 'step/2', 'cached_step/2'}
  assert c['auto_over_whole_batch'] == {'step': 1.0, 'cached_step': 1.0}
  assert c['rows']['step/1']['ratio'] == 1.0 and _positive(c['rows']['cached_step/2']['ratio'])


def test_smoke_kernels_section(smoke):
  k = smoke[0]['sections']['kernels']
  conv = k['conv3x3']['8x8x16']  # The smoke shape.
  assert _positive(conv['gflops_per_s']['xla']) and _positive(conv['gflops_per_s']['torch'])
  np.testing.assert_allclose(conv['xla_over_torch_time'],
                             conv['gflops_per_s']['torch'] / conv['gflops_per_s']['xla'])
  for label in ('teacher_forward_eval', 'student_forward_backward_train'):
    half = k['step_halves'][label]
    np.testing.assert_allclose(half['kdjax_over_torch_time'],
                               half['ms']['kdjax'] / half['ms']['torch'])


def test_smoke_pipeline_cache_gpu_and_bf16_sections(smoke):
  s = smoke[0]['sections']
  cifar, imagenet = s['pipeline']['cifar_on_device'], s['pipeline']['imagenet_host']
  assert set(cifar['images_per_s']) == {'kd_step', 'train_view', 'strong_view'}
  np.testing.assert_allclose(cifar['train_view_headroom'],
                             cifar['images_per_s']['train_view'] / cifar['images_per_s']['kd_step'])
  assert _positive(imagenet['pipeline_images_per_s']) and _positive(imagenet['headroom'])
  cache = s['cache']['kd']
  assert _positive(cache['cached_over_uncached']) and cache['storage_dtype'] == 'float16'
  assert cache['epoch_bytes'] == 16 * 1 * 100 * 2  # rows x views x classes x float16
  for dtype in ('float32', 'bfloat16'):
    gpu = s['gpu'][dtype]
    assert gpu['steps_per_epoch'] == 2 and gpu['epochs_run'] == 2
    assert _positive(gpu['flops_per_step']) and _positive(gpu['projected_hours'])
    assert gpu['fraction_of_peak'] is None  # CPU: no peak in the table.
    assert math.isfinite(gpu['final_train_loss'])
  bf16 = s['bf16_accuracy']
  for dtype in ('float32', 'bfloat16'):
    assert 0.0 <= bf16[dtype]['best_top1_mean'] <= 100.0 and len(bf16[dtype]['runs']) == 1


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
  assert benchmark.peak_flops(h100, 'float32', None) == {'float32': 67e12, 'tf32': 494.7e12}
  assert benchmark.peak_flops(h100, 'bfloat16', None) == {'bfloat16': 989.4e12}
  assert benchmark.peak_flops(types.SimpleNamespace(device_kind='cpu'), 'float32', None) is None
  assert benchmark.peak_flops(h100, 'float32', 100.0) == {'float32': 100e12}


def test_torch_transform_is_pad_crop_flip_normalise():
  """Each output is ``normalise(crop of the zero-padded image)``, mirrored or not."""
  pytest.importorskip('torch')
  split = benchmark.synthetic_split(4)
  step = benchmark.TorchKDStep(benchmark.Options.smoke_options(), split)
  mean, std = (np.asarray(v, np.float32).reshape(3, 1, 1) for v in benchmark.data.stats('cifar100'))
  image = split.images[0].transpose(2, 0, 1)  # CHW uint8
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
