"""kdjax.config: schema, method presets, per-pair tables of spec/training.md."""

import json

import pytest

from kdjax import config as config_lib


def test_schema_holds_the_training_protocol():
  c = config_lib.get_config()
  assert (c.batch_size, c.epochs, c.momentum, c.weight_decay) == (64, 240, 0.9, 5e-4)
  assert tuple(c.lr_decay_epochs) == (150, 180, 210) and c.lr_decay_rate == 0.1
  assert c.lr is None and config_lib.resolved_lr(c) == 0.05
  assert (c.ctkd.t_start, c.ctkd.t_range, c.ctkd.init) == (1.0, 20.0, 1.0)
  assert (c.ctkd.lambda_max, c.ctkd.lambda_min, c.ctkd.lambda_epochs) == (0.0, -1.0, 10)
  assert (c.ls_ddof, c.ls_eps) == (1, 1e-7)
  assert (c.max_logit.order, c.max_logit.teacher_only) == (2, False)
  assert c.mlkd.masking == 'released' and c.compute_dtype == 'float32'


@pytest.mark.parametrize('student, lr', [('MobileNetV2', 0.01), ('ShuffleV1', 0.01),
                                         ('ShuffleV2', 0.01), ('resnet8x4', 0.05),
                                         ('wrn_16_2', 0.05)])
def test_default_learning_rate_by_student(student, lr):
  c = config_lib.method_config('kd', 'resnet32x4', student)
  assert config_lib.resolved_lr(c) == lr


@pytest.mark.parametrize('method, expected', [
    ('ce', dict(loss='none', ce_weight=1.0, kd_weight=0.0)),
    ('kd', dict(loss='kd', temperature_policy='fixed', standardize=False, temperature=4.0,
                ce_weight=0.1, kd_weight=0.9)),
    ('kd_ls', dict(loss='kd', standardize=True, temperature=2.0, ce_weight=0.1, kd_weight=9.0)),
    ('ctkd', dict(loss='kd', temperature_policy='ctkd', standardize=False, ce_weight=0.1,
                  kd_weight=0.9)),
    ('ctkd_ls', dict(loss='kd', temperature_policy='ctkd', standardize=True, ce_weight=0.1,
                     kd_weight=9.0)),
    ('dkd', dict(loss='dkd', temperature=4.0, ce_weight=1.0, kd_weight=1.0, dkd_alpha=1.0,
                 dkd_beta=8.0, warmup_epochs=20)),
    ('dkd_ls', dict(loss='dkd', standardize=True, temperature=2.0, ce_weight=1.0, kd_weight=9.0,
                    dkd_beta=8.0)),
    ('mlkd', dict(loss='mlkd', temperature=4.0, ce_weight=0.1, kd_weight=0.9, epochs=480,
                  lr=0.025)),
    ('mlkd_ls', dict(loss='mlkd', standardize=True, temperature=2.0, kd_weight=9.0)),
    ('ttm', dict(loss='ttm', ce_weight=1.0, ttm_gamma=0.1, kd_weight=100.0)),
    ('wttm', dict(loss='wttm', ce_weight=1.0, ttm_gamma=0.1, kd_weight=3.0)),
    ('kd_maxlogit', dict(loss='kd', temperature_policy='max_logit', standardize=True,
                         ce_weight=0.1, kd_weight=9.0)),
    ('dkd_maxlogit', dict(loss='dkd', temperature_policy='max_logit', standardize=True,
                          ce_weight=1.0, kd_weight=9.0, dkd_beta=8.0)),
])
def test_presets_for_resnet32x4_resnet8x4(method, expected):
  c = config_lib.for_cell('resnet32x4', 'resnet8x4', method)
  assert c.method == method
  for key, value in expected.items():
    assert c[key] == value, key


@pytest.mark.parametrize('teacher, student, method, expected', [
    ('resnet110', 'resnet20', 'kd_ls', dict(temperature=4.0, kd_weight=12.0)),
    ('ResNet50', 'MobileNetV2', 'kd_ls', dict(temperature=3.0, kd_weight=1.0)),
    ('vgg13', 'vgg8', 'kd_ls', dict(temperature=3.0, kd_weight=9.0)),
    ('resnet56', 'resnet20', 'dkd', dict(dkd_beta=2.0, temperature=4.0)),
    ('vgg13', 'vgg8', 'dkd', dict(dkd_beta=6.0)),
    ('resnet32x4', 'ShuffleV2', 'dkd', dict(dkd_beta=8.0)),
    ('resnet56', 'resnet20', 'dkd_ls', dict(temperature=3.0, kd_weight=18.0, dkd_beta=2.0)),
    ('wrn_40_2', 'resnet8x4', 'dkd_ls', dict(temperature=2.0, kd_weight=18.0, dkd_beta=2.0)),
    ('resnet32x4', 'wrn_40_2', 'dkd_ls', dict(temperature=2.0, kd_weight=9.0, dkd_beta=8.0)),
    ('wrn_40_2', 'wrn_16_2', 'ttm', dict(ttm_gamma=0.1, kd_weight=101.0)),
    ('resnet56', 'resnet20', 'wttm', dict(ttm_gamma=0.3, kd_weight=1.5)),
    ('resnet32x4', 'ShuffleV2', 'wttm', dict(ttm_gamma=0.4, kd_weight=16.0)),
    ('resnet34', 'resnet18', 'wttm', dict(ttm_gamma=0.8, kd_weight=1.6)),
    ('resnet32x4', 'ShuffleV2', 'mlkd_ls', dict(kd_weight=6.0, epochs=960, lr=0.01)),
    ('vgg13', 'vgg8', 'mlkd_ls', dict(kd_weight=6.0, epochs=480, lr=0.025)),
    ('wrn_40_2', 'MobileNetV2', 'mlkd_ls', dict(kd_weight=9.0, lr=0.005)),
    ('wrn_40_2', 'MobileNetV2', 'mlkd', dict(lr=0.01)),
    ('resnet32x4', 'ShuffleV1', 'mlkd', dict(epochs=960)),
])
def test_per_pair_tables(teacher, student, method, expected):
  c = config_lib.for_cell(teacher, student, method)
  for key, value in expected.items():
    assert c[key] == value, key


