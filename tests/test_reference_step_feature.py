"""Step equivalence of the feature-based methods: kdjax's assembled train step vs the reference's.

For each feature method (and seed 002's combinations with CRD), a PyTorch step written from the
reference repository's trainer and distiller runs beside kdjax's REAL compiled train step
(``tests/reference_step.py``): the same student and teacher weights (``tests/torch_models``,
BatchNorms randomised), the method's own modules built in PyTorch as the reference builds them
and converted into kdjax's parameter tree, the same fixed batches (augmentation off), 3 steps at
a given epoch. Compared: every logged loss term per step and, after the last step, every student
parameter and BatchNorm statistic, every method parameter, BatchNorm statistic and state (CRD's
memory banks and normalisers). Per method the reference is the one its preset follows
(``kdjax/recipes.py``, ``kdjax/methods/<name>.py``):

* mdistiller (``mdistiller/engine/trainer.py``: ``SGD(distiller.get_learnable_parameters())``,
  ``adjust_learning_rate`` per epoch, ``distiller.train()`` = student and the distiller's
  modules in train mode, the teacher in eval mode except OFD's, loss = sum of the
  ``losses_dict``): FitNet, AT, RKD, PKT, VID, OFD, CRD, ReviewKD
  (``mdistiller/distillers/<name>.py``);
* HobbitLong/RepDistiller (``train_student.py``: ``SGD(trainable_list)`` = student + the
  method's modules, teacher appended after the optimizer, ``helper/loops.py`` ``train_distill``:
  loss = gamma CE + alpha KD + beta L_kd): KD+CRD (``crd/``), VID with trainable log-scales
  (seed 002's VID row, ``distiller_zoo/VID.py``);
* DefangChen/SimKD (``models/util.py`` ``SimKD``, ``helper/loops.py``), GzyAftermath/CAT-KD
  (``mdistiller/distillers/CAT_KD.py``), zkxufo/TTM (``distiller_zoo/itrd.py``, ``wttm.py``,
  ``crd.py``; ``helper/loops.py``) for ITRD and WTTM+CRD; jingyang2017/KD_SRRL
  (``train_imagenet_distillation.py``, ``distiller_zoo/AIN.py``) for SRRL and
  WangYZ1608/Knowledge-Distillation-via-ND (``ImageNet/train_kd.py``, ``ImageNet/utils.py``) for
  KD++.

Models: resnet8x4 teacher -> resnet8 student (CIFAR, 32 x 32, 10 classes), batch 8: every
channel count differs between the two (16/32/64 vs 64/128/256 per stage), so a transposed
kernel or a swapped width cannot pass unnoticed.

Tolerances. kdjax runs float32 at matmul precision 'highest'; the reference runs in float64
(its modules converted from the same float32 weights), so the comparison measures kdjax's float32
rounding alone. (A float32 PyTorch reference on CPU is itself ~1e-3 off float64 in the updates of
the early layers of these BatchNorm networks, 10-100 times kdjax's deviation: too noisy a yardstick
for tolerances that must expose a wrong weight decay.)

* ``TERM_RTOL`` 1e-4 for the logged terms: a float32 forward pass accumulates a few ulps of
  relative error per layer (~1e-6 through these networks); after 3 SGD steps the parameters
  differ by ~1e-6 relative as well, so well-conditioned terms agree to ~1e-5. Ill-conditioned
  terms get their own bound, argued where they are tested.
* ``UPDATE_RTOL`` 1e-3 for parameters and statistics, applied to the UPDATE of each leaf
  (final - initial, in norm; ``reference_step.assert_close_updates``): float32 gradients of a
  BatchNorm network at batch 8 carry relative errors of ~1e-6 amplified by its conditioning (up
  to 1e2 in leaves whose update is small, where the gradient is a cancelling sum), i.e. up to
  ~1e-4; momentum and 3 steps keep that order. A real difference (a term missing from a leaf's
  gradient, weight decay or learning rate off, a BatchNorm in the wrong mode) changes an update
  by 1e-2 or more of its norm. The floor ``UPDATE_ATOL`` 1e-6 covers leaves whose update is ~0
  (float32 rounding of ``w_final - w_initial`` at |w| ~ 1 is ~1e-7 per element).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from torch import nn
import torch.nn.functional as F

from kdjax import config as config_lib
from kdjax import convert
from kdjax import methods
from kdjax import steps as steps_lib
from tests import reference_step as rs

TEACHER, STUDENT = 'resnet8x4', 'resnet8'
NUM_CLASSES, NUM_EXAMPLES, BATCH = 10, 32, 8
# Three steps; the third revisits examples 0-3 (CRD: their memory rows were written at step 1).
BATCHES = [np.arange(0, 8), np.arange(8, 16), np.array([0, 1, 2, 3, 16, 17, 18, 19])]
TERM_RTOL = 1e-4
UPDATE_RTOL, UPDATE_ATOL = 1e-3, 1e-6
CRD_NEGATIVES = 16  # crd.nce_k: small, so the memory holds a few rows per class

pytestmark = pytest.mark.reference_step


# ----------------------------------------------------------------------------- torch helpers
def method_tree(**modules: nn.Module) -> nn.ModuleDict:
  """A torch container whose state-dict keys are kdjax's method tree: ``feature.<name>...``
  (``kdjax.methods.Distillation`` holds the feature term as ``feature``)."""
  return nn.ModuleDict({'feature': nn.ModuleDict(modules)})


def method_variables(tree: nn.Module, *, state_leaves: tuple[str, ...] = ()) -> dict[str, Any]:
  """kdjax's ``{'params', 'batch_stats'[, 'state']}`` of a ``method_tree`` (``kdjax.convert``'s
  rule; parameters named ``log_scale`` keep their name, in ``state`` when listed there)."""
  plain, extra = {}, {}
  for key, value in tree.state_dict().items():
    (extra if key.endswith('log_scale') else plain)[key] = value
  variables = convert.state_dict_to_variables(plain)
  for key, value in extra.items():
    *path, leaf = key.split('.')
    collection = 'state' if leaf in state_leaves else 'params'
    node = variables.setdefault(collection, {})
    for part in path:
      node = node.setdefault(part, {})
    node[leaf] = value.detach().float().numpy().copy()
  return {k: v for k, v in variables.items() if v}


@dataclasses.dataclass
class Batch:
  """What a reference loss sees in one step."""
  step: int
  index: torch.Tensor
  target: torch.Tensor
  logits_s: torch.Tensor
  feats_s: dict[str, Any]
  logits_t: torch.Tensor
  feats_t: dict[str, Any]


def run_reference(config, source, student: nn.Module, teacher: nn.Module,
                  loss_fn: Callable[[Batch], dict[str, torch.Tensor]], *,
                  trainable: list[nn.Parameter], train_modules: list[nn.Module], epoch: int,
                  teacher_train: bool = False) -> list[dict[str, float]]:
  """The reference trainer's steps: per batch ``zero_grad``, student forward (train mode), teacher
  forward under ``no_grad`` (eval mode, unless ``teacher_train``), loss = sum of the terms,
  ``backward``, ``SGD.step`` at the epoch's learning rate. Returns the terms (and ``loss``).

  The modules are run in float64 (converted in place from the float32 weights kdjax started
  from): the reference's arithmetic, exactly enough that the comparison measures kdjax's float32
  error alone (see the module docstring)."""
  for module in [student, teacher] + train_modules:
    module.double()  # in place: the Parameter objects (and ``trainable``) stay the same
  assert all(p.dtype == torch.float64 for p in trainable)
  optimizer = rs.config_sgd(config, trainable, epoch)
  history = []
  for step, indices in enumerate(BATCHES):
    for module in [student] + train_modules:
      module.train()
    teacher.train(teacher_train)
    x = rs.torch_images(source.images[indices], source.mean, source.std).double()
    target = torch.from_numpy(source.labels[indices].astype(np.int64))
    optimizer.zero_grad()
    logits_s, feats_s = student.forward_features(x)
    with torch.no_grad():
      logits_t, feats_t = teacher.forward_features(x)
    terms = loss_fn(Batch(step, torch.from_numpy(indices.astype(np.int64)), target, logits_s,
                          feats_s, logits_t, feats_t))
    loss = sum(v for k, v in terms.items() if not k.endswith('_top1'))
    loss.backward()
    optimizer.step()
    history.append({**{k: float(v.detach()) for k, v in terms.items()},
                    'loss': float(loss.detach())})
  return history


def models_and_source(seed: int, *, clear_of_kinks: bool = True):
  """The data, the student and the teacher (BN parameters and statistics random).

  The student's BatchNorm shifts are clear of the ReLU kinks (``clear_of_kinks``,
  ``reference_step.randomize_batchnorm``): with centred BNs a few of its pre-activations sit
  within float32 rounding of 0 and fall on either side of a ReLU in kdjax and in the exact
  reference, and each such unit moves every update below it by ~1e-3 or more (seen here on
  SimKD and OFD before the shift), which no tolerance argued from rounding can cover. The
  teacher (no gradient compared) keeps centred BNs."""
  source = rs.cifar_source(NUM_EXAMPLES, seed, num_classes=NUM_CLASSES)
  student = rs.randomize_batchnorm(rs.seeded(STUDENT, NUM_CLASSES, seed + 1), seed + 2,
                                   clear_of_kinks=clear_of_kinks)
  teacher = rs.randomize_batchnorm(rs.seeded(TEACHER, NUM_CLASSES, seed + 3), seed + 4)
  return source, student, teacher


def assert_method_matches(run: rs.StepRun, tree: nn.Module, initial: Mapping[str, Any], *,
                          rtol: float = UPDATE_RTOL, atol: float = UPDATE_ATOL,
                          state_leaves: tuple[str, ...] = ()) -> None:
  """The method's params and BN statistics after the steps against the torch modules'."""
  final = {'params': run.final.params['method'],
           'batch_stats': run.final.batch_stats['method']}
  start = {'params': run.initial.params['method'],
           'batch_stats': run.initial.batch_stats['method']}
  rs.assert_variables_match(final, start, method_variables(tree, state_leaves=state_leaves),
                            initial, rtol=rtol, atol=atol, what='method ')


def ce(batch: Batch, weight: float) -> torch.Tensor:
  return weight * F.cross_entropy(batch.logits_s, batch.target)


def check(run, reference_terms, student, student_initial, *, term_rtol=TERM_RTOL, term_atol=0.0,
          update_rtol=UPDATE_RTOL):
  rs.assert_terms_match(run, reference_terms, rtol=term_rtol, atol=term_atol)
  rs.assert_student_matches(run, student, student_initial, rtol=update_rtol, atol=UPDATE_ATOL)


# ----------------------------------------------------------------------------- FitNet
class ConvReg(nn.Module):
  """mdistiller ``_common.ConvReg`` for a student map of the teacher's size or twice it (conv,
  BN, ReLU; PyTorch's default init), attributes named as kdjax's ``regressor``."""

  def __init__(self, s_shape, t_shape):
    super().__init__()
    (s_c, s_h, s_w), (t_c, t_h, t_w) = s_shape, t_shape
    if s_h == 2 * t_h:
      self.conv = nn.Conv2d(s_c, t_c, 3, stride=2, padding=1)
    else:
      assert s_h >= t_h
      self.conv = nn.Conv2d(s_c, t_c, (1 + s_h - t_h, 1 + s_w - t_w))
    self.bn = nn.BatchNorm2d(t_c)

  def forward(self, x):
    return F.relu(self.bn(self.conv(x)))


def test_fitnet():
  source, student, teacher = models_and_source(10)
  config = rs.kdjax_config('fitnet', TEACHER, STUDENT, batch_size=BATCH)
  hint = config.fitnet.hint_layer
  with torch.no_grad():
    _, fs = student.forward_features(torch.zeros(1, 3, 32, 32))
    _, ft = teacher.forward_features(torch.zeros(1, 3, 32, 32))
  torch.manual_seed(11)
  tree = method_tree(regressor=ConvReg(fs['feats'][hint].shape[1:], ft['feats'][hint].shape[1:]))
  rs.randomize_batchnorm(tree, 12, clear_of_kinks=True)  # its BN feeds a ReLU
  initial, student_initial = method_variables(tree), rs.torch_variables(student)
  epoch = 1
  run = rs.run_steps(config, source, BATCHES, epoch=epoch, student=student, teacher=teacher,
                     method_variables=initial)

  def loss(b):  # mdistiller FitNet.forward_train: F.mse_loss(conv_reg(f_s), f_t)
    f_s = tree['feature']['regressor'](b.feats_s['feats'][hint])
    return {'ce': ce(b, config.ce_weight),
            'fitnet': config.feature.weight * F.mse_loss(f_s, b.feats_t['feats'][hint])}

  # mdistiller get_learnable_parameters: student + conv_reg.
  terms = run_reference(config, source, student, teacher, loss, epoch=epoch,
                        trainable=list(student.parameters()) + list(tree.parameters()),
                        train_modules=[tree])
  check(run, terms, student, student_initial)
  assert_method_matches(run, tree, initial)


# ----------------------------------------------------------------------------- AT
def at_loss(g_s, g_t, p):
  """mdistiller ``AT.at_loss``: sum over ``zip`` of the stage pairs of the squared difference of
  the L2-normalised attention maps (the larger map pooled), mean over batch and positions."""
  def attention(f):
    return F.normalize(f.pow(p).mean(1).reshape(f.size(0), -1))
  total = 0.0
  for f_s, f_t in zip(g_s, g_t):
    s_h, t_h = f_s.shape[2], f_t.shape[2]
    if s_h > t_h:
      f_s = F.adaptive_avg_pool2d(f_s, (t_h, t_h))
    elif s_h < t_h:
      f_t = F.adaptive_avg_pool2d(f_t, (s_h, s_h))
    total = total + (attention(f_s) - attention(f_t)).pow(2).mean()
  return total


def test_at():
  source, student, teacher = models_and_source(20)
  config = rs.kdjax_config('at', TEACHER, STUDENT, batch_size=BATCH)
  student_initial = rs.torch_variables(student)
  epoch = 151  # past the first milestone: lr 0.005
  run = rs.run_steps(config, source, BATCHES, epoch=epoch, student=student, teacher=teacher)

  def loss(b):
    return {'ce': ce(b, config.ce_weight), 'at': config.feature.weight * at_loss(
        b.feats_s['feats'][1:], b.feats_t['feats'][1:], config.at.p)}

  terms = run_reference(config, source, student, teacher, loss, epoch=epoch,
                        trainable=list(student.parameters()), train_modules=[])
  check(run, terms, student, student_initial)


# ----------------------------------------------------------------------------- RKD
def _pdist(e, eps):
  e_square = e.pow(2).sum(dim=1)
  res = (e_square.unsqueeze(1) + e_square.unsqueeze(0) - 2 * e @ e.t()).clamp(min=eps).sqrt()
  res = res.clone()
  res[range(len(e)), range(len(e))] = 0
  return res


def rkd_loss(f_s, f_t, *, distance_weight, angle_weight, eps=1e-12):
  """mdistiller ``RKD.rkd_loss`` (squared False, eps 1e-12): smooth-L1 of mean-normalised
  distances and of triplet angles, the teacher's under no_grad."""
  with torch.no_grad():
    t_d = _pdist(f_t, eps)
    t_d = t_d / t_d[t_d > 0].mean()
  d = _pdist(f_s, eps)
  d = d / d[d > 0].mean()
  loss_d = F.smooth_l1_loss(d, t_d)
  with torch.no_grad():
    td = F.normalize(f_t.unsqueeze(0) - f_t.unsqueeze(1), p=2, dim=2)
    t_angle = torch.bmm(td, td.transpose(1, 2)).view(-1)
  sd = F.normalize(f_s.unsqueeze(0) - f_s.unsqueeze(1), p=2, dim=2)
  s_angle = torch.bmm(sd, sd.transpose(1, 2)).view(-1)
  return distance_weight * loss_d + angle_weight * F.smooth_l1_loss(s_angle, t_angle)


