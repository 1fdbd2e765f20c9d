"""SRRL (Yang et al., ICLR 2021): its losses and term against PyTorch written from
jingyang2017/KD_SRRL, a hand-computed case, its config and ImageNet recipe.

Its training (1 vs 2 devices) runs in ``test_method_kdpp.py``'s smoke test, with KD++'s.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kdjax import feature_losses
from kdjax import methods
from kdjax import recipes
from tests import feature_inputs
from tests import method_checks

RNG = np.random.default_rng(0)
# float32 means of O(1) values over a few hundred elements: relative rounding ~1e-6; the two
# sides sum in different orders, so 1e-5 relative (and 1e-6 absolute near zero) is ample.
RTOL, ATOL = 1e-5, 1e-6


def _torch_statm(x, y):
  """``distiller_zoo/AIN.py`` ``statm_loss.forward`` (NCHW): the spatial means' squared gap,
  averaged over channels, then over the batch (per example here: the batch mean is the loss)."""
  x = x.view(x.size(0), x.size(1), -1)
  y = y.view(y.size(0), y.size(1), -1)
  return (x.mean(dim=2) - y.mean(dim=2)).pow(2).mean(1)


def _nchw(x):
  return torch.tensor(np.transpose(np.asarray(x), (0, 3, 1, 2)))


def test_feature_loss_matches_the_reference_on_maps_of_different_sizes():
  s = RNG.normal(size=(5, 7, 7, 12)).astype(np.float32)
  t = (RNG.normal(size=(5, 4, 4, 12)) + 0.5).astype(np.float32)
  ours = feature_losses.srrl_feature(s, t)
  assert ours.shape == (5,)
  np.testing.assert_allclose(ours, _torch_statm(_nchw(s), _nchw(t)).numpy(), rtol=RTOL, atol=ATOL)


def test_regression_loss_is_the_reference_mse_per_example():
  z = RNG.normal(size=(6, 10)).astype(np.float32) * 3
  v = RNG.normal(size=(6, 10)).astype(np.float32) * 3
  ours = feature_losses.srrl_regression(z, v)
  assert ours.shape == (6,)
  np.testing.assert_allclose(jnp.mean(ours), F.mse_loss(torch.tensor(z), torch.tensor(v)).item(),
                             rtol=RTOL)


def test_hand_computed_case():
  # One example, two channels on a 2x1 map: spatial means (2, 1) and (1, 1) -> gap^2 (1, 0),
  # channel mean 0.5. Logits (1, 2, 3) vs (1, 0, 0): squared errors (0, 4, 9), mean 13/3.
  s = np.array([[[[1.0, 0.0]], [[3.0, 2.0]]]], np.float32)  # [1, 2, 1, 2]
  t = np.array([[[[1.0, 1.0]], [[1.0, 1.0]]]], np.float32)
  np.testing.assert_allclose(feature_losses.srrl_feature(s, t), [0.5], rtol=1e-6)
  np.testing.assert_allclose(feature_losses.srrl_regression([[1.0, 2.0, 3.0]], [[1.0, 0.0, 0.0]]),
                             [13.0 / 3.0], rtol=1e-6)


def test_feature_gradient_matches_torch_autograd():
  s = RNG.normal(size=(3, 4, 4, 6)).astype(np.float32)
  t = RNG.normal(size=(3, 4, 4, 6)).astype(np.float32)
  grad = jax.grad(lambda x: jnp.mean(feature_losses.srrl_feature(x, t)))(s)
  x = _nchw(s).requires_grad_(True)
  _torch_statm(x, _nchw(t)).mean().backward()
  np.testing.assert_allclose(grad, np.transpose(x.grad.numpy(), (0, 2, 3, 1)), rtol=RTOL,
                             atol=ATOL)


def test_jit_and_vmap_equal_eager():
  s = RNG.normal(size=(2, 3, 3, 3, 4)).astype(np.float32)
  t = RNG.normal(size=(2, 3, 3, 3, 4)).astype(np.float32)
  eager = np.stack([feature_losses.srrl_feature(a, b) for a, b in zip(s, t)])
  np.testing.assert_allclose(jax.jit(jax.vmap(feature_losses.srrl_feature))(s, t), eager,
                             rtol=RTOL, atol=ATOL)
  z, v = s.reshape(2, 3, -1), t.reshape(2, 3, -1)
  eager = np.stack([feature_losses.srrl_regression(a, b) for a, b in zip(z, v)])
  np.testing.assert_allclose(jax.jit(jax.vmap(feature_losses.srrl_regression))(z, v), eager,
                             rtol=RTOL, atol=ATOL)


def test_bad_inputs_are_named():
  with pytest.raises(ValueError, match='same channels'):
    feature_losses.srrl_feature(np.zeros((2, 3, 3, 4)), np.zeros((2, 3, 3, 5)))
  with pytest.raises(ValueError, match='NHWC'):
    feature_losses.srrl_feature(np.zeros((2, 4)), np.zeros((2, 4)))
  with pytest.raises(ValueError, match='same shape'):
    feature_losses.srrl_regression(np.zeros((2, 4)), np.zeros((2, 5)))


def _term_and_inputs():
  config = method_checks.smoke('srrl', teacher='resnet8x4', student='resnet8')
  term = methods.build(config, feature_inputs.context('resnet8x4', 'resnet8')).feature
  student = feature_inputs.model_features(RNG, 'resnet8')
  teacher = feature_inputs.model_features(RNG, 'resnet8x4')
  head = {'fc': {'kernel': jnp.asarray(RNG.normal(size=(256, 10)) * 0.1, jnp.float32),
                 'bias': jnp.asarray(RNG.normal(size=10), jnp.float32)}}
  inputs = feature_inputs.step_inputs(student, teacher, {'params': head})
  teacher_logits = jnp.asarray(RNG.normal(size=(4, 10)), jnp.float32)
  inputs = dataclasses.replace(inputs, teacher=dataclasses.replace(inputs.teacher,
                                                                   logits=teacher_logits))
  return config, term, inputs, head


def test_term_matches_the_reference_training_loss_and_student_gradient():
  """Connector (1x1 conv, BN in training mode, ReLU), statm_loss and the teacher's avgpool + fc
  on the connected map against ``train_imagenet_distillation.py``'s ``loss_kd``, in PyTorch."""
  config, term, inputs, head = _term_and_inputs()
  assert (term.channels, term.sr_weight, config.ce_weight) == (256, 1.0, 1.0)
  variables = feature_inputs.init(term, inputs)
  kernel = variables['params']['connector']['0']['kernel']
  assert kernel.shape == (1, 1, 64, 256)
  # transfer_conv's init N(0, sqrt(2 / 256)): 16384 draws estimate the std within 1% (sd of
  # the estimate 1 / sqrt(2 * 16384) = 0.6%); 5% is 8 such deviations.
  np.testing.assert_allclose(np.std(kernel), np.sqrt(2.0 / 256), rtol=0.05)
  bn = {'scale': jnp.asarray(RNG.uniform(0.5, 1.5, 256), jnp.float32),
        'bias': jnp.asarray(RNG.normal(size=256) * 0.1, jnp.float32)}
  params = {'connector': {'0': {'kernel': kernel}, '1': bn}}

  def loss(student_map):
    feats = inputs.student.features.feats[:-1] + (student_map,)
    student = dataclasses.replace(inputs.student, features=dataclasses.replace(
        inputs.student.features, feats=feats))
    out, _ = term.apply({'params': params, 'batch_stats': variables['batch_stats']},
                        dataclasses.replace(inputs, student=student), True,
                        mutable=['batch_stats'])
    return out['srrl_fm'] + out['srrl_sr'], out

  f_s = inputs.student.features.feats[-1]
  (total, out), grad = jax.jit(jax.value_and_grad(loss, has_aux=True))(f_s)

  conv = torch.nn.Conv2d(64, 256, 1, bias=False)
  bn_t = torch.nn.BatchNorm2d(256)
  with torch.no_grad():
    conv.weight.copy_(torch.tensor(np.transpose(np.asarray(kernel), (3, 2, 0, 1))))
    bn_t.weight.copy_(torch.tensor(np.asarray(bn['scale'])))
    bn_t.bias.copy_(torch.tensor(np.asarray(bn['bias'])))
  bn_t.train()
  x = _nchw(f_s).requires_grad_(True)
  connected = F.relu(bn_t(conv(x)))
  feat_t = _nchw(inputs.teacher.features.feats[-1])
  loss_stat = _torch_statm(connected, feat_t).mean()
  pooled = F.adaptive_avg_pool2d(connected, 1).flatten(1)
  pred_sc = pooled @ torch.tensor(np.asarray(head['fc']['kernel'])) + torch.tensor(
      np.asarray(head['fc']['bias']))
  loss_sr = F.mse_loss(pred_sc, torch.tensor(np.asarray(inputs.teacher.logits)))
  (loss_stat + loss_sr).backward()
  # The BN-normalised maps and a 256 x 10 classifier of O(1) values: float32 sums of a few
  # hundred terms, rounding ~1e-6 relative; 1e-4 leaves room for the different summation order
  # of the convolution and the batch statistics.
  np.testing.assert_allclose(out['srrl_fm'], loss_stat.item(), rtol=1e-4)
  np.testing.assert_allclose(out['srrl_sr'], loss_sr.item(), rtol=1e-4)
  np.testing.assert_allclose(total, (loss_stat + loss_sr).item(), rtol=1e-4)
  np.testing.assert_allclose(grad, np.transpose(x.grad.numpy(), (0, 2, 3, 1)), rtol=1e-3,
                             atol=1e-3 * float(np.abs(x.grad.numpy()).max()))


