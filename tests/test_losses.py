"""Tests for kdjax.losses (KD, CE, DKD, TTM/WTTM, DIST, MLKD, input checks).

Against numpy references; DIST also against a PyTorch re-implementation (skipped without torch).
"""

import math

import chex
import hypothesis
import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kdjax import losses
from kdjax import mlkd as mlkd_lib

SETTINGS = hypothesis.settings(deadline=None, max_examples=25, derandomize=True)
SHAPE = (4, 6)   # one shape for most tests: eager ops compile once per shape
LOGITS = hnp.arrays(np.float32, SHAPE, elements=st.floats(-15, 15, width=32))
LABELS = hnp.arrays(np.int32, SHAPE[:1], elements=st.integers(0, SHAPE[1] - 1))


# ----------------------------------------------------------------------------- numpy references


def np_log_softmax(x):
  x = np.asarray(x, np.float64)
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def np_softmax(x):
  return np.exp(np_log_softmax(x))


def np_kl(p, log_q):
  """sum p (log p - log q), 0 log 0 = 0."""
  safe = np.where(p > 0, p, 1.0)
  return np.sum(np.where(p > 0, p * (np.log(safe) - log_q), 0.0), -1)


def np_kd(z, v, t):
  z, v, t = (np.asarray(a, np.float64) for a in (z, v, t))
  t = t[..., None]
  return t[..., 0] ** 2 * np_kl(np_softmax(v / t), np_log_softmax(z / t))


def np_dkd_terms(z, v, y, t):
  """The reference's DKD code, line by line (plain log of the binary masses)."""
  z, v, t = (np.asarray(a, np.float64) for a in (z, v, t))
  t = t[..., None]
  gt = np.eye(z.shape[-1])[y]
  p_s, p_t = np_softmax(z / t), np_softmax(v / t)
  b_s = np.stack([(p_s * gt).sum(-1), (p_s * (1 - gt)).sum(-1)], -1)
  b_t = np.stack([(p_t * gt).sum(-1), (p_t * (1 - gt)).sum(-1)], -1)
  with np.errstate(divide="ignore", invalid="ignore"):   # log(0) where the reference breaks
    tckd = t[..., 0] ** 2 * np_kl(b_t, np.log(b_s))
  nckd = t[..., 0] ** 2 * np_kl(np_softmax(v / t - 1000 * gt), np_log_softmax(z / t - 1000 * gt))
  return tckd, nckd


def np_ttm_terms(z, v, gamma):
  z, v, gamma = (np.asarray(a, np.float64) for a in (z, v, gamma))
  gamma = gamma[..., None]
  powered = np_softmax(v) ** gamma
  u = powered.sum(-1)
  return np_kl(powered / u[..., None], np_log_softmax(z)), u


def np_ce(logits, y):
  return -np.take_along_axis(np_log_softmax(logits), np.asarray(y)[..., None], -1)[..., 0]


# ----------------------------------------------------------------------------- CE and KD


