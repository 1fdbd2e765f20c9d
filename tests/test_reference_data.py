"""Data equivalence: kdjax's train and eval transforms give the reference pipelines' pixels.

The references train with torchvision transforms (mdistiller / RepDistiller
``get_cifar100_dataloaders``: ``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip()``,
``ToTensor()``, ``Normalize(mean, std)``; mdistiller ``mdistiller/dataset/imagenet.py``:
``RandomResizedCrop(224)`` + ``RandomHorizontalFlip()`` for training, ``Resize(256)`` +
``CenterCrop(224)`` for evaluation, PIL images, bilinear interpolation). torchvision is not a
dependency, so the reference geometry is written here from torchvision's documented semantics
(``RandomCrop.get_params``, ``RandomResizedCrop.get_params``, ``F.resize``'s short-side rule,
``F.center_crop``'s rounding), on PIL / numpy / torch, and given the SAME random decisions as
kdjax (crop offsets and flips for CIFAR; the recorded uniform draws for ImageNet).

Tolerances: the geometric steps are integer operations on uint8 (and PIL's own resize on both
sides), so crops are compared exactly; the normalised images are
``(x / 255 - mean) / std`` in float32 on both sides, the same operations in the same order, so
they agree to float32 rounding of values of magnitude < 3: atol 1e-6.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from PIL import Image

from kdjax.data import augment
from kdjax.data import batching
from kdjax.data import imagenet
from kdjax.data import sources
from kdjax.data.arrays import ArrayDataset
from tests import reference_step as rs

pytestmark = pytest.mark.reference_step
NORMALISED_ATOL = 1e-6  # float32 rounding of (x / 255 - mean) / std (module docstring)


# ----------------------------------------------------------------------------- CIFAR
def reference_cifar_train(image: np.ndarray, top: int, left: int, flip: bool) -> torch.Tensor:
  """torchvision ``RandomCrop(32, padding=4)`` (zero fill) at ``(top, left)`` of the padded
  image, ``RandomHorizontalFlip`` decision ``flip``, ``ToTensor``, ``Normalize``."""
  padded = np.pad(image, ((4, 4), (4, 4), (0, 0)), mode='constant', constant_values=0)
  crop = padded[top:top + 32, left:left + 32]
  if flip:
    crop = crop[:, ::-1]
  return rs.torch_images(crop[None], rs.CIFAR_MEAN, rs.CIFAR_STD)[0]


def test_cifar_train_view_is_the_reference_crop_flip_normalise():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
  keys = batching.example_keys(3, 2, 1, 16)
  offsets, flips = (np.asarray(a) for a in jax.jit(
      lambda k: augment.crop_flip_params(k, padding=4))(keys))
  # The draws span torchvision's range: offsets in [0, 2 * padding], both flip decisions.
  assert offsets.min() >= 0 and offsets.max() <= 8 and 0 < flips.sum() < 16
  ours = np.asarray(jax.jit(lambda k, x: augment.train_view(k, x, rs.CIFAR_MEAN, rs.CIFAR_STD))(
      keys, jnp.asarray(images)))
  for i in range(16):
    expected = reference_cifar_train(images[i], *offsets[i], bool(flips[i]))
    np.testing.assert_allclose(ours[i], expected.permute(1, 2, 0).numpy(), rtol=0,
                               atol=NORMALISED_ATOL, err_msg=f'example {i}')
  # Every corner and the flip, given explicitly (the edges of the zero padding).
  corners = np.array([[0, 0], [0, 8], [8, 0], [8, 8], [4, 4]], np.int32)
  for flip in (False, True):
    crops = np.asarray(jax.jit(lambda x, o, f: augment.apply_crop_flip(x, o, f, padding=4))(
        jnp.asarray(images[:5]), jnp.asarray(corners), jnp.full((5,), flip)))
    for i, (top, left) in enumerate(corners):
      padded = np.pad(images[i], ((4, 4), (4, 4), (0, 0)))
      expected = padded[top:top + 32, left:left + 32]
      np.testing.assert_array_equal(crops[i], expected[:, ::-1] if flip else expected)


def test_cifar_eval_view_is_the_reference_normalise():
  images = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
  ours = np.asarray(augment.test_view(jnp.asarray(images), rs.CIFAR_MEAN, rs.CIFAR_STD))
  expected = rs.torch_images(images, rs.CIFAR_MEAN, rs.CIFAR_STD).permute(0, 2, 3, 1).numpy()
  np.testing.assert_allclose(ours, expected, rtol=0, atol=NORMALISED_ATOL)


# ----------------------------------------------------------------------------- ImageNet
class _Recorder:
  """A ``np.random.Generator`` stand-in that records every draw kdjax's transform makes."""

  def __init__(self, seed: int):
    self.rng, self.draws = np.random.default_rng(seed), []

  def uniform(self, low, high):
    value = float(self.rng.uniform(low, high))
    self.draws.append(('uniform', (low, high), value))
    return value

  def integers(self, low, high):
    value = int(self.rng.integers(low, high))
    self.draws.append(('integers', (low, high), value))
    return value

  def random(self):
    value = float(self.rng.random())
    self.draws.append(('random', (), value))
    return value


