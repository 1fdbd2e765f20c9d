"""Float64 numpy references of the formulas the tests check kdjax against (one copy for every test).

Written from the papers' and the reference codebases' formulas (see ``kdjax/losses.py``,
``kdjax/temperature.py``, ``kdjax/mlkd.py``), independently of the JAX code: no kdjax import.
Logits are ``[B, K]`` (class axis last); per-example functions return ``[B]``; a temperature
is a scalar or a per-example ``[B]`` array.

  softmax / log_softmax   numerically stable, over the last axis
  zscore                  LS (Sun et al. 2024): (x - mean) / (eps + std), ddof 1 as released
  cross_entropy           -log softmax(z)[y]
  kd                      T^2 KL(softmax(v/T) || softmax(z/T))          (Hinton et al. 2015)
  dkd                     T^2 (alpha TCKD + beta NCKD), decoupled as in Zhao et al. 2022
  ttm / wttm              KL(softmax(v)^g / U || softmax(z)), times U for WTTM (Zheng & Yang 2024)
  max_logit               max of the z-scored maxima x (1 + sqrt 3) / 2  (Matsuyama et al. 2025)
  dist                    DIST inter + intra relations (Huang et al. 2022, TTM repository's form)
  mlkd                    released MLKD's ce / kd / cc / bc               (Jin et al. 2023)
  correlation             per-example Pearson correlation of two logit vectors
  ctkd_temperature        t_start + t_range sigmoid(theta)                 (Li et al. 2023)
"""

from __future__ import annotations

import math

import numpy as np

EPS = 1e-7  # LS's eps (released code)
MLKD_TEMPERATURES = (3.0, 5.0, 2.0, 6.0)  # released MLKD: TS = [T0, 3, 5, 2, 6]


def f64(x):
  return np.asarray(x, np.float64)


def log_softmax(x):
  x = f64(x)
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def softmax(x):
  return np.exp(log_softmax(x))


def _column(t):
  """A scalar or per-example temperature as a broadcastable ``[B, 1]`` (or scalar) array."""
  t = f64(t)
  return t[..., None] if t.ndim else t


def zscore(x, *, ddof=1, eps=EPS, center=True, scale=True):
  """``x - mean`` (center) and ``/ (eps + std)`` (scale) over the classes, each optional."""
  x = f64(x)
  out = x - x.mean(-1, keepdims=True) if center else x
  return out / (eps + x.std(-1, ddof=ddof, keepdims=True)) if scale else out


def cross_entropy(z, y):
  return -log_softmax(z)[np.arange(len(y)), np.asarray(y)]


def kl(log_p, log_q):
  return (np.exp(log_p) * (log_p - log_q)).sum(-1)


def kd(z, v, t):
  """``T^2 KL(softmax(v / T) || softmax(z / T))`` per example."""
  tc = _column(t)
  return f64(t) ** 2 * kl(log_softmax(f64(v) / tc), log_softmax(f64(z) / tc))


def dkd(z, v, y, alpha, beta, t):
  """DKD as decoupled in the paper: ``T^2 (alpha KL(b_t||b_s) + beta KL(p^_t||p^_s))``.

  ``b = [p_target, 1 - p_target]`` and ``p^`` the non-target probabilities renormalised,
  of ``p = softmax(logits / T)``.
  """
  tc = _column(t)
  p_s, p_t = softmax(f64(z) / tc), softmax(f64(v) / tc)
  rows, y = np.arange(len(y)), np.asarray(y)
  b_s = np.stack([p_s[rows, y], 1 - p_s[rows, y]], -1)
  b_t = np.stack([p_t[rows, y], 1 - p_t[rows, y]], -1)
  tckd = np.sum(b_t * np.log(b_t / b_s), -1)
  keep = np.ones_like(p_s, bool)
  keep[rows, y] = False
  hat_s = p_s[keep].reshape(len(y), -1)
  hat_t = p_t[keep].reshape(len(y), -1)
  hat_s, hat_t = hat_s / hat_s.sum(-1, keepdims=True), hat_t / hat_t.sum(-1, keepdims=True)
  nckd = np.sum(hat_t * np.log(hat_t / hat_s), -1)
  return f64(t) ** 2 * (alpha * tckd + beta * nckd)