def test_rkd():
  source, student, teacher = models_and_source(30)
  config = rs.kdjax_config('rkd', TEACHER, STUDENT, batch_size=BATCH)
  student_initial = rs.torch_variables(student)
  # Epoch 181 (lr 5e-4): at lr 0.05 the weighted RKD gradient (25 / 50 on a batch-8 relation
  # loss) makes the 3-step trajectory amplify any rounding ~10x per step (the loss rises step
  # after step): a float32 PyTorch run of this very reference then departs from its float64
  # run by 1e-2 - 4e-2 of the updates, so no float32 implementation could be held to it. At
  # this lr the steps stay in the linear regime and the updates carry the per-step gradient
  # error only.
  epoch = 181
  run = rs.run_steps(config, source, BATCHES, epoch=epoch, student=student, teacher=teacher)

  conditioning = []  # per step: (kappa, amplification) of the batch's features, see below

  def loss(b):
    f_s, f_t = b.feats_s['pooled_feat'], b.feats_t['pooled_feat']
    conditioning.append(_rkd_conditioning(f_s.detach(), f_t.detach()))
    return {'ce': ce(b, config.ce_weight), 'rkd': config.feature.weight * rkd_loss(
        f_s, f_t, distance_weight=config.rkd.distance_weight,
        angle_weight=config.rkd.angle_weight)}

  terms = run_reference(config, source, student, teacher, loss, epoch=epoch,
                        trainable=list(student.parameters()), train_modules=[])
  # RKD's distances come from the Gram form |a|^2 + |b|^2 - 2<a, b> (as the reference's
  # _pdist), which loses float32 digits by kappa = (|a|^2 + |b|^2) / |a - b|^2, so a distance
  # carries up to eps32 * kappa relative error; the loss is a mean of DIFFERENCES of student
  # and teacher normalised distances (and angles), which amplifies that by the ratio of the
  # distances to their differences. Both are measured on this run's features (kappa ~1e3 for
  # the teacher, amplification ~10-20), and the bound counts the two Gram forms (student and
  # teacher) and the angle part: 4 eps32 kappa amplification (~2e-3 to 5e-3), on the term and on
  # the update its gradient makes (the steps are linear at this lr, see above).
  kappa, amplification = np.max(np.array(conditioning), axis=0)
  bound = max(TERM_RTOL, 4 * float(np.finfo(np.float32).eps) * kappa * amplification)
  check(run, terms, student, student_initial, term_rtol=bound, update_rtol=max(UPDATE_RTOL, bound))


