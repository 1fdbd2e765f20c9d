"""RandAugment of MLKD's strong view, reproducing PIL's arithmetic in JAX.

The MLKD release (and the LS paper's copy of it) draws `num_ops = 2` operations
with replacement from the 14 below, each with a magnitude uniform in its range,
and applies them with PIL (`ImageOps`, `ImageEnhance`, `Image.transform`):

| op | magnitude | PIL call |
|---|---|---|
| AutoContrast, Equalize, Identity | unused | `ImageOps.autocontrast/equalize` |
| Brightness, Color, Contrast, Sharpness | factor in [0.05, 0.95] | `ImageEnhance.*.enhance` |
| Posterize | bits = int(v), v in [4, 8) | `ImageOps.posterize` |
| Rotate | degrees in [-30, 30] | `img.rotate(v)` |
| ShearX / ShearY | v in [-0.3, 0.3] | affine `(1, v, 0, 0, 1, 0)` / `(1, 0, 0, v, 1, 0)` |
| Solarize | threshold in [0, 256) | `ImageOps.solarize` |
| TranslateX / TranslateY | v in [-0.3, 0.3] of width / height | affine offset `v * size` |

Every op works on one uint8 `[H, W, 3]` image. The point and enhance ops match
PIL bit for bit (checked in `tests/test_augment.py`); the geometric ops use PIL's
default nearest resampling, fill 0 (black: the release passes no `fillcolor`)
and PIL's 16.16 fixed-point sampling, so they differ from PIL only where a float32
coefficient rounds differently from PIL's float64 (rare single pixels).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

GEOMETRIC_FILL = 0
_LEVELS = 256


def _blend(degenerate: jax.Array, image: jax.Array, factor) -> jax.Array:
  """`PIL.Image.blend(degenerate, image, factor)`: float32 `d + f (x - d)`, truncated."""
  d = degenerate.astype(jnp.float32)
  out = d + jnp.asarray(factor, jnp.float32) * (image.astype(jnp.float32) - d)
  return jnp.clip(out, 0, 255).astype(jnp.uint8)


def _grayscale(image: jax.Array) -> jax.Array:
  """PIL's RGB -> L conversion: `(19595 R + 38470 G + 7471 B + 2^15) >> 16`, `[H, W]` int32."""
  x = image.astype(jnp.int32)
  return (x[..., 0] * 19595 + x[..., 1] * 38470 + x[..., 2] * 7471 + 0x8000) >> 16


def _apply_lut(image: jax.Array, lut: jax.Array) -> jax.Array:
  """Maps channel `c` of `image` through `lut[c]` (`[C, 256]`)."""
  mapped = jax.vmap(lambda channel, table: table[channel], in_axes=(2, 0), out_axes=2)(
      image.astype(jnp.int32), lut)
  return mapped.astype(jnp.uint8)


