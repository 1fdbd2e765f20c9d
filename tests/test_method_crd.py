"""CRD: negatives, memory, Z and NCE value against a numpy reference; init; presets and recipes;
bad memory sizes; training, exact resume (memory and Z included), 1 vs 2 devices (with ReviewKD)."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kdjax import methods
from kdjax import models
from kdjax import recipes
from kdjax import steps
from kdjax import train
from kdjax.methods import crd
from tests import method_checks

N, C, B, S_DIM, T_DIM = 48, 4, 6, 5, 7
# Functions compiled once per test: XLA's CPU backend optimisation costs more than it saves here.
jit = functools.partial(jax.jit, compiler_options={'xla_backend_optimization_level': 0})


def _labels(n=N, num_classes=C, seed=0):
  return np.random.default_rng(seed).integers(0, num_classes, n).astype(np.int32)


def _inputs(labels, step_seed=0, batch=B, dataset_labels=None):
  rng = np.random.default_rng(100 + step_seed)
  index = rng.permutation(len(labels))[:batch].astype(np.int32)
  pooled = lambda d: jnp.asarray(rng.normal(size=(batch, d)), jnp.float32)
  feats = lambda d: models.Features(feats=(), preact_feats=(), pooled=pooled(d))
  return methods.StepInputs(
      student=methods.Outputs(jnp.zeros((batch, C)), feats(S_DIM)),
      labels=jnp.asarray(labels[index]),
      teacher=methods.Outputs(jnp.zeros((batch, C)), feats(T_DIM)), indices=jnp.asarray(index),
      dataset_labels=None if dataset_labels is None else jnp.asarray(dataset_labels))


def _term(nce_k=16, n=N, num_classes=C, **overrides):
  config = method_checks.smoke('crd', **{'crd.nce_k': nce_k, **overrides})
  context = methods.Context(teacher='resnet8', student='resnet8', num_classes=num_classes,
                            num_examples=n)
  return methods.build(config, context).feature


def _init(term, labels):
  return jit(lambda inputs: term.init({'params': jax.random.key(0), 'sample': jax.random.key(1)},
                                      inputs, False))(_inputs(labels, dataset_labels=labels))


@functools.lru_cache
def _jitted_step(term):
  def step(variables, inputs, key):
    out, updates = term.apply(variables, inputs, True, mutable=['state', 'intermediates'],
                              rngs={'sample': key})
    return out, updates['state'], updates['intermediates']['contrast_idx'][0]
  return jit(step)


def _step(term, variables, inputs, key):
  return _jitted_step(term)(variables, inputs, key)


# ------------------------------------------------------------------- numpy reference (crd/*.py)


def _embed(params, x):
  y = np.asarray(x, np.float64) @ np.asarray(params['linear']['kernel'], np.float64) + np.asarray(
      params['linear']['bias'], np.float64)
  return y / np.sqrt(np.sum(y ** 2, axis=1, keepdims=True))


def _nce(x, n_data):  # ContrastLoss.forward
  m = x.shape[1] - 1
  pn, eps = 1.0 / n_data, 1e-7
  log_d1 = np.log(x[:, 0] / (x[:, 0] + m * pn + eps))
  log_d0 = np.log((m * pn) / (x[:, 1:] + m * pn + eps))
  return -(log_d1.sum() + log_d0.sum()) / x.shape[0]


def _reference_step(state, params, inputs, idx, T=0.07, momentum=0.5, n_data=N):
  """ContrastMemory.forward + the two ContrastLoss of CRDLoss, in float64."""
  v1 = _embed(params['embed_student'], inputs.student.features.pooled)
  v2 = _embed(params['embed_teacher'], inputs.teacher.features.pooled)
  mem_s, mem_t = (np.asarray(state[k], np.float64) for k in ('memory_student', 'memory_teacher'))
  out_v1 = np.exp(np.einsum('bkd,bd->bk', mem_t[idx], v1) / T)  # student vs teacher bank
  out_v2 = np.exp(np.einsum('bkd,bd->bk', mem_s[idx], v2) / T)
  z1, z2 = float(state['z_student']), float(state['z_teacher'])
  z1 = out_v1.mean() * n_data if z1 < 0 else z1
  z2 = out_v2.mean() * n_data if z2 < 0 else z2
  loss = _nce(out_v1 / z1, n_data) + _nce(out_v2 / z2, n_data)
  y = np.asarray(inputs.indices)
  new = {}
  for name, bank, v in (('memory_student', mem_s, v1), ('memory_teacher', mem_t, v2)):
    rows = bank[y] * momentum + v * (1 - momentum)
    bank = bank.copy()
    bank[y] = rows / np.sqrt(np.sum(rows ** 2, axis=1, keepdims=True))
    new[name] = bank
  return loss, z1, z2, new


# ------------------------------------------------------------------- tests


def test_class_tables_and_negatives():
  labels = _labels()
  order, start = jit(crd.class_tables, static_argnums=1)(jnp.asarray(labels), C)
  assert np.array_equal(np.asarray(order), np.argsort(labels, kind='stable'))
  draw = jit(crd.draw_contrast_indices, static_argnums=(5, 6))
  assert np.array_equal(np.asarray(start),
                        np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=C))]))
  index = np.arange(0, N, 5, dtype=np.int32)
  key = jax.random.key(3)
  idx = np.asarray(draw(key, jnp.asarray(index), jnp.asarray(labels[index]), order, start, 3000,
                        'exact'))
  assert idx.shape == (len(index), 3001)
  assert np.array_equal(idx[:, 0], index)  # the positive (the example itself) first
  for row, y in zip(idx, labels[index]):
    negatives = row[1:]
    assert np.all(labels[negatives] != y)  # never the anchor's class
    others = np.flatnonzero(labels != y)
    assert set(negatives) == set(others)  # every other-class example can be drawn
    counts = np.bincount(negatives, minlength=N)[others]  # uniform: 3000 draws over ~36 rows
    assert counts.min() > 0.5 * counts.mean() and counts.max() < 1.6 * counts.mean()
  again = draw(key, jnp.asarray(index), jnp.asarray(labels[index]), order, start, 3000, 'exact')
  assert np.array_equal(np.asarray(again), idx)
  other = draw(jax.random.key(4), jnp.asarray(index), jnp.asarray(labels[index]), order, start,
               3000, 'exact')
  assert not np.array_equal(np.asarray(other), idx)
  relax = np.asarray(draw(key, jnp.asarray(index), jnp.asarray(labels[index]), order, start, 8,
                          'relax'))
  assert np.all(labels[relax[:, 0]] == labels[index]) and not np.array_equal(relax[:, 0], index)


def test_init_matches_the_reference():
  labels = _labels()
  term = _term()
  variables = _init(term, labels)
  state, params = variables['state'], variables['params']
  stdv = 1 / math.sqrt(128 / 3)
  for name in ('memory_student', 'memory_teacher'):
    bank = np.asarray(state[name])
    assert bank.shape == (N, 128) and bank.dtype == np.float32
    assert np.abs(bank).max() <= stdv and abs(bank.std() - stdv / math.sqrt(3)) < 0.01
    assert not np.allclose(np.linalg.norm(bank, axis=1), 1.0)  # not unit-norm until written
  assert not np.array_equal(state['memory_student'], state['memory_teacher'])
  assert float(state['z_student']) == float(state['z_teacher']) == -1.0
  order = np.argsort(labels, kind='stable')
  start = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=C))])
  assert np.array_equal(state['class_order'], order) and np.array_equal(state['class_start'], start)
  for name, dim in (('embed_student', S_DIM), ('embed_teacher', T_DIM)):
    linear = params[name]['linear']
    assert linear['kernel'].shape == (dim, 128) and linear['bias'].shape == (128,)
    bound = 1 / math.sqrt(dim)  # PyTorch's default Linear init
    assert np.abs(linear['kernel']).max() <= bound and np.abs(linear['bias']).max() <= bound


@pytest.mark.parametrize('nce_k', [16, 16384])  # 16384: the real default, on a 48-row memory
def test_two_steps_match_the_numpy_reference(nce_k):
  labels = _labels()
  term = _term(nce_k)
  variables = _init(term, labels)
  state = variables['state']
  z = None
  for step in range(2):
    inputs = _inputs(labels, step_seed=step)
    out, new_state, idx = _step(term, {**variables, 'state': state}, inputs, jax.random.key(step))
    idx = np.asarray(idx)
    assert idx.shape == (B, nce_k + 1) and np.array_equal(idx[:, 0], inputs.indices)
    assert np.all(labels[idx[:, 1:]] != np.asarray(inputs.labels)[:, None])
    loss, z1, z2, banks = _reference_step(state, variables['params'], inputs, idx)
    np.testing.assert_allclose(out['crd'], loss, rtol=2e-5)
    np.testing.assert_allclose([new_state['z_student'], new_state['z_teacher']], [z1, z2],
                               rtol=2e-5)
    if z is not None:  # Z is fixed by the first step and kept.
      assert (float(new_state['z_student']), float(new_state['z_teacher'])) == z
    z = (float(new_state['z_student']), float(new_state['z_teacher']))
    for name, bank in banks.items():
      np.testing.assert_allclose(new_state[name], bank, rtol=1e-5, atol=1e-6)
      untouched = np.setdiff1d(np.arange(N), inputs.indices)
      np.testing.assert_array_equal(new_state[name][untouched], state[name][untouched])
    state = new_state


def test_draws_follow_the_step_key_and_gradients_reach_the_embeddings():
  labels = _labels()
  term = _term()
  variables = _init(term, labels)
  inputs = _inputs(labels)

  def key(seed, epoch, step):  # kdjax.steps.build_program's sample key
    k = jax.random.key(seed)
    for value in (epoch, step, steps.SAMPLE_STREAM):
      k = jax.random.fold_in(k, value)
    return k

  a = _step(term, variables, inputs, key(0, 1, 5))[2]
  b = _step(term, variables, inputs, key(0, 1, 5))[2]
  c = _step(term, variables, inputs, key(0, 1, 6))[2]
  assert np.array_equal(a, b) and not np.array_equal(a, c)

  def loss(params):
    return term.apply({**variables, 'params': params}, inputs, True, mutable=['state'],
                      rngs={'sample': key(0, 1, 5)})[0]['crd']

  grads = jit(jax.grad(loss))(variables['params'])
  for name in ('embed_student', 'embed_teacher'):
    assert np.abs(grads[name]['linear']['kernel']).max() > 0
  # Not at init: the trainer's init neither writes the memory nor fixes Z.
  assert float(_init(term, labels)['state']['z_student']) == -1.0


def test_composite_weights_of_the_presets():
  labels = _labels()
  context = methods.Context(teacher='resnet8', student='resnet8', num_classes=C, num_examples=N)
  inputs = _inputs(labels, dataset_labels=labels)
  rng = np.random.default_rng(1)
  logits = lambda: jnp.asarray(rng.normal(size=(B, C)), jnp.float32)
  inputs = inputs.replace(student=inputs.student.replace(logits=logits()),
                          teacher=inputs.teacher.replace(logits=logits()))
  crd_terms = []
  for name in ('crd', 'kd+crd'):
    distillation = methods.build(method_checks.smoke(name, **{'crd.nce_k': 16}), context)
    variables = jit(lambda i: distillation.init(  # pylint: disable=cell-var-from-loop
        {'params': jax.random.key(0), 'sample': jax.random.key(1)}, i, False))(inputs)

    @jit
    def run(variables, inputs, distillation=distillation):
      apply = functools.partial(distillation.apply, variables, inputs, mutable=['state'],
                                rngs={'sample': jax.random.key(2)})
      # The feature term alone, at its path in the composite: the same draws.
      return apply(True)[0], apply(method=lambda module, i: module.feature(i, True))[0]

    (loss, terms), raw = run(variables, inputs)
    np.testing.assert_allclose(terms['crd'], 0.8 * raw['crd'], rtol=1e-6)
    assert distillation.term_names == (('ce', 'crd') if name == 'crd' else ('ce', 'kd', 'crd'))
    np.testing.assert_allclose(loss, sum(terms[n] for n in distillation.term_names), rtol=1e-6)
    crd_terms.append(terms['crd'])
  assert float(crd_terms[0]) == float(crd_terms[1])


def test_presets_and_recipes():
  presets = methods.presets()
  assert presets['crd'] == {'ce_weight': 1.0, 'logit.loss': 'none', 'logit.weight': 0.0,
                            'feature.loss': 'crd', 'feature.weight': 0.8, 'crd.feat_dim': 128,
                            'crd.nce_k': 16384, 'crd.nce_t': 0.07, 'crd.nce_m': 0.5,
                            'crd.mode': 'exact'}
  assert presets['kd+crd']['logit.loss'] == 'kd' and presets['kd+crd']['logit.temperature'] == 4.0
  pair = ('resnet32x4', 'resnet8x4')
  for recipe, must in (('seed001', 'mdistiller/engine/cfg.py'),
                       ('seed002', 'zkxufo/TTM train_student.py'),
                       ('seed000', 'default:'), ('imagenet', 'mdistiller/engine/cfg.py')):
    for name in ('crd', 'kd+crd'):
      teacher, student = ('resnet34', 'resnet18') if recipe == 'imagenet' else pair
      resolved = recipes.resolve(name, teacher, student, recipe=recipe)
      c, sources = resolved.config, resolved.sources
      assert c.method == name
      assert (c.ce_weight, c.feature.loss, c.feature.weight) == (1.0, 'crd', 0.8)
      assert (c.crd.feat_dim, c.crd.nce_k, c.crd.nce_t, c.crd.nce_m, c.crd.mode) == (
          128, 16384, 0.07, 0.5, 'exact')
      assert c.crd.num_data is None
      if name == 'kd+crd':
        assert (c.logit.loss, c.logit.temperature, c.logit.weight) == ('kd', 4.0, 1.0)
        assert 'run_cifar_distill.sh' in sources['logit.weight']
      else:
        assert c.logit.loss == 'none'
      for field in ('ce_weight', 'feature.weight', 'crd.nce_k', 'crd.nce_t', 'crd.nce_m',
                    'crd.feat_dim', 'crd.mode', 'feature.loss'):
        assert field in sources, (recipe, name, field)
      assert must in sources['crd.nce_k'], (recipe, sources['crd.nce_k'])
      if recipe == 'seed000':
        assert all(sources[f].startswith('default:') for f in ('ce_weight', 'feature.weight',
                                                               'crd.nce_k'))
      if recipe == 'imagenet':
        assert (c.batch_size, c.lr, c.epochs, tuple(c.lr_decay_epochs), c.weight_decay) == (
            256, 0.1, 100, (30, 60, 90), 1e-4)
        assert 'configs/imagenet/r34_r18/crd.yaml' in sources['batch_size']
  assert 'run_cifar_distill.sh' in recipes.resolve('crd', *pair, recipe='seed002').sources[
      'feature.weight']
  assert recipes.default_recipe('kd+crd', *pair) == 'seed002'
  assert 'crd' in recipes.PRESET_SOURCES and 'kd+crd' in recipes.PRESET_SOURCES


def test_bad_settings_and_memory_sizes_fail_before_compiling(tmp_path):
  context = methods.Context(teacher='resnet8', student='resnet8', num_classes=C, num_examples=N)
  config = method_checks.smoke('crd', **{'crd.num_data': 50000})
  with pytest.raises(ValueError, match='memory size crd.num_data=50000 differs .* 48 examples'):
    methods.build(config, context)
  config = method_checks.smoke('crd', **{'crd.num_data': N})
  assert methods.build(config, context).feature.num_data == N
  for field, value, message in (('crd.nce_t', 0.0, 'nce_t must be > 0'),
                                ('crd.nce_m', 1.0, r'nce_m must be in \[0, 1\)'),
                                ('crd.mode', 'loose', 'crd.mode must be one of'),
                                ('crd.nce_k', 0, 'nce_k must be >= 1')):
    with pytest.raises(ValueError, match=message):
      methods.build(method_checks.smoke('crd', **{field: value}), context)
  with pytest.raises(ValueError, match='pass a kdjax.methods.Context'):
    methods.build(method_checks.smoke('crd'))
  # At init: the memory has one row per training example.
  labels = _labels(N + 2)
  with pytest.raises(ValueError, match='memory size 48 differs .*50'):
    _init(_term(), labels)
  with pytest.raises(ValueError, match='training labels'):
    _term().init({'params': jax.random.key(0), 'sample': jax.random.key(1)}, _inputs(_labels()),
                 False)
  # A run: refused while its program is set up (the smoke data have 16 training examples).
  with pytest.raises(ValueError, match='differs from the training set\'s 16 examples'):
    train.prepare_run(method_checks.smoke('crd', **{'crd.num_data': 50000}))


@pytest.mark.slow
def test_trains_and_resumes_exactly(tmp_path):
  config = method_checks.smoke('crd', **{'crd.nce_k': 64})
  result = method_checks.assert_resumes_exactly(config, tmp_path)  # the whole state: memory, Z
  state = result.state.method_state['feature']
  assert float(state['z_student']) > 0 and float(state['z_teacher']) > 0
  for name in ('memory_student', 'memory_teacher'):  # every row written (2 epochs of 16 examples)
    np.testing.assert_allclose(np.linalg.norm(state[name], axis=1), 1.0, rtol=1e-5)
  params = result.state.params['method']['feature']
  assert set(params) == {'embed_student', 'embed_teacher'}
  rows = method_checks.metric_rows(str(tmp_path / 'uninterrupted'))
  assert all(np.isfinite(r['train_crd']) and r['train_crd'] > 0 for r in rows)


@pytest.mark.slow
def test_crd_and_reviewkd_on_one_and_two_devices_agree(tmp_path):
  # At lr 0.005 and part by part (see method_checks): per entry, merely slicing the
  # convolutions' batch differently on ONE device (conv_batch_chunks=2) moved the third /
  # fourth gradients of kd+crd and reviewkd (random teacher) by 2e-3 at lr 0.02, as much as 2
  # devices did; part by part, with --xla_cpu_max_isa=SSE4_2, the runs differ by <= 0.004 of
  # RTOL.
  configs = {'crd': method_checks.smoke('crd', **{'crd.nce_k': 64, 'lr': 0.005}),
             'kd_crd': method_checks.smoke('kd+crd', **{'crd.nce_k': 64, 'lr': 0.005}),
             'reviewkd': method_checks.smoke('reviewkd', **{'reviewkd.warmup_epochs': 2,
                                                           'lr': 0.005})}
  one = method_checks.run_on_devices(configs, 1, tmp_path)
  two = method_checks.run_on_devices(configs, 2, tmp_path)
  assert (one['devices'], two['devices']) == (1, 2)
  margins = {name: method_checks.assert_same_runs(one[name], two[name])  # memories included
             for name in configs}
  print('largest difference / allowed:', margins)
  for name in configs:
    assert two[name]['replicated']
  for name in ('crd', 'kd_crd'):
    keys = [k for k in one[name]['state'] if 'memory_' in k or 'z_' in k or 'class_' in k]
    assert len(keys) == 6, keys
    for key in keys:
      if 'class_' in key:  # integer sample tables: identical
        np.testing.assert_array_equal(one[name]['state'][key], two[name]['state'][key])
