"""The published recipes: what each paper's runs used, every value with its source.

``resolve(method, teacher, student, recipe=...)`` builds a run's config in layers
and records where each value comes from (``Resolved.sources``):

1. the **protocol** of the dataset: CIFAR-100 (the CRD codebase's
   ``train_student.py``, kept by mdistiller and every cited paper) or ImageNet
   (mdistiller's ``configs/imagenet``), with the recipe's deviations (CTKD's
   ImageNet script, MLKD's 480 / 960 epochs);
2. the **method preset** (``kdjax.methods.presets()``), each value sourced
   (e.g. KD's T 4 / 0.1 / 0.9 from mdistiller's ``engine/cfg.py``);
3. the **per-pair rows** of the recipe's tables (``PairTable``): the values the
   reference configs and logs give that teacher/student pair;
4. the recipe's **method-wide settings** (seed 000 gives one setting per method
   for every pair, its Table 3).

A recipe is the protocol of one paper's table: ``seed001`` (Sun et al., CVPR
2024, logit standardization), ``seed002`` (Zheng & Yang, ICLR 2024, TTM/WTTM),
``seed000`` (Matsuyama et al. 2025, max-logit temperature: its own re-runs),
``imagenet`` (mdistiller's ImageNet configs), ``dist_imagenet`` (DIST's codebase
hunto/image_classification_sota, for seed 002 Table 7's "KD (T=4)" row) and ``scratch``
(teachers and students trained with CE). A pair
without a row gets the table's documented fallback, whose source starts with
``default:`` (``strict=True`` refuses it); a value with no source at all is
reported as ``default (schema)``, never as a paper's.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import ml_collections

from kdjax import config as config_lib
from kdjax import methods
from kdjax import models

Pair = tuple[str, str]
R32x4, R8x4 = 'resnet32x4', 'resnet8x4'
W40_2, W40_1, W16_2 = 'wrn_40_2', 'wrn_40_1', 'wrn_16_2'
MV2, SV1, SV2 = 'MobileNetV2', 'ShuffleV1', 'ShuffleV2'
LIGHT_STUDENTS = ('MobileNetV2', 'ShuffleV1', 'ShuffleV2', 'MobileNetV1')
RECIPES = ('seed001', 'seed002', 'seed000', 'imagenet', 'dist_imagenet', 'scratch')
# The recipes on ImageNet: mdistiller's configs/imagenet (``imagenet``) and DIST's codebase
# hunto/image_classification_sota (``dist_imagenet``: seed 002 Table 7's KD (T=4) row).
IMAGENET_RECIPES = ('imagenet', 'dist_imagenet')
DEFAULT = 'default'
KDJAX = 'kdjax'  # the source of a setting that is this codebase's choice, not a paper's value

# Repositories (github.com/...) the sources name.
MDISTILLER = 'megvii-research/mdistiller'
LS_REPO = 'sunshangquan/logit-standardization-KD'
CTKD_REPO = 'zhengli97/CTKD'
MLKD_REPO = 'Jin-Ying/Multi-Level-Logit-Distillation'
TTM_REPO = 'zkxufo/TTM'
CRD_REPO = 'HobbitLong/RepDistiller'


@dataclasses.dataclass(frozen=True)
class Setting:
  """One value and where it comes from."""
  value: Any
  source: str


def family(model: str) -> str:
  """Architecture family of a registry name: resnet, wrn, vgg, mobilenet or shufflenet."""
  lower = model.lower()
  for prefix, name in (('wrn', 'wrn'), ('vgg', 'vgg'), ('mobilenet', 'mobilenet'),
                       ('shuffle', 'shufflenet'), ('resnet', 'resnet')):
    if lower.startswith(prefix):
      return name
  raise ValueError(f'unknown model family for {model!r}; expected a kdjax.models registry name')


def is_imagenet(model: str) -> bool:
  """Whether ``model`` is an ImageNet model (224 x 224 inputs)."""
  return models.input_shape(model) == models.IMAGENET_INPUT_SHAPE


@dataclasses.dataclass(frozen=True)
class PairTable:
  """Per-pair settings: ``fields`` (dotted config fields) -> one row of values per pair.

  Attributes:
    name: what the table holds (messages).
    fields: the dotted config fields a row sets, in order.
    rows: ``{(teacher, student): (values, source)}``.
    fallback: ``(values, source)`` for a pair without a row (its source says why),
      or None: such a pair keeps the values set before.
  """
  name: str
  fields: tuple[str, ...]
  rows: Mapping[Pair, tuple[tuple[Any, ...], str]]
  fallback: tuple[tuple[Any, ...], str] | None = None

  def settings(self, pair: Pair, *, strict: bool) -> dict[str, Setting]:
    """The pair's values with their source ({} when neither a row nor a fallback applies)."""
    if pair in self.rows:
      values, source = self.rows[pair]
    elif strict:
      raise KeyError(f'{self.name} has no published setting for teacher->student {pair}; pick a '
                     f'pair of that table or resolve(..., strict=False) for the documented '
                     f'default')
    elif self.fallback is not None:
      values, source = self.fallback
    else:
      return {}
    return {field: Setting(v, source) for field, v in zip(self.fields, values)}


def _table(name: str, fields: tuple[str, ...], source: str, rows: Mapping[Pair, Any],
           fallback: tuple[tuple[Any, ...], str] | None = None,
           sources: Mapping[Pair, str] | None = None) -> PairTable:
  """A PairTable whose rows share ``source`` unless ``sources`` names another for a pair."""
  sources = sources or {}
  return PairTable(name, fields, {
      pair: ((values if isinstance(values, tuple) else (values,)), sources.get(pair, source))
      for pair, values in rows.items()}, fallback)


# ---------------------------------------------------------------------------------------------
# Protocols.
_CIFAR = f'{CRD_REPO} train_student.py defaults (batch 64, 240 epochs, lr 0.05, x0.1 after ' \
         f'150/180/210, SGD momentum 0.9, wd 5e-4), kept by {MDISTILLER} configs/cifar100'
_CIFAR_LIGHT_LR = f'{CRD_REPO} train_student.py (lr 0.01 for MobileNetV2 / ShuffleV1 / ShuffleV2)'
CIFAR_PROTOCOL = {field: Setting(None, _CIFAR) for field in (
    'dataset', 'epochs', 'batch_size', 'lr_decay_epochs', 'lr_decay_rate', 'momentum',
    'weight_decay')}

_IMAGENET = f'{MDISTILLER} configs/imagenet/r34_r18/kd.yaml SOLVER'
IMAGENET_PROTOCOL = {
    'dataset': Setting('imagenet2012', _IMAGENET),
    'epochs': Setting(100, _IMAGENET),
    'batch_size': Setting(512, _IMAGENET),
    'lr': Setting(0.2, _IMAGENET),
    'lr_decay_epochs': Setting((30, 60, 90), _IMAGENET),
    'lr_decay_rate': Setting(0.1, _IMAGENET),
    'momentum': Setting(0.9, _IMAGENET),
    'weight_decay': Setting(1e-4, _IMAGENET),
    'eval_batch_size': Setting(500, f'{KDJAX}: evaluation batch (any value gives the same '
                                    f'numbers)'),
}
# Reproduction cells run float32 at full precision (jax 'highest'): the papers do not say which
# GPUs they used; pre-Ampere GPUs (V100, seed 000's) compute fp32 exactly, while PyTorch >= 1.7 on
# Ampere runs fp32 convolutions in TF32 (cudnn.allow_tf32 defaults to True). 'default' (TF32 on
# GPUs) is the faster alternative.
# Its source is kdjax's (not ``default:``, which marks a per-pair value no reference gives).
PRECISION = Setting('highest', f'{KDJAX}: full float32 (the papers name no GPU; V100 runs '
                               f'were full fp32)')

# ---------------------------------------------------------------------------------------------
# Method presets: where the preset values come from.
_KD_CFG = f'{MDISTILLER} mdistiller/engine/cfg.py (KD: T 4, CE 0.1, KD 0.9)'
_LS_CFG = f'{LS_REPO} mdistiller/engine/cfg.py + README (--logit-stand --base-temp 2 --kd-weight 9)'
_CTKD = f'{CTKD_REPO} scripts/run_cifar_distill.sh + train_student.py (-r 0.1 -a 0.9, t_start 1, ' \
        f't_end 20, cosine decay 0 -> -1 over 10 epochs)'
_DKD_CFG = f'{MDISTILLER} mdistiller/engine/cfg.py (DKD: CE 1, alpha 1, beta 8, T 4, warm-up 20)'
_MLKD_CFG = f'{MLKD_REPO} mdistiller/engine/cfg.py (T 4, CE 0.1, KD 0.9) + configs/cifar100/ours'
_TTM = f'{TTM_REPO} train_student.py (-r 1; no T^2)'
_SEED000_T3 = 'Matsuyama et al. 2025, Table 3'
# Seed 000 re-ran its baselines (the feature-based rows of its Tables 1-2) without giving their
# settings: every such value is the method's own reference setting, marked with this reason.
SEED000_BASELINE = f'seed 000 gives no settings for its re-runs of the baselines ({_SEED000_T3} ' \
                   f'lists the logit methods only)'
PRESET_SOURCES = {
    'ce': f'{CRD_REPO} train_teacher.py (cross-entropy only)',
    'kd': _KD_CFG, 'kd_ls': _LS_CFG, 'ctkd': _CTKD,
    'ctkd_ls': f'{LS_REPO} CTKD/scripts/run_cifar_distill.sh (-r 0.1 -a 9, z-scored KD with the '
               f'learned T as base temperature)',
    'dkd': _DKD_CFG, 'dkd_ls': f'{LS_REPO} tools/train.py (alpha = beta0 x w with '
                              f'--kd-weight w; T = --base-temp) + DKD cfg',
    'mlkd': _MLKD_CFG, 'mlkd_ls': f'{LS_REPO} configs/cifar100/mlkd + README (--logit-stand '
                                  f'--base-temp 2 --kd-weight 9)',
    'ttm': _TTM, 'wttm': _TTM,
    'kd_maxlogit': f'{_SEED000_T3} (zKD+Ours: CE 0.1, KD 9)',
    'dkd_maxlogit': f'{_SEED000_T3} (zDKD+Ours: CE 1, KD 9)',
}

