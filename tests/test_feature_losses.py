"""Tests for kdjax.feature_losses (FitNet, AT, RKD, PKT, OFD, VID).

Each loss is checked against (1) numbers worked out by hand, (2) a PyTorch
re-implementation of the reference behaviour (mdistiller's distillers; NCHW,
written here), (3) jit and vmap, (4) gradients, (5) input errors.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kdjax import feature_losses as fl

torch = pytest.importorskip("torch")
tF = torch.nn.functional

RTOL = 1e-5

# Jitted once at import: eager op-by-op dispatch (and eager gradients) are slow on CPU.
FITNET = jax.jit(fl.fitnet)
AT = jax.jit(fl.attention_transfer, static_argnames="p")
RKD = jax.jit(fl.rkd)
PKT = jax.jit(fl.pkt)
MARGIN = jax.jit(fl.ofd_margin)
OFD = jax.jit(fl.ofd)
VID = jax.jit(fl.vid)
POOL = jax.jit(fl.adaptive_avg_pool2d, static_argnums=1)


RKD_VALUE_AND_GRAD = jax.jit(jax.value_and_grad(fl.rkd))
PKT_VALUE_AND_GRAD = jax.jit(jax.value_and_grad(fl.pkt))


def jit_grad(fn, **kwargs):
  return jax.jit(jax.grad(fn, **kwargs))


def jit_value_and_grad(fn, **kwargs):
  return jax.jit(jax.value_and_grad(fn, **kwargs))


def rng(seed):
  return np.random.default_rng(seed)


def to_nchw(x):
  """NHWC numpy -> NCHW float64 torch tensor."""
  return torch.from_numpy(np.ascontiguousarray(np.asarray(x, np.float64).transpose(0, 3, 1, 2)))


def to_torch(x):
  return torch.from_numpy(np.asarray(x, np.float64))


# ----------------------------------------------------------------------------- torch re-implementations
# The reference behaviour, in float64, written for these tests (NCHW like the reference).


def torch_pool_like_reference(f_s, f_t):
  """AT/VID: pool the map with the larger height to the other's (square) size."""
  s_h, t_h = f_s.shape[2], f_t.shape[2]
  if s_h > t_h:
    f_s = tF.adaptive_avg_pool2d(f_s, (t_h, t_h))
  elif t_h > s_h:
    f_t = tF.adaptive_avg_pool2d(f_t, (s_h, s_h))
  return f_s, f_t


def torch_fitnet(s, t):
  return tF.mse_loss(s, t)


def torch_at(f_s, f_t, p=2):
  f_s, f_t = torch_pool_like_reference(f_s, f_t)

  def attention(f):
    return tF.normalize(f.pow(p).mean(dim=1).flatten(1), dim=1)

  return (attention(f_s) - attention(f_t)).pow(2).mean()


def torch_rkd(s, t, distance_weight=25.0, angle_weight=50.0, eps=1e-12):
  def distances(e):
    sq = (e * e).sum(1)
    d = (sq[:, None] + sq[None, :] - 2 * e @ e.T).clamp(min=eps).sqrt()
    d = d * (1 - torch.eye(len(e), dtype=e.dtype))
    return d / d[d > 0].mean()

  def angles(e):
    unit = tF.normalize(e[None, :, :] - e[:, None, :], p=2, dim=2)
    return torch.bmm(unit, unit.transpose(1, 2)).reshape(-1)

  loss_d = tF.smooth_l1_loss(distances(s), distances(t))
  loss_a = tF.smooth_l1_loss(angles(s), angles(t))
  return distance_weight * loss_d + angle_weight * loss_a


def torch_pkt(s, t, eps=1e-7):
  def probabilities(f):
    f = f / (f.pow(2).sum(1, keepdim=True).sqrt() + eps)
    k = (f @ f.T + 1) / 2
    return k / k.sum(1, keepdim=True)

  p_s, p_t = probabilities(s), probabilities(t)
  return (p_t * torch.log((p_t + eps) / (p_s + eps))).mean()


