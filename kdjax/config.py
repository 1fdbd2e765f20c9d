"""Training configuration: the schema of one run, method presets, checks.

Everything a run depends on is one ``ml_collections.ConfigDict`` (``get_config``):

* data and models: ``dataset``, ``data_dir``, ``teacher``, ``student``,
  ``teacher_checkpoint``, ...;
* the objective ``ce_weight * CE + logit term + feature.weight * feature term``:
  ``config.logit`` (LS x temperature policy x base loss) and ``config.feature``
  select the terms, and each method keeps its settings in its own group
  (``config.ls``, ``config.dkd``, ``config.ttm``, ``config.ctkd``,
  ``config.max_logit``, ``config.mlkd``, ``config.dist``, and one group per
  feature method); see ``kdjax.methods``;
* optimisation (the CIFAR-100 protocol of the CRD codebase, which every cited
  paper trains with: SGD momentum 0.9, weight decay 5e-4, batch 64, 240 epochs,
  lr 0.05 (0.01 for MobileNet/ShuffleNet students) x0.1 after epochs 150, 180,
  210) and bookkeeping.

A method preset with the published per-pair settings is ``kdjax.recipes.method_config``
(``kdjax.recipes`` builds on this module, never the reverse). ``config.method`` is derived
from the switches (``kdjax.methods.method_name``); ``validate`` fills it in, or
refuses a name that disagrees with them.
"""

from __future__ import annotations

import copy
import difflib
import inspect
import json
import re
from typing import Any, Callable, Mapping

import ml_collections
from ml_collections import config_dict

from kdjax import methods
from kdjax import models

METHODS = tuple(methods.presets())  # every method preset
LOGIT_METHODS = tuple(methods.logit_lib.PRESETS)  # the presets of the logit term alone
TEACHER_CACHE_DTYPES = ('float16', 'bfloat16', 'float32')  # kdjax.teacher_cache.STORAGE_DTYPES
COMPUTE_DTYPES = ('float32', 'bfloat16')
PRECISIONS = ('default', 'high', 'highest')
OPTIMIZERS = ('sgd', 'adamw')  # kdjax.optim
LR_SCHEDULES = ('step', 'cosine')
LR_SCHEDULE_UNITS = ('step', 'epoch')
WEIGHT_DECAY_MASKS = ('all', 'no_bias_norm')
IMAGE_INTERPOLATIONS = ('bilinear', 'bicubic')  # kdjax.data.imagenet.INTERPOLATIONS
RANDAUGMENT_POLICIES = ('none', 'timm_increasing')  # kdjax.data.host_augment

# Fields that may change between a run and its resumption (they do not change what is
# computed): see ``kdjax.checkpointing.check_config``.
RESUMABLE_FIELDS = ('data_dir', 'data_source', 'download', 'log_every', 'eval_every',
                    'checkpoint_keep', 'checkpoint_every', 'checkpoint_every_steps',
                    'progress_bar', 'distributed', 'teacher_checkpoint', 'teacher_cache_verify',
                    'eval_statistics', 'eval_ttm_gamma', 'conv_batch_chunks', 'num_workers',
                    'peer_timeout', 'skip_corrupt_images')

_LIGHT_STUDENTS = ('MobileNetV2', 'ShuffleV1', 'ShuffleV2', 'MobileNetV1')


def did_you_mean(name: str, choices: Any, n: int = 3, prefix: str = '') -> str:
  """``' (did you mean a, b?)'`` with the ``choices`` closest to ``name`` (difflib), or ``''``."""
  close = difflib.get_close_matches(name, [str(c) for c in choices], n=n, cutoff=0.6)
  return f" (did you mean {', '.join(prefix + c for c in close)}?)" if close else ''


def default_lr(student: str) -> float:
  """The CIFAR-100 base learning rate: 0.05, or 0.01 for MobileNet/ShuffleNet students."""
  return 0.01 if student in _LIGHT_STUDENTS else 0.05


