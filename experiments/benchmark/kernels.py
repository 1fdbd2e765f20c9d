"""``kernels``: XLA vs PyTorch on one convolution per stage shape and on each half of the step."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from experiments import timing
from experiments.benchmark import runner
from experiments.benchmark import torch as torch_section
from kdjax import steps as steps_lib

REQUIRES = (('torch', 'test'),)  # (package, the kdjax extra that installs it)


def _jit(fn: Callable[..., Any], precision: str) -> Callable[..., Any]:
  """``jax.jit(fn)`` traced under the trainer's matmul precision (``config.precision``)."""
  def wrapped(*args):
    with jax.default_matmul_precision(None if precision == 'default' else precision):
      return fn(*args)
  return jax.jit(wrapped)


def _conv_calls(batch: int, size: int, channels: int,
                precision: str) -> dict[str, Callable[[], Any]]:
  """One SAME 3x3 convolution ``[batch, size, size, channels] -> channels`` in XLA and PyTorch."""
  import torch  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  x = rng.standard_normal((batch, size, size, channels), np.float32)
  w = rng.standard_normal((3, 3, channels, channels), np.float32)
  conv = _jit(lambda x, w: jax.lax.conv_general_dilated(
      x, w, (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC')), precision)
  xj, wj = jnp.asarray(x), jnp.asarray(w)
  xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
  wt = torch.from_numpy(w).permute(3, 2, 0, 1).contiguous()

  def torch_conv():
    with torch.no_grad():
      return torch.nn.functional.conv2d(xt, wt, padding=1)

  return {'xla': lambda: conv(xj, wj), 'torch': torch_conv}


def _model_half_calls(name: str, batch: int, train_mode: bool,
                      setup: steps_lib.Setup) -> dict[str, Callable[[], Any]]:
  """Model ``name`` on a CIFAR batch in each framework: eval forward, or train forward+backward.

  The kdjax model is the trainer's (``kdjax.steps.create_model`` with the KD step's
  dtype, convolution slicing and precision).
  """
  import torch  # pylint: disable=g-import-not-at-top
  x = np.random.default_rng(0).standard_normal((batch, *runner.CIFAR_SHAPE), np.float32)
  module = steps_lib.create_model(name, runner.CIFAR_CLASSES, setup.compute_dtype,
                                  setup.conv_batch_chunks)
  variables = runner.random_teacher(name)
  reference = torch_section.torch_models().build(name, runner.CIFAR_CLASSES).train(train_mode)
  xj, xt = jnp.asarray(x), torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
  if not train_mode:
    forward = _jit(lambda v, x: module.apply(v, x, train=False), setup.precision)

    def torch_forward():
      with torch.no_grad():
        return reference(xt)
    return {'kdjax': lambda: forward(variables, xj), 'torch': torch_forward}

  def loss(params, batch_stats, x):
    logits, _ = module.apply({'params': params, 'batch_stats': batch_stats}, x, train=True,
                             mutable=['batch_stats'])
    return jnp.sum(logits)
  grad = _jit(jax.grad(loss), setup.precision)

  def torch_backward():
    reference.zero_grad(set_to_none=True)
    reference(xt).sum().backward()
  return {'kdjax': lambda: grad(variables['params'], variables['batch_stats'], xj),
          'torch': torch_backward}


def run(ctx: runner.Context) -> dict[str, Any]:
  """XLA vs PyTorch on one convolution per stage shape and on each half of the KD step."""
  o = ctx.options
  setup = ctx.runner('kd').setup
  convs = {}
  for size, channels in o.conv_shapes:
    times = timing.interleaved_times(_conv_calls(o.batch_size, size, channels, setup.precision),
                                     repeats=o.repeats, inner=o.inner)
    flops = 2 * o.batch_size * size * size * channels * channels * 9
    rows = timing.median_ratios(times, 'torch')
    convs[f'{size}x{size}x{channels}'] = {
        'gflops_per_s': {k: flops / r['median_s'] / 1e9 for k, r in rows.items()},
        'xla_over_torch_time': rows['xla']['ratio']}
  halves = {}
  for label, name, train_mode in (('teacher_forward_eval', o.teacher, False),
                                  ('student_forward_backward_train', o.student, True)):
    times = timing.interleaved_times(_model_half_calls(name, o.batch_size, train_mode, setup),
                                     repeats=o.repeats, inner=o.inner)
    rows = timing.median_ratios(times, 'torch')
    halves[label] = {'model': name, 'ms': {k: r['median_s'] * 1e3 for k, r in rows.items()},
                     'kdjax_over_torch_time': rows['kdjax']['ratio']}
  return {'batch_size': o.batch_size, 'precision': setup.precision,
          'conv_batch_chunks': setup.conv_batch_chunks, 'conv3x3': convs, 'step_halves': halves}


def report(k: dict[str, Any]) -> list[str]:
  lines = [f"\n[kernels] batch {k['batch_size']}: one 3x3 convolution, GFLOP/s (XLA vs "
           f"PyTorch), and each half of the step, ms"]
  lines += [f"conv {shape:<12} xla {r['gflops_per_s']['xla']:>7.1f}  torch "
            f"{r['gflops_per_s']['torch']:>7.1f}  time ratio {r['xla_over_torch_time']:.2f}"
            for shape, r in k['conv3x3'].items()]
  lines += [f"{label:<31}{r['model']:<12} kdjax {r['ms']['kdjax']:>8.1f}  torch "
            f"{r['ms']['torch']:>8.1f}  ratio {r['kdjax_over_torch_time']:.2f}"
            for label, r in k['step_halves'].items()]
  return lines
