"""CRD (Tian, Krishnan & Isola, "Contrastive Representation Distillation", ICLR 2020).

Two trainable embedding heads map the pooled features of student and teacher to
``feat_dim`` (128) L2-normalised vectors; two momentum memory banks hold one
embedding per TRAINING example (the student bank is updated with the student's
embeddings, the teacher bank with the teacher's). Per step, for every example
``b`` with dataset index ``i_b`` and label ``y_b``::

    idx_b  = [i_b, n_1, ..., n_K]          n_k uniform over the training examples of
                                           classes != y_b (the reference's 'exact' mode)
    s_b    = exp(<e_s(b), M_t[idx_b]> / T) / Z_s     (student anchor vs TEACHER bank)
    t_b    = exp(<e_t(b), M_s[idx_b]> / T) / Z_t     (teacher anchor vs STUDENT bank)
    crd    = crd_contrast(s) + crd_contrast(t)       (NCE, noise 1/N, K negatives)

then both banks are updated at the batch's own rows ``i_b`` with momentum ``m``
(``feature_losses.crd_memory_update``): the scores use the OLD memory. ``Z_s`` and
``Z_t`` are -1 until the first training step sets them to ``mean(raw scores) * N``
(``feature_losses.crd_normalizer``) and are kept afterwards. The run's loss is
``ce_weight * CE + [logit term] + feature.weight * crd``.

What lives where (``kdjax.steps.TrainState``): the heads ``embed_student`` /
``embed_teacher`` (``Linear(dim, feat_dim)`` + L2 norm, PyTorch's default
initialisation) are ``params`` (the run's optimizer, weight decay included, as the
reference puts them in ``trainable_list``); the banks ``memory_student`` /
``memory_teacher`` (``[N, feat_dim]``, initialised ``U(-stdv, stdv)`` with
``stdv = 1 / sqrt(feat_dim / 3)``, rows not unit-norm until first written), the
constants ``z_student`` / ``z_teacher`` and the sampling tables ``class_order``
(training indices sorted by class, stable) / ``class_start`` (``[C + 1]`` offsets
of each class in it) are ``state``: replicated on the devices, checkpointed, so a
resumed run continues with the same memory and Z. On N devices the batch is
sharded and the same gather / scatter runs on the global batch (``jax.jit``
inserts the collectives), so the memory is the one of a single device.

Negatives are drawn in the step from ``make_rng('sample')`` (the trainer derives it
from (seed, epoch, step)): the same step of the same run draws the same negatives,
on any number of devices, with no host round trip. Each is ``class_order[j]`` with
``j`` uniform over the positions outside the anchor's class segment.

References: ``HobbitLong/RepDistiller`` ``crd/criterion.py`` (``Embed``,
``Normalize``, ``ContrastLoss``), ``crd/memory.py`` (``ContrastMemory``),
``dataset/cifar100.py`` (``CIFAR100InstanceSample``), ``train_student.py``
(``--feat_dim 128 --mode exact --nce_k 16384 --nce_t 0.07 --nce_m 0.5``,
``n_data = len(train_set)``); ``megvii-research/mdistiller``
``mdistiller/distillers/CRD.py`` (the same modules, ``CFG.CRD`` in
``mdistiller/engine/cfg.py``: CE 1.0, FEAT 0.8).

Differences from the reference (deliberate):

* negatives are drawn WITH replacement. ``CIFAR100InstanceSample`` draws
  ``np.random.choice(cls_negative[y], K, replace=K > len(cls_negative[y]))``,
  i.e. without replacement on CIFAR-100 (16384 of 49500); mdistiller's ImageNet
  sampler draws with replacement. Every negative column has the same marginal
  (uniform over the other classes) either way, so the expected loss is the same;
  drawing without replacement per example is not a cheap jittable operation.
* the reference's ``percent`` option (a random subset of each class's negatives)
  is not provided; ``mode='relax'`` (the positive column a random same-class
  example, the update still at the example's own row) is.
"""

from __future__ import annotations

import math
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
from ml_collections import config_dict

from kdjax import feature_losses
from kdjax.methods import base
from kdjax.models import layers

Array = jax.Array

MODES = ('exact', 'relax')


def memory_stdv(feat_dim: int) -> float:
  """The bound of the banks' uniform initialisation: ``1 / sqrt(feat_dim / 3)``."""
  return 1.0 / math.sqrt(feat_dim / 3)


def class_tables(labels: Array, num_classes: int) -> tuple[Array, Array]:
  """``(class_order [N], class_start [C + 1])``: training indices sorted by class (stable) and
  where each class's segment starts (``class_start[C] = N``). Jittable."""
  labels = jnp.asarray(labels, jnp.int32)
  order = jnp.argsort(labels, stable=True).astype(jnp.int32)
  counts = jnp.bincount(labels, length=num_classes).astype(jnp.int32)
  start = jnp.concatenate([jnp.zeros((1,), jnp.int32), jnp.cumsum(counts).astype(jnp.int32)])
  return order, start


