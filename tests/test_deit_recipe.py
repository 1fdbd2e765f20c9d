"""The DeiT recipe (seed 002 Table 13): mmcls's label smoothing, the host RandAugment /
RandomErasing ops against PIL, torch and hand-computed references, and the recipe's sources."""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from PIL import ImageEnhance
from PIL import ImageOps

from kdjax import config as config_lib
from kdjax import losses
from kdjax import optim
from kdjax import recipes
from kdjax.data import augment
from kdjax.data import host_augment as ha
from kdjax.data import imagenet
from kdjax.data import sources
from kdjax.recipes import core
from kdjax.recipes import deit
from tests import torch_models

K = 10


def _images(seed=0, shape=(3, 24, 20, 3)):
  return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# ----------------------------------------------------------------------------- label smoothing
@pytest.mark.parametrize('lam', [1.0, 0.37])
def test_label_smoothing_on_mixed_targets_is_mmcls_label_smooth_loss(lam):
  rng = np.random.default_rng(1)
  logits = rng.normal(0, 3, (6, K)).astype(np.float32)
  labels = rng.integers(0, K, 6)
  # mmcls's Mixup: lam * one_hot(y) + (1 - lam) * one_hot(y[index]); kdjax's partner is the
  # reversed batch, so index = reversed positions here.
  mixed = lam * np.eye(K)[labels] + (1 - lam) * np.eye(K)[labels[::-1]]
  ours = losses.soft_cross_entropy(logits, augment.mix_targets(labels, K, lam, 0.1))
  # float32 log-softmax of logits of size ~10 vs float64: ~1e-6 relative.
  mmcls = torch_models.label_smooth_loss(torch.as_tensor(logits, dtype=torch.float64),
                                         torch.as_tensor(mixed), 0.1).numpy()
  np.testing.assert_allclose(ours, mmcls, rtol=1e-5,
                             atol=1e-6)
  # torch's own label smoothing of probability targets is the same formula.
  torch_ce = torch.nn.functional.cross_entropy(
      torch.as_tensor(logits, dtype=torch.float64), torch.as_tensor(mixed), label_smoothing=0.1,
      reduction='none').numpy()
  np.testing.assert_allclose(ours, torch_ce, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- colour ops
def test_gray_is_opencv_bgr2gray():
  # cv2.cvtColor(BGR2GRAY) of pure red, green, blue and white pixels: 76, 150, 29, 255.
  pixels = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], np.uint8)
  np.testing.assert_array_equal(ha.gray(pixels), [[76, 150, 29, 255]])


def test_color_blends_with_the_gray_level_rounding_to_nearest():
  # A red pixel at factor 0.5: 255 * .5 + 76 * .5 = 165.5 -> 166 (OpenCV's cvRound, half to
  # even); the other channels 0 * .5 + 76 * .5 = 38.
  out = ha.adjust_color(np.array([[[255, 0, 0]]], np.uint8), 0.5)
  np.testing.assert_array_equal(out, [[[166, 38, 38]]])


@pytest.mark.parametrize('name,pil_op,value', [
    ('auto_contrast', ImageOps.autocontrast, None),
    ('equalize', ImageOps.equalize, None),
    ('invert', ImageOps.invert, None),
    ('posterize', ImageOps.posterize, 3),
    ('solarize', ImageOps.solarize, 100),
])
def test_point_ops_equal_pil(name, pil_op, value):
  # mmcv's auto_contrast / imequalize are ports of PIL's ImageOps (same LUTs); posterize,
  # solarize, invert are exact integer maps.
  for image in _images(2):
    image[0, 0] = (5, 5, 5)  # a narrow-range channel and a repeated top value make the LUTs
    image[1] = 240           # non-trivial
    ours = getattr(ha, name)(image, *([] if value is None else [value]))
    pil = pil_op(Image.fromarray(image), *([] if value is None else [value]))
    np.testing.assert_array_equal(ours, np.asarray(pil))