def _rkd_conditioning(f_s, f_t):
  """``(kappa, amplification)`` of a batch: the largest ``(|a|^2 + |b|^2) / |a - b|^2`` over
  the pairs of either model's features, and ``mean |d| / mean |d - d_t|`` of the mean-normalised
  distances of student and teacher."""
  def distances(f):
    f = f.double()
    sq = (f * f).sum(1)
    diff = torch.cdist(f, f) ** 2
    off = ~torch.eye(len(f), dtype=torch.bool)
    kappa = ((sq[:, None] + sq[None, :])[off] / diff[off]).max()
    d = diff[off].sqrt()
    return kappa, d / d.mean()
  k_s, d_s = distances(f_s)
  k_t, d_t = distances(f_t)
  return float(max(k_s, k_t)), float(d_s.abs().mean() / (d_s - d_t).abs().mean())


# ----------------------------------------------------------------------------- PKT
def pkt_loss(f_s, f_t, eps=1e-7):
  """mdistiller ``PKT.pkt_loss``: KL between the batch's cosine-similarity distributions."""
  f_s = f_s / (torch.sqrt(torch.sum(f_s ** 2, dim=1, keepdim=True)) + eps)
  f_t = f_t / (torch.sqrt(torch.sum(f_t ** 2, dim=1, keepdim=True)) + eps)
  s = (f_s @ f_s.t() + 1.0) / 2.0
  t = (f_t @ f_t.t() + 1.0) / 2.0
  s = s / s.sum(dim=1, keepdim=True)
  t = t / t.sum(dim=1, keepdim=True)
  return torch.mean(t * torch.log((t + eps) / (s + eps)))


def test_pkt():
  # Centred student BNs: shifted clear of the ReLU kinks, the student's pooled features are all
  # nearly parallel and the PKT value (quadratic in the similarity gap) collapses to ~1e-5 of
  # its centred value, a quantity float32 cannot resolve.
  source, student, teacher = models_and_source(40, clear_of_kinks=False)
  config = rs.kdjax_config('pkt', TEACHER, STUDENT, batch_size=BATCH)
  student_initial = rs.torch_variables(student)
  epoch = 1
  run = rs.run_steps(config, source, BATCHES, epoch=epoch, student=student, teacher=teacher)

  def loss(b):
    return {'ce': ce(b, config.ce_weight), 'pkt': config.feature.weight * pkt_loss(
        b.feats_s['pooled_feat'], b.feats_t['pooled_feat'])}

  terms = run_reference(config, source, student, teacher, loss, epoch=epoch,
                        trainable=list(student.parameters()), train_modules=[])
  # PKT's value is a KL divergence between two distributions over the batch whose entries are
  # all close to 1 / 8 (cosine similarities of all-positive pooled features, mapped to [0, 1]
  # and row-normalised): the student's and teacher's differ by ~2e-3 relative, and the KL is
  # quadratic in that gap, so its relative error is the similarities' relative error divided by
  # the gap: ~1e-6 / 2e-3 at the first step, ~1e-5 / 2e-3 once the parameters differ by the
  # first updates' rounding. rtol 1e-2 on the term; its gradient (the updates) is
  # well-conditioned and held to UPDATE_RTOL.
  check(run, terms, student, student_initial, term_rtol=1e-2)


# ----------------------------------------------------------------------------- VID
class VIDStage(nn.Module):
  """One stage of mdistiller's ``VID`` / RepDistiller's ``VIDLoss``: the 1x1-conv regressor
  (``nn.Sequential`` indices 0, 2, 4; PyTorch's default init) and the per-channel log-scale."""

  def __init__(self, s_c, t_c, init_pred_var=5.0, eps=1e-5):
    super().__init__()
    conv = lambda i, o: nn.Conv2d(i, o, 1, bias=False)
    self.regressor = nn.Sequential(conv(s_c, t_c), nn.ReLU(), conv(t_c, t_c), nn.ReLU(),
                                   conv(t_c, t_c))
    self.log_scale = nn.Parameter(np.log(np.exp(init_pred_var - eps) - 1.0) * torch.ones(t_c))
    self.eps = eps

  def forward(self, f_s, f_t):  # vid_loss / VIDLoss.forward
    s_h, t_h = f_s.shape[2], f_t.shape[2]
    if s_h > t_h:
      f_s = F.adaptive_avg_pool2d(f_s, (t_h, t_h))
    elif s_h < t_h:
      f_t = F.adaptive_avg_pool2d(f_t, (s_h, s_h))
    mean = self.regressor(f_s)
    var = (torch.log(1.0 + torch.exp(self.log_scale)) + self.eps).view(1, -1, 1, 1)
    return torch.mean(0.5 * ((mean - f_t) ** 2 / var + torch.log(var)))


@pytest.mark.parametrize('recipe', ['seed001', 'seed002'],
                         ids=['vid-mdistiller', 'vid-repdistiller'])