def python_margins(scale, bias):
  """The reference's per-channel loop in Python floats (float64), Phi from erf."""
  out = []
  for g, b in zip(scale, bias):
    g, b = abs(float(g)), float(b)
    cdf = 0.5 * (1.0 + math.erf(-b / g / math.sqrt(2.0)))
    if cdf > 0.001:
      out.append(-g * math.exp(-((b / g) ** 2) / 2) / math.sqrt(2 * math.pi) / cdf + b)
    else:
      out.append(-3 * g)
  return np.array(out)


def torch_ofd(s, t, margin):
  t = tF.adaptive_avg_pool2d(t, s.shape[-2:])
  m = margin.reshape(1, -1, 1, 1)
  loss = ((s - m) ** 2 * ((s > m) & (t <= m))
          + (s - t) ** 2 * ((s > t) & (t > m) & (t <= 0))
          + (s - t) ** 2 * (t > 0))
  return loss.abs().mean(dim=0).sum()


def torch_vid(mu, log_scale, t, eps=1e-5):
  _, t = torch_pool_like_reference(mu, t)
  var = (torch.log(1.0 + torch.exp(log_scale)) + eps).reshape(1, -1, 1, 1)
  return (0.5 * ((mu - t) ** 2 / var + torch.log(var))).mean()


# ----------------------------------------------------------------------------- adaptive pooling


def test_adaptive_avg_pool_hand_values_and_torch():
  # 3 -> 2 bins: [0, 2), [1, 3) (overlapping); 5 -> 3 bins: [0, 2), [1, 4), [3, 5).
  x = np.arange(15, dtype=np.float32).reshape(1, 3, 5, 1)   # x[h, w] = 5h + w
  out = np.asarray(POOL(x, (2, 3)))[0, ..., 0]
  rows = np.array([[0.5, 2.0, 3.5], [5.5, 7.0, 8.5], [10.5, 12.0, 13.5]])   # width pooled
  np.testing.assert_allclose(out, [(rows[0] + rows[1]) / 2, (rows[1] + rows[2]) / 2], rtol=RTOL)
  # Random sizes, down and up, against torch.
  y = rng(0).normal(size=(2, 7, 5, 3)).astype(np.float32)
  for size in [(3, 2), (7, 5), (4, 5), (9, 6)]:
    want = tF.adaptive_avg_pool2d(to_nchw(y), size).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(POOL(y, size), want, rtol=RTOL, atol=1e-6)


# ----------------------------------------------------------------------------- FitNet


def test_fitnet_hand_torch_and_batch_mean():
  s = np.array([[0.0, 0.0], [1.0, 3.0]], np.float32).reshape(2, 1, 1, 2)
  t = np.ones((2, 1, 1, 2), np.float32)
  np.testing.assert_allclose(FITNET(s, t), [1.0, 2.0])   # (1+1)/2, (0+4)/2
  r = rng(1)
  s, t = r.normal(size=(2, 4, 4, 4, 3)).astype(np.float32)
  out = FITNET(s, t)
  assert out.shape == (4,) and out.dtype == jnp.float32
  np.testing.assert_allclose(out.mean(), torch_fitnet(to_nchw(s), to_nchw(t)).item(), rtol=RTOL)
  np.testing.assert_allclose(FITNET(s.reshape(4, -1), t.reshape(4, -1)), out, rtol=RTOL)


# ----------------------------------------------------------------------------- AT