def ttm(z, v, gamma, *, weighted=False):
  """``KL(p~ || softmax(z))``, ``p~ = softmax(v)^gamma / U``; WTTM multiplies by ``U``."""
  powered = softmax(v) ** _column(gamma)
  u = powered.sum(-1)
  p = powered / u[:, None]
  value = np.sum(p * (np.log(p) - log_softmax(z)), -1)
  return u * value if weighted else value


def wttm(z, v, gamma):
  return ttm(z, v, gamma, weighted=True)


def max_logit(z, v, *, order=2, teacher_only=False):
  m = zscore(v).max(-1) if teacher_only else np.maximum(zscore(z).max(-1), zscore(v).max(-1))
  return m if order == 1 else m * (1 + math.sqrt(3)) / 2


def correlation(z, v):
  """Per-example Pearson correlation of ``z`` and ``v`` over the classes."""
  z, v = f64(z), f64(v)
  return np.array([np.corrcoef(a, b)[0, 1] for a, b in zip(z, v)])


def dist(z, v, *, beta=1.0, gamma=1.0, tau=1.0):
  """DIST: ``tau^2 (beta (1 - mean_b rho(rows)) + gamma (1 - mean_k rho(columns)))``."""
  y_s, y_t = softmax(f64(z) / tau), softmax(f64(v) / tau)

  def rho(a, b):  # row-wise centred cosine, eps 1e-8 in the denominator
    a, b = a - a.mean(-1, keepdims=True), b - b.mean(-1, keepdims=True)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-8)

  inter = tau ** 2 * (1 - rho(y_s, y_t).mean())
  intra = tau ** 2 * (1 - rho(y_s.T, y_t.T).mean())
  return beta * inter + gamma * intra


def mlkd(sw, ss, tw, ts, y, *, t0, ce_weight, kd_weight, standardize):
  """Released MLKD's ``{'ce', 'kd', 'cc', 'bc'}`` (their sum is the loss); ``t0`` scalar or [B].

  Masks from the weak teacher at T = 1: samples whose max-probability is <= its batch median,
  classes whose summed probability is <= its median (fractions ``f_s``, ``f_c``, as released).
  """
  sw, ss, tw, ts = (f64(a) for a in (sw, ss, tw, ts))
  b, k = sw.shape
  prep = zscore if standardize else f64

  def inst(s, t, temp):
    return kd(prep(s), prep(t), temp).mean()

  def gram_terms(temp):
    tc = f64(temp).reshape(-1, 1)
    ps, pt = softmax(sw / tc), softmax(tw / tc)
    return (np.sum((pt.T @ pt - ps.T @ ps) ** 2) / k, np.sum((pt @ pt.T - ps @ ps.T) ** 2) / b)

  p = softmax(tw)
  frac_s = np.mean(p.max(-1) <= np.percentile(p.max(-1), 50))
  frac_c = np.mean(p.sum(0) <= np.percentile(p.sum(0), 50))
  ce = ce_weight * (cross_entropy(sw, y).mean() + cross_entropy(ss, y).mean())
  kd_total = cc = bc = 0.0
  for temp in (t0, *MLKD_TEMPERATURES):
    cc_t, bc_t = gram_terms(temp)
    kd_total += kd_weight * inst(sw, tw, temp) * frac_s
    cc += kd_weight * cc_t * frac_c
    bc += kd_weight * bc_t * frac_s
  t3, t5, t2, t6 = MLKD_TEMPERATURES
  for s, t, temp in ((ss, ts, t0), (ss, ts, t3), (ss, ts, t5), (sw, tw, t2), (sw, tw, t6)):
    kd_total += kd_weight * inst(s, t, temp)
  return {'ce': ce, 'kd': kd_total, 'cc': cc, 'bc': bc}


def sigmoid(x):
  return 1.0 / (1.0 + math.exp(-x))


def ctkd_temperature(theta=1.0, *, t_start=1.0, t_range=20.0):
  """CTKD's global temperature ``t_start + t_range sigmoid(theta)`` (15.6212 at the start)."""
  return t_start + t_range * sigmoid(theta)
