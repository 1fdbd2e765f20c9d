"""Seed 002 Table 13's WTTM+ViTKD cell (DeiT III-Small -> DeiT-Tiny, recipe ``deit_imagenet``)
in smoke mode, built as ``python -m experiments.sweep --table=seed002_table13 --smoke`` builds it:
the run goes through the recipe's whole pipeline (host RandAugment and random erasing on the
streaming ImageNet source, Mixup/CutMix with label smoothing, AdamW with its decay mask, gradient
clipping, the warm-up), trains (both distillation terms), gives the same result on 1 and 2
devices and resumes exactly.

Smoke mode: 16 random records of 40-64 px a side (``sources.smoke_records``) through the same
host pipeline at crop 32 (``sources.IMAGENET_SIZES['smoke']``); random-init teacher; 2 epochs of 2
steps at batch 8. The training test swaps both DeiTs for ``vit_toy`` (2 blocks of width 32, the
same ``VisionTransformer`` code; 8 x 8 patch tokens of 4 px): compiling two 12-block DeiTs three
times (two processes, 1 and 2 devices) cost about 150 s of CPU, beyond this suite's budget, and
the models add nothing to what the test checks (the recipe's pipeline and the method's terms on
N devices). The cell's own models are checked elsewhere: their conversion against the PyTorch
model (``test_deit.py``), the cell's whole train step traced (``test_cells_build.py``), and a
smoke teacher without BatchNorm (below).
"""

import math

import jax
import numpy as np
import pytest

from experiments import published
from experiments import sweep
from kdjax import config as config_lib
from kdjax import optim
from kdjax import recipes
from kdjax import teachers
from kdjax import train
from kdjax.data import batching
from kdjax.data import host_augment
from kdjax.data import imagenet
from kdjax.data import sources
from tests import method_checks

TABLE = 'seed002_table13'
CELL = 'deit3_small_patch16_224-deit_tiny_patch16_224-wttm+vitkd'

# The deit_imagenet recipe's settings (cls_KD deit-small_pt-4xb256_in1k.py,
# imagenet_bs64_swin_224.py, imagenet_bs1024_adamw_swin.py; each sourced in kdjax.recipes.deit),
# which smoke mode keeps.
RECIPE = {'dataset': 'imagenet2012', 'optimizer': 'adamw', 'lr': 1e-3, 'weight_decay': 0.05,
          'weight_decay_mask': 'no_bias_norm', 'grad_clip_norm': 5.0, 'lr_schedule': 'cosine',
          'warmup_lr': 1e-6, 'min_lr': 1e-5, 'label_smoothing': 0.1, 'mixup_alpha': 0.8,
          'cutmix_alpha': 1.0, 'mix_prob': 1.0, 'mix_switch_prob': 0.5,
          'image_interpolation': 'bicubic', 'randaugment': 'timm_increasing',
          'randaugment_num_ops': 2, 'randaugment_magnitude': 9.0,
          'randaugment_magnitude_std': 0.5, 'random_erasing_prob': 0.25}


@pytest.fixture(scope='module')
def config():
  """The cell's smoke config, as the sweep's ``--smoke`` builds it (``common.config_for(cell,
  runlocal=True)``: ``config_lib.smoke_config`` of the resolved cell)."""
  return sweep.cell_config(published.lookup(TABLE, CELL), 0, smoke=True, teachers_dir=None)


@pytest.fixture(scope='module')
def run(config):
  return train.prepare_run(config)


@pytest.fixture(scope='module')
def toy_config(config):
  """The cell's smoke config with ``vit_toy`` as teacher and student (module docstring)."""
  toy = config_lib.copy_config(config)
  toy.teacher = toy.student = 'vit_toy'
  return config_lib.validate(toy)


