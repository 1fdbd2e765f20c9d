"""Tests for kdjax.data on-device augmentation, against numpy and PIL references."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from PIL import ImageDraw
from PIL import ImageEnhance
from PIL import ImageOps

from kdjax import data
from kdjax.data import augment
from kdjax.data import image_ops

B = 16
MEAN, STD = data.CIFAR100_MEAN, data.CIFAR100_STD

# Jitted once per module so every test reuses the same compilations.
_crop_flip = jax.jit(data.crop_flip)
_cutout = jax.jit(data.cutout)
_randaugment = jax.jit(data.randaugment)
_apply_ops = jax.jit(jax.vmap(image_ops.apply_op))
_views = jax.jit(lambda keys, x: (data.train_view(keys, x, MEAN, STD),
                                  data.strong_view(keys, x, MEAN, STD)))


def _translate(image, fraction, axis):
  offset = fraction * image.size[axis]
  matrix = (1, 0, offset, 0, 1, 0) if axis == 0 else (1, 0, 0, 0, 1, offset)
  return image.transform(image.size, Image.AFFINE, matrix)


# The release's ops, written with PIL exactly as its RandAugment calls them.
PIL_OPS = {
    'AutoContrast': lambda im, v: ImageOps.autocontrast(im),
    'Brightness': lambda im, v: ImageEnhance.Brightness(im).enhance(v),
    'Color': lambda im, v: ImageEnhance.Color(im).enhance(v),
    'Contrast': lambda im, v: ImageEnhance.Contrast(im).enhance(v),
    'Equalize': lambda im, v: ImageOps.equalize(im),
    'Identity': lambda im, v: im,
    'Posterize': lambda im, v: ImageOps.posterize(im, max(1, int(v))),
    'Rotate': lambda im, v: im.rotate(v),
    'Sharpness': lambda im, v: ImageEnhance.Sharpness(im).enhance(v),
    'ShearX': lambda im, v: im.transform(im.size, Image.AFFINE, (1, v, 0, 0, 1, 0)),
    'ShearY': lambda im, v: im.transform(im.size, Image.AFFINE, (1, 0, 0, v, 1, 0)),
    'Solarize': lambda im, v: ImageOps.solarize(im, v),
    'TranslateX': lambda im, v: _translate(im, v, 0),
    'TranslateY': lambda im, v: _translate(im, v, 1),
}
GEOMETRIC = ('Rotate', 'ShearX', 'ShearY', 'TranslateX', 'TranslateY')


def _pil(op_name, image, magnitude):
  return np.asarray(PIL_OPS[op_name](Image.fromarray(image), float(magnitude)))


@pytest.fixture(scope='module')
def images():
  """B uint8 32x32 images: noise, low contrast, gray, flat channel, two-level, smooth."""
  rng = np.random.default_rng(0)
  x = rng.integers(0, 256, (B, 32, 32, 3), dtype=np.uint8)
  x[1] = x[1] // 4 + 60
  x[2] = np.repeat(x[2, ..., :1], 3, axis=-1)
  x[3, ..., 0] = 7
  x[4] = np.where(x[4] > 128, 200, 30)
  ramp = np.add.outer(np.arange(32), np.arange(32)) * 4
  x[5] = np.stack([ramp, ramp[::-1], ramp.T], axis=-1).clip(0, 255)
  # Channel ranges where PIL's float64 autocontrast LUT rounds one below exact.
  codes = image_ops._pil_autocontrast_round_down()
  for n, code in zip(range(6, 9), codes[::3000]):
    lo, hi, level = code // 65536, (code // 256) % 256, code % 256
    x[n, ..., 1] = rng.integers(lo, hi + 1, (32, 32))
    x[n, 0, :3, 1] = (lo, hi, level)
  return x


@pytest.fixture(scope='module')
def op_results(images):
  """Every op on every image with magnitudes spanning its range, in one jitted call."""
  rng = np.random.default_rng(1)
  cases = []
  for index, (name, _, low, high) in enumerate(image_ops.RANDAUGMENT_OPS):
    magnitudes = np.concatenate([[low, high - 1e-3], rng.uniform(low, high, B - 2)])
    if name in GEOMETRIC:
      magnitudes[0] = 0.0  # zero magnitude must be the identity
    cases += [(index, n, np.float32(m)) for n, m in enumerate(magnitudes)]
  ops, rows, mags = (np.array(v) for v in zip(*cases))
  out = np.asarray(_apply_ops(jnp.asarray(images[rows]), jnp.asarray(ops), jnp.asarray(mags)))
  return ops, rows, mags, out


@pytest.mark.parametrize('op_name', image_ops.OP_NAMES)
def test_op_matches_pil(op_name, images, op_results):
  ops, rows, mags, out = op_results
  index = image_ops.OP_NAMES.index(op_name)
  selected = np.nonzero(ops == index)[0]
  expected = np.stack([_pil(op_name, images[rows[i]], mags[i]) for i in selected])
  got = out[selected]
  assert got.dtype == np.uint8 and got.shape == (B, 32, 32, 3)
  if op_name in GEOMETRIC:
    # Exact at zero magnitude; elsewhere PIL's float64 coefficients can round a
    # rare pixel differently from float32.
    np.testing.assert_array_equal(got[0], images[rows[selected[0]]])
    assert np.mean(np.any(got != expected, axis=-1)) < 2e-3
  else:
    np.testing.assert_array_equal(got, expected)


def test_autocontrast_fixture_exercises_pil_rounding(images):
  # Sanity check that images 6..8 hit LUT entries where PIL's float64 rounding
  # differs from the exact value, so test_op_matches_pil covers the correction.
  for n in range(6, 9):
    channel = images[n, ..., 1].astype(np.int64)
    lo, hi = channel.min(), channel.max()
    scale = 255.0 / (hi - lo)
    pil = np.trunc(channel * scale - lo * scale)
    assert np.any(pil != ((channel - lo) * 255) // (hi - lo))


def test_randaugment_composes_two_ops_like_pil(images):
  keys = data.example_keys(0, 0, 0, B)
  out = np.asarray(_randaugment(keys, jnp.asarray(images)))
  ops, mags = (np.asarray(v) for v in data.randaugment_params(keys))
  assert ops.shape == mags.shape == (B, 2)
  mismatched = 0
  for n in range(B):
    expected = images[n]
    for op, magnitude in zip(ops[n], mags[n]):
      expected = _pil(image_ops.OP_NAMES[op], expected, magnitude)
    mismatched += np.sum(np.any(out[n] != expected, axis=-1))
  assert mismatched / (B * 32 * 32) < 2e-3
  # Deterministic, and each example depends on its own key only.
  perm = np.random.default_rng(2).permutation(B)
  again = np.asarray(_randaugment(keys[perm], jnp.asarray(images[perm])))
  np.testing.assert_array_equal(again, out[perm])


def test_randaugment_draws_ops_uniformly_with_replacement():
  keys = jax.random.split(jax.random.key(3), 4096)
  ops, mags = (np.asarray(v) for v in jax.jit(data.randaugment_params)(keys))
  counts = np.bincount(ops.ravel(), minlength=14)
  expected = ops.size / 14
  assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))
  assert np.mean(ops[:, 0] == ops[:, 1]) == pytest.approx(1 / 14, abs=0.015)
  for index, (_, _, low, high) in enumerate(image_ops.RANDAUGMENT_OPS):
    chosen = mags[ops == index]
    assert chosen.min() >= low and chosen.max() < high
    assert chosen.mean() == pytest.approx((low + high) / 2, abs=0.1 * (high - low))


def _numpy_crop_flip(image, offset, flip, padding=4):
  padded = np.zeros((32 + 2 * padding, 32 + 2 * padding, 3), np.uint8)
  padded[padding:padding + 32, padding:padding + 32] = image
  crop = padded[offset[0]:offset[0] + 32, offset[1]:offset[1] + 32]
  return crop[:, ::-1] if flip else crop


def test_crop_flip_matches_numpy_reference(images):
  keys = data.example_keys(1, 2, 3, B)
  out = np.asarray(_crop_flip(keys, jnp.asarray(images)))
  offsets, flips = (np.asarray(v) for v in data.crop_flip_params(keys))
  for n in range(B):
    np.testing.assert_array_equal(out[n], _numpy_crop_flip(images[n], offsets[n], flips[n]))
  np.testing.assert_array_equal(out, np.asarray(_crop_flip(keys, jnp.asarray(images))))
  perm = np.random.default_rng(4).permutation(B)
  np.testing.assert_array_equal(
      np.asarray(_crop_flip(keys[perm], jnp.asarray(images[perm]))), out[perm])
  with pytest.raises(ValueError, match='keys'):
    data.crop_flip(keys[:3], jnp.asarray(images))


def test_crop_flip_params_distribution():
  offsets, flips = (np.asarray(v) for v in jax.jit(data.crop_flip_params)(
      jax.random.split(jax.random.key(5), 4096)))
  assert np.mean(flips) == pytest.approx(0.5, abs=0.03)
  counts = np.bincount(offsets.ravel(), minlength=9)
  assert len(counts) == 9 and np.all(np.abs(counts / offsets.size - 1 / 9) < 0.015)


def test_normalize_values_and_dtype(images):
  x = jnp.asarray(images)
  out = np.asarray(data.normalize(x, MEAN, STD))
  expected = (images / 255.0 - np.array(MEAN)) / np.array(STD)
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
  assert data.normalize(x, MEAN, STD, dtype=jnp.bfloat16).dtype == jnp.bfloat16
  np.testing.assert_array_equal(np.asarray(data.test_view(x, MEAN, STD)), out)
  with pytest.raises(ValueError, match='one entry per channel'):
    data.normalize(x, (0.5,), (0.5,))


def _release_cutout(image, side, centre_x, centre_y):
  """The release's CutoutAbs with its random draws replaced by the given values."""
  if side <= 0:
    return image
  pil = Image.fromarray(image)
  w, h = pil.size
  x0, y0 = int(max(0, centre_x - side / 2.)), int(max(0, centre_y - side / 2.))
  ImageDraw.Draw(pil).rectangle((x0, y0, min(w, x0 + side), min(h, y0 + side)),
                                (125, 123, 114))
  return np.asarray(pil)