def test_strict_cells_need_a_published_pair_and_loose_ones_use_defaults():
  with pytest.raises(KeyError, match='no published setting'):
    config_lib.for_cell('resnet14', 'resnet8', 'ttm')
  loose = config_lib.method_config('ttm', 'resnet14', 'resnet8')
  assert (loose.ttm_gamma, loose.kd_weight) == config_lib.TTM_TABLE[config_lib.TTM_DEFAULT_PAIR]
  assert config_lib.method_config('kd_ls', 'resnet14', 'resnet8').kd_weight == 9.0


def test_mlkd_repository_epoch_setting_shortens_same_family_pairs():
  base = config_lib.get_config()
  base.mlkd.epoch_setting = 'repository'
  same = config_lib.method_config('mlkd', 'resnet32x4', 'resnet8x4', config=base)
  cross = config_lib.method_config('mlkd', 'resnet32x4', 'ShuffleV2', config=base)
  assert (same.epochs, cross.epochs) == (240, 960)


def test_presets_do_not_leak_between_methods():
  ls = config_lib.method_config('dkd_ls', 'resnet56', 'resnet20')
  kd = config_lib.method_config('kd', 'resnet56', 'resnet20', config=ls)
  assert (kd.standardize, kd.temperature, kd.kd_weight, kd.ce_weight) == (False, 4.0, 0.9, 0.1)
  assert kd.loss == 'kd'


def test_json_round_trip_is_exact():
  c = config_lib.method_config('ctkd_ls', 'resnet32x4', 'resnet8x4')
  c.lr = 0.1
  text = config_lib.to_json(c)
  again = config_lib.from_mapping(json.loads(text))
  assert config_lib.to_json(again) == text
  assert tuple(again.lr_decay_epochs) == (150, 180, 210)


@pytest.mark.parametrize('field, value, message', [
    ('loss', 'kl', 'loss must be one of'),
    ('temperature_policy', 'learned', 'temperature_policy'),
    ('compute_dtype', 'float16', 'compute_dtype'),
    ('temperature', 0.0, 'temperature must be > 0'),
    ('lr_decay_epochs', (180, 150), 'increasing'),
    ('teacher', '', 'needs a teacher'),
    ('ttm_gamma', 0.0, 'ttm_gamma .* must be > 0'),
    ('eval_ttm_gamma', -0.3, 'eval_ttm_gamma must be > 0'),
    ('conv_batch_chunks', -1, 'conv_batch_chunks must be >= 0'),
    ('teacher_cache_dtype', 'int8', 'teacher_cache_dtype must be one of'),
    ('teacher_cache_verify', -1, 'teacher_cache_verify must be >= 0'),
])
def test_validate_names_the_bad_field(field, value, message):
  c = config_lib.get_config()
  c[field] = value
  with pytest.raises(ValueError, match=message):
    config_lib.validate(c)


def test_unknown_method_is_refused():
  with pytest.raises(ValueError, match='unknown method'):
    config_lib.method_config('fitnet', 'resnet32x4', 'resnet8x4')


def test_smoke_config_shrinks_but_keeps_the_method():
  c = config_lib.smoke_config(config_lib.method_config('dkd', 'resnet14', 'resnet8'))
  assert c.smoke and (c.epochs, c.batch_size, c.smoke_steps) == (2, 8, 2)
  assert (c.loss, c.dkd_beta) == ('dkd', 8.0)
  config_lib.validate(c)


def test_family():
  assert [config_lib.family(m) for m in ('resnet8x4', 'ResNet50', 'wrn_16_2', 'vgg8',
                                         'MobileNetV2', 'ShuffleV1')] == [
      'resnet', 'resnet', 'wrn', 'vgg', 'mobilenet', 'shufflenet']
  with pytest.raises(ValueError, match='unknown model family'):
    config_lib.family('vit_b16')


def test_partial_ls_options_are_checked():
  c = config_lib.method_config('kd_ls', 'resnet32x4', 'resnet8x4')
  c.ls_center = False
  config_lib.validate(c)
  c.ls_scale = False
  with pytest.raises(ValueError, match='cannot both be False'):
    config_lib.validate(c)
  m = config_lib.method_config('mlkd_ls', 'resnet32x4', 'resnet8x4')
  m.ls_scale = False
  with pytest.raises(ValueError, match='MLKD supports the full z-score only'):
    config_lib.validate(m)


def test_kd_ttm_and_wttm_of_a_pair_log_the_kl_at_the_pairs_ttm_gamma():
  from kdjax import train  # pylint: disable=import-outside-toplevel
  pair = ('resnet32x4', 'resnet8x4')
  ttm_gamma = config_lib.method_config('ttm', *pair).ttm_gamma
  for method in ('kd', 'ttm', 'wttm', 'kd_ls', 'dkd'):
    config = config_lib.method_config(method, *pair)
    assert config.eval_ttm_gamma == ttm_gamma
    assert train.logged_ttm_gamma(config) == ttm_gamma
  config = config_lib.get_config()
  assert config.eval_ttm_gamma is None and train.logged_ttm_gamma(config) == config.ttm_gamma
