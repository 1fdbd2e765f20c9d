"""Tests for kdjax.feature_losses (FitNet, AT, RKD, PKT, OFD, VID, CRD, ReviewKD, ITRD, CAT-KD).

Each function is checked against (1) numbers worked out by hand, (2) a PyTorch
re-implementation of the reference behaviour (written here, NCHW like the
references, float64), (3) jit == eager, and vmap for the per-example losses,
(4) gradients and properties, (5) ValueError on bad input.
"""

import math
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kdjax import feature_losses as fl

torch = pytest.importorskip("torch")
tF = torch.nn.functional

RTOL = 1e-5

# Jitted once at import: one compile per function and shape (eager op-by-op dispatch, and eager
# gradients, are slow on a busy CPU); the eager paths are compared with these in the jit tests.
STATIC_ARGNAMES = {"adaptive_avg_pool2d": "output_size", "attention_transfer": "p",
                   "crd_contrast": "num_data", "crd_normalizer": "num_data",
                   "cat_kd": ("resolution", "normalize")}
J = types.SimpleNamespace(**{
    name: jax.jit(getattr(fl, name), static_argnames=STATIC_ARGNAMES.get(name, ()))
    for name in fl.__all__ if name != "vid_log_scale_init"})   # that one returns a Python float


def jit_grad(fn, **kwargs):
  return jax.jit(jax.grad(fn, **kwargs))


def jit_value_and_grad(fn, **kwargs):
  return jax.jit(jax.value_and_grad(fn, **kwargs))


def assert_finite_nonzero(grad):
  assert np.all(np.isfinite(grad)) and np.any(grad != 0)


def assert_learns_and_stops_at_match(loss_fn, student, teacher, matching_student):
  """A finite, non-zero gradient at ``student``; loss and gradient ~0 at ``matching_student``."""
  value_and_grad = jit_value_and_grad(loss_fn)
  _, grad = value_and_grad(jnp.asarray(student), teacher)
  assert_finite_nonzero(grad)
  loss, grad = value_and_grad(jnp.asarray(matching_student), teacher)
  np.testing.assert_allclose(loss, 0.0, atol=1e-6)
  np.testing.assert_allclose(grad, 0.0, atol=1e-5)


def rng(seed):
  return np.random.default_rng(seed)


def to_nchw(x):
  """NHWC numpy -> NCHW float64 torch tensor."""
  return torch.from_numpy(np.ascontiguousarray(np.asarray(x, np.float64).transpose(0, 3, 1, 2)))


def to_torch(x):
  return torch.from_numpy(np.asarray(x, np.float64))


def unit_rows(x):
  """Rows scaled to unit L2 norm, float32."""
  return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


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


def torch_contrast_loss(x, n_data, eps=1e-7):
  """RepDistiller crd/criterion.py ContrastLoss behaviour."""
  batch, m = x.shape[0], x.shape[1] - 1
  pn = 1.0 / n_data
  log_d1 = torch.log(x[:, 0] / (x[:, 0] + m * pn + eps))
  log_d0 = torch.log((m * pn) / (x[:, 1:] + m * pn + eps))
  return -(log_d1.sum() + log_d0.sum()) / batch


def torch_crd_step(mem_v1, mem_v2, v1, v2, y, idx, t, momentum, z_v1, z_v2, n_data):
  """RepDistiller crd/memory.py ContrastMemory.forward (+ the two ContrastLoss) behaviour.

  v1: student embeddings, v2: teacher embeddings; mem_v1 the student bank.
  Z < 0 means "not set yet". Returns (loss, new mem_v1, new mem_v2, z_v1, z_v2).
  """
  batch, dim = v1.shape
  w1 = mem_v1[idx.reshape(-1)].reshape(batch, -1, dim)
  out_v2 = torch.exp(torch.bmm(w1, v2.reshape(batch, dim, 1))[..., 0] / t)
  w2 = mem_v2[idx.reshape(-1)].reshape(batch, -1, dim)
  out_v1 = torch.exp(torch.bmm(w2, v1.reshape(batch, dim, 1))[..., 0] / t)
  if z_v1 < 0:
    z_v1 = (out_v1.mean() * mem_v1.shape[0]).item()
  if z_v2 < 0:
    z_v2 = (out_v2.mean() * mem_v1.shape[0]).item()
  out_v1, out_v2 = out_v1 / z_v1, out_v2 / z_v2
  new1, new2 = mem_v1.clone(), mem_v2.clone()
  for new, mem, v in ((new1, mem_v1, v1), (new2, mem_v2, v2)):
    pos = mem[y] * momentum + v * (1 - momentum)
    new.index_copy_(0, y, pos / pos.pow(2).sum(1, keepdim=True).pow(0.5))
  loss = torch_contrast_loss(out_v1, n_data) + torch_contrast_loss(out_v2, n_data)
  return loss, new1, new2, z_v1, z_v2


def torch_hcl(fstudent, fteacher):
  """mdistiller mdistiller/distillers/ReviewKD.py hcl_loss behaviour (NCHW)."""
  total = 0.0
  for fs, ft in zip(fstudent, fteacher):
    h = fs.shape[2]
    loss, cnt, tot = tF.mse_loss(fs, ft), 1.0, 1.0
    for level in (4, 2, 1):
      if level >= h:
        continue
      cnt /= 2.0
      loss = loss + tF.mse_loss(tF.adaptive_avg_pool2d(fs, level),
                                tF.adaptive_avg_pool2d(ft, level)) * cnt
      tot += cnt
    total = total + loss / tot
  return total