def test_hand_computed_values():
  # p_t = [3/4, 1/4], p_s = [1/2, 1/2]: KL = 3/4 log(3/2) + 1/4 log(1/2).
  kl = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
  z, v = jnp.array([0.0, 0.0]), jnp.array([math.log(3.0), 0.0])
  assert float(losses.kd(z, v, temperature=1.0)) == pytest.approx(kl, rel=1e-5)
  assert float(losses.kd(z, 2 * v, temperature=2.0)) == pytest.approx(4 * kl, rel=1e-5)
  assert float(losses.cross_entropy(v, jnp.array(1))) == pytest.approx(math.log(4.0), rel=1e-6)
  # TTM with gamma = 1/2: softmax(v)^(1/2) ~ [sqrt3, 1] -> p~ = [sqrt3, 1]/(1 + sqrt3).
  p = np.array([math.sqrt(3), 1.0]) / (1 + math.sqrt(3))
  u = (math.sqrt(3) + 1) / 2                                # sum of sqrt([3/4, 1/4])
  ttm_value = float(np.sum(p * np.log(p / 0.5)))
  assert float(losses.ttm(z, v, gamma=0.5)) == pytest.approx(ttm_value, rel=1e-5)
  assert float(losses.wttm(z, v, gamma=0.5)) == pytest.approx(u * ttm_value, rel=1e-5)
  # DKD, T = 1, label 0: p_t = [2, 2, 1]/5, p_s uniform. b_t = [.4, .6], b_s = [1/3, 2/3];
  # non-target parts [2/3, 1/3] vs [1/2, 1/2].
  z3, v3, y = jnp.zeros(3), jnp.log(jnp.array([2.0, 2.0, 1.0])), jnp.array(0)
  tckd_value = 0.4 * math.log(1.2) + 0.6 * math.log(0.9)
  nckd_value = 2 / 3 * math.log(4 / 3) + 1 / 3 * math.log(2 / 3)
  assert float(losses.tckd(z3, v3, y, temperature=1.0)) == pytest.approx(tckd_value, rel=1e-5)
  assert float(losses.nckd(z3, v3, y, temperature=1.0)) == pytest.approx(nckd_value, rel=1e-5)
  assert float(losses.dkd(z3, v3, y, alpha=2.0, beta=3.0, temperature=1.0)) == pytest.approx(
      2 * tckd_value + 3 * nckd_value, rel=1e-5)


