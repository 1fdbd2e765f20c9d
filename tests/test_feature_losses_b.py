"""Tests of losses.dist and kdjax.feature_losses (CRD, ReviewKD HCL, ITRD, CAT-KD).

Each function: a value worked out by hand with numpy on a tiny input, equality
with a PyTorch re-implementation of the reference behaviour (written here),
jit == eager, properties, and ValueError on bad input.
"""

import math
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kdjax import feature_losses as fl
from kdjax import losses

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL = 1e-5

# Jitted entry points: one compile per function and shape (eager op-by-op dispatch is slow on
# a busy CPU); the eager paths are compared with these in the *_jit_* tests.
J = types.SimpleNamespace(
    dist=jax.jit(losses.dist),
    crd_contrast=jax.jit(fl.crd_contrast, static_argnames="num_data"),
    crd_scores=jax.jit(fl.crd_scores),
    crd_normalizer=jax.jit(fl.crd_normalizer, static_argnames="num_data"),
    crd_memory_update=jax.jit(fl.crd_memory_update),
    review_hcl=jax.jit(fl.review_hcl),
    adaptive_avg_pool_nhwc=jax.jit(fl.adaptive_avg_pool_nhwc, static_argnames="size"),
    itrd_correlation=jax.jit(fl.itrd_correlation),
    itrd_mutual=jax.jit(fl.itrd_mutual),
    cat_kd=jax.jit(fl.cat_kd, static_argnames=("resolution", "normalize")),
    class_activation_maps=jax.jit(fl.class_activation_maps),
)



def rng(seed=0):
  return np.random.default_rng(seed)


def t64(x):
  return torch.tensor(np.asarray(x, np.float64))


def nchw(x):
  """NHWC numpy -> NCHW float64 torch."""
  return t64(np.transpose(np.asarray(x), (0, 3, 1, 2)))


# ----------------------------------------------------------------------------- torch references
# Own re-implementations of the reference behaviour (see each function's docstring in kdjax).


def torch_dist(z_s, z_t, beta, gamma, tau):
  """zkxufo/TTM distiller_zoo/dist.py behaviour."""
  def pearson(a, b, eps=1e-8):
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + eps)
  y_s, y_t = (z_s / tau).softmax(1), (z_t / tau).softmax(1)
  inter = tau ** 2 * (1 - pearson(y_s, y_t).mean())
  intra = tau ** 2 * (1 - pearson(y_s.t(), y_t.t()).mean())
  return beta * inter + gamma * intra


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
    loss, cnt, tot = F.mse_loss(fs, ft), 1.0, 1.0
    for level in (4, 2, 1):
      if level >= h:
        continue
      cnt /= 2.0
      loss = loss + F.mse_loss(F.adaptive_avg_pool2d(fs, level),
                               F.adaptive_avg_pool2d(ft, level)) * cnt
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
  s, t = F.normalize(f_s), F.normalize(f_t)
  g_s = s @ s.t()
  g_st = g_s * (t @ t.t())
  g_s, g_st = g_s / torch.trace(g_s), g_st / torch.trace(g_st)
  return (g_s.pow(2) - g_st.pow(2)).sum()


def torch_cat_loss(cam_s, cam_t, resolution, normalize):
  """GzyAftermath/CAT-KD mdistiller/distillers/CAT_KD.py CAT_loss behaviour (NCHW)."""
  cam_s = F.adaptive_avg_pool2d(cam_s, (resolution, resolution))
  cam_t = F.adaptive_avg_pool2d(cam_t, (resolution, resolution))
  if normalize:
    cam_s, cam_t = F.normalize(cam_s, dim=(2, 3)), F.normalize(cam_t, dim=(2, 3))
  return F.mse_loss(cam_s, cam_t)


def torch_cams(features_nchw, fc_weight):
  """CAT-KD's conv_test: a bias-free 1x1 conv carrying the fc weight [K, D]."""
  return F.conv2d(features_nchw, fc_weight[:, :, None, None])


# ----------------------------------------------------------------------------- DIST


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
  got = J.dist(z.astype(np.float32), v.astype(np.float32), beta=2.0, gamma=0.5)
  np.testing.assert_allclose(got, 2.0 * inter + 0.5 * intra, rtol=RTOL)