def torch_itrd_correlation(f_s, f_t, alpha):
  """zkxufo/TTM distiller_zoo/itrd.py forward_correlation_it behaviour (after the embed)."""
  n = f_s.shape[0]
  s = (f_s - f_s.mean(0)) / f_s.std(0)
  t = (f_t - f_t.mean(0)) / f_t.std(0)
  c = torch.einsum("bx,bx->x", s, t) / n
  return torch.log2((c - 1).abs().pow(2.0).pow(alpha).sum())


def torch_itrd_mutual(f_s, f_t):
  """zkxufo/TTM distiller_zoo/itrd.py forward_mutual_it behaviour (after the embed)."""
  s, t = tF.normalize(f_s), tF.normalize(f_t)
  g_s = s @ s.t()
  g_st = g_s * (t @ t.t())
  g_s, g_st = g_s / torch.trace(g_s), g_st / torch.trace(g_st)
  return (g_s.pow(2) - g_st.pow(2)).sum()


def torch_cat_loss(cam_s, cam_t, resolution, normalize):
  """GzyAftermath/CAT-KD mdistiller/distillers/CAT_KD.py CAT_loss behaviour (NCHW)."""
  cam_s = tF.adaptive_avg_pool2d(cam_s, (resolution, resolution))
  cam_t = tF.adaptive_avg_pool2d(cam_t, (resolution, resolution))
  if normalize:
    cam_s, cam_t = tF.normalize(cam_s, dim=(2, 3)), tF.normalize(cam_t, dim=(2, 3))
  return tF.mse_loss(cam_s, cam_t)


def torch_cams(features_nchw, fc_weight):
  """CAT-KD's conv_test: a bias-free 1x1 conv carrying the fc weight [K, D]."""
  return tF.conv2d(features_nchw, fc_weight[:, :, None, None])


# ----------------------------------------------------------------------------- module


def test_all_lists_the_public_functions():
  public = {name for name, value in vars(fl).items()
            if callable(value) and not name.startswith("_")
            and getattr(value, "__module__", None) == fl.__name__}
  assert sorted(fl.__all__) == sorted(public)


# ----------------------------------------------------------------------------- adaptive pooling


def test_adaptive_avg_pool_hand_values_and_torch():
  # 3 -> 2 bins: [0, 2), [1, 3) (overlapping); 5 -> 3 bins: [0, 2), [1, 4), [3, 5).
  x = np.arange(15, dtype=np.float32).reshape(1, 3, 5, 1)   # x[h, w] = 5h + w
  out = np.asarray(J.adaptive_avg_pool2d(x, (2, 3)))[0, ..., 0]
  rows = np.array([[0.5, 2.0, 3.5], [5.5, 7.0, 8.5], [10.5, 12.0, 13.5]])   # width pooled
  np.testing.assert_allclose(out, [(rows[0] + rows[1]) / 2, (rows[1] + rows[2]) / 2], rtol=RTOL)
  # Random sizes against torch: down, identity, up, non-divisible, one int for both sides.
  y = rng(0).normal(size=(2, 7, 5, 3)).astype(np.float32)
  for size in [(3, 2), (7, 5), (4, 5), (9, 6), (4, 3), (2, 2), (3, 7), 2]:
    want = tF.adaptive_avg_pool2d(to_nchw(y), size).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(J.adaptive_avg_pool2d(y, size), want, rtol=RTOL, atol=1e-6)


# ----------------------------------------------------------------------------- FitNet


def test_fitnet_hand_torch_and_batch_mean():
  s = np.array([[0.0, 0.0], [1.0, 3.0]], np.float32).reshape(2, 1, 1, 2)
  t = np.ones((2, 1, 1, 2), np.float32)
  np.testing.assert_allclose(J.fitnet(s, t), [1.0, 2.0])   # (1+1)/2, (0+4)/2
  r = rng(1)
  s, t = r.normal(size=(2, 4, 4, 4, 3)).astype(np.float32)
  out = J.fitnet(s, t)
  assert out.shape == (4,) and out.dtype == jnp.float32
  np.testing.assert_allclose(out.mean(), torch_fitnet(to_nchw(s), to_nchw(t)).item(), rtol=RTOL)
  np.testing.assert_allclose(J.fitnet(s.reshape(4, -1), t.reshape(4, -1)), out, rtol=RTOL)


def test_fitnet_gradient_zero_at_match():
  t = rng(13).normal(size=(2, 3, 3, 2)).astype(np.float32)
  np.testing.assert_allclose(jit_grad(lambda x: J.fitnet(x, t).mean())(jnp.asarray(t)), 0.0)


# ----------------------------------------------------------------------------- AT


def test_attention_transfer_hand_values():
  # Student map: mean_c f^2 of [[1, -1], [1, 1]] at two positions = [1, 1] -> [1, 1]/sqrt2.
  # Teacher map [1, 0]. Mean of squared differences = ((1/sqrt2 - 1)^2 + 1/2) / 2 = 1 - sqrt2/2.
  s = np.array([[[[1.0, -1.0], [1.0, 1.0]]]], np.float32)   # [1, 1, 2, 2]
  t = np.array([[[[2.0], [0.0]]]], np.float32)              # [1, 1, 2, 1]
  np.testing.assert_allclose(J.attention_transfer(s, t), [1 - math.sqrt(2) / 2], rtol=RTOL)
  # p = 1 uses |f|: the student map is the same ([1, 1]).
  np.testing.assert_allclose(J.attention_transfer(s, t, p=1.0), [1 - math.sqrt(2) / 2], rtol=RTOL)
  # A 2x2 teacher is pooled to the 1x2 student: rows [2, 0] and [0, 0] average to [1, 0];
  # p = 2: map [1, 0] again.
  t_big = np.array([[[[2.0], [0.0]], [[0.0], [0.0]]]], np.float32)
  np.testing.assert_allclose(J.attention_transfer(s, t_big), [1 - math.sqrt(2) / 2], rtol=RTOL)


