"""Step equivalence of the logit methods: kdjax's assembled train step == the reference's.

For each logit method, kdjax's real compiled train step (``tests/reference_step.py``) and a
PyTorch step written from the reference repository's trainer and distiller run 3 steps from
identical weights on the same fixed batches (augmentation off: the view is the normalised
image; MLKD's random strong view is computed once and given to both sides). Compared: every
logged loss term at every step, and after the last step the update of every student
parameter, every BatchNorm running statistic and the method's own parameters (CTKD's
temperature).

The reference steps (our own code, written from the repositories named in each function):

* the trainer: mdistiller ``mdistiller/engine/trainer.py`` (``train_iter``: ``zero_grad``,
  ``loss = sum(losses_dict.values())``, ``backward``, ``step``; ``adjust_learning_rate`` per
  epoch; ``optim.SGD(distiller.get_learnable_parameters(), lr, momentum=0.9, weight_decay)``);
  the student in train mode, the teacher in eval mode (``Distiller.train``); the teacher's
  forward under ``no_grad``. RepDistiller-style trainers (zkxufo/TTM ``train_student.py`` +
  ``helper/loops.py``, zhengli97/CTKD) are the same step with the loss
  ``gamma * CE + alpha * div + beta * kd`` and ``optim.SGD(trainable_list.parameters())``.
* the distillers: mdistiller ``mdistiller/distillers/KD.py`` / ``DKD.py``; their LS versions in
  sunshangquan/logit-standardization-KD (``normalize`` with ``torch.std``: unbiased);
  zhengli97/CTKD ``models/temp_global.py`` (``Global_T`` + ``GradientReversal``) and
  ``helper/loops.py`` (``T = t_start + t_end * sigmoid(global_T)``; ``CosineDecay`` lambda);
  Jin-Ying/Multi-Level-Logit-Distillation ``mdistiller/distillers/KD_ours.py``; zkxufo/TTM
  ``distiller_zoo/ttm.py``, ``wttm.py``, ``dist.py``; yzd-v/cls_KD
  ``mmcls/models/dis_losses/nkd.py`` and ``mmcls/models/classifiers/distiller.py``; the max-logit temperature as Matsuyama et
  al. 2025 (Algorithms 1-3) define it.

Tolerances: kdjax runs float32 at matmul precision 'highest' (the configs' ``precision``); the
reference runs twice, in float32 and in float64, from the same weights. How far float32
rounding alone moves a quantity is its conditioning, and it varies by orders of magnitude:
a first-step loss moves by ~1e-7 relative, while a BatchNorm shift's update after three SGD
steps moves by 1e-4 (CIFAR ResNet8, lr 0.05) to several % (ResNet18 at lr 0.2: the float32
and float64 references themselves differ by up to 4% there). So each quantity is checked
against its own float32 spread (``reference_step.within_float32_spread``): kdjax must be as
close to the float64 result as the float32 reference is, up to ``FACTOR`` = 4 (two independent
roundings of one computation differ from the exact result by comparable amounts; a factor 4
leaves room for their random ratio), with floors for quantities the float32 reference happens
to get almost exactly: 2e-5 relative for the terms (~30 float32 roundings of a logged mean)
plus 4e-6 nats per KL times its factor (``term_scale``), and 1e-3 of the update's norm for
the parameters and statistics. A modelling difference (a weight, a temperature, the warm-up,
the decay of one leaf, BN mode or momentum, a missing gradient path) moves the CIFAR terms
and updates by 1e-2 or more relative, 100x above these tolerances. The students' BN shifts
keep ReLU inputs away from 0 (``reference_step.randomize_batchnorm(clear_of_kinks=True)``:
a unit within float32 rounding of the kink may go either way on the two sides, and one such
unit moves the updates of all layers below it by 0.5-4%).
"""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kdjax import config as config_lib
from tests import reference_step as rs

pytestmark = pytest.mark.reference_step

TEACHER, STUDENT = 'resnet8', 'resnet8'  # CIFAR ResNet8 pair (different random weights)
BATCH, STEPS, NUM_EXAMPLES = 8, 3, 24
FACTOR = 4.0  # kdjax's distance to the float64 reference / the float32 reference's (check)
TERM_RTOL, KL_ATOL = 2e-5, 4e-6  # floors of the terms: relative; per KL in nats (check)
UPDATE_RTOL, UPDATE_ATOL = 1e-3, 1e-7  # floors of the updates (check)