def get_config() -> ml_collections.ConfigDict:
  """The full schema with the CIFAR-100 protocol defaults and method ``kd``."""
  c = ml_collections.ConfigDict()
  c.method = config_dict.placeholder(str)  # derived from the switches (validate); set to check.
  # Data and models.
  c.dataset = 'cifar100'  # cifar100 | digits | imagenet2012
  c.data_dir = config_dict.placeholder(str)  # where the dataset is (None: the default place).
  c.data_source = 'auto'  # CIFAR-100: auto | python | binary | tfds
  c.download = False  # CIFAR-100: fetch the archive when missing.
  c.image_size = config_dict.placeholder(int)  # digits only: side in pixels (None: 16).
  c.validation_examples = 0  # >0: hold these many training examples out of the training split,
  c.eval_split = 'test'  # and evaluate on them ('validation', to tune) or on the test split.
  # The on-device train crop: zero padding and horizontal flip (CIFAR's RandomCrop(32, 4) +
  # RandomHorizontalFlip; ImageNet crops on the host).
  c.augment_padding = 4
  c.augment_flip = True
  c.teacher = 'resnet32x4'  # teacher architecture (kdjax.models.names())
  c.student = 'resnet8x4'  # student architecture (kdjax.models.names())
  # A .pth/.safetensors file or a kdjax teacher directory ('': random init, smoke runs only).
  c.teacher_checkpoint = ''
  # Teacher-logit cache (kdjax.teacher_cache): a directory shared by the runs of a sweep
  # ('' = run the teacher every step), its storage dtype, and the batches of every cached
  # epoch compared with a fresh teacher forward.
  c.teacher_cache = ''
  c.teacher_cache_dtype = 'float16'  # float16 | bfloat16 | float32
  c.teacher_cache_verify = 2  # batches of each cached epoch checked against the teacher.
  # The objective (kdjax.methods): ce_weight * CE + logit term + feature.weight * feature term.
  c.ce_weight = 0.1
  for name, group in methods.config_groups().items():
    c[name] = group
  # Evaluation statistics (kdjax.statistics): the gamma of the logged KL to the transformed
  # teacher (None: ttm.gamma); kdjax.recipes sets the pair's TTM gamma for every method.
  c.eval_ttm_gamma = config_dict.placeholder(float)
  c.eval_statistics = True  # log the evaluation statistics (kdjax.statistics).
  # Optimisation.
  c.seed = 0  # the student's initialisation, batch order and augmentation.
  c.epochs = 240  # training epochs.
  c.batch_size = 64  # training batch size (global, over all devices).
  c.drop_remainder = False  # True: skip each epoch's last partial batch (default: keep it).
  c.eval_batch_size = 1000  # evaluation batch size.
  c.lr = config_dict.placeholder(float)  # None -> default_lr(student).
  c.lr_decay_epochs = (150, 180, 210)  # the lr is multiplied by lr_decay_rate after these epochs.
  c.lr_decay_rate = 0.1  # see lr_decay_epochs.
  c.momentum = 0.9  # SGD momentum.
  c.nesterov = False  # sgd: Nesterov momentum (torch.optim.SGD(nesterov=True)).
  c.weight_decay = 5e-4  # L2 weight decay added to the gradient (adamw: decoupled, lr*wd*param).
  # Optimisers and schedules beyond the CIFAR protocol (kdjax.optim; the transformer recipes of
  # DeiT / timm); the defaults keep the protocol's SGD + step decay.
  c.optimizer = 'sgd'  # sgd (torch.optim.SGD) | adamw (torch.optim.AdamW, decoupled decay).
  c.lr_schedule = 'step'  # step (lr_decay_epochs) | cosine (linear warm-up, then cosine to min_lr).
  # cosine: 'step' (a new lr every update, mmcls by_epoch=False) | 'epoch' (once per epoch, timm).
  c.lr_schedule_unit = 'step'
  c.warmup_epochs = 0  # cosine: epochs of linear warm-up from warmup_lr to lr.
  c.warmup_lr = 0.0  # cosine: the learning rate of the first update (warm-up start).
  c.min_lr = 0.0  # cosine: the learning rate the cosine ends at.
  c.adam_b1 = 0.9  # adamw: first-moment decay (torch default).
  c.adam_b2 = 0.999  # adamw: second-moment decay (torch default).
  c.adam_eps = 1e-8  # adamw: added to sqrt(v_hat) (torch default).
  # Which leaves weight decay applies to: all | no_bias_norm (none on biases, norm scales and
  # offsets, position embeddings and class tokens: timm's param_groups_weight_decay).
  c.weight_decay_mask = 'all'
  c.grad_clip_norm = 0.0  # >0: clip the gradient's global norm to this (clip_grad_norm_).
  # Soft targets (kdjax.data.augment.mix_batch, timm's Mixup in batch mode): the CE reads them.
  c.label_smoothing = 0.0  # probability mass spread uniformly over the classes.
  c.mixup_alpha = 0.0  # >0: Mixup with lambda ~ Beta(alpha, alpha).
  c.cutmix_alpha = 0.0  # >0: CutMix with lambda ~ Beta(alpha, alpha).
  c.mix_prob = 1.0  # probability that a batch is mixed (when mixup or cutmix is on).
  c.mix_switch_prob = 0.5  # both on: probability of CutMix rather than Mixup for a batch.
  # Streaming ImageNet host pipeline (kdjax.data.imagenet, kdjax.data.host_augment): the DeiT
  # recipe's mmcls augmentation; the defaults keep the ResNet recipes' bilinear crops, nothing else.
  c.image_interpolation = 'bilinear'  # bilinear | bicubic: the train crops' and test resizes.
  # none | timm_increasing: mmcls RandAugment on the train view, after the crop and flip.
  c.randaugment = 'none'
  c.randaugment_num_ops = 2  # RandAugment: ops drawn per image (mmcls num_policies).
  c.randaugment_magnitude = 9.0  # RandAugment: magnitude level of 10 (mmcls magnitude_level).
  c.randaugment_magnitude_std = 0.5  # RandAugment: std of the level's normal noise (0: fixed).
  c.random_erasing_prob = 0.0  # >0: mmcls RandomErasing (mode rand) after RandAugment.
  c.compute_dtype = 'float32'  # float32 | bfloat16 (parameters and losses stay float32).
  # Matmul/convolution precision of float32 work (jax.default_matmul_precision): 'highest' is
  # full float32, as the papers' pre-TF32 GPUs computed; 'default' lets GPUs use TF32.
  c.precision = 'highest'
  # Batch slices each convolution runs in (same result; models.create(conv_batch_chunks=)):
  # 0 = auto (slices of 16 examples on CPU, where it is faster; 1 on GPU/TPU).
  c.conv_batch_chunks = 0
  # Bookkeeping.
  c.eval_every = 1  # epochs between test evaluations (the last epoch is always evaluated).
  c.checkpoint_every = 1  # epochs between checkpoints (the last epoch is always saved).
  c.checkpoint_every_steps = 0  # >0: also mid-epoch, every this many steps (streaming data).
  c.checkpoint_keep = 3  # newest checkpoints kept (the best one is kept too).
  c.log_every = 100  # steps between loss checks shown on the progress bar.
  c.progress_bar = True  # a progress bar on a terminal (else one line per epoch).
  c.num_workers = 0  # host-pipeline decoding processes (ImageNet; 0: threads in-process).
  c.distributed = False  # call jax.distributed.initialize() (multi-host).
  # Multi-host: seconds the processes wait for each other at start, and of silence after which
  # a process counts as lost and the others stop (kdjax.parallel.initialize_distributed). A default.
  c.peer_timeout = 120.0
  # Streaming data (ImageNet): replace an image that cannot be decoded by the next decodable
  # record, with a warning naming it and the count (default: stop, naming the record).
  c.skip_corrupt_images = False
  c.smoke = False  # random data and a short schedule (smoke_config).
  c.smoke_examples = 64  # smoke mode: random examples per split.
  c.smoke_steps = 3  # smoke mode: steps per epoch at most.
  return c