@pytest.mark.parametrize("s_hw,t_hw", [((8, 8), (4, 4)), ((4, 4), (8, 8)), ((6, 6), (6, 6)),
                                       ((7, 7), (4, 4))])
def test_attention_transfer_matches_torch(s_hw, t_hw):
  r = rng(2)
  s = np.maximum(r.normal(size=(3, *s_hw, 5)), 0).astype(np.float32)   # post-ReLU like "feats"
  t = np.maximum(r.normal(size=(3, *t_hw, 4)), 0).astype(np.float32)
  out = J.attention_transfer(s, t)
  assert out.shape == (3,)
  np.testing.assert_allclose(out.mean(), torch_at(to_nchw(s), to_nchw(t)).item(), rtol=RTOL)
  if s_hw == (7, 7):   # p = 3 on non-negative features equals the reference's f.pow(p)
    np.testing.assert_allclose(J.attention_transfer(s, t, p=3.0).mean(),
                               torch_at(to_nchw(s), to_nchw(t), p=3).item(), rtol=RTOL)


def test_attention_transfer_gradient_zero_at_match_and_finite_at_zero_map():
  r = rng(12)
  t = r.normal(size=(2, 4, 4, 3)).astype(np.float32)
  g = jit_grad(lambda x: J.attention_transfer(x, t).mean())(jnp.asarray(t))
  np.testing.assert_allclose(g, 0.0, atol=1e-7)
  s = t.copy()
  s[1] = 0.0                                   # an all-zero map: normalised to 0, finite
  loss, g = jit_value_and_grad(lambda x: J.attention_transfer(x, t).mean())(jnp.asarray(s))
  assert np.isfinite(loss) and np.all(np.isfinite(g))
  np.testing.assert_allclose(J.attention_transfer(s, t).mean(),
                             torch_at(to_nchw(s), to_nchw(t)).item(), rtol=RTOL)


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
  np.testing.assert_allclose(J.rkd(s, t), 25 * loss_d + 50 * loss_a, rtol=RTOL)
  np.testing.assert_allclose(J.rkd(s, t, distance_weight=1.0, angle_weight=0.0), loss_d, rtol=RTOL)
  # Two examples: both relations are always identical (normalised distance 1, angles 0/1).
  np.testing.assert_allclose(J.rkd(s[:2], t[:2] * 7), 0.0, atol=1e-7)


def test_rkd_matches_torch_including_duplicates_and_large_differences():
  r = rng(3)
  s = r.normal(size=(8, 5)).astype(np.float32)
  t = (3 * r.normal(size=(8, 7))).astype(np.float32)
  np.testing.assert_allclose(J.rkd(s, t), torch_rkd(to_torch(s), to_torch(t)).item(), rtol=RTOL)
  s[3] = s[1]                                  # identical examples: distance floored at 1e-6
  t[5] = t[2]
  np.testing.assert_allclose(J.rkd(s, t), torch_rkd(to_torch(s), to_torch(t)).item(), rtol=RTOL)
  out = J.rkd(s, t, distance_weight=2.0, angle_weight=0.5)
  np.testing.assert_allclose(out, torch_rkd(to_torch(s), to_torch(t), 2.0, 0.5).item(), rtol=RTOL)


def test_rkd_gradients():
  r = rng(4)
  t = r.normal(size=(6, 4)).astype(np.float32)
  s = r.normal(size=(6, 4)).astype(np.float32)
  s[2] = s[0]                                  # a duplicate row: gradients stay finite
  # Scale invariance: a scaled copy of the teacher is a perfect match.
  assert_learns_and_stops_at_match(fl.rkd, s, t, 3 * t)


# ----------------------------------------------------------------------------- PKT


def test_pkt_hand_value():
  # Student: orthogonal rows -> K = [[1, .5], [.5, 1]], P = [[2/3, 1/3], [1/3, 2/3]].
  # Teacher: parallel rows -> K = 1, P = 1/2. Mean over the 4 entries:
  # (2 * .5 log(.5 / (2/3)) + 2 * .5 log(.5 / (1/3))) / 4 = log(9/8) / 4.
  s = np.eye(2, dtype=np.float32)
  t = np.array([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0]], np.float32)
  np.testing.assert_allclose(J.pkt(s, t), math.log(9 / 8) / 4, rtol=1e-5)


def test_pkt_matches_torch_and_gradients():
  r = rng(5)
  s = r.normal(size=(8, 5)).astype(np.float32)
  t = np.maximum(r.normal(size=(8, 7)), 0).astype(np.float32)
  np.testing.assert_allclose(J.pkt(s, t), torch_pkt(to_torch(s), to_torch(t)).item(), rtol=RTOL)
  s[4] = 0.0                                  # a zero feature: finite loss and gradient
  np.testing.assert_allclose(J.pkt(s, t), torch_pkt(to_torch(s), to_torch(t)).item(), rtol=RTOL)
  # Perfect match (up to a positive per-example scale): loss and gradient vanish (up to eps).
  assert_learns_and_stops_at_match(fl.pkt, s, t, 2 * t)


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
  np.testing.assert_allclose(J.ofd_margin(scale, bias), want, rtol=RTOL, atol=1e-7)
  r = rng(6)
  scale = r.uniform(0.1, 2.0, size=64) * r.choice([-1, 1], size=64)
  bias = r.uniform(-3.0, 5.0, size=64) * np.abs(scale)    # both branches (cdf 0.001 ~ bias/scale 3.09)
  scale, bias = scale.astype(np.float32), bias.astype(np.float32)
  want = python_margins(scale, bias)
  assert np.any(want == -3 * np.abs(scale)) and np.any(want != -3 * np.abs(scale))
  got = J.ofd_margin(scale, bias)
  np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-6)
  assert np.all(np.asarray(got) <= 0)
  np.testing.assert_allclose(fl.ofd_margin(scale, bias), got, rtol=1e-5, atol=1e-6)   # eager == jit