def test_posterize_to_zero_bits_is_black_and_solarize_add_truncates():
  image = np.array([[[0, 127, 128]]], np.uint8)
  np.testing.assert_array_equal(ha.posterize(image, 0), np.zeros_like(image))
  # mmcls SolarizeAdd: below 128, min(v + 99.7, 255) cast to uint8 (truncated); 128 unchanged.
  np.testing.assert_array_equal(ha.solarize_add(image, 99.7), [[[99, 226, 128]]])


@pytest.mark.parametrize('factor', [0.19, 1.81])
def test_brightness_equals_pil(factor):
  # Both are float32 image * factor truncated to uint8 (PIL's blend with black: 0 + f * v).
  for image in _images(3):
    pil = ImageEnhance.Brightness(Image.fromarray(image)).enhance(factor)
    np.testing.assert_array_equal(ha.adjust_brightness(image, factor), np.asarray(pil))


@pytest.mark.parametrize('factor', [0.19, 1.81])
def test_contrast_of_gray_images_equals_pil_to_one_level(factor):
  # On gray images (R = G = B) OpenCV's and PIL's gray levels agree, and the mean level is
  # away from .5 (PIL rounds half up, mmcv half to even); what remains is the blend's float
  # association (f v + (1 - f) m vs m + f (v - m)) before truncation: at most one level.
  values = np.random.default_rng(4).integers(0, 256, (16, 15, 1), dtype=np.uint8)
  image = np.repeat(values, 3, axis=-1)
  assert abs(image.mean() % 1 - 0.5) > 0.01
  pil = np.asarray(ImageEnhance.Contrast(Image.fromarray(image)).enhance(factor))
  assert np.abs(ha.adjust_contrast(image, factor).astype(int) - pil).max() <= 1


@pytest.mark.parametrize('factor', [0.19, 1.81])
def test_sharpness_inside_the_border_equals_pil_to_one_level(factor):
  # Same SMOOTH kernel; PIL rounds the filter half up and OpenCV half to even, and the blends
  # associate differently: one level at most. (OpenCV also filters the border, reflected.)
  for image in _images(5):
    pil = np.asarray(ImageEnhance.Sharpness(Image.fromarray(image)).enhance(factor))
    ours = ha.adjust_sharpness(image, factor)
    assert np.abs(ours[1:-1, 1:-1].astype(int) - pil[1:-1, 1:-1]).max() <= 1


# ----------------------------------------------------------------------------- geometric ops
def _keys_cubic(x, a=-0.75):
  """The bicubic convolution kernel (Keys 1981) with OpenCV's a = -0.75."""
  x = abs(x)
  if x <= 1:
    return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1
  if x < 2:
    return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a
  return 0.0


def test_cubic_weights_are_the_keys_kernel():
  for t in (0.0, 1 / 32, 0.25, 0.5, 0.97):
    expected = [_keys_cubic(d) for d in (1 + t, t, 1 - t, 2 - t)]
    np.testing.assert_allclose(ha._cubic_weights(np.float64(t)), expected, atol=1e-12)


def test_integer_translation_shifts_and_fills():
  image = _images(6, (1, 16, 32, 3))[0]
  fill = ha.MMCLS_PAD
  # 0.25 of the width = 8 pixels: OpenCV's M = [[1, 0, 8], [0, 1, 0]] maps source x to x + 8.
  out = ha.translate(image, 0.25, 'horizontal', fill)
  np.testing.assert_array_equal(out[:, 8:], image[:, :-8])
  np.testing.assert_array_equal(out[:, :8], np.broadcast_to(fill, (16, 8, 3)))
  out = ha.translate(image, -0.25, 'vertical', fill)  # 4 rows up
  np.testing.assert_array_equal(out[:-4], image[4:])
  np.testing.assert_array_equal(out[-4:], np.broadcast_to(fill, (4, 32, 3)))