def test_vid(recipe):
  """seed 001 (mdistiller): the log-scales live in a plain list, never optimised (kdjax:
  ``vid.train_log_scale`` False, ``state``); seed 002 (RepDistiller): ``VIDLoss`` is in
  ``trainable_list``, log-scales trained with weight decay (``train_log_scale`` True)."""
  source, student, teacher = models_and_source(50)
  config = rs.kdjax_config('vid', TEACHER, STUDENT, batch_size=BATCH, recipe=recipe)
  trained = config.vid.train_log_scale
  assert trained == (recipe == 'seed002')
  with torch.no_grad():
    _, fs = student.forward_features(torch.zeros(1, 3, 32, 32))
    _, ft = teacher.forward_features(torch.zeros(1, 3, 32, 32))
  torch.manual_seed(51)
  stages = {f'stage{i}': VIDStage(s.shape[1], t.shape[1], config.vid.init_pred_var)
            for i, (s, t) in enumerate(zip(fs['feats'][1:], ft['feats'][1:]))}
  tree = method_tree(**stages)
  state_leaves = () if trained else ('log_scale',)
  initial = method_variables(tree, state_leaves=state_leaves)
  student_initial = rs.torch_variables(student)
  epoch = 1
  run = rs.run_steps(config, source, BATCHES, epoch=epoch, student=student, teacher=teacher,
                     method_variables=initial)

  def loss(b):
    total = sum(stages[f'stage{i}'](f_s, f_t) for i, (f_s, f_t) in
                enumerate(zip(b.feats_s['feats'][1:], b.feats_t['feats'][1:])))
    return {'ce': ce(b, config.ce_weight), 'vid': config.feature.weight * total}

  extra = (list(tree.parameters()) if trained else
           [p for s in stages.values() for p in s.regressor.parameters()])
  terms = run_reference(config, source, student, teacher, loss, epoch=epoch,
                        trainable=list(student.parameters()) + extra, train_modules=[tree])
  check(run, terms, student, student_initial)
  assert_method_matches(run, tree, {k: v for k, v in initial.items() if k != 'state'},
                        state_leaves=state_leaves)
  if not trained:  # constants: kdjax's state is untouched, as the reference's list
    for i in range(len(stages)):
      np.testing.assert_array_equal(run.final.method_state['feature'][f'stage{i}']['log_scale'],
                                    stages[f'stage{i}'].log_scale.detach().numpy())


# ----------------------------------------------------------------------------- OFD
class Connector(nn.Module):
  """mdistiller ``ConnectorConvBN`` entry: conv (no bias, normal(0, sqrt(2 / (k k t_C)))) + BN."""

  def __init__(self, s_c, t_c, kernel=1):
    super().__init__()
    self.conv = nn.Conv2d(s_c, t_c, kernel, padding=(kernel - 1) // 2, bias=False)
    self.conv.weight.data.normal_(0, math.sqrt(2.0 / (kernel * kernel * t_c)))
    self.bn = nn.BatchNorm2d(t_c)

  def forward(self, x):
    return self.bn(self.conv(x))


def ofd_margins(bns) -> list[torch.Tensor]:
  """mdistiller ``OFD.init_ofd_modules``: the expected value of the teacher's pre-ReLU response
  below 0, per channel, from each BN's weight (std) and bias (mean) (scipy's normal cdf)."""
  from scipy.stats import norm  # pylint: disable=import-outside-toplevel
  margins = []
  for bn in bns:
    margin = []
    for s, m in zip(bn.weight.data, bn.bias.data):
      s, m = abs(s.item()), m.item()
      if norm.cdf(-m / s) > 0.001:
        margin.append(-s * math.exp(-((m / s) ** 2) / 2) / math.sqrt(2 * math.pi)
                      / norm.cdf(-m / s) + m)
      else:
        margin.append(-3 * s)
    margins.append(torch.tensor(margin, dtype=torch.float64).view(1, -1, 1, 1))
  return margins


def ofd_feat_loss(source, target, margin):
  """mdistiller ``OFD.feat_loss``: partial L2 to the margin-ReLU'd teacher, mean over the batch,
  summed over channels and positions."""
  loss = ((source - margin) ** 2 * ((source > margin) & (target <= margin)).float()
          + (source - target) ** 2 * ((source > target) & (target > margin)
                                      & (target <= 0)).float()
          + (source - target) ** 2 * (target > 0).float())
  return torch.abs(loss).mean(dim=0).sum()


def test_ofd():
  """mdistiller OFD on a ResNet pair; its ``train()`` leaves the teacher in train mode (BN on the
  batch's statistics), which kdjax runs through ``ofd.teacher_train_bn`` (True, as released)."""
  source, student, teacher = models_and_source(60)
  config = rs.kdjax_config('ofd', TEACHER, STUDENT, batch_size=BATCH)
  assert config.ofd.teacher_train_bn
  with torch.no_grad():
    _, fs = student.forward_features(torch.zeros(1, 3, 32, 32))
    _, ft = teacher.forward_features(torch.zeros(1, 3, 32, 32))
  s_pre, t_pre = fs['preact_feats'][1:], ft['preact_feats'][1:]
  n = min(len(s_pre), len(t_pre))
  torch.manual_seed(61)
  tree = method_tree(**{f'connector{i}': Connector(s.shape[1], t.shape[1],
                                                   config.ofd.connector_kernel)
                        for i, (s, t) in enumerate(zip(s_pre[-n:], t_pre[-n:]))})
  # The teacher's get_bn_before_relu (CIFAR ResNet): bn2 of the last block of each stage.
  margins = ofd_margins([getattr(teacher, stage)[-1].bn2 for stage in teacher.stages])
  initial, student_initial = method_variables(tree), rs.torch_variables(student)
  epoch = 1
  run = rs.run_steps(config, source, BATCHES, epoch=epoch, student=student, teacher=teacher,
                     method_variables=initial)

  def loss(b):  # OFD.ofd_loss (aligned on the last n stages, weights halving to the input)
    g_s, g_t = b.feats_s['preact_feats'][1:][-n:], b.feats_t['preact_feats'][1:][-n:]
    total = 0
    for i in range(n):
      f_s = tree['feature'][f'connector{i}'](g_s[i])
      f_t = F.adaptive_avg_pool2d(g_t[i], f_s.shape[-2:]).detach()
      total = total + ofd_feat_loss(f_s, f_t, margins[i]) / 2 ** (n - i - 1)
    return {'ce': ce(b, config.ce_weight), 'ofd': config.feature.weight * total}

  terms = run_reference(config, source, student, teacher, loss, epoch=epoch,
                        trainable=list(student.parameters()) + list(tree.parameters()),
                        train_modules=[tree], teacher_train=True)
  # OFD's loss is discontinuous in the teacher's response t at t = 0 where the student is below
  # it (s < t: (s - t)^2 for t > 0, nothing for margin < t <= 0), and its gradient jumps where a
  # response crosses the margin. The teacher's train-mode responses carry ~1e-7 - 1e-6 of
  # float32 error, and each batch of these 5e5 responses has a few within 1e-5 of 0 (one at
  # 1.6e-7 in the second batch), so on some machine kdjax's float32 response may fall on the
  # other side of 0 than the exact one: such an element changes the connector-output gradient
  # at one position by up to 2 w |s - t| / B, ~1e-3 of the gradient's norm. The updates are
  # held to 1e-2 (measured here: < 1e-4); the terms (which jump by only w s^2 / B, ~1e-6
  # relative) to TERM_RTOL.
  rs.assert_terms_match(run, terms, rtol=TERM_RTOL)
  rs.assert_student_matches(run, student, student_initial, rtol=1e-2, atol=UPDATE_ATOL)
  assert_method_matches(run, tree, initial, rtol=1e-2)


# ----------------------------------------------------------------------------- CRD
class Embed(nn.Module):
  """RepDistiller ``crd/criterion.py`` ``Embed``: Linear + ``Normalize`` (L2, no epsilon)."""

  def __init__(self, dim_in, dim_out):
    super().__init__()
    self.linear = nn.Linear(dim_in, dim_out)

  def forward(self, x):
    x = self.linear(x.view(x.shape[0], -1))
    return x.div(x.pow(2).sum(1, keepdim=True).pow(0.5))


class ContrastMemory:
  """RepDistiller ``crd/memory.py`` ``ContrastMemory`` (the banks as plain tensors, given)."""

  def __init__(self, memory_v1, memory_v2, num_negatives, temperature, momentum):
    self.memory_v1 = torch.from_numpy(np.array(memory_v1, np.float64))  # the student's bank
    self.memory_v2 = torch.from_numpy(np.array(memory_v2, np.float64))  # the teacher's bank
    self.z_v1 = self.z_v2 = -1.0
    self.k, self.t, self.momentum = num_negatives, temperature, momentum

  def __call__(self, v1, v2, y, idx):
    b, d = v1.shape
    w1 = torch.index_select(self.memory_v1, 0, idx.view(-1)).detach().view(b, self.k + 1, d)
    out_v2 = torch.exp(torch.div(torch.bmm(w1, v2.view(b, d, 1)), self.t))
    w2 = torch.index_select(self.memory_v2, 0, idx.view(-1)).detach().view(b, self.k + 1, d)
    out_v1 = torch.exp(torch.div(torch.bmm(w2, v1.view(b, d, 1)), self.t))
    n = self.memory_v1.shape[0]
    if self.z_v1 < 0:
      self.z_v1 = (out_v1.mean() * n).item()
    if self.z_v2 < 0:
      self.z_v2 = (out_v2.mean() * n).item()
    out_v1, out_v2 = out_v1 / self.z_v1, out_v2 / self.z_v2
    with torch.no_grad():
      for memory, v in ((self.memory_v1, v1), (self.memory_v2, v2)):
        pos = torch.index_select(memory, 0, y.view(-1)) * self.momentum + v * (1 - self.momentum)
        memory.index_copy_(0, y, pos.div(pos.pow(2).sum(1, keepdim=True).pow(0.5)))
    return out_v1, out_v2


def contrast_loss(x, n_data, eps=1e-7):
  """RepDistiller ``crd/criterion.py`` ``ContrastLoss`` (NCE with uniform noise 1 / n_data)."""
  bsz, m = x.shape[0], x.size(1) - 1
  pn = 1 / float(n_data)
  p_pos = x.select(1, 0)
  log_d1 = torch.div(p_pos, p_pos.add(m * pn + eps)).log_()
  p_neg = x.narrow(1, 1, m)
  log_d0 = torch.div(p_neg.clone().fill_(m * pn), p_neg.add(m * pn + eps)).log_()
  return -(log_d1.sum(0) + log_d0.view(-1, 1).sum(0)) / bsz


def crd_contrast_indices(run: rs.StepRun) -> list[torch.Tensor]:
  """The ``[B, 1 + K]`` memory rows kdjax's step ``s`` scored (positive first): its CRD term
  re-applied with the step's own ``sample`` key (``kdjax.steps``: fold_in of seed, epoch, step,
  ``SAMPLE_STREAM``) on the step's batch, with the sown ``contrast_idx`` collected. The draw
  reads only the key, the batch's indices and labels and the class tables (model outputs of the
  right shapes stand in for the features), so the step itself is unmodified."""
  program, config, source = run.program, run.config, run.source
  scalars = steps_lib.scalars_of(config, run.epoch)
  method_scalars = {k: jnp.asarray(v) for k, v in scalars.items()
                    if k not in ('seed', 'epoch', 'step')}

  def zero_outputs(name: str, batch: int) -> methods.Outputs:
    module = steps_lib.create_model(name, source.num_classes, 'float32')

    def outputs(x):
      variables = module.init(jax.random.key(0), x, train=False)
      return steps_lib.forward(module, {'params': variables['params'],
                                        'batch_stats': variables['batch_stats']}, x,
                               train=False, features=True)[0]

    shapes = jax.eval_shape(outputs, jax.ShapeDtypeStruct((batch, *source.image_shape),
                                                          jnp.float32))
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

  out = []
  for step, indices in enumerate(run.batches):
    key = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(
        jax.random.key(scalars['seed']), scalars['epoch']), np.uint32(step)),
                             steps_lib.SAMPLE_STREAM)
    inputs = methods.StepInputs(student=zero_outputs(config.student, len(indices)),
                                teacher=zero_outputs(config.teacher, len(indices)),
                                labels=jnp.asarray(source.labels[indices]),
                                indices=jnp.asarray(indices), scalars=method_scalars)
    _, updates = program.distillation.apply(
        {'params': run.initial.params['method'], 'batch_stats': run.initial.batch_stats['method'],
         'state': run.initial.method_state}, inputs, train=False, mutable=['intermediates'],
        rngs={'sample': key})
    idx = np.asarray(updates['intermediates']['feature']['contrast_idx'][0])
    assert idx.shape == (len(indices), 1 + config.crd.nce_k)
    np.testing.assert_array_equal(idx[:, 0], indices)  # 'exact': the positive is the example
    assert np.all(source.labels[idx[:, 1:]] != source.labels[indices][:, None])  # other classes
    out.append(torch.from_numpy(idx.astype(np.int64)))
  return out


