"""NKD (Yang et al., ICCV 2023; yzd-v/cls_KD): the pure function, its config, LS composition, training.

The reference is ``_torch_nkd`` below, written from cls_KD ``mmcls/models/dis_losses/nkd.py``
(``NKDLoss.forward``): gather the target column of ``log_softmax(z)`` and ``softmax(v)``, remove
it by boolean mask, and take the cross-entropy of the non-target softmaxes at ``T`` scaled by
``-gamma * T^2``; its batch mean is compared with the mean of kdjax's per-example values.

Tolerances: kdjax runs float32, the reference float64 on the same inputs. Each per-example value is
a sum of K <= 100 float32 products of log-softmaxes whose magnitudes are O(10) here, so its
rounding error is ~K * 2^-24 * 10 ~ 1e-4 absolute at worst and ~1e-6 relative in practice: rtol
1e-5 with atol 1e-5 leaves room for the worst case of any CPU's summation order.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import references as ref
from kdjax import config as config_lib
from kdjax import methods
from kdjax.methods import nkd as nkd_lib
from tests import method_checks

torch = pytest.importorskip('torch')

RTOL, ATOL = 1e-5, 1e-5  # float32 vs float64 (module docstring)


def _torch_nkd(logit_s, logit_t, gt_label, *, temp, gamma, reduce=True):
  """cls_KD NKDLoss.forward, in float64 (per example with ``reduce=False``)."""
  logit_s = torch.as_tensor(np.asarray(logit_s, np.float64))
  logit_t = torch.as_tensor(np.asarray(logit_t, np.float64))
  gt_label = torch.as_tensor(np.asarray(gt_label))
  if gt_label.dim() > 1:
    label = torch.max(gt_label, dim=1, keepdim=True)[1]
  else:
    label = gt_label.view(len(gt_label), 1)
  n = logit_s.shape[0]
  s_t = torch.gather(torch.log_softmax(logit_s, dim=1), 1, label)
  t_t = torch.gather(torch.softmax(logit_t, dim=1), 1, label).detach()
  loss_t = -(t_t * s_t)[:, 0]
  mask = torch.ones_like(logit_s).scatter_(1, label, 0).bool()
  temp = torch.as_tensor(np.asarray(temp, np.float64)).reshape(-1, 1).expand(n, 1)
  s_non = torch.log_softmax(logit_s[mask].reshape(n, -1) / temp, dim=1)
  t_non = torch.softmax(logit_t[mask].reshape(n, -1) / temp, dim=1)
  loss_non = -gamma * temp[:, 0] ** 2 * (t_non * s_non).sum(dim=1)
  per_example = loss_t + loss_non
  return per_example.mean() if reduce else per_example


def _batch(seed, b=8, k=10):
  rng = np.random.default_rng(seed)
  z = (2.0 * rng.normal(size=(b, k))).astype(np.float32)
  v = (3.0 * rng.normal(size=(b, k)) + 1.0).astype(np.float32)
  y = rng.integers(0, k, size=b)
  return z, v, y


@pytest.mark.parametrize('temp, gamma', [(1.0, 1.5), (3.0, 3.5), (1.0, 1.0), (0.5, 0.0)])
def test_matches_the_reference_loss(temp, gamma):
  """The released ImageNet (T 1, gamma 1.5), CIFAR (3, 3.5) and DeiT (1, 1) settings."""
  z, v, y = _batch(0, 16, 100)
  got = nkd_lib.nkd(z, v, y, temperature=temp, gamma=gamma)
  assert got.shape == (16,) and got.dtype == jnp.float32
  np.testing.assert_allclose(np.mean(got), _torch_nkd(z, v, y, temp=temp, gamma=gamma).item(),
                             rtol=RTOL, atol=ATOL)
  np.testing.assert_allclose(got, _torch_nkd(z, v, y, temp=temp, gamma=gamma, reduce=False),
                             rtol=RTOL, atol=ATOL)


def test_student_gradient_matches_the_reference_autograd():
  z, v, y = _batch(1)
  # The reference's forward on a leaf tensor, so that autograd reaches the student logits.
  zt = torch.tensor(z.astype(np.float64), requires_grad=True)
  label = torch.as_tensor(y).view(-1, 1)
  vt = torch.as_tensor(v.astype(np.float64))
  s_t = torch.gather(torch.log_softmax(zt, 1), 1, label)
  t_t = torch.gather(torch.softmax(vt, 1), 1, label).detach()
  mask = torch.ones_like(zt).scatter_(1, label, 0).bool()
  s_non = torch.log_softmax(zt[mask].reshape(len(y), -1) / 2.0, 1)
  t_non = torch.softmax(vt[mask].reshape(len(y), -1) / 2.0, 1)
  (-(t_t * s_t).mean() - 1.5 * 4.0 * (t_non * s_non).sum(1).mean()).backward()
  grad = jax.grad(lambda z: jnp.mean(nkd_lib.nkd(z, v, y, temperature=2.0, gamma=1.5)))(z)
  np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=RTOL, atol=1e-6)
  teacher_grad = jax.grad(lambda v: jnp.sum(nkd_lib.nkd(z, v, y, temperature=2.0, gamma=1.5)))(v)
  assert np.all(np.isfinite(teacher_grad))  # the masked target column gives no 0 * inf


def test_hand_computed_case():
  """K 3, target 0, uniform student, teacher softmax (1/4, 1/4, 1/2).

  Target part: -(1/4) log(1/3). Non-target: the student's renormalised (1/2, 1/2) at any T, so
  sum_k q_k log p_k = -log 2 whatever the teacher's q: -gamma T^2 (-log 2) = gamma T^2 log 2.
  """
  z = np.zeros((1, 3), np.float32)
  v = np.log(np.array([[1.0, 1.0, 2.0]], np.float32))
  for temp in (1.0, 2.0):
    got = nkd_lib.nkd(z, v, np.array([0]), temperature=temp, gamma=1.5)
    np.testing.assert_allclose(got, [np.log(3) / 4 + 1.5 * temp**2 * np.log(2)], rtol=1e-6)
  # Student = teacher on the non-target classes: only the target part and the entropy remain.
  got = nkd_lib.nkd(v, v, np.array([2]), temperature=1.0, gamma=1.0)
  np.testing.assert_allclose(got, [-0.5 * np.log(0.5) + np.log(2)], rtol=1e-6)


def test_per_example_over_leading_batch_dims_and_per_example_temperature():
  z, v, y = _batch(2, 6)
  flat = nkd_lib.nkd(z, v, y, temperature=2.0, gamma=1.5)
  shaped = nkd_lib.nkd(z.reshape(2, 3, 10), v.reshape(2, 3, 10), y.reshape(2, 3),
                       temperature=2.0, gamma=1.5)
  assert shaped.shape == (2, 3)
  np.testing.assert_allclose(shaped.reshape(-1), flat, rtol=1e-6)
  temps = np.linspace(0.5, 4.0, 6).astype(np.float32)
  per_example = nkd_lib.nkd(z, v, y, temperature=temps, gamma=1.5)
  row = jax.jit(lambda z, v, y, t: nkd_lib.nkd(z[None], v[None], y[None], temperature=t,
                                                gamma=1.5)[0])
  rows = [row(z[i], v[i], y[i], temps[i]) for i in range(6)]
  np.testing.assert_allclose(per_example, rows, rtol=1e-6)
  np.testing.assert_allclose(per_example, _torch_nkd(z, v, y, temp=temps, gamma=1.5, reduce=False),
                             rtol=RTOL, atol=ATOL)
  with pytest.raises(ValueError, match='temperature of shape'):
    nkd_lib.nkd(z, v, y, temperature=np.ones(4), gamma=1.5)


def test_soft_labels_count_by_their_argmax():
  """2-D labels (Mixup/CutMix scores) are reduced to their argmax, as the reference does."""
  z, v, y = _batch(3)
  rng = np.random.default_rng(3)
  soft = 0.6 * np.eye(10)[y] + 0.4 * np.eye(10)[rng.integers(0, 10, size=8)] * 0.9
  got = nkd_lib.nkd(z, v, soft.astype(np.float32), temperature=1.0, gamma=1.5)
  np.testing.assert_array_equal(got, nkd_lib.nkd(z, v, y, temperature=1.0, gamma=1.5))
  np.testing.assert_allclose(np.mean(got), _torch_nkd(z, v, soft, temp=1.0, gamma=1.5).item(),
                             rtol=RTOL, atol=ATOL)
  with pytest.raises(ValueError, match='integer class indices'):
    nkd_lib.nkd(z, v, y.astype(np.float32), temperature=1.0, gamma=1.5)
  with pytest.raises(ValueError, match='labels of shape'):
    nkd_lib.nkd(z, v, y[:4], temperature=1.0, gamma=1.5)


def test_jit_and_vmap_equal_eager():
  z, v, y = _batch(4)
  eager = nkd_lib.nkd(z, v, y, temperature=2.0, gamma=1.5)
  fn = lambda z, v, y: nkd_lib.nkd(z, v, y, temperature=2.0, gamma=1.5)
  np.testing.assert_allclose(jax.jit(fn)(z, v, y), eager, rtol=1e-6)
  mapped = jax.vmap(lambda z, v, y: fn(z[None], v[None], y[None])[0])(z, v, y)
  np.testing.assert_allclose(mapped, eager, rtol=1e-6)


# ----------------------------------------------------------------------------- config and term


def _inputs(z, v, y):
  return methods.StepInputs(student=methods.Outputs(jnp.asarray(z)), labels=jnp.asarray(y),
                            teacher=methods.Outputs(jnp.asarray(v)))


def test_config_group_presets_names_and_checks():
  assert nkd_lib in methods.MODULES and {'nkd', 'nkd_ls'} <= set(methods.presets())  # discovered
  c = config_lib.get_config()
  assert (c.nkd.temperature, c.nkd.gamma) == (1.0, 1.5)  # NKDLoss's defaults (cls_KD)
  nkd = config_lib.apply_preset(c, 'nkd')
  assert config_lib.validate(nkd).method == 'nkd'
  assert (nkd.ce_weight, nkd.logit.weight, nkd.logit.standardize) == (1.0, 1.0, False)
  ls = config_lib.apply_preset(c, 'nkd_ls')
  assert config_lib.validate(ls).method == 'nkd_ls' and ls.logit.standardize
  for policy, name in (('ctkd', 'ctkd_nkd'), ('max_logit', 'nkd_maxlogit_raw')):
    other = config_lib.apply_preset(c, 'nkd')
    other.logit.policy = policy
    assert config_lib.validate(other).method == name
  assert 'nkd' in config_lib.field_meanings()['nkd.gamma']  # its comment cites the source
  bad = config_lib.apply_preset(c, 'nkd')
  bad.nkd.temperature, bad.nkd.gamma = 0.0, -1.0
  with pytest.raises(ValueError, match=r'nkd.temperature must be > 0.*nkd.gamma must be >= 0'):
    methods.build(bad)


def test_term_is_ce_plus_weighted_mean_nkd_at_nkds_own_temperature():
  z, v, y = _batch(5)
  c = config_lib.apply_preset(config_lib.get_config(), 'nkd')
  c.nkd.temperature, c.nkd.gamma, c.logit.weight = 3.0, 3.5, 2.0
  distillation = methods.build(c)
  loss, metrics = distillation.apply({}, _inputs(z, v, y))
  expected = 2.0 * _torch_nkd(z, v, y, temp=3.0, gamma=3.5).item()
  np.testing.assert_allclose(metrics['kd'], expected, rtol=RTOL, atol=ATOL)
  np.testing.assert_allclose(loss, ref.cross_entropy(z, y).mean() + expected, rtol=RTOL)
  assert float(metrics['temperature_mean']) == 3.0  # nkd.temperature, not logit.temperature (4)


def test_ls_composition_standardises_the_logits_reaching_nkd():
  """nkd_ls: both parts of NKD on the z-scores of Sun et al. (ddof 1, eps 1e-7)."""
  z, v, y = _batch(6)
  c = config_lib.apply_preset(config_lib.get_config(), 'nkd_ls')
  _, metrics = methods.build(c).apply({}, _inputs(z, v, y))
  expected = _torch_nkd(ref.zscore(z), ref.zscore(v), y, temp=1.0, gamma=1.5).item()
  np.testing.assert_allclose(metrics['kd'], expected, rtol=RTOL, atol=ATOL)
  raw = _torch_nkd(z, v, y, temp=1.0, gamma=1.5).item()
  assert abs(expected - raw) > 100 * ATOL  # standardising changes the value: the test can see it


def test_max_logit_policy_feeds_its_per_example_temperature():
  z, v, y = _batch(7)
  c = config_lib.apply_preset(config_lib.get_config(), 'nkd_ls')
  c.logit.policy = 'max_logit'
  _, metrics = methods.build(c).apply({}, _inputs(z, v, y))
  temps = ref.max_logit(z, v)
  expected = _torch_nkd(ref.zscore(z), ref.zscore(v), y, temp=temps, gamma=1.5).item()
  np.testing.assert_allclose(metrics['kd'], expected, rtol=RTOL, atol=ATOL)


@pytest.mark.slow
def test_a_method_without_a_published_cell_trains_alike_on_one_and_two_devices_and_resumes(
    tmp_path):
  """A short real run of the trainer (resnet8 pair, 2 epochs of 2 steps) on a preset no recipe
  has (NKD + LS): stopped after epoch 1 and resumed it ends as the uninterrupted run, and 2
  simulated devices give the 1-device result (NKD's per-example terms are batch means of the
  GLOBAL batch there too)."""
  from kdjax import train  # pylint: disable=import-outside-toplevel
  config = method_checks.smoke('nkd_ls', lr=0.005)  # near-linear steps: method_checks.RTOL
  assert config.method == 'nkd_ls'
  run = train.prepare_run(config)
  initial = run.program.init(np.uint32(config.seed), **train.init_data(run))
  reference = method_checks.assert_resumes_exactly(config, tmp_path,
                                                   keys=('train_loss', 'train_kd', 'test_top1'))
  rows = method_checks.metric_rows(str(tmp_path / 'uninterrupted'))
  assert [r['epoch'] for r in rows] == [1, 2]
  for row in rows:
    # Both parts of NKD are cross-entropies (>= 0): a positive, finite term was logged.
    assert np.isfinite(row['train_loss']) and 0 < row['train_kd'] < row['train_loss'], row
  two = method_checks.run_on_devices({'nkd_ls': config}, 2, tmp_path)
  assert two['devices'] == 2 and two['nkd_ls']['replicated']
  one = {'state': method_checks.state_leaves(reference.state),
         'initial': method_checks.state_leaves(initial), 'rows': rows}
  method_checks.assert_same_runs(one, two['nkd_ls'])