def test_rotation_by_90_degrees_is_clockwise_about_the_centre():
  # mmcv.imrotate: positive angles turn clockwise about ((W - 1) / 2, (H - 1) / 2); a square
  # image turned by 90 degrees lands exactly on the pixel grid.
  image = _images(7, (1, 9, 9, 3))[0]
  np.testing.assert_array_equal(ha.rotate(image, 90, (0, 0, 0)), np.rot90(image, k=-1))
  np.testing.assert_array_equal(ha.rotate(image, -90, (0, 0, 0)), np.rot90(image, k=1))


def test_shear_interpolates_bicubically_between_columns():
  # A horizontal shear of m moves row y by m * y: row 0 is unchanged, row 2 of a 0.25 shear
  # reads its source half a pixel to the left, where OpenCV's bicubic weights at t = 1/2 are
  # (-0.09375, 0.59375, 0.59375, -0.09375).
  row = np.array([0, 0, 40, 80, 200, 100, 30, 0, 0, 0], np.float64)
  image = np.repeat(np.repeat(row[None, :, None], 3, axis=0), 3, axis=2).astype(np.uint8)
  out = ha.shear(image, 0.25, 'horizontal', (0, 0, 0))
  np.testing.assert_array_equal(out[0], image[0])
  w = np.array([-0.09375, 0.59375, 0.59375, -0.09375])
  for x in range(3, 8):  # source x - 0.5: taps x - 2 .. x + 1
    expected = np.clip(np.rint(w @ row[x - 2:x + 2]), 0, 255)
    assert out[2, x, 0] == expected, (x, out[2, x, 0], expected)


# ----------------------------------------------------------------------------- the draws
def test_randaugment_magnitudes_map_the_level_onto_each_range():
  rand = ha.RandAugment(magnitude_std=0.0)
  rng = np.random.default_rng(0)
  expected = {'Rotate': 27.0, 'Posterize': 0.4, 'Solarize': 25.6, 'SolarizeAdd': 99.0,
              'ColorTransform': 0.81, 'ShearX': 0.27, 'TranslateY': 0.405}
  for policy in ha.TIMM_INCREASING:
    value = rand.magnitude(policy, rng)
    if policy.magnitude_range is None:
      assert value is None
    elif policy.name in expected:
      assert abs(abs(value) - expected[policy.name]) < 1e-9, policy.name
  # Level ~ clip(N(9, 0.5), 0, 10): Rotate's |degrees| / 3; the sign is a fair coin.
  rand = ha.RandAugment()
  values = np.array([rand.magnitude(ha.TIMM_INCREASING[3], rng) for _ in range(4000)])
  levels = np.abs(values) / 3
  assert levels.max() <= 10 + 1e-9
  # The clipped normal's mean is 9 - (0.5 phi(2) - Phi(-2)) = 8.9958; its std error at n = 4000 is
  # 0.008: 0.04 is five of them.
  assert abs(levels.mean() - 8.9958) < 0.04
  assert abs((values < 0).mean() - 0.5) < 0.04  # std error 0.008


def test_randaugment_applies_each_drawn_op_with_probability_one_half():
  # With both draws disabled the image is unchanged: probability (1/2)^2 per image.
  image = _images(8, (1, 12, 12, 3))[0]
  rand = ha.RandAugment()
  unchanged = np.mean([np.array_equal(rand(image, np.random.default_rng(i)), image)
                       for i in range(400)])
  # Identity-like draws (e.g. AutoContrast of a full-range image) add a little; std error
  # of the 1/4 at n = 400 is 0.022.
  assert 0.2 < unchanged < 0.4


