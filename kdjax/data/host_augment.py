"""mmcls's DeiT train augmentation on the host, in numpy: RandAugment and RandomErasing.

The DeiT recipe of yzd-v/cls_KD (mmcls 1.x; ``configs/_base_/datasets/imagenet_bs64_swin_224.py``,
the pipeline of ``configs/deit/deit-small_pt-4xb256_in1k.py``) augments each decoded train
image after its random-resized crop and flip with

* ``RandAugment(policies='timm_increasing', num_policies=2, total_level=10,
  magnitude_level=9, magnitude_std=0.5, hparams=dict(pad_val=round(mean), interpolation=
  'bicubic'))`` (``mmcls/datasets/transforms/auto_augment.py``), then
* ``RandomErasing(erase_prob=0.25, mode='rand', min_area_ratio=0.02, max_area_ratio=1/3,
  fill_color=mean, fill_std=std)`` (``mmcls/datasets/transforms/processing.py``),

where ``mean`` / ``std`` are the ImageNet normalisation constants in 0-255 units. The ops
below follow the mmcv functions those transforms call (open-mmlab/mmcv
``mmcv/image/photometric.py`` and ``geometric.py``, OpenCV backend), on uint8 ``[H, W, 3]``
RGB images (mmcls works in BGR; every op treats the channels alike except the grayscale
conversion, which weighs R, G, B as OpenCV's ``BGR2GRAY`` does, and the fills, given here in
RGB order).

RandAugment: each image draws ``num_policies`` of the 15 policies with replacement
(``np.random.choice``); each drawn op is applied with probability 0.5 (``BaseAugTransform``
``prob``); its magnitude level is ``clip(N(9, 0.5), 0, 10)``, mapped linearly from ``[0,
10]`` onto the op's ``magnitude_range`` (``random_magnitude``), and negated with probability
0.5 for the signed ops (``random_negative``).

A difference: OpenCV's ``warpAffine`` (Rotate, Shear, Translate) computes in fixed point
(source coordinates in 1/32 pixel, integer bicubic weights); ``warp_affine`` quantises the
coordinates the same way but weighs in float64 and rounds once, so an output pixel may differ
from OpenCV's by one level.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

# mmcls's fills, from its data_preprocessor mean / std (in 0-255 units), in RGB order.
MMCLS_MEAN = (123.675, 116.28, 103.53)
MMCLS_STD = (58.395, 57.12, 57.375)
MMCLS_PAD = tuple(round(v) for v in MMCLS_MEAN)  # RandAugment hparams pad_val: (124, 116, 104)
CUBIC_A = -0.75  # OpenCV's INTER_CUBIC kernel parameter
_INTER_TAB_SIZE = 32  # OpenCV's warpAffine source-coordinate resolution (1/32 pixel)


# ----------------------------------------------------------------------------- colour ops
def gray(image: np.ndarray) -> np.ndarray:
  """OpenCV ``cvtColor(BGR2GRAY)`` of an RGB image: ``(4899 R + 9617 G + 1868 B + 2^13) >> 14``."""
  x = image.astype(np.int64)
  return ((x[..., 0] * 4899 + x[..., 1] * 9617 + x[..., 2] * 1868 + (1 << 13)) >> 14
          ).astype(np.uint8)


def _blend_truncated(image: np.ndarray, degenerate: np.ndarray, factor: float) -> np.ndarray:
  """mmcv's float32 ``cv2.addWeighted(img, f, degenerate, 1 - f, 0)``, clipped, cast (truncated)."""
  f = np.float32(factor)
  out = image.astype(np.float32) * f + degenerate.astype(np.float32) * (np.float32(1) - f)
  return np.clip(out, 0, 255).astype(np.uint8)


def invert(image: np.ndarray) -> np.ndarray:
  """``mmcv.iminvert``: ``255 - img``."""
  return 255 - image


def solarize(image: np.ndarray, threshold: float) -> np.ndarray:
  """``mmcv.solarize``: values ``>= threshold`` become ``255 - value``."""
  return np.where(image < threshold, image, 255 - image).astype(np.uint8)