@pytest.mark.slow
def test_the_smoke_cell_keeps_the_deit_recipe_and_its_pipeline(config, run):
  """Not a fallback path: the recipe's fields survive ``smoke_config``, and the prepared run
  streams host-augmented crops, mixes on device and optimises with clipped AdamW."""
  assert (config.smoke, config.method, config.teacher, config.student) == (
      True, 'wttm+vitkd', 'deit3_small_patch16_224', 'deit_tiny_patch16_224')
  for field, value in RECIPE.items():
    assert config[field] == value, field
  unsmoked = recipes.resolve('wttm+vitkd', config.teacher, config.student).config
  for field in RECIPE:  # the same resolution without --smoke
    assert unsmoked[field] == config[field], field
  assert (unsmoked.epochs, unsmoked.warmup_epochs) == (300, 20)
  assert (config.epochs, config.warmup_epochs, config.batch_size) == (2, 1, 8)
  assert (config.logit.loss, config.feature.loss) == ('wttm', 'vitkd')

  # The streaming ImageNet source (not the in-memory random arrays of the other smoke runs) at
  # crop 32, with the recipe's host augmentation.
  source = run.source
  assert isinstance(source, sources.StreamingSource)
  assert source.image_shape == (32, 32, 3) and source.interpolation == 'bicubic'
  expected_augment = host_augment.Augment(
      host_augment.RandAugment(num_policies=2, magnitude_level=9.0, magnitude_std=0.5),
      host_augment.RandomErasing(prob=0.25))
  assert source.augment == expected_augment
  # Mixup/CutMix with label smoothing on device; clipped AdamW with its mask and warm-up.
  views, settings = run.program.setup.views, run.program.setup.optimization
  assert (views.mixup_alpha, views.cutmix_alpha, views.mix_prob, views.mix_switch_prob,
          views.label_smoothing) == (0.8, 1.0, 1.0, 0.5, 0.1)
  assert (settings.optimizer, settings.grad_clip_norm, settings.weight_decay,
          settings.weight_decay_mask, settings.warmup_epochs) == (
              'adamw', 5.0, 0.05, 'no_bias_norm', 1)

  # The first host batch of epoch 1 is each record's bicubic crop and flip, then RandAugment and
  # random erasing drawn from the example's own stream, and differs from the plain crop.
  epoch = 1
  batch = next(source.train_batches(config.seed, epoch, run.steps, 0, config.batch_size,
                                    run.mesh))
  order = batching.epoch_permutation(config.seed, epoch, source.num_train)
  records = sources.smoke_records(config.smoke_examples, config.seed, imagenet.NUM_CLASSES)
  changed = 0
  for image, index in zip(batch['image'], batch['index']):
    crop = imagenet.train_transform(records[index]['image'],
                                    imagenet.example_rng(config.seed, epoch, index),
                                    image_size=32, interpolation='bicubic')
    augmented = expected_augment(crop, imagenet.example_rng(config.seed, epoch, index,
                                                            imagenet.AUGMENT_STREAM))
    np.testing.assert_array_equal(image, augmented)
    changed += not np.array_equal(image, crop)
  np.testing.assert_array_equal(batch['index'], order[:config.batch_size])
  # An image is left as cropped with probability ~ (1/2)^2 x 3/4 (neither op applied, no
  # erasing); at seed 0 (numpy's PCG64 draws, the same on any machine) 7 of the 8 differ.
  assert changed == 7, changed



def _mmcls_lr(step, steps_per_epoch):
  """mmcls's LinearLR (start_factor 1e-3, per update over the warm-up epoch) then the cosine to
  ``min_lr`` over the remaining updates (kdjax steps the cosine per update: kdjax.recipes.deit)."""
  lr, min_lr, warmup = 1e-3, 1e-5, 1 * steps_per_epoch
  if step < warmup:
    return lr * (1e-3 + (1 - 1e-3) * step / warmup)
  total = 2 * steps_per_epoch - warmup
  return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * (step - warmup) / total)) / 2