def test_cutout_matches_release(images):
  keys = jax.random.split(jax.random.key(6), B)
  out = np.asarray(_cutout(keys, jnp.asarray(images)))
  sides, xs, ys = (np.asarray(v, np.float64) for v in data.cutout_params(keys, 32, 32))
  assert np.all((sides >= 0) & (sides < 16)) and np.all((xs > 1) & (xs <= 32))
  for n in range(B):
    np.testing.assert_array_equal(out[n], _release_cutout(images[n], sides[n], xs[n], ys[n]))
    painted = np.any(out[n] != images[n], axis=-1)
    assert np.all(out[n][painted] == (125, 123, 114))
    assert painted.sum() <= (int(sides[n]) + 1) ** 2


@pytest.mark.slow
def test_views_compose_as_documented_with_independent_or_shared_crops(images):
  """Both MLKD releases crop and flip the strong view independently (its own RandomCrop and
  RandomHorizontalFlip); 'shared' reuses the weak view's crop, 'none' takes host crops."""
  keys = data.example_keys(9, 1, 4, B)
  x = jnp.asarray(images)
  weak, strong = (np.asarray(v) for v in _views(keys, x))
  assert weak.shape == strong.shape == (B, 32, 32, 3) and strong.dtype == np.float32
  cropped = _crop_flip(keys, x)
  np.testing.assert_allclose(weak, data.normalize(cropped, MEAN, STD), atol=1e-6)
  own_crop = _crop_flip(augment.fold_keys(keys, 3), x)
  expected = _cutout(augment.fold_keys(keys, 2), _randaugment(augment.fold_keys(keys, 1), own_crop))
  np.testing.assert_allclose(strong, data.normalize(expected, MEAN, STD), atol=1e-6)
  assert not np.allclose(weak, strong)
  shared = np.asarray(jax.jit(lambda k, x: data.strong_view(k, x, MEAN, STD, crop='shared'))(keys, x))
  expected = _cutout(augment.fold_keys(keys, 2), _randaugment(augment.fold_keys(keys, 1), cropped))
  np.testing.assert_allclose(shared, data.normalize(expected, MEAN, STD), atol=1e-6)
  host = np.asarray(jax.jit(lambda k, x: data.strong_view(k, x, MEAN, STD, crop='none'))(keys, x))
  expected = _cutout(augment.fold_keys(keys, 2), _randaugment(augment.fold_keys(keys, 1), x))
  np.testing.assert_allclose(host, data.normalize(expected, MEAN, STD), atol=1e-6)
  with pytest.raises(ValueError, match='crop must be one of'):
    data.strong_view(keys, x, MEAN, STD, crop='random')