def _comments_of(source: str, group: str = '') -> dict[str, str]:
  """``{field: comment}`` from the source of a config builder.

  A field's meaning is its line's trailing comment, else the comment lines just above it;
  ``c.<field> = ...`` and ``<field>=...`` (in ``dict(...)``) are fields; ``'<name>':
  ml_collections.ConfigDict(`` opens the group ``<name>``.
  """
  meanings, above = {}, []
  for line in source.splitlines():
    stripped = line.strip()
    if stripped.startswith('#'):
      text = stripped.lstrip('# ')
      if not (len(text.split()) <= 3 and text.endswith('.')):  # not a section title
        above.append(text)
      continue
    code, _, comment = line.partition('  # ')
    opened = re.match(r"\s*(?:'(\w+)'|groups\['(\w+)'\])\s*[:=]\s*ml_collections\.ConfigDict", code)
    if opened:
      group = opened.group(1) or opened.group(2)
      code = code[opened.end():]
    names = re.findall(r'\bc\.(\w+)\s*=(?!=)', code) or re.findall(r'\b(\w+)=(?!=)', code)
    text = comment.strip() or ' '.join(above)
    for name in names:
      if text:
        meanings[f'{group}.{name}' if group and not code.lstrip().startswith('c.') else name] = text
    if names or not stripped:
      above = []
  return meanings


def field_meanings() -> dict[str, str]:
  """What each config field means: the comments of ``get_config`` and of the method groups."""
  meanings = _comments_of(inspect.getsource(get_config))
  for group, builder in methods.logit_lib.group_builders().items():
    meanings.update(_comments_of(inspect.getsource(builder), group))
  meanings.update(_comments_of(inspect.getsource(methods.config_groups)))
  for name, term in methods.feature_terms().items():
    meanings.update(_comments_of(inspect.getsource(term.default_config), name))
  return meanings