# ---------------------------------------------------------------------------------------------
# DKD beta (Zhao et al. 2022).
_DKD_CONFIGS = {  # mdistiller configs/cifar100/dkd/<file>.yaml: DKD.BETA (8 where absent = cfg).
    (R32x4, R8x4): (8.0, 'res32x4_res8x4.yaml (no BETA: cfg 8)'),
    ('resnet56', 'resnet20'): (2.0, 'res56_res20.yaml'),
    ('resnet110', 'resnet32'): (2.0, 'res110_res32.yaml'),
    ('vgg13', 'vgg8'): (6.0, 'vgg13_vgg8.yaml'),
    (W40_2, W16_2): (6.0, 'wrn40_2_wrn_16_2.yaml'),
    (W40_2, W40_1): (6.0, 'wrn40_2_wrn_40_1.yaml'),
    ('vgg13', MV2): (6.0, 'vgg13_mv2.yaml'),
    ('ResNet50', MV2): (8.0, 'res50_mv2.yaml (no BETA: cfg 8)'),
    (R32x4, SV1): (8.0, 'res32x4_shuv1.yaml (no BETA: cfg 8)'),
    (R32x4, SV2): (8.0, 'res32x4_shuv2.yaml (no BETA: cfg 8)'),
    (W40_2, SV1): (8.0, 'wrn40_2_shuv1.yaml (no BETA: cfg 8)'),
}
# The LS paper's other pairs have no DKD config; the beta0 its DKD+LS log name records for the
# pair (logs/DKD/dkd,<teacher>,<student>,<tau>,<w>,<beta0>.txt) is the DKD config it used.
_DKD_LS_LOG_BETA = {
    ('resnet110', 'resnet20'): (2.0, 'dkd,resnet110,resnet20,2,15,2.0.txt'),
    (R32x4, W16_2): (2.0, 'dkd,resnet32x4,wrn_16_2,2,9,2.0.txt'),
    (R32x4, W40_2): (8.0, 'dkd,resnet32x4,wrn_40_2,2,9,8.0.txt'),
    (W40_2, R8x4): (2.0, 'dkd,wrn_40_2,resnet8x4,2,18,2.0.txt'),
    (W40_2, MV2): (2.0, 'dkd,wrn_40_2,MobileNetV2,2,15,2.0.txt'),
}
# Seed 001 Table 5 (teachers -> wrn_16_2): no config, log or code; beta by analogy with
# mdistiller (6 for the VGG / WRN teachers, the cfg's 8 for ResNet50).
_TABLE5_DEFAULT = 'default: no source for this pair (seed 001 Table 5); by analogy with ' \
                  'mdistiller'
_DKD_TABLE5 = {('vgg13', W16_2): 6.0, ('wrn_28_2', W16_2): 6.0, ('wrn_16_4', W16_2): 6.0,
               ('wrn_28_4', W16_2): 6.0, ('ResNet50', W16_2): 8.0}
DKD_BETA = PairTable('DKD beta', ('dkd.beta',), {
    **{pair: ((beta,), f'{MDISTILLER} configs/cifar100/dkd/{file}')
       for pair, (beta, file) in _DKD_CONFIGS.items()},
    **{pair: ((beta,), f'{LS_REPO} logs/DKD/{file} (beta0 of the pair\'s DKD config)')
       for pair, (beta, file) in _DKD_LS_LOG_BETA.items()},
    **{pair: ((beta,), f'{_TABLE5_DEFAULT} ({beta:g})') for pair, beta in _DKD_TABLE5.items()},
}, fallback=((8.0,), f'{DEFAULT}: DKD\'s beta 8 ({MDISTILLER} mdistiller/engine/cfg.py)'))

# KD+LS (Sun et al. 2024): (base temperature, KD weight) = the log file name
# logs/KD/kd,<teacher>,<student>,<tau>,<w>.txt of the LS repository.
_KD_LS_ROWS = {
    (R32x4, R8x4): (2., 9.), ('vgg13', 'vgg8'): (3., 9.), (W40_2, W40_1): (2., 9.),
    (W40_2, W16_2): (2., 9.), ('resnet56', 'resnet20'): (2., 9.), ('resnet110', 'resnet32'): (2., 9.),
    ('resnet110', 'resnet20'): (4., 12.), (R32x4, SV2): (2., 9.), (R32x4, W16_2): (3., 9.),
    (R32x4, W40_2): (3., 9.), (W40_2, R8x4): (2., 9.), (W40_2, MV2): (3., 9.),
    ('vgg13', MV2): (3., 9.), ('ResNet50', MV2): (3., 1.),
}
KD_LS = PairTable('KD+LS', ('logit.temperature', 'logit.weight'), {
    pair: (values, f'{LS_REPO} logs/KD/kd,{pair[0]},{pair[1]},{values[0]:g},{values[1]:g}.txt')
    for pair, values in _KD_LS_ROWS.items()},
    fallback=((2.0, 9.0), f'{DEFAULT}: the LS release\'s tau 2, weight 9 (cfg.py)'))

# DKD+LS: (base temperature, weight w multiplying alpha and beta, beta0) = the log file name
# logs/DKD/dkd,<teacher>,<student>,<tau>,<w>[,<beta0>].txt (no beta0: the config's 8).
_DKD_LS_ROWS = {
    (R32x4, R8x4): (2., 9., 8.), (R32x4, SV2): (2., 9., 8.), ('vgg13', 'vgg8'): (2., 15., 2.),
    (W40_2, W40_1): (2., 12., 2.), (W40_2, W16_2): (2., 12., 2.),
    ('resnet56', 'resnet20'): (3., 18., 2.), ('resnet110', 'resnet32'): (2., 15., 2.),
    ('resnet110', 'resnet20'): (2., 15., 2.), (R32x4, W16_2): (2., 9., 2.),
    (R32x4, W40_2): (2., 9., 8.), (W40_2, R8x4): (2., 18., 2.), (W40_2, MV2): (2., 15., 2.),
    ('vgg13', MV2): (3., 9., 2.), ('ResNet50', MV2): (2., 15., 2.),
}


def _dkd_ls_log(pair: Pair, values: tuple[float, ...]) -> str:
  tau, w, beta0 = values
  suffix = '' if pair in ((R32x4, R8x4), (R32x4, SV2)) else f',{beta0:.1f}'
  return f'{LS_REPO} logs/DKD/dkd,{pair[0]},{pair[1]},{tau:g},{w:g}{suffix}.txt'


DKD_LS = PairTable('DKD+LS', ('logit.temperature', 'logit.weight', 'dkd.beta'), {
    **{pair: (values, _dkd_ls_log(pair, values)) for pair, values in _DKD_LS_ROWS.items()},
    **{(t, W16_2): ((2., 12., 2.), f'{_TABLE5_DEFAULT} (the wrn_40_2 -> wrn_16_2 log)')
       for t in ('wrn_28_2', 'wrn_16_4', 'wrn_28_4')},
    **{(t, W16_2): ((2., 15., 2.), f'{_TABLE5_DEFAULT} (the vgg13 -> vgg8 / ResNet50 -> '
                                   f'MobileNetV2 logs)') for t in ('vgg13', 'ResNet50')},
})

# CTKD+LS: the released logs (logs/CTKD/ctkd,<teacher>,<student>,2,9.txt) print T = 22.3-30.4 at
# the end of epoch 1 and T -> 2.001-2.03 from epoch 2-4 on: T = 2 + 40 sigmoid(theta), not the
# released code's 1 + 20 sigmoid(theta) (which stays below 21 and decays towards 1).
_CTKD_LS_LOGS = f'inferred from {LS_REPO} logs/CTKD/ctkd,*,2,9.txt (no config or code states ' \
                f'it): T(epoch 1) 22.3-30.4 and min 2.0013 give T = 2 + R sigmoid(theta) with ' \
                f't_start 2; any range R >= ~39 fits the logs, R = 40 chosen'
CTKD_LS = {'ctkd.t_start': Setting(2.0, _CTKD_LS_LOGS),
           'ctkd.t_range': Setting(40.0, _CTKD_LS_LOGS)}
CTKD_PLAIN = {'ctkd.t_start': Setting(1.0, _CTKD), 'ctkd.t_range': Setting(20.0, _CTKD),
              'ctkd.init': Setting(1.0, f'{CTKD_REPO} models/temp_global.py (theta = ones(1))'),
              'ctkd.lambda_epochs': Setting(10, _CTKD)}

# MLKD (Jin et al. 2023): the CVPR'23 configs (MLKD repo at 77b91ec, configs/cifar100/ours):
# 480 epochs (960 for resnet32x4 -> ShuffleV1/V2), lr 0.025 (0.01 for MobileNet / ShuffleNet
# students); the LS paper's five other pairs follow the LS repo's configs/cifar100/mlkd.
_MLKD_CFG_DIR = f'{MLKD_REPO} configs/cifar100/ours (at 77b91ec, the CVPR\'23 state)'
_LS_MLKD_DIR = f'{LS_REPO} configs/cifar100/mlkd'
_MLKD_ROWS = {  # pair: (epochs, lr, source)
    (R32x4, R8x4): (480, 0.025, f'{_MLKD_CFG_DIR}/res32x4_res8x4.yaml'),
    ('vgg13', 'vgg8'): (480, 0.025, f'{_MLKD_CFG_DIR}/vgg13_vgg8.yaml'),
    (W40_2, W40_1): (480, 0.025, f'{_MLKD_CFG_DIR}/wrn40_2_wrn_40_1.yaml'),
    (W40_2, W16_2): (480, 0.025, f'{_MLKD_CFG_DIR}/wrn40_2_wrn_16_2.yaml'),
    ('resnet56', 'resnet20'): (480, 0.025, f'{_MLKD_CFG_DIR}/res56_res20.yaml'),
    ('resnet110', 'resnet32'): (480, 0.025, f'{_MLKD_CFG_DIR}/res110_res32.yaml'),
    (R32x4, SV2): (960, 0.01, f'{_MLKD_CFG_DIR}/res32x4_shuv2.yaml'),
    (R32x4, SV1): (960, 0.01, f'{_MLKD_CFG_DIR}/res32x4_shuv1.yaml'),
    ('vgg13', MV2): (480, 0.01, f'{_MLKD_CFG_DIR}/vgg13_mv2.yaml'),
    ('ResNet50', MV2): (480, 0.01, f'{_MLKD_CFG_DIR}/res50_mv2.yaml'),
    (W40_2, SV1): (480, 0.01, f'{_MLKD_CFG_DIR}/wrn40_2_shuv1.yaml'),
    ('resnet110', 'resnet20'): (480, 0.025, f'{_LS_MLKD_DIR}/resnet110_resnet20.yaml'),
    (R32x4, W16_2): (480, 0.025, f'{_LS_MLKD_DIR}/resnet32x4_wrn_16_2.yaml'),
    (R32x4, W40_2): (480, 0.025, f'{_LS_MLKD_DIR}/resnet32x4_wrn_40_2.yaml'),
    (W40_2, R8x4): (480, 0.025, f'{_LS_MLKD_DIR}/wrn_40_2_resnet8x4.yaml'),
    (W40_2, MV2): (480, 0.005, f'{_LS_MLKD_DIR}/wrn_40_2_MobileNetV2.yaml (the only source '
                               f'for this pair)'),
}
MLKD = PairTable('MLKD', ('epochs', 'lr'), {
    pair: ((epochs, lr), source) for pair, (epochs, lr, source) in _MLKD_ROWS.items()},
    fallback=((480, None), f'{DEFAULT}: MLKD\'s 480 epochs, the student\'s usual lr'))
