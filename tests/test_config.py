"""kdjax.config: the schema, method presets, derived method names, checks; kdjax.recipes' per-pair tables.

Per-pair values and their sources: ``kdjax/recipes/`` (the LS release's logs, mdistiller and
MLKD configs, the TTM paper's hyperparameter table); ``tests/test_configs.py`` checks the cells.
"""

import json

import pytest

from experiments.configs import method as method_file
from kdjax import config as config_lib
from kdjax import models
from kdjax import methods
from kdjax import recipes
from kdjax import steps


def test_schema_holds_the_training_protocol():
  """CRD train_student.py defaults, kept by mdistiller: batch 64, 240 epochs, lr 0.05, ..."""
  c = config_lib.get_config()
  assert c.method is None  # derived from the switches by validate
  assert (c.batch_size, c.epochs, c.momentum, c.weight_decay) == (64, 240, 0.9, 5e-4)
  assert tuple(c.lr_decay_epochs) == (150, 180, 210) and c.lr_decay_rate == 0.1
  assert c.lr is None and config_lib.resolved_lr(c) == 0.05
  assert (c.ce_weight, c.logit.loss, c.logit.weight, c.logit.temperature) == (0.1, 'kd', 0.9, 4.0)
  assert (c.logit.policy, c.logit.standardize) == ('fixed', False)
  assert (c.ctkd.t_start, c.ctkd.t_range, c.ctkd.init) == (1.0, 20.0, 1.0)
  assert (c.ctkd.lambda_max, c.ctkd.lambda_min, c.ctkd.lambda_epochs) == (0.0, -1.0, 10)
  assert (c.ls.ddof, c.ls.eps, c.ls.center, c.ls.scale) == (1, 1e-7, True, True)
  assert (c.dkd.alpha, c.dkd.beta, c.dkd.warmup_epochs) == (1.0, 8.0, 20)
  assert c.ttm.gamma == 0.1 and (c.dist.beta, c.dist.gamma) == (1.0, 1.0)
  assert (c.max_logit.order, c.max_logit.teacher_only) == (2, False)
  assert (c.mlkd.masking, c.mlkd.strong_crop) == ('released', 'independent')
  assert set(c.mlkd) == {'masking', 'strong_crop'}  # mlkd.epoch_setting is gone (recipes)
  assert (c.feature.loss, c.feature.weight) == ('none', 1.0)
  assert (c.compute_dtype, c.precision) == ('float32', 'highest')
  assert config_lib.validate(c).method == 'kd'


@pytest.mark.parametrize('student, lr', [('MobileNetV2', 0.01), ('ShuffleV1', 0.01),
                                         ('ShuffleV2', 0.01), ('resnet8x4', 0.05),
                                         ('wrn_16_2', 0.05)])
def test_default_learning_rate_by_student(student, lr):
  """CRD train_student.py: lr 0.05, 0.01 for MobileNetV2 / ShuffleV1 / ShuffleV2."""
  c = recipes.method_config('kd', 'resnet32x4', student)
  assert c.lr == lr and config_lib.resolved_lr(c) == lr
  source = recipes.resolve('kd', 'resnet32x4', student).sources['lr']
  assert ('lr 0.01 for MobileNetV2' in source) == (lr == 0.01)