def solarize_add(image: np.ndarray, addition: float, threshold: float = 128) -> np.ndarray:
  """mmcls ``SolarizeAdd``: ``min(img + addition, 255)`` below ``threshold``, cast (truncated)."""
  return np.where(image < threshold, np.minimum(image + addition, 255), image).astype(np.uint8)


def posterize(image: np.ndarray, bits: int) -> np.ndarray:
  """``mmcv.posterize``: keep the top ``bits`` bits (0 bits: black)."""
  shift = 8 - int(bits)
  if shift >= 8:
    return np.zeros_like(image)
  return np.left_shift(np.right_shift(image, shift), shift)


def auto_contrast(image: np.ndarray) -> np.ndarray:
  """``mmcv.auto_contrast`` (cutoff 0): each channel's ``[low, high]`` stretched onto ``[0, 255]``.

  ``lut = clip(v * 255 / (high - low) - low * 255 / (high - low), 0, 255)``, cast (truncated);
  a channel with ``low >= high`` is unchanged.
  """
  out = np.empty_like(image)
  for c in range(image.shape[-1]):
    channel = image[..., c]
    low, high = int(channel.min()), int(channel.max())
    if low >= high:
      out[..., c] = channel
      continue
    scale = 255.0 / (high - low)
    lut = np.clip(np.arange(256) * scale - low * scale, 0, 255)
    out[..., c] = lut[channel].astype(np.uint8)
  return out