@pytest.mark.slow
def test_trains_alike_on_one_and_two_devices_and_resumes_exactly(toy_config, tmp_path):
  config = toy_config
  run = train.prepare_run(config)
  initial = run.program.init(np.uint32(config.seed), **train.init_data(run))
  reference = method_checks.assert_resumes_exactly(
      config, tmp_path, keys=('train_loss', 'train_kd', 'train_vitkd_mimic',
                              'train_vitkd_generation', 'test_top1', 'lr'))
  rows = method_checks.metric_rows(str(tmp_path / 'uninterrupted'))
  assert [r['epoch'] for r in rows] == [1, 2]
  for row in rows:  # CE, WTTM (logged as kd) and both ViTKD terms, all finite and > 0
    for name in ('train_loss', 'train_ce', 'train_kd', 'train_vitkd_mimic',
                 'train_vitkd_generation'):
      assert math.isfinite(row[name]) and row[name] > 0, (name, row)
    np.testing.assert_allclose(row['train_loss'], row['train_ce'] + row['train_kd']
                               + row['train_vitkd_mimic'] + row['train_vitkd_generation'],
                               rtol=1e-5)  # float32 sums of four terms
    assert row['train_temperature_mean'] == pytest.approx(1 / 0.8)  # WTTM's 1 / gamma
  # The warm-up: the lr of the optimizer's schedule per update, from 1e-6 to the peak 1e-3.
  schedule = optim.cosine_schedule(run.program.setup.optimization, run.steps)
  assert run.steps == 2
  for step in range(4):  # float32 schedule arithmetic
    assert float(schedule(step)) == pytest.approx(_mmcls_lr(step, 2), rel=1e-5), step
  assert (rows[0]['lr'], rows[1]['lr']) == (pytest.approx(1e-6), pytest.approx(1e-3))
  state = reference.state
  assert int(jax.device_get(state.step)) == 4
  assert state.batch_stats == {'student': {}, 'method': {}}  # no BatchNorm in the ViTs

  # ViTKD's own parameters: equal widths (no projection); the mask token starts at zeros
  # (cls_KD's torch.zeros) and trains; the generation convolutions start at PyTorch's default
  # U(+-1/sqrt(fan_in)), fan_in = 3 * 3 * 32.
  method_params = state.params['method']['feature']
  assert set(method_params) == {'mask_token', 'generation'}
  start = initial.params['method']['feature']
  np.testing.assert_array_equal(start['mask_token'], np.zeros((1, 1, 32)))
  for conv in ('conv0', 'conv1'):
    for leaf in start['generation'][conv].values():
      assert 0.8 / math.sqrt(288) < np.abs(np.asarray(leaf)).max() <= 1 / math.sqrt(288)
  assert np.abs(np.asarray(method_params['mask_token'])).max() > 0

  two = method_checks.run_on_devices({'deit': config}, 2, tmp_path)
  assert two['devices'] == 2 and two['deit']['replicated']
  one = {'state': method_checks.state_leaves(state),
         'initial': method_checks.state_leaves(initial), 'rows': rows}
  # The host pipeline draws each example's crop and augmentation from (seed, epoch, index) and
  # the step its mixing, dropout and ViTKD mask from the global batch's keys, so both runs see
  # the same inputs; the states agree as float32 guarantees (method_checks.RTOL, argued there).
  method_checks.assert_same_runs(one, two['deit'])


def test_a_random_smoke_teacher_without_batchnorm_has_empty_batch_stats():
  """The smoke run's random-init teacher of a model without BatchNorm (the DeiTs, vit_toy)
  initialises no ``batch_stats`` collection: it is passed on empty (it used to be a KeyError)."""
  c = config_lib.smoke_config(config_lib.get_config())
  c.teacher = 'vit_toy'
  variables = teachers.load_variables(c, 10, (16, 16, 3))
  assert variables['batch_stats'] == {}
  assert set(variables['params']) >= {'cls_token', 'pos_embed', 'head'}