def draw_contrast_indices(key: Array, indices: Array, labels: Array, class_order: Array,
                          class_start: Array, num_negatives: int,
                          mode: str = 'exact') -> Array:
  """``[B, 1 + K]`` memory rows to score each example against: the positive first, then ``K``
  indices drawn uniformly, with replacement, among the training examples of other classes.

  Args:
    key: the step's PRNG key.
    indices: ``[B]`` dataset indices of the batch (the positives in ``'exact'`` mode).
    labels: ``[B]`` their labels.
    class_order, class_start: ``class_tables`` of the training labels.
    num_negatives: ``K``.
    mode: ``'exact'`` (positive = the example itself) or ``'relax'`` (a random example of
      its class).
  """
  num_data = class_order.shape[0]
  start = class_start[labels]
  count = class_start[labels + 1] - start
  negative_key, positive_key = jax.random.split(key)
  # Position j among the N - count[y] positions outside the class's segment, mapped past it.
  j = jax.random.randint(negative_key, (labels.shape[0], num_negatives), 0,
                         (num_data - count)[:, None], dtype=jnp.int32)
  j = j + jnp.where(j >= start[:, None], count[:, None], 0)
  negatives = class_order[j]
  if mode == 'exact':
    positive = indices.astype(jnp.int32)
  else:
    offset = jax.random.randint(positive_key, labels.shape, 0, count, dtype=jnp.int32)
    positive = class_order[start + offset]
  return jnp.concatenate([positive[:, None], negatives], axis=1)


class Embed(nn.Module):
  """The reference's ``Embed``: ``Linear(dim, feat_dim)`` (PyTorch default init), then
  ``x / ||x||_2`` (``Normalize``, no epsilon)."""
  feat_dim: int = 128

  @nn.compact
  def __call__(self, x: Array) -> Array:
    x = x.reshape(x.shape[0], -1).astype(jnp.float32)
    x = layers.linear(x, self.feat_dim, name='linear')
    return x / jnp.sqrt(jnp.sum(jnp.square(x), axis=1, keepdims=True))