def test_ofd_hand_value():
  # margin -1; (s, t) pairs: (.5, -2): t <= m < s -> (s - m)^2 = 2.25; (-1.5, -2): s <= m -> 0;
  # (0, -.5): m < t <= 0, s > t -> .25; (-1, -.5): s < t -> 0; (1, 2), (3, 2): t > 0 -> 1 each.
  s = np.array([0.5, -1.5, 0.0, -1.0, 1.0, 3.0], np.float32).reshape(1, 2, 3, 1)
  t = np.array([-2.0, -2.0, -0.5, -0.5, 2.0, 2.0], np.float32).reshape(1, 2, 3, 1)
  np.testing.assert_allclose(J.ofd(s, t, np.array([-1.0], np.float32)), [4.5], rtol=RTOL)


@pytest.mark.parametrize("t_hw", [(4, 4), (8, 8)])
def test_ofd_matches_torch(t_hw):
  r = rng(7)
  s = r.normal(size=(3, 4, 4, 6)).astype(np.float32)
  t = r.normal(size=(3, *t_hw, 6)).astype(np.float32)
  margin = python_margins(r.uniform(0.5, 1.5, 6), r.uniform(-1, 1, 6)).astype(np.float32)
  out = J.ofd(s, t, margin)
  assert out.shape == (3,)
  np.testing.assert_allclose(out.mean(), torch_ofd(to_nchw(s), to_nchw(t), to_torch(margin)).item(),
                             rtol=RTOL)


def test_ofd_gradients():
  r = rng(8)
  t = r.normal(size=(2, 3, 3, 4)).astype(np.float32)
  margin = np.full(4, -0.5, np.float32)
  loss_fn = lambda s: J.ofd(s, t, margin).mean()
  grad = jit_grad(loss_fn)(jnp.asarray(r.normal(size=t.shape).astype(np.float32)))
  assert_finite_nonzero(grad)
  np.testing.assert_allclose(jit_grad(loss_fn)(jnp.asarray(t)), 0.0)
  # Below max(t, m) <= 0 there is nothing to learn: zero loss and gradient.
  t_neg = -np.abs(t)
  low = jnp.asarray(np.minimum(t_neg, -0.5) - 1.0)
  loss, grad = jit_value_and_grad(lambda s: J.ofd(s, t_neg, margin).mean())(low)
  assert float(loss) == 0.0 and not np.any(grad)


# ----------------------------------------------------------------------------- VID


def test_vid_hand_value():
  # softplus(log(e - 1)) = 1, so the variance is v = 1 + 1e-5; differences [0, 2]:
  # mean of 0.5 (d^2 / v + log v) = 0.5 (2 / v + log v).
  v = 1.0 + 1e-5
  mu = np.array([1.0, 3.0], np.float32).reshape(1, 1, 2, 1)
  t = np.array([1.0, 1.0], np.float32).reshape(1, 1, 2, 1)
  log_scale = np.array([math.log(math.e - 1)], np.float32)
  np.testing.assert_allclose(J.vid(mu, log_scale, t), [0.5 * (2 / v + math.log(v))], rtol=RTOL)
  # The reference's initial log-scale gives the variance init_pred_var.
  a = fl.vid_log_scale_init(5.0)
  np.testing.assert_allclose(math.log1p(math.exp(a)) + 1e-5, 5.0, rtol=1e-12)


@pytest.mark.parametrize("t_hw", [(4, 4), (8, 8), (7, 7)])
def test_vid_matches_torch(t_hw):
  r = rng(9)
  mu = r.normal(size=(3, 4, 4, 6)).astype(np.float32)
  t = r.normal(size=(3, *t_hw, 6)).astype(np.float32)
  log_scale = r.normal(size=6).astype(np.float32)
  out = J.vid(mu, log_scale, t)
  assert out.shape == (3,)
  want = torch_vid(to_nchw(mu), to_torch(log_scale), to_nchw(t)).item()
  np.testing.assert_allclose(out.mean(), want, rtol=RTOL)


def test_vid_gradients():
  r = rng(10)
  t = r.normal(size=(2, 3, 3, 4)).astype(np.float32)
  diff = r.choice([-1.0, 1.0], size=t.shape).astype(np.float32) * math.sqrt(2.0)
  # Per-channel squared error 2 and variance softplus(a) + eps = 2: zero gradient in both.
  a = np.full(4, math.log(math.expm1(2.0 - 1e-5)), np.float32)
  loss_fn = lambda mu, a: J.vid(mu, a, t).mean()
  g_mu, g_a = jit_grad(loss_fn, argnums=(0, 1))(jnp.asarray(t + diff), jnp.asarray(a))
  assert_finite_nonzero(g_mu)
  np.testing.assert_allclose(g_a, 0.0, atol=1e-6)
  g_mu, _ = jit_grad(loss_fn, argnums=(0, 1))(jnp.asarray(t), jnp.asarray(a))
  np.testing.assert_allclose(g_mu, 0.0)