def test_random_erasing_boxes_and_fill():
  erase = ha.RandomErasing()
  rng = np.random.default_rng(0)
  boxes = np.array([erase.box(224, 224, rng) for _ in range(3000)])
  top, left, h, w = boxes.T
  area = h * w / 224 ** 2
  # Rounded sides (and the min with the side): the area stays within [0.02, 1/3] up to the
  # rounding of each side by half a pixel.
  assert area.min() > 0.02 * 0.9 and area.max() < 1 / 3 * 1.1
  assert (top + h <= 224).all() and (left + w <= 224).all()
  ratio = h / w
  assert ratio.min() > 0.3 * 0.9 and ratio.max() < 10 / 3 * 1.1
  # Log-uniform aspect: half the boxes are taller than wide (std error 0.009).
  assert abs((ratio > 1).mean() - 0.5) < 0.05
  image = np.zeros((224, 224, 3), np.uint8)
  erased = [erase(image, np.random.default_rng(i)) for i in range(400)]
  hit = np.mean([e.any() for e in erased])
  assert abs(hit - 0.25) < 0.09  # std error 0.022
  pixels = np.concatenate([e[e.any(-1)] for e in erased])
  # int(N(mean, std)) truncates toward zero and clips: per channel within a level of the
  # mean (thousands of pixels).
  assert np.abs(pixels.mean(0) - np.array(ha.MMCLS_MEAN) + 0.5).max() < 2


# ----------------------------------------------------------------------------- the pipeline
def test_train_batch_applies_the_augmentation_after_the_crop_and_flip():
  records = sources.smoke_records(4, 0, 1000)
  order = np.arange(4)
  plain = imagenet.TrainBatch(records, order, 4, slice(None), seed=1, epoch=0, image_size=16,
                              strong_view=False)(0)
  for i, record in enumerate(records):  # the defaults: the bilinear crop of before
    crop = imagenet.train_transform(record['image'], imagenet.example_rng(1, 0, i),
                                    image_size=16)
    np.testing.assert_array_equal(plain['image'][i], crop)
  aug = ha.Augment(ha.RandAugment(), ha.RandomErasing(prob=1.0))
  batch = imagenet.TrainBatch(records, order, 4, slice(None), seed=1, epoch=0, image_size=16,
                              strong_view=False, interpolation='bicubic', augment=aug)(0)
  for i, record in enumerate(records):
    crop = imagenet.train_transform(record['image'], imagenet.example_rng(1, 0, i),
                                    image_size=16, interpolation='bicubic')
    expected = aug(crop, imagenet.example_rng(1, 0, i, imagenet.AUGMENT_STREAM))
    np.testing.assert_array_equal(batch['image'][i], expected)
    assert not np.array_equal(batch['image'][i], plain['image'][i])


# ----------------------------------------------------------------------------- the recipe
def test_the_deit_recipe_resolves_with_its_sources():
  resolved = recipes.resolve('nkd', 'resnet34', 'resnet18', recipe='deit_imagenet')
  c = resolved.config
  expected = {'epochs': 300, 'batch_size': 1024, 'optimizer': 'adamw', 'lr': 1e-3,
              'weight_decay': 0.05, 'grad_clip_norm': 5.0, 'warmup_epochs': 20,
              'warmup_lr': 1e-6, 'min_lr': 1e-5, 'label_smoothing': 0.1, 'mixup_alpha': 0.8,
              'cutmix_alpha': 1.0, 'mix_prob': 1.0, 'mix_switch_prob': 0.5,
              'image_interpolation': 'bicubic', 'randaugment': 'timm_increasing',
              'randaugment_magnitude': 9.0, 'randaugment_magnitude_std': 0.5,
              'random_erasing_prob': 0.25, 'weight_decay_mask': 'no_bias_norm'}
  for field, value in expected.items():
    assert c[field] == value, field
    assert resolved.sources[field].startswith('yzd-v/cls_KD '), (field, resolved.sources[field])
  assert (c.nkd.gamma, c.nkd.temperature, c.ce_weight) == (1.0, 1.0, 1.0)
  assert 'deit-s3_distill_deit-t_img.py' in resolved.sources['nkd.gamma']
  kd = recipes.resolve('kd', 'resnet34', 'resnet18', recipe='deit_imagenet').config
  assert (kd.ce_weight, kd.logit.weight, kd.logit.temperature) == (0.5, 0.5, 1.0)
  wttm = recipes.resolve('wttm', 'resnet34', 'resnet18', recipe='deit_imagenet')
  assert wttm.sources['ttm.gamma'].startswith(core.DEFAULT)
  with pytest.raises(ValueError, match='recipe deit_imagenet .* not .dkd.; use recipe imagenet'):
    recipes.resolve('dkd', 'resnet34', 'resnet18', recipe='deit_imagenet')
  assert 'deit_imagenet' in core.IMAGENET_RECIPES


