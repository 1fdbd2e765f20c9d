"""The optimizers, schedules and soft targets of ``kdjax.optim`` and ``kdjax.data.augment``,
against PyTorch's optimizers and timm's Mixup/CutMix rules written here in torch/numpy."""

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
import torch

from kdjax import config as config_lib
from kdjax import losses
from kdjax import optim
from kdjax.data import augment
from kdjax.data import sources

# A parameter tree with every kind of leaf the decay mask tells apart: a conv kernel and a dense
# kernel (decayed), a bias, a LayerNorm scale, a position embedding and a class token (3-D, but
# named), and a method scalar (CTKD's temperature: 0-D).
_SHAPES = {'student': {'patch_embed': {'proj': {'kernel': (2, 2, 3, 4), 'bias': (4,)}},
                       'pos_embed': (1, 5, 4), 'cls_token': (1, 1, 4),
                       'norm': {'scale': (4,), 'bias': (4,)},
                       'head': {'kernel': (4, 3), 'bias': (3,)}},
           'method': {'temperature': {'theta': ()}}}
_NOT_DECAYED = {'student/patch_embed/proj/bias', 'student/pos_embed', 'student/cls_token',
                'student/norm/scale', 'student/norm/bias', 'student/head/bias',
                'method/temperature/theta'}


