"""ViTKD (Yang et al. 2022; yzd-v/cls_KD): the losses and the term against a PyTorch reference,
a hand-computed case and its configuration. Its training runs (1 vs 2 devices, exact resume, its
parameters' initialisation) are in ``test_deit_training.py`` (WTTM+ViTKD on the DeiT recipe) and
its assembled train step against cls_KD's in ``test_reference_step_vitkd.py``.

The reference is ``tests/torch_models.py``'s ``ViTKDLoss``, written from cls_KD ``mmcls/models/dis_losses/vitkd.py``
(``ViTKDLoss``): per-block linear projections of the shallow tokens and one of the deep tokens
(identity when the widths match), the MAE-style random masking (argsort of noise, keep the first
``int(N * (1 - lambda))``, concatenate mask tokens, unshuffle with ``gather``), the generation
block on the token grid, and the two summed squared errors divided by the batch (and by lambda).
Its noise is made from a fixed mask (kept tokens below 0.5, masked ones above), so that it masks
exactly the tokens kdjax is given.

Tolerances: kdjax runs float32, the reference float64 on the same inputs and weights. A
projected token or a generated token is a sum of <= 9 * 12 = 108 float32 products, the losses
sums of <= 2 * 16 * 12 = 384 non-negative squares of differences of independent random values
(no cancellation): the worst-case relative rounding error is (108 + 384) * 2^-24 ~ 3e-5 of the
loss, so rtol 1e-4 holds on any CPU's summation order (a wrong weight, token, mask or divisor
changes the losses by > 1e-2). The gradients are sums of the same size: 1e-4 of their largest
entry.
"""


import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from kdjax import config as config_lib
from kdjax import feature_losses
from kdjax import methods
from kdjax import models
from kdjax import recipes
from kdjax.methods import nkd as nkd_lib
from kdjax.methods import vitkd
from tests import method_checks
from tests import torch_models

torch = pytest.importorskip('torch')

optax_ce = optax.softmax_cross_entropy_with_integer_labels
RTOL = 1e-4  # float32 vs float64 (module docstring)
B, N = 3, 16
LAMBDA = 0.6


def _variables(reference):
  """kdjax's ViTKD parameters holding the reference's weights (Dense ``W^T``, conv HWIO)."""
  def dense(linear):
    return {'kernel': linear.weight.detach().numpy().T, 'bias': linear.bias.detach().numpy()}

  def conv(layer):
    return {'kernel': layer.weight.detach().numpy().transpose(2, 3, 1, 0),
            'bias': layer.bias.detach().numpy()}

  params = {'mask_token': reference.mask_token.detach().numpy(),
            'generation': {'conv0': conv(reference.generation.conv0),
                           'conv1': conv(reference.generation.conv1)}}
  if reference.projected:
    params['deep_projection'] = dense(reference.deep_projection)
    for i in range(2):
      params[f'shallow_projection_{i}'] = dense(getattr(reference, f'shallow_projection_{i}'))
  return {'params': jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)}


def _inputs(student_blocks, teacher_blocks):
  def outputs(blocks):
    return methods.Outputs(logits=jnp.zeros((B, 10)), features=models.Features(
        feats=tuple(jnp.asarray(b, jnp.float32) for b in blocks), preact_feats=(),
        pooled=jnp.asarray(blocks[-1][:, 0], jnp.float32)))
  return methods.StepInputs(student=outputs(student_blocks), labels=jnp.zeros((B,), jnp.int32),
                            teacher=outputs(teacher_blocks))