# MLKD+LS: the LS configs and logs (logs/MLKD/mlkd,<teacher>,<student>,2,<w>.txt).
_MLKD_LS_ROWS = {  # pair: (epochs, lr, weight, source)
    ('vgg13', 'vgg8'): (480, 0.01, 6.0, f'{_LS_MLKD_DIR}/vgg13_vgg8.yaml (lr 0.01) + '
                                        f'logs/MLKD/mlkd,vgg13,vgg8,2,6.txt ("lr: 0.010000")'),
    (R32x4, SV2): (960, 0.01, 6.0, f'{_LS_MLKD_DIR}/resnet32x4_ShuffleV2.yaml + '
                                   f'logs/MLKD/mlkd,resnet32x4,ShuffleV2,2,6.txt'),
    ('vgg13', MV2): (480, 0.01, 6.0, f'{_LS_MLKD_DIR}/vgg13_MobileNetV2.yaml + '
                                     f'logs/MLKD/mlkd,vgg13,MobileNetV2,2,6.txt'),
    (W40_2, MV2): (480, 0.005, 9.0, f'{_LS_MLKD_DIR}/wrn_40_2_MobileNetV2.yaml (no log)'),
    ('resnet56', 'resnet20'): (480, 0.025, 9.0, f'{_LS_MLKD_DIR}/resnet56_resnet20.yaml (no '
                                                f'log)'),
}
for _pair in _MLKD_ROWS:
  if _pair not in _MLKD_LS_ROWS and _pair not in ((R32x4, SV1), (W40_2, SV1)):
    _epochs, _lr, _ = _MLKD_ROWS[_pair]
    _MLKD_LS_ROWS[_pair] = (_epochs, _lr, 9.0, f'{_LS_MLKD_DIR} + logs/MLKD/mlkd,{_pair[0]},'
                                               f'{_pair[1]},2,9.txt')
MLKD_LS = PairTable('MLKD+LS', ('epochs', 'lr', 'logit.weight'), {
    pair: ((epochs, lr, w), source) for pair, (epochs, lr, w, source) in _MLKD_LS_ROWS.items()},
    fallback=((480, None, 9.0), f'{DEFAULT}: 480 epochs, the student\'s usual lr, weight 9'))

# TTM / WTTM (Zheng & Yang 2024): (gamma, beta); only the vgg13 -> vgg8 TTM row is in the
# repository's README, the others are the paper's hyperparameter table (Appendix A.4).
_TTM_PAPER = 'Zheng & Yang 2024, Appendix A.4 (hyperparameters per pair)'
_TTM_ROWS = {
    (W40_2, W16_2): (0.1, 101.), (W40_2, W40_1): (0.1, 76.), ('resnet56', 'resnet20'): (0.3, 7.),
    ('resnet110', 'resnet20'): (0.2, 8.), ('resnet110', 'resnet32'): (0.1, 33.),
    (R32x4, R8x4): (0.1, 100.), ('vgg13', 'vgg8'): (0.1, 45.), ('vgg13', MV2): (0.2, 16.),
    ('ResNet50', MV2): (0.2, 20.), ('ResNet50', 'vgg8'): (0.1, 70.), (R32x4, SV1): (0.2, 12.),
    (R32x4, SV2): (0.4, 40.), (W40_2, SV1): (0.3, 8.),
}
_WTTM_ROWS = {
    (W40_2, W16_2): (0.1, 4.), (W40_2, W40_1): (0.1, 3.), ('resnet56', 'resnet20'): (0.3, 1.5),
    ('resnet110', 'resnet20'): (0.2, 2.), ('resnet110', 'resnet32'): (0.1, 1.5),
    (R32x4, R8x4): (0.1, 3.), ('vgg13', 'vgg8'): (0.1, 2.25), ('vgg13', MV2): (0.2, 3.),
    ('ResNet50', MV2): (0.2, 5.), ('ResNet50', 'vgg8'): (0.1, 2.), (R32x4, SV1): (0.2, 1.4),
    (R32x4, SV2): (0.4, 16.), (W40_2, SV1): (0.3, 3.),
    ('resnet34', 'resnet18'): (0.8, 1.6), ('resnet50', 'MobileNetV1'): (0.7, 3.5),
}
TTM = _table('TTM', ('ttm.gamma', 'logit.weight'), _TTM_PAPER, _TTM_ROWS,
             fallback=((0.1, 100.), f'{DEFAULT}: the resnet32x4 -> resnet8x4 row'),
             sources={('vgg13', 'vgg8'): f'{TTM_REPO} README (--ttm_l 0.1 -b 45) and {_TTM_PAPER}'})
# Seed 002 Table 7 (ImageNet, resnet18 from stronger teachers) gives no (gamma, beta) for its
# resnet50 / resnet101 / resnet152 teachers: they take the resnet34 -> resnet18 row.
_WTTM_TABLE7 = {(teacher, 'resnet18'): f'{DEFAULT}: no published setting for this teacher (Zheng & ' \
                f'Yang 2024, Table 7); the resnet34 -> resnet18 row of {_TTM_PAPER}'
                for teacher in ('resnet50', 'resnet101', 'resnet152')}
_WTTM_ROWS.update({pair: _WTTM_ROWS[('resnet34', 'resnet18')] for pair in _WTTM_TABLE7})
WTTM = _table('WTTM', ('ttm.gamma', 'logit.weight'), _TTM_PAPER, _WTTM_ROWS,
              fallback=((0.1, 3.), f'{DEFAULT}: the resnet32x4 -> resnet8x4 row'),
              sources=_WTTM_TABLE7)

# ---------------------------------------------------------------------------------------------
# Seed 000 (Matsuyama et al. 2025), Table 3: ONE setting per method for every pair, its own
# re-runs of the baselines (w_ce / w_kd / temperature).
_T3 = _SEED000_T3
SEED000 = {
    'kd_ls': {'ce_weight': Setting(0.1, _T3), 'logit.weight': Setting(9.0, _T3),
              'logit.temperature': Setting(2.0, f'{_T3} (zKD: tau 2)')},
    # zCTKD "tau 4": the released LS CTKD code ignores --kd_T when the temperature is learned,
    # so tau 4 is inert; the learned T keeps the code's t_start 1, t_range 20.
    'ctkd_ls': {'ce_weight': Setting(0.1, _T3), 'logit.weight': Setting(9.0, _T3),
                'ctkd.t_start': Setting(1.0, f'{_T3} (zCTKD tau 4 is the inert --kd_T of '
                                             f'{LS_REPO} CTKD/train_student.py; its t_start 1)'),
                'ctkd.t_range': Setting(20.0, f'{LS_REPO} CTKD/train_student.py (--t_end 20)')},
    # zDKD "1 / 1 / tau 4": the LS tools/train.py convention with --kd-weight 1 --base-temp 4:
    # alpha 1, beta = the pair's DKD beta0, T 4.
    'dkd_ls': {'ce_weight': Setting(1.0, _T3), 'logit.weight': Setting(1.0, _T3),
               'logit.temperature': Setting(4.0, f'{_T3} (zDKD: tau 4)')},
    'kd_maxlogit': {'ce_weight': Setting(0.1, _T3), 'logit.weight': Setting(9.0, _T3)},
    'dkd_maxlogit': {'ce_weight': Setting(1.0, _T3), 'logit.weight': Setting(9.0, _T3)},
    # TTM / WTTM "1 / 1 / coefficient 0.2": CE 1, beta 1, gamma (zkxufo/TTM --ttm_l) 0.2.
    'ttm': {'ce_weight': Setting(1.0, _T3), 'logit.weight': Setting(1.0, _T3),
            'ttm.gamma': Setting(0.2, f'{_T3} (coefficient 0.2 = --ttm_l of {TTM_REPO})')},
    'wttm': {'ce_weight': Setting(1.0, _T3), 'logit.weight': Setting(1.0, _T3),
             'ttm.gamma': Setting(0.2, f'{_T3} (coefficient 0.2 = --ttm_l of {TTM_REPO})')},
}
_SEED000_LR = Setting(None, f'{_T3} (lr 0.05, 0.01 for MobileNetV2 and ShuffleNetV2 students)')

# ---------------------------------------------------------------------------------------------
# ImageNet (ResNet34 -> ResNet18, ResNet50 -> MobileNetV1): per method.
_IN_R18, _IN_MV1 = ('resnet34', 'resnet18'), ('resnet50', 'MobileNetV1')
_IN_KD = f'{MDISTILLER} configs/imagenet/r34_r18/kd.yaml, r50_mv1/kd.yaml (T 1, CE 0.5, KD 0.5)'
_IN_KD_LS = f'{LS_REPO} configs/imagenet/r34_r18/kd.yaml (CE 1.0) + logs/imagenet/' \
            f'r34_r18_kd_ours.txt + README (--logit-stand --base-temp 2 --kd-weight 9)'
_IN_CTKD = f'{CTKD_REPO} scripts/run_imagenet_distill.sh (batch 256, lr 0.1, 120 epochs, -r 1 ' \
           f'-a 1, t_start 1, t_end 20, decay_loops 5; uncertain: as written the shell line ' \
           f'continuation drops the decay arguments)'
_IN_CTKD_LS = f'{LS_REPO} CTKD/scripts/run_imagenet_distill.sh (-r 1 -a 2; uncertain: no log) ' \
              f'with the CIFAR logs\' T = 2 + 40 sigmoid(theta)'
_IN_DKD = f'{MDISTILLER} configs/imagenet/r34_r18/dkd.yaml (beta 0.5), r50_mv1/dkd.yaml ' \
          f'(beta 2.0): CE 1, alpha 1, T 1, warm-up 1'
_IN_DKD_LS = f'{LS_REPO} issue #31 (the maintainer: --base-temp 2 --kd-weight 9 on the DKD ' \
             f'config; the values used are unknown)'
_IN_MLKD = f'{MLKD_REPO} configs/imagenet/r34_r18/kd_ours.yaml (lr 0.1), ' \
           f'r50_mv2/kd_ours.yaml (lr 0.2; MobileNetV2 there is MobileNetV1): T 1, CE 0.5, KD 0.5'
_IN_MLKD_LS = f'{LS_REPO} configs/imagenet/*/mlkd.yaml + README (--base-temp 2 --kd-weight 9; ' \
              f'no log)'
_IN_TORCHDISTILL = 'torchdistill configs/official/ilsvrc2012 KD recipe (batch 256, lr 0.1, 100 ' \
                   f'epochs), which {TTM_REPO} README says its ImageNet runs used'
