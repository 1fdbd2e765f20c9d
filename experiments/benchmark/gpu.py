"""``gpu``: epoch time of the real loop per precision and dtype, fraction of peak, projection."""

from __future__ import annotations

import tempfile
from typing import Any

import jax

from experiments.benchmark import runner
from kdjax import train
from kdjax.data import sources

# Dense peak FLOP/s by device kind (vendor datasheets, SXM parts): float32 on the CUDA
# cores, TF32 and bfloat16 on the tensor cores.
PEAK_TFLOPS = {
    'H100': {'float32': 67.0, 'tf32': 494.7, 'bfloat16': 989.4},
    'H200': {'float32': 67.0, 'tf32': 494.7, 'bfloat16': 989.4},
    'A100': {'float32': 19.5, 'tf32': 156.0, 'bfloat16': 312.0},
}
# The peaks a float32 program may reach at each ``config.precision``: 'highest' is full
# float32; 'default' lets XLA run float32 convolutions and matmuls in TF32 on these GPUs;
# 'high' may use either.
FLOAT32_PEAKS = {'highest': ('float32',), 'high': ('float32', 'tf32'), 'default': ('tf32',)}
# The timed runs: config fields over the KD config (bfloat16 keeps the config's precision).
VARIANTS = {
    'float32_highest': {'compute_dtype': 'float32', 'precision': 'highest'},
    'float32_default': {'compute_dtype': 'float32', 'precision': 'default'},
    'bfloat16': {'compute_dtype': 'bfloat16'},
}


def peak_flops(device: Any, dtype: str, precision: str,
               override_tflops: float | None = None) -> dict[str, float] | None:
  """Peak FLOP/s of ``device`` for ``dtype`` at ``precision``, by kind (None: not in the table)."""
  if override_tflops:
    return {dtype: override_tflops * 1e12}
  kind = getattr(device, 'device_kind', '')
  for name, table in PEAK_TFLOPS.items():
    if name in kind:
      keys = FLOAT32_PEAKS[precision] if dtype == 'float32' else (dtype,)
      return {k: table[k] * 1e12 for k in keys}
  return None


def _variant(ctx: runner.Context, fields: dict[str, Any]) -> dict[str, Any]:
  """Trains ``gpu_epochs`` epochs of ``gpu_examples`` random CIFAR-shaped images with
  ``kdjax.train.train_and_evaluate`` (evaluating on as many test images); the last epoch is
  timed (the first compiles). FLOP/s = FLOPs of a full-batch step x images / batch size /
  train time."""
  o = ctx.options
  config = ctx.config('kd', **fields)
  config.update(smoke=True, smoke_examples=o.gpu_examples, smoke_steps=10**9,
                epochs=o.gpu_epochs, eval_batch_size=1000, checkpoint_every=o.gpu_epochs,
                checkpoint_keep=1)
  rows = []
  with tempfile.TemporaryDirectory() as workdir:
    train.train_and_evaluate(config, workdir, epoch_callback=lambda _, row: rows.append(row))
  row = rows[-1]
  step = runner.StepRunner(config, sources.open_source(config), ctx.teacher(config.teacher),
                           ctx.mesh)
  flops = step.flops()
  achieved = flops * (step.rows / config.batch_size) / row['epoch_train_seconds']
  peaks = peak_flops(jax.devices()[0], config.compute_dtype, config.precision, o.peak_tflops)
  return {
      'compute_dtype': config.compute_dtype, 'precision': config.precision,
      'steps_per_epoch': step.steps, 'epoch_train_seconds': row['epoch_train_seconds'],
      'eval_seconds': row['epoch_seconds'] - row['epoch_train_seconds'],
      'epoch_seconds': row['epoch_seconds'], 'train_images_per_s': row['train_images_per_second'],
      'flops_per_step': flops, 'achieved_tflops': achieved / 1e12,
      'fraction_of_peak': None if peaks is None else {k: achieved / v for k, v in peaks.items()},
      'projected_hours': row['epoch_seconds'] * o.projected_epochs / 3600,
      'final_train_loss': row['train_loss'], 'epochs_run': len(rows)}


def run(ctx: runner.Context) -> dict[str, Any]:
  """Each of ``VARIANTS`` on the benchmark's KD config; their epoch-time ratios."""
  backend = jax.default_backend()
  if backend != 'gpu' and not ctx.options.smoke:
    return {'skipped': f'no GPU (backend {backend}); run on a GPU machine'}
  device = jax.devices()[0]
  out: dict[str, Any] = {'device': str(device), 'device_kind': device.device_kind,
                         'variants': list(VARIANTS)}
  for name, fields in VARIANTS.items():
    out[name] = _variant(ctx, fields)
  epoch = {name: out[name]['epoch_train_seconds'] for name in VARIANTS}
  out['default_over_highest_epoch'] = epoch['float32_default'] / epoch['float32_highest']
  out['bf16_over_fp32_epoch'] = epoch['bfloat16'] / epoch['float32_highest']
  return out


def report(g: dict[str, Any]) -> list[str]:
  if 'skipped' in g:
    return [f"\n[gpu] skipped: {g['skipped']}"]
  lines = [f"\n[gpu] {g['device_kind']}: one epoch of the real loop, KD step "
           f"(precision / dtype)"]
  for name in g['variants']:
    r = g[name]
    lines.append(f"{name:<16} epoch {r['epoch_train_seconds']:.2f}s train "
                 f"({r['epoch_seconds']:.2f}s with eval), {r['achieved_tflops']:.2f} TFLOP/s, "
                 f"of peak {r['fraction_of_peak']}, 240 epochs {r['projected_hours']:.2f} h")
  lines.append(f"epoch time: float32 'default' / 'highest' {g['default_over_highest_epoch']:.3f}, "
               f"bfloat16 / float32 'highest' {g['bf16_over_fp32_epoch']:.3f}")
  return lines