def _batches(seed: int) -> list[np.ndarray]:
  """3 batches of 8 distinct examples of the 24 (a fixed permutation)."""
  order = np.random.default_rng(seed).permutation(NUM_EXAMPLES)
  return [order[i * BATCH:(i + 1) * BATCH] for i in range(STEPS)]


def _models(num_classes: int = 100, teacher: str = TEACHER, student: str = STUDENT, seed=0):
  """Reference-initialised student and teacher with random BN affines and statistics."""
  s = rs.randomize_batchnorm(rs.seeded(student, num_classes, seed), seed + 10,
                             clear_of_kinks=True)
  t = rs.randomize_batchnorm(rs.seeded(teacher, num_classes, seed + 1), seed + 11)
  return s, t


# ----------------------------------------------------------------------------- reference losses
def ls_normalize(logit):
  """LS repository ``normalize``: (x - mean) / (1e-7 + std), torch's unbiased std."""
  mean = logit.mean(dim=-1, keepdims=True)
  stdv = logit.std(dim=-1, keepdims=True)
  return (logit - mean) / (1e-7 + stdv)


def kd_loss(zs, zt, temperature):
  """mdistiller ``kd_loss``: T^2 * mean_i sum_k KL, T scalar or per-example [B, 1]."""
  log_p = F.log_softmax(zs / temperature, dim=1)
  p_t = F.softmax(zt / temperature, dim=1)
  per_example = F.kl_div(log_p, p_t, reduction='none').sum(1)
  t2 = temperature ** 2
  t2 = t2.reshape(-1) if torch.is_tensor(t2) else t2
  return (per_example * t2).mean()


def dkd_loss(zs, zt, target, alpha, beta, temperature):
  """mdistiller ``dkd_loss`` (TCKD on [p_gt, p_rest], NCKD with the gt logit masked by -1000)."""
  gt = torch.zeros_like(zs).scatter_(1, target[:, None], 1).bool()
  other = ~gt

  def cat_mask(t):
    return torch.cat([(t * gt).sum(1, keepdims=True), (t * other).sum(1, keepdims=True)], 1)

  ps = cat_mask(F.softmax(zs / temperature, dim=1))
  pt = cat_mask(F.softmax(zt / temperature, dim=1))
  tckd = F.kl_div(torch.log(ps), pt, reduction='sum') * temperature ** 2 / target.shape[0]
  pt2 = F.softmax(zt / temperature - 1000.0 * gt, dim=1)
  log_ps2 = F.log_softmax(zs / temperature - 1000.0 * gt, dim=1)
  nckd = F.kl_div(log_ps2, pt2, reduction='sum') * temperature ** 2 / target.shape[0]
  return alpha * tckd + beta * nckd


def ttm_loss(zs, zt, l, weighted):
  """zkxufo/TTM ``TTM`` / ``WTTM``: KL(softmax(v)^l / U || softmax(z)), times U for WTTM."""
  log_p = F.log_softmax(zs, dim=1)
  p_t = torch.pow(torch.softmax(zt, dim=1), l)
  norm = p_t.sum(1)
  p_t = p_t / norm[:, None]
  kl = F.kl_div(log_p, p_t, reduction='none').sum(1)
  return (norm * kl).mean() if weighted else kl.mean()


def dist_loss(zs, zt, beta, gamma, tau):
  """zkxufo/TTM ``DIST``: tau^2 (beta inter + gamma intra) Pearson relations of softmaxes."""
  def pearson(a, b, eps=1e-8):
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + eps)

  ys, yt = (zs / tau).softmax(1), (zt / tau).softmax(1)
  inter = tau ** 2 * (1 - pearson(ys, yt).mean())
  intra = tau ** 2 * (1 - pearson(ys.t(), yt.t()).mean())
  return beta * inter + gamma * intra


def nkd_loss(zs, zt, target, temperature, gamma):
  """yzd-v/cls_KD ``mmcls/models/dis_losses/nkd.py`` ``NKDLoss``: the target part at T = 1
  (the teacher's probability detached), the non-target classes renormalised at T, x gamma T^2."""
  n = zs.shape[0]
  label = target.view(-1, 1)
  s_t = torch.gather(F.log_softmax(zs, 1), 1, label)
  t_t = torch.gather(F.softmax(zt, 1), 1, label).detach()
  mask = torch.ones_like(zs).scatter_(1, label, 0).bool()
  s_non = F.log_softmax(zs[mask].reshape(n, -1) / temperature, 1)
  t_non = F.softmax(zt[mask].reshape(n, -1) / temperature, 1)
  return -(t_t * s_t).mean() - gamma * temperature ** 2 * (t_non * s_non).sum(1).mean()