def equalize(image: np.ndarray) -> np.ndarray:
  """``mmcv.imequalize``: per-channel histogram equalisation.

  ``step = (N - count of the highest value present) // 255``; unless 0, ``lut[v] = min(255,
  (cumsum(hist)[v - 1] + step // 2) // step)`` with ``lut[0] = 0``.
  """
  out = np.empty_like(image)
  for c in range(image.shape[-1]):
    channel = image[..., c]
    hist = np.bincount(channel.ravel(), minlength=256)
    step = (channel.size - hist[channel.max()]) // 255
    if step == 0:
      out[..., c] = channel
      continue
    lut = np.concatenate([[0], (np.cumsum(hist) + step // 2) // step])[:256]
    out[..., c] = np.minimum(lut, 255)[channel]
  return out


def adjust_color(image: np.ndarray, factor: float) -> np.ndarray:
  """``mmcv.adjust_color(img, alpha=factor)`` (OpenCV): blend with the grayscale image.

  uint8 ``cv2.addWeighted(img, f, gray, 1 - f, 0)``: rounded to nearest, saturated.
  """
  g = gray(image).astype(np.float64)[..., None]
  return np.clip(np.rint(image * float(factor) + g * (1.0 - float(factor))), 0, 255
                 ).astype(np.uint8)


def adjust_brightness(image: np.ndarray, factor: float) -> np.ndarray:
  """``mmcv.adjust_brightness`` (OpenCV): blend with black, float32, truncated."""
  return _blend_truncated(image, np.zeros_like(image), factor)


def adjust_contrast(image: np.ndarray, factor: float) -> np.ndarray:
  """``mmcv.adjust_contrast`` (OpenCV): blend with the mean gray level ``round(mean(gray))``."""
  mean = round(float(np.sum(gray(image), dtype=np.int64)) / (image.shape[0] * image.shape[1]))
  return _blend_truncated(image, np.full_like(image, mean), factor)


def _filter_reflect101(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
  """``cv2.filter2D(img, -1, kernel)`` (3x3, BORDER_REFLECT_101), rounded and saturated."""
  padded = np.pad(image.astype(np.float64), ((1, 1), (1, 1), (0, 0)), mode='reflect')
  height, width = image.shape[:2]
  total = np.zeros(image.shape, np.float64)
  for dy in range(3):
    for dx in range(3):
      total += kernel[dy, dx] * padded[dy:dy + height, dx:dx + width]
  return np.clip(np.rint(total), 0, 255).astype(np.uint8)


SMOOTH_KERNEL = np.array([[1., 1., 1.], [1., 5., 1.], [1., 1., 1.]]) / 13


def adjust_sharpness(image: np.ndarray, factor: float) -> np.ndarray:
  """``mmcv.adjust_sharpness``: blend with the image smoothed by PIL's SMOOTH kernel."""
  return _blend_truncated(image, _filter_reflect101(image, SMOOTH_KERNEL), factor)


# ----------------------------------------------------------------------------- geometric ops
def _cubic_weights(t: np.ndarray, a: float = CUBIC_A) -> np.ndarray:
  """OpenCV's ``interpolateCubic``: the 4 tap weights at fractions ``t`` (``[..., 4]``)."""
  x0, x1, x2 = t + 1, t, 1 - t
  w0 = ((a * x0 - 5 * a) * x0 + 8 * a) * x0 - 4 * a
  w1 = ((a + 2) * x1 - (a + 3)) * x1 * x1 + 1
  w2 = ((a + 2) * x2 - (a + 3)) * x2 * x2 + 1
  return np.stack([w0, w1, w2, 1 - w0 - w1 - w2], axis=-1)


def warp_affine(image: np.ndarray, matrix, fill) -> np.ndarray:
  """``cv2.warpAffine(img, M, (W, H), flags=INTER_CUBIC, borderValue=fill)`` (constant border).

  Output pixel ``(x, y)`` reads the source at ``M^-1 (x, y)`` (integer pixel coordinates),
  quantised to 1/32 pixel; taps outside the image read ``fill``.

  Args:
    image: uint8 ``[H, W, C]``.
    matrix: the 2x3 forward matrix ``M`` (source -> destination).
    fill: the border colour, one value per channel.
  """
  m = np.asarray(matrix, np.float64).reshape(2, 3)
  inverse = np.linalg.inv(np.vstack([m, [0.0, 0.0, 1.0]]))[:2]
  height, width, channels = image.shape
  ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
  fixed_x = np.rint((inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]) * _INTER_TAB_SIZE)
  fixed_y = np.rint((inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]) * _INTER_TAB_SIZE)
  x0 = np.floor_divide(fixed_x, _INTER_TAB_SIZE).astype(np.int64)
  y0 = np.floor_divide(fixed_y, _INTER_TAB_SIZE).astype(np.int64)
  wx = _cubic_weights((fixed_x - x0 * _INTER_TAB_SIZE) / _INTER_TAB_SIZE)
  wy = _cubic_weights((fixed_y - y0 * _INTER_TAB_SIZE) / _INTER_TAB_SIZE)
  padded = np.empty((height + 4, width + 4, channels), np.float64)
  padded[:] = np.asarray(fill, np.float64)
  padded[2:-2, 2:-2] = image
  out = np.zeros(image.shape, np.float64)
  for i in range(4):
    if not wy[..., i].any():  # (shears and translations: whole-pixel rows or columns)
      continue
    rows = np.clip(y0 - 1 + i, -2, height + 1) + 2
    for j in range(4):
      if not wx[..., j].any():
        continue
      cols = np.clip(x0 - 1 + j, -2, width + 1) + 2
      out += (wy[..., i] * wx[..., j])[..., None] * padded[rows, cols]
  return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def rotate(image: np.ndarray, degrees: float, fill) -> np.ndarray:
  """``mmcv.imrotate(img, degrees)``: clockwise about ``((W - 1) / 2, (H - 1) / 2)``.

  ``cv2.getRotationMatrix2D(centre, -degrees, 1)``: ``[[a, b, (1 - a) cx - b cy], [-b, a,
  b cx + (1 - a) cy]]`` with ``a = cos(-degrees)``, ``b = sin(-degrees)``.
  """
  height, width = image.shape[:2]
  cx, cy = (width - 1) * 0.5, (height - 1) * 0.5
  theta = math.radians(-degrees)
  a, b = math.cos(theta), math.sin(theta)
  return warp_affine(image, [[a, b, (1 - a) * cx - b * cy], [-b, a, b * cx + (1 - a) * cy]],
                     fill)


def shear(image: np.ndarray, magnitude: float, direction: str, fill) -> np.ndarray:
  """``mmcv.imshear``: ``M = [[1, m, 0], [0, 1, 0]]`` (horizontal) or ``[[1, 0, 0], [m, 1, 0]]``."""
  m = np.float32(magnitude)  # mmcv builds the matrix in float32
  matrix = [[1, m, 0], [0, 1, 0]] if direction == 'horizontal' else [[1, 0, 0], [m, 1, 0]]
  return warp_affine(image, matrix, fill)


def translate(image: np.ndarray, fraction: float, direction: str, fill) -> np.ndarray:
  """mmcls ``Translate``: ``mmcv.imtranslate`` by ``fraction`` of the width (height)."""
  height, width = image.shape[:2]
  offset = np.float32(fraction * (width if direction == 'horizontal' else height))
  matrix = [[1, 0, offset], [0, 1, 0]] if direction == 'horizontal' else [[1, 0, 0], [0, 1, offset]]
  return warp_affine(image, matrix, fill)


# ----------------------------------------------------------------------------- RandAugment
@dataclasses.dataclass(frozen=True)
class Policy:
  """One entry of mmcls ``RANDAUG_POLICIES['timm_increasing']``.

  ``magnitude_range`` None: the op takes no magnitude; ``signed``: ``random_negative_prob``
  0.5 (else 0).
  """
  name: str
  magnitude_range: tuple[float, float] | None = None
  signed: bool = False


# mmcls/datasets/transforms/auto_augment.py RANDAUG_POLICIES['timm_increasing'] (timm's
# _RAND_INCREASING_TRANSFORMS), in its order.
TIMM_INCREASING = (
    Policy('AutoContrast'), Policy('Equalize'), Policy('Invert'),
    Policy('Rotate', (0.0, 30.0), True), Policy('Posterize', (4.0, 0.0)),
    Policy('Solarize', (256.0, 0.0)), Policy('SolarizeAdd', (0.0, 110.0)),
    Policy('ColorTransform', (0.0, 0.9), True), Policy('Contrast', (0.0, 0.9), True),
    Policy('Brightness', (0.0, 0.9), True), Policy('Sharpness', (0.0, 0.9), True),
    Policy('ShearX', (0.0, 0.3), True), Policy('ShearY', (0.0, 0.3), True),
    Policy('TranslateX', (0.0, 0.45), True), Policy('TranslateY', (0.0, 0.45), True),
)
POLICY_NAMES = tuple(p.name for p in TIMM_INCREASING)


def apply_policy(image: np.ndarray, name: str, magnitude: float | None, fill) -> np.ndarray:
  """One mmcls RandAugment op at its (already mapped, signed) magnitude."""
  ops = {
      'AutoContrast': lambda: auto_contrast(image),
      'Equalize': lambda: equalize(image),
      'Invert': lambda: invert(image),
      'Rotate': lambda: rotate(image, magnitude, fill),
      'Posterize': lambda: posterize(image, math.ceil(magnitude)),  # mmcls: ceil, as timm
      'Solarize': lambda: solarize(image, magnitude),
      'SolarizeAdd': lambda: solarize_add(image, magnitude),
      'ColorTransform': lambda: adjust_color(image, 1 + magnitude),
      'Contrast': lambda: adjust_contrast(image, 1 + magnitude),
      'Brightness': lambda: adjust_brightness(image, 1 + magnitude),
      'Sharpness': lambda: adjust_sharpness(image, 1 + magnitude),
      'ShearX': lambda: shear(image, magnitude, 'horizontal', fill),
      'ShearY': lambda: shear(image, magnitude, 'vertical', fill),
      'TranslateX': lambda: translate(image, magnitude, 'horizontal', fill),
      'TranslateY': lambda: translate(image, magnitude, 'vertical', fill),
  }
  if name not in ops:
    raise ValueError(f'unknown RandAugment policy {name!r}; expected one of {POLICY_NAMES}')
  return ops[name]()


@dataclasses.dataclass(frozen=True)
class RandAugment:
  """mmcls ``RandAugment`` with the ``timm_increasing`` policies (picklable settings).

  Attributes:
    num_policies: ops drawn per image (with replacement).
    magnitude_level, magnitude_std, total_level: the level ``clip(N(level, std), 0, total)``
      (``std`` 0: the level itself), mapped onto each op's range as ``level / total``.
    prob: each drawn op's probability of being applied (``BaseAugTransform`` default 0.5).
    fill: the geometric ops' border colour (RGB).
  """
  num_policies: int = 2
  magnitude_level: float = 9.0
  magnitude_std: float = 0.5
  total_level: float = 10.0
  prob: float = 0.5
  fill: tuple[int, int, int] = MMCLS_PAD

  def magnitude(self, policy: Policy, rng: np.random.Generator) -> float | None:
    """``BaseAugTransform.random_magnitude`` then ``random_negative``."""
    if policy.magnitude_range is None:
      return None
    level = self.magnitude_level
    if self.magnitude_std > 0:
      level = float(np.clip(rng.normal(level, self.magnitude_std), 0, self.total_level))
    low, high = policy.magnitude_range
    value = level / self.total_level * (high - low) + low
    if policy.signed and rng.random() < 0.5:
      value = -value
    return value

  def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    for index in rng.integers(0, len(TIMM_INCREASING), self.num_policies):
      policy = TIMM_INCREASING[int(index)]
      if rng.random() > self.prob:  # random_disable
        continue
      image = apply_policy(image, policy.name, self.magnitude(policy, rng), self.fill)
    return image


# ----------------------------------------------------------------------------- RandomErasing
@dataclasses.dataclass(frozen=True)
class RandomErasing:
  """mmcls ``RandomErasing`` (``mode='rand'`` with ``fill_std``: per-pixel normal noise).

  With probability ``prob`` a box of area ``uniform(min_area, max_area) * H * W`` and aspect
  ratio (height / width) log-uniform in ``aspect_range`` (``h = min(round(sqrt(area *
  aspect)), H)``, ``w = min(round(sqrt(area / aspect)), W)``) at a top-left corner uniform in
  ``[0, H - h)`` x ``[0, W - w)`` (0 when the box spans the side) is filled with
  ``clip(int(N(fill_mean, fill_std)), 0, 255)`` per pixel and channel.
  """
  prob: float = 0.25
  min_area: float = 0.02
  max_area: float = 1 / 3
  aspect_range: tuple[float, float] = (3 / 10, 10 / 3)
  fill_mean: tuple[float, float, float] = MMCLS_MEAN
  fill_std: tuple[float, float, float] = MMCLS_STD

  def box(self, height: int, width: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """``random_patch``: ``(top, left, h, w)``."""
    log_range = np.log(np.asarray(self.aspect_range, np.float32))
    aspect = float(np.exp(rng.uniform(log_range[0], log_range[1])))
    area = height * width * rng.uniform(self.min_area, self.max_area)
    h = min(int(round(math.sqrt(area * aspect))), height)
    w = min(int(round(math.sqrt(area / aspect))), width)
    top = int(rng.integers(0, height - h)) if height > h else 0
    left = int(rng.integers(0, width - w)) if width > w else 0
    return top, left, h, w

  def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() > self.prob:
      return image
    top, left, h, w = self.box(*image.shape[:2], rng)
    noise = rng.normal(self.fill_mean, self.fill_std, (h, w, 3))
    image = image.copy()
    image[top:top + h, left:left + w] = np.clip(noise.astype(np.int32), 0, 255)
    return image


@dataclasses.dataclass(frozen=True)
class Augment:
  """The train view's host augmentation after the crop and flip: RandAugment, then RandomErasing
  (mmcls's pipeline order); either may be None."""
  randaugment: RandAugment | None = None
  erasing: RandomErasing | None = None

  def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if self.randaugment is not None:
      image = self.randaugment(image, rng)
    if self.erasing is not None:
      image = self.erasing(image, rng)
    return np.ascontiguousarray(image)


def from_config(config) -> Augment | None:
  """The ``Augment`` of a config's ``randaugment*`` and ``random_erasing_prob`` fields (None: off)."""
  randaugment = None
  if config.randaugment != 'none':
    randaugment = RandAugment(num_policies=int(config.randaugment_num_ops),
                              magnitude_level=float(config.randaugment_magnitude),
                              magnitude_std=float(config.randaugment_magnitude_std))
  erasing = (RandomErasing(prob=float(config.random_erasing_prob))
             if config.random_erasing_prob > 0 else None)
  if randaugment is None and erasing is None:
    return None
  return Augment(randaugment, erasing)