def _flat(tree):
  return {'/'.join(str(k.key) for k in path): leaf
          for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def _params_and_grads(steps, scale):
  rng = np.random.default_rng(0)
  params = jax.tree.map(lambda s: rng.normal(size=s).astype(np.float32), _SHAPES,
                        is_leaf=lambda s: isinstance(s, tuple))
  grads = [jax.tree.map(lambda p: (scale * rng.normal(size=np.shape(p))).astype(np.float32),
                        params) for _ in range(steps)]
  return params, grads


def _config(**overrides):
  c = config_lib.get_config()
  c.update(dict(student='vit_toy', lr=0.01, epochs=4), **overrides)
  return c


def _run_optax(config, params, grads, steps_per_epoch):
  tx = optim.create_optimizer(config, steps_per_epoch)
  state = tx.init(params)
  history = []

  @jax.jit
  def step(params, state, g):
    updates, state = tx.update(g, state, params)
    return jax.tree.map(lambda p, u: p + u, params, updates), state

  for g in grads:
    params, state = step(params, state, g)
    history.append(_flat(jax.device_get(params)))
  return history


def _run_torch(make_optimizer, lr_at, params, grads, clip=0.0):
  """torch: one parameter per leaf, the groups' ``weight_decay`` 0 for ``_NOT_DECAYED``,
  ``lr_at(update index)`` set on every group before each step, ``clip_grad_norm_`` first."""
  tensors = {k: torch.tensor(np.asarray(v), requires_grad=True) for k, v in _flat(params).items()}
  decayed = [t for k, t in tensors.items() if k not in _NOT_DECAYED]
  plain = [t for k, t in tensors.items() if k in _NOT_DECAYED]
  opt = make_optimizer([{'params': decayed}, {'params': plain, 'weight_decay': 0.0}])
  history = []
  for i, g in enumerate(grads):
    for k, v in _flat(g).items():
      tensors[k].grad = torch.tensor(np.asarray(v))
    if clip:
      torch.nn.utils.clip_grad_norm_(list(tensors.values()), clip)
    for group in opt.param_groups:
      group['lr'] = lr_at(i)
    opt.step()
    history.append({k: t.detach().numpy().copy() for k, t in tensors.items()})
  return history


def _torch_cosine(base, warmup_lr, min_lr, warmup, total):
  """The warm-up + cosine of ``optim.cosine_schedule`` written from its definition (timm
  ``CosineLRScheduler`` with ``warmup_prefix=True``) in the update's index ``t``."""
  def lr(t):
    if t < warmup:
      return warmup_lr + (base - warmup_lr) * t / warmup
    return min_lr + 0.5 * (base - min_lr) * (1 + math.cos(math.pi * (t - warmup) / (total - warmup)))
  return lr


def _assert_close_histories(ours, reference, rtol):
  for step, (a, b) in enumerate(zip(ours, reference)):
    for key in b:
      np.testing.assert_allclose(a[key], b[key], rtol=rtol, atol=rtol, err_msg=f'{key} @ {step}')


# float32: every update rounds each value to a few ulps (6e-8 relative) of |p| <= ~4 and the
# two libraries order the same operations differently; over 12 updates that is < 12 * 4 ulps
# * 4 = 1.2e-5, hence 2e-5 (a wrong decay, mask, eps or schedule moves values by >= 1e-4:
# lr * wd * |p| = 1e-2 * 0.05 * 1 per update).
RTOL = 2e-5


def test_adamw_cosine_warmup_per_step_mask_and_clip_match_torch():
  steps_per_epoch, epochs = 3, 4
  config = _config(optimizer='adamw', weight_decay=0.05, lr_schedule='cosine', warmup_epochs=1,
                   warmup_lr=1e-4, min_lr=1e-4, weight_decay_mask='no_bias_norm',
                   grad_clip_norm=1.0, adam_b1=0.8, adam_b2=0.99, adam_eps=1e-6)
  params, grads = _params_and_grads(epochs * steps_per_epoch, scale=0.5)
  ours = _run_optax(config, params, grads, steps_per_epoch)
  lr_at = _torch_cosine(0.01, 1e-4, 1e-4, steps_per_epoch, epochs * steps_per_epoch)
  reference = _run_torch(lambda groups: torch.optim.AdamW(groups, lr=0.01, betas=(0.8, 0.99),
                                                          eps=1e-6, weight_decay=0.05),
                         lr_at, params, grads, clip=1.0)
  _assert_close_histories(ours, reference, RTOL)
  # The mask mattered: a leaf torch does not decay moved differently from a decayed run.
  everywhere = config_lib.copy_config(config)
  everywhere.weight_decay_mask = 'all'
  everywhere = _run_optax(everywhere, params, grads, steps_per_epoch)
  assert np.abs(everywhere[-1]['student/pos_embed'] - ours[-1]['student/pos_embed']).max() > 1e-4


def test_sgd_with_clipping_and_mask_matches_torch_and_clipping_binds():
  steps_per_epoch = 2
  config = _config(weight_decay=5e-4, weight_decay_mask='no_bias_norm', grad_clip_norm=2.0,
                   lr_decay_epochs=(2,), epochs=3)
  params, grads = _params_and_grads(6, scale=3.0)  # global norm ~ 3 * sqrt(120): clipped
  norms = [float(np.sqrt(sum(np.sum(np.square(x)) for x in jax.tree.leaves(g)))) for g in grads]
  assert min(norms) > 4.0
  ours = _run_optax(config, params, grads, steps_per_epoch)
  reference = _run_torch(lambda groups: torch.optim.SGD(groups, lr=0.01, momentum=0.9,
                                                        weight_decay=5e-4),
                         lambda i: 0.01 * (0.1 if i >= 2 * steps_per_epoch else 1.0),
                         params, grads, clip=2.0)
  # torch divides by norm + 1e-6: a relative 1e-6 / norm < 3e-7 more in the clipped gradient.
  _assert_close_histories(ours, reference, RTOL)


def test_nesterov_sgd_with_mask_matches_torch():
  """``nesterov=True`` (DIST's ImageNet recipe: hunto/image_classification_sota
  lib/utils/optim.py) is torch's Nesterov SGD, with the bias/norm leaves undecayed."""
  steps_per_epoch = 2
  config = _config(weight_decay=1e-4, weight_decay_mask='no_bias_norm', nesterov=True,
                   lr_decay_epochs=(2,), epochs=3)
  params, grads = _params_and_grads(6, scale=1.0)
  ours = _run_optax(config, params, grads, steps_per_epoch)
  reference = _run_torch(lambda groups: torch.optim.SGD(groups, lr=0.01, momentum=0.9,
                                                        weight_decay=1e-4, nesterov=True),
                         lambda i: 0.01 * (0.1 if i >= 2 * steps_per_epoch else 1.0),
                         params, grads)
  _assert_close_histories(ours, reference, RTOL)
  plain = _run_optax(_config(weight_decay=1e-4, weight_decay_mask='no_bias_norm',
                             lr_decay_epochs=(2,), epochs=3), params, grads, steps_per_epoch)
  # Without Nesterov the updates differ by lr * momentum * buf ~ 1e-2 per step: caught.
  assert max(float(np.max(np.abs(plain[-1][k] - ours[-1][k]))) for k in ours[-1]) > 1e-3


def test_default_sgd_is_the_protocol_chain():
  """The defaults build today's chain (decay added to every leaf, then SGD): same state tree."""
  params, grads = _params_and_grads(1, scale=1.0)
  tx = optim.create_optimizer(_config(), 2)
  assert len(tx.init(params)) == 2  # add_decayed_weights, sgd: no clip, no mask
  assert optim.decay_mask(params, 'all') == jax.tree.map(lambda _: True, params)
  masked = _flat(optim.decay_mask(params, 'no_bias_norm'))
  assert {k for k, v in masked.items() if not v} == _NOT_DECAYED


def test_cosine_per_epoch_holds_each_epoch_and_logs_the_first_update():
  spe = 5
  for unit in ('step', 'epoch'):
    config = _config(lr_schedule='cosine', lr_schedule_unit=unit, warmup_epochs=2,
                     warmup_lr=0.001, min_lr=0.0002, epochs=6)
    schedule = optim.cosine_schedule(optim.Settings.from_config(config), spe)
    per = spe if unit == 'step' else 1
    expected = _torch_cosine(0.01, 0.001, 0.0002, 2 * per, 6 * per)
    for count in range(6 * spe):
      t = count if unit == 'step' else count // spe
      np.testing.assert_allclose(float(schedule(count)), expected(t), rtol=1e-6)
    for epoch in range(1, 7):  # the logged lr is the epoch's first update's
      np.testing.assert_allclose(optim.learning_rate_at_epoch(config, epoch),
                                 float(schedule((epoch - 1) * spe)), rtol=1e-6)


def test_bad_optimizer_fields_are_named():
  config = _config(optimizer='adam', warmup_epochs=1, weight_decay_mask='bias')
  found = ' '.join(config_lib.problems(config))
  assert "optimizer must be one of ('sgd', 'adamw')" in found
  assert 'warmup_epochs needs lr_schedule=cosine' in found
  assert 'weight_decay_mask must be one of' in found


# ----------------------------------------------------------------------------- Mixup / CutMix

def _timm_rand_bbox(height, width, lam, cy, cx):
  """timm ``rand_bbox`` (margin 0) at a given centre, and ``cutmix_bbox_and_lam``'s lambda."""
  ratio = np.sqrt(1 - lam)
  cut_h, cut_w = int(height * ratio), int(width * ratio)
  yl, yh = np.clip(cy - cut_h // 2, 0, height), np.clip(cy + cut_h // 2, 0, height)
  xl, xh = np.clip(cx - cut_w // 2, 0, width), np.clip(cx + cut_w // 2, 0, width)
  return (yl, yh, xl, xh), 1. - (yh - yl) * (xh - xl) / float(height * width)


def test_cutmix_box_and_corrected_lambda_follow_timm():
  for lam in (0.03, 0.21, 0.37, 0.5, 0.66, 0.9):
    for cy, cx in ((0, 0), (3, 12), (8, 8), (15, 15), (11, 2)):
      box, corrected = augment.cutmix_box(jnp.float32(lam), (jnp.int32(cy), jnp.int32(cx)), 16, 16)
      expected_box, expected_lam = _timm_rand_bbox(16, 16, lam, cy, cx)
      assert tuple(int(v) for v in box) == tuple(int(v) for v in expected_box), (lam, cy, cx)
      np.testing.assert_allclose(float(corrected), expected_lam, rtol=1e-6)


def _timm_mix_batch(x_nhwc, lam, cutmix, box):
  """timm ``Mixup._mix_batch`` on an NCHW torch tensor, given the draw."""
  x = torch.tensor(np.asarray(x_nhwc)).permute(0, 3, 1, 2).contiguous()
  if cutmix:
    yl, yh, xl, xh = box
    x[:, :, yl:yh, xl:xh] = x.flip(0)[:, :, yl:yh, xl:xh]
  else:
    x_flipped = x.flip(0).mul_(1. - lam)
    x.mul_(lam).add_(x_flipped)
  return x.permute(0, 2, 3, 1).numpy()


def _timm_mixup_target(target, num_classes, lam, smoothing):
  off = smoothing / num_classes
  on = 1. - smoothing + off
  target = torch.tensor(np.asarray(target)).long().view(-1, 1)

  def one_hot(t):
    return torch.full((t.size(0), num_classes), off).scatter_(1, t, on)

  return (one_hot(target) * lam + one_hot(target.flip(0)) * (1. - lam)).numpy()


def test_views_mix_images_and_targets_as_timm_batch_mode():
  rng = np.random.default_rng(0)
  weak = jnp.asarray(rng.normal(size=(6, 16, 16, 3)), jnp.float32)
  labels = jnp.asarray([0, 3, 3, 9, 1, 2], jnp.int32)
  seen = set()
  for mixup, cutmix in ((0.8, 0.0), (0.0, 1.0), (0.8, 1.0)):
    views = sources.Views(on_device=True, mean=(0.,), std=(1.,), mixup_alpha=mixup,
                          cutmix_alpha=cutmix, label_smoothing=0.1)
    for seed in range(2):
      keys = jax.random.split(jax.random.key(seed), 6)
      params = augment.mix_params(augment.mix_batch_key(keys), 16, 16, mixup_alpha=mixup,
                                  cutmix_alpha=cutmix)
      mixed, strong, targets = views.mix(keys, weak, weak, labels, 10)
      lam, is_cutmix = float(params.lam), bool(params.cutmix)
      box = tuple(int(v) for v in params.box)
      seen.add(is_cutmix)
      np.testing.assert_allclose(mixed, _timm_mix_batch(weak, lam, is_cutmix, box), rtol=1e-6,
                                 atol=1e-6)
      np.testing.assert_array_equal(strong, mixed)  # one draw for both views
      np.testing.assert_allclose(targets, _timm_mixup_target(labels, 10, lam, 0.1), rtol=1e-6)
      if is_cutmix:  # the corrected lambda is the share of the example's own pixels
        own = np.mean(np.asarray(mixed) == np.asarray(weak))
        np.testing.assert_allclose(lam, own, rtol=1e-6)
  assert seen == {True, False}


def test_mix_params_draw_timm_distribution():
  """Over 4000 batch keys: P(mixed) = mix_prob, P(cutmix | mixed, both on) = switch_prob and
  Mixup's lambda ~ Beta(a, a) (mean 1/2, variance 1 / (4 (2a + 1))); bounds of 5 standard
  errors (fixed keys: deterministic)."""
  n, alpha = 4000, 0.8
  keys = jax.random.split(jax.random.key(1), n)
  draw = jax.jit(jax.vmap(lambda k: augment.mix_params(k, 16, 16, mixup_alpha=alpha, cutmix_alpha=1.0,
                                               mix_prob=0.6, switch_prob=0.3)))
  params = jax.device_get(draw(keys))
  lam, cutmix = np.asarray(params.lam), np.asarray(params.cutmix)
  mixed = cutmix | (lam < 1.0)
  assert abs(mixed.mean() - 0.6) < 5 * math.sqrt(0.24 / n)
  share = cutmix[mixed].mean()
  assert abs(share - 0.3) < 5 * math.sqrt(0.21 / mixed.sum())
  mixup_lam = lam[mixed & ~cutmix]
  variance = 1 / (4 * (2 * alpha + 1))
  assert abs(mixup_lam.mean() - 0.5) < 5 * math.sqrt(variance / mixup_lam.size)
  assert abs(mixup_lam.var() - variance) < 0.15 * variance
  assert np.all(lam[~mixed] == 1.0)


def test_soft_cross_entropy_is_optax_and_one_hot_is_ce():
  import optax  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  z = jnp.asarray(rng.normal(size=(5, 7)), jnp.float32)
  t = jax.nn.softmax(jnp.asarray(rng.normal(size=(5, 7)), jnp.float32))
  expected = torch.nn.functional.cross_entropy(torch.tensor(np.asarray(z)),
                                               torch.tensor(np.asarray(t)), reduction='none')
  np.testing.assert_allclose(losses.soft_cross_entropy(z, t), expected.numpy(), rtol=1e-6)
  np.testing.assert_allclose(losses.soft_cross_entropy(z, t),
                             optax.softmax_cross_entropy(z, t), rtol=1e-6)
  y = jnp.asarray([0, 3, 6, 1, 1])
  np.testing.assert_allclose(losses.soft_cross_entropy(z, jax.nn.one_hot(y, 7)),
                             losses.cross_entropy(z, y), rtol=1e-6)
  with pytest.raises(ValueError, match='integer labels: use cross_entropy'):
    losses.soft_cross_entropy(z, y)


def test_the_objectives_ce_reads_soft_targets_when_present():
  from kdjax import methods  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(1)
  z = rng.normal(size=(4, 10)).astype(np.float32)
  labels = jnp.asarray([1, 2, 3, 4], jnp.int32)
  targets = _timm_mixup_target(labels, 10, 0.7, 0.1)
  objective = methods.Distillation(ce_weight=0.5)
  soft = methods.StepInputs(student=methods.Outputs(jnp.asarray(z)), labels=labels,
                            targets=jnp.asarray(targets))
  loss, terms = objective.apply({}, soft)
  expected = 0.5 * torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(targets))
  np.testing.assert_allclose(float(terms['ce']), float(expected), rtol=1e-6)
  np.testing.assert_allclose(float(loss), float(expected), rtol=1e-6)
  hard = methods.StepInputs(student=methods.Outputs(jnp.asarray(z)), labels=labels)
  expected = 0.5 * torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(np.asarray(labels)).long())
  np.testing.assert_allclose(float(objective.apply({}, hard)[1]['ce']), float(expected), rtol=1e-6)