# ----------------------------------------------------------------------------- CRD


def test_crd_hand_values():
  # contrast: num_data = 4, K = 2 negatives: c = K / N = 0.5.
  scores = np.array([[0.5, 0.1, 0.2]], np.float32)
  eps = 1e-7
  want = -(math.log(0.5 / (0.5 + 0.5 + eps)) + math.log(0.5 / (0.1 + 0.5 + eps))
           + math.log(0.5 / (0.2 + 0.5 + eps)))
  np.testing.assert_allclose(J.crd_contrast(scores, num_data=4), want, rtol=RTOL)
  # scores: e = (1, 0), rows (1, 0), (0, 1), T = 0.5, Z = 2 -> (e^2 / 2, 1 / 2).
  e = np.array([[1.0, 0.0]], np.float32)
  rows = np.array([[[1.0, 0.0], [0.0, 1.0]]], np.float32)
  got = J.crd_scores(e, rows, temperature=0.5, normalizer=2.0)
  np.testing.assert_allclose(got, [[math.exp(2.0) / 2, 0.5]], rtol=RTOL)
  # normalizer: mean * num_data.
  np.testing.assert_allclose(J.crd_normalizer(np.array([[1.0, 3.0]]), num_data=10), 20.0)
  # memory update: row 1 = (0.5 (0, 1) + 0.5 (1, 0)) / ||.|| = (1, 1) / sqrt 2.
  memory = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], np.float32)
  new = J.crd_memory_update(memory, np.array([1]), np.array([[1.0, 0.0]]), momentum=0.5)
  np.testing.assert_allclose(new, [[1, 0], [2 ** -0.5, 2 ** -0.5], [0.6, 0.8]], rtol=RTOL)


def test_crd_step_matches_torch():
  """Two CRD steps (Z fixed on the first) against the reference's memory + losses."""
  r = rng(3)
  n_data, dim, batch, k, t, m = 40, 8, 4, 6, 0.07, 0.5
  stdv = 1.0 / math.sqrt(dim / 3)
  mem_s = r.uniform(-stdv, stdv, (n_data, dim)).astype(np.float32)
  mem_t = r.uniform(-stdv, stdv, (n_data, dim)).astype(np.float32)
  tm_s, tm_t, z_s, z_t = to_torch(mem_s), to_torch(mem_t), -1.0, -1.0
  j_zs = j_zt = None
  for step in range(2):
    y = r.choice(n_data, batch, replace=False)
    idx = np.concatenate([y[:, None], r.integers(0, n_data, (batch, k))], axis=1)
    v1, v2 = unit_rows(r.normal(size=(batch, dim))), unit_rows(r.normal(size=(batch, dim)))
    want, tm_s, tm_t, z_s, z_t = torch_crd_step(
        tm_s, tm_t, to_torch(v1), to_torch(v2), torch.tensor(y), torch.tensor(idx), t, m, z_s, z_t, n_data)

    def crd_loss(v1, v2, mem_s, mem_t, j_zs, j_zt):
      raw_s = J.crd_scores(v1, mem_t[idx], temperature=t, normalizer=1.0)  # student vs teacher bank
      raw_t = J.crd_scores(v2, mem_s[idx], temperature=t, normalizer=1.0)
      j_zs = J.crd_normalizer(raw_s, num_data=n_data) if j_zs is None else j_zs
      j_zt = J.crd_normalizer(raw_t, num_data=n_data) if j_zt is None else j_zt
      loss = (J.crd_contrast(raw_s / j_zs, num_data=n_data)
              + J.crd_contrast(raw_t / j_zt, num_data=n_data))
      return loss, j_zs, j_zt

    got, j_zs, j_zt = crd_loss(v1, v2, mem_s, mem_t, j_zs, j_zt)
    np.testing.assert_allclose(got, want.item(), rtol=RTOL)
    np.testing.assert_allclose([j_zs, j_zt], [z_s, z_t], rtol=RTOL)
    # the scores with the normaliser inside agree with raw / Z
    np.testing.assert_allclose(
        J.crd_scores(v1, mem_t[idx], temperature=t, normalizer=j_zs),
        J.crd_scores(v1, mem_t[idx], temperature=t, normalizer=1.0) / j_zs, rtol=RTOL)
    mem_s = J.crd_memory_update(mem_s, y, v1, momentum=m)
    mem_t = J.crd_memory_update(mem_t, y, v2, momentum=m)
    np.testing.assert_allclose(mem_s, tm_s.numpy(), rtol=RTOL, atol=1e-7)
    np.testing.assert_allclose(mem_t, tm_t.numpy(), rtol=RTOL, atol=1e-7)