@SETTINGS
@hypothesis.given(LOGITS, LOGITS, LABELS, st.sampled_from([1.0, 2.0, 4.0]))
def test_kd_ce_match_numpy(z, v, y, t):
  np.testing.assert_allclose(losses.kd(z, v, temperature=t), np_kd(z, v, t), rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(losses.cross_entropy(z, y), np_ce(z, y), rtol=1e-5, atol=1e-5)


def test_kd_per_example_temperature_and_teacher_temperature():
  rng = np.random.default_rng(0)
  z, v = rng.normal(size=SHAPE).astype(np.float32), rng.normal(size=SHAPE).astype(np.float32)
  t = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
  np.testing.assert_allclose(losses.kd(z, v, temperature=t), np_kd(z, v, t), rtol=1e-5)
  t_t = t[::-1].copy()
  expected = 9.0 * np_kl(np_softmax(v / t_t[:, None]), np_log_softmax(z / t[:, None]))
  np.testing.assert_allclose(
      losses.kd(z, v, temperature=t, teacher_temperature=t_t, loss_scale=9.0), expected, rtol=1e-5)
  with pytest.raises(ValueError, match="temperature of shape"):
    losses.kd(z, v, temperature=np.ones(6))


def test_kd_gradient_flows_through_temperature_twice():
  z, v = jnp.array([0.3, -1.0, 2.0]), jnp.array([1.0, 0.0, -0.5])
  grad = jax.grad(lambda t: losses.kd(z, v, temperature=t))(3.0)
  finite_diff = (np_kd(z, v, 3.001) - np_kd(z, v, 2.999)) / 0.002
  assert float(grad) == pytest.approx(float(finite_diff), rel=1e-3)


# ----------------------------------------------------------------------------- DKD


@SETTINGS
@hypothesis.given(LOGITS, LOGITS, LABELS, st.sampled_from([1.0, 4.0]))
def test_dkd_matches_reference_and_decomposes(z, v, y, t):
  tckd_ref, nckd_ref = np_dkd_terms(z, v, y, t)
  hypothesis.assume(np.all(np.isfinite(tckd_ref)))           # the reference's log(0) cases
  np.testing.assert_allclose(losses.tckd(z, v, y, temperature=t), tckd_ref, rtol=2e-4, atol=1e-5)
  np.testing.assert_allclose(losses.nckd(z, v, y, temperature=t), nckd_ref, rtol=2e-4, atol=1e-5)
  np.testing.assert_allclose(losses.dkd(z, v, y, alpha=1.0, beta=8.0, temperature=t),
                             tckd_ref + 8 * nckd_ref, rtol=2e-4, atol=1e-4)


def test_nckd_subtracts_1000_after_dividing_by_temperature():
  # T = 4. Row 0: targets at 2000 -> 500 - 1000, masked for both. Row 1: the teacher's target
  # at 4990 -> 1247.5 - 1000 stays unmasked while the student's (3000) is masked: a large NCKD,
  # as in the reference. Subtracting before dividing would unmask every target here.
  z = np.array([[2000.0, 1.0, -1.0, 0.5], [3000.0, 1.0, -1.0, 0.5]], np.float32)
  v = np.array([[2000.0, 0.0, 2.0, -1.0], [4990.0, 0.0, 2.0, -1.0]], np.float32)
  y = np.array([0, 0])
  expected = np_dkd_terms(z, v, y, 4.0)[1]
  np.testing.assert_allclose(losses.nckd(z, v, y, temperature=4.0), expected, rtol=1e-4)
  assert expected[0] > 1.0 and expected[1] > 1000.0


def test_dkd_identity_kl_equals_tckd_plus_weighted_nckd():
  rng = np.random.default_rng(1)
  z, v = rng.normal(size=SHAPE) * 2, rng.normal(size=SHAPE) * 2
  y = rng.integers(0, 6, size=4)
  t = 2.0
  p_t = np_softmax(v / t)
  nontarget_mass = 1.0 - p_t[np.arange(4), y]
  lhs = np_kd(z, v, t) / t ** 2
  rhs = (losses.tckd(z, v, y, temperature=t) + nontarget_mass * losses.nckd(z, v, y, temperature=t)) / t ** 2
  np.testing.assert_allclose(rhs, lhs, rtol=1e-5)


def test_dkd_two_classes_and_extreme_inputs_are_finite():
  z, v, y = jnp.array([[2.0, -1.0]]), jnp.array([[0.5, 0.0]]), jnp.array([0])
  assert float(losses.nckd(z, v, y, temperature=4.0)[0]) == 0.0
  assert np.isfinite(float(losses.dkd(z, v, y, alpha=1.0, beta=8.0, temperature=4.0)[0]))
  with pytest.raises(ValueError, match="at least 2 classes"):
    losses.dkd(z[:, :1], v[:, :1], y, alpha=1.0, beta=8.0, temperature=4.0)
  # The reference's log(b_s) is -inf here (student target mass underflows); ours stays finite,
  # also for a learned temperature near its lower end.
  z = jnp.array([[-1e4, 1e4, 0.0]])
  v = jnp.array([[1e4, -1e4, 0.0]])
  value_and_grad = jax.jit(jax.value_and_grad(
      lambda z, t: losses.dkd(z, v, jnp.array([0]), alpha=1.0, beta=8.0, temperature=t).sum(),
      argnums=(0, 1)))
  for t in (1.0, 4.0):
    value, grads = value_and_grad(z, t)
    assert np.isfinite(float(value)) and value > 0
    assert all(np.all(np.isfinite(g)) for g in grads)


# ----------------------------------------------------------------------------- TTM / WTTM


@SETTINGS
@hypothesis.given(LOGITS, LOGITS, st.sampled_from([0.1, 0.3, 0.7, 1.0]))
def test_ttm_wttm_match_numpy_and_power_transform(z, v, gamma):
  kl_ref, u_ref = np_ttm_terms(z, v, gamma)
  np.testing.assert_allclose(losses.ttm(z, v, gamma=gamma), kl_ref, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(losses.wttm(z, v, gamma=gamma), u_ref * kl_ref, rtol=1e-4, atol=1e-5)
  # Eq. 9: the power transform is temperature scaling with T = 1/gamma.
  np.testing.assert_allclose(losses.ttm(z, v, gamma=gamma),
                             np_kl(np_softmax(gamma * v), np_log_softmax(z)), rtol=1e-4, atol=1e-5)
  # 1 <= U <= K^(1-gamma).
  u = np.asarray(losses.wttm(z, v, gamma=gamma)) / np.maximum(np.asarray(losses.ttm(z, v, gamma=gamma)), 1e-30)
  ok = np.asarray(losses.ttm(z, v, gamma=gamma)) > 1e-3
  assert np.all(u[ok] >= 1 - 1e-4) and np.all(u[ok] <= SHAPE[1] ** (1 - gamma) * (1 + 1e-4))
  assert np.all(u_ref >= 1 - 1e-9) and np.all(u_ref <= SHAPE[1] ** (1 - gamma) * (1 + 1e-9))


def test_ttm_eq15_identity_and_gradient():
  rng = np.random.default_rng(2)
  z, v, t = rng.normal(size=(4, 6)) * 2, rng.normal(size=(4, 6)) * 3, 3.0
  q, q_t, p_tilde = np_softmax(z), np_softmax(z / t), np_softmax(v / t)
  renyi = np.log(np.sum(q ** (1 / t), -1)) / (1 - 1 / t)
  shannon = -np.sum(p_tilde * np.log(p_tilde), -1)
  rhs = t * np_kl(p_tilde, np.log(q_t)) - (t - 1) * renyi + (t - 1) * shannon        # Eq. 15
  np.testing.assert_allclose(losses.ttm(z, v, gamma=1 / t), rhs, rtol=1e-4)
  grad = jax.grad(lambda z: losses.ttm(z, v, gamma=1 / t).sum())(jnp.asarray(z, jnp.float32))
  np.testing.assert_allclose(grad, q - p_tilde, atol=1e-6)                            # Eq. 20
  gamma = np.array([0.1, 0.2, 0.5, 1.0])
  np.testing.assert_allclose(losses.wttm(z, v, gamma=gamma), np.prod(np_ttm_terms(z, v, gamma), 0),
                             rtol=1e-4)


# ----------------------------------------------------------------------------- DIST


DIST = jax.jit(losses.dist)   # one compile per shape (eager dispatch is slow on a busy CPU)


def torch_dist(z_s, z_t, beta, gamma, tau):
  """zkxufo/TTM distiller_zoo/dist.py behaviour (torch tensors in, a torch scalar out)."""
  def pearson(a, b, eps=1e-8):
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + eps)
  y_s, y_t = (z_s / tau).softmax(1), (z_t / tau).softmax(1)
  inter = tau ** 2 * (1 - pearson(y_s, y_t).mean())
  intra = tau ** 2 * (1 - pearson(y_s.t(), y_t.t()).mean())
  return beta * inter + gamma * intra


def test_dist_hand_value():
  # B = 2, K = 3, tau = 1. Softmax rows, then Pearson by hand (means, centred dot, norms).
  z = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 0.0]])
  v = np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
  y_s = np.exp(z) / np.exp(z).sum(1, keepdims=True)
  y_t = np.exp(v) / np.exp(v).sum(1, keepdims=True)

  def rho(a, b):
    a, b = a - a.mean(), b - b.mean()
    return (a * b).sum() / (math.sqrt((a * a).sum()) * math.sqrt((b * b).sum()) + 1e-8)

  inter = 1 - (rho(y_s[0], y_t[0]) + rho(y_s[1], y_t[1])) / 2
  intra = 1 - sum(rho(y_s[:, k], y_t[:, k]) for k in range(3)) / 3
  # With two samples every centred class column is (d, -d): rho = +-1 (the sign of d_s d_t);
  # class 0 and 2 move in opposite directions, class 1 in the same one.
  assert abs(intra - (1 - (-1 + 1 - 1) / 3)) < 1e-4   # up to the eps (small norms)
  got = DIST(z.astype(np.float32), v.astype(np.float32), beta=2.0, gamma=0.5)
  np.testing.assert_allclose(got, 2.0 * inter + 0.5 * intra, rtol=1e-5)