def test_preset_recipe_and_checks():
  preset = methods.presets()['srrl']
  assert preset['feature.loss'] == 'srrl' and preset['ce_weight'] == 1.0
  for pair in (recipes.IN_R18, recipes.IN_MV1):
    resolved = recipes.resolve('srrl', *pair, recipe='imagenet')
    c = resolved.config
    assert (c.method, c.ce_weight, c.feature.weight, c.srrl.sr_weight) == ('srrl', 1.0, 1.0, 1.0)
    assert (c.batch_size, c.lr, c.epochs, tuple(c.lr_decay_epochs), c.lr_decay_rate,
            c.momentum, c.weight_decay, c.nesterov, c.weight_decay_mask) == (
                512, 0.2, 100, (30, 60, 90), 0.1, 0.9, 1e-4, False, 'all')
    for field in ('lr', 'srrl.sr_weight', 'nesterov'):
      assert resolved.sources[field].startswith('jingyang2017/KD_SRRL train_imagenet_distillation')
  config = method_checks.smoke('srrl')
  config.srrl.sr_weight = -1.0
  assert any('srrl.sr_weight' in p for p in methods.check_config(config))
  config = method_checks.smoke('srrl')
  config.teacher = 'MobileNetV2'
  problems = methods.check_config(config, feature_inputs.context('MobileNetV2', 'resnet8'))
  assert any('classifier' in p for p in problems), problems