def test_attention_transfer_hand_values():
  # Student map: mean_c f^2 of [[1, -1], [1, 1]] at two positions = [1, 1] -> [1, 1]/sqrt2.
  # Teacher map [1, 0]. Mean of squared differences = ((1/sqrt2 - 1)^2 + 1/2) / 2 = 1 - sqrt2/2.
  s = np.array([[[[1.0, -1.0], [1.0, 1.0]]]], np.float32)   # [1, 1, 2, 2]
  t = np.array([[[[2.0], [0.0]]]], np.float32)              # [1, 1, 2, 1]
  np.testing.assert_allclose(AT(s, t), [1 - math.sqrt(2) / 2], rtol=RTOL)
  # p = 1 uses |f|: the student map is the same ([1, 1]).
  np.testing.assert_allclose(AT(s, t, p=1.0), [1 - math.sqrt(2) / 2], rtol=RTOL)
  # A 2x2 teacher is pooled to the 1x2 student: rows [2, 0] and [0, 0] average to [1, 0];
  # p = 2: map [1, 0] again.
  t_big = np.array([[[[2.0], [0.0]], [[0.0], [0.0]]]], np.float32)
  np.testing.assert_allclose(AT(s, t_big), [1 - math.sqrt(2) / 2], rtol=RTOL)


@pytest.mark.parametrize("s_hw,t_hw", [((8, 8), (4, 4)), ((4, 4), (8, 8)), ((6, 6), (6, 6)),
                                       ((7, 7), (4, 4))])
def test_attention_transfer_matches_torch(s_hw, t_hw):
  r = rng(2)
  s = np.maximum(r.normal(size=(3, *s_hw, 5)), 0).astype(np.float32)   # post-ReLU like "feats"
  t = np.maximum(r.normal(size=(3, *t_hw, 4)), 0).astype(np.float32)
  out = AT(s, t)
  assert out.shape == (3,)
  np.testing.assert_allclose(out.mean(), torch_at(to_nchw(s), to_nchw(t)).item(), rtol=RTOL)
  if s_hw == (7, 7):   # p = 3 on non-negative features equals the reference's f.pow(p)
    np.testing.assert_allclose(AT(s, t, p=3.0).mean(),
                               torch_at(to_nchw(s), to_nchw(t), p=3).item(), rtol=RTOL)


# ----------------------------------------------------------------------------- RKD


def test_rkd_hand_value_triangles():
  # Student: right isosceles triangle (0,0), (1,0), (0,1); teacher: equilateral, side 1.
  s = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], np.float32)
  t = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]], np.float32)
  mu = (2 + math.sqrt(2)) / 3          # mean of the 6 off-diagonal student distances
  huber = lambda x: 0.5 * x * x        # every |difference| here is < 1
  # Distances: 4 entries 1/mu vs 1, 2 entries sqrt2/mu vs 1, diagonal 0 vs 0; mean over 9.
  loss_d = (4 * huber(1 / mu - 1) + 2 * huber(math.sqrt(2) / mu - 1)) / 9
  # Angles (cos at vertex i between j != k, both != i): teacher 0.5 everywhere;
  # student 0 at the right angle, cos 45 at the others; 2 ordered (j, k) per vertex; mean over 27.
  loss_a = (2 * huber(0 - 0.5) + 4 * huber(math.sqrt(2) / 2 - 0.5)) / 27
  np.testing.assert_allclose(RKD(s, t), 25 * loss_d + 50 * loss_a, rtol=RTOL)
  np.testing.assert_allclose(RKD(s, t, distance_weight=1.0, angle_weight=0.0), loss_d, rtol=RTOL)
  # Two examples: both relations are always identical (normalised distance 1, angles 0/1).
  np.testing.assert_allclose(RKD(s[:2], t[:2] * 7), 0.0, atol=1e-7)


def test_rkd_matches_torch_including_duplicates_and_large_differences():
  r = rng(3)
  s = r.normal(size=(8, 5)).astype(np.float32)
  t = (3 * r.normal(size=(8, 7))).astype(np.float32)
  np.testing.assert_allclose(RKD(s, t), torch_rkd(to_torch(s), to_torch(t)).item(), rtol=RTOL)
  s[3] = s[1]                                  # identical examples: distance floored at 1e-6
  t[5] = t[2]
  np.testing.assert_allclose(RKD(s, t), torch_rkd(to_torch(s), to_torch(t)).item(), rtol=RTOL)
  out = RKD(s, t, distance_weight=2.0, angle_weight=0.5)
  np.testing.assert_allclose(out, torch_rkd(to_torch(s), to_torch(t), 2.0, 0.5).item(), rtol=RTOL)