@pytest.mark.parametrize('student_dim, teacher_dim', [(8, 12), (12, 12)])
def test_term_matches_the_reference_losses_and_gradients(student_dim, teacher_dim):
  """Three blocks (the shallow ones are not the deep one), 16 patch tokens + the class token,
  random non-zero mask token; the same fixed mask on both sides. Lambda 0.6 masks 10 of 16
  tokens (int(16 * 0.4) = 6 kept), so dividing by the fraction masked would show."""
  rng = np.random.default_rng(0)
  torch.manual_seed(0)
  reference = torch_models.ViTKDLoss(student_dim, teacher_dim, alpha=0.7, beta=0.3,
                                     lam=LAMBDA).double()
  with torch.no_grad():
    reference.mask_token.normal_()
  student = [rng.normal(size=(B, 1 + N, student_dim)) for _ in range(3)]
  teacher = [rng.normal(size=(B, 1 + N, teacher_dim)) for _ in range(3)]
  mask = np.zeros((B, N), bool)
  for row in mask:
    row[rng.permutation(N)[:N - int(N * (1 - LAMBDA))]] = True
  term = vitkd.ViTKD(alpha=0.7, beta=0.3, mask_ratio=LAMBDA)
  variables = _variables(reference)

  def losses(student_blocks):
    out = term.apply(variables, _inputs(student_blocks, teacher), mask=jnp.asarray(mask))
    return out['vitkd_mimic'] + out['vitkd_generation'], out

  (_, got), grads = method_checks.run_once(jax.value_and_grad(losses, has_aux=True),
                                           [jnp.asarray(s, jnp.float32) for s in student])
  # the reference reads the class-token-free tokens of blocks 0, 1 and of the last (normed) block
  low_s = torch.tensor(np.stack([s[:, 1:] for s in student[:2]], axis=1), requires_grad=True)
  high_s = torch.tensor(student[-1][:, 1:], requires_grad=True)
  noise = torch.tensor(mask + 0.5 * rng.uniform(size=mask.shape))  # kept < 0.5 <= masked
  loss_lr, loss_gen = reference(low_s, high_s,
                                torch.tensor(np.stack([t[:, 1:] for t in teacher[:2]], 1)),
                                torch.tensor(teacher[-1][:, 1:]), noise)
  (loss_lr + loss_gen).backward()
  np.testing.assert_allclose(got['vitkd_mimic'], loss_lr.item(), rtol=RTOL)
  np.testing.assert_allclose(got['vitkd_generation'], loss_gen.item(), rtol=RTOL)
  expected = (low_s.grad[:, 0].numpy(), low_s.grad[:, 1].numpy(), high_s.grad.numpy())
  for grad, want in zip(grads, expected):
    np.testing.assert_array_equal(grad[:, 0], 0.0)  # the class token is not read
    np.testing.assert_allclose(grad[:, 1:], want, rtol=0, atol=RTOL * np.abs(want).max())


def test_hand_computed_losses_and_mask():
  # mimic: alpha * sum of squares per example: 2 blocks x 3 tokens x 1 channel of (0 - 1)^2.
  mimic = feature_losses.vitkd_mimic(jnp.zeros((2, 2, 3, 1)), jnp.ones((2, 2, 3, 1)), alpha=0.5)
  np.testing.assert_allclose(mimic, [3.0, 3.0])
  # generation: beta / lambda * the masked squares: (0 - 2)^2 at tokens 0 and 2 -> 8 * 0.1 / 0.25
  teacher = jnp.full((1, 4, 1), 2.0)
  mask = jnp.asarray([[True, False, True, False]])
  np.testing.assert_allclose(feature_losses.vitkd_generation(
      jnp.zeros((1, 4, 1)), teacher, mask, beta=0.1, mask_ratio=0.25), [3.2], rtol=1e-6)
  # the masked tokens become the mask token, the others stay
  tokens = jnp.arange(8.0).reshape(1, 4, 2)
  np.testing.assert_array_equal(
      feature_losses.vitkd_mask_tokens(tokens, mask, jnp.asarray([-1.0, -2.0])),
      [[[-1, -2], [2, 3], [-1, -2], [6, 7]]])
  # int(N * (1 - lambda)) kept: 196 tokens at 0.5 keep 98; 10 at 0.75 keep int(2.5) = 2
  assert feature_losses.vitkd_kept_tokens(196, 0.5) == 98
  drawn = feature_losses.vitkd_token_mask(jax.random.key(0), 64, 10, mask_ratio=0.75)
  assert drawn.dtype == jnp.bool_ and drawn.shape == (64, 10)
  np.testing.assert_array_equal(np.sum(drawn, axis=1), 8)
  assert len({tuple(row) for row in np.asarray(drawn)}) > 1  # drawn per example
  np.testing.assert_array_equal(
      drawn, feature_losses.vitkd_token_mask(jax.random.key(0), 64, 10, mask_ratio=0.75))
  assert 0.2 < np.mean(drawn, axis=0).min() and np.mean(drawn, axis=0).max() < 1.0
  with pytest.raises(ValueError, match=r'mask_ratio .* must be in \(0, 1\)'):
    feature_losses.vitkd_kept_tokens(16, 1.0)
  with pytest.raises(ValueError, match=r'mask must be bool \[B, N\]'):
    feature_losses.vitkd_generation(teacher, teacher, jnp.ones((1, 4)))


