"""On-device augmentation of uint8 NHWC batches, one PRNG key per example.

Every function is pure and jittable; each example is transformed by its own key
(vmapped), so results do not depend on the batch the example sits in.

- `crop_flip`: CIFAR's train transform (zero-pad 4, random 32x32 crop, flip p=0.5).
- `randaugment` (from `image_ops.py`) and `cutout`: MLKD's strong view.
- `normalize`: `(x / 255 - mean) / std`.
- `train_view`, `strong_view`, `test_view`: the full per-view transforms.
- `mix_params`, `mix_images`, `mix_targets`: timm's Mixup/CutMix in batch mode (soft targets).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from kdjax.data.image_ops import randaugment

CUTOUT_FILL = (125, 123, 114)
# Sub-streams of an example key used by `strong_view`.
_RANDAUGMENT_STREAM = 1
_CUTOUT_STREAM = 2
_STRONG_CROP_STREAM = 3


def _check_batch(keys: jax.Array, images: jax.Array, name: str) -> None:
  if images.ndim != 4 or images.dtype != jnp.uint8:
    raise ValueError(
        f'{name} expects uint8 [B, H, W, C] images, got {images.dtype} {images.shape}.')
  num_keys = keys.shape[0] if keys.ndim else 0
  if num_keys != images.shape[0]:
    raise ValueError(
        f'{name}: {num_keys} keys for {images.shape[0]} images; pass one key per '
        f'example (e.g. kdjax.data.example_keys).')


def fold_keys(keys: jax.Array, stream: int) -> jax.Array:
  """`fold_in(key, stream)` for each key: an independent sub-stream per example."""
  return jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, stream)


def crop_flip_params(keys: jax.Array, *, padding: int = 4) -> tuple[jax.Array, jax.Array]:
  """The crop offsets and flips `crop_flip` draws.

  Returns:
    `(offsets int32 [B, 2], flips bool [B])`: the crop's top-left corner
    `(row, col)` in the padded image, uniform in `[0, 2 * padding]`, and whether
    to mirror left-right (p = 0.5).
  """
  def draw(key):
    offset_key, flip_key = jax.random.split(key)
    offsets = jax.random.randint(offset_key, (2,), 0, 2 * padding + 1)
    return offsets, jax.random.bernoulli(flip_key)

  return jax.vmap(draw)(keys)


def apply_crop_flip(images: jax.Array, offsets: jax.Array, flips: jax.Array, *,
                    padding: int = 4) -> jax.Array:
  """Zero-pads each image by `padding`, crops `[H, W]` at `offsets`, mirrors if `flips`."""
  def one(image, offset, flip):
    padded = jnp.pad(image, ((padding, padding), (padding, padding), (0, 0)))
    crop = lax.dynamic_slice(padded, (offset[0], offset[1], 0), image.shape)
    return jnp.where(flip, crop[:, ::-1], crop)

  return jax.vmap(one)(images, offsets, flips)


def crop_flip(keys: jax.Array, images: jax.Array, *, padding: int = 4,
              flip: bool = True) -> jax.Array:
  """CIFAR's `RandomCrop(32, padding=4)` + `RandomHorizontalFlip()` on uint8 NHWC.

  Args:
    keys: `[B]` PRNG keys (typed, or raw uint32 `[B, 2]`).
    images: uint8 `[B, H, W, C]`.
    padding: zero padding on each side before the crop.

  Returns:
    uint8 `[B, H, W, C]`.
  """
  _check_batch(keys, images, 'crop_flip')
  offsets, flips = crop_flip_params(keys, padding=padding)
  return apply_crop_flip(images, offsets, flips & flip, padding=padding)


def normalize(images: jax.Array, mean: Sequence[float], std: Sequence[float],
              dtype=jnp.float32) -> jax.Array:
  """`(images / 255 - mean) / std` per channel, computed in float32, returned as `dtype`."""
  mean = jnp.asarray(mean, jnp.float32)
  std = jnp.asarray(std, jnp.float32)
  if mean.shape != (images.shape[-1],) or std.shape != (images.shape[-1],):
    raise ValueError(
        f'normalize: mean {mean.shape} and std {std.shape} must have one entry per '
        f'channel ({images.shape[-1]}).')
  return ((images.astype(jnp.float32) / 255.0 - mean) / std).astype(dtype)


def cutout_params(keys: jax.Array, height: int, width: int, *,
                  max_fraction: float = 0.5) -> tuple[jax.Array, jax.Array, jax.Array]:
  """The square side and centre `cutout` draws for each key.

  As in the release: side `v = u * max_fraction * W`, and centre coordinates
  `np.random.uniform(W)`, i.e. `uniform(low=W, high=1)`: uniform in `(1, W]`.

  Returns:
    `(side, centre_x, centre_y)`, float32 `[B]` each.
  """
  def draw(key):
    side_key, x_key, y_key = jax.random.split(key, 3)
    side = jax.random.uniform(side_key) * max_fraction * width
    centre_x = width - (width - 1) * jax.random.uniform(x_key)
    centre_y = height - (height - 1) * jax.random.uniform(y_key)
    return side, centre_x, centre_y

  return jax.vmap(draw)(keys)


def cutout_mask(side, centre_x, centre_y, height: int, width: int) -> jax.Array:
  """Bool `[H, W]`: the rectangle the release's `CutoutAbs` paints for one image.

  `x0 = int(max(0, cx - v / 2))`, `x1 = min(W, x0 + v)` (same for y), and
  `ImageDraw.rectangle((x0, y0, x1, y1))` fills columns `x0..int(x1)` and rows
  `y0..int(y1)` inclusive, clipped to the image; nothing when `v <= 0`.
  """
  x0 = jnp.floor(jnp.maximum(0.0, centre_x - side / 2))
  y0 = jnp.floor(jnp.maximum(0.0, centre_y - side / 2))
  x1 = jnp.floor(jnp.minimum(float(width), x0 + side))
  y1 = jnp.floor(jnp.minimum(float(height), y0 + side))
  rows = jnp.arange(height, dtype=jnp.float32)[:, None]
  cols = jnp.arange(width, dtype=jnp.float32)[None, :]
  return ((rows >= y0) & (rows <= y1) & (cols >= x0) & (cols <= x1)) & (side > 0)


def cutout(keys: jax.Array, images: jax.Array, *, max_fraction: float = 0.5,
           fill: Sequence[int] = CUTOUT_FILL) -> jax.Array:
  """Paints a random square of side `uniform(0, max_fraction) * W` with `fill`.

  Args:
    keys: `[B]` PRNG keys.
    images: uint8 `[B, H, W, C]`.
    max_fraction: the side's upper bound as a fraction of the width.
    fill: the colour, one value per channel (the release's (125, 123, 114)).

  Returns:
    uint8 `[B, H, W, C]`.
  """
  _check_batch(keys, images, 'cutout')
  height, width, channels = images.shape[1:]
  fill = jnp.asarray(fill, jnp.uint8)
  if fill.shape != (channels,):
    raise ValueError(f'cutout: fill {fill.shape} must have one value per channel ({channels}).')
  sides, xs, ys = cutout_params(keys, height, width, max_fraction=max_fraction)

  def one(image, side, x, y):
    mask = cutout_mask(side, x, y, height, width)
    return jnp.where(mask[..., None], fill, image)

  return jax.vmap(one)(images, sides, xs, ys)


def train_view(keys: jax.Array, images: jax.Array, mean: Sequence[float],
               std: Sequence[float], *, padding: int = 4, flip: bool = True,
               dtype=jnp.float32) -> jax.Array:
  """The weak (standard) train view: `normalize(crop_flip(keys, images))`.

  `padding` and `flip` are CIFAR's (4, True) by default; the digits main job uses a
  smaller shift and no mirroring (a mirrored digit is another symbol).
  """
  return normalize(crop_flip(keys, images, padding=padding, flip=flip), mean, std, dtype)


STRONG_CROPS = ('independent', 'shared', 'none')


def strong_view(keys: jax.Array, images: jax.Array, mean: Sequence[float],
                std: Sequence[float], *, crop: str = 'independent', num_ops: int = 2,
                padding: int = 4, flip: bool = True, dtype=jnp.float32) -> jax.Array:
  """MLKD's strong view: crop+flip, RandAugment (`num_ops` ops), Cutout, normalise.

  Both MLKD releases (Jin-Ying/Multi-Level-Logit-Distillation and the LS
  repository's copy) build the strong view with its own `RandomCrop` +
  `RandomHorizontalFlip`, drawn independently of the weak view's.

  Args:
    keys: the SAME `[B]` keys as the weak view's `train_view`.
    images: uint8 `[B, H, W, 3]`.
    mean, std: per-channel normalisation constants.
    crop: `'independent'` (default, as released) draws the crop and flip from
      the key sub-stream 3; `'shared'` reuses the weak view's (`crop_flip(keys)`);
      `'none'` takes `images` as already cropped (the ImageNet host pipeline
      makes the strong view's random-resized crop).
    num_ops: RandAugment operations per image.
    dtype: output dtype.

  Returns:
    `[B, H, W, 3]` normalised images. RandAugment and Cutout use the key
    sub-streams `fold_in(key, 1)` and `fold_in(key, 2)`.
  """
  if crop not in STRONG_CROPS:
    raise ValueError(f'strong_view: crop must be one of {STRONG_CROPS}, got {crop!r}.')
  x = images
  if crop != 'none':
    x = crop_flip(keys if crop == 'shared' else fold_keys(keys, _STRONG_CROP_STREAM), x,
                  padding=padding, flip=flip)
  x = randaugment(fold_keys(keys, _RANDAUGMENT_STREAM), x, num_ops=num_ops)
  x = cutout(fold_keys(keys, _CUTOUT_STREAM), x)
  return normalize(x, mean, std, dtype)


def test_view(images: jax.Array, mean: Sequence[float], std: Sequence[float], *,
              dtype=jnp.float32) -> jax.Array:
  """The evaluation view: `normalize(images)`."""
  return normalize(images, mean, std, dtype)


test_view.__test__ = False  # not a pytest test, whatever module imports it


# ----------------------------------------------------------------------------- Mixup / CutMix
# timm's ``Mixup`` in batch mode (huggingface/pytorch-image-models, timm/data/mixup.py): one
# lambda per batch, each example mixed with the example at the mirrored position of the
# (global) batch, ``x.flip(0)``.

_MIX_STREAM = 4  # sub-stream of the batch's first example key that draws the batch's mixing


class MixParams(NamedTuple):
  """The mixing a batch draws (``mix_params``): float32 ``lam`` (the weight of the example
  itself, box-corrected under CutMix), bool ``cutmix`` and the CutMix box rows ``[top,
  bottom)`` and columns ``[left, right)`` (int32; empty under Mixup or no mixing)."""
  lam: jax.Array
  cutmix: jax.Array
  box: tuple[jax.Array, jax.Array, jax.Array, jax.Array]


def mix_params(key: jax.Array, height: int, width: int, *, mixup_alpha: float,
               cutmix_alpha: float, mix_prob: float = 1.0,
               switch_prob: float = 0.5) -> MixParams:
  """timm ``Mixup._params_per_batch`` + ``cutmix_bbox_and_lam`` (``correct_lam=True``).

  With probability ``mix_prob`` the batch is mixed: CutMix with probability ``switch_prob``
  when both alphas are on (else the one that is on), ``lam ~ Beta(alpha, alpha)`` of the
  chosen one; otherwise ``lam = 1`` (no mixing). CutMix's box (timm ``rand_bbox``, no
  margin): side ``int(H * sqrt(1 - lam))`` x ``int(W * sqrt(1 - lam))`` centred at a uniform
  integer ``(cy, cx)``, clipped to the image, and ``lam = 1 - box area / (H * W)``.
  """
  if mixup_alpha <= 0 and cutmix_alpha <= 0:
    raise ValueError('mix_params needs mixup_alpha > 0 or cutmix_alpha > 0')
  apply_key, switch_key, beta_key, y_key, x_key = jax.random.split(key, 5)
  mixed = jax.random.uniform(apply_key) < mix_prob
  if mixup_alpha > 0 and cutmix_alpha > 0:
    cutmix = jax.random.uniform(switch_key) < switch_prob
  else:
    cutmix = jnp.asarray(cutmix_alpha > 0)
  alpha = jnp.where(cutmix, jnp.float32(max(cutmix_alpha, 0.0)),
                    jnp.float32(max(mixup_alpha, 0.0)))
  lam = jnp.where(mixed, jax.random.beta(beta_key, alpha, alpha), 1.0).astype(jnp.float32)
  cutmix = cutmix & mixed
  centre = (jax.random.randint(y_key, (), 0, height), jax.random.randint(x_key, (), 0, width))
  box, box_lam = cutmix_box(lam, centre, height, width)
  empty = jnp.int32(0)
  return MixParams(
      lam=jnp.where(cutmix, box_lam, lam),
      cutmix=cutmix,
      box=tuple(jnp.where(cutmix, v, empty) for v in box))


def cutmix_box(lam: jax.Array, centre: tuple[jax.Array, jax.Array], height: int, width: int
               ) -> tuple[tuple[jax.Array, ...], jax.Array]:
  """timm ``rand_bbox`` (no margin) at the drawn centre ``(cy, cx)`` and the corrected lambda.

  ``cut = int(side * sqrt(1 - lam))`` per side; rows ``[clip(cy - cut_h // 2), clip(cy +
  cut_h // 2))`` and the same for columns, clipped to ``[0, side]``; ``lam = 1 - area / (H *
  W)`` (``cutmix_bbox_and_lam``, ``correct_lam=True``).

  Returns:
    ``((top, bottom, left, right), lam)``.
  """
  ratio = jnp.sqrt(1.0 - lam)
  cut_h = jnp.floor(height * ratio).astype(jnp.int32)
  cut_w = jnp.floor(width * ratio).astype(jnp.int32)
  cy, cx = centre
  top, bottom = jnp.clip(cy - cut_h // 2, 0, height), jnp.clip(cy + cut_h // 2, 0, height)
  left, right = jnp.clip(cx - cut_w // 2, 0, width), jnp.clip(cx + cut_w // 2, 0, width)
  box_lam = 1.0 - ((bottom - top) * (right - left)).astype(jnp.float32) / (height * width)
  return (top, bottom, left, right), box_lam


def mix_images(images: jax.Array, params: MixParams) -> jax.Array:
  """timm ``Mixup._mix_batch``: ``lam * x + (1 - lam) * x.flip(0)`` (Mixup), or the box of
  ``x.flip(0)`` pasted into ``x`` (CutMix); NHWC, computed in float32, returned in the input
  dtype."""
  x = images.astype(jnp.float32)
  flipped = x[::-1]
  top, bottom, left, right = params.box
  rows = jnp.arange(x.shape[1])[:, None]
  cols = jnp.arange(x.shape[2])[None, :]
  in_box = (rows >= top) & (rows < bottom) & (cols >= left) & (cols < right)
  pasted = jnp.where(in_box[None, :, :, None], flipped, x)
  blended = x * params.lam + flipped * (1.0 - params.lam)
  return jnp.where(params.cutmix, pasted, blended).astype(images.dtype)


def mix_targets(labels: jax.Array, num_classes: int, lam: jax.Array,
                smoothing: float = 0.0) -> jax.Array:
  """timm ``mixup_target``: smoothed one-hots (``off = smoothing / K``, ``on = 1 - smoothing
  + off``) of the labels and of the flipped batch's, mixed ``lam : 1 - lam``; float32
  ``[B, K]``."""
  off = smoothing / num_classes
  on = 1.0 - smoothing + off

  def one_hot(y):
    return jax.nn.one_hot(y, num_classes, dtype=jnp.float32) * (on - off) + off

  return one_hot(labels) * lam + one_hot(labels[::-1]) * (1.0 - lam)


def mix_batch_key(keys: jax.Array) -> jax.Array:
  """The batch's mixing key: a sub-stream of its first example's key (``(seed, epoch, step,
  0)``), so a resumed run and any device count draw the same mixing."""
  return jax.random.fold_in(keys[0], _MIX_STREAM)
