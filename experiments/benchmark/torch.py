"""``torch``: the kdjax KD step against the same step written the PyTorch way.

(This module is ``experiments.benchmark.torch``; ``import torch`` inside the
package still imports PyTorch, imports being absolute.)
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from experiments.benchmark import runner
from kdjax.data import sources

_TESTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'tests')

REQUIRES = (('torch', 'test'),)  # (package, the kdjax extra that installs it)


def torch_models() -> Any:
  """``tests/torch_models.py``, the PyTorch definitions of the kdjax models (imports torch)."""
  if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)
  import torch_models as module  # pylint: disable=g-import-not-at-top
  return module


class TorchKDStep:
  """The PyTorch way: eager models, per-example transforms, KD loss, SGD; a call is a step."""

  def __init__(self, options: runner.Options, source: sources.InMemorySource, *,
               with_data: bool = True):
    import torch  # pylint: disable=g-import-not-at-top
    models = torch_models()
    split = source.train
    self.torch, self.with_data = torch, with_data
    torch.manual_seed(0)
    self.student = models.build(options.student, split.num_classes).train()
    self.teacher = models.build(options.teacher, split.num_classes).eval()
    for p in self.teacher.parameters():
      p.requires_grad_(False)
    self.optimizer = torch.optim.SGD(self.student.parameters(), lr=0.05, momentum=0.9,
                                     weight_decay=5e-4)
    self.images = torch.from_numpy(split.images).permute(0, 3, 1, 2).contiguous()  # uint8 NCHW
    self.labels = torch.from_numpy(split.labels.astype(np.int64))
    self.mean = torch.tensor(source.mean).view(3, 1, 1)
    self.std = torch.tensor(source.std).view(3, 1, 1)
    self.generator = torch.Generator().manual_seed(0)
    self.batch_size, self.count = options.batch_size, 0
    self.order = torch.randperm(len(split), generator=self.generator)
    self.fixed_batch = self.batch(0)

  def transform(self, image):
    """``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip()``, ``Normalize`` on CHW uint8."""
    torch = self.torch
    height, width = image.shape[1:]
    padded = torch.nn.functional.pad(image, (4, 4, 4, 4))
    top, left = torch.randint(0, 9, (2,), generator=self.generator).tolist()
    crop = padded[:, top:top + height, left:left + width]
    if torch.rand(1, generator=self.generator).item() < 0.5:
      crop = crop.flip(-1)
    return (crop.float() / 255.0 - self.mean) / self.std

  def batch(self, step: int):
    start = (step * self.batch_size) % (len(self.order) - self.batch_size + 1)
    idx = self.order[start:start + self.batch_size]
    return self.torch.stack([self.transform(self.images[i]) for i in idx]), self.labels[idx]

  def __call__(self) -> None:
    torch, f = self.torch, self.torch.nn.functional
    x, y = self.batch(self.count) if self.with_data else self.fixed_batch
    self.count += 1
    with torch.no_grad():
      teacher_logits = self.teacher(x)
    logits = self.student(x)
    t = 4.0
    kd = f.kl_div(f.log_softmax(logits / t, dim=1), f.softmax(teacher_logits / t, dim=1),
                  reduction='batchmean') * t * t
    loss = 0.1 * f.cross_entropy(logits, y) + 0.9 * kd
    self.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    self.optimizer.step()


def run(ctx: runner.Context) -> dict[str, Any]:
  """kdjax KD step (and with cached teacher logits) vs the PyTorch step (with and without its
  data preparation)."""
  import torch  # pylint: disable=g-import-not-at-top
  o = ctx.options
  calls = {'kdjax': ctx.runner('kd'), 'kdjax_cached_teacher': ctx.cached_runner('kd')[0],
           'torch': TorchKDStep(o, ctx.source),
           'torch_compute_only': TorchKDStep(o, ctx.source, with_data=False)}
  rows = runner.timed_rows(calls, 'kdjax', repeats=o.repeats, inner=o.inner,
                           images_per_call=o.batch_size)
  return {'torch_version': torch.__version__, 'torch_threads': torch.get_num_threads(),
          'rows': rows, 'kdjax_speedup_vs_torch': rows['torch']['ratio'],
          'kdjax_speedup_vs_torch_compute_only': rows['torch_compute_only']['ratio'],
          'kdjax_cached_teacher_speedup_vs_torch': (rows['torch']['ratio'] /
                                                   rows['kdjax_cached_teacher']['ratio'])}


def report(t: dict[str, Any]) -> list[str]:
  lines = [f"\n[torch] torch {t['torch_version']} ({t['torch_threads']} threads)"]
  lines += [f"{name:<20}{r['images_per_s']:>9.1f} img/s  {r['median_s'] * 1e3:>9.1f} ms/step"
            for name, r in t['rows'].items()]
  lines.append(f"kdjax speed-up: {t['kdjax_speedup_vs_torch']:.2f}x over the PyTorch step, "
               f"{t['kdjax_speedup_vs_torch_compute_only']:.2f}x over its compute alone; "
               f"with cached teacher logits {t['kdjax_cached_teacher_speedup_vs_torch']:.2f}x")
  return lines