@pytest.mark.parametrize("tau, beta, gamma", [(1.0, 1.0, 1.0), (4.0, 2.0, 0.5)])
def test_dist_matches_torch(tau, beta, gamma):
  z, v = rng(1).normal(0, 3, (2, 8, 10)).astype(np.float32)
  want = torch_dist(t64(z), t64(v), beta, gamma, tau).item()
  got = J.dist(z, v, beta=beta, gamma=gamma, temperature=tau)
  np.testing.assert_allclose(got, want, rtol=RTOL)
  # gradients w.r.t. the student logits as well
  zt = t64(z).requires_grad_(True)
  torch_dist(zt, t64(v), beta, gamma, tau).backward()
  grad = jax.jit(jax.grad(lambda a: losses.dist(a, v, beta=beta, gamma=gamma,
                                                 temperature=tau)))(z)
  np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-4, atol=1e-7)


def test_dist_properties():
  z, v = rng(2).normal(0, 2, (2, 6, 5)).astype(np.float32)
  assert abs(float(J.dist(z, z, temperature=4.0))) < 1e-4   # 0 up to the 1e-8 eps
  assert float(J.dist(z, v)) > 0
  # One sample: every class column is constant (zero norm): finite value and gradient.
  grad = jax.jit(jax.grad(lambda a: losses.dist(a, v[:1])))(z[:1])
  assert np.all(np.isfinite(grad))


def test_dist_bad_inputs():
  z = np.zeros((2, 3, 4), np.float32)
  with pytest.raises(ValueError, match=r"\[batch, num_classes\]"):
    losses.dist(z, z)
  with pytest.raises(ValueError, match="same shape"):
    losses.dist(z[0], z[0, :2])
  with pytest.raises(ValueError, match="scalar"):
    losses.dist(z[0], z[0], temperature=np.ones(3))


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