@functools.cache
def _pil_autocontrast_round_down() -> np.ndarray:
  """Codes `(lo * 256 + hi) * 256 + i` where PIL's float64 LUT is one below exact.

  PIL computes `int(i * (255 / (hi - lo)) - lo * (255 / (hi - lo)))` in float64;
  where the exact value is an integer the rounding sometimes lands just below it
  (about 0.4% of all (lo, hi, i) entries). Sorted int32.
  """
  levels = np.arange(_LEVELS, dtype=np.int64)
  codes = []
  for lo in range(_LEVELS - 1):
    hi = np.arange(lo + 1, _LEVELS, dtype=np.int64)[:, None]
    scale = 255.0 / (hi - lo)
    offset = -lo * scale
    pil = np.clip(np.trunc(levels * scale + offset), 0, 255).astype(np.int64)
    exact = np.clip(((levels - lo) * 255) // (hi - lo), 0, 255)
    rows, cols = np.nonzero(pil != exact)
    codes.append((lo * _LEVELS + hi[rows, 0]) * _LEVELS + cols)
  return np.sort(np.concatenate(codes)).astype(np.int32)


def _autocontrast_lut(lo: jax.Array, hi: jax.Array) -> jax.Array:
  levels = jnp.arange(_LEVELS, dtype=jnp.int32)
  span = hi - lo
  exact = ((levels - lo) * 255) // jnp.maximum(span, 1)
  table = jnp.asarray(_pil_autocontrast_round_down())
  code = (lo * _LEVELS + hi) * _LEVELS + levels
  found = table[jnp.clip(jnp.searchsorted(table, code), 0, table.shape[0] - 1)] == code
  lut = jnp.clip(exact - found.astype(jnp.int32), 0, 255)
  return jnp.where(span > 0, lut, levels)


def auto_contrast(image: jax.Array) -> jax.Array:
  """`ImageOps.autocontrast(img)`: per channel, stretch [min, max] to [0, 255]."""
  x = image.astype(jnp.int32)
  lut = jax.vmap(_autocontrast_lut)(x.min(axis=(0, 1)), x.max(axis=(0, 1)))
  return _apply_lut(image, lut)


def _equalize_lut(channel: jax.Array) -> jax.Array:
  levels = jnp.arange(_LEVELS, dtype=jnp.int32)
  hist = jnp.bincount(channel.ravel(), length=_LEVELS)
  step = (channel.size - hist[channel.max()]) // 255
  below = jnp.cumsum(hist) - hist
  lut = jnp.minimum((step // 2 + below) // jnp.maximum(step, 1), 255)
  keep = (jnp.count_nonzero(hist) <= 1) | (step == 0)
  return jnp.where(keep, levels, lut)


def equalize(image: jax.Array) -> jax.Array:
  """`ImageOps.equalize(img)`: per-channel histogram equalisation with PIL's LUT."""
  lut = jax.vmap(_equalize_lut, in_axes=2)(image.astype(jnp.int32))
  return _apply_lut(image, lut)


def posterize(image: jax.Array, bits) -> jax.Array:
  """`ImageOps.posterize(img, bits)`: keep the top `bits` (1..8) bits."""
  shift = (8 - jnp.clip(jnp.asarray(bits, jnp.int32), 1, 8)).astype(jnp.uint8)
  return jnp.left_shift(jnp.right_shift(image, shift), shift)


def solarize(image: jax.Array, threshold) -> jax.Array:
  """`ImageOps.solarize(img, threshold)`: invert every value `>= threshold`."""
  below = image.astype(jnp.float32) < jnp.asarray(threshold, jnp.float32)
  return jnp.where(below, image, 255 - image)


def brightness(image: jax.Array, factor) -> jax.Array:
  """`ImageEnhance.Brightness(img).enhance(factor)`: blend with black."""
  return _blend(jnp.zeros_like(image), image, factor)


def color(image: jax.Array, factor) -> jax.Array:
  """`ImageEnhance.Color(img).enhance(factor)`: blend with the image's grayscale."""
  gray = jnp.broadcast_to(_grayscale(image)[..., None], image.shape)
  return _blend(gray, image, factor)


def contrast(image: jax.Array, factor) -> jax.Array:
  """`ImageEnhance.Contrast(img).enhance(factor)`: blend with the mean gray level.

  The mean is PIL's `int(mean(L) + 0.5)`, computed exactly as `(2 sum + n) // 2n`.
  """
  gray = _grayscale(image)
  mean = (2 * gray.sum() + gray.size) // (2 * gray.size)
  return _blend(jnp.full(image.shape, mean, jnp.int32), image, factor)


def _smooth(image: jax.Array) -> jax.Array:
  """`img.filter(ImageFilter.SMOOTH)`: 3x3 kernel [[1,1,1],[1,5,1],[1,1,1]] / 13.

  PIL's float32 accumulation order (`0.5 + row below + row + row above`) and
  truncation; the one-pixel border is copied unchanged.
  """
  x = image.astype(jnp.float32)
  side = np.float32(1) / np.float32(13)
  centre = np.float32(5) / np.float32(13)

  def row_sum(rows, middle):
    return rows[:, :-2] * side + rows[:, 1:-1] * middle + rows[:, 2:] * side

  total = np.float32(0.5) + row_sum(x[2:], side)
  total = total + row_sum(x[1:-1], centre)
  total = total + row_sum(x[:-2], side)
  inner = jnp.clip(total, 0, 255).astype(jnp.uint8)
  return image.at[1:-1, 1:-1].set(inner)


def sharpness(image: jax.Array, factor) -> jax.Array:
  """`ImageEnhance.Sharpness(img).enhance(factor)`: blend with the smoothed image."""
  return _blend(_smooth(image), image, factor)


def affine(image: jax.Array, matrix) -> jax.Array:
  """`img.transform(img.size, Image.AFFINE, matrix)` (nearest, fill `GEOMETRIC_FILL`).

  Output pixel `(x, y)` reads input `(a x' + b y' + c, d x' + e y' + f)` at pixel
  centres `x' = x + 0.5`, in PIL's 16.16 fixed point: coefficients are
  `floor(65536 v + 0.5)` and the input index is the integer part (`>> 16`).

  Args:
    image: uint8 `[H, W, C]`.
    matrix: the 6 coefficients `(a, b, c, d, e, f)` (scalars, may be traced).
  """
  a, b, c, d, e, f = (jnp.asarray(v, jnp.float32) for v in matrix)

  def fix(v):
    return jnp.floor(v * 65536.0 + 0.5).astype(jnp.int32)

  height, width = image.shape[:2]
  ys = jnp.arange(height, dtype=jnp.int32)[:, None]
  xs = jnp.arange(width, dtype=jnp.int32)[None, :]
  x_in = (fix(c + a * 0.5 + b * 0.5) + xs * fix(a) + ys * fix(b)) >> 16
  y_in = (fix(f + d * 0.5 + e * 0.5) + xs * fix(d) + ys * fix(e)) >> 16
  inside = (x_in >= 0) & (x_in < width) & (y_in >= 0) & (y_in < height)
  sampled = image[jnp.clip(y_in, 0, height - 1), jnp.clip(x_in, 0, width - 1)]
  return jnp.where(inside[..., None], sampled, jnp.uint8(GEOMETRIC_FILL))


def rotate(image: jax.Array, degrees) -> jax.Array:
  """`img.rotate(degrees)`: counter-clockwise about the image centre `(W/2, H/2)`."""
  height, width = image.shape[:2]
  theta = -jnp.asarray(degrees, jnp.float32) * (math.pi / 180.0)
  cos, sin = jnp.cos(theta), jnp.sin(theta)
  cx, cy = width / 2.0, height / 2.0
  return affine(image, (cos, sin, cos * -cx + sin * -cy + cx,
                        -sin, cos, -sin * -cx + cos * -cy + cy))


def shear_x(image: jax.Array, shear) -> jax.Array:
  """Affine `(1, shear, 0, 0, 1, 0)`."""
  return affine(image, (1.0, shear, 0.0, 0.0, 1.0, 0.0))


def shear_y(image: jax.Array, shear) -> jax.Array:
  """Affine `(1, 0, 0, shear, 1, 0)`."""
  return affine(image, (1.0, 0.0, 0.0, shear, 1.0, 0.0))


def translate_x(image: jax.Array, fraction) -> jax.Array:
  """Affine `(1, 0, fraction * W, 0, 1, 0)`: content moves left for positive values."""
  return affine(image, (1.0, 0.0, fraction * image.shape[1], 0.0, 1.0, 0.0))


def translate_y(image: jax.Array, fraction) -> jax.Array:
  """Affine `(1, 0, 0, 0, 1, fraction * H)`: content moves up for positive values."""
  return affine(image, (1.0, 0.0, 0.0, 0.0, 1.0, fraction * image.shape[0]))


def _unary(op: Callable[[jax.Array], jax.Array]) -> Callable[[jax.Array, jax.Array], jax.Array]:
  return lambda image, magnitude: op(image)


def _posterize_magnitude(image: jax.Array, magnitude) -> jax.Array:
  return posterize(image, jnp.floor(magnitude).astype(jnp.int32))


# (name, op(image, magnitude), low, high) in the release's list order.
RANDAUGMENT_OPS = (
    ('AutoContrast', _unary(auto_contrast), 0.0, 1.0),
    ('Brightness', brightness, 0.05, 0.95),
    ('Color', color, 0.05, 0.95),
    ('Contrast', contrast, 0.05, 0.95),
    ('Equalize', _unary(equalize), 0.0, 1.0),
    ('Identity', _unary(lambda image: image), 0.0, 1.0),
    ('Posterize', _posterize_magnitude, 4.0, 8.0),
    ('Rotate', rotate, -30.0, 30.0),
    ('Sharpness', sharpness, 0.05, 0.95),
    ('ShearX', shear_x, -0.3, 0.3),
    ('ShearY', shear_y, -0.3, 0.3),
    ('Solarize', solarize, 0.0, 256.0),
    ('TranslateX', translate_x, -0.3, 0.3),
    ('TranslateY', translate_y, -0.3, 0.3),
)
OP_NAMES = tuple(name for name, *_ in RANDAUGMENT_OPS)


def apply_op(image: jax.Array, op_index, magnitude) -> jax.Array:
  """Applies `RANDAUGMENT_OPS[op_index]` with its raw magnitude to one image."""
  branches = [op for _, op, _, _ in RANDAUGMENT_OPS]
  return lax.switch(op_index, branches, image, jnp.asarray(magnitude, jnp.float32))


def randaugment_params(keys: jax.Array, *, num_ops: int = 2) -> tuple[jax.Array, jax.Array]:
  """The ops and magnitudes `randaugment` draws for each key.

  Op `i` of an example uses `split(fold_in(key, i))`: a uniform op index (with
  replacement) and `magnitude = low + (high - low) * u`, `u ~ U[0, 1)`.

  Returns:
    `(op_indices int32 [B, num_ops], magnitudes float32 [B, num_ops])`.
  """
  lows = jnp.asarray([low for *_, low, _ in RANDAUGMENT_OPS], jnp.float32)
  highs = jnp.asarray([high for *_, high in RANDAUGMENT_OPS], jnp.float32)

  def draw(key, i):
    op_key, magnitude_key = jax.random.split(jax.random.fold_in(key, i))
    op = jax.random.randint(op_key, (), 0, len(RANDAUGMENT_OPS))
    u = jax.random.uniform(magnitude_key, (), jnp.float32)
    return op, lows[op] + (highs[op] - lows[op]) * u

  per_op = jax.vmap(draw, in_axes=(None, 0))
  return jax.vmap(per_op, in_axes=(0, None))(keys, jnp.arange(num_ops))


def randaugment(keys: jax.Array, images: jax.Array, *, num_ops: int = 2) -> jax.Array:
  """RandAugment of MLKD's strong view on a uint8 `[B, H, W, 3]` batch.

  Args:
    keys: `[B]` PRNG keys, one per example (typed or raw uint32 `[B, 2]`).
    images: uint8 `[B, H, W, 3]`.
    num_ops: operations per image, drawn with replacement.

  Returns:
    uint8 `[B, H, W, 3]`; example `i` depends only on `keys[i]` and `images[i]`.
  """
  if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != jnp.uint8:
    raise ValueError(
        f'randaugment expects uint8 [B, H, W, 3] images, got {images.dtype} '
        f'{images.shape}.')
  ops, magnitudes = randaugment_params(keys, num_ops=num_ops)
  if ops.shape[0] != images.shape[0]:
    raise ValueError(f'{ops.shape[0]} keys for {images.shape[0]} images.')

  def one(image, ops_i, magnitudes_i):
    # A loop (not unrolled) compiles the 14-way switch once for all num_ops.
    return lax.fori_loop(
        0, num_ops, lambda k, x: apply_op(x, ops_i[k], magnitudes_i[k]), image)

  return jax.vmap(one)(images, ops, magnitudes)
