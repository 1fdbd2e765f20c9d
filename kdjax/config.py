"""Training configuration: the schema, the method presets and the per-pair tables.

Everything a run depends on is one ``ml_collections.ConfigDict`` (``get_config``).
A method is a preset of that schema (``PRESETS``); the published per-pair
hyperparameters of ``spec/training.md`` are data (the ``*_TABLE`` dicts, keyed by
``(teacher, student)`` registry names) filled in by ``method_config``. One table
cell of the papers is ``for_cell(teacher, student, method)``.

The loss is composed from three switches (``spec/methods.md`` section 8):
``standardize`` (LS z-score, yes/no) x ``temperature_policy`` (``fixed`` |
``ctkd`` | ``max_logit``) x ``loss`` (``none`` | ``kd`` | ``dkd`` | ``mlkd`` |
``ttm`` | ``wttm``). Weights: the total is ``ce_weight * CE + kd_weight * term``
for every base loss; DKD's ``alpha``/``beta`` are additionally scaled by
``kd_weight`` (the LS code's convention, ``kd_weight = 1`` for plain DKD) and
TTM/WTTM's ``beta`` IS ``kd_weight``.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import ml_collections
from ml_collections import config_dict

Pair = tuple[str, str]

METHODS = ('ce', 'kd', 'kd_ls', 'ctkd', 'ctkd_ls', 'dkd', 'dkd_ls', 'mlkd', 'mlkd_ls',
           'ttm', 'wttm', 'kd_maxlogit', 'dkd_maxlogit')
LOSSES = ('none', 'kd', 'dkd', 'mlkd', 'ttm', 'wttm')
TEMPERATURE_POLICIES = ('fixed', 'ctkd', 'max_logit')
TEACHER_CACHE_DTYPES = ('float16', 'bfloat16', 'float32')  # kdjax.teacher_cache.STORAGE_DTYPES

# Fields that may change between a run and its resumption (they do not change
# what is computed): see ``kdjax.checkpointing.check_config``.
RESUMABLE_FIELDS = ('data_dir', 'data_source', 'log_every', 'eval_every', 'checkpoint_keep',
                    'checkpoint_every',
                    'progress_bar', 'distributed', 'teacher_checkpoint',
                    'teacher_cache_verify', 'eval_statistics', 'eval_ttm_gamma',
                    'conv_batch_chunks')

# ---------------------------------------------------------------------------
# Per-pair tables of spec/training.md, keyed by (teacher, student).
# ---------------------------------------------------------------------------
R32x4, R8x4 = 'resnet32x4', 'resnet8x4'
W40_2, W40_1, W16_2 = 'wrn_40_2', 'wrn_40_1', 'wrn_16_2'
MV2, SV1, SV2 = 'MobileNetV2', 'ShuffleV1', 'ShuffleV2'

# DKD beta0: 8 for res32x4->res8x4, ShuffleNet students and the ResNet50 teacher;
# 2 for res56->res20, res110->res32; 6 for the VGG and WRN pairs.
# Pairs not listed use DKD_BETA_DEFAULT (the DKD paper's default).
DKD_BETA_DEFAULT = 8.0
DKD_BETA_TABLE: dict[Pair, float] = {
    (R32x4, R8x4): 8.0, (R32x4, SV1): 8.0, (R32x4, SV2): 8.0, (W40_2, SV1): 8.0,
    ('ResNet50', MV2): 8.0, ('ResNet50', 'vgg8'): 8.0,
    ('resnet56', 'resnet20'): 2.0, ('resnet110', 'resnet32'): 2.0,
    ('vgg13', 'vgg8'): 6.0, ('vgg13', MV2): 6.0,
    (W40_2, W40_1): 6.0, (W40_2, W16_2): 6.0, (W40_2, MV2): 6.0, (W40_2, R8x4): 6.0,
    (R32x4, W16_2): 6.0, (R32x4, W40_2): 6.0,
}

# KD+LS ("zKD"): (tau, w_kd); default (2, 9).
KD_LS_DEFAULT = (2.0, 9.0)
KD_LS_TABLE: dict[Pair, tuple[float, float]] = {
    (R32x4, R8x4): (2., 9.), (W40_2, W40_1): (2., 9.), (W40_2, W16_2): (2., 9.),
    ('resnet56', 'resnet20'): (2., 9.), ('resnet110', 'resnet32'): (2., 9.), (R32x4, SV2): (2., 9.),
    (W40_2, R8x4): (2., 9.),
    ('vgg13', 'vgg8'): (3., 9.), (R32x4, W16_2): (3., 9.), (R32x4, W40_2): (3., 9.),
    (W40_2, MV2): (3., 9.), ('vgg13', MV2): (3., 9.),
    ('resnet110', 'resnet20'): (4., 12.),
    ('ResNet50', MV2): (3., 1.),
}

# DKD+LS ("zDKD"): (tau, w, beta0); default (2, 9, DKD beta0 of the pair).
DKD_LS_TABLE: dict[Pair, tuple[float, float, float]] = {
    (R32x4, R8x4): (2., 9., 8.), (R32x4, SV2): (2., 9., 8.),
    ('vgg13', 'vgg8'): (2., 15., 2.), ('resnet110', 'resnet32'): (2., 15., 2.),
    ('resnet110', 'resnet20'): (2., 15., 2.), (W40_2, MV2): (2., 15., 2.),
    ('ResNet50', MV2): (2., 15., 2.),
    (W40_2, W40_1): (2., 12., 2.), (W40_2, W16_2): (2., 12., 2.),
    ('resnet56', 'resnet20'): (3., 18., 2.),
    (R32x4, W16_2): (2., 9., 2.), (R32x4, W40_2): (2., 9., 8.),
    (W40_2, R8x4): (2., 18., 2.),
    ('vgg13', MV2): (3., 9., 2.),
}

# TTM / WTTM: (gamma, beta). Pairs not listed use the confirmed res32x4->res8x4 row.
TTM_TABLE: dict[Pair, tuple[float, float]] = {
    (W40_2, W16_2): (0.1, 101.), (W40_2, W40_1): (0.1, 76.), ('resnet56', 'resnet20'): (0.3, 7.),
    ('resnet110', 'resnet20'): (0.2, 8.), ('resnet110', 'resnet32'): (0.1, 33.),
    (R32x4, R8x4): (0.1, 100.), ('vgg13', 'vgg8'): (0.1, 45.), ('vgg13', MV2): (0.2, 16.),
    ('ResNet50', MV2): (0.2, 20.), ('ResNet50', 'vgg8'): (0.1, 70.), (R32x4, SV1): (0.2, 12.),
    (R32x4, SV2): (0.4, 40.), (W40_2, SV1): (0.3, 8.),
}
WTTM_TABLE: dict[Pair, tuple[float, float]] = {
    (W40_2, W16_2): (0.1, 4.), (W40_2, W40_1): (0.1, 3.), ('resnet56', 'resnet20'): (0.3, 1.5),
    ('resnet110', 'resnet20'): (0.2, 2.), ('resnet110', 'resnet32'): (0.1, 1.5),
    (R32x4, R8x4): (0.1, 3.), ('vgg13', 'vgg8'): (0.1, 2.25), ('vgg13', MV2): (0.2, 3.),
    ('ResNet50', MV2): (0.2, 5.), ('ResNet50', 'vgg8'): (0.1, 2.), (R32x4, SV1): (0.2, 1.4),
    (R32x4, SV2): (0.4, 16.), (W40_2, SV1): (0.3, 3.),
    ('resnet34', 'resnet18'): (0.8, 1.6), ('resnet50', 'MobileNetV1'): (0.7, 3.5),
}
TTM_DEFAULT_PAIR = (R32x4, R8x4)

# MLKD+LS: w_kd 9 except these pairs.
MLKD_LS_KD_WEIGHT_TABLE: dict[Pair, float] = {
    (R32x4, SV2): 6.0, ('vgg13', MV2): 6.0, ('vgg13', 'vgg8'): 6.0,
}
# MLKD epochs (CVPR'23 setting): 480, 960 for these pairs; lr by student family.
MLKD_EPOCHS_DEFAULT = 480
MLKD_EPOCHS_TABLE: dict[Pair, int] = {(R32x4, SV1): 960, (R32x4, SV2): 960}
MLKD_LS_LR_TABLE: dict[Pair, float] = {(W40_2, MV2): 0.005}

_LIGHT_STUDENTS = ('MobileNetV2', 'ShuffleV1', 'ShuffleV2', 'MobileNetV1')


def family(model: str) -> str:
  """Architecture family of a registry name: resnet, wrn, vgg, mobilenet or shufflenet."""
  lower = model.lower()
  for prefix, name in (('wrn', 'wrn'), ('vgg', 'vgg'), ('mobilenet', 'mobilenet'),
                       ('shuffle', 'shufflenet'), ('resnet', 'resnet')):
    if lower.startswith(prefix):
      return name
  raise ValueError(f'unknown model family for {model!r}; expected a kdjax.models registry name')


def default_lr(student: str) -> float:
  """Base learning rate of spec/training.md: 0.05, or 0.01 for MobileNet/ShuffleNet students."""
  return 0.01 if student in _LIGHT_STUDENTS else 0.05


def get_config() -> ml_collections.ConfigDict:
  """Returns the full schema with the CIFAR-100 protocol defaults and method ``kd``."""
  c = ml_collections.ConfigDict()
  # Data and models.
  c.dataset = 'cifar100'
  c.data_dir = config_dict.placeholder(str)
  c.data_source = 'auto'
  c.image_size = config_dict.placeholder(int)  # digits only: side in pixels (None: 16).
  c.teacher = R32x4
  c.student = R8x4
  c.teacher_checkpoint = ''  # .pth/.safetensors file or kdjax teacher dir; '' = random init.
  # Teacher-logit cache (kdjax.teacher_cache): a directory shared by the runs of a sweep
  # ('' = run the teacher every step), the storage dtype, and the batches of every cached
  # epoch compared with a fresh teacher forward (kdjax.teacher_cache.TeacherCache).
  c.teacher_cache = ''
  c.teacher_cache_dtype = 'float16'  # float16 | bfloat16 | float32
  c.teacher_cache_verify = 2
  # Method (see the module docstring for the composition).
  c.method = 'kd'
  c.loss = 'kd'
  c.temperature_policy = 'fixed'
  c.standardize = False
  c.ls_ddof = 1
  c.ls_eps = 1e-7
  c.ls_center = True  # False: x / (eps + std) only (seed 001 Table 4 "z / std" column).
  c.ls_scale = True  # False: x - mean only (seed 001 Table 4 "z - mean" column).
  c.ce_weight = 0.1
  c.kd_weight = 0.9
  c.temperature = 4.0  # T for KD/DKD, LS base tau, MLKD T0.
  c.dkd_alpha = 1.0
  c.dkd_beta = DKD_BETA_DEFAULT
  c.warmup_epochs = 20  # DKD warm-up factor min(epoch / warmup_epochs, 1).
  c.ttm_gamma = 0.1  # TTM/WTTM teacher exponent gamma = 1/T (beta is kd_weight).
  # The gamma of the logged test_kl_transformed_teacher (kdjax.train.evaluation_statistics);
  # None = ttm_gamma. method_config sets the pair's TTM gamma for every method, so that the KD,
  # TTM and WTTM runs of a pair log the same KL (seed 002 Fig. 2).
  c.eval_ttm_gamma = config_dict.placeholder(float)
  c.ctkd = ml_collections.ConfigDict(dict(
      variant='global',  # global | instance (instance: paper only, no reference numbers).
      t_start=1.0, t_range=20.0, init=1.0,  # T = t_start + t_range * sigmoid(theta), theta0 = init.
      schedule='cosine',  # cosine | linear
      lambda_max=0.0, lambda_min=-1.0, lambda_epochs=10,
      hidden=64,  # instance variant MLP width.
  ))
  c.max_logit = ml_collections.ConfigDict(dict(order=2, teacher_only=False))
  c.mlkd = ml_collections.ConfigDict(dict(
      masking='released',  # released (scalar fraction) | per_sample (paper's intent).
      epoch_setting='cvpr23',  # cvpr23 (480/960) | repository (240 for same-family pairs).
  ))
  # Optimisation.
  c.seed = 0
  c.epochs = 240
  c.batch_size = 64
  c.drop_remainder = False  # True: skip each epoch's last partial batch (spec: keep it).
  c.eval_batch_size = 1000
  # Log the student's test-set statistics against the teacher every evaluation (entropy,
  # KL to the transformed teacher, logit correlation, max-logit / LS temperatures:
  # kdjax.analysis.EPOCH_STATISTICS as test_*); costs one teacher pass over the test set.
  c.eval_statistics = True
  c.lr = config_dict.placeholder(float)  # None -> default_lr(student).
  c.lr_decay_epochs = (150, 180, 210)
  c.lr_decay_rate = 0.1
  c.momentum = 0.9
  c.weight_decay = 5e-4
  c.compute_dtype = 'float32'  # float32 | bfloat16 (params and losses stay float32).
  # Batch slices each convolution runs in (same result; models.create(conv_batch_chunks=)):
  # 0 = auto (4 on CPU, where it is faster, 1 on GPU/TPU).
  c.conv_batch_chunks = 0
  # Bookkeeping.
  c.eval_every = 1
  c.checkpoint_every = 1  # epochs between checkpoints (the last epoch is always saved).
  c.checkpoint_keep = 3
  c.log_every = 100
  c.progress_bar = True
  c.distributed = False  # call jax.distributed.initialize() (multi-host).
  c.smoke = False
  c.smoke_examples = 64  # smoke mode: random examples per split.
  c.smoke_steps = 3  # smoke mode: steps per epoch at most.
  return c


_PRESETS: dict[str, dict[str, Any]] = {
    'ce': dict(loss='none', ce_weight=1.0, kd_weight=0.0),
    'kd': dict(loss='kd', temperature=4.0, ce_weight=0.1, kd_weight=0.9),
    'kd_ls': dict(loss='kd', standardize=True, temperature=2.0, ce_weight=0.1, kd_weight=9.0),
    'ctkd': dict(loss='kd', temperature_policy='ctkd', ce_weight=0.1, kd_weight=0.9),
    'ctkd_ls': dict(loss='kd', temperature_policy='ctkd', standardize=True, ce_weight=0.1,
                    kd_weight=9.0),
    'dkd': dict(loss='dkd', temperature=4.0, ce_weight=1.0, kd_weight=1.0, dkd_alpha=1.0,
                warmup_epochs=20),
    'dkd_ls': dict(loss='dkd', standardize=True, temperature=2.0, ce_weight=1.0, kd_weight=9.0,
                   dkd_alpha=1.0, warmup_epochs=20),
    'mlkd': dict(loss='mlkd', temperature=4.0, ce_weight=0.1, kd_weight=0.9),
    'mlkd_ls': dict(loss='mlkd', standardize=True, temperature=2.0, ce_weight=0.1, kd_weight=9.0),
    'ttm': dict(loss='ttm', ce_weight=1.0),
    'wttm': dict(loss='wttm', ce_weight=1.0),
    'kd_maxlogit': dict(loss='kd', temperature_policy='max_logit', standardize=True,
                        ce_weight=0.1, kd_weight=9.0),
    'dkd_maxlogit': dict(loss='dkd', temperature_policy='max_logit', standardize=True,
                         ce_weight=1.0, kd_weight=9.0, dkd_alpha=1.0, warmup_epochs=20),
}


def _pair_values(method: str, pair: Pair, strict: bool) -> dict[str, Any]:
  """The per-pair table entries of ``method`` (``spec/training.md``)."""

  def lookup(table, default, name):
    if pair in table:
      return table[pair]
    if strict:
      raise KeyError(f'{name} has no published setting for teacher->student {pair}; '
                     f'pick a pair of that table or call method_config(..., strict=False)')
    return default

  dkd_beta = lookup(DKD_BETA_TABLE, DKD_BETA_DEFAULT, 'DKD') if method == 'dkd' else (
      DKD_BETA_TABLE.get(pair, DKD_BETA_DEFAULT))
  if method == 'kd_ls':
    tau, w = lookup(KD_LS_TABLE, KD_LS_DEFAULT, 'KD+LS')
    return dict(temperature=tau, kd_weight=w)
  if method == 'dkd':
    return dict(dkd_beta=dkd_beta)
  if method in ('dkd_ls', 'dkd_maxlogit'):
    tau, w, beta0 = lookup(DKD_LS_TABLE, (2.0, 9.0, dkd_beta), 'DKD+LS')
    out = dict(dkd_beta=beta0)
    if method == 'dkd_ls':
      out.update(temperature=tau, kd_weight=w)
    return out
  if method in ('ttm', 'wttm'):
    table = TTM_TABLE if method == 'ttm' else WTTM_TABLE
    gamma, beta = lookup(table, table[TTM_DEFAULT_PAIR], method.upper())
    return dict(ttm_gamma=gamma, kd_weight=beta)
  if method in ('mlkd', 'mlkd_ls'):
    out = dict(epochs=MLKD_EPOCHS_TABLE.get(pair, MLKD_EPOCHS_DEFAULT),
               lr=0.01 if pair[1] in _LIGHT_STUDENTS else 0.025)
    if method == 'mlkd_ls':
      out['kd_weight'] = MLKD_LS_KD_WEIGHT_TABLE.get(pair, 9.0)
      out['lr'] = MLKD_LS_LR_TABLE.get(pair, out['lr'])
    return out
  return {}


def method_config(method: str, teacher: str, student: str, *,
                  config: ml_collections.ConfigDict | None = None,
                  strict: bool = False) -> ml_collections.ConfigDict:
  """Applies a method preset and its per-pair hyperparameters.

  Args:
    method: one of ``METHODS``.
    teacher: teacher registry name (e.g. ``'resnet32x4'``).
    student: student registry name (e.g. ``'resnet8x4'``).
    config: the config to start from (a copy is made); default ``get_config()``.
    strict: raise ``KeyError`` when the pair is missing from a table the method
      needs, instead of using the documented default.

  Returns:
    A new ConfigDict with ``method``, ``teacher``, ``student`` and every
    hyperparameter of the method set.
  """
  if method not in _PRESETS:
    raise ValueError(f'unknown method {method!r}; choose one of {METHODS}')
  c = get_config() if config is None else ml_collections.ConfigDict(config.to_dict())
  c.method, c.teacher, c.student = method, teacher, student
  # Reset method fields to the schema defaults first, so presets do not leak.
  base = get_config()
  for key in ('loss', 'temperature_policy', 'standardize', 'ce_weight', 'kd_weight',
              'temperature', 'dkd_alpha', 'dkd_beta', 'warmup_epochs', 'ttm_gamma'):
    c[key] = base[key]
  c.update(_PRESETS[method])
  pair_values = _pair_values(method, (teacher, student), strict)
  if method in ('mlkd', 'mlkd_ls') and c.mlkd.epoch_setting == 'repository' and (
      family(teacher) == family(student)):
    pair_values['epochs'] = 240
  c.update(pair_values)
  if c.eval_ttm_gamma is None:
    c.eval_ttm_gamma = _pair_values('ttm', (teacher, student), strict=False)['ttm_gamma']
  validate(c)
  return c


def for_cell(teacher: str, student: str, method: str) -> ml_collections.ConfigDict:
  """The config of one published table cell (strict: the pair must be in the tables it needs)."""
  return method_config(method, teacher, student, strict=True)


def smoke_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A copy of ``config`` shrunk to a laptop-sized run on random data (``--smoke``).

  Two epochs of two steps at batch 8 on random uint8 images of the dataset's
  shape, a random-init teacher unless a checkpoint is given, schedules
  compressed so that the LR decay, the DKD warm-up and the CTKD lambda all move.
  """
  c = ml_collections.ConfigDict(config.to_dict())
  c.update(dict(smoke=True, epochs=2, batch_size=8, eval_batch_size=16, smoke_examples=16,
                smoke_steps=2, lr_decay_epochs=(1,), warmup_epochs=2, log_every=1,
                progress_bar=False, checkpoint_keep=2))
  c.ctkd.lambda_epochs = 2
  return c