class _Replay:
  """The recorded draws, served in torchvision's order (``uniform_``, ``randint``, ``rand``);
  each served draw must have the reference's distribution arguments."""

  def __init__(self, draws):
    self.draws = list(draws)

  def _next(self, kind, args):
    recorded_kind, recorded_args, value = self.draws.pop(0)
    assert (recorded_kind, tuple(np.round(recorded_args, 12))) == (kind, tuple(
        np.round(args, 12))), ((recorded_kind, recorded_args), (kind, args))
    return value

  def uniform(self, low, high):
    return self._next('uniform', (low, high))

  def randint(self, low, high):  # torch.randint(low, high): high exclusive
    return self._next('integers', (low, high))

  def rand(self):
    return self._next('random', ())


def reference_random_resized_crop_params(height, width, draws, scale=(0.08, 1.0),
                                         ratio=(3.0 / 4.0, 4.0 / 3.0)):
  """torchvision ``RandomResizedCrop.get_params``: ``(i, j, h, w)``."""
  area = height * width
  log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
  for _ in range(10):
    target_area = area * draws.uniform(scale[0], scale[1])
    aspect_ratio = math.exp(draws.uniform(log_ratio[0], log_ratio[1]))
    w = int(round(math.sqrt(target_area * aspect_ratio)))
    h = int(round(math.sqrt(target_area / aspect_ratio)))
    if 0 < w <= width and 0 < h <= height:
      i = draws.randint(0, height - h + 1)
      j = draws.randint(0, width - w + 1)
      return i, j, h, w
  in_ratio = float(width) / float(height)  # fallback: the central crop
  if in_ratio < min(ratio):
    w = width
    h = int(round(w / min(ratio)))
  elif in_ratio > max(ratio):
    h = height
    w = int(round(h * max(ratio)))
  else:
    w, h = width, height
  return (height - h) // 2, (width - w) // 2, h, w


def reference_imagenet_train(image: np.ndarray, draws, size: int) -> np.ndarray:
  """``RandomResizedCrop(size)`` (PIL crop + bilinear resize) + ``RandomHorizontalFlip``."""
  i, j, h, w = reference_random_resized_crop_params(*image.shape[:2], draws)
  pil = Image.fromarray(image).crop((j, i, j + w, i + h)).resize((size, size), Image.BILINEAR)
  if draws.rand() < 0.5:
    pil = pil.transpose(Image.FLIP_LEFT_RIGHT)
  return np.asarray(pil)


def reference_imagenet_eval(image: np.ndarray, size: int, resize: int) -> np.ndarray:
  """``Resize(resize)`` (short side, torchvision's output-size rule, bilinear) +
  ``CenterCrop(size)`` (``int(round((H - size) / 2))`` offsets)."""
  height, width = image.shape[:2]
  short, long = (width, height) if width <= height else (height, width)
  new_short, new_long = resize, int(resize * long / short)
  new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
  pil = Image.fromarray(image).resize((new_w, new_h), Image.BILINEAR)
  top = int(round((new_h - size) / 2.0))
  left = int(round((new_w - size) / 2.0))
  return np.asarray(pil.crop((left, top, left + size, top + size)))


# Images of varied shapes: landscape, portrait, square, and extreme aspect ratios (whose
# random boxes fail the ten tries often, reaching torchvision's central-crop fallback).
SHAPES = [(48, 64), (80, 40), (50, 50), (12, 200), (200, 12), (37, 61)]