def test_crd_gradients_and_properties():
  r = rng(4)
  memory = r.uniform(-0.5, 0.5, (12, 4)).astype(np.float32)
  y = np.array([3, 7, 0])
  e = unit_rows(r.normal(size=(3, 4)))
  new = J.crd_memory_update(memory, y, e, momentum=0.5)
  np.testing.assert_allclose(np.linalg.norm(np.asarray(new)[y], axis=1), 1.0, rtol=RTOL)
  untouched = np.setdiff1d(np.arange(12), y)
  np.testing.assert_array_equal(np.asarray(new)[untouched], memory[untouched])
  assert new.dtype == memory.dtype and new.shape == memory.shape

  rows = jnp.asarray(memory)[np.stack([y, y[::-1]], axis=1)]
  score = lambda x, rows, z: J.crd_scores(x, rows, temperature=0.07, normalizer=z)
  # Only the embedding carries gradient (memory rows and Z are constants, as in the reference).
  g_rows, g_z = jit_grad(lambda rw, z: jnp.sum(score(e, rw, z)), argnums=(0, 1))(rows, 3.0)
  assert not np.any(np.asarray(g_rows)) and float(g_z) == 0.0
  assert np.any(np.asarray(jit_grad(lambda x: jnp.sum(score(x, rows, 3.0)))(e)))

  scores = r.uniform(1e-4, 1e-2, (5, 9)).astype(np.float32)
  contrast = lambda s: J.crd_contrast(s, num_data=1000)
  np.testing.assert_allclose(contrast(scores), torch_contrast_loss(to_torch(scores), 1000).item(),
                             rtol=RTOL)
  better = scores.copy()
  better[:, 0] *= 10
  assert float(contrast(better)) < float(contrast(scores))   # a larger positive score helps
  assert float(J.crd_normalizer(scores, num_data=7)) == pytest.approx(
      float(scores.mean() * 7), rel=RTOL)


def test_crd_bad_inputs():
  with pytest.raises(ValueError, match=r"rank 2"):
    fl.crd_contrast(np.ones(4, np.float32), num_data=10)
  with pytest.raises(ValueError, match="num_data"):
    fl.crd_contrast(np.ones((2, 4), np.float32), num_data=0)
  with pytest.raises(ValueError, match="memory_rows"):
    fl.crd_scores(np.ones((2, 3)), np.ones((2, 5, 4)), temperature=0.07, normalizer=1.0)
  with pytest.raises(ValueError, match="integer"):
    fl.crd_memory_update(np.ones((5, 3)), np.array([0.0]), np.ones((1, 3)), momentum=0.5)
  with pytest.raises(ValueError, match=r"dim = memory.shape\[1\]"):
    fl.crd_memory_update(np.ones((5, 3)), np.array([0]), np.ones((1, 4)), momentum=0.5)


# ----------------------------------------------------------------------------- ReviewKD


def test_review_hcl_hand_values():
  # H = W = 2: levels 4 and 2 are skipped (l >= H), level 1 gets weight 1/2.
  fs = np.array([1.0, 2.0, 3.0, 4.0], np.float32).reshape(1, 2, 2, 1)
  ft = np.zeros_like(fs)
  mse, mse_1 = (1 + 4 + 9 + 16) / 4, 2.5 ** 2
  np.testing.assert_allclose(J.review_hcl([fs], [ft]), (mse + mse_1 / 2) / 1.5, rtol=RTOL)
  # H = 1 (the pooled logit-sized pair): only the plain MSE.
  a = np.array([[[[1.0, -1.0]]]], np.float32)
  np.testing.assert_allclose(J.review_hcl([a], [np.zeros_like(a)]), 1.0, rtol=RTOL)
  # H = W = 4: level 4 skipped, so levels 2 and 1 get 1/2 and 1/4 (not 1/4 and 1/8).
  x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
  mse4 = np.mean(x ** 2)
  pooled2 = np.array([[x[0, :2, :2].mean(), x[0, :2, 2:].mean()],
                      [x[0, 2:, :2].mean(), x[0, 2:, 2:].mean()]])
  want4 = (mse4 + np.mean(pooled2 ** 2) / 2 + x.mean() ** 2 / 4) / 1.75
  want = want4 + (mse + mse_1 / 2) / 1.5     # summed over pairs
  got = J.review_hcl([x, fs], [np.zeros_like(x), ft])
  np.testing.assert_allclose(got, want, rtol=RTOL)


def test_review_hcl_matches_torch():
  r = rng(5)
  # 8x8 (all levels), 7x7 (non-divisible adaptive bins), 3x6 (non-square: only H counts), 1x1.
  shapes = [(2, 8, 8, 3), (2, 7, 7, 4), (2, 3, 6, 2), (2, 1, 1, 5)]
  fs = [r.normal(size=s).astype(np.float32) for s in shapes]
  ft = [r.normal(size=s).astype(np.float32) for s in shapes]
  want = torch_hcl([to_nchw(x) for x in fs], [to_nchw(x) for x in ft]).item()
  np.testing.assert_allclose(J.review_hcl(fs, ft), want, rtol=RTOL)
  assert float(J.review_hcl(fs, fs)) == 0.0


def test_review_hcl_bad_inputs():
  a = np.zeros((2, 4, 4, 3), np.float32)
  with pytest.raises(ValueError, match="equally long"):
    fl.review_hcl([a, a], [a])
  with pytest.raises(ValueError, match="same shape"):
    fl.review_hcl([a], [a[:, :2]])
  with pytest.raises(ValueError, match=r"student_feats\[0\] must be an NHWC feature map .* of rank 4"):
    fl.review_hcl([a[0]], [a[0]])
  with pytest.raises(ValueError, match="sequences"):
    fl.review_hcl(a, a)


# ----------------------------------------------------------------------------- ITRD