def copy_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """An independent, unlocked copy that keeps the field types of the schema.

  ``ConfigDict(config.to_dict())`` would turn every unset placeholder (``data_dir``,
  ``method``, ``lr``, ...) into a plain None, which ``--config.<field>=<value>`` can then no
  longer override ("Type NoneType ... is not supported for overriding").
  """
  c = copy.deepcopy(config)
  c.unlock()
  return c


def method_fields() -> tuple[str, ...]:
  """The config fields that define the method (reset before a preset is applied)."""
  return ('ce_weight',) + tuple(methods.config_groups())


def apply_preset(config: ml_collections.ConfigDict, method: str) -> ml_collections.ConfigDict:
  """A copy of ``config`` with every method field reset to the schema and ``method``'s preset.

  Raises:
    ValueError: unknown method (the message lists the known ones).
  """
  all_presets = methods.presets()
  if method not in all_presets:
    raise ValueError(f'unknown method {method!r}{did_you_mean(method, all_presets)}; choose one '
                     f'of {sorted(all_presets)}')
  c = copy_config(config)
  schema = get_config()
  for field in method_fields():
    c[field] = schema[field]
  c.update_from_flattened_dict(all_presets[method])
  c.method = None
  return c


def smoke_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A copy of ``config`` shrunk to a laptop-sized run on random data (``runlocal`` / smoke).

  Two epochs of two steps at batch 8 on random uint8 images of the dataset's
  shape, a random-init teacher unless a checkpoint is given, schedules
  compressed so that the LR decay, the DKD warm-up and the CTKD lambda all move.
  """
  c = copy_config(config)
  c.update(dict(smoke=True, epochs=2, batch_size=8, eval_batch_size=16, smoke_examples=16,
                smoke_steps=2, lr_decay_epochs=(1,), log_every=1, progress_bar=False,
                checkpoint_keep=2))
  c.dkd.warmup_epochs = 2
  c.ctkd.lambda_epochs = 2
  c.warmup_epochs = min(c.warmup_epochs, 1)  # the cosine's warm-up: the first of the 2 epochs
  return c


def resolved_lr(config: ml_collections.ConfigDict) -> float:
  """The base learning rate: ``config.lr`` or the student's default."""
  return default_lr(config.student) if config.lr is None else float(config.lr)


def _optimization_problems(config: ml_collections.ConfigDict) -> list[str]:
  """Inconsistent optimizer, schedule and soft-target fields (kdjax.optim, Views.mix)."""
  checks = (
      (config.optimizer in OPTIMIZERS,
       f'optimizer must be one of {OPTIMIZERS}, got {config.optimizer!r}'),
      (config.lr_schedule in LR_SCHEDULES,
       f'lr_schedule must be one of {LR_SCHEDULES}, got {config.lr_schedule!r}'),
      (config.lr_schedule_unit in LR_SCHEDULE_UNITS,
       f'lr_schedule_unit must be one of {LR_SCHEDULE_UNITS}, got {config.lr_schedule_unit!r}'),
      (config.weight_decay_mask in WEIGHT_DECAY_MASKS,
       f'weight_decay_mask must be one of {WEIGHT_DECAY_MASKS}, got '
       f'{config.weight_decay_mask!r}'),
      (0 <= config.warmup_epochs < config.epochs or config.lr_schedule != 'cosine',
       f'warmup_epochs must be in [0, epochs={config.epochs}), got {config.warmup_epochs}'),
      (config.warmup_epochs == 0 or config.lr_schedule == 'cosine',
       'warmup_epochs needs lr_schedule=cosine (the step schedule has no warm-up)'),
      (config.grad_clip_norm >= 0, f'grad_clip_norm must be >= 0, got {config.grad_clip_norm}'),
      (0 <= config.adam_b1 < 1 and 0 <= config.adam_b2 < 1 and config.adam_eps > 0,
       'adam_b1 and adam_b2 must be in [0, 1) and adam_eps > 0'),
      (config.mixup_alpha >= 0 and config.cutmix_alpha >= 0,
       f'mixup_alpha and cutmix_alpha must be >= 0, got {config.mixup_alpha}, '
       f'{config.cutmix_alpha}'),
      (0 <= config.mix_prob <= 1 and 0 <= config.mix_switch_prob <= 1,
       'mix_prob and mix_switch_prob must be in [0, 1]'),
      (0 <= config.label_smoothing < 1,
       f'label_smoothing must be in [0, 1), got {config.label_smoothing}'),
      (config.image_interpolation in IMAGE_INTERPOLATIONS,
       f'image_interpolation must be one of {IMAGE_INTERPOLATIONS}, got '
       f'{config.image_interpolation!r}'),
      (config.randaugment in RANDAUGMENT_POLICIES,
       f'randaugment must be one of {RANDAUGMENT_POLICIES}, got {config.randaugment!r}'),
      (config.randaugment_num_ops >= 1 and 0 <= config.randaugment_magnitude <= 10
       and config.randaugment_magnitude_std >= 0,
       'randaugment_num_ops must be >= 1, randaugment_magnitude in [0, 10] and '
       'randaugment_magnitude_std >= 0'),
      (0 <= config.random_erasing_prob <= 1,
       f'random_erasing_prob must be in [0, 1], got {config.random_erasing_prob}'),
      (config.dataset == 'imagenet2012' or (
          config.image_interpolation == 'bilinear' and config.randaugment == 'none'
          and config.random_erasing_prob == 0),
       f'image_interpolation, randaugment and random_erasing_prob are settings of the streaming '
       f'ImageNet pipeline (dataset imagenet2012), not of {config.dataset!r}; leave them at '
       f'their defaults (bilinear, none, 0)'),
  )
  return [message for ok, message in checks if not ok]