@pytest.mark.parametrize("tau, beta, gamma", [(1.0, 1.0, 1.0), (4.0, 2.0, 0.5)])
def test_dist_matches_torch(tau, beta, gamma):
  torch = pytest.importorskip("torch")
  z, v = np.random.default_rng(1).normal(0, 3, (2, 8, 10)).astype(np.float32)
  z64, v64 = torch.tensor(z, dtype=torch.float64), torch.tensor(v, dtype=torch.float64)
  want = torch_dist(z64, v64, beta, gamma, tau).item()
  got = DIST(z, v, beta=beta, gamma=gamma, temperature=tau)
  np.testing.assert_allclose(got, want, rtol=1e-5)
  # gradients w.r.t. the student logits as well
  z64.requires_grad_(True)
  torch_dist(z64, v64, beta, gamma, tau).backward()
  grad = jax.jit(jax.grad(lambda a: losses.dist(a, v, beta=beta, gamma=gamma,
                                                 temperature=tau)))(z)
  np.testing.assert_allclose(grad, z64.grad.numpy(), rtol=1e-4, atol=1e-7)


def test_dist_properties_and_jit_matches_eager():
  z, v = np.random.default_rng(2).normal(0, 2, (2, 6, 5)).astype(np.float32)
  assert abs(float(DIST(z, z, temperature=4.0))) < 1e-4   # 0 up to the 1e-8 eps
  assert float(DIST(z, v)) > 0
  # One sample: every class column is constant (zero norm): finite value and gradient.
  grad = jax.jit(jax.grad(lambda a: losses.dist(a, v[:1])))(z[:1])
  assert np.all(np.isfinite(grad))
  kwargs = dict(beta=1.0, gamma=2.0, temperature=4.0)
  np.testing.assert_allclose(DIST(z, v, **kwargs), losses.dist(z, v, **kwargs),
                             rtol=1e-5, atol=1e-7)