IMAGENET = {
    'ce': {},
    'kd': {'logit.temperature': Setting(1.0, _IN_KD), 'ce_weight': Setting(0.5, _IN_KD),
           'logit.weight': Setting(0.5, _IN_KD)},
    'kd_ls': {'logit.temperature': Setting(2.0, _IN_KD_LS), 'ce_weight': Setting(1.0, _IN_KD_LS),
              'logit.weight': Setting(9.0, _IN_KD_LS)},
    'ctkd': {'batch_size': Setting(256, _IN_CTKD), 'lr': Setting(0.1, _IN_CTKD),
             'epochs': Setting(120, _IN_CTKD), 'ce_weight': Setting(1.0, _IN_CTKD),
             'logit.weight': Setting(1.0, _IN_CTKD), 'ctkd.lambda_epochs': Setting(5, _IN_CTKD),
             'ctkd.t_start': Setting(1.0, _IN_CTKD), 'ctkd.t_range': Setting(20.0, _IN_CTKD)},
    'ctkd_ls': {'batch_size': Setting(256, _IN_CTKD), 'lr': Setting(0.1, _IN_CTKD),
                'epochs': Setting(120, _IN_CTKD), 'ce_weight': Setting(1.0, _IN_CTKD_LS),
                'logit.weight': Setting(2.0, _IN_CTKD_LS),
                'ctkd.lambda_epochs': Setting(5, _IN_CTKD),
                'ctkd.t_start': Setting(2.0, _IN_CTKD_LS),
                'ctkd.t_range': Setting(40.0, _IN_CTKD_LS)},
    'dkd': {'logit.temperature': Setting(1.0, _IN_DKD), 'ce_weight': Setting(1.0, _IN_DKD),
            'logit.weight': Setting(1.0, _IN_DKD), 'dkd.alpha': Setting(1.0, _IN_DKD),
            'dkd.warmup_epochs': Setting(1, _IN_DKD)},
    'dkd_ls': {'logit.temperature': Setting(2.0, _IN_DKD_LS), 'ce_weight': Setting(1.0, _IN_DKD),
               'logit.weight': Setting(9.0, _IN_DKD_LS), 'dkd.alpha': Setting(1.0, _IN_DKD),
               'dkd.warmup_epochs': Setting(1, _IN_DKD)},
    'mlkd': {'logit.temperature': Setting(1.0, _IN_MLKD), 'ce_weight': Setting(0.5, _IN_MLKD),
             'logit.weight': Setting(0.5, _IN_MLKD)},
    'mlkd_ls': {'logit.temperature': Setting(2.0, _IN_MLKD_LS),
                'ce_weight': Setting(0.5, _IN_MLKD), 'logit.weight': Setting(9.0, _IN_MLKD_LS)},
    'wttm': {'batch_size': Setting(256, _IN_TORCHDISTILL), 'lr': Setting(0.1, _IN_TORCHDISTILL),
             'ce_weight': Setting(1.0, _TTM)},
}
IMAGENET_DKD_BETA = _table('ImageNet DKD beta', ('dkd.beta',), _IN_DKD,
                           {_IN_R18: 0.5, _IN_MV1: 2.0})
IMAGENET_MLKD_LR = _table('ImageNet MLKD lr', ('lr',), _IN_MLKD, {_IN_R18: 0.1, _IN_MV1: 0.2})
IMAGENET_TEACHERS = {
    'resnet34': 'torchvision resnet34-333f7ec4.pth (IMAGENET1K_V1, 73.31% top-1)',
    'resnet50': 'torchvision resnet50-19c8e357.pth (IMAGENET1K_V1, 76.13% top-1; not today\'s '
                'default IMAGENET1K_V2 weights)',
    # Seed 002 Table 7's stronger teachers (its 77.37 / 78.31 are these weights' accuracies).
    'resnet101': 'torchvision resnet101-5d3b4d8f.pth (IMAGENET1K_V1, 77.37% top-1)',
    'resnet152': 'torchvision resnet152-b121ed2d.pth (IMAGENET1K_V1, 78.31% top-1)',
}


# Feature-based methods: per recipe, per method, the settings of the codebase that produced the
# paper's row (seed 001's rows are mdistiller's published numbers, seed 002's the CRD codebase's
# or the TTM repository's), each sourced. ``PRESET_SOURCES`` names where each preset comes from.
_MD_CFG = f'{MDISTILLER} mdistiller/engine/cfg.py'
_RD_SCRIPT = f'{CRD_REPO} scripts/run_cifar_distill.sh'
PRESET_SOURCES.update({
    'fitnet': f'{_MD_CFG} (FITNET: CE 1, FEAT 100, HINT_LAYER 2) = {_RD_SCRIPT} '
              f'(--distill hint -a 0 -b 100, -r default 1)',
    'at': f'{_MD_CFG} (AT: P 2, CE 1, FEAT 1000) = {_RD_SCRIPT} (--distill attention -a 0 '
          f'-b 1000, -r default 1)',
    'rkd': f'{_MD_CFG} (RKD: CE 1, FEAT 1, DISTANCE_WEIGHT 25, ANGLE_WEIGHT 50) = {_RD_SCRIPT} '
           f'(--distill rkd -a 0 -b 1, -r default 1)',
    'pkt': f'{_MD_CFG} (PKT: CE 1, FEAT 30000) = {_RD_SCRIPT} (--distill pkt -a 0 -b 30000, '
           f'-r default 1)',
    'vid': f'{_MD_CFG} (VID: CE 1, FEAT 1, INIT_PRED_VAR 5) = {_RD_SCRIPT} (--distill vid -a 0 '
           f'-b 1, -r default 1)',
    'ofd': f'{_MD_CFG} (OFD: CE 1, FEAT 0.001, CONNECTOR.KERNEL_SIZE 1; {CRD_REPO} has no OFD)',
})

# What each codebase sets per feature method (besides the CIFAR protocol): {method: {field:
# (value, what the file says)}}. mdistiller: cfg.py values (its configs/cifar100/<method>.yaml
# files set only the solver, the protocol above); RepDistiller: the -r/-b of its script and the
# defaults of train_student.py / distiller_zoo.
_MD_YAML = f'{MDISTILLER} configs/cifar100/{{method}}.yaml (no {{section}} section) + ' \
           f'mdistiller/engine/cfg.py'
_MD_VALUES = {
    'fitnet': ('FITNET', {'ce_weight': (1.0, 'FITNET.LOSS.CE_WEIGHT'),
                          'feature.weight': (100.0, 'FITNET.LOSS.FEAT_WEIGHT'),
                          'fitnet.hint_layer': (2, 'FITNET.HINT_LAYER')}),
    'at': ('AT', {'ce_weight': (1.0, 'AT.LOSS.CE_WEIGHT'),
                  'feature.weight': (1000.0, 'AT.LOSS.FEAT_WEIGHT'), 'at.p': (2.0, 'AT.P')}),
    'rkd': ('RKD', {'ce_weight': (1.0, 'RKD.LOSS.CE_WEIGHT'),
                    'feature.weight': (1.0, 'RKD.LOSS.FEAT_WEIGHT'),
                    'rkd.distance_weight': (25.0, 'RKD.DISTANCE_WEIGHT'),
                    'rkd.angle_weight': (50.0, 'RKD.ANGLE_WEIGHT')}),
    'pkt': ('PKT', {'ce_weight': (1.0, 'PKT.LOSS.CE_WEIGHT'),
                    'feature.weight': (30000.0, 'PKT.LOSS.FEAT_WEIGHT')}),
    'vid': ('VID', {'ce_weight': (1.0, 'VID.LOSS.CE_WEIGHT'),
                    'feature.weight': (1.0, 'VID.LOSS.FEAT_WEIGHT'),
                    'vid.init_pred_var': (5.0, 'VID.INIT_PRED_VAR')}),
    'ofd': ('OFD', {'ce_weight': (1.0, 'OFD.LOSS.CE_WEIGHT'),
                    'feature.weight': (0.001, 'OFD.LOSS.FEAT_WEIGHT'),
                    'ofd.connector_kernel': (1, 'OFD.CONNECTOR.KERNEL_SIZE')}),
}
# The two behaviours of mdistiller's distillers that are code, not config.
_MD_VID_LOG_SCALE = Setting(False, f'{MDISTILLER} mdistiller/distillers/VID.py (self.log_scales '
                                   f'is a plain list: not registered, not trained; variance 5)')
_MD_OFD_TEACHER_BN = Setting(True, f'{MDISTILLER} mdistiller/distillers/OFD.py (OFD.train() '
                                   f'never calls teacher.eval(): batch-statistics BN)')


def _mdistiller(method: str, prefix: str = '') -> dict[str, Setting]:
  """mdistiller's settings of ``method``, each sourced (``prefix`` before every source)."""
  section, values = _MD_VALUES[method]
  yaml = _MD_YAML.format(method=method, section=section)
  out = {field: Setting(value, f'{prefix}{yaml} {key}')
         for field, (value, key) in values.items()}
  if method == 'vid':
    out['vid.train_log_scale'] = Setting(False, prefix + _MD_VID_LOG_SCALE.source)
  if method == 'ofd':
    out['ofd.teacher_train_bn'] = Setting(True, prefix + _MD_OFD_TEACHER_BN.source)
  return out


_RD_TRAIN = f'{CRD_REPO} train_student.py'
_RD_VALUES = {  # method: {field: (value, source)}; -r is never passed: its default 1.
    'fitnet': {'ce_weight': (1.0, f'{_RD_TRAIN} (-r default 1)'),
               'feature.weight': (100.0, f'{_RD_SCRIPT} (--distill hint -b 100)'),
               'fitnet.hint_layer': (2, f'{_RD_TRAIN} (--hint_layer default 2)')},
    'at': {'ce_weight': (1.0, f'{_RD_TRAIN} (-r default 1)'),
           'feature.weight': (1000.0, f'{_RD_SCRIPT} (--distill attention -b 1000)'),
           'at.p': (2.0, f'{CRD_REPO} distiller_zoo/AT.py (Attention(p=2))')},
    'rkd': {'ce_weight': (1.0, f'{_RD_TRAIN} (-r default 1)'),
            'feature.weight': (1.0, f'{_RD_SCRIPT} (--distill rkd -b 1)'),
            'rkd.distance_weight': (25.0, f'{CRD_REPO} distiller_zoo/RKD.py (w_d=25)'),
            'rkd.angle_weight': (50.0, f'{CRD_REPO} distiller_zoo/RKD.py (w_a=50)')},
    'pkt': {'ce_weight': (1.0, f'{_RD_TRAIN} (-r default 1)'),
            'feature.weight': (30000.0, f'{_RD_SCRIPT} (--distill pkt -b 30000)')},
    'vid': {'ce_weight': (1.0, f'{_RD_TRAIN} (-r default 1)'),
            'feature.weight': (1.0, f'{_RD_SCRIPT} (--distill vid -b 1)'),
            'vid.init_pred_var': (5.0, f'{CRD_REPO} distiller_zoo/VID.py (init_pred_var=5.0)'),
            'vid.train_log_scale': (True, f'{_RD_TRAIN} (the VIDLoss modules, log_scale '
                                          f'included, are appended to trainable_list: SGD with '
                                          f'weight decay)')},
}
_IMAGENET_NONE = f'{MDISTILLER} configs/imagenet has no {{method}} config (only kd, at, ofd, ' \
                 f'crd, reviewkd, dkd, dot)'
_IMAGENET_SOLVER = ('batch_size', 'epochs', 'lr', 'lr_decay_epochs', 'lr_decay_rate',
                    'weight_decay', 'momentum')


def _imagenet(method: str, source: str, solver: Mapping[str, Any]) -> dict[str, Setting]:
  """An ImageNet config of mdistiller: its SOLVER, and cfg.py for what it leaves out."""
  _, values = _MD_VALUES[method]
  out = {field: Setting(value, f'{source} SOLVER') for field, value in solver.items()}
  out.update({field: Setting(value, f'{source} (no {key}: mdistiller/engine/cfg.py\'s)')
              for field, (value, key) in values.items()})
  return out


def _imagenet_at() -> dict[str, Setting]:
  return _imagenet('at', f'{MDISTILLER} configs/imagenet/r34_r18/at.yaml, r50_mv1/at.yaml',
                   {field: IMAGENET_PROTOCOL[field].value for field in _IMAGENET_SOLVER})