@pytest.mark.parametrize('method, expected', [
    ('ce', {'logit.loss': 'none', 'ce_weight': 1.0, 'logit.weight': 0.0}),
    ('kd', {'logit.loss': 'kd', 'logit.policy': 'fixed', 'logit.standardize': False,
            'logit.temperature': 4.0, 'ce_weight': 0.1, 'logit.weight': 0.9}),
    ('kd_ls', {'logit.loss': 'kd', 'logit.standardize': True, 'logit.temperature': 2.0,
               'ce_weight': 0.1, 'logit.weight': 9.0}),
    ('ctkd', {'logit.loss': 'kd', 'logit.policy': 'ctkd', 'logit.standardize': False,
              'ce_weight': 0.1, 'logit.weight': 0.9, 'ctkd.t_start': 1.0, 'ctkd.t_range': 20.0}),
    ('ctkd_ls', {'logit.loss': 'kd', 'logit.policy': 'ctkd', 'logit.standardize': True,
                 'ce_weight': 0.1, 'logit.weight': 9.0, 'ctkd.t_start': 2.0,
                 'ctkd.t_range': 40.0}),
    ('dkd', {'logit.loss': 'dkd', 'logit.temperature': 4.0, 'ce_weight': 1.0,
             'logit.weight': 1.0, 'dkd.alpha': 1.0, 'dkd.beta': 8.0, 'dkd.warmup_epochs': 20}),
    ('dkd_ls', {'logit.loss': 'dkd', 'logit.standardize': True, 'logit.temperature': 2.0,
                'ce_weight': 1.0, 'logit.weight': 9.0, 'dkd.beta': 8.0}),
    ('mlkd', {'logit.loss': 'mlkd', 'logit.temperature': 4.0, 'ce_weight': 0.1,
              'logit.weight': 0.9, 'epochs': 480, 'lr': 0.025}),
    ('mlkd_ls', {'logit.loss': 'mlkd', 'logit.standardize': True, 'logit.temperature': 2.0,
                 'logit.weight': 9.0}),
    ('ttm', {'logit.loss': 'ttm', 'ce_weight': 1.0, 'ttm.gamma': 0.1, 'logit.weight': 100.0}),
    ('wttm', {'logit.loss': 'wttm', 'ce_weight': 1.0, 'ttm.gamma': 0.1, 'logit.weight': 3.0}),
    ('kd_maxlogit', {'logit.loss': 'kd', 'logit.policy': 'max_logit',
                     'logit.standardize': True, 'ce_weight': 0.1, 'logit.weight': 9.0}),
    ('dkd_maxlogit', {'logit.loss': 'dkd', 'logit.policy': 'max_logit',
                      'logit.standardize': True, 'ce_weight': 1.0, 'logit.weight': 9.0,
                      'dkd.beta': 8.0}),
    ('dist', {'logit.loss': 'dist', 'logit.temperature': 4.0, 'ce_weight': 1.0,
              'logit.weight': 2.0, 'dist.beta': 1.0, 'dist.gamma': 1.0}),
    # Seed 002 Table 8's own WTTM w/o CE row (gamma only; beta 1 is a marked default).
    ('wttm_noce', {'logit.loss': 'wttm', 'ce_weight': 0.0, 'ttm.gamma': 0.5,
                   'logit.weight': 1.0}),
])
def test_presets_for_resnet32x4_resnet8x4(method, expected):
  """The published logit presets (a preset without a cell, e.g. NKD's: test_method_nkd.py)."""
  resolved = recipes.resolve(method, 'resnet32x4', 'resnet8x4', strict=True)
  c = resolved.config
  assert c.method == method  # every preset's derived name is its own
  flat = config_lib.flatten(c.to_dict())
  for key, value in expected.items():
    assert flat[key] == value, key
  for key in methods.presets()[method]:
    assert resolved.sources[key], key  # every preset value is sourced
  assert set(config_lib.LOGIT_METHODS) <= set(methods.presets()) == set(config_lib.METHODS)
  assert len(config_lib.LOGIT_METHODS) == 15  # all listed here (feature methods: test_method_*)


@pytest.mark.parametrize('teacher, student, method, expected', [
    ('resnet110', 'resnet20', 'kd_ls', {'logit.temperature': 4.0, 'logit.weight': 12.0}),
    ('ResNet50', 'MobileNetV2', 'kd_ls', {'logit.temperature': 3.0, 'logit.weight': 1.0}),
    ('vgg13', 'vgg8', 'kd_ls', {'logit.temperature': 3.0, 'logit.weight': 9.0}),
    ('resnet56', 'resnet20', 'dkd', {'dkd.beta': 2.0, 'logit.temperature': 4.0}),
    ('vgg13', 'vgg8', 'dkd', {'dkd.beta': 6.0}),
    ('resnet32x4', 'ShuffleV2', 'dkd', {'dkd.beta': 8.0}),
    ('resnet56', 'resnet20', 'dkd_ls', {'logit.temperature': 3.0, 'logit.weight': 18.0,
                                        'dkd.beta': 2.0}),
    ('wrn_40_2', 'resnet8x4', 'dkd_ls', {'logit.temperature': 2.0, 'logit.weight': 18.0,
                                         'dkd.beta': 2.0}),
    ('resnet32x4', 'wrn_40_2', 'dkd_ls', {'logit.temperature': 2.0, 'logit.weight': 9.0,
                                          'dkd.beta': 8.0}),
    ('wrn_40_2', 'wrn_16_2', 'ttm', {'ttm.gamma': 0.1, 'logit.weight': 101.0}),
    ('resnet56', 'resnet20', 'wttm', {'ttm.gamma': 0.3, 'logit.weight': 1.5}),
    ('resnet32x4', 'ShuffleV2', 'wttm', {'ttm.gamma': 0.4, 'logit.weight': 16.0}),
    ('resnet34', 'resnet18', 'wttm', {'ttm.gamma': 0.8, 'logit.weight': 1.6}),
    ('resnet32x4', 'ShuffleV2', 'mlkd_ls', {'logit.weight': 6.0, 'epochs': 960, 'lr': 0.01}),
    ('vgg13', 'vgg8', 'mlkd_ls', {'logit.weight': 6.0, 'epochs': 480, 'lr': 0.01}),
    ('wrn_40_2', 'MobileNetV2', 'mlkd_ls', {'logit.weight': 9.0, 'lr': 0.005}),
    ('wrn_40_2', 'MobileNetV2', 'mlkd', {'lr': 0.005}),
    ('resnet32x4', 'ShuffleV1', 'mlkd', {'epochs': 960}),
])
def test_per_pair_tables(teacher, student, method, expected):
  """The pair rows of kdjax.recipes (LS logs, mdistiller / MLKD configs, TTM Appendix A.4)."""
  c = recipes.method_config(method, teacher, student, strict=True)
  flat = config_lib.flatten(c.to_dict())
  for key, value in expected.items():
    assert flat[key] == value, key