def max_logit_temperature(zs, zt):
  """Matsuyama et al. 2025: tau_i = (1 + sqrt 3) / 2 * max(max_k Z(v), max_k Z(z)), constant."""
  m = torch.maximum(ls_normalize(zt).max(1).values, ls_normalize(zs).max(1).values)
  return (m * (1.0 + math.sqrt(3.0)) / 2.0).detach()[:, None]


def mlkd_losses(sw, ss, tw, ts, target, *, t0, ce_weight, kd_weight):
  """Jin-Ying/Multi-Level-Logit-Distillation ``KD_ours.forward_train`` (as released: the
  scalar losses times the masks' means; the strong kd sum's T=2 and T=6 parts on the weak
  logits; cc and bc of the weak view only in the loss dict; the median masks by
  ``np.percentile(., 50)``)."""
  def cc(a, b, t):
    pa, pb = F.softmax(a / t, 1), F.softmax(b / t, 1)
    return ((pb.t() @ pb - pa.t() @ pa) ** 2).sum() / a.shape[1]

  def bc(a, b, t):
    pa, pb = F.softmax(a / t, 1), F.softmax(b / t, 1)
    return ((pb @ pb.t() - pa @ pa.t()) ** 2).sum() / a.shape[0]

  p_tw = F.softmax(tw.detach(), dim=1)
  confidence = p_tw.max(1).values
  mask = confidence.le(float(np.percentile(confidence.numpy(), 50))).to(sw.dtype)
  class_conf = p_tw.sum(0)
  class_mask = class_conf.le(float(np.percentile(class_conf.numpy(), 50))).to(sw.dtype)
  temps = (t0, 3.0, 5.0, 2.0, 6.0)
  w = kd_weight
  ce = ce_weight * (F.cross_entropy(sw, target) + F.cross_entropy(ss, target))
  kd_weak = sum(w * (kd_loss(sw, tw, t) * mask).mean() for t in temps)
  kd_strong = (sum(w * kd_loss(ss, ts, t) for t in temps[:3])
               + sum(w * kd_loss(sw, tw, t) for t in temps[3:]))
  cc_weak = sum(w * (cc(sw, tw, t) * class_mask).mean() for t in temps)
  bc_weak = sum(w * (bc(sw, tw, t) * mask).mean() for t in temps)
  # As released: the strong-view cc and bc sums are computed but left out of the loss dict.
  return {'ce': ce, 'kd': kd_weak + kd_strong, 'cc': cc_weak, 'bc': bc_weak}


class GlobalT(torch.nn.Module):
  """zhengli97/CTKD ``Global_T``: one parameter through ``GradientReversal`` (x lambda)."""

  def __init__(self, value: float):
    super().__init__()
    self.global_T = torch.nn.Parameter(torch.full((1,), value))

  def forward(self, lambda_):
    return _Reverse.apply(self.global_T, lambda_)


class _Reverse(torch.autograd.Function):
  """CTKD's ``GradientReversalFunction``: identity forward, gradient times lambda."""

  @staticmethod
  def forward(ctx, x, lambda_):  # pylint: disable=arguments-differ
    ctx.lambda_ = lambda_
    return x.clone()

  @staticmethod
  def backward(ctx, grads):  # pylint: disable=arguments-differ
    return grads.new_tensor(ctx.lambda_) * grads, None


def ctkd_cosine_decay(epoch, max_value, min_value, num_loops):
  """zhengli97/CTKD ``CosineDecay.get_value``."""
  i = min(max(epoch, 0), num_loops)
  return (math.cos(i * math.pi / num_loops) + 1.0) * 0.5 * (max_value - min_value) + min_value