def test_rkd_gradients():
  r = rng(4)
  t = r.normal(size=(6, 4)).astype(np.float32)
  s = r.normal(size=(6, 4)).astype(np.float32)
  s[2] = s[0]                                  # a duplicate row: gradients stay finite
  _, grad = RKD_VALUE_AND_GRAD(jnp.asarray(s), t)
  assert np.all(np.isfinite(grad)) and np.any(grad != 0)
  # Scale invariance: a scaled copy of the teacher is a perfect match.
  loss, grad = RKD_VALUE_AND_GRAD(jnp.asarray(3 * t), t)
  np.testing.assert_allclose(loss, 0.0, atol=1e-6)
  np.testing.assert_allclose(grad, 0.0, atol=1e-5)


# ----------------------------------------------------------------------------- PKT


def test_pkt_hand_value():
  # Student: orthogonal rows -> K = [[1, .5], [.5, 1]], P = [[2/3, 1/3], [1/3, 2/3]].
  # Teacher: parallel rows -> K = 1, P = 1/2. Mean over the 4 entries:
  # (2 * .5 log(.5 / (2/3)) + 2 * .5 log(.5 / (1/3))) / 4 = log(9/8) / 4.
  s = np.eye(2, dtype=np.float32)
  t = np.array([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0]], np.float32)
  np.testing.assert_allclose(PKT(s, t), math.log(9 / 8) / 4, rtol=1e-5)


def test_pkt_matches_torch_and_gradients():
  r = rng(5)
  s = r.normal(size=(8, 5)).astype(np.float32)
  t = np.maximum(r.normal(size=(8, 7)), 0).astype(np.float32)
  np.testing.assert_allclose(PKT(s, t), torch_pkt(to_torch(s), to_torch(t)).item(), rtol=RTOL)
  s[4] = 0.0                                  # a zero feature: finite loss and gradient
  np.testing.assert_allclose(PKT(s, t), torch_pkt(to_torch(s), to_torch(t)).item(), rtol=RTOL)
  _, grad = PKT_VALUE_AND_GRAD(jnp.asarray(s), t)
  assert np.all(np.isfinite(grad)) and np.any(grad != 0)
  # Perfect match (up to a positive per-example scale): loss and gradient vanish (up to eps).
  loss, grad = PKT_VALUE_AND_GRAD(jnp.asarray(2 * t), t)
  np.testing.assert_allclose(loss, 0.0, atol=1e-6)
  np.testing.assert_allclose(grad, 0.0, atol=1e-5)


# ----------------------------------------------------------------------------- OFD


def test_ofd_margin_hand_values_and_reference_loop():
  scale = np.array([1.0, 2.0, -1.0, 0.0, 0.0, 0.0], np.float32)
  bias = np.array([0.0, 10.0, -3.0, -1.0, 1.0, 0.0], np.float32)
  phi3 = math.exp(-4.5) / math.sqrt(2 * math.pi)
  cdf3 = 0.5 * (1 + math.erf(3 / math.sqrt(2)))
  want = [-math.sqrt(2 / math.pi),   # E[x | x < 0] of N(0, 1)
          -6.0,                      # Phi(-5) < 0.001: -3 * scale
          -3.0 - phi3 / cdf3,        # |scale| is used
          -1.0, 0.0, 0.0]            # zero scale: the limits (the reference divides by zero)
  np.testing.assert_allclose(MARGIN(scale, bias), want, rtol=RTOL, atol=1e-7)
  r = rng(6)
  scale = r.uniform(0.1, 2.0, size=64) * r.choice([-1, 1], size=64)
  bias = r.uniform(-3.0, 5.0, size=64) * np.abs(scale)    # both branches (cdf 0.001 ~ bias/scale 3.09)
  scale, bias = scale.astype(np.float32), bias.astype(np.float32)
  want = python_margins(scale, bias)
  assert np.any(want == -3 * np.abs(scale)) and np.any(want != -3 * np.abs(scale))
  got = MARGIN(scale, bias)
  np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-6)
  assert np.all(np.asarray(got) <= 0)
  np.testing.assert_allclose(fl.ofd_margin(scale, bias), got, rtol=1e-5, atol=1e-6)   # eager == jit