def test_itrd_hand_values():
  # B = 2, D = 1: standardised columns are +-1/sqrt(2) (unbiased std); opposite signs give
  # c = -1/2, so (|c - 1|^2)^alpha = 2.25^alpha.
  s = np.array([[1.0], [3.0]], np.float32)
  t = np.array([[5.0], [-1.0]], np.float32)
  np.testing.assert_allclose(J.itrd_correlation(s, t, alpha=1.5), 1.5 * math.log2(2.25),
                             rtol=RTOL)
  # Mutual: parallel student rows (G_s = ones, / 2), orthogonal teacher rows (G_st = I, / 2):
  # sum (1/2)^2 * 4 - sum (1/2)^2 * 2 = 0.5.
  s = np.array([[1.0, 0.0], [2.0, 0.0]], np.float32)
  t = np.array([[0.0, 3.0], [1.0, 0.0]], np.float32)
  np.testing.assert_allclose(J.itrd_mutual(s, t), 0.5, rtol=RTOL)
  np.testing.assert_allclose(J.itrd_mutual(t, s), 0.0, atol=1e-7)


@pytest.mark.parametrize("alpha", [1.5, 1.01])
def test_itrd_matches_torch(alpha):
  r = rng(6)
  s = r.normal(size=(16, 12)).astype(np.float32)
  t = (0.5 * s + r.normal(size=(16, 12))).astype(np.float32)
  want = torch_itrd_correlation(to_torch(s), to_torch(t), alpha).item()
  np.testing.assert_allclose(J.itrd_correlation(s, t, alpha=alpha), want, rtol=RTOL)
  st = to_torch(s).requires_grad_(True)
  torch_itrd_correlation(st, to_torch(t), alpha).backward()
  grad = jit_grad(lambda a: fl.itrd_correlation(a, t, alpha=alpha))(s)
  np.testing.assert_allclose(grad, st.grad.numpy(), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(J.itrd_mutual(s, t), torch_itrd_mutual(to_torch(s), to_torch(t)).item(),
                             rtol=RTOL)
  wide = r.normal(size=(16, 20)).astype(np.float32)   # Gram matrices allow other widths
  np.testing.assert_allclose(J.itrd_mutual(s, wide),
                             torch_itrd_mutual(to_torch(s), to_torch(wide)).item(), rtol=RTOL)


def test_itrd_properties():
  r = rng(7)
  s, t = r.normal(size=(2, 6, 5)).astype(np.float32)
  corr = lambda a, b: J.itrd_correlation(a, b, alpha=1.5)
  # identical inputs: c = (B-1)/B (unbiased std), loss = log2(D) - 2 alpha log2(B)
  np.testing.assert_allclose(corr(s, s), math.log2(5) - 3 * math.log2(6), rtol=RTOL)
  # per-feature affine changes of either side leave the correlation loss unchanged,
  # per-row scales leave the mutual loss unchanged
  np.testing.assert_allclose(corr(3 * s + 1, t), corr(s, t), rtol=1e-4)
  scale = np.arange(1, 7, dtype=np.float32)[:, None]
  np.testing.assert_allclose(J.itrd_mutual(s * scale, t), J.itrd_mutual(s, t), rtol=1e-4)
  # a constant student column (reference: 0/0) is finite here, with a finite gradient
  s_const = s.copy()
  s_const[:, 0] = 2.0
  assert np.isfinite(float(corr(s_const, t)))
  assert np.all(np.isfinite(jit_grad(corr)(s_const, t)))


def test_itrd_bad_inputs():
  a = np.ones((4, 3), np.float32)
  with pytest.raises(ValueError, match="same shape"):
    fl.itrd_correlation(a, np.ones((4, 5), np.float32))
  with pytest.raises(ValueError, match=">= 2"):
    fl.itrd_correlation(a[:1], a[:1])
  with pytest.raises(ValueError, match="same batch size"):
    fl.itrd_mutual(a, a[:2])
  with pytest.raises(ValueError, match=r"student must be pooled features \[B, D\] .* of rank 2"):
    fl.itrd_mutual(a[None], a[None])


# ----------------------------------------------------------------------------- CAT-KD


def test_cat_kd_hand_values():
  # resolution 1, no normalisation: the squared difference of the spatial means per class.
  s = np.array([1.0, 2.0, 2.0, 4.0], np.float32).reshape(1, 2, 2, 1)
  t = np.zeros((1, 4, 4, 1), np.float32)
  np.testing.assert_allclose(J.cat_kd(s, t, resolution=1, normalize=False), (9 / 4) ** 2,
                             rtol=RTOL)
  # resolution 2, normalised: s / ||s|| = (1, 2, 2, 4) / 5 against a one-hot map.
  t = np.array([1.0, 0.0, 0.0, 0.0], np.float32).reshape(1, 2, 2, 1)
  want = np.mean((np.array([1, 2, 2, 4]) / 5 - np.array([1, 0, 0, 0])) ** 2)
  np.testing.assert_allclose(J.cat_kd(s, t, resolution=2), want, rtol=RTOL)
  # CAMs: [1, 1, 2, D=2] features and a [2, K=3] kernel, by hand.
  feats = np.array([[[[1.0, 2.0], [0.0, -1.0]]]], np.float32)
  kernel = np.array([[1.0, 0.0, 2.0], [0.5, 1.0, -1.0]], np.float32)
  want = np.array([[[[2.0, 2.0, 0.0], [-0.5, -1.0, 1.0]]]])
  np.testing.assert_allclose(J.class_activation_maps(feats, kernel), want, rtol=RTOL)


@pytest.mark.parametrize("resolution, normalize", [(2, True), (2, False), (4, True)])
def test_cat_kd_matches_torch(resolution, normalize):
  r = rng(8)
  feats_s = np.maximum(r.normal(size=(3, 8, 8, 6)), 0).astype(np.float32)
  feats_t = np.maximum(r.normal(size=(3, 7, 7, 10)), 0).astype(np.float32)  # 7: uneven bins
  w_s = r.normal(size=(5, 6)).astype(np.float32)     # torch Linear weights [K, D]
  w_t = r.normal(size=(5, 10)).astype(np.float32)
  cam_s = J.class_activation_maps(feats_s, w_s.T)
  cam_t = J.class_activation_maps(feats_t, w_t.T)
  tcam_s = torch_cams(to_nchw(feats_s), to_torch(w_s))
  tcam_t = torch_cams(to_nchw(feats_t), to_torch(w_t))
  np.testing.assert_allclose(cam_s, tcam_s.numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-5)
  want = torch_cat_loss(tcam_s, tcam_t, resolution, normalize).item()
  got = J.cat_kd(cam_s, cam_t, resolution=resolution, normalize=normalize)
  np.testing.assert_allclose(got, want, rtol=RTOL)


def test_cat_kd_properties():
  r = rng(9)
  cam_s, cam_t = r.normal(size=(2, 2, 4, 4, 3)).astype(np.float32)
  assert abs(float(J.cat_kd(cam_s, cam_s))) < 1e-12   # 0 up to rounding of the two paths
  # normalised: invariant to a positive scale of a CAM
  np.testing.assert_allclose(J.cat_kd(5 * cam_s, cam_t), J.cat_kd(cam_s, cam_t), rtol=1e-5)
  # with the bias, the spatial mean of the CAM is the Dense logits of the pooled features
  feats = r.normal(size=(2, 4, 4, 6)).astype(np.float32)
  kernel, bias = r.normal(size=(6, 3)).astype(np.float32), r.normal(size=3).astype(np.float32)
  cams = J.class_activation_maps(feats, kernel, bias)
  np.testing.assert_allclose(cams.mean(axis=(1, 2)), feats.mean(axis=(1, 2)) @ kernel + bias,
                             rtol=1e-5, atol=1e-6)


def test_cat_kd_bad_inputs():
  a = np.zeros((2, 4, 4, 3), np.float32)
  with pytest.raises(ValueError, match="batch and class axes"):
    fl.cat_kd(a, a[..., :2])
  with pytest.raises(ValueError, match="rank 4"):
    fl.cat_kd(a[0], a[0])
  with pytest.raises(ValueError, match="resolution"):
    fl.cat_kd(a, a, resolution=0)
  with pytest.raises(ValueError, match="must be transposed"):
    fl.class_activation_maps(a, np.zeros((5, 3), np.float32))
  with pytest.raises(ValueError, match=r"classifier_bias"):
    fl.class_activation_maps(a, np.zeros((3, 5), np.float32), np.zeros(4, np.float32))


# ----------------------------------------------------------------------------- all: jit, vmap, dtypes, jit == eager


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
  assert_finite_nonzero(grad)


def test_batch_losses_jit_and_bfloat16():
  r = rng(14)
  s = r.normal(size=(6, 5)).astype(np.float32)
  t = r.normal(size=(6, 4)).astype(np.float32)
  for eager, fn in ((fl.rkd, J.rkd), (fl.pkt, J.pkt)):
    out = fn(s, t)
    assert out.shape == () and out.dtype == jnp.float32
    np.testing.assert_allclose(eager(s, t), out, rtol=1e-5)
    bf = fn(s.astype(jnp.bfloat16), t.astype(jnp.bfloat16))
    assert bf.dtype == jnp.float32
    want = fn(np.asarray(jnp.asarray(s, jnp.bfloat16), np.float32),
              np.asarray(jnp.asarray(t, jnp.bfloat16), np.float32))
    np.testing.assert_allclose(bf, want, rtol=1e-5)
  # Traced weights under jit.
  weighted = jax.jit(lambda s, t, w: J.rkd(s, t, distance_weight=w, angle_weight=2 * w))
  np.testing.assert_allclose(weighted(s, t, 1.0), J.rkd(s, t, distance_weight=1.0, angle_weight=2.0),
                             rtol=1e-5)


def test_jit_matches_eager():
  """Every function, eagerly and under jit, on tiny inputs (eager compiles op by op)."""
  r = rng(10)
  z, v = r.normal(size=(2, 3, 4)).astype(np.float32)
  scores = r.uniform(1e-3, 1e-1, (3, 4)).astype(np.float32)
  memory = unit_rows(r.normal(size=(6, 4)))
  rows = memory[np.array([[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5]])]
  e = unit_rows(r.normal(size=(3, 4)))
  maps = r.normal(size=(2, 2, 5, 5, 3)).astype(np.float32)
  kernel = r.normal(size=(3, 2)).astype(np.float32)
  cases = [
      ("crd_contrast", dict(num_data=50), (scores,)),
      ("crd_scores", dict(temperature=0.07, normalizer=3.0), (e, rows)),
      ("crd_normalizer", dict(num_data=50), (scores,)),
      ("crd_memory_update", dict(momentum=0.5), (memory, np.array([4, 1, 2]), e)),
      ("review_hcl", {}, ([maps[0]], [maps[1]])),
      ("adaptive_avg_pool2d", dict(output_size=2), (maps[0],)),
      ("itrd_correlation", dict(alpha=1.5), (z, v)),
      ("itrd_mutual", {}, (z, v)),
      ("cat_kd", dict(resolution=2, normalize=True), (maps[0], maps[1])),
      ("class_activation_maps", {}, (maps[0], kernel)),
  ]
  for name, kwargs, args in cases:
    np.testing.assert_allclose(getattr(J, name)(*args, **kwargs), getattr(fl, name)(*args, **kwargs),
                               rtol=RTOL, atol=1e-7, err_msg=name)


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