# ----------------------------------------------------------------------------- reference step
def reference_steps(config, run, student, teacher, losses_fn, extras=(), views=None):
  """The reference trainer's steps on ``run``'s batches: per-step ``{term: value}``.

  ``losses_fn(zs, zt, target, extras) -> {term: tensor}`` is the distiller's loss dict (a
  name starting with '_' is logged, not added); the optimizer is the reference SGD over the
  student + the ``extras`` modules (CTKD's temperature) at ``run.epoch``'s lr. ``views``: per
  step ``(weak, strong)`` NCHW inputs (default: the normalised images, no strong view). The
  modules are updated in place; their dtype (float32 or float64) is the run's.
  """
  dtype = next(student.parameters()).dtype
  params = list(student.parameters()) + [p for m in extras for p in m.parameters()]
  optimizer = rs.config_sgd(config, params, run.epoch)
  student.train()
  teacher.eval()
  source, out = run.source, []
  for step, indices in enumerate(run.batches):
    if views is None:
      weak = rs.torch_images(source.images[indices], source.mean, source.std)
      strong = None
    else:
      weak, strong = views[step]
    weak = weak.to(dtype)
    target = torch.from_numpy(source.labels[indices].astype(np.int64))
    optimizer.zero_grad()
    zs = student(weak)
    with torch.no_grad():
      zt = teacher(weak)
    if strong is None:
      losses = losses_fn(zs, zt, target, extras)
    else:
      strong = strong.to(dtype)
      zs_strong = student(strong)
      with torch.no_grad():
        zt_strong = teacher(strong)
      losses = losses_fn((zs, zs_strong), (zt, zt_strong), target, extras)
    loss = sum(v for k, v in losses.items() if not k.startswith('_'))
    loss.backward()
    optimizer.step()
    row = {k.lstrip('_'): float(v.detach()) for k, v in losses.items()}
    row['loss'] = float(loss.detach())
    out.append(row)
  return out


@dataclasses.dataclass
class Reference:
  """The reference run in float32 and in float64 from the same initial modules."""
  terms32: list
  terms64: list
  student32: torch.nn.Module
  student64: torch.nn.Module
  extras32: tuple
  extras64: tuple


def reference_runs(config, run, student, teacher, losses_fn, extras=(), views=None):
  """``reference_steps`` on float32 and float64 copies of the modules (inputs cast)."""
  out = {}
  for name, dtype in (('32', torch.float32), ('64', torch.float64)):
    s, t = copy.deepcopy(student).to(dtype), copy.deepcopy(teacher).to(dtype)
    e = tuple(copy.deepcopy(m).to(dtype) for m in extras)
    out['terms' + name] = reference_steps(config, run, s, t, losses_fn, e, views)
    out['student' + name], out['extras' + name] = s, e
  return Reference(**out)


def check(run, ref, student_initial, term_scale):
  """The per-step terms and the final student against the float32 / float64 reference.

  Tolerances (module docstring): kdjax within ``FACTOR`` x the float32 reference's own
  distance to the float64 one; floors: ``TERM_RTOL`` relative and, for the terms,
  ``KL_ATOL * term_scale`` (``term_scale``: the largest factor multiplying a KL, weight x
  T^2, ...: a KL between near-uniform softmaxes is a difference of nearly equal float32 sums,
  whose absolute rounding error is ~1e-6 nats whatever its value); ``UPDATE_RTOL`` /
  ``UPDATE_ATOL`` for the updates."""
  rs.assert_terms_within_spread(run, ref.terms32, ref.terms64, factor=FACTOR, rtol=TERM_RTOL,
                                atol=KL_ATOL * max(term_scale, 1.0))
  rs.assert_student_within_spread(run, ref.student32, ref.student64, student_initial,
                                  factor=FACTOR, rtol=UPDATE_RTOL, atol=UPDATE_ATOL)


def term_scale(config, run):
  """The largest factor multiplying a KL in the logit term (``check``): weight x T^2 (the
  logged maximum temperature for a learned or per-example one; DKD: x max(alpha, beta);
  TTM / WTTM: no T^2; NKD: x gamma at its own T; MLKD: its ten KLs at up to T = 6)."""
  c = config.logit
  t = max(max(r['temperature_max'] for r in run.terms), c.temperature)
  if c.loss in ('ttm', 'wttm'):
    return c.weight
  if c.loss == 'nkd':  # its non-target KL is weighted by gamma T^2 (NKD's own T)
    return c.weight * max(config.nkd.gamma, 1.0) * max(t, config.nkd.temperature) ** 2
  if c.loss == 'dkd':
    return c.weight * max(config.dkd.alpha, config.dkd.beta) * t ** 2
  if c.loss == 'mlkd':
    return 10 * c.weight * max(t, 6.0) ** 2
  return c.weight * t ** 2


# ----------------------------------------------------------------------------- the tests
SOURCE = rs.cifar_source(NUM_EXAMPLES, seed=0)


def _run(method, epoch, *, teacher=TEACHER, student=STUDENT, method_variables=None,
         **overrides):
  config = rs.kdjax_config(method, teacher, student, batch_size=BATCH, **overrides)
  s, t = _models()
  initial = rs.torch_variables(s)
  run = rs.run_steps(config, SOURCE, _batches(1), epoch=epoch, student=s, teacher=t,
                     method_variables=method_variables)
  return config, run, s, t, initial