def test_ofd_hand_value():
  # margin -1; (s, t) pairs: (.5, -2): t <= m < s -> (s - m)^2 = 2.25; (-1.5, -2): s <= m -> 0;
  # (0, -.5): m < t <= 0, s > t -> .25; (-1, -.5): s < t -> 0; (1, 2), (3, 2): t > 0 -> 1 each.
  s = np.array([0.5, -1.5, 0.0, -1.0, 1.0, 3.0], np.float32).reshape(1, 2, 3, 1)
  t = np.array([-2.0, -2.0, -0.5, -0.5, 2.0, 2.0], np.float32).reshape(1, 2, 3, 1)
  np.testing.assert_allclose(OFD(s, t, np.array([-1.0], np.float32)), [4.5], rtol=RTOL)


@pytest.mark.parametrize("t_hw", [(4, 4), (8, 8)])
def test_ofd_matches_torch(t_hw):
  r = rng(7)
  s = r.normal(size=(3, 4, 4, 6)).astype(np.float32)
  t = r.normal(size=(3, *t_hw, 6)).astype(np.float32)
  margin = python_margins(r.uniform(0.5, 1.5, 6), r.uniform(-1, 1, 6)).astype(np.float32)
  out = OFD(s, t, margin)
  assert out.shape == (3,)
  np.testing.assert_allclose(out.mean(), torch_ofd(to_nchw(s), to_nchw(t), to_torch(margin)).item(),
                             rtol=RTOL)


def test_ofd_gradients():
  r = rng(8)
  t = r.normal(size=(2, 3, 3, 4)).astype(np.float32)
  margin = np.full(4, -0.5, np.float32)
  loss_fn = lambda s: OFD(s, t, margin).mean()
  grad = jit_grad(loss_fn)(jnp.asarray(r.normal(size=t.shape).astype(np.float32)))
  assert np.all(np.isfinite(grad)) and np.any(grad != 0)
  np.testing.assert_allclose(jit_grad(loss_fn)(jnp.asarray(t)), 0.0)
  # Below max(t, m) <= 0 there is nothing to learn: zero loss and gradient.
  t_neg = -np.abs(t)
  low = jnp.asarray(np.minimum(t_neg, -0.5) - 1.0)
  loss, grad = jit_value_and_grad(lambda s: OFD(s, t_neg, margin).mean())(low)
  assert float(loss) == 0.0 and not np.any(grad)


# ----------------------------------------------------------------------------- VID


def test_vid_hand_value():
  # softplus(log(e - 1)) = 1, so the variance is v = 1 + 1e-5; differences [0, 2]:
  # mean of 0.5 (d^2 / v + log v) = 0.5 (2 / v + log v).
  v = 1.0 + 1e-5
  mu = np.array([1.0, 3.0], np.float32).reshape(1, 1, 2, 1)
  t = np.array([1.0, 1.0], np.float32).reshape(1, 1, 2, 1)
  log_scale = np.array([math.log(math.e - 1)], np.float32)
  np.testing.assert_allclose(VID(mu, log_scale, t), [0.5 * (2 / v + math.log(v))], rtol=RTOL)
  # The reference's initial log-scale gives the variance init_pred_var.
  a = fl.vid_log_scale_init(5.0)
  np.testing.assert_allclose(math.log1p(math.exp(a)) + 1e-5, 5.0, rtol=1e-12)


