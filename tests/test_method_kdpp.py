"""KD++ (Wang et al., ICCV 2023): the ND loss, the class centres and the term against PyTorch
written from WangYZ1608/Knowledge-Distillation-via-ND, a hand-computed case, its config and
ImageNet recipe; SRRL and KD++ train on 1 and 2 devices alike, and KD++ resumes exactly."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kdjax import feature_losses
from kdjax import methods
from kdjax import recipes
from kdjax.methods import kdpp
from tests import feature_inputs
from tests import method_checks

RNG = np.random.default_rng(0)
# float32 dot products and norms of O(1) vectors of a few dozen entries: rounding ~1e-6
# relative; 1e-5 leaves room for the different summation orders (1e-6 absolute near zero).
RTOL, ATOL = 1e-5, 1e-6


def _torch_nd(s_emb, t_emb, t_centers, labels):
  """``ImageNet/utils.py`` ``DirectNormLoss`` (nd_loss_factor 1): ``project_center``'s
  per-example sum over the batch, divided by the batch size; ``t_centers`` is the class-mean
  dict of ``center_emb_train.json`` (str(label) -> list)."""
  loss = 0.0
  for s, t, i in zip(s_emb, t_emb, labels):
    center = torch.tensor(t_centers[str(int(i))])
    e_c = center / center.norm(p=2)
    max_norm = max(s.norm(p=2), t.norm(p=2))
    loss += 1 - torch.dot(s, e_c) / max_norm
  return loss / len(labels)


def _torch_kd(s_out, t_out, factor, temperature):
  """``ImageNet/utils.py`` ``KDLoss``: batchmean KL at T, times T^2 and kl_loss_factor."""
  return F.kl_div(F.log_softmax(s_out / temperature, dim=1), F.softmax(t_out / temperature, dim=1),
                  reduction='batchmean') * temperature ** 2 * factor


def _centers_json(embeddings, labels):
  """``ImageNet/emb_fea_distribution.py``: the per-class mean embedding (as its json dict)."""
  return {str(k): embeddings[labels == k].mean(0).tolist() for k in np.unique(labels)}


def _batch(n=6, d=8):
  s = RNG.normal(size=(n, d)).astype(np.float32)
  t = RNG.normal(size=(n, d)).astype(np.float32)
  s[::2] *= 3.0  # half the examples with ||s|| > ||t||: the max picks the student's norm
  return s, t


def test_nd_loss_and_its_gradient_match_the_reference():
  s, t = _batch()
  labels = np.array([0, 1, 1, 2, 0, 2])
  pool = RNG.normal(size=(30, 8)).astype(np.float32)
  pool_labels = np.arange(30) % 3
  centers = _centers_json(pool, pool_labels)
  c = np.stack([np.asarray(centers[str(k)], np.float32) for k in labels])
  ours, grad = jax.value_and_grad(lambda x: jnp.mean(feature_losses.nd_loss(x, t, c)))(s)
  x = torch.tensor(s, requires_grad=True)
  reference = _torch_nd(x, torch.tensor(t), centers, labels)
  reference.backward()
  np.testing.assert_allclose(ours, reference.item(), rtol=RTOL)
  np.testing.assert_allclose(grad, x.grad.numpy(), rtol=RTOL, atol=ATOL)
  assert feature_losses.nd_loss(s, t, c).shape == (6,)


def test_hand_computed_case():
  # s = (3, 4), t = (6, 8): max norm 10, centre direction (1, 0): 1 - 3/10 = 0.7.
  # s = (0, 20) longer than t = (6, 8): max norm 20, centre (0, 5) -> (0, 1): 1 - 20/20 = 0.
  s = np.array([[3.0, 4.0], [0.0, 20.0]], np.float32)
  t = np.array([[6.0, 8.0], [6.0, 8.0]], np.float32)
  c = np.array([[2.0, 0.0], [0.0, 5.0]], np.float32)
  np.testing.assert_allclose(feature_losses.nd_loss(s, t, c), [0.7, 0.0], rtol=1e-6, atol=1e-7)


def test_class_sums_point_along_the_reference_class_means():
  embeddings = RNG.normal(size=(12, 5)).astype(np.float32) + 1.0
  labels = np.array([3, 0, 3, 1, 0, 3, 1, 1, 0, 3, 0, 1])
  start = RNG.normal(size=(4, 5)).astype(np.float32)
  sums = feature_losses.class_sums_update(start, embeddings, labels)
  expected = start.copy()
  for e, k in zip(embeddings, labels):
    expected[k] += e
  np.testing.assert_allclose(sums, expected, rtol=RTOL, atol=ATOL)
  means = _centers_json(embeddings, labels)
  from_zero = feature_losses.class_sums_update(np.zeros((4, 5), np.float32), embeddings, labels)
  for k, mean in means.items():
    direction = np.asarray(from_zero[int(k)]) / np.linalg.norm(from_zero[int(k)])
    np.testing.assert_allclose(direction, np.asarray(mean) / np.linalg.norm(mean), rtol=RTOL,
                               atol=ATOL)
  assert not np.any(from_zero[2])  # class 2 has no example
  with pytest.raises(ValueError, match='integer class labels'):
    feature_losses.class_sums_update(start, embeddings, labels.astype(np.float32))


def test_jit_and_vmap_equal_eager():
  s = RNG.normal(size=(3, 4, 6)).astype(np.float32)
  t = RNG.normal(size=(3, 4, 6)).astype(np.float32)
  c = RNG.normal(size=(3, 4, 6)).astype(np.float32)
  eager = np.stack([feature_losses.nd_loss(*args) for args in zip(s, t, c)])
  np.testing.assert_allclose(jax.jit(jax.vmap(feature_losses.nd_loss))(s, t, c), eager,
                             rtol=RTOL, atol=ATOL)


def test_epoch_scalars_warm_kd_up_from_zero_and_accumulate_the_first_epoch():
  config = method_checks.smoke('kdpp')
  scalars = [kdpp.KDPP.epoch_scalars(config, epoch) for epoch in range(1, 8)]
  # train_kd.py: min(1.0, epoch / 5) with epochs from 0.
  np.testing.assert_allclose([s['kdpp_warmup'] for s in scalars], [0, 0.2, 0.4, 0.6, 0.8, 1, 1])
  assert [s['kdpp_accumulate'] for s in scalars] == [1.0] + [0.0] * 6


def _term(teacher, student, **overrides):
  config = method_checks.smoke('kdpp', teacher=teacher, student=student, **overrides)
  return methods.build(config, feature_inputs.context(teacher, student)).feature


@pytest.mark.parametrize('accumulate', [1.0, 0.0])
def test_term_matches_the_reference_training_loss(accumulate):
  """``train_kd.py``'s ``div_loss + norm_dir_loss`` at warm-up 0.4 with the r34 -> r18 factors;
  the centres are the stored sums plus the batch while accumulating, else the stored sums."""
  term = _term('resnet8', 'resnet8', **{'kdpp.kd_weight': 2.5, 'kdpp.nd_weight': 1.0})
  assert term.student_width == term.teacher_width == 64
  n, k = 6, feature_inputs.NUM_CLASSES
  student = feature_inputs.random_features(RNG, [], pooled=64, batch=n)
  teacher = feature_inputs.random_features(RNG, [], pooled=64, batch=n)
  labels = np.array([0, 4, 4, 9, 0, 1])
  z = RNG.normal(size=(n, k)).astype(np.float32) * 2
  v = RNG.normal(size=(n, k)).astype(np.float32) * 2
  inputs = methods.StepInputs(
      student=methods.Outputs(jnp.asarray(z), student), teacher=methods.Outputs(jnp.asarray(v),
                                                                                teacher),
      labels=jnp.asarray(labels),
      scalars={'kdpp_warmup': jnp.float32(0.4), 'kdpp_accumulate': jnp.float32(accumulate)})
  variables = feature_inputs.init(term, inputs)
  assert set(variables) == {'state'}  # no embedding transform at equal widths
  stored = RNG.normal(size=(k, 64)).astype(np.float32)
  out, updates = jax.jit(lambda x: term.apply({'state': {'class_sums': stored}}, x, True,
                                              mutable=['state']))(inputs)
  t_emb = np.asarray(teacher.pooled)
  sums = stored.copy()
  if accumulate:
    for e, y in zip(t_emb, labels):
      sums[y] += e
  np.testing.assert_allclose(updates['state']['class_sums'], sums, rtol=RTOL, atol=ATOL)
  centers = {str(y): sums[y].tolist() for y in range(k)}  # a centre's scale does not count
  s_emb = torch.tensor(np.asarray(student.pooled))
  nd = _torch_nd(s_emb, torch.tensor(t_emb), centers, labels)
  kd = _torch_kd(torch.tensor(z), torch.tensor(v), 2.5, 1.0) * min(1.0, 2 / 5.0)
  np.testing.assert_allclose(out['kdpp_nd'], nd.item(), rtol=RTOL)
  np.testing.assert_allclose(out['kdpp_kd'], kd.item(), rtol=RTOL)


def test_embedding_transform_at_different_widths_matches_embtrans_in_eval_mode():
  """``EmbTrans.fc1`` (BatchNorm1d, Dropout(0.5), Linear) of a 64-wide student to a 256-wide
  teacher: its init, and its eval-mode output against PyTorch."""
  module = kdpp.EmbeddingTransform(256)
  x = jnp.asarray(RNG.normal(size=(4, 64)), jnp.float32)
  variables = method_checks.run_once(lambda key, x: module.init({'params': key}, x, False),
                                     jax.random.key(0), x)
  dense = variables['params']['2']
  # N(0, 0.01) weights and biases: 16384 kernel draws estimate the std within 1% (sd 0.6%).
  np.testing.assert_allclose(np.std(dense['kernel']), 0.01, rtol=0.05)
  assert 0.005 < np.std(dense['bias']) < 0.015  # 256 draws: sd of the estimate 4.4%
  np.testing.assert_array_equal(variables['params']['0']['scale'], np.ones(64))
  stats = {'mean': jnp.asarray(RNG.normal(size=64), jnp.float32),
           'var': jnp.asarray(RNG.uniform(0.5, 2, 64), jnp.float32)}
  ours = module.apply({'params': variables['params'], 'batch_stats': {'0': stats}}, x, False)
  fc1 = torch.nn.Sequential(torch.nn.BatchNorm1d(64), torch.nn.Dropout(0.5),
                            torch.nn.Linear(64, 256))
  with torch.no_grad():
    fc1[0].running_mean.copy_(torch.tensor(np.asarray(stats['mean'])))
    fc1[0].running_var.copy_(torch.tensor(np.asarray(stats['var'])))
    fc1[2].weight.copy_(torch.tensor(np.asarray(dense['kernel']).T))
    fc1[2].bias.copy_(torch.tensor(np.asarray(dense['bias'])))
  fc1.eval()
  np.testing.assert_allclose(ours, fc1(torch.tensor(np.asarray(x))).detach().numpy(), rtol=1e-4,
                             atol=1e-6)
  term = _term('resnet8x4', 'resnet8')
  assert (term.student_width, term.teacher_width) == (64, 256)


def test_preset_recipe_and_checks():
  preset = methods.presets()['kdpp']
  assert preset['feature.loss'] == 'kdpp' and preset['logit.loss'] == 'none'
  for pair, (kd_weight, nd_weight) in ((recipes.IN_R18, (2.5, 1.0)), (recipes.IN_MV1, (4.0, 1.0)),
                                       (('resnet101', 'resnet18'), (3.5, 4.0))):
    resolved = recipes.resolve('kdpp', *pair, recipe='imagenet', strict=True)
    c = resolved.config
    assert (c.method, c.ce_weight, c.feature.weight) == ('kdpp', 1.0, 1.0)
    assert (c.kdpp.kd_weight, c.kdpp.nd_weight, c.kdpp.temperature, c.kdpp.warmup_epochs) == (
        kd_weight, nd_weight, 1.0, 5.0)
    assert (c.batch_size, c.lr, c.epochs, tuple(c.lr_decay_epochs), c.momentum, c.weight_decay,
            c.nesterov, c.weight_decay_mask) == (512, 0.2, 100, (30, 60, 90), 0.9, 1e-4, True,
                                                 'all')
    assert 'ImageNet/train.sh' in resolved.sources['kdpp.kd_weight']
    assert 'nesterov=True' in resolved.sources['nesterov']
    assert resolved.sources['kdpp.center_epochs'].startswith('kdjax:')
  config = method_checks.smoke('kdpp')
  config.kdpp.temperature, config.kdpp.center_epochs = 0.0, 0
  problems = methods.check_config(config)
  assert any('kdpp.temperature' in p for p in problems)
  assert any('kdpp.center_epochs' in p for p in problems)


@pytest.mark.slow
def test_srrl_and_kdpp_train_alike_on_one_and_two_devices_and_resume_exactly(tmp_path):
  """Smoke runs of resnet8 -> resnet8, one subprocess per device count; then each stopped after
  epoch 1 (KD++: its class sums accumulated, the KD warm-up at 0) and resumed ends as the
  uninterrupted run. (KD++'s embedding transform, for teachers of another width, is checked
  against PyTorch above and traced in the Table 5 cells' train steps, tests/test_cells_build.py.)"""
  configs = {'srrl': method_checks.smoke('srrl', lr=0.005),
             'kdpp': method_checks.smoke('kdpp', lr=0.005)}
  one = method_checks.run_on_devices(configs, 1, tmp_path)
  two = method_checks.run_on_devices(configs, 2, tmp_path)
  assert (one['devices'], two['devices']) == (1, 2)
  margins = {}
  for name in configs:
    margins[name] = method_checks.assert_same_runs(one[name], two[name])
    assert two[name]['replicated'], name
  print('largest difference / allowed:', margins)
  sums = [value for key, value in one['kdpp']['state'].items() if 'class_sums' in key]
  assert len(sums) == 1 and np.any(sums[0] != 0)  # the first epoch's teacher embeddings
  for name, config in configs.items():
    method_checks.assert_resumes_exactly(config, tmp_path / name)