FIXED = {
    # mdistiller KD.py (LS repository's with LOGIT_STAND for kd_ls).
    'kd': (1, lambda c: lambda zs, zt, y, _: {
        'ce': c.ce_weight * F.cross_entropy(zs, y),
        'kd': c.logit.weight * kd_loss(zs, zt, c.logit.temperature)}),
    'kd_ls': (1, lambda c: lambda zs, zt, y, _: {
        'ce': c.ce_weight * F.cross_entropy(zs, y),
        'kd': c.logit.weight * kd_loss(ls_normalize(zs), ls_normalize(zt),
                                       c.logit.temperature)}),
    # zkxufo/TTM: loss = r * CE + b * TTM(l) (-r ce_weight, -b logit.weight, --ttm_l ttm.gamma).
    'ttm': (1, lambda c: lambda zs, zt, y, _: {
        'ce': c.ce_weight * F.cross_entropy(zs, y),
        'kd': c.logit.weight * ttm_loss(zs, zt, c.ttm.gamma, weighted=False)}),
    'wttm': (1, lambda c: lambda zs, zt, y, _: {
        'ce': c.ce_weight * F.cross_entropy(zs, y),
        'kd': c.logit.weight * ttm_loss(zs, zt, c.ttm.gamma, weighted=True)}),
    # zkxufo/TTM: loss = r * CE + b * DIST(dist_beta, dist_gamma, dist_tau).
    'dist': (1, lambda c: lambda zs, zt, y, _: {
        'ce': c.ce_weight * F.cross_entropy(zs, y),
        'kd': c.logit.weight * dist_loss(zs, zt, c.dist.beta, c.dist.gamma,
                                         c.logit.temperature)}),
    # yzd-v/cls_KD mmcls/models/classifiers/distiller.py: CE + NKDLoss, both unweighted (the
    # CIFAR-100 preset: temp 3, gamma 3.5, configs/distillers/cifar100/res34_distill_res18_cifar.py).
    'nkd': (1, lambda c: lambda zs, zt, y, _: {
        'ce': c.ce_weight * F.cross_entropy(zs, y),
        'kd': c.logit.weight * nkd_loss(zs, zt, y, c.nkd.temperature, c.nkd.gamma)}),
    # Matsuyama et al. 2025: zKD+Ours (LS z-scores, per-example tau_i, tau_i^2 scaling).
    'kd_maxlogit': (1, lambda c: lambda zs, zt, y, _: {
        'ce': c.ce_weight * F.cross_entropy(zs, y),
        'kd': c.logit.weight * kd_loss(ls_normalize(zs), ls_normalize(zt),
                                       max_logit_temperature(zs, zt)),
        '_temperature_mean': max_logit_temperature(zs, zt).mean()}),
    # mdistiller DKD.py (LS repository's for dkd_ls: its ALPHA/BETA are kdjax's alpha, beta
    # times logit.weight), warm-up min(epoch / WARMUP, 1): epoch 5 inside, 30 after it.
    **{f'{name}@{epoch}': (epoch, lambda c, e=epoch, ls=ls: lambda zs, zt, y, _: {
        'ce': c.ce_weight * F.cross_entropy(zs, y),
        'kd': min(e / c.dkd.warmup_epochs, 1.0) * dkd_loss(
            ls_normalize(zs) if ls else zs, ls_normalize(zt) if ls else zt, y,
            c.dkd.alpha * c.logit.weight, c.dkd.beta * c.logit.weight, c.logit.temperature)})
       for name, ls in (('dkd', False), ('dkd_ls', True)) for epoch in (5, 30)},
}


@pytest.mark.parametrize('case', list(FIXED), ids=[k.replace('@', '-epoch') for k in FIXED])
def test_fixed_temperature_step_matches_reference(case):
  method = case.split('@')[0]
  epoch, make_loss = FIXED[case]
  config, run, s, t, initial = _run(method, epoch)
  ref = reference_runs(config, run, s, t, make_loss(config))
  check(run, ref, initial, term_scale(config, run))