def problems(config: ml_collections.ConfigDict) -> list[str]:
  """Every inconsistency of ``config`` (empty: valid)."""
  checks = (
      (config.teacher_cache_dtype in TEACHER_CACHE_DTYPES,
       f'teacher_cache_dtype must be one of {TEACHER_CACHE_DTYPES}, got '
       f'{config.teacher_cache_dtype!r}'),
      (config.teacher_cache_verify >= 0,
       f'teacher_cache_verify must be >= 0, got {config.teacher_cache_verify}'),
      (config.conv_batch_chunks >= 0,
       f'conv_batch_chunks must be >= 0 (0: auto), got {config.conv_batch_chunks}'),
      (config.compute_dtype in COMPUTE_DTYPES,
       f'compute_dtype must be one of {COMPUTE_DTYPES}, got {config.compute_dtype!r}'),
      (config.precision in PRECISIONS,
       f'precision must be one of {PRECISIONS}, got {config.precision!r}'),
      (config.eval_ttm_gamma is None or config.eval_ttm_gamma > 0,
       f'eval_ttm_gamma must be > 0 (or None: ttm.gamma), got {config.eval_ttm_gamma}'),
      (config.batch_size > 0 and config.epochs > 0 and config.eval_batch_size > 0,
       'batch_size, eval_batch_size and epochs must be positive'),
      (config.eval_every >= 1 and config.log_every >= 1, 'eval_every and log_every must be >= 1'),
      (config.peer_timeout > 0, f'peer_timeout must be > 0 seconds, got {config.peer_timeout}'),
      (config.checkpoint_keep >= 1 and config.checkpoint_every >= 1,
       'checkpoint_keep and checkpoint_every must be >= 1'),
      (config.checkpoint_every_steps >= 0,
       f'checkpoint_every_steps must be >= 0, got {config.checkpoint_every_steps}'),
      (config.augment_padding >= 0,
       f'augment_padding must be >= 0, got {config.augment_padding}'),
      (config.eval_split in ('test', 'validation'),
       f"eval_split must be 'test' or 'validation', got {config.eval_split!r}"),
      (config.validation_examples >= 0,
       f'validation_examples must be >= 0, got {config.validation_examples}'),
      (tuple(config.lr_decay_epochs) == tuple(sorted(config.lr_decay_epochs)),
       f'lr_decay_epochs must be increasing, got {tuple(config.lr_decay_epochs)}'),
  )
  found = [message for ok, message in checks if not ok] + _optimization_problems(config)
  for role in ('student', 'teacher'):
    name = config[role]
    if name and name not in models.names():
      found.append(f'unknown {role} model {name!r}; choose one of {", ".join(models.names())}')
  found += methods.check_config(config)
  derived = methods.method_name(config)
  if config.method is not None and config.method != derived:
    found.append(f'method {config.method!r} does not match its switches, which give '
                 f'{derived!r} (drop --config.method or fix the switches)')
  if (config.logit.loss != 'none' or config.feature.loss != 'none') and not config.teacher:
    found.append(f'method {derived!r} needs a teacher (set config.teacher)')
  return found


def validate(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Checks ``config`` and fills in ``config.method`` (derived from its switches).

  Returns:
    ``config`` itself.

  Raises:
    ValueError: every inconsistent field, named.
  """
  found = problems(config)
  if found:
    raise ValueError('invalid config: ' + '; '.join(found))
  with config.ignore_type():
    config.method = methods.method_name(config)
  return config


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