@pytest.mark.parametrize("t_hw", [(4, 4), (8, 8), (7, 7)])
def test_vid_matches_torch(t_hw):
  r = rng(9)
  mu = r.normal(size=(3, 4, 4, 6)).astype(np.float32)
  t = r.normal(size=(3, *t_hw, 6)).astype(np.float32)
  log_scale = r.normal(size=6).astype(np.float32)
  out = VID(mu, log_scale, t)
  assert out.shape == (3,)
  want = torch_vid(to_nchw(mu), to_torch(log_scale), to_nchw(t)).item()
  np.testing.assert_allclose(out.mean(), want, rtol=RTOL)


def test_vid_gradients():
  r = rng(10)
  t = r.normal(size=(2, 3, 3, 4)).astype(np.float32)
  diff = r.choice([-1.0, 1.0], size=t.shape).astype(np.float32) * math.sqrt(2.0)
  # Per-channel squared error 2 and variance softplus(a) + eps = 2: zero gradient in both.
  a = np.full(4, math.log(math.expm1(2.0 - 1e-5)), np.float32)
  loss_fn = lambda mu, a: VID(mu, a, t).mean()
  g_mu, g_a = jit_grad(loss_fn, argnums=(0, 1))(jnp.asarray(t + diff), jnp.asarray(a))
  assert np.all(np.isfinite(g_mu)) and np.any(g_mu != 0)
  np.testing.assert_allclose(g_a, 0.0, atol=1e-6)
  g_mu, _ = jit_grad(loss_fn, argnums=(0, 1))(jnp.asarray(t), jnp.asarray(a))
  np.testing.assert_allclose(g_mu, 0.0)


# ----------------------------------------------------------------------------- all: jit, vmap, dtypes


def _per_example_cases():
  r = rng(11)
  s = r.normal(size=(4, 4, 4, 3)).astype(np.float32)
  t = r.normal(size=(4, 4, 4, 3)).astype(np.float32)
  t_big = r.normal(size=(4, 8, 8, 3)).astype(np.float32)
  c = r.normal(size=3).astype(np.float32)
  margin = -np.abs(c)
  return {   # name: (eager function of (student, teacher), inputs)
      "fitnet": (fl.fitnet, (s, t)),
      "attention_transfer": (fl.attention_transfer, (s, t_big)),
      "ofd": (lambda s, t: fl.ofd(s, t, margin), (s, t_big)),
      "vid": (lambda s, t: fl.vid(s, c, t), (s, t_big)),
  }


@pytest.mark.parametrize("name", ["fitnet", "attention_transfer", "ofd", "vid"])
def test_per_example_jit_vmap_bfloat16_and_gradient(name):
  eager, (s, t) = _per_example_cases()[name]
  fn = jax.jit(eager)
  out = fn(s, t)
  assert out.shape == (4,) and out.dtype == jnp.float32
  np.testing.assert_allclose(eager(s, t), out, rtol=1e-6)
  one_by_one = jax.jit(jax.vmap(lambda si, ti: eager(si[None], ti[None])[0]))(s, t)
  np.testing.assert_allclose(one_by_one, out, rtol=1e-6)
  # bfloat16 inputs compute in float32.
  bf = fn(s.astype(jnp.bfloat16), t.astype(jnp.bfloat16))
  assert bf.dtype == jnp.float32
  want = fn(np.asarray(jnp.asarray(s, jnp.bfloat16), np.float32),
            np.asarray(jnp.asarray(t, jnp.bfloat16), np.float32))
  np.testing.assert_allclose(bf, want, rtol=1e-6)
  grad = jit_grad(lambda x: eager(x, t).mean())(jnp.asarray(s))
  assert np.all(np.isfinite(grad)) and np.any(grad != 0)