def test_the_deit_schedule_is_mmcls_warmup_then_cosine_to_within_one_epoch_step():
  c = recipes.resolve('kd', 'resnet34', 'resnet18', recipe='deit_imagenet').config
  steps = 10  # updates per epoch (any)
  schedule = optim.cosine_schedule(optim.Settings.from_config(c), steps)

  def mmcls(i):  # LinearLR (per update, start_factor 1e-3) then CosineAnnealingLR per epoch
    if i < 20 * steps:
      return 1e-3 * (1e-3 + (1 - 1e-3) * i / (20 * steps))
    epoch = i // steps
    return 1e-5 + (1e-3 - 1e-5) * (1 + math.cos(math.pi * (epoch - 20) / 280)) / 2

  counts = np.arange(0, 300 * steps, 7)
  ours = np.array([float(schedule(i)) for i in counts])
  ref = np.array([mmcls(i) for i in counts])
  warm = counts < 20 * steps
  np.testing.assert_allclose(ours[warm], ref[warm], rtol=1e-5)  # float32 schedule arithmetic
  # The per-update cosine is ahead of the epoch staircase by under one epoch's step.
  assert np.abs(ours[~warm] - ref[~warm]).max() <= 1e-3 * math.pi / 280 / 2 + 1e-8


def test_the_host_augmentation_fields_keep_other_recipes_and_datasets_unchanged():
  for recipe in core.RECIPES:
    if recipe == 'deit_imagenet':
      continue
    on_imagenet = recipe in core.IMAGENET_RECIPES
    pair = ('resnet34', 'resnet18') if on_imagenet else ('resnet32x4', 'resnet8x4')
    for method in sorted(core.SETTINGS[recipe]) or ['kd']:
      c = recipes.resolve(method, *pair, recipe=recipe).config
      assert (c.image_interpolation, c.randaugment, c.random_erasing_prob) == (
          'bilinear', 'none', 0.0), (recipe, method)
  c = config_lib.get_config()
  c.randaugment = 'timm_increasing'
  with pytest.raises(ValueError, match='settings of the streaming ImageNet pipeline'):
    config_lib.validate(c)
  assert deit.DEIT_PROTOCOL['randaugment'].value in config_lib.RANDAUGMENT_POLICIES


def test_the_deit_students_default_to_the_deit_recipe():
  """``resolve`` without a recipe: the DeiT students get ``deit_imagenet`` (AdamW, cosine), the
  ImageNet CNNs keep ``imagenet`` (SGD, step decay)."""
  from kdjax.recipes import resolver  # pylint: disable=import-outside-toplevel
  assert resolver.default_recipe('kd', 'deit3_small_patch16_224', 'deit_tiny_patch16_224') == (
      'deit_imagenet')
  assert resolver.default_recipe('kd', 'resnet34', 'resnet18') == 'imagenet'
  deit = recipes.resolve('kd', 'deit3_small_patch16_224', 'deit_tiny_patch16_224').config
  cnn = recipes.resolve('kd', 'resnet34', 'resnet18').config
  assert (deit.optimizer, deit.lr_schedule, deit.label_smoothing) == ('adamw', 'cosine', 0.1)
  assert (cnn.optimizer, cnn.lr_schedule) == ('sgd', 'step')
