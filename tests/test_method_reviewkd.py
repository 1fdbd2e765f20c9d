"""ReviewKD: nearest resizing and the ABF against torch, the ABF chain and the term's value, the
shapes of mdistiller's configs, the warm-up, presets and recipes, stage-count errors, training.
(The 1 vs 2 device check of ReviewKD runs with CRD's: tests/test_method_crd.py.)"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kdjax import feature_losses
from kdjax import methods
from kdjax import models
from kdjax import recipes
from kdjax.methods import reviewkd
from kdjax.models import features as features_lib
from tests import method_checks

B = 3
# Functions compiled once per test: XLA's CPU backend optimisation costs more than it saves here.
jit = functools.partial(jax.jit, compiler_options={'xla_backend_optimization_level': 0})


def _features(name, batch=B, seed=0):
  shapes = features_lib.feature_shapes(name, batch_size=batch)
  rng = np.random.default_rng(seed)
  make = lambda s: jnp.asarray(rng.normal(size=s.shape), jnp.float32)
  return models.Features(feats=tuple(make(s) for s in shapes.feats),
                         preact_feats=tuple(make(s) for s in shapes.preact_feats),
                         pooled=make(shapes.pooled))


def _inputs(student, teacher, warmup=1.0):
  batch = student.pooled.shape[0]
  return methods.StepInputs(
      student=methods.Outputs(jnp.zeros((batch, 10)), student), labels=jnp.zeros(batch, jnp.int32),
      teacher=methods.Outputs(jnp.zeros((batch, 10)), teacher),
      scalars={reviewkd.WARMUP: jnp.float32(warmup)})


def _shape_inputs(student, teacher, stu_preact=False):
  """Abstract inputs of two registry models (nothing computed)."""
  shapes = lambda name: features_lib.feature_shapes(name, batch_size=2)
  logits = jax.ShapeDtypeStruct((2, 10), jnp.float32)
  return methods.StepInputs(student=methods.Outputs(logits, shapes(student)),
                            labels=jax.ShapeDtypeStruct((2,), jnp.int32),
                            teacher=methods.Outputs(logits, shapes(teacher)),
                            scalars={reviewkd.WARMUP: jax.ShapeDtypeStruct((), jnp.float32)})


@pytest.mark.parametrize('size_in, size_out', [(1, 8), (4, 8), (7, 14), (3, 7), (8, 8), (7, 4),
                                                (32, 16), (5, 3)])
def test_nearest_resize_matches_torch(size_in, size_out):
  torch = pytest.importorskip('torch')
  x = np.random.default_rng(0).normal(size=(2, size_in, size_in, 3)).astype(np.float32)
  expected = torch.nn.functional.interpolate(torch.from_numpy(x.transpose(0, 3, 1, 2)),
                                             (size_out, size_out), mode='nearest')
  got = reviewkd.resize_nearest(jnp.asarray(x), (size_out, size_out))
  np.testing.assert_array_equal(got, expected.numpy().transpose(0, 2, 3, 1))


def _torch_abf(torch, params, x, residual, out_shape, fuse):
  """The ABF forward in torch ops, train-mode BatchNorm (NCHW in and out)."""
  F = torch.nn.functional
  t = lambda a: torch.from_numpy(np.array(a))
  kernel = lambda p: t(np.asarray(p['kernel']).transpose(3, 2, 0, 1))  # HWIO -> OIHW
  bn = lambda h, p: F.batch_norm(h, None, None, t(p['scale']), t(p['bias']), training=True,
                                 eps=1e-5)
  h = bn(F.conv2d(x, kernel(params['conv1'])), params['bn1'])
  if fuse:
    y = F.interpolate(residual, h.shape[2:], mode='nearest')
    z = torch.sigmoid(F.conv2d(torch.cat([h, y], 1), kernel(params['att_conv']),
                               t(params['att_conv']['bias'])))
    h = h * z[:, 0:1] + y * z[:, 1:2]
  if h.shape[-1] != out_shape:
    h = F.interpolate(h, (out_shape, out_shape), mode='nearest')
  return bn(F.conv2d(h, kernel(params['conv2']), padding=1), params['bn2']), h


@pytest.mark.parametrize('fuse, size, residual_size, out_shape', [
    (False, 1, None, 1), (True, 8, 1, 8), (True, 4, 2, 8), (True, 16, 8, 16)])
def test_abf_matches_torch(fuse, size, residual_size, out_shape):
  torch = pytest.importorskip('torch')
  rng = np.random.default_rng(1)
  mid, out = 6, 5
  x = rng.normal(size=(4, size, size, 3)).astype(np.float32)
  residual = (rng.normal(size=(4, residual_size, residual_size, mid)).astype(np.float32)
              if fuse else None)
  abf = reviewkd.ABF(mid, out, fuse)
  variables = jit(abf.init, static_argnums=(3, 4))(jax.random.key(0), x, residual,
                                                    (out_shape, out_shape), False)
  (got, got_res), _ = jit(functools.partial(abf.apply, mutable=['batch_stats']),
                          static_argnums=(3, 4))(variables, x, residual, (out_shape, out_shape),
                                                 True)
  nchw = lambda a: torch.from_numpy(a.transpose(0, 3, 1, 2).copy())
  expected, expected_res = _torch_abf(torch, variables['params'], nchw(x),
                                      nchw(residual) if fuse else None, out_shape, fuse)
  np.testing.assert_allclose(got, expected.numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(got_res, expected_res.numpy().transpose(0, 2, 3, 1), rtol=1e-4,
                             atol=1e-5)


def test_abf_initialisation_matches_the_reference():
  abf = reviewkd.ABF(64, 32, True)
  variables = jit(abf.init, static_argnums=(3, 4))(
      jax.random.key(0), jnp.zeros((2, 8, 8, 48)), jnp.zeros((2, 1, 1, 64)), (8, 8), False)
  p = variables['params']
  assert set(p) == {'conv1', 'bn1', 'conv2', 'bn2', 'att_conv'}
  assert 'bias' not in p['conv1'] and 'bias' not in p['conv2']
  for name, fan_in in (('conv1', 48), ('conv2', 64 * 9)):  # kaiming_uniform_(a=1)
    w = np.asarray(p[name]['kernel'])
    bound = math.sqrt(3 / fan_in)
    assert np.abs(w).max() <= bound and abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
  bound = 1 / math.sqrt(128)  # att_conv: PyTorch's default Conv2d init, bias included
  assert p['att_conv']['kernel'].shape == (1, 1, 128, 2)
  assert np.abs(p['att_conv']['kernel']).max() <= bound
  assert np.abs(p['att_conv']['bias']).max() <= bound and np.any(p['att_conv']['bias'] != 0)
  for name in ('bn1', 'bn2'):
    assert np.all(p[name]['scale'] == 1) and np.all(p[name]['bias'] == 0)
  assert 'att_conv' not in jax.eval_shape(functools.partial(
      reviewkd.ABF(8, 8, False).init, residual=None, out_shape=(1, 1), train=False),
      jax.random.key(0), jnp.zeros((2, 1, 1, 8)))['params']


def test_term_is_the_warmed_up_hcl_of_the_abf_chain():
  rng = np.random.default_rng(0)
  make = lambda *shape: jnp.asarray(rng.normal(size=(2, *shape)), jnp.float32)
  # A CIFAR-ResNet-like layout (stem, s1, s2, s3), small: channels differ between the models.
  maps = lambda *channels: tuple(make(s, s, c) for s, c in zip((8, 8, 4, 2), channels))
  student = models.Features(feats=maps(4, 4, 6, 8), preact_feats=maps(4, 4, 6, 8), pooled=make(8))
  teacher = models.Features(feats=maps(3, 5, 6, 7), preact_feats=maps(3, 5, 6, 7), pooled=make(7))
  term = methods.build(method_checks.smoke('reviewkd')).feature
  inputs = _inputs(student, teacher, warmup=0.25)
  variables = jit(lambda i: term.init(jax.random.key(0), i, False))(inputs)

  @jit
  def run(variables, inputs):
    out, state = term.apply(variables, inputs, True, capture_intermediates=True,
                            mutable=['batch_stats', 'intermediates'])
    return out['reviewkd'], [state['intermediates'][f'abf{k}']['__call__'][0][0]
                             for k in range(4)][::-1]  # shallow first

  loss, results = run(variables, inputs)
  assert [r.shape[1:] for r in results] == [(8, 8, 5), (4, 4, 6), (2, 2, 7), (1, 1, 7)]
  targets = list(teacher.preact_feats[1:]) + [teacher.pooled[:, None, None, :]]
  np.testing.assert_allclose(loss, 0.25 * jit(feature_losses.review_hcl)(results, targets),
                             rtol=1e-5)
  # Student f1, f2, f3, pooled in (deepest first); mid = min(512, student pooled width 8).
  assert [variables['params'][f'abf{k}']['conv1']['kernel'].shape[2:] for k in range(4)] == [
      (8, 8), (8, 8), (6, 8), (4, 8)]

  @jit
  def chain(variables, xs):  # One ABF at a time: deepest first, each fed the deeper residual.
    outs, residual = [], None
    for k, x in enumerate(xs):
      abf = reviewkd.ABF(8, targets[3 - k].shape[-1], k > 0)
      (out, residual), _ = abf.apply(
          {'params': variables['params'][f'abf{k}'],
           'batch_stats': variables['batch_stats'][f'abf{k}']}, x, residual,
          targets[3 - k].shape[1:3], True, mutable=['batch_stats'])
      outs.insert(0, out)
    return outs

  xs = [student.pooled[:, None, None, :], student.feats[3], student.feats[2], student.feats[1]]
  for got, want in zip(chain(variables, xs), results):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  # f0 of the student and the teacher's activated feats are not used (mdistiller's zip / preacts).
  changed = student.replace(feats=(student.feats[0] + 1.0,) + student.feats[1:],
                            preact_feats=tuple(f + 1.0 for f in student.preact_feats))
  unused = teacher.replace(feats=tuple(f + 1.0 for f in teacher.feats))
  np.testing.assert_allclose(run(variables, _inputs(changed, unused, 0.25))[0], loss, rtol=1e-6)


@pytest.mark.parametrize('teacher, student, stu_preact, in_channels, out_shapes', [
    # mdistiller cfg.py defaults (configs/cifar100/reviewkd.yaml): SHAPES = OUT_SHAPES
    # [1, 8, 16, 32], IN_CHANNELS = OUT_CHANNELS [64, 128, 256, 256].
    ('resnet32x4', 'resnet8x4', False, [64, 128, 256, 256],
     [(32, 32, 64), (16, 16, 128), (8, 8, 256), (1, 1, 256)]),
    # mdistiller configs/imagenet/r34_r18/reviewkd.yaml: IN/OUT_CHANNELS [64,128,256,512,512].
    ('resnet34', 'resnet18', True, [64, 128, 256, 512, 512],
     [(56, 56, 64), (28, 28, 128), (14, 14, 256), (7, 7, 512), (1, 1, 512)]),
    # r50_mv1: IN [128,256,512,1024,1024], OUT [256,512,1024,2048,2048]; mid min(512, 1024).
    ('resnet50', 'MobileNetV1', True, [128, 256, 512, 1024, 1024],
     [(56, 56, 256), (28, 28, 512), (14, 14, 1024), (7, 7, 2048), (1, 1, 2048)]),
    # A CIFAR pair with different map sizes: vgg8's 4x4 / 8x8 maps resized to the teacher's.
    ('resnet32x4', 'vgg8', False, [256, 512, 512, 512],
     [(32, 32, 64), (16, 16, 128), (8, 8, 256), (1, 1, 256)]),
])
def test_shapes_of_the_reference_configs(teacher, student, stu_preact, in_channels, out_shapes):
  config = method_checks.smoke('reviewkd', **{'reviewkd.stu_preact': stu_preact})
  term = methods.build(config, methods.Context(teacher, student, 10, 16)).feature
  inputs = _shape_inputs(student, teacher)
  variables = jax.eval_shape(lambda i: term.init(jax.random.key(0), i, False), inputs)
  params = variables['params']
  n = len(out_shapes)
  assert sorted(params) == [f'abf{k}' for k in range(n)]
  # abf{k} is mdistiller's abfs[k] (deepest first).
  assert [params[f'abf{k}']['conv1']['kernel'].shape[2] for k in range(n)][::-1] == in_channels
  mid = min(512, in_channels[-1])
  assert {params[f'abf{k}']['conv1']['kernel'].shape[3] for k in range(n)} == {mid}
  assert [params[f'abf{k}']['conv2']['kernel'].shape[3] for k in range(n)][::-1] == [
      s[-1] for s in out_shapes]
  assert 'att_conv' not in params['abf0'] and all('att_conv' in params[f'abf{k}']
                                                  for k in range(1, n))
  captured = jax.eval_shape(lambda v, i: term.apply(
      v, i, True, capture_intermediates=True, mutable=['batch_stats', 'intermediates'])[1],
      variables, inputs)['intermediates']
  assert [captured[f'abf{k}']['__call__'][0][0].shape[1:] for k in range(n)][::-1] == out_shapes


def test_warmup_factor_per_epoch():
  config = method_checks.smoke('reviewkd', **{'reviewkd.warmup_epochs': 20})
  assert [reviewkd.warmup_factor(config, e) for e in (1, 10, 20, 21, 240)] == [
      0.05, 0.5, 1.0, 1.0, 1.0]
  assert methods.epoch_scalars(config, 1) == {reviewkd.WARMUP: 0.05}
  imagenet = recipes.resolve('reviewkd', 'resnet34', 'resnet18').config
  assert methods.epoch_scalars(imagenet, 1) == {reviewkd.WARMUP: 1.0}
  with pytest.raises(ValueError, match='counted from 1'):
    reviewkd.warmup_factor(config, 0)
  # The step and the trainer's init pass the factor (its name is declared: scalar_names);
  # without it the term refuses to guess, at init too.
  assert methods.scalar_names(config) == (reviewkd.WARMUP,)
  student, teacher = _features('resnet8', batch=2), _features('resnet8', batch=2, seed=1)
  term = methods.build(config).feature
  no_scalars = _inputs(student, teacher).replace(scalars={})
  variables = jax.eval_shape(lambda i: term.init(jax.random.key(0), i, False),
                             _inputs(student, teacher))
  with pytest.raises(ValueError, match='reviewkd_warmup'):
    jax.eval_shape(lambda i: term.init(jax.random.key(0), i, False), no_scalars)
  with pytest.raises(ValueError, match='reviewkd_warmup'):
    jax.eval_shape(lambda v, i: term.apply(v, i, True, mutable=['batch_stats']), variables,
                   no_scalars)


def test_presets_and_recipes():
  assert methods.presets()['reviewkd'] == {
      'ce_weight': 1.0, 'logit.loss': 'none', 'logit.weight': 0.0, 'feature.loss': 'reviewkd',
      'feature.weight': 5.0, 'reviewkd.warmup_epochs': 20, 'reviewkd.max_mid_channel': 512,
      'reviewkd.stu_preact': False}
  cifar = ('resnet32x4', 'resnet8x4')
  for recipe in ('seed001', 'seed002', 'seed000'):
    resolved = recipes.resolve('reviewkd', *cifar, recipe=recipe)
    c, sources = resolved.config, resolved.sources
    assert c.method == 'reviewkd' and (c.ce_weight, c.feature.weight) == (1.0, 5.0)
    assert (c.reviewkd.warmup_epochs, c.reviewkd.max_mid_channel, c.reviewkd.stu_preact) == (
        20, 512, False)
    assert (c.batch_size, c.lr, c.epochs) == (64, 0.05, 240)
    for field in ('ce_weight', 'feature.weight', 'reviewkd.warmup_epochs',
                  'reviewkd.max_mid_channel', 'reviewkd.stu_preact'):
      assert field in sources
    if recipe == 'seed000':
      assert all(sources[f].startswith('default:') for f in ('ce_weight', 'feature.weight',
                                                             'reviewkd.warmup_epochs'))
  sources = recipes.resolve('reviewkd', *cifar, recipe='seed001').sources
  assert 'configs/cifar100/reviewkd.yaml' in sources['feature.weight']
  assert 'mdistiller/engine/cfg.py' in sources['reviewkd.warmup_epochs']
  assert 'ReviewKD.py' in sources['reviewkd.max_mid_channel']
  # The other published CIFAR pairs: the authors' script; pairs without one: mdistiller's 5.0.
  resolved = recipes.resolve('reviewkd', 'resnet56', 'resnet20', recipe='seed001')
  assert resolved.config.feature.weight == 0.6
  assert ('dvlab-research/ReviewKD CIFAR-100/script/reviewKD.sh'
          in resolved.sources['feature.weight'])
  assert recipes.resolve('reviewkd', 'resnet32x4', 'ShuffleV2').config.feature.weight == 8.0
  resolved = recipes.resolve('reviewkd', 'vgg13', 'vgg8', recipe='seed001')
  assert resolved.config.feature.weight == 5.0
  assert resolved.sources['feature.weight'].startswith('default:')
  with pytest.raises(KeyError):
    recipes.resolve('reviewkd', 'vgg13', 'vgg8', recipe='seed001', strict=True)
  # ImageNet: mdistiller configs/imagenet/*/reviewkd.yaml.
  for pair, weight, file in ((('resnet34', 'resnet18'), 1.0, 'r34_r18/reviewkd.yaml'),
                             (('resnet50', 'MobileNetV1'), 8.0, 'r50_mv1/reviewkd.yaml')):
    resolved = recipes.resolve('reviewkd', *pair)
    c = resolved.config
    assert (c.batch_size, c.lr, c.epochs, tuple(c.lr_decay_epochs), c.weight_decay) == (
        256, 0.1, 100, (30, 60, 90), 1e-4)
    assert (c.ce_weight, c.feature.weight, c.reviewkd.warmup_epochs, c.reviewkd.stu_preact,
            c.reviewkd.max_mid_channel) == (1.0, weight, 1, True, 512)
    assert file in resolved.sources['feature.weight']
    assert 'configs/imagenet' in resolved.sources['batch_size']
    assert 'MAX_MID_CHANNEL 256 has no effect' in resolved.sources['reviewkd.max_mid_channel']
  assert 'reviewkd' in recipes.PRESET_SOURCES


def test_mismatched_stages_fail_before_compiling():
  config = method_checks.smoke('reviewkd')
  for teacher, student, preact, message in (
      ('resnet32x4', 'MobileNetV2', True, 'needs the student\'s preact_feats: MobileNetV2'),
      ('MobileNetV2', 'resnet8', False, 'teacher MobileNetV2 has 0 preact_feats')):
    c = method_checks.smoke('reviewkd', **{'reviewkd.stu_preact': preact})
    with pytest.raises(ValueError, match=message):
      methods.build(c, methods.Context(teacher, student, 100, 16))
  assert methods.build(config, methods.Context('resnet32x4', 'MobileNetV2', 100, 16)).feature
  for field, value in (('reviewkd.warmup_epochs', 0), ('reviewkd.max_mid_channel', 0)):
    with pytest.raises(ValueError, match=field):
      methods.build(method_checks.smoke('reviewkd', **{field: value}))
  # Features of models whose stages cannot be aligned: refused while tracing, before compiling.
  student, teacher = _features('resnet8', batch=2), _features('resnet8', batch=2, seed=1)
  short = student.replace(feats=student.feats[-2:])
  term = methods.build(config).feature
  with pytest.raises(ValueError, match='teacher .* has 3 stage maps \\+ pooled, student .* only 2'):
    jax.jit(lambda i: term.init(jax.random.key(0), i, False)).lower(_inputs(short, teacher))
  assert reviewkd.stage_problems(2, 4, False) and not reviewkd.stage_problems(3, 4, False)


@pytest.mark.slow
def test_trains_and_resumes_exactly(tmp_path):
  config = method_checks.smoke('reviewkd', **{'reviewkd.warmup_epochs': 2})
  result = method_checks.assert_resumes_exactly(config, tmp_path)
  assert sorted(result.state.params['method']['feature']) == ['abf0', 'abf1', 'abf2', 'abf3']
  assert sorted(result.state.batch_stats['method']['feature']) == ['abf0', 'abf1', 'abf2', 'abf3']
  for k in range(4):  # every ABF takes part in the loss: its BatchNorm biases (0 at init) moved
    params = result.state.params['method']['feature'][f'abf{k}']
    assert np.abs(params['bn1']['bias']).max() > 0 and np.abs(params['bn2']['bias']).max() > 0
    if k:
      assert np.abs(params['att_conv']['kernel']).max() > 0
  rows = method_checks.metric_rows(str(tmp_path / 'uninterrupted'))
  assert [r[reviewkd.WARMUP] for r in rows] == [0.5, 1.0]
  assert all(np.isfinite(r['train_reviewkd']) and r['train_reviewkd'] > 0 for r in rows)