def test_dist_bad_inputs():
  z = np.zeros((2, 3, 4), np.float32)
  with pytest.raises(ValueError, match=r"\[batch, num_classes\]"):
    losses.dist(z, z)
  with pytest.raises(ValueError, match="same shape"):
    losses.dist(z[0], z[0, :2])
  with pytest.raises(ValueError, match="scalar"):
    losses.dist(z[0], z[0], temperature=np.ones(3))


# ----------------------------------------------------------------------------- MLKD


def np_mlkd(sw, ss, tw, ts, y, t0, ce_w, kd_w, standardize, masking="released"):
  """Direct reimplementation of the released MLKD forward pass."""
  sw, ss, tw, ts = (np.asarray(a, np.float64) for a in (sw, ss, tw, ts))
  zs = lambda x: (x - x.mean(-1, keepdims=True)) / (1e-7 + x.std(-1, ddof=1, keepdims=True))
  prep = zs if standardize else (lambda x: x)
  inst = lambda s, t, temp: np_kd(prep(s), prep(t), temp)      # per-example
  def cc(s, t, temp, w=1.0):
    ps, pt = np_softmax(s / temp), np_softmax(t / temp)
    return np.sum((pt.T @ pt - ps.T @ ps) ** 2 * w) / s.shape[1]
  def bc(s, t, temp, w=1.0):
    ps, pt = np_softmax(s / temp), np_softmax(t / temp)
    return np.sum((pt @ pt.T - ps @ ps.T) ** 2 * w) / s.shape[0]
  p = np_softmax(tw)
  conf, class_conf = p.max(-1), p.sum(0)
  mask = (conf <= np.percentile(conf, 50)).astype(float)
  class_mask = (class_conf <= np.percentile(class_conf, 50)).astype(float)
  temps = [t0, 3.0, 5.0, 2.0, 6.0]
  ce = ce_w * (np_ce(sw, y).mean() + np_ce(ss, y).mean())
  if masking == "released":
    kd_weak = sum(kd_w * (inst(sw, tw, t).mean() * mask).mean() for t in temps)
    cc_v = sum(kd_w * (cc(sw, tw, t) * class_mask).mean() for t in temps)
    bc_v = sum(kd_w * (bc(sw, tw, t) * mask).mean() for t in temps)
  else:
    kd_weak = sum(kd_w * (inst(sw, tw, t) * mask).mean() for t in temps)
    cc_v = sum(kd_w * cc(sw, tw, t, class_mask) for t in temps)
    bc_v = sum(kd_w * bc(sw, tw, t, mask) for t in temps)
  kd_strong = kd_w * (inst(ss, ts, t0).mean() + inst(ss, ts, 3.0).mean() + inst(ss, ts, 5.0).mean()
                      + inst(sw, tw, 2.0).mean() + inst(sw, tw, 6.0).mean())
  return {"ce": ce, "kd": kd_weak + kd_strong, "cc": cc_v, "bc": bc_v}