def test_strict_cells_need_a_published_pair_and_loose_ones_use_defaults():
  with pytest.raises(KeyError, match='no published setting'):
    recipes.resolve('ttm', 'resnet14', 'resnet8', strict=True)
  loose = recipes.resolve('ttm', 'resnet14', 'resnet8')
  assert (loose.config.ttm.gamma, loose.config.logit.weight) == (0.1, 100.0)  # r32x4 -> r8x4 row
  assert loose.sources['ttm.gamma'] == recipes.TTM.fallback[1]
  assert loose.sources['ttm.gamma'].startswith(recipes.DEFAULT)
  kd_ls = recipes.resolve('kd_ls', 'resnet14', 'resnet8')
  assert (kd_ls.config.logit.temperature, kd_ls.config.logit.weight) == (2.0, 9.0)
  assert kd_ls.sources['logit.weight'].startswith('default: the LS release')


def test_mlkd_epochs_by_pair():
  """MLKD configs/cifar100/ours: 480 epochs, 960 for resnet32x4 -> ShuffleV1/V2 (no epoch_setting)."""
  same = recipes.method_config('mlkd', 'resnet32x4', 'resnet8x4')
  cross = recipes.method_config('mlkd', 'resnet32x4', 'ShuffleV2')
  assert (same.epochs, cross.epochs) == (480, 960)
  assert recipes.method_config('kd', 'resnet32x4', 'ShuffleV2').epochs == 240


def test_presets_do_not_leak_between_methods():
  ls = recipes.method_config('dkd_ls', 'resnet56', 'resnet20')
  ls.ctkd.t_start, ls.ttm.gamma = 7.0, 0.9
  kd = recipes.method_config('kd', 'resnet56', 'resnet20', config=ls)
  assert (kd.logit.standardize, kd.logit.temperature, kd.logit.weight, kd.ce_weight) == (
      False, 4.0, 0.9, 0.1)
  assert (kd.logit.loss, kd.dkd.beta, kd.ctkd.t_start, kd.ttm.gamma) == ('kd', 8.0, 1.0, 0.1)
  assert kd.method == 'kd'
  applied = config_lib.apply_preset(ls, 'wttm')
  assert applied.method is None and applied.logit.loss == 'wttm' and not applied.logit.standardize
  assert (applied.teacher, applied.student) == ('resnet56', 'resnet20')  # not a method field


def test_json_round_trip_is_exact():
  c = recipes.method_config('ctkd_ls', 'resnet32x4', 'resnet8x4')
  c.lr = 0.1
  text = config_lib.to_json(c)
  again = config_lib.from_mapping(json.loads(text))
  assert config_lib.to_json(again) == text
  assert tuple(again.lr_decay_epochs) == (150, 180, 210)
  assert (again.ctkd.t_start, again.ctkd.t_range, again.method) == (2.0, 40.0, 'ctkd_ls')
  assert config_lib.flatten({'ctkd': {'t_start': 1}, 'seed': 3}) == {'ctkd.t_start': 1, 'seed': 3}