def _imagenet_ofd() -> dict[str, Setting]:
  source = f'{MDISTILLER} configs/imagenet/r50_mv1/ofd.yaml (the only ImageNet OFD config)'
  out = _imagenet('ofd', source, dict(batch_size=128, epochs=100, lr=0.05,
                                      lr_decay_epochs=(30, 60, 90), lr_decay_rate=0.1,
                                      weight_decay=1e-4, momentum=0.9))
  out['feature.weight'] = Setting(0.0001, f'{source} OFD.LOSS.FEAT_WEIGHT')
  out['ofd.teacher_train_bn'] = _MD_OFD_TEACHER_BN
  return out


def _feature_settings() -> dict[str, dict[str, dict[str, Setting]]]:
  """``FEATURE_SETTINGS``: per recipe, per feature method, the sourced settings.

  seed001: mdistiller's values (the numbers seed 001's tables cite). seed002: RepDistiller's
  (the CRD paper's numbers seed 002 cites; it has no OFD: mdistiller's, as a default). seed000:
  no published settings, mdistiller's as a default. imagenet: mdistiller's configs/imagenet
  (AT, OFD); the others have none there, so their CIFAR values, as a default.
  """
  settings: dict[str, dict[str, dict[str, Setting]]] = {recipe: {} for recipe in RECIPES}
  for method in _MD_VALUES:
    settings['seed001'][method] = _mdistiller(method)
    settings['seed000'][method] = _mdistiller(method, f'{DEFAULT}: {SEED000_BASELINE}; ')
    if method in _RD_VALUES:
      settings['seed002'][method] = {field: Setting(value, source)
                                     for field, (value, source) in _RD_VALUES[method].items()}
    else:
      settings['seed002'][method] = _mdistiller(
          method, f'{DEFAULT}: {CRD_REPO} has no {method}; mdistiller\'s: ')
    if method not in ('at', 'ofd'):
      settings['imagenet'][method] = _mdistiller(
          method, f'{DEFAULT}: {_IMAGENET_NONE.format(method=method)}; the CIFAR values of ')
  settings['imagenet']['at'] = _imagenet_at()
  settings['imagenet']['ofd'] = _imagenet_ofd()
  return settings


# Feature-based methods: per recipe, per method, the settings of the codebase that produced the
# paper's row (seed 001's rows are mdistiller's published numbers, seed 002's the CRD codebase's),
# each sourced. ``PRESET_SOURCES`` names where each preset comes from.
FEATURE_SETTINGS: dict[str, dict[str, dict[str, Setting]]] = _feature_settings()

REVIEWKD_REPO = 'dvlab-research/ReviewKD'

# CRD (Tian et al. 2020). mdistiller runs CRD alone (CE 1, FEAT 0.8); KD+CRD is the CRD
# codebase's (-r 1 -a 1 -b 0.8, --kd_T 4). The embedding input widths (mdistiller's
# CRD.FEAT.STUDENT_DIM / TEACHER_DIM) are the models' pooled widths, not settings.
_CRD_FIELDS = ('crd.feat_dim', 'crd.nce_k', 'crd.nce_t', 'crd.nce_m', 'crd.mode')
_CRD_VALUES = (128, 16384, 0.07, 0.5, 'exact')
_CRD_MD_CFG = f'{MDISTILLER} mdistiller/engine/cfg.py (CRD: CE 1, FEAT 0.8, FEAT.DIM 128, ' \
              f'NCE K 16384, TEMPERATURE 0.07, MOMENTUM 0.5, MODE exact)'
_CRD_FLAGS = f'{CRD_REPO} train_student.py (-r 1, --kd_T 4, --feat_dim 128 --mode exact ' \
             f'--nce_k 16384 --nce_t 0.07 --nce_m 0.5)'
_CRD_SCRIPT = f'{CRD_REPO} scripts/run_cifar_distill.sh'
PRESET_SOURCES['crd'] = (f'{_CRD_MD_CFG} = {_CRD_SCRIPT} (CRD: --distill crd -a 0 -b 0.8) with '
                         f'{_CRD_FLAGS}')
PRESET_SOURCES['kd+crd'] = f'{_CRD_SCRIPT} (CRD+KD: --distill crd -a 1 -b 0.8) with {_CRD_FLAGS}'
# ReviewKD (Chen et al. 2021), as mdistiller trains it.
_REVIEWKD_MD_CFG = f'{MDISTILLER} mdistiller/engine/cfg.py (REVIEWKD: CE 1, WARMUP_EPOCHS 20, ' \
                   f'STU_PREACT False)'
_REVIEWKD_MID = f'{MDISTILLER} mdistiller/distillers/ReviewKD.py (mid = min(512, student ' \
                f'pooled width): hard-coded, MAX_MID_CHANNEL is never read)'
_REVIEWKD_CIFAR = f'{MDISTILLER} configs/cifar100/reviewkd.yaml (REVIEWKD_WEIGHT 5.0; ' \
                  f'{LS_REPO} configs/cifar100/reviewkd.yaml is the same)'
PRESET_SOURCES['reviewkd'] = f'{_REVIEWKD_CIFAR} + {_REVIEWKD_MD_CFG}'


def _settings(fields: tuple[str, ...], values: tuple[Any, ...], source: str) -> dict[str, Setting]:
  return {field: Setting(value, source) for field, value in zip(fields, values)}


def _crd_settings(source: str, weights_source: str, *, kd: bool) -> dict[str, Setting]:
  """CRD's settings with their sources; ``kd``: KD+CRD's KD term (T 4, weight 1)."""
  out = _settings(_CRD_FIELDS, _CRD_VALUES, source)
  out.update(_settings(('ce_weight', 'feature.weight'), (1.0, 0.8), weights_source))
  if kd:
    out.update(_settings(('logit.temperature', 'logit.weight'), (4.0, 1.0), weights_source))
  return out


def _reviewkd_settings(weight_source: str, cfg_source: str, mid_source: str,
                       weight: float = 5.0) -> dict[str, Setting]:
  return {'ce_weight': Setting(1.0, cfg_source), 'feature.weight': Setting(weight, weight_source),
          'reviewkd.warmup_epochs': Setting(20, cfg_source),
          'reviewkd.stu_preact': Setting(False, cfg_source),
          'reviewkd.max_mid_channel': Setting(512, mid_source)}


_NO_SEED000 = f'{DEFAULT}: {SEED000_BASELINE}; '
FEATURE_SETTINGS['seed001'].update({
    'crd': _crd_settings(_CRD_MD_CFG, f'{_CRD_MD_CFG} + configs/cifar100/crd.yaml', kd=False),
    'kd+crd': _crd_settings(_CRD_MD_CFG, f'{DEFAULT}: mdistiller has no KD+CRD; {_CRD_SCRIPT} '
                                         f'(CRD+KD: -r 1 -a 1 -b 0.8, --kd_T 4)', kd=True),
    'reviewkd': _reviewkd_settings(_REVIEWKD_CIFAR, _REVIEWKD_MD_CFG, _REVIEWKD_MID),
})
_TTM_CRD_FLAGS = f'{TTM_REPO} train_student.py (--feat_dim 128 --mode exact --nce_k 16384 ' \
                 f'--nce_t 0.07 --nce_m 0.5, -r 1)'
FEATURE_SETTINGS['seed002'].update({
    'crd': _crd_settings(f'{_TTM_CRD_FLAGS} = {_CRD_FLAGS}',
                         f'{_CRD_SCRIPT} (CRD: --distill crd -a 0 -b 0.8; -r 1)', kd=False),
    'kd+crd': _crd_settings(f'{_TTM_CRD_FLAGS} = {_CRD_FLAGS}',
                            f'{_CRD_SCRIPT} (CRD+KD: --distill crd -a 1 -b 0.8; -r 1, --kd_T 4)',
                            kd=True),
    'reviewkd': _reviewkd_settings(
        f'{DEFAULT}: no ReviewKD in {CRD_REPO} / {TTM_REPO}; {_REVIEWKD_CIFAR}',
        f'{DEFAULT}: no ReviewKD in {CRD_REPO} / {TTM_REPO}; {_REVIEWKD_MD_CFG}',
        f'{DEFAULT}: no ReviewKD in {CRD_REPO} / {TTM_REPO}; {_REVIEWKD_MID}'),
})
FEATURE_SETTINGS['seed000'].update({
    'crd': _crd_settings(_NO_SEED000 + _CRD_MD_CFG, _NO_SEED000 + _CRD_MD_CFG, kd=False),
    'kd+crd': _crd_settings(_NO_SEED000 + _CRD_MD_CFG,
                            _NO_SEED000 + f'{_CRD_SCRIPT} (CRD+KD: -r 1 -a 1 -b 0.8, --kd_T 4)',
                            kd=True),
    'reviewkd': _reviewkd_settings(_NO_SEED000 + _REVIEWKD_CIFAR, _NO_SEED000 + _REVIEWKD_MD_CFG,
                                   _NO_SEED000 + _REVIEWKD_MID),
})
# ImageNet: mdistiller configs/imagenet/{r34_r18,r50_mv1}/{crd,reviewkd}.yaml.
_IN_SCHEDULE = ('batch_size', 'lr', 'epochs', 'lr_decay_epochs', 'lr_decay_rate', 'momentum',
                'weight_decay')
_IN_SCHEDULE_VALUES = (256, 0.1, 100, (30, 60, 90), 0.1, 0.9, 1e-4)
_IN_CRD = f'{MDISTILLER} configs/imagenet/r34_r18/crd.yaml, r50_mv1/crd.yaml SOLVER (batch ' \
          f'256, lr 0.1, 100 epochs, x0.1 at 30/60/90, wd 1e-4)'
_IN_REVIEWKD = f'{MDISTILLER} configs/imagenet/r34_r18/reviewkd.yaml, r50_mv1/reviewkd.yaml'
FEATURE_SETTINGS['imagenet'].update({
    'crd': {**_settings(_IN_SCHEDULE, _IN_SCHEDULE_VALUES, _IN_CRD),
            **_crd_settings(_CRD_MD_CFG, f'{_CRD_MD_CFG} (the ImageNet crd.yaml set no weights)',
                            kd=False)},
    'kd+crd': {**_settings(_IN_SCHEDULE, _IN_SCHEDULE_VALUES,
                           f'{DEFAULT}: no published ImageNet KD+CRD; {_IN_CRD}'),
               **_crd_settings(_CRD_MD_CFG, f'{DEFAULT}: no published ImageNet KD+CRD; '
                                            f'{_CRD_SCRIPT} (CRD+KD: -r 1 -a 1 -b 0.8, --kd_T 4)',
                               kd=True)},
    'reviewkd': {**_settings(_IN_SCHEDULE, _IN_SCHEDULE_VALUES, f'{_IN_REVIEWKD} SOLVER (batch '
                             f'256, lr 0.1, 100 epochs, x0.1 at 30/60/90, wd 1e-4)'),
                 'ce_weight': Setting(1.0, f'{_IN_REVIEWKD} (CE_WEIGHT 1.0)'),
                 'reviewkd.warmup_epochs': Setting(1, f'{_IN_REVIEWKD} (WARMUP_EPOCHS 1)'),
                 'reviewkd.stu_preact': Setting(True, f'{_IN_REVIEWKD} (STU_PREACT True)'),
                 'reviewkd.max_mid_channel': Setting(
                     512, f'{_REVIEWKD_MID}; r50_mv1/reviewkd.yaml\'s MAX_MID_CHANNEL 256 has '
                          f'no effect)')},
})
# ReviewKD's weight per CIFAR pair: mdistiller ships resnet32x4 -> resnet8x4 only; the authors'
# script gives the pairs of the paper's Table (their own trainer: batch 128, lr 0.1, Nesterov;
# kdjax keeps the mdistiller protocol and takes the weight).
_REVIEWKD_SCRIPT = f'{REVIEWKD_REPO} CIFAR-100/script/reviewKD.sh (--kd-loss-weight)'
REVIEWKD_WEIGHT = _table('ReviewKD weight', ('feature.weight',), _REVIEWKD_SCRIPT, {
    (R32x4, R8x4): 5.0, (W40_2, W16_2): 5.0, (W40_2, W40_1): 5.0, (W40_2, SV1): 5.0,
    (R32x4, SV1): 5.0, (R32x4, SV2): 8.0, ('resnet56', 'resnet20'): 0.6,
    ('resnet110', 'resnet32'): 1.0,
}, fallback=((5.0,), f'{DEFAULT}: {_REVIEWKD_CIFAR}, its only CIFAR pair'),
    sources={(R32x4, R8x4): f'{_REVIEWKD_CIFAR} = {_REVIEWKD_SCRIPT}'})