def test_ctkd_step_matches_reference():
  """CTKD at a mid-schedule epoch: the global temperature through the gradient reversal with
  the cosine lambda of that epoch, trained by the student's SGD (its ``trainable_list``)."""
  epoch = 5  # lambda = -0.5 of the cosine schedule over ctkd.lambda_epochs (10)
  theta0 = 0.3  # a non-default start, set on both sides
  config, run, s, t, initial = _run(
      'ctkd', epoch, method_variables={'params': {'logit': {'temperature': {
          'theta': np.float32(theta0)}}}})
  c = config.ctkd
  lambda_ = ctkd_cosine_decay(epoch, c.lambda_max, c.lambda_min, c.lambda_epochs)
  assert lambda_ == pytest.approx(-0.5)

  def losses(zs, zt, y, extras):
    temp = c.t_start + c.t_range * torch.sigmoid(extras[0](lambda_))
    kd = F.kl_div(F.log_softmax(zs / temp, 1), F.softmax(zt / temp, 1),
                  reduction='batchmean') * temp * temp
    return {'ce': config.ce_weight * F.cross_entropy(zs, y), 'kd': config.logit.weight * kd,
            '_temperature_mean': temp.detach()[0]}

  ref = reference_runs(config, run, s, t, losses, extras=(GlobalT(theta0),))
  check(run, ref, initial, term_scale(config, run))
  theta = np.float64(run.final.params['method']['logit']['temperature']['theta'])
  ok, message = rs.within_float32_spread(
      theta - theta0, ref.extras32[0].global_T.detach().double().numpy()[0] - theta0,
      ref.extras64[0].global_T.detach().numpy()[0] - theta0, factor=FACTOR, rtol=UPDATE_RTOL,
      atol=UPDATE_ATOL)
  assert ok, f'CTKD theta update: {message}'
  # The temperature did move (by ~6e-5 here, 2000 float32 ulps of theta; the comparison
  # above checks that move to 1e-3 of its size).
  assert abs(theta - theta0) > 1e-5


@pytest.mark.slow  # RandAugment + two views in the compiled step: ~1 min to compile on CPU
def test_mlkd_step_matches_reference():
  """MLKD with both views: kdjax's strong view (RandAugment, Cutout: random) is computed once
  from the step's own keys and given to the reference, so both sides see the same pixels."""
  config, run, s, t, initial = _run('mlkd', 1)
  views = []
  for step in range(STEPS):
    weak, strong, _ = rs.step_views(run, step)
    expected_weak = rs.torch_images(SOURCE.images[run.batches[step]], SOURCE.mean, SOURCE.std)
    np.testing.assert_allclose(rs.nhwc_to_torch(weak).numpy(), expected_weak.numpy(),
                               rtol=0, atol=1e-6)  # augmentation off: the plain view
    views.append((expected_weak, rs.nhwc_to_torch(strong)))

  def losses(zs, zt, y, _):
    return mlkd_losses(zs[0], zs[1], zt[0], zt[1], y, t0=config.logit.temperature,
                       ce_weight=config.ce_weight, kd_weight=config.logit.weight)

  ref = reference_runs(config, run, s, t, losses, views=views)
  check(run, ref, initial, term_scale(config, run))


@pytest.mark.slow  # ResNet34 + ResNet18 in the compiled step: ~1 min to compile on CPU
def test_imagenet_recipe_kd_step_matches_reference():
  """The ImageNet recipe (mdistiller ``configs/imagenet/r34_r18/kd.yaml``: lr 0.2 decayed x0.1
  at epochs 30, 60, 90, momentum 0.9, weight decay 1e-4) for resnet34 -> resnet18 KD at epoch
  31 (after the first decay: lr 0.02), on 32-pixel host crops at batch 4 (the streaming path:
  the batch carries uint8 crops, the step normalises them)."""
  source = rs.imagenet_source(12, 32, seed=2)
  config = rs.kdjax_config('kd', 'resnet34', 'resnet18', batch_size=4, recipe='imagenet')
  assert (config_lib.resolved_lr(config), config.weight_decay) == (0.2, 1e-4)
  assert rs.reference_lr(0.2, config.lr_decay_epochs, config.lr_decay_rate, 31) == \
      pytest.approx(0.02)
  s, t = _models(1000, 'resnet34', 'resnet18', seed=3)
  initial = rs.torch_variables(s)
  batches = [np.arange(i * 4, (i + 1) * 4) for i in range(STEPS)]
  run = rs.run_steps(config, source, batches, epoch=31, student=s, teacher=t)
  ref = reference_runs(config, run, s, t, lambda zs, zt, y, _: {
      'ce': config.ce_weight * F.cross_entropy(zs, y),
      'kd': config.logit.weight * kd_loss(zs, zt, config.logit.temperature)})
  check(run, ref, initial, term_scale(config, run))