@pytest.mark.parametrize('field, value, message', [
    ('logit.loss', 'kl', 'logit.loss must be one of'),
    ('logit.policy', 'learned', 'logit.policy must be one of'),
    ('compute_dtype', 'float16', 'compute_dtype must be one of'),
    ('precision', 'fp8', 'precision must be one of'),
    ('logit.temperature', 0.0, 'logit.temperature must be > 0'),
    ('lr_decay_epochs', (180, 150), 'increasing'),
    ('teacher', '', "method 'kd' needs a teacher"),
    ('ttm.gamma', 0.0, r'ttm.gamma .* must be > 0'),
    ('eval_ttm_gamma', -0.3, 'eval_ttm_gamma must be > 0'),
    ('conv_batch_chunks', -1, 'conv_batch_chunks must be >= 0'),
    ('teacher_cache_dtype', 'int8', 'teacher_cache_dtype must be one of'),
    ('teacher_cache_verify', -1, 'teacher_cache_verify must be >= 0'),
    ('validation_examples', -1, 'validation_examples must be >= 0'),
    ('checkpoint_every_steps', -1, 'checkpoint_every_steps must be >= 0'),
    ('ce_weight', -0.1, 'ce_weight must be >= 0'),
    ('dkd.warmup_epochs', 0, 'dkd.warmup_epochs must be >= 1'),
    ('ctkd.variant', 'layer', 'ctkd.variant must be'),
    ('ctkd.schedule', 'step', 'ctkd.schedule must be'),
    ('max_logit.order', 3, 'max_logit.order must be 1 or 2'),
    ('mlkd.masking', 'none', 'mlkd.masking must be one of'),
    ('mlkd.strong_crop', 'none', 'mlkd.strong_crop must be one of'),
    ('feature.loss', 'nope', 'feature.loss must be none or one of'),
])
def test_validate_names_the_bad_field(field, value, message):
  c = config_lib.get_config()
  c.update_from_flattened_dict({field: value})
  with pytest.raises(ValueError, match=message):
    config_lib.validate(c)


def test_validate_lists_every_problem_and_ls_needs_a_loss():
  c = config_lib.get_config()
  c.logit.loss, c.logit.standardize, c.epochs = 'none', True, 0
  with pytest.raises(ValueError) as error:
    config_lib.validate(c)
  assert 'LS needs a logit loss' in str(error.value) and 'must be positive' in str(error.value)


def test_unknown_method_is_refused():
  with pytest.raises(ValueError, match=r"unknown method 'fitnesse' \(did you mean fitnet\?\); choose one of \[.*'ce', "):
    recipes.method_config('fitnesse', 'resnet32x4', 'resnet8x4')


def test_unknown_models_are_refused_before_any_data_is_read():
  config = recipes.method_config('kd', 'resnet32x4', 'resnet8x4')
  config.teacher, config.student = 'resnet9000', 'resnet7'
  found = config_lib.problems(config)
  assert [p for p in found if 'model' in p] == [
      f"unknown {role} model '{name}'; choose one of {', '.join(models.names())}"
      for role, name in (('student', 'resnet7'), ('teacher', 'resnet9000'))]
  with pytest.raises(ValueError, match="unknown student model 'resnet7'"):
    config_lib.validate(config)


def test_smoke_config_shrinks_but_keeps_the_method():
  c = config_lib.smoke_config(recipes.method_config('dkd', 'resnet14', 'resnet8'))
  assert c.smoke and (c.epochs, c.batch_size, c.smoke_steps, c.smoke_examples) == (2, 8, 2, 16)
  assert tuple(c.lr_decay_epochs) == (1,)
  assert (c.dkd.warmup_epochs, c.ctkd.lambda_epochs) == (2, 2)  # schedules move in 2 epochs
  assert (c.logit.loss, c.dkd.beta) == ('dkd', 8.0)
  assert config_lib.validate(c).method == 'dkd'


def test_family():
  assert [recipes.family(m) for m in ('resnet8x4', 'ResNet50', 'wrn_16_2', 'vgg8',
                                      'MobileNetV2', 'ShuffleV1', 'deit_tiny_patch16_224',
                                      'deit3_small_patch16_224', 'vit_toy')] == [
      'resnet', 'resnet', 'wrn', 'vgg', 'mobilenet', 'shufflenet', 'vit', 'vit', 'vit']
  with pytest.raises(ValueError, match='unknown model family'):
    recipes.family('convnext_tiny')