IMAGENET_REVIEWKD_WEIGHT = _table('ImageNet ReviewKD weight', ('feature.weight',), _IN_REVIEWKD, {
    _IN_R18: 1.0, _IN_MV1: 8.0},
    fallback=((1.0,), f'{DEFAULT}: {MDISTILLER} configs/imagenet/r34_r18/reviewkd.yaml'),
    sources={_IN_R18: f'{MDISTILLER} configs/imagenet/r34_r18/reviewkd.yaml (REVIEWKD_WEIGHT 1.0)',
             _IN_MV1: f'{MDISTILLER} configs/imagenet/r50_mv1/reviewkd.yaml (REVIEWKD_WEIGHT 8.0)'})

# Per recipe, per method: the PairTables applied after the method settings (kdjax.recipes
# ``_pair_tables`` reads these first).
FEATURE_PAIR_TABLES: dict[str, dict[str, tuple[PairTable, ...]]] = {
    recipe: {} for recipe in RECIPES}
# Methods whose own paper's recipe is seed 002 (``default_recipe``).
SEED002_METHODS = {'ttm', 'wttm', 'kd+crd'}  # KD+CRD: the CRD codebase's flags


def _defaulted(settings: Mapping[str, Setting], why: str) -> dict[str, Setting]:
  """``settings`` with sources marked as a fallback: ``'default: <why>; <source>'``."""
  return {field: Setting(s.value, f'{DEFAULT}: {why}; {s.source}')
          for field, s in settings.items()}


def _defaulted_table(table: PairTable, why: str) -> PairTable:
  """``table`` with every row's source (and the fallback's) marked ``'default: <why>; ...'``."""
  fallback = table.fallback
  if fallback is not None and not fallback[1].startswith(DEFAULT):
    fallback = (fallback[0], f'{DEFAULT}: {why}; {fallback[1]}')
  return PairTable(table.name, table.fields, {
      pair: (values, f'{DEFAULT}: {why}; {source}')
      for pair, (values, source) in table.rows.items()}, fallback)


# ---------------------------------------------------------------------------------------------
# SimKD (Chen et al., CVPR 2022): DefangChen/SimKD. Seed 001's SimKD rows are that codebase's.
SIMKD_REPO = 'DefangChen/SimKD'
_SIMKD_RUN = f'{SIMKD_REPO} README.md + scripts/run_distill.sh (--distill simkd -c 0 -d 0 -b 1)'
_SIMKD_FACTOR = f'{SIMKD_REPO} train_student.py (-f/--factor default 2; README also reports 4, 8)'
PRESET_SOURCES['simkd'] = f'{_SIMKD_RUN} + helper/loops.py (feature MSE only; teacher head reused)'
SIMKD_SETTINGS = {'ce_weight': Setting(0.0, f'{_SIMKD_RUN}: -c 0'),
                  'logit.loss': Setting('none', f'{_SIMKD_RUN}: -d 0'),
                  'feature.weight': Setting(1.0, f'{_SIMKD_RUN}: -b 1'),
                  'simkd.factor': Setting(2, _SIMKD_FACTOR)}
_SIMKD_IMAGENET = f'{SIMKD_REPO} README.md / scripts/run_distill.sh ImageNet command (batch 256, ' \
                  f'120 epochs, lr 0.1, decay 30/60/90, wd 1e-4, -c 0 -d 0 -b 1)'
FEATURE_SETTINGS['seed001']['simkd'] = SIMKD_SETTINGS
FEATURE_SETTINGS['imagenet']['simkd'] = {
    **SIMKD_SETTINGS, 'batch_size': Setting(256, _SIMKD_IMAGENET),
    'epochs': Setting(120, _SIMKD_IMAGENET), 'lr': Setting(0.1, _SIMKD_IMAGENET),
    'lr_decay_epochs': Setting((30, 60, 90), _SIMKD_IMAGENET),
    'weight_decay': Setting(1e-4, _SIMKD_IMAGENET)}

# ---------------------------------------------------------------------------------------------
# CAT-KD (Guo et al., CVPR 2023): GzyAftermath/CAT-KD, configs/cifar100/CAT_KD/*.yaml (CE 1,
# onlyCAT False, standard schedule). (CAT_loss_weight, CAM_RESOLUTION, IF_NORMALIZE) per pair.
CATKD_REPO = 'GzyAftermath/CAT-KD'
_CATKD_CFG = f'{CATKD_REPO} mdistiller/engine/cfg.py (CAT_KD: CE_WEIGHT 1, CAT_loss_weight 400, ' \
             f'CAM_RESOLUTION 2, IF_NORMALIZE True, IF_BINARIZE False)'
PRESET_SOURCES['catkd'] = _CATKD_CFG
_CATKD_ROWS = {
    (R32x4, R8x4): (15.0, 2, False, 'res32x4_res8x4.yaml'),
    ('resnet110', 'resnet32'): (1.8, 2, False, 'res110_res32.yaml'),
    ('resnet56', 'resnet20'): (0.7, 2, False, 'res56_res20.yaml'),
    ('vgg13', 'vgg8'): (4.5, 2, False, 'vgg13_vgg8.yaml'),
    (W40_2, W16_2): (12.0, 2, False, 'wrn_40_2_wrn_16_2.yaml'),
    (W40_2, W40_1): (1.5, 2, False, 'wrn_40_2_wrn_40_1.yaml'),
    (R32x4, SV1): (600.0, 4, True, 'res32x4_shuv1.yaml'),
    (R32x4, SV2): (600.0, 4, True, 'res32x4_shuv2.yaml'),
    (W40_2, SV1): (80.0, 4, True, 'wrn40_2_shuv1.yaml'),
    ('ResNet50', MV2): (40.0, 2, True, 'res50_mv2.yaml'),
    ('vgg13', MV2): (15.0, 2, True, 'vgg13_mv2.yaml'),
}
# Pairs of the seed tables with no released config take the config of the nearest released
# pair, marked default. What the released configs use: the same-architecture pairs set
# IF_NORMALIZE False, CAM_RESOLUTION 2 and their own weight (0.7-15); the MobileNet / ShuffleNet
# students IF_NORMALIZE True, resolution 2 (MobileNetV2) or 4 (ShuffleNet), weights 15-600.
# Chosen: a ResNet / WRN student takes its teacher's same-architecture config (the same teacher's
# CAMs as target), a MobileNetV2 student the MobileNetV2 config whose teacher is closest in
# accuracy (vgg13 74.64 for wrn_40_2's 75.61; ResNet50 is 79.34).
_CATKD_NEAREST = {  # pair: the released pair whose config it takes
    (R32x4, W16_2): (R32x4, R8x4), (R32x4, W40_2): (R32x4, R8x4),
    (W40_2, R8x4): (W40_2, W16_2), ('resnet110', 'resnet20'): ('resnet110', 'resnet32'),
    (W40_2, MV2): ('vgg13', MV2),
}
_CATKD_NEAREST_WHY = (f'{DEFAULT}: no CAT-KD config for this pair; the released same-architecture '
                      f'configs set IF_NORMALIZE False and a per-pair weight, the MobileNet / '
                      f'ShuffleNet ones IF_NORMALIZE True; nearest released pair')
CATKD = PairTable('CAT-KD', ('feature.weight', 'catkd.resolution', 'catkd.normalize'), {
    **{pair: ((w, r, n), f'{CATKD_REPO} configs/cifar100/CAT_KD/{file}')
       for pair, (w, r, n, file) in _CATKD_ROWS.items()},
    **{pair: (_CATKD_ROWS[near][:3], f'{_CATKD_NEAREST_WHY} {near[0]} -> {near[1]}: {CATKD_REPO} '
                                     f'configs/cifar100/CAT_KD/{_CATKD_ROWS[near][3]}')
       for pair, near in _CATKD_NEAREST.items()}},
    fallback=((400.0, 2, True), f'{DEFAULT}: no CAT-KD config for this pair; {_CATKD_CFG}'))
CATKD_SETTINGS = {'ce_weight': Setting(1.0, f'{CATKD_REPO} configs/cifar100/CAT_KD/*.yaml '
                                            f'(CE_WEIGHT 1., onlyCAT False)'),
                  'catkd.binarize': Setting(False, _CATKD_CFG)}
FEATURE_SETTINGS['seed001']['catkd'] = CATKD_SETTINGS
FEATURE_PAIR_TABLES['seed001']['catkd'] = (CATKD,)
# ImageNet (configs/imagenet/CAT-KD/): both set DISTILLER.TYPE "CAT-KD", which the registry
# (mdistiller/distillers/__init__.py, key "CAT_KD") does not know, so they do not run as shipped;
# kdjax runs them as evidently meant (the CAT_KD distiller). r34_r18.yaml's SOLVER.BATCH_SIZE 2
# is a debug leftover: batch 512 with its lr 0.2, as r50_mv2.yaml and mdistiller's ImageNet
# configs. "MobileNetV2" there is the 1024-channel MobileNetV1 (models/imagenet/mobilenetv2.py).
_CATKD_IN = f'{CATKD_REPO} configs/imagenet/CAT-KD'
_CATKD_IN_NOTE = 'run as the CAT_KD distiller: its DISTILLER.TYPE "CAT-KD" is unregistered'
CATKD_IMAGENET = PairTable('CAT-KD ImageNet', (
    'feature.weight', 'catkd.resolution', 'catkd.normalize', 'batch_size', 'lr'), {
        _IN_R18: ((0.5, 4, False, 512, 0.2),
                  f'{_CATKD_IN}/r34_r18.yaml ({_CATKD_IN_NOTE}; its BATCH_SIZE 2 is a debug '
                  f'leftover: 512 as r50_mv2.yaml and {MDISTILLER} configs/imagenet)'),
        _IN_MV1: ((10.0, 2, True, 512, 0.2),
                  f'{_CATKD_IN}/r50_mv2.yaml ({_CATKD_IN_NOTE}; its MobileNetV2 is MobileNetV1)'),
    })