def kd_loss(logits_s, logits_t, temperature):
  """RepDistiller ``distiller_zoo/KD.py`` ``DistillKL``: ``KL(sum) * T^2 / B``."""
  p_s = F.log_softmax(logits_s / temperature, dim=1)
  p_t = F.softmax(logits_t / temperature, dim=1)
  return F.kl_div(p_s, p_t, reduction='sum') * temperature ** 2 / logits_s.shape[0]


def wttm_loss(logits_s, logits_t, exponent):
  """zkxufo/TTM ``distiller_zoo/wttm.py`` ``WTTM(l)``: mean over the batch of the power
  normaliser times KL(teacher^l normalised || student)."""
  p_s = F.log_softmax(logits_s, dim=1)
  p_t = torch.pow(torch.softmax(logits_t, dim=1), exponent)
  norm = torch.sum(p_t, dim=1)
  p_t = p_t / norm.unsqueeze(1)
  return torch.mean(norm * torch.sum(F.kl_div(p_s, p_t, reduction='none'), dim=1))


@pytest.mark.parametrize('preset', ['crd', 'kd+crd', 'wttm+crd'])
def test_crd(preset):
  """CRD (mdistiller ``CRD.py``; RepDistiller ``crd/`` for KD+CRD; zkxufo/TTM ``crd.py`` +
  ``WTTM`` for WTTM+CRD, ``-r 1 -a <alpha> -b 0.8 --distill crd --add wttm``): embeddings in
  the optimizer, memory banks and Z as buffers, the step's negatives given to both sides."""
  source, student, teacher = models_and_source(70)
  config = rs.kdjax_config(preset, TEACHER, STUDENT, batch_size=BATCH,
                           **{'crd.nce_k': CRD_NEGATIVES})
  c = config.crd
  torch.manual_seed(71)
  tree = method_tree(embed_student=Embed(student.fc.in_features, c.feat_dim),
                     embed_teacher=Embed(teacher.fc.in_features, c.feat_dim))
  initial, student_initial = method_variables(tree), rs.torch_variables(student)
  epoch = 181  # two milestones passed: lr 5e-4
  run = rs.run_steps(config, source, BATCHES, epoch=epoch, student=student, teacher=teacher,
                     method_variables=initial)
  state0 = run.initial.method_state['feature']
  memory = ContrastMemory(state0['memory_student'], state0['memory_teacher'], c.nce_k, c.nce_t,
                          c.nce_m)
  contrast_idx = crd_contrast_indices(run)

  def loss(b):
    terms = {'ce': ce(b, config.ce_weight)}
    if config.logit.loss == 'kd':
      terms['kd'] = config.logit.weight * kd_loss(b.logits_s, b.logits_t,
                                                  config.logit.temperature)
    elif config.logit.loss == 'wttm':
      terms['kd'] = config.logit.weight * wttm_loss(b.logits_s, b.logits_t, config.ttm.gamma)
    v1 = tree['feature']['embed_student'](b.feats_s['pooled_feat'])
    v2 = tree['feature']['embed_teacher'](b.feats_t['pooled_feat'])
    out_s, out_t = memory(v1, v2, b.index, contrast_idx[b.step])
    n = NUM_EXAMPLES
    terms['crd'] = config.feature.weight * (contrast_loss(out_s, n) + contrast_loss(out_t, n))
    return terms

  terms = run_reference(config, source, student, teacher, loss, epoch=epoch,
                        trainable=list(student.parameters()) + list(tree.parameters()),
                        train_modules=[tree])
  # The scores are exp(<e, m> / 0.07): a float32 error of ~1e-7 in the normalised dot product
  # becomes ~1.4e-6 relative in a score, and Z is a mean of them; NCE's log terms keep that
  # order. TERM_RTOL holds.
  check(run, terms, student, student_initial)
  assert_method_matches(run, tree, initial)
  final = run.final.method_state['feature']
  # Z set from the first batch's raw scores (relative error of a mean of exp(x / 0.07): 1e-5).
  np.testing.assert_allclose(final['z_student'], memory.z_v1, rtol=1e-5)
  np.testing.assert_allclose(final['z_teacher'], memory.z_v2, rtol=1e-5)
  # Memory rows: unit vectors (written rows) or the untouched initial rows; a written row is a
  # normalised average of unit embeddings, its float32 error a few ulps of 1 per entry (the
  # embedding itself from a 64- / 256-wide matmul and a normalisation: ~1e-6).
  np.testing.assert_allclose(final['memory_student'], memory.memory_v1.numpy(), atol=1e-5)
  np.testing.assert_allclose(final['memory_teacher'], memory.memory_v2.numpy(), atol=1e-5)
  for name in ('class_order', 'class_start'):  # the sampling tables never change
    np.testing.assert_array_equal(final[name], state0[name])
  written = np.unique(np.concatenate(BATCHES))
  untouched = np.setdiff1d(np.arange(NUM_EXAMPLES), written)
  np.testing.assert_array_equal(final['memory_student'][untouched],
                                state0['memory_student'][untouched])