class CRD(base.Term):
  """The CRD term (see the module docstring).

  Attributes:
    num_data: training examples ``N`` (memory rows; the NCE noise is ``1 / N``).
    num_classes: classes of the training labels (the sampling tables).
    feat_dim, nce_k, nce_t, nce_m: embedding size, negatives, temperature, momentum.
    mode: ``'exact'`` or ``'relax'``.
  """
  NAME: ClassVar[str] = 'crd'
  NEEDS: ClassVar[base.Needs] = base.Needs(teacher=True, features=True, example_index=True,
                                           dataset_labels=True)
  TERM_NAMES: ClassVar[tuple[str, ...]] = ('crd',)

  num_data: int = 50000
  num_classes: int = 100
  feat_dim: int = 128
  nce_k: int = 16384
  nce_t: float = 0.07
  nce_m: float = 0.5
  mode: str = 'exact'

  @classmethod
  def default_config(cls) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(
        feat_dim=128,  # embedding size (--feat_dim)
        nce_k=16384,  # negatives per example (--nce_k)
        nce_t=0.07,  # temperature of the scores (--nce_t)
        nce_m=0.5,  # momentum of the memory update (--nce_m)
        mode='exact',  # exact | relax (--mode)
        # The memory size the run expects (None: the training set's size). A value that
        # differs from the training set is refused before anything is compiled.
        num_data=config_dict.placeholder(int),
    ))

  @classmethod
  def check_config(cls, config, context=None) -> list[str]:
    c, problems = config.crd, []
    if c.feat_dim < 1 or c.nce_k < 1:
      problems.append(f'crd.feat_dim and crd.nce_k must be >= 1, got {c.feat_dim}, {c.nce_k}')
    if c.nce_t <= 0:
      problems.append(f'crd.nce_t must be > 0, got {c.nce_t}')
    if not 0 <= c.nce_m < 1:
      problems.append(f'crd.nce_m must be in [0, 1), got {c.nce_m}')
    if c.mode not in MODES:
      problems.append(f'crd.mode must be one of {MODES}, got {c.mode!r}')
    if c.num_data is not None and c.num_data < 1:
      problems.append(f'crd.num_data must be >= 1 (or None: the training set), got {c.num_data}')
    if (context is not None and c.num_data is not None
        and int(c.num_data) != int(context.num_examples)):
      problems.append(
          f'CRD memory size crd.num_data={c.num_data} differs from the training set\'s '
          f'{context.num_examples} examples (one memory row per training example; check '
          f'validation_examples / the dataset, or set crd.num_data=None)')
    return problems

  @classmethod
  def from_config(cls, config, context=None) -> 'CRD':
    c = config.crd
    if context is None:
      raise ValueError('CRD is built from the run\'s data: pass a kdjax.methods.Context '
                       '(num_examples, num_classes) to methods.build')
    return cls(num_data=int(context.num_examples), num_classes=int(context.num_classes),
               feat_dim=int(c.feat_dim), nce_k=int(c.nce_k), nce_t=float(c.nce_t),
               nce_m=float(c.nce_m), mode=str(c.mode))

  @nn.compact
  def __call__(self, inputs: base.StepInputs, train: bool = True) -> dict[str, Array]:
    if inputs.indices is None:
      raise ValueError('CRD needs the batch\'s dataset indices (StepInputs.indices)')
    n, d = self.num_data, self.feat_dim
    stdv = memory_stdv(d)

    def bank():
      return jax.random.uniform(self.make_rng('params'), (n, d), jnp.float32, -stdv, stdv)

    memory_s = self.variable('state', 'memory_student', bank)
    memory_t = self.variable('state', 'memory_teacher', bank)
    z_s = self.variable('state', 'z_student', lambda: jnp.float32(-1.0))
    z_t = self.variable('state', 'z_teacher', lambda: jnp.float32(-1.0))
    # The sampling tables, built once from the training labels (at init).
    tables = (None, None)
    if not self.has_variable('state', 'class_order'):
      if inputs.dataset_labels is None:
        raise ValueError('CRD builds its negative sampling from the training labels: '
                         'initialise it with StepInputs.dataset_labels (the trainer passes '
                         'source.train_labels())')
      if inputs.dataset_labels.shape != (n,):
        raise ValueError(
            f'CRD memory size {n} differs from the {tuple(inputs.dataset_labels.shape)} '
            f'training labels given at init: the memory needs one row per training example')
      tables = class_tables(inputs.dataset_labels, self.num_classes)
    class_order = self.variable('state', 'class_order', lambda: tables[0]).value
    class_start = self.variable('state', 'class_start', lambda: tables[1]).value

    e_s = Embed(d, name='embed_student')(inputs.student.features.pooled)
    e_t = Embed(d, name='embed_teacher')(
        jax.lax.stop_gradient(inputs.teacher.features.pooled))
    contrast_idx = draw_contrast_indices(self.make_rng('sample'), inputs.indices, inputs.labels,
                                         class_order, class_start, self.nce_k, self.mode)
    self.sow('intermediates', 'contrast_idx', contrast_idx)  # kept only when asked (tests)
    # Scores against the OLD memory (the reference updates after scoring).
    raw_s = feature_losses.crd_scores(e_s, memory_t.value[contrast_idx], temperature=self.nce_t,
                                      normalizer=1.0)
    raw_t = feature_losses.crd_scores(e_t, memory_s.value[contrast_idx], temperature=self.nce_t,
                                      normalizer=1.0)
    zs = jnp.where(z_s.value < 0, feature_losses.crd_normalizer(raw_s, num_data=n), z_s.value)
    zt = jnp.where(z_t.value < 0, feature_losses.crd_normalizer(raw_t, num_data=n), z_t.value)
    loss = (feature_losses.crd_contrast(raw_s / zs, num_data=n)
            + feature_losses.crd_contrast(raw_t / zt, num_data=n))
    if train and not self.is_initializing():
      z_s.value, z_t.value = zs, zt
      memory_s.value = feature_losses.crd_memory_update(memory_s.value, inputs.indices, e_s,
                                                        momentum=self.nce_m)
      memory_t.value = feature_losses.crd_memory_update(memory_t.value, inputs.indices, e_t,
                                                        momentum=self.nce_m)
    return {'crd': loss}


TERM = CRD
_CRD_DEFAULTS = {'crd.feat_dim': 128, 'crd.nce_k': 16384, 'crd.nce_t': 0.07, 'crd.nce_m': 0.5,
                 'crd.mode': 'exact'}
PRESETS = {
    # mdistiller cfg.py CRD: CE 1, FEAT 0.8, no logit term (RepDistiller --distill crd -a 0 -b 0.8).
    'crd': {'ce_weight': 1.0, 'logit.loss': 'none', 'logit.weight': 0.0,
            'feature.loss': 'crd', 'feature.weight': 0.8, **_CRD_DEFAULTS},
    # RepDistiller scripts/run_cifar_distill.sh CRD+KD: -r 1 -a 1 -b 0.8, --kd_T 4.
    'kd+crd': {'ce_weight': 1.0, 'logit.loss': 'kd', 'logit.temperature': 4.0,
               'logit.weight': 1.0, 'feature.loss': 'crd', 'feature.weight': 0.8,
               **_CRD_DEFAULTS},
}