@pytest.fixture(scope="module")
def mlkd_batch():
  rng = np.random.default_rng(3)
  b, k = 7, 10   # odd batch: sample fraction 4/7, class fraction 1/2
  arrays = [(rng.normal(size=(b, k)) * s).astype(np.float32) for s in (1.0, 1.5, 3.0, 2.5)]
  return (*arrays, rng.integers(0, k, size=b).astype(np.int32))


@pytest.mark.parametrize("standardize,masking,t0,kd_w", [
    (False, "released", 4.0, 0.9), (True, "released", 2.0, 9.0), (False, "per_sample", 4.0, 0.9)])
def test_mlkd_matches_direct_reimplementation(mlkd_batch, standardize, masking, t0, kd_w):
  terms = losses.mlkd(*mlkd_batch, temperature=t0, ce_weight=0.1, kd_weight=kd_w,
                      standardize=standardize, masking=masking)
  expected = np_mlkd(*mlkd_batch, t0, 0.1, kd_w, standardize, masking)
  assert set(terms) == {"ce", "kd", "cc", "bc"}
  for name in expected:
    assert terms[name].shape == ()
    np.testing.assert_allclose(terms[name], expected[name], rtol=1e-4, err_msg=name)


def test_mlkd_masking_option_differs_and_masks_select_half(mlkd_batch):
  sample_mask, class_mask = mlkd_lib.confidence_masks(mlkd_batch[2])
  assert float(sample_mask.sum()) == 4 and float(class_mask.sum()) == 5
  kwargs = dict(temperature=4.0, ce_weight=0.1, kd_weight=0.9, standardize=False)
  released = losses.mlkd(*mlkd_batch, **kwargs)
  per_sample = losses.mlkd(*mlkd_batch, masking="per_sample", **kwargs)
  assert float(released["ce"]) == float(per_sample["ce"])
  for name in ("kd", "cc", "bc"):
    assert abs(float(released[name]) - float(per_sample[name])) > 1e-6 * abs(float(released[name]))
  with pytest.raises(ValueError, match="masking"):
    losses.mlkd(*mlkd_batch, masking="paper", **kwargs)
  with pytest.raises(ValueError, match=r"\[B, K\]"):
    losses.mlkd(*(a[None] for a in mlkd_batch[:4]), mlkd_batch[4], **kwargs)


def test_mlkd_is_differentiable_and_jittable(mlkd_batch):
  sw, ss, tw, ts, y = mlkd_batch
  total = lambda sw, ss: sum(losses.mlkd(sw, ss, tw, ts, y, temperature=2.0, ce_weight=0.1,
                                         kd_weight=9.0, standardize=True).values())
  value, grads = jax.jit(jax.value_and_grad(total, argnums=(0, 1)))(sw, ss)
  assert all(np.all(np.isfinite(g)) and np.abs(g).sum() > 0 for g in grads)
  np.testing.assert_allclose(value, sum(np_mlkd(sw, ss, tw, ts, y, 2.0, 0.1, 9.0, True).values()),
                             rtol=1e-4)


# ----------------------------------------------------------------------------- jit / vmap / traces


# tckd/nckd are the two terms of dkd (checked against the reference above), so dkd covers them here.
PER_EXAMPLE_LOSSES = {
    "kd": lambda z, v, y, t: losses.kd(z, v, temperature=t),
    "dkd": lambda z, v, y, t: losses.dkd(z, v, y, alpha=1.0, beta=8.0, temperature=t),
    "ttm": lambda z, v, y, t: losses.ttm(z, v, gamma=1 / t),
    "wttm": lambda z, v, y, t: losses.wttm(z, v, gamma=1 / t),
    "ce": lambda z, v, y, t: losses.cross_entropy(z, y),
}


@pytest.fixture(scope="module")
def batch():
  rng = np.random.default_rng(4)
  z = rng.normal(size=(4, 6)).astype(np.float32) * 2
  v = rng.normal(size=(4, 6)).astype(np.float32) * 3
  return z, v, rng.integers(0, 6, size=4).astype(np.int32), np.array([1.0, 2.0, 3.0, 4.0], np.float32)