# ----------------------------------------------------------------------------- ReviewKD
class ABF(nn.Module):
  """mdistiller ``ReviewKD.ABF`` (``conv1``/``conv2`` Sequentials flattened to kdjax's names:
  conv1 + bn1, att_conv (+ sigmoid), conv2 + bn2; the reference's initialisation)."""

  def __init__(self, in_channel, mid_channel, out_channel, fuse):
    super().__init__()
    self.conv1 = nn.Conv2d(in_channel, mid_channel, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(mid_channel)
    self.conv2 = nn.Conv2d(mid_channel, out_channel, 3, padding=1, bias=False)
    self.bn2 = nn.BatchNorm2d(out_channel)
    self.att_conv = nn.Conv2d(mid_channel * 2, 2, 1) if fuse else None
    nn.init.kaiming_uniform_(self.conv1.weight, a=1)
    nn.init.kaiming_uniform_(self.conv2.weight, a=1)

  def forward(self, x, y=None, shape=None, out_shape=None):
    n, _, h, w = x.shape
    x = self.bn1(self.conv1(x))
    if self.att_conv is not None:
      y = F.interpolate(y, (shape, shape), mode='nearest')
      z = torch.sigmoid(self.att_conv(torch.cat([x, y], dim=1)))
      x = x * z[:, 0].view(n, 1, h, w) + y * z[:, 1].view(n, 1, h, w)
    if x.shape[-1] != out_shape:
      x = F.interpolate(x, (out_shape, out_shape), mode='nearest')
    return self.bn2(self.conv2(x)), x


def hcl_loss(fstudent, fteacher):
  """mdistiller ``ReviewKD.hcl_loss``: MSE plus pooled (4, 2, 1) MSEs with halving weights."""
  loss_all = 0.0
  for fs, ft in zip(fstudent, fteacher):
    h = fs.shape[2]
    loss = F.mse_loss(fs, ft, reduction='mean')
    cnt, tot = 1.0, 1.0
    for l in [4, 2, 1]:
      if l >= h:
        continue
      cnt /= 2.0
      loss += F.mse_loss(F.adaptive_avg_pool2d(fs, (l, l)), F.adaptive_avg_pool2d(ft, (l, l)),
                         reduction='mean') * cnt
      tot += cnt
    loss_all = loss_all + loss / tot
  return loss_all


def test_reviewkd():
  """mdistiller ReviewKD inside its warm-up (epoch 5 of 20: factor 0.25); SHAPES / OUT_SHAPES /
  IN_CHANNELS / OUT_CHANNELS are the pair's maps (what its configs list for their pairs)."""
  # Centred student BNs: shifted, the pooled feature that abf0 reads (a 1 x 1 map, BatchNorm
  # over the batch's 8 values) is nearly constant over the batch, and that BN's statistics and
  # gradients lose float32 digits to the cancellation.
  source, student, teacher = models_and_source(80, clear_of_kinks=False)
  config = rs.kdjax_config('reviewkd', TEACHER, STUDENT, batch_size=BATCH)
  assert not config.reviewkd.stu_preact
  with torch.no_grad():
    _, fs = student.forward_features(torch.zeros(1, 3, 32, 32))
    _, ft = teacher.forward_features(torch.zeros(1, 3, 32, 32))
  t_maps = ft['preact_feats'][1:] + [ft['pooled_feat'][..., None, None]]  # shallow first
  s_maps = (fs['feats'] + [fs['pooled_feat'][..., None, None]])[::-1][:len(t_maps)][::-1]
  in_channels = [m.shape[1] for m in s_maps]
  out_channels = [m.shape[1] for m in t_maps]
  shapes = [m.shape[2] for m in s_maps][::-1]  # deepest first, as the configs
  out_shapes = [m.shape[2] for m in t_maps][::-1]
  mid = min(512, in_channels[-1])
  torch.manual_seed(81)
  abfs = [ABF(c_in, mid, out_channels[i], i < len(in_channels) - 1)
          for i, c_in in enumerate(in_channels)][::-1]
  tree = method_tree(**{f'abf{k}': abf for k, abf in enumerate(abfs)})
  initial, student_initial = method_variables(tree), rs.torch_variables(student)
  epoch = 5
  run = rs.run_steps(config, source, BATCHES, epoch=epoch, student=student, teacher=teacher,
                     method_variables=initial)

  def loss(b):  # ReviewKD.forward_train
    x = (b.feats_s['feats'] + [b.feats_s['pooled_feat'].unsqueeze(-1).unsqueeze(-1)])[::-1]
    out, res = abfs[0](x[0], out_shape=out_shapes[0])
    results = [out]
    for features, abf, shape, out_shape in zip(x[1:], abfs[1:], shapes[1:], out_shapes[1:]):
      out, res = abf(features, res, shape, out_shape)
      results.insert(0, out)
    targets = b.feats_t['preact_feats'][1:] + [
        b.feats_t['pooled_feat'].unsqueeze(-1).unsqueeze(-1)]
    warmup = min(epoch / config.reviewkd.warmup_epochs, 1.0)
    return {'ce': ce(b, config.ce_weight),
            'reviewkd': config.feature.weight * warmup * hcl_loss(results, targets)}

  terms = run_reference(config, source, student, teacher, loss, epoch=epoch,
                        trainable=list(student.parameters()) + list(tree.parameters()),
                        train_modules=[tree])
  check(run, terms, student, student_initial)
  assert_method_matches(run, tree, initial)


# ----------------------------------------------------------------------------- SimKD
class SimKDProjector(nn.Module):
  """DefangChen/SimKD ``models/util.py`` ``SimKD.transfer`` (same ``nn.Sequential`` indices)."""

  def __init__(self, s_n, t_n, factor=2):
    super().__init__()
    self.seq = nn.Sequential(
        nn.Conv2d(s_n, t_n // factor, 1, bias=False), nn.BatchNorm2d(t_n // factor), nn.ReLU(),
        nn.Conv2d(t_n // factor, t_n // factor, 3, padding=1, bias=False),
        nn.BatchNorm2d(t_n // factor), nn.ReLU(),
        nn.Conv2d(t_n // factor, t_n, 1, bias=False), nn.BatchNorm2d(t_n), nn.ReLU())

  def forward(self, x):
    return self.seq(x)


def test_simkd():
  """SimKD ``-c 0 -d 0 -b 1``: ``trainable_list`` = student + the SimKD module; the reused teacher
  classifier is frozen (the teacher is not in the optimizer) but carries the gradient of the
  (zero-weighted) CE on ``pred_feat_s``.

  Difference found (kdjax keeps it; no reported number depends on it): the student's own
  classifier is outside the reference's loss graph, so its ``.grad`` stays None and
  ``torch.optim.SGD`` skips it: neither weight decay nor momentum ever touch it. kdjax's step
  gives it a zero gradient (``ce_weight`` 0 times the student head's CE) and its optimizer decays
  every trainable leaf, so the unused head shrinks by the weight decay alone. SimKD never
  evaluates that head (``eval_logits``: projector + teacher classifier), so accuracies and the
  exported model are unaffected. The test holds kdjax's head to exactly that decay-only
  trajectory and the reference's to no change."""
  source, student, teacher = models_and_source(90)
  config = rs.kdjax_config('simkd', TEACHER, STUDENT, batch_size=BATCH)
  s_n, t_n = student.fc.in_features, teacher.fc.in_features
  torch.manual_seed(91)
  projector = SimKDProjector(s_n, t_n, config.simkd.factor)
  rs.randomize_batchnorm(projector, 92, clear_of_kinks=True)
  tree = nn.ModuleDict({'feature': nn.ModuleDict({'projector': projector.seq})})
  initial, student_initial = method_variables(tree), rs.torch_variables(student)
  epoch = 1
  run = rs.run_steps(config, source, BATCHES, epoch=epoch, student=student, teacher=teacher,
                     method_variables=initial)

  def loss(b):  # helper/loops.py train_distill, 'simkd': SimKD(feat_s[-2], feat_t[-2], cls_t)
    feat_s, feat_t = b.feats_s['feats'][-1], b.feats_t['feats'][-1]
    s_h, t_h = feat_s.shape[2], feat_t.shape[2]
    if s_h > t_h:
      source_map, target = F.adaptive_avg_pool2d(feat_s, (t_h, t_h)), feat_t
    else:
      source_map, target = feat_s, F.adaptive_avg_pool2d(feat_t, (s_h, s_h))
    trans_feat_s = projector(source_map)
    pred_feat_s = teacher.fc(trans_feat_s.mean((2, 3)))
    top1 = 100.0 * (pred_feat_s.argmax(1) == b.target).float().mean()
    return {'ce': config.ce_weight * F.cross_entropy(pred_feat_s, b.target),  # -c 0
            'simkd': config.feature.weight * F.mse_loss(trans_feat_s, target),
            'simkd_top1': top1.detach()}

  terms = run_reference(config, source, student, teacher, loss, epoch=epoch,
                        trainable=list(student.parameters()) + list(projector.parameters()),
                        train_modules=[projector])
  # kdjax's logged 'ce' is ce_weight (0) times the student's own head's CE: both are 0.
  rs.assert_terms_match(run, terms, rtol=TERM_RTOL)
  # Student and projector BatchNorms are shifted clear of the ReLU kinks
  # (``randomize_batchnorm(clear_of_kinks=True)``): with centred BNs a few pre-activations sit
  # within float32 rounding of 0, fall on either side of a ReLU in kdjax and in the exact
  # reference, and each such unit moves every update below it by ~1e-3 (this step's student
  # updates are small, ~1e-2 in norm); clear of the kinks, UPDATE_RTOL holds.
  head = ('fc',)
  final, start = run.final.params['student'], run.initial.params['student']
  body = lambda tree: {k: v for k, v in tree.items() if (k,) != head}
  rs.assert_variables_match(
      {'params': body(final), 'batch_stats': run.final.batch_stats['student']},
      {'params': body(start), 'batch_stats': run.initial.batch_stats['student']},
      {'params': body(rs.torch_variables(student)['params']),
       'batch_stats': rs.torch_variables(student)['batch_stats']},
      {'params': body(student_initial['params']), 'batch_stats': student_initial['batch_stats']},
      rtol=UPDATE_RTOL, atol=UPDATE_ATOL, what='student ')
  lr = rs.reference_lr(config_lib.resolved_lr(config), config.lr_decay_epochs, config.lr_decay_rate, epoch)
  for leaf in ('kernel', 'bias'):
    w0 = np.asarray(start['fc'][leaf], np.float64)
    np.testing.assert_array_equal(rs.torch_variables(student)['params']['fc'][leaf],
                                  student_initial['params']['fc'][leaf])  # reference: untouched
    w, buf = w0.copy(), None  # kdjax: SGD with momentum on the decay term wd * w alone
    for _ in BATCHES:
      g = config.weight_decay * w
      buf = g if buf is None else config.momentum * buf + g
      w = w - lr * buf
    np.testing.assert_allclose(final['fc'][leaf], w, rtol=1e-6, atol=1e-9)
    assert np.linalg.norm(w - w0) > 1e-5 * np.linalg.norm(w0)  # the decay is visible
  assert_method_matches(run, tree, initial)


# ----------------------------------------------------------------------------- CAT-KD
def cat_loss(cam_s, cam_t, resolution, normalize):
  """CAT-KD ``CAT_KD.CAT_loss``: pooled CAMs, L2-normalised over positions, MSE."""
  cam_s = F.adaptive_avg_pool2d(cam_s, (resolution, resolution))
  cam_t = F.adaptive_avg_pool2d(cam_t, (resolution, resolution))
  if normalize:
    cam_s, cam_t = F.normalize(cam_s, dim=(2, 3)), F.normalize(cam_t, dim=(2, 3))
  return F.mse_loss(cam_s, cam_t)


def test_catkd():
  """CAT-KD (``if_test``: the ``_test`` models' ``conv_test`` is the classifier as a bias-free
  1x1 conv whose output maps are the CAMs and whose spatial mean the logits). Difference by
  design (``kdjax/methods/catkd.py``): kdjax's student keeps its classifier's bias, so here the
  reference's CAMs are made from the student's ``fc.weight`` (the CAT loss reaches that weight,
  as it reaches ``conv_test``'s) and its logits from ``fc`` with the bias, trained by the CE."""
  source, student, teacher = models_and_source(100)
  config = rs.kdjax_config('catkd', TEACHER, STUDENT, batch_size=BATCH)
  c = config.catkd
  student_initial = rs.torch_variables(student)
  epoch = 1
  run = rs.run_steps(config, source, BATCHES, epoch=epoch, student=student, teacher=teacher)

  def loss(b):
    cam_s = F.conv2d(b.feats_s['feats'][-1], student.fc.weight[:, :, None, None])
    cam_t = F.conv2d(b.feats_t['feats'][-1], teacher.fc.weight[:, :, None, None]).detach()
    if c.binarize:
      h, w = cam_t.shape[2:]
      threshold = torch.norm(cam_t, dim=(2, 3), keepdim=True, p=1) / (h * w)
      cam_t = F.relu(cam_t - threshold).bool() * torch.ones_like(cam_t)
    return {'ce': ce(b, config.ce_weight),
            'catkd': config.feature.weight * cat_loss(cam_s, cam_t, c.resolution, c.normalize)}

  terms = run_reference(config, source, student, teacher, loss, epoch=epoch,
                        trainable=list(student.parameters()), train_modules=[])
  check(run, terms, student, student_initial)


# ----------------------------------------------------------------------------- ITRD
class ITLoss(nn.Module):
  """zkxufo/TTM ``distiller_zoo/itrd.py`` ``ITLoss`` (its ``Embed``'s Linear as ``embed``)."""

  def __init__(self, s_dim, t_dim, alpha):
    super().__init__()
    self.s_dim, self.t_dim, self.alpha = s_dim, t_dim, alpha
    self.embed = nn.Linear(s_dim, t_dim)

  def forward_correlation_it(self, f_s, f_t):
    f_s = self.embed(f_s)
    n = f_s.shape[0]
    f_s_norm = (f_s - f_s.mean(0)) / f_s.std(0)
    f_t_norm = (f_t - f_t.mean(0)) / f_t.std(0)
    c_st = torch.einsum('bx,bx->x', f_s_norm, f_t_norm) / n
    c_diff = torch.abs(c_st - torch.ones_like(c_st)).pow(2.0).pow(self.alpha)
    return torch.log2(c_diff.sum())

  def normalised_grams(self, f_s, f_t):
    """The two trace-normalised Gram matrices whose squared sums the mutual term subtracts."""
    if self.s_dim != self.t_dim:
      f_s = self.embed(f_s)
    f_s_norm, f_t_norm = F.normalize(f_s), F.normalize(f_t)
    g_s = torch.einsum('bx,dx->bd', f_s_norm, f_s_norm)
    g_t = torch.einsum('bx,dx->bd', f_t_norm, f_t_norm)
    g_st = g_s * g_t
    return g_s / torch.trace(g_s), g_st / torch.trace(g_st)

  def forward_mutual_it(self, f_s, f_t):
    g_s, g_st = self.normalised_grams(f_s, f_t)
    return (g_s.pow(2) - g_st.pow(2)).sum()


def _mutual_sums(it_loss, f_s, f_t):
  """``S_s + S_st`` of ``ITLoss.forward_mutual_it`` (the two sums its value subtracts)."""
  with torch.no_grad():
    g_s, g_st = it_loss.normalised_grams(f_s, f_t)
    return float(g_s.pow(2).sum() + g_st.pow(2).sum())


def test_itrd():
  """zkxufo/TTM ``--distill itrd``: ``ITLoss`` (its embedding) in ``trainable_list``; the
  features are ``feat[-1]``, the pooled feature (``preact=True`` leaves it unchanged)."""
  source, student, teacher = models_and_source(110)
  # The reference standardises each feature over the batch with no epsilon, so a channel that is
  # constant over the batch (a dead ReLU channel of the pooled feature) makes its loss NaN, where
  # kdjax maps that channel to 0 (``feature_losses._batch_standardize``, documented). This random
  # teacher has ~10% such channels; its last BatchNorm is shifted up so none is dead and the
  # reference is defined.
  with torch.no_grad():
    teacher.layer3[-1].bn2.bias.add_(2.0)
  config = rs.kdjax_config('itrd', TEACHER, STUDENT, batch_size=BATCH)
  c = config.itrd
  torch.manual_seed(111)
  it_loss = ITLoss(student.fc.in_features, teacher.fc.in_features, c.alpha)
  tree = method_tree(embed=it_loss.embed)
  initial, student_initial = method_variables(tree), rs.torch_variables(student)
  epoch = 1
  run = rs.run_steps(config, source, BATCHES, epoch=epoch, student=student, teacher=teacher,
                     method_variables=initial)

  parts = []  # per step: w * lambda_mutual * (S_s + S_st), the sums itrd_mutual subtracts

  def loss(b):
    f_s, f_t = b.feats_s['pooled_feat'], b.feats_t['pooled_feat']
    w = config.feature.weight
    parts.append(w * c.lambda_mutual * _mutual_sums(it_loss, f_s.detach(), f_t.detach()))
    return {'ce': ce(b, config.ce_weight),
            'itrd_corr': w * c.lambda_corr * it_loss.forward_correlation_it(f_s, f_t),
            'itrd_mutual': w * c.lambda_mutual * it_loss.forward_mutual_it(f_s, f_t)}

  terms = run_reference(config, source, student, teacher, loss, epoch=epoch,
                        trainable=list(student.parameters()) + list(it_loss.parameters()),
                        train_modules=[it_loss])
  # itrd_mutual is a difference S_s - S_st of two sums of squared normalised Gram entries that
  # nearly cancel (both between 1/B and 1): each sum inherits TERM_RTOL from the features (the
  # networks' float32 forward, as every other term), so the difference is held to TERM_RTOL of
  # the SUMS, not of itself (its value can be 1e-3 of them, and the cancellation then turns a
  # 1e-7 error of the features into 1e-4 of the result). That absolute bound is ~1e-4 of the
  # other terms' values, which it leaves at TERM_RTOL in effect.
  check(run, terms, student, student_initial, term_atol=TERM_RTOL * max(parts))
  assert_method_matches(run, tree, initial)


# ----------------------------------------------------------------------------- SRRL
def test_srrl():
  """jingyang2017/KD_SRRL ``train_imagenet_distillation.py``: ``loss_ce + statm_loss(trans_feat_s,
  feat_t[-1]) + F.mse_loss(model_t.fc(avgpool(trans_feat_s)), logit_t) * --weight`` with
  ``trans_feat_s = transfer_conv(feat_s[-1])`` (``distiller_zoo/AIN.py``: 1x1 conv without bias,
  BN, ReLU); SGD over the student and the connector; the teacher's classifier is frozen but carries
  the regression's gradient to the connector and the student."""
  source, student, teacher = models_and_source(130)
  config = rs.kdjax_config('srrl', TEACHER, STUDENT, batch_size=BATCH)
  s_c, t_c = student.fc.in_features, teacher.fc.in_features
  torch.manual_seed(131)
  connector = nn.Sequential(nn.Conv2d(s_c, t_c, 1, bias=False), nn.BatchNorm2d(t_c), nn.ReLU())
  rs.randomize_batchnorm(connector, 132, clear_of_kinks=True)
  tree = method_tree(connector=connector)
  initial, student_initial = method_variables(tree), rs.torch_variables(student)
  epoch = 1
  run = rs.run_steps(config, source, BATCHES, epoch=epoch, student=student, teacher=teacher,
                     method_variables=initial)

  def loss(b):
    trans_feat_s = connector(b.feats_s['feats'][-1])
    feat_t = b.feats_t['feats'][-1]
    gap = (trans_feat_s.mean((2, 3)) - feat_t.mean((2, 3))).pow(2).mean(1).mean()  # statm_loss
    pred_feat_s = teacher.fc(trans_feat_s.mean((2, 3)))
    w = config.feature.weight
    return {'ce': ce(b, config.ce_weight), 'srrl_fm': w * gap,
            'srrl_sr': w * config.srrl.sr_weight * F.mse_loss(pred_feat_s, b.logits_t)}

  terms = run_reference(config, source, student, teacher, loss, epoch=epoch,
                        trainable=list(student.parameters()) + list(connector.parameters()),
                        train_modules=[connector])
  check(run, terms, student, student_initial)
  assert_method_matches(run, tree, initial)


# ----------------------------------------------------------------------------- KD++
def test_kdpp():
  """WangYZ1608/Knowledge-Distillation-via-ND ``ImageNet/train_kd.py``: ``cls_loss_factor * CE +
  kd_loss_factor * min(1, epoch / warm_up) * KDLoss(T) + nd_loss_factor * DirectNormLoss`` with the
  teacher's class-mean embeddings as centres (``ImageNet/utils.py``: per example
  ``1 - <s, c_y / |c_y|> / max(|s|, |t|)``, averaged over the batch).

  The reference reads its centres from a file; kdjax builds them in its first epoch. Here kdjax
  runs epoch 2 (past ``center_epochs`` 1: the centres stay as given, and the KD warm-up is 0.2 on
  both sides, the reference's epoch 1 from 0) from class sums set to the reference's centres. The
  teacher is as wide as the student (resnet14 -> resnet8, 64 features), so neither side inserts the
  embedding transform (whose Dropout draws differ)."""
  source = rs.cifar_source(NUM_EXAMPLES, 140, num_classes=NUM_CLASSES)
  student = rs.randomize_batchnorm(rs.seeded(STUDENT, NUM_CLASSES, 141), 142, clear_of_kinks=True)
  teacher = rs.randomize_batchnorm(rs.seeded('resnet14', NUM_CLASSES, 143), 144)
  config = rs.kdjax_config('kdpp', 'resnet14', STUDENT, batch_size=BATCH,
                           **{'kdpp.kd_weight': 2.5, 'kdpp.temperature': 2.0})
  assert student.fc.in_features == teacher.fc.in_features
  centres = torch.from_numpy(np.random.default_rng(145).normal(
      size=(NUM_CLASSES, teacher.fc.in_features)))
  student_initial = rs.torch_variables(student)
  epoch = 2
  run = rs.run_steps(config, source, BATCHES, epoch=epoch, student=student, teacher=teacher,
                     method_variables={'state': {'feature': {'class_sums': np.float32(centres)}}})
  c = config.kdpp

  def loss(b):
    s, t = b.feats_s['pooled_feat'], b.feats_t['pooled_feat']
    e_c = centres[b.target] / centres[b.target].norm(dim=1, keepdim=True)
    nd = (1 - (s * e_c).sum(1) / torch.maximum(s.norm(dim=1), t.norm(dim=1))).mean()
    warmup = min(1.0, (epoch - 1) / c.warmup_epochs)  # min(1, epoch / warm_up), epochs from 0
    kd = F.kl_div(F.log_softmax(b.logits_s / c.temperature, 1),
                  F.softmax(b.logits_t / c.temperature, 1),
                  reduction='batchmean') * c.temperature ** 2
    w = config.feature.weight
    return {'ce': ce(b, config.ce_weight), 'kdpp_kd': w * c.kd_weight * warmup * kd,
            'kdpp_nd': w * c.nd_weight * nd}

  terms = run_reference(config, source, student, teacher, loss, epoch=epoch,
                        trainable=list(student.parameters()), train_modules=[])
  check(run, terms, student, student_initial)
  # Past the centre epochs the class sums are constants of the step.
  np.testing.assert_array_equal(run.final.method_state['feature']['class_sums'],
                                np.float32(centres))