def resolved_lr(config: ml_collections.ConfigDict) -> float:
  """The base learning rate: ``config.lr`` or the student's default."""
  return default_lr(config.student) if config.lr is None else float(config.lr)


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the first inconsistent field of ``config``."""
  checks = (
      (config.loss in LOSSES, f'loss must be one of {LOSSES}, got {config.loss!r}'),
      (config.temperature_policy in TEMPERATURE_POLICIES,
       f'temperature_policy must be one of {TEMPERATURE_POLICIES}, got {config.temperature_policy!r}'),
      (config.ctkd.variant in ('global', 'instance'),
       f"ctkd.variant must be 'global' or 'instance', got {config.ctkd.variant!r}"),
      (config.ctkd.schedule in ('cosine', 'linear'),
       f"ctkd.schedule must be 'cosine' or 'linear', got {config.ctkd.schedule!r}"),
      (config.max_logit.order in (1, 2), f'max_logit.order must be 1 or 2, got {config.max_logit.order}'),
      (config.mlkd.masking in ('released', 'per_sample'),
       f"mlkd.masking must be 'released' or 'per_sample', got {config.mlkd.masking!r}"),
      (config.mlkd.epoch_setting in ('cvpr23', 'repository'),
       f"mlkd.epoch_setting must be 'cvpr23' or 'repository', got {config.mlkd.epoch_setting!r}"),
      (config.teacher_cache_dtype in TEACHER_CACHE_DTYPES,
       f'teacher_cache_dtype must be one of {TEACHER_CACHE_DTYPES}, got '
       f'{config.teacher_cache_dtype!r}'),
      (config.teacher_cache_verify >= 0,
       f'teacher_cache_verify must be >= 0, got {config.teacher_cache_verify}'),
      (config.conv_batch_chunks >= 0,
       f'conv_batch_chunks must be >= 0 (0: auto), got {config.conv_batch_chunks}'),
      (config.compute_dtype in ('float32', 'bfloat16'),
       f"compute_dtype must be 'float32' or 'bfloat16', got {config.compute_dtype!r}"),
      (config.temperature > 0, f'temperature must be > 0, got {config.temperature}'),
      (config.ttm_gamma > 0, f'ttm_gamma (1/T of the TTM teacher) must be > 0, got {config.ttm_gamma}'),
      (config.eval_ttm_gamma is None or config.eval_ttm_gamma > 0,
       f'eval_ttm_gamma must be > 0 (or None: ttm_gamma), got {config.eval_ttm_gamma}'),
      (config.batch_size > 0 and config.epochs > 0 and config.eval_batch_size > 0,
       'batch_size, eval_batch_size and epochs must be positive'),
      (config.warmup_epochs >= 1, f'warmup_epochs must be >= 1, got {config.warmup_epochs}'),
      (config.eval_every >= 1 and config.log_every >= 1, 'eval_every and log_every must be >= 1'),
      (config.checkpoint_keep >= 1 and config.checkpoint_every >= 1,
       'checkpoint_keep and checkpoint_every must be >= 1'),
      (config.loss != 'none' or config.temperature_policy == 'fixed',
       "a temperature policy needs a distillation loss (loss='none' trains CE only)"),
      (config.ls_center or config.ls_scale, 'ls_center and ls_scale cannot both be False '
       '(use standardize=False for raw logits)'),
      (config.loss != 'mlkd' or (config.ls_center and config.ls_scale),
       'MLKD supports the full z-score only (ls_center = ls_scale = True)'),
      (config.loss == 'none' or bool(config.teacher),
       f'loss {config.loss!r} needs a teacher (set config.teacher)'),
      (tuple(config.lr_decay_epochs) == tuple(sorted(config.lr_decay_epochs)),
       f'lr_decay_epochs must be increasing, got {config.lr_decay_epochs}'),
  )
  for ok, message in checks:
    if not ok:
      raise ValueError(f'invalid config: {message}')


def to_json(config: ml_collections.ConfigDict) -> str:
  """Canonical JSON of a config (sorted keys), as stored in a run's workdir."""
  return json.dumps(json.loads(config.to_json()), sort_keys=True, indent=1)


def from_mapping(values: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """Rebuilds a config from ``json.loads(to_json(config))`` on top of the schema."""
  c = get_config()
  c.update_from_flattened_dict(flatten(values))
  return c


def flatten(values: Mapping[str, Any], prefix: str = '') -> dict[str, Any]:
  """``{'ctkd': {'t_start': 1}}`` -> ``{'ctkd.t_start': 1}``."""
  out = {}
  for key, value in values.items():
    if isinstance(value, Mapping):
      out.update(flatten(value, f'{prefix}{key}.'))
    else:
      out[f'{prefix}{key}'] = value
  return out