FEATURE_SETTINGS['imagenet']['catkd'] = {
    'ce_weight': Setting(1.0, f'{_CATKD_IN}/*.yaml (CE_WEIGHT 1.)'),
    'catkd.binarize': Setting(False, _CATKD_CFG),
    'epochs': Setting(100, f'{_CATKD_IN}/*.yaml (EPOCHS 100, stages 30/60/90, wd 1e-4)')}
FEATURE_PAIR_TABLES['imagenet']['catkd'] = (CATKD_IMAGENET,)

# ---------------------------------------------------------------------------------------------
# Seed 002 (Zheng & Yang 2024): DIST, ITRD and the WTTM combinations as the TTM repository
# (zkxufo/TTM train_student.py, distiller_zoo/) runs them.
DIST_CODE = 'hunto/image_classification_sota'  # the code of DIST's repository hunto/DIST_KD
_SEED002_A5 = 'Zheng & Yang 2024, Appendix A.5 (combinations: CE + beta * WTTM + mu * L_extra)'
_TTM_FLAGS = f'{TTM_REPO} train_student.py'
_DIST_TTM = f'{_TTM_FLAGS} (--dist_tau 4 --dist_beta 1 --dist_gamma 1 = distiller_zoo/dist.py DIST)'
_DIST_CIFAR = f'{DIST_CODE} configs/strategies/distill/dist_cifar.yaml (ori_loss_weight 1, ' \
              f'kd_loss_weight 2, kd dist_t4 = DIST(beta 1, gamma 1, tau 4))'
PRESET_SOURCES['dist'] = f'{_DIST_TTM}; -r 1; weight: {_DIST_CIFAR}'
FEATURE_SETTINGS['seed002']['dist'] = {
    'ce_weight': Setting(1.0, f'{_TTM_FLAGS} (-r default 1) = {_DIST_CIFAR}'),
    'logit.temperature': Setting(4.0, _DIST_TTM), 'dist.beta': Setting(1.0, _DIST_TTM),
    'dist.gamma': Setting(1.0, _DIST_TTM),
    # TTM publishes no -b for DIST (no command; -b has no default); seed 002's DIST numbers are
    # DIST's own README's (hunto/DIST_KD), whose CIFAR config weighs the loss by 2.
    'logit.weight': Setting(2.0, f'{_DIST_CIFAR}; {TTM_REPO} publishes no -b for --distill dist '
                                 f'and seed 002\'s DIST row equals hunto/DIST_KD README\'s')}
# ImageNet (seed 002 Tables 5 and 7 quote DIST's README): configs/strategies/distill/
# resnet_dist.yaml on 8 GPUs (README: tools/dist_train.sh 8), batch 32 each.
# Its tools/train.py builds SGD with Nesterov momentum and no weight decay on biases and BN
# (--sgd-no-nesterov / --opt-no-filter not set); kdjax's optimiser (plain momentum, decay on every
# parameter, as the CRD / mdistiller codebases) cannot express either: a known difference.
_DIST_SGD = f'{DIST_CODE} tools/train.py: Nesterov SGD without weight decay on biases and BN, ' \
            f'which kdjax\'s optimiser does not express (plain momentum here)'
_DIST_IN = f'{DIST_CODE} configs/strategies/distill/resnet_dist.yaml (8 GPUs x batch 32, lr 0.1, ' \
           f'decay x0.1 every 30 epochs, 100 epochs, wd 1e-4, ori 1, kd_loss_weight 2, kd dist = ' \
           f'DIST(beta 1, gamma 1, tau 1): lib/models/losses/kd_loss.py; {_DIST_SGD})'
# Seed 002 Table 7's KD row is DIST's README "KD (T=4)" column (hunto/DIST_KD), trained with
# configs/strategies/distill/resnet_kdt4.yaml: kd 'kdt4' = KLDivergence(tau 4) x tau^2 (batch
# mean; lib/models/losses/kl_div.py), ori_loss_weight 0.9, kd_loss_weight 1.0, the same solver as
# resnet_dist.yaml (8 GPUs x batch 32, lr 0.1, step x0.1 every 30 epochs, 100 epochs, wd 1e-4,
# label smoothing 0).
_KD_T4_IN = f'{DIST_CODE} configs/strategies/distill/resnet_kdt4.yaml (kd kdt4: T 4, ' \
            f'ori_loss_weight 0.9, kd_loss_weight 1.0; 8 GPUs (hunto/DIST_KD README: ' \
            f'tools/dist_train.sh 8) x batch 32, lr 0.1, decay_epochs 30 x0.1, 100 epochs, wd ' \
            f'1e-4, smoothing 0; {_DIST_SGD})'
DIST_IMAGENET = {
    'kd': {'ce_weight': Setting(0.9, _KD_T4_IN), 'logit.weight': Setting(1.0, _KD_T4_IN),
           'logit.temperature': Setting(4.0, _KD_T4_IN), 'batch_size': Setting(256, _KD_T4_IN),
           'lr': Setting(0.1, _KD_T4_IN), 'epochs': Setting(100, _KD_T4_IN),
           'lr_decay_epochs': Setting((30, 60, 90), _KD_T4_IN),
           'lr_decay_rate': Setting(0.1, _KD_T4_IN), 'momentum': Setting(0.9, _KD_T4_IN),
           'weight_decay': Setting(1e-4, _KD_T4_IN)},
}
FEATURE_SETTINGS['imagenet']['dist'] = {
    'ce_weight': Setting(1.0, _DIST_IN), 'logit.weight': Setting(2.0, _DIST_IN),
    'logit.temperature': Setting(1.0, _DIST_IN), 'dist.beta': Setting(1.0, _DIST_IN),
    'dist.gamma': Setting(1.0, _DIST_IN), 'batch_size': Setting(256, _DIST_IN),
    'lr': Setting(0.1, _DIST_IN), 'epochs': Setting(100, _DIST_IN),
    'lr_decay_epochs': Setting((30, 60, 90), _DIST_IN), 'weight_decay': Setting(1e-4, _DIST_IN)}
DIST_IMAGENET['dist'] = FEATURE_SETTINGS['imagenet']['dist']
FEATURE_SETTINGS['dist_imagenet'].update(DIST_IMAGENET)

_ITRD_TTM = f'{_TTM_FLAGS} (--lambda_corr 2.0 --lambda_mutual 1.0 --alpha_it 1.50) + ' \
            f'distiller_zoo/itrd.py'
_ITRD_B = f'{TTM_REPO} publishes no -b for --distill itrd; roymiles/ITRD README example ' \
          f'(-b 1.0 -r 1.0)'
PRESET_SOURCES['itrd'] = f'{_ITRD_TTM}; -r 1 (default), -a 0; -b 1: {_ITRD_B}'
ITRD_SETTINGS = {
    'ce_weight': Setting(1.0, f'{_TTM_FLAGS} (-r default 1)'),
    'feature.weight': Setting(1.0, _ITRD_B),
    'itrd.lambda_corr': Setting(2.0, _ITRD_TTM), 'itrd.lambda_mutual': Setting(1.0, _ITRD_TTM),
    'itrd.alpha': Setting(1.5, _ITRD_TTM)}
FEATURE_SETTINGS['seed002']['itrd'] = ITRD_SETTINGS

# ITRD's per-pair values, plain and combined (Appendix A.5: "we always select the optimal values
# of the original paper", roymiles/ITRD): beta_corr 2; beta_mi 0 for ResNet50 -> MobileNetV2,
# ResNet50 -> vgg8 and wrn_40_2 -> ShuffleV1, 1 elsewhere; alpha_it 1.01 for same-architecture
# pairs, 1.5 for distinct ones.
SEED002_SAME = ((W40_2, W16_2), (W40_2, W40_1), ('resnet56', 'resnet20'),
                ('resnet110', 'resnet20'), ('resnet110', 'resnet32'), (R32x4, R8x4),
                ('vgg13', 'vgg8'))
SEED002_DISTINCT = (('vgg13', MV2), ('ResNet50', MV2), ('ResNet50', 'vgg8'), (R32x4, SV1),
                    (R32x4, SV2), (W40_2, SV1))
_NO_MUTUAL = (('ResNet50', MV2), ('ResNet50', 'vgg8'), (W40_2, SV1))
_ITRD_A5 = f'{_SEED002_A5}, ITRD: the optimal values of roymiles/ITRD'
ITRD_OPTIMAL = PairTable('ITRD (seed 002 A.5 settings)',
                         ('itrd.lambda_corr', 'itrd.lambda_mutual', 'itrd.alpha'), {
    pair: ((2.0, 0.0 if pair in _NO_MUTUAL else 1.0, 1.01 if pair in SEED002_SAME else 1.5),
           f'{_ITRD_A5}: beta_corr 2, beta_mi {0 if pair in _NO_MUTUAL else 1}, alpha_it '
           f'{1.01 if pair in SEED002_SAME else 1.5} '
           f'({"same" if pair in SEED002_SAME else "distinct"} architectures)')
    for pair in SEED002_SAME + SEED002_DISTINCT},
    fallback=((2.0, 1.0, 1.5), f'{DEFAULT}: not a seed 002 pair; {_ITRD_TTM}'))
WTTM_ITRD = ITRD_OPTIMAL  # the ITRD half of WTTM+ITRD (same values)
FEATURE_PAIR_TABLES['seed002']['itrd'] = (ITRD_OPTIMAL,)

# The combinations' and WTTM-without-CE's own (gamma, beta) rows of Appendix A.4 (Tables 8-9):
# they differ from plain WTTM's in almost every pair.
_A4_COMBINED = 'Zheng & Yang 2024, Appendix A.4 (Tables 8-9: hyperparameters of the combinations)'
_WTTM_CRD_ROWS = {  # (gamma, beta)
    (W40_2, W16_2): (0.1, 4.), (W40_2, W40_1): (0.1, 2.), ('resnet56', 'resnet20'): (0.3, 0.6),
    ('resnet110', 'resnet20'): (0.2, 1.4), ('resnet110', 'resnet32'): (0.2, 1.),
    (R32x4, R8x4): (0.2, 4.), ('vgg13', 'vgg8'): (0.2, 4.), ('vgg13', MV2): (0.3, 4.2),
    ('ResNet50', MV2): (0.3, 3.), ('ResNet50', 'vgg8'): (0.1, 3.), (R32x4, SV1): (0.2, 0.4),
    (R32x4, SV2): (0.4, 12.), (W40_2, SV1): (0.2, 0.16),
}
_WTTM_ITRD_ROWS = {  # (gamma, beta)
    (W40_2, W16_2): (0.3, 6.), (W40_2, W40_1): (0.4, 0.08), ('resnet56', 'resnet20'): (0.5, 5.),
    ('resnet110', 'resnet20'): (0.3, 1.5), ('resnet110', 'resnet32'): (0.3, 0.015),
    (R32x4, R8x4): (0.1, 1.5), ('vgg13', 'vgg8'): (0.1, 0.5), ('vgg13', MV2): (0.3, 0.03),
    ('ResNet50', MV2): (0.2, 0.02), ('ResNet50', 'vgg8'): (0.1, 1.), (R32x4, SV1): (0.3, 0.6),
    (R32x4, SV2): (0.4, 0.8), (W40_2, SV1): (0.1, 0.2),
}
WTTM_CRD = _table('WTTM+CRD (WTTM settings)', ('ttm.gamma', 'logit.weight'),
                  f'{_A4_COMBINED}, WTTM+CRD row', _WTTM_CRD_ROWS,
                  fallback=((0.2, 4.), f'{DEFAULT}: not a seed 002 pair; {TTM_REPO} README\'s '
                                       f'WTTM+CRD example (--ttm_l 0.2 -a 4)'),
                  sources={('vgg13', 'vgg8'): f'{_A4_COMBINED}, WTTM+CRD row = {TTM_REPO} README '
                                              f'(--distill crd --add wttm --ttm_l 0.2 -b 0.8 -a 4)'})