@pytest.mark.parametrize("name", sorted(PER_EXAMPLE_LOSSES))
def test_jit_vmap_and_no_retrace(batch, name):
  fn = PER_EXAMPLE_LOSSES[name]
  eager = fn(*batch)
  assert eager.shape == (4,) and eager.dtype == jnp.float32
  chex.clear_trace_counter()  # counters are keyed by function hash: another test's lambda may share it
  traced = jax.jit(chex.assert_max_traces(fn, n=1))
  np.testing.assert_allclose(traced(*batch), eager, rtol=1e-5, atol=1e-6)
  z, v, y, t = batch
  np.testing.assert_allclose(traced(z + 1.0, v, y, t * 0.5), fn(z + 1.0, v, y, t * 0.5), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(jax.vmap(fn)(*batch), eager, rtol=1e-5, atol=1e-6)
  # Any leading batch shape: [2, 2, K] gives [2, 2].
  reshaped = fn(z.reshape(2, 2, 6), v.reshape(2, 2, 6), y.reshape(2, 2), t.reshape(2, 2))
  np.testing.assert_allclose(reshaped, np.asarray(eager).reshape(2, 2), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(PER_EXAMPLE_LOSSES))
def test_finite_for_extreme_constant_and_bfloat16_logits(batch, name):
  fn = PER_EXAMPLE_LOSSES[name]
  z, v, y, t = batch
  cases = {
      "magnitude 1e4": (z / np.abs(z).max() * 1e4, v / np.abs(v).max() * 1e4),
      "constant": (np.full_like(z, 5.0), np.full_like(v, -2.0)),
      "bfloat16": (jnp.asarray(z, jnp.bfloat16), jnp.asarray(v, jnp.bfloat16)),
  }
  value_and_grad = jax.jit(jax.value_and_grad(lambda zc, vc: jnp.sum(fn(zc, vc, y, t))))
  for case, (zc, vc) in cases.items():
    value, grad = value_and_grad(zc, vc)
    assert np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(grad, np.float32))), case
    assert fn(zc, vc, y, t).dtype == jnp.float32, case


def test_float64_inputs_compute_in_float64(batch):
  z, v, y, t = batch
  with jax.enable_x64(True):
    for name in ("kd", "dkd", "wttm", "ce"):
      fn = PER_EXAMPLE_LOSSES[name]
      out = fn(z.astype(np.float64), v.astype(np.float64), y, t)
      assert out.dtype == jnp.float64, name


def test_shape_errors_are_clear(batch):
  z, v, y, t = batch
  with pytest.raises(ValueError, match="same shape"):
    losses.kd(z, v[:, :5], temperature=1.0)
  with pytest.raises(ValueError, match="rank >= 1"):
    losses.kd(jnp.float32(1.0), jnp.float32(1.0), temperature=1.0)
  with pytest.raises(ValueError, match="labels of shape"):
    losses.dkd(z, v, y[:2], alpha=1.0, beta=1.0, temperature=1.0)
  with pytest.raises(ValueError, match="integer"):
    losses.cross_entropy(z, y.astype(np.float32))
  with pytest.raises(ValueError, match="gamma of shape"):
    losses.ttm(z, v, gamma=np.ones(3))


# ----------------------------------------------------------------------------- NaN policy helpers


def test_check_finite_and_labels():
  ok = jnp.ones((2, 3))
  losses.check_finite(student_logits=ok, loss=1.0)
  assert bool(losses.all_finite(ok, ok))
  bad = ok.at[1, 2].set(jnp.nan)
  assert not bool(jax.jit(losses.all_finite)(ok, bad))
  with pytest.raises(losses.NonFiniteError, match="teacher_logits.*1 of 6"):
    losses.check_finite(student_logits=ok, teacher_logits=bad)
  with pytest.raises(ValueError):
    losses.check_finite(loss=jnp.inf)
  losses.check_labels(np.array([0, 2]), 3)
  with pytest.raises(ValueError, match=r"\[0, 3\)"):
    losses.check_labels(np.array([0, 3]), 3)
  with pytest.raises(ValueError, match="integers"):
    losses.check_labels(np.array([0.0]), 3)