def test_presets_config_checks_and_recipe():
  presets = methods.presets()
  for name in ('vitkd', 'nkd+vitkd', 'wttm+vitkd'):
    resolved = recipes.resolve(name, 'deit3_small_patch16_224', 'deit_tiny_patch16_224')
    c = resolved.config
    assert c.method == name == methods.method_name(c)
    assert (c.ce_weight, c.feature.weight) == (1.0, 1.0)
    assert (c.vitkd.alpha, c.vitkd.beta, c.vitkd.mask_ratio) == (3e-5, 3e-6, 0.5)
    assert 'deit-s3_distill_deit-t_img.py' in resolved.sources['vitkd.alpha']
    assert all(resolved.sources[key] for key in presets[name])
  nkd = recipes.resolve('nkd+vitkd', 'deit3_small_patch16_224', 'deit_tiny_patch16_224').config
  assert (nkd.logit.loss, nkd.nkd.temperature, nkd.nkd.gamma) == ('nkd', 1.0, 1.0)
  config = config_lib.apply_preset(config_lib.get_config(), 'vitkd')
  config.vitkd.mask_ratio = 1.0
  assert any('vitkd.mask_ratio' in p for p in methods.check_config(config))
  config.vitkd.mask_ratio = 0.5
  context = methods.Context(teacher='resnet8', student='vit_toy', num_classes=10,
                            num_examples=64, image_shape=(16, 16, 3))
  problems = methods.check_config(config, context)
  assert len(problems) == 1 and "'resnet8' is not one" in problems[0]



def test_nkd_plus_vitkd_objective_is_ce_plus_nkd_plus_both_vitkd_terms():
  """cls_KD's distiller sums the student's CE, loss_nkd (temp 1, gamma 1 in the DeiT configs)
  and loss_vitkd unweighted: the objective's terms and their sum (the mask drawn from the
  'sample' rng; the terms' values are checked against the reference above and in
  test_method_nkd.py)."""
  config = recipes.resolve('nkd+vitkd', 'deit3_small_patch16_224', 'deit_tiny_patch16_224').config
  objective = methods.build(config)
  assert objective.term_names == ('ce', 'kd', 'vitkd_mimic', 'vitkd_generation')
  rng = np.random.default_rng(1)
  inputs = _inputs([rng.normal(size=(B, 1 + N, 8)) for _ in range(2)],
                   [rng.normal(size=(B, 1 + N, 12)) for _ in range(2)])
  labels = jnp.asarray([1, 2, 3])
  inputs = inputs.replace(
      labels=labels, student=inputs.student.replace(logits=jnp.asarray(rng.normal(size=(B, 10)))),
      teacher=inputs.teacher.replace(logits=jnp.asarray(rng.normal(size=(B, 10)))))
  rngs = {'params': jax.random.key(0), 'sample': jax.random.key(1)}

  def run(inputs):
    variables = objective.init(rngs, inputs)
    return objective.apply(variables, inputs, rngs={'sample': jax.random.key(2)})

  loss, metrics = method_checks.run_once(run, inputs)
  z, v = inputs.student.logits, inputs.teacher.logits
  np.testing.assert_allclose(metrics['ce'], np.mean(optax_ce(z, labels)), rtol=1e-6)
  np.testing.assert_allclose(metrics['kd'], np.mean(nkd_lib.nkd(z, v, labels, temperature=1.0,
                                                                gamma=1.0)), rtol=1e-6)
  assert metrics['vitkd_mimic'] > 0 and metrics['vitkd_generation'] > 0
  np.testing.assert_allclose(loss, sum(metrics[n] for n in objective.term_names), rtol=1e-6)


def test_table_13_pair_builds_its_projections_and_generation_block():
  """DeiT III-Small (384 wide) -> DeiT-Tiny (192 wide), 14 x 14 tokens: the parameter shapes of
  cls_KD's align2 / align (Linear 192 -> 384), mask token and generation block (traced only)."""
  config = recipes.resolve('vitkd', 'deit3_small_patch16_224', 'deit_tiny_patch16_224').config
  context = methods.Context(teacher=config.teacher, student=config.student, num_classes=1000,
                            num_examples=1000)
  assert methods.check_config(config, context) == []
  term = methods.build(config, context).feature

  def outputs(name):
    return methods.Outputs(logits=jax.ShapeDtypeStruct((2, 1000), jnp.float32),
                           features=models.feature_shapes(name, batch_size=2))
  inputs = methods.StepInputs(student=outputs(config.student), teacher=outputs(config.teacher),
                              labels=jax.ShapeDtypeStruct((2,), jnp.int32))
  params = jax.eval_shape(lambda x: term.init({'params': jax.random.key(0),
                                              'sample': jax.random.key(1)}, x), inputs)['params']
  shapes = jax.tree.map(lambda a: a.shape, params)
  assert shapes == {
      'shallow_projection_0': {'kernel': (192, 384), 'bias': (384,)},
      'shallow_projection_1': {'kernel': (192, 384), 'bias': (384,)},
      'deep_projection': {'kernel': (192, 384), 'bias': (384,)},
      'mask_token': (1, 1, 384),
      'generation': {'conv0': {'kernel': (3, 3, 384, 384), 'bias': (384,)},
                     'conv1': {'kernel': (3, 3, 384, 384), 'bias': (384,)}}}