def test_attention_transfer_gradient_zero_at_match_and_finite_at_zero_map():
  r = rng(12)
  t = r.normal(size=(2, 4, 4, 3)).astype(np.float32)
  g = jit_grad(lambda x: AT(x, t).mean())(jnp.asarray(t))
  np.testing.assert_allclose(g, 0.0, atol=1e-7)
  s = t.copy()
  s[1] = 0.0                                   # an all-zero map: normalised to 0, finite
  loss, g = jit_value_and_grad(lambda x: AT(x, t).mean())(jnp.asarray(s))
  assert np.isfinite(loss) and np.all(np.isfinite(g))
  np.testing.assert_allclose(AT(s, t).mean(),
                             torch_at(to_nchw(s), to_nchw(t)).item(), rtol=RTOL)


def test_fitnet_gradient_zero_at_match():
  t = rng(13).normal(size=(2, 3, 3, 2)).astype(np.float32)
  np.testing.assert_allclose(jit_grad(lambda x: FITNET(x, t).mean())(jnp.asarray(t)), 0.0)


def test_batch_losses_jit_and_bfloat16():
  r = rng(14)
  s = r.normal(size=(6, 5)).astype(np.float32)
  t = r.normal(size=(6, 4)).astype(np.float32)
  for eager, fn in ((fl.rkd, RKD), (fl.pkt, PKT)):
    out = fn(s, t)
    assert out.shape == () and out.dtype == jnp.float32
    np.testing.assert_allclose(eager(s, t), out, rtol=1e-5)
    bf = fn(s.astype(jnp.bfloat16), t.astype(jnp.bfloat16))
    assert bf.dtype == jnp.float32
    want = fn(np.asarray(jnp.asarray(s, jnp.bfloat16), np.float32),
              np.asarray(jnp.asarray(t, jnp.bfloat16), np.float32))
    np.testing.assert_allclose(bf, want, rtol=1e-5)
  # Traced weights under jit.
  weighted = jax.jit(lambda s, t, w: RKD(s, t, distance_weight=w, angle_weight=2 * w))
  np.testing.assert_allclose(weighted(s, t, 1.0), RKD(s, t, distance_weight=1.0, angle_weight=2.0),
                             rtol=1e-5)


# ----------------------------------------------------------------------------- errors


def test_errors_name_the_argument_and_the_fix():
  x4 = np.zeros((2, 4, 4, 3), np.float32)
  x2 = np.zeros((2, 5), np.float32)
  c = np.zeros(3, np.float32)
  cases = [
      (lambda: fl.fitnet(x4, x4[:, :2]), "regress the student"),
      (lambda: fl.fitnet(np.zeros(3, np.float32), np.zeros(3, np.float32)), "student must be"),
      (lambda: fl.fitnet(x4.astype(np.int32), x4), "floating point"),
      (lambda: fl.attention_transfer(x2, x4), "student must be an NHWC"),
      (lambda: fl.attention_transfer(x4, x4[:1]), "same batch size"),
      (lambda: fl.rkd(x4, x4), "reshape"),
      (lambda: fl.rkd(x2[:1], x2[:1]), "at least 2"),
      (lambda: fl.rkd(x2, x2[:1]), "same batch size"),
      (lambda: fl.pkt(x2, x4), "teacher must be pooled"),
      (lambda: fl.ofd_margin(c, c[:2]), "same BatchNorm"),
      (lambda: fl.ofd_margin(x2, x2), "bn_scale must be"),
      (lambda: fl.ofd(x4, x4[..., :2], c[:2]), "same channels"),
      (lambda: fl.ofd(x4, x4, c[:2]), "ofd_margin"),
      (lambda: fl.vid(x4, c[:2], x4), "channel count"),
      (lambda: fl.vid(x4, c, x4[:, :2, :2]), "BEFORE the regressor"),
      (lambda: fl.adaptive_avg_pool2d(x4, (0, 2)), "positive"),
  ]
  for call, message in cases:
    with pytest.raises(ValueError, match=message):
      call()