def test_partial_ls_options_are_checked():
  c = recipes.method_config('kd_ls', 'resnet32x4', 'resnet8x4')
  c.method = None
  c.ls.center = False
  assert config_lib.validate(c).method == 'kd_lsscale'
  c.ls.scale = False
  with pytest.raises(ValueError, match='cannot both be False'):
    config_lib.validate(c)
  m = recipes.method_config('mlkd_ls', 'resnet32x4', 'resnet8x4')
  m.method = None
  m.ls.scale = False
  with pytest.raises(ValueError, match='MLKD supports the full z-score only'):
    config_lib.validate(m)


def test_every_method_of_a_pair_logs_the_kl_at_the_pairs_ttm_gamma():
  """eval_ttm_gamma = the pair's TTM gamma (resnet56 -> resnet20: 0.3, Zheng & Yang A.4)."""
  pair = ('resnet56', 'resnet20')
  for method in ('kd', 'ttm', 'wttm', 'kd_ls', 'dkd', 'ctkd_ls'):
    config = recipes.method_config(method, *pair)
    assert config.eval_ttm_gamma == 0.3, method
    assert dict(steps.evaluation_statistics(config))['gamma'] == 0.3, method
  seed000 = recipes.resolve('ttm', *pair, recipe='seed000').config
  assert (seed000.ttm.gamma, seed000.eval_ttm_gamma) == (0.2, 0.3)  # trains 0.2, logs 0.3
  config = config_lib.get_config()
  config.ttm.gamma = 0.7
  assert config.eval_ttm_gamma is None
  assert dict(steps.evaluation_statistics(config))['gamma'] == 0.7


# -------------------------------------------------------------------------------------------
# Method names are derived from the switches (kdjax.methods.method_name).
def _switched(method, **fields):
  config = recipes.method_config(method, 'resnet32x4', 'resnet8x4')
  config.method = None
  config.update_from_flattened_dict(fields)
  return config_lib.validate(config).method


@pytest.mark.parametrize('method, fields, name', [
    ('kd', {}, 'kd'),
    ('kd', {'logit.standardize': True}, 'kd_ls'),
    ('kd', {'logit.policy': 'ctkd'}, 'ctkd'),
    ('ctkd', {'logit.standardize': True}, 'ctkd_ls'),
    ('dkd', {'logit.policy': 'ctkd'}, 'ctkd_dkd'),
    ('dkd_ls', {'logit.policy': 'ctkd'}, 'ctkd_dkd_ls'),
    ('dkd', {'logit.policy': 'max_logit', 'logit.standardize': True}, 'dkd_maxlogit'),
    ('kd_ls', {'ls.scale': False}, 'kd_lscenter'),
    ('kd_ls', {'ls.center': False}, 'kd_lsscale'),
    ('kd_maxlogit', {'logit.standardize': False}, 'kd_maxlogit_raw'),
    ('kd_maxlogit', {'ls.scale': False}, 'kd_maxlogit_lscenter'),
    ('wttm', {'ce_weight': 0.0}, 'wttm_noce'),
    ('kd', {'logit.loss': 'none', 'logit.weight': 0.0, 'ce_weight': 1.0}, 'ce'),
    ('ce', {}, 'ce'),
    ('wttm', {'logit.standardize': True}, 'wttm_ls'),
])
def test_method_names_are_derived_from_the_switches(method, fields, name):
  assert _switched(method, **fields) == name


def test_every_preset_is_named_after_itself():
  for method in config_lib.METHODS:
    config = config_lib.apply_preset(config_lib.get_config(), method)
    assert config.method is None and config_lib.validate(config).method == method


def test_validate_refuses_a_method_name_its_switches_contradict():
  c = recipes.method_config('kd', 'resnet32x4', 'resnet8x4')
  c.logit.standardize = True
  assert c.method == 'kd'
  with pytest.raises(ValueError, match="method 'kd' does not match its switches, which give "
                                       "'kd_ls'"):
    config_lib.validate(c)
  c.method = 'kd_ls'
  assert config_lib.validate(c).method == 'kd_ls'  # a name that agrees is kept


def test_config_files_leave_the_method_to_be_derived():
  config = method_file.get_config('kd,teacher=resnet8,student=resnet8,runlocal')
  assert config.method is None and config.smoke
  assert (config.teacher, config.student, config.logit.loss) == ('resnet8', 'resnet8', 'kd')
  assert method_file.get_config('ce').method is None
  assert method_file.get_config('ce').teacher == ''
  with pytest.raises(ValueError, match="unknown option 'fast'"):
    method_file.get_config('kd,fast')