@pytest.mark.parametrize('shape', SHAPES, ids=[f'imagenet_train_{h}x{w}' for h, w in SHAPES])
def test_imagenet_train_transform_is_the_reference_random_resized_crop(shape):
  rng = np.random.default_rng(sum(shape))
  image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
  for trial in range(20):
    recorder = _Recorder(trial)
    ours = imagenet.train_transform(image, recorder, image_size=32)
    replay = _Replay(recorder.draws)
    expected = reference_imagenet_train(image, replay, 32)
    assert not replay.draws, 'kdjax drew more random numbers than the reference'
    np.testing.assert_array_equal(ours, expected, err_msg=f'trial {trial}')


def test_imagenet_random_resized_crop_reaches_the_fallback_like_the_reference():
  """The central-crop fallback (after ten failed tries) on an extreme aspect ratio."""
  class Failing(_Recorder):
    def uniform(self, low, high):  # area fraction 1, ratio at the far end: never fits
      value = high
      self.draws.append(('uniform', (low, high), value))
      return value

  for shape in ((12, 200), (200, 12)):
    recorder = Failing(0)
    box = imagenet.random_resized_crop_box(*shape, recorder)
    assert len(recorder.draws) == 20  # ten failed tries, two draws each
    assert box == reference_random_resized_crop_params(*shape, _Replay(recorder.draws))
    height, width = shape
    top, left, crop_h, crop_w = box  # the central crop with the ratio clamped to [3/4, 4/3]
    assert (top, left) == ((height - crop_h) // 2, (width - crop_w) // 2)
    assert min(crop_h, crop_w) == min(shape)


@pytest.mark.parametrize('shape', SHAPES + [(300, 260)],
                         ids=[f'imagenet_eval_{h}x{w}' for h, w in SHAPES + [(300, 260)]])
def test_imagenet_eval_transform_is_the_reference_resize_center_crop(shape):
  image = np.random.default_rng(sum(shape) + 1).integers(0, 256, (*shape, 3), dtype=np.uint8)
  for size, resize in ((32, 36), (224, 256)):
    ours = imagenet.eval_transform(image, image_size=size, resize_size=resize)
    np.testing.assert_array_equal(ours, reference_imagenet_eval(image, size, resize))


def test_imagenet_step_normalisation_is_the_reference_normalise():
  """The step normalises the host's uint8 crops (``Views.train`` with ``on_device=False``)."""
  source = rs.imagenet_source(4, 32, seed=5)
  views = source.views(strong=False, strong_crop='independent')
  batch = {k: jnp.asarray(v) for k, v in source.batch(np.arange(4)).items()}
  weak, _, labels = views.train({}, batch, batching.example_keys(0, 1, 0, 4), jnp.float32)
  expected = rs.torch_images(source.images, rs.IMAGENET_MEAN, rs.IMAGENET_STD)
  np.testing.assert_allclose(np.asarray(weak), expected.permute(0, 2, 3, 1).numpy(), rtol=0,
                             atol=NORMALISED_ATOL)
  np.testing.assert_array_equal(np.asarray(labels), source.labels)


# ----------------------------------------------------------------------------- shuffling
@pytest.mark.parametrize('num_examples,batch', [(21, 8), (24, 8), (5, 8)],
                         ids=['epoch_partial_last_batch', 'epoch_full_batches',
                              'epoch_single_partial_batch'])
def test_every_epoch_visits_every_example_exactly_once(num_examples, batch):
  """``epoch_permutation`` + ``batch_indices`` (and the in-memory source's batches) cover the
  training set once per epoch, the last partial batch included, in a new order each epoch
  (the references' ``DataLoader(shuffle=True, drop_last=False)``)."""
  images = np.zeros((num_examples, 4, 4, 3), np.uint8)
  labels = np.zeros((num_examples,), np.int32)
  data = ArrayDataset(images, labels, 1, 'tiny/train')
  source = sources.InMemorySource(data, data, (0.5,) * 3, (0.5,) * 3)
  steps = batching.num_batches(num_examples, batch)
  orders = []
  for epoch in (1, 2, 3):
    got = [b['index'] for b in source.train_batches(7, epoch, steps, 0, batch, rs.mesh())]
    assert [len(b) for b in got] == [batch] * (steps - 1) + [num_examples - (steps - 1) * batch]
    seen = np.concatenate(got)
    np.testing.assert_array_equal(np.sort(seen), np.arange(num_examples))
    perm = batching.epoch_permutation(7, epoch, num_examples)
    np.testing.assert_array_equal(seen, perm)
    orders.append(tuple(seen))
  if num_examples > 3:
    assert len(set(orders)) == 3  # reshuffled every epoch