def _unit(x):
  return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def test_crd_step_matches_torch():
  """Two CRD steps (Z fixed on the first) against the reference's memory + losses."""
  r = rng(3)
  n_data, dim, batch, k, t, m = 40, 8, 4, 6, 0.07, 0.5
  stdv = 1.0 / math.sqrt(dim / 3)
  mem_s = r.uniform(-stdv, stdv, (n_data, dim)).astype(np.float32)
  mem_t = r.uniform(-stdv, stdv, (n_data, dim)).astype(np.float32)
  tm_s, tm_t, z_s, z_t = t64(mem_s), t64(mem_t), -1.0, -1.0
  j_zs = j_zt = None
  for step in range(2):
    y = r.choice(n_data, batch, replace=False)
    idx = np.concatenate([y[:, None], r.integers(0, n_data, (batch, k))], axis=1)
    v1, v2 = _unit(r.normal(size=(batch, dim))), _unit(r.normal(size=(batch, dim)))
    want, tm_s, tm_t, z_s, z_t = torch_crd_step(
        tm_s, tm_t, t64(v1), t64(v2), torch.tensor(y), torch.tensor(idx), t, m, z_s, z_t, n_data)

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
  e = _unit(r.normal(size=(3, 4)))
  new = J.crd_memory_update(memory, y, e, momentum=0.5)
  np.testing.assert_allclose(np.linalg.norm(np.asarray(new)[y], axis=1), 1.0, rtol=RTOL)
  untouched = np.setdiff1d(np.arange(12), y)
  np.testing.assert_array_equal(np.asarray(new)[untouched], memory[untouched])
  assert new.dtype == memory.dtype and new.shape == memory.shape

  rows = jnp.asarray(memory)[np.stack([y, y[::-1]], axis=1)]
  score = lambda x, rows, z: J.crd_scores(x, rows, temperature=0.07, normalizer=z)
  # Only the embedding carries gradient (memory rows and Z are constants, as in the reference).
  g_rows, g_z = jax.jit(jax.grad(lambda rw, z: jnp.sum(score(e, rw, z)), argnums=(0, 1)))(
      rows, 3.0)
  assert not np.any(np.asarray(g_rows)) and float(g_z) == 0.0
  assert np.any(np.asarray(jax.jit(jax.grad(lambda x: jnp.sum(score(x, rows, 3.0))))(e)))

  scores = r.uniform(1e-4, 1e-2, (5, 9)).astype(np.float32)
  contrast = lambda s: J.crd_contrast(s, num_data=1000)
  np.testing.assert_allclose(contrast(scores), torch_contrast_loss(t64(scores), 1000).item(),
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
  want = torch_hcl([nchw(x) for x in fs], [nchw(x) for x in ft]).item()
  np.testing.assert_allclose(J.review_hcl(fs, ft), want, rtol=RTOL)
  assert float(J.review_hcl(fs, fs)) == 0.0
  # the pooling helper itself, non-divisible and upsampling cases
  x = r.normal(size=(1, 7, 5, 2)).astype(np.float32)
  for size in [(4, 3), (2, 2), (3, 7)]:
    want = F.adaptive_avg_pool2d(nchw(x), size).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(J.adaptive_avg_pool_nhwc(x, size), want, rtol=RTOL, atol=1e-7)


def test_review_hcl_bad_inputs():
  a = np.zeros((2, 4, 4, 3), np.float32)
  with pytest.raises(ValueError, match="equally long"):
    fl.review_hcl([a, a], [a])
  with pytest.raises(ValueError, match="same shape"):
    fl.review_hcl([a], [a[:, :2]])
  with pytest.raises(ValueError, match=r"student_feats\[0\] must have rank 4"):
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
  want = torch_itrd_correlation(t64(s), t64(t), alpha).item()
  np.testing.assert_allclose(J.itrd_correlation(s, t, alpha=alpha), want, rtol=RTOL)
  st = t64(s).requires_grad_(True)
  torch_itrd_correlation(st, t64(t), alpha).backward()
  grad = jax.jit(jax.grad(lambda a: fl.itrd_correlation(a, t, alpha=alpha)))(s)
  np.testing.assert_allclose(grad, st.grad.numpy(), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(J.itrd_mutual(s, t), torch_itrd_mutual(t64(s), t64(t)).item(),
                             rtol=RTOL)
  wide = r.normal(size=(16, 20)).astype(np.float32)   # Gram matrices allow other widths
  np.testing.assert_allclose(J.itrd_mutual(s, wide),
                             torch_itrd_mutual(t64(s), t64(wide)).item(), rtol=RTOL)


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
  assert np.all(np.isfinite(jax.jit(jax.grad(corr))(s_const, t)))


def test_itrd_bad_inputs():
  a = np.ones((4, 3), np.float32)
  with pytest.raises(ValueError, match="same shape"):
    fl.itrd_correlation(a, np.ones((4, 5), np.float32))
  with pytest.raises(ValueError, match=">= 2"):
    fl.itrd_correlation(a[:1], a[:1])
  with pytest.raises(ValueError, match="same batch size"):
    fl.itrd_mutual(a, a[:2])
  with pytest.raises(ValueError, match=r"rank 2 \(\[batch, dim\]\)"):
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
  tcam_s, tcam_t = torch_cams(nchw(feats_s), t64(w_s)), torch_cams(nchw(feats_t), t64(w_t))
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


# ----------------------------------------------------------------------------- jit == eager


def test_jit_matches_eager():
  """Every function, eagerly and under jit, on tiny inputs (eager compiles op by op)."""
  r = rng(10)
  z, v = r.normal(size=(2, 3, 4)).astype(np.float32)
  scores = r.uniform(1e-3, 1e-1, (3, 4)).astype(np.float32)
  memory = _unit(r.normal(size=(6, 4)))
  rows = memory[np.array([[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5]])]
  e = _unit(r.normal(size=(3, 4)))
  maps = r.normal(size=(2, 2, 5, 5, 3)).astype(np.float32)
  kernel = r.normal(size=(3, 2)).astype(np.float32)
  cases = [
      ("dist", dict(beta=1.0, gamma=2.0, temperature=4.0), (z, v)),
      ("crd_contrast", dict(num_data=50), (scores,)),
      ("crd_scores", dict(temperature=0.07, normalizer=3.0), (e, rows)),
      ("crd_normalizer", dict(num_data=50), (scores,)),
      ("crd_memory_update", dict(momentum=0.5), (memory, np.array([4, 1, 2]), e)),
      ("review_hcl", {}, ([maps[0]], [maps[1]])),
      ("adaptive_avg_pool_nhwc", dict(size=2), (maps[0],)),
      ("itrd_correlation", dict(alpha=1.5), (z, v)),
      ("itrd_mutual", {}, (z, v)),
      ("cat_kd", dict(resolution=2, normalize=True), (maps[0], maps[1])),
      ("class_activation_maps", {}, (maps[0], kernel)),
  ]
  for name, kwargs, args in cases:
    eager_fn = losses.dist if name == "dist" else getattr(fl, name)
    np.testing.assert_allclose(getattr(J, name)(*args, **kwargs), eager_fn(*args, **kwargs),
                               rtol=RTOL, atol=1e-7, err_msg=name)