WTTM_ITRD_WTTM = _table('WTTM+ITRD (WTTM settings)', ('ttm.gamma', 'logit.weight'),
                        f'{_A4_COMBINED}, WTTM+ITRD row', _WTTM_ITRD_ROWS,
                        fallback=((0.1, 1.5), f'{DEFAULT}: not a seed 002 pair; the resnet32x4 -> '
                                              f'resnet8x4 row'))
# WTTM without CE (Table 6): Table 8 prints its gamma only. beta = 1: the paper's beta weighs
# WTTM against the CE term (loss = CE + beta * WTTM), and with CE removed there is nothing to
# balance, which is why no beta is printed; beta then only rescales the whole loss (an lr
# factor against weight decay), so 1, the unscaled WTTM term, is the reading that adds no
# unpublished factor. Marked default: the alternative is plain WTTM's beta of the pair.
_A4_NOCE = 'Zheng & Yang 2024, Appendix A.4 (Table 8, WTTM w/o CE row: gamma only)'
_NOCE_BETA = (f'{DEFAULT}: beta 1, no beta is published for WTTM w/o CE ({_A4_NOCE}); beta '
              f'balances WTTM against CE, absent here, so the WTTM term is taken unscaled')
_WTTM_NOCE_GAMMA = {(W40_2, W16_2): 0.2, (W40_2, W40_1): 0.5, ('resnet56', 'resnet20'): 0.6,
                    ('resnet110', 'resnet20'): 0.4, ('resnet110', 'resnet32'): 0.4,
                    (R32x4, R8x4): 0.5, ('vgg13', 'vgg8'): 0.2}
WTTM_NOCE = PairTable('WTTM without CE', ('ttm.gamma',), {
    pair: ((gamma,), _A4_NOCE) for pair, gamma in _WTTM_NOCE_GAMMA.items()},
    fallback=((0.2,), f'{DEFAULT}: not a seed 002 Table 6 pair; the wrn_40_2 -> wrn_16_2 row'))
FEATURE_SETTINGS['seed002']['wttm+itrd'] = {
    'ce_weight': Setting(1.0, _SEED002_A5),
    'feature.weight': Setting(1.0, f'{_SEED002_A5}: mu = 1 for ITRD')}
FEATURE_SETTINGS['seed002']['wttm+crd'] = {
    **_settings(_CRD_FIELDS, _CRD_VALUES, f'{_TTM_CRD_FLAGS} = {_CRD_FLAGS}'),
    'ce_weight': Setting(1.0, _SEED002_A5),
    'feature.weight': Setting(0.8, f'{_SEED002_A5}: mu = 0.8 for CRD (= {TTM_REPO} README '
                                   f'-b 0.8)')}
FEATURE_SETTINGS['seed002']['wttm_noce'] = {
    'ce_weight': Setting(0.0, 'Zheng & Yang 2024, Table 6 (WTTM without CE: the cross-entropy '
                              'weight 0)'),
    'logit.weight': Setting(1.0, _NOCE_BETA)}
PRESET_SOURCES.update({
    'wttm+itrd': f'{_SEED002_A5}; ITRD: {_ITRD_TTM}',
    'wttm+crd': f'{_SEED002_A5}; CRD: {TTM_REPO} train_student.py (--feat_dim 128 --mode exact '
                f'--nce_k 16384 --nce_t 0.07 --nce_m 0.5)',
    'wttm_noce': 'Zheng & Yang 2024, Table 6',
})
FEATURE_PAIR_TABLES['seed002'].update({
    'wttm+itrd': (WTTM_ITRD_WTTM, ITRD_OPTIMAL), 'wttm+crd': (WTTM_CRD,),
    'wttm_noce': (WTTM_NOCE,)})
SEED002_METHODS |= {'dist', 'itrd', 'wttm+itrd', 'wttm+crd', 'wttm_noce'}

# Seed 000 re-ran SimKD and CAT-KD (its Tables 1, 2) without giving their settings: their own
# repositories' settings as the documented fallback (and the same for the seed 002 methods).
_SEED000_WHY = SEED000_BASELINE
for _recipe, _method in (('seed001', 'simkd'), ('seed001', 'catkd'), ('seed002', 'dist'),
                         ('seed002', 'itrd'), ('seed002', 'wttm+itrd'), ('seed002', 'wttm+crd'),
                         ('seed002', 'wttm_noce')):
  FEATURE_SETTINGS['seed000'][_method] = _defaulted(FEATURE_SETTINGS[_recipe][_method],
                                                    _SEED000_WHY)
  if _method in FEATURE_PAIR_TABLES[_recipe]:
    FEATURE_PAIR_TABLES['seed000'][_method] = tuple(
        _defaulted_table(t, _SEED000_WHY) for t in FEATURE_PAIR_TABLES[_recipe][_method])


@dataclasses.dataclass
class Resolved:
  """A resolved config and the source of each value set on top of the schema."""
  config: ml_collections.ConfigDict
  sources: dict[str, str]


def default_recipe(method: str, teacher: str, student: str) -> str:
  """The recipe of a method's own paper (``imagenet`` for ImageNet models)."""
  if is_imagenet(student):
    return 'imagenet'
  if method == 'ce':
    return 'scratch'
  if method in SEED002_METHODS:
    return 'seed002'
  if method in ('kd_maxlogit', 'dkd_maxlogit'):
    return 'seed000'
  return 'seed001'


def _pair_tables(method: str, recipe: str) -> tuple[PairTable, ...]:
  if method in FEATURE_PAIR_TABLES[recipe]:
    return FEATURE_PAIR_TABLES[recipe][method]
  if recipe == 'dist_imagenet':
    return ()
  if recipe == 'imagenet':
    return {'dkd': (IMAGENET_DKD_BETA,), 'dkd_ls': (IMAGENET_DKD_BETA,),
            'mlkd': (IMAGENET_MLKD_LR,), 'mlkd_ls': (IMAGENET_MLKD_LR,),
            'wttm': (WTTM,), 'reviewkd': (IMAGENET_REVIEWKD_WEIGHT,)}.get(method, ())
  if recipe == 'seed000':
    return {'dkd_ls': (DKD_BETA,), 'dkd_maxlogit': (DKD_BETA,)}.get(method, ())
  return {'dkd': (DKD_BETA,), 'kd_ls': (KD_LS,), 'dkd_ls': (DKD_BETA, DKD_LS),
          'dkd_maxlogit': (DKD_BETA, DKD_LS), 'ttm': (TTM,), 'wttm': (WTTM,),
          'mlkd': (MLKD,), 'mlkd_ls': (MLKD_LS,), 'reviewkd': (REVIEWKD_WEIGHT,)}.get(method, ())


def _method_settings(method: str, recipe: str) -> dict[str, Setting]:
  if method in FEATURE_SETTINGS[recipe]:
    return dict(FEATURE_SETTINGS[recipe][method])
  if recipe == 'dist_imagenet':
    raise ValueError(f'recipe dist_imagenet ({DIST_CODE}) has settings for '
                     f'{sorted(DIST_IMAGENET)} only, not {method!r}; use recipe imagenet')
  if recipe == 'imagenet':
    return dict(IMAGENET.get(method, {}))
  if recipe == 'seed000':
    out = dict(SEED000.get(method, {}))
    if method == 'ctkd_ls':
      out.update({k: v for k, v in CTKD_PLAIN.items() if k not in out})
    return out
  if method == 'ctkd':
    return dict(CTKD_PLAIN)
  if method == 'ctkd_ls':
    return {**CTKD_PLAIN, **CTKD_LS}
  return {}


def resolve(method: str, teacher: str, student: str, *, recipe: str | None = None,
            config: ml_collections.ConfigDict | None = None, strict: bool = False) -> Resolved:
  """The config of ``method`` for ``teacher -> student`` and the source of each of its values.

  Args:
    method: a preset name (``kdjax.methods.presets()``).
    teacher, student: registry names (``teacher`` '' for CE training).
    recipe: one of ``RECIPES`` (default: the method's own paper, ``default_recipe``).
    config: the config to start from (copied); default ``get_config()``.
    strict: ``KeyError`` for a pair a table of the recipe lacks (instead of its fallback).

  Returns:
    The validated config (``method`` filled in) and ``{dotted field: source}``.
  """
  recipe = recipe or default_recipe(method, teacher, student)
  if recipe not in RECIPES:
    raise ValueError(f'unknown recipe {recipe!r}; choose one of {RECIPES}')
  base = config_lib.get_config() if config is None else config
  c = config_lib.apply_preset(base, method)
  c.teacher, c.student = teacher, student
  sources: dict[str, str] = {}
  pair = (teacher, student)

  def apply(settings: Mapping[str, Setting]) -> None:
    for field, setting in settings.items():
      if setting.value is not None:
        c.update_from_flattened_dict({field: setting.value})
      sources[field] = setting.source

  on_imagenet = recipe in IMAGENET_RECIPES
  protocol = IMAGENET_PROTOCOL if on_imagenet else CIFAR_PROTOCOL
  apply(protocol)
  apply({'lr': Setting(config_lib.default_lr(student),
                       _CIFAR_LIGHT_LR if student in LIGHT_STUDENTS else _CIFAR)}
        if not on_imagenet else {})
  if recipe == 'seed000':
    apply({'lr': _SEED000_LR})
  apply({'precision': PRECISION})
  preset_source = PRESET_SOURCES.get(method, f'{method} preset')
  apply({field: Setting(None, preset_source) for field in methods.presets()[method]})
  apply(_method_settings(method, recipe))
  for table in _pair_tables(method, recipe):
    apply(table.settings(pair, strict=strict))
  if c.lr is None:
    c.lr = config_lib.default_lr(student)
  if teacher and c.eval_ttm_gamma is None:
    row = TTM.settings(pair, strict=False)
    apply({'eval_ttm_gamma': Setting(row['ttm.gamma'].value,
                                     f'the pair\'s TTM gamma ({row["ttm.gamma"].source})')})
  config_lib.validate(c)
  return Resolved(config=c, sources=sources)


def describe(resolved: Resolved) -> list[tuple[str, str, str]]:
  """``(field, value, source)`` rows of every sourced value, then the schema values in use."""
  flat = config_lib.flatten(resolved.config.to_dict())
  rows = [(field, repr(flat[field]), source) for field, source in sorted(resolved.sources.items())
          if field in flat]
  return rows
