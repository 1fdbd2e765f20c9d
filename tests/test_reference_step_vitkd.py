"""Step equivalence of ViTKD: kdjax's assembled train step vs yzd-v/cls_KD's (mmcls) step.

kdjax's REAL compiled train step (``tests/reference_step.py``) for the ``vitkd`` preset on the
DeiT recipe (``deit_imagenet``, ``kdjax.recipes.deit``) runs beside a PyTorch step written here
from yzd-v/cls_KD, from identical weights on identical batches, for 3 steps:

* the distiller: ``mmcls/models/classifiers/distiller.py`` ``ClassificationDistiller.loss``:
  the student's head loss (``VisionTransformerClsHead`` -> ``LabelSmoothLoss(label_smooth_val=0.1,
  mode='original')``, ``mmcls/models/losses/label_smooth_loss.py``: targets ``(1 - eps) onehot +
  eps / K``, soft cross-entropy, batch mean) plus ``loss_vitkd``, unweighted; the teacher's
  backbone under ``no_grad``; the backbones' ``[low_f, high_f]`` (the patch tokens after blocks 0
  and 1, and after the last block's final LayerNorm: ``mmcls/models/backbones/
  vision_transformer.py``);
* ``ViTKDLoss`` (``mmcls/models/dis_losses/vitkd.py``): ``align2`` / ``align`` linear projections
  (the widths differ here), the MAE-style masking (keep ``int(N (1 - lambda))`` tokens, the others
  become the mask token, unshuffled by ``gather``), the generation block (conv 3x3 - ReLU - conv
  3x3 on the token grid), ``alpha * SSE / B`` and ``beta / lambda * masked SSE / B``;
* the optimizer (``configs/deit/deit-small_pt-4xb256_in1k.py`` on
  ``configs/_base_/schedules/imagenet_bs1024_adamw_swin.py``): ``AdamW(lr, betas (0.9, 0.999),
  eps 1e-8, weight_decay 0.05)`` over the student and the distiller's ViTKD modules (the teacher is
  frozen), with mmengine's ``paramwise_cfg``: no decay for norm parameters, biases, flat
  (one-dimensional) parameters and ``.cls_token`` / ``.pos_embed``; every other leaf decays,
  ViTKD's ``[1, 1, D]`` mask token included; ``clip_grad=dict(max_norm=5.0)``
  (``clip_grad_norm_`` over those parameters before ``step``).

Overrides of the recipe, so that the batches are deterministic and the steps informative:
Mixup / CutMix off (``mixup_alpha = cutmix_alpha = 0``), RandAugment and RandomErasing off (the
view is the normalised host crop); the warm-up off (``warmup_epochs = 0``: at its start, lr
1e-6, AdamW's updates of ~lr per element would drown in the float32 rounding of the weights),
so the three updates run at the peak lr (mmcls's cosine is stepped per epoch: lr 1e-3 for all of
epoch 1; kdjax's per-update cosine is ~1e-8 relative below it at the third update); ViTKD's
alpha and beta scaled up (``ALPHA``, ``BETA``), so that its terms move the student about as much
as the CE (at cls_KD's 3e-5 / 3e-6 on these 16 tokens of width 48 they are ~2e-2 and ~1e-3 of
the objective, and an error in their gradient path into the student would hide under the
tolerance). ``mask_ratio`` (lambda) is the recipe's 0.5.

Models: toy DeiTs registered for this test only (``toy_vits``): a DeiT III teacher (width 48,
LayerScale, position embedding on the patches only) and a DeiT student (width 24, so ViTKD's
projections exist), 3 blocks each (the mimicked blocks 0, 1 are not the generated last one),
patch 4 on 16 x 16 crops: 16 tokens on a 4 x 4 grid; dropout and stochastic depth off as in
cls_KD's deit-tiny student. (``vit_toy`` has dropout, whose masks the reference cannot draw, and
one width.) The weights are ``torch_models.randomize_vit``'s (unit-gain, O(1) attention logits);
ViTKD's projections and generation block have PyTorch's default initialisation; the student's
class token and position embedding and ViTKD's mask token are N(0, 1) (``reference_modules``).

The random mask: kdjax draws it in the step from the ``'sample'`` rng
(``feature_losses.vitkd_token_mask``; the draw itself is tested in ``test_method_vitkd.py``).
Here the draw is wrapped (before the step is traced) so that the mask of each step is also sent
to the host (``jax.debug.callback``); the reference masks exactly those tokens.

Tolerances: the reference runs in float32 and float64 from the same weights, and kdjax's float32
terms and updates must be as close to the float64 ones as the float32 reference's are, up to
``FACTOR`` (``reference_step.within_float32_spread``; two float32 roundings of one computation
land at comparable distances from the exact result; 4 leaves room for their random ratio).
Floors, for quantities the float32 reference happens to get almost exactly: ``TERM_RTOL`` 2e-5
relative for the terms (a logged batch mean is ~30 float32 roundings deep), ``UPDATE_RTOL`` 1e-3
of the norm of a leaf's update; no absolute floor (``UPDATE_ATOL`` 0): AdamW moves every element
by ~lr = 1e-3, far above the float32 rounding of ``w_final - w_initial`` (~1e-7 at |w| ~ 1).
Unchanged, kdjax uses at most 0.09 of the allowed distance; the modelling changes listed in
``test_vitkd_step_matches_cls_kd`` exceed it 30 to 1400 times.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import jax
import numpy as np
import pytest
import torch
from torch import nn

from kdjax import config as config_lib
from kdjax import convert
from kdjax import feature_losses
from kdjax.models import registry
from kdjax.models import vit
from tests import reference_step as rs
from tests import torch_models

pytestmark = pytest.mark.reference_step

# (width, depth, heads, DeiT III) of the toy models; names with 'vit': the DeiT recipe's family.
TEACHER, STUDENT = 'vit_step_test_teacher', 'vit_step_test_student'
SIZES = {TEACHER: (48, 3, 3, True), STUDENT: (24, 3, 2, False)}
IMAGE, PATCH, NUM_CLASSES, NUM_EXAMPLES, BATCH = 16, 4, 10, 24, 8
BATCHES = [np.arange(0, 8), np.arange(8, 16), np.array([0, 1, 2, 3, 16, 17, 18, 19])]
ALPHA, BETA = 1e-3, 1e-3  # vitkd.alpha, vitkd.beta (module docstring)
OVERRIDES = {'mixup_alpha': 0.0, 'cutmix_alpha': 0.0, 'randaugment': 'none',
             'random_erasing_prob': 0.0, 'warmup_epochs': 0, 'vitkd.alpha': ALPHA,
             'vitkd.beta': BETA}
FACTOR = 4.0
TERM_RTOL, TERM_ATOL = 2e-5, 0.0
UPDATE_RTOL, UPDATE_ATOL = 1e-3, 0.0


# ----------------------------------------------------------------------------- fixtures
def _toy_deit(dim, depth, heads, deit3, num_classes, dtype, conv_batch_chunks=1):
  """kdjax's ViT at a toy size (DeiT III: LayerScale, ``no_embed_class``), no dropout."""
  del conv_batch_chunks
  return vit.VisionTransformer(num_classes, patch_size=PATCH, dim=dim, depth=depth,
                               num_heads=heads, mlp_ratio=4.0, drop_rate=0.0,
                               init_values=vit.DEIT3_INIT_VALUES if deit3 else None,
                               no_embed_class=deit3, dtype=dtype)


@pytest.fixture
def toy_vits(monkeypatch):
  """The two toy DeiTs in kdjax's model registry for this test."""
  for name, sizes in SIZES.items():
    monkeypatch.setitem(registry._REGISTRY, name,  # pylint: disable=protected-access
                        (functools.partial(_toy_deit, *sizes), (IMAGE, IMAGE, 3)))


_DRAWN: list[np.ndarray] = []  # the masks the step sent to the host, in the order drawn
_DRAW = feature_losses.vitkd_token_mask


def _recorded_mask(key, batch, tokens, *, mask_ratio):
  """``feature_losses.vitkd_token_mask``, its result also sent to the host (``_DRAWN``)."""
  mask = _DRAW(key, batch, tokens, mask_ratio=mask_ratio)
  jax.debug.callback(lambda m: _DRAWN.append(np.array(m)), mask)
  return mask


@pytest.fixture
def drawn_masks(monkeypatch):
  """Every mask kdjax's ViTKD draws from here on (the step must be traced after this)."""
  monkeypatch.setattr(feature_losses, 'vitkd_token_mask', _recorded_mask)
  _DRAWN.clear()
  yield _DRAWN
  _DRAWN.clear()


# ----------------------------------------------------------------------------- reference
def decay_groups(named_params, weight_decay):
  """open-mmlab/mmengine ``mmengine/optim/optimizer/default_constructor.py``
  (``DefaultOptimWrapperConstructor.add_params``) with the DeiT ``paramwise_cfg``: a parameter
  of a LayerNorm (norm_decay_mult 0), a bias (bias_decay_mult 0), a one-dimensional one
  (flat_decay_mult 0) or one whose name contains ``.cls_token`` / ``.pos_embed`` (custom_keys)
  is not decayed; the others are, at ``weight_decay``."""
  decay, no_decay = [], []
  for name, param, module in named_params:
    spared = (isinstance(module, nn.LayerNorm) or name.endswith('bias') or param.ndim == 1
              or any(key in '.' + name for key in ('.cls_token', '.pos_embed')))
    (no_decay if spared else decay).append(param)
  return [{'params': decay, 'weight_decay': weight_decay},
          {'params': no_decay, 'weight_decay': 0.0}]


def _named_params(module):
  """``(name, parameter, owning module)`` of every parameter."""
  for module_name, sub in module.named_modules():
    for name, param in sub.named_parameters(recurse=False):
      yield f'{module_name}.{name}' if module_name else name, param, sub


def reference_steps(config, source, student, teacher, distill, masks, lr):
  """The cls_KD / mmcls steps on ``BATCHES`` (modules updated in place, in their dtype):
  per step the terms under kdjax's names, ``loss``, ``top1`` (a fraction, as kdjax's step
  logs it) and ``_grad_norm`` (the gradient norm before clipping, not compared)."""
  dtype = next(student.parameters()).dtype
  named = list(_named_params(student)) + list(_named_params(distill))
  params = [p for _, p, _ in named]
  optimizer = torch.optim.AdamW(decay_groups(named, config.weight_decay), lr=lr,
                                betas=(config.adam_b1, config.adam_b2), eps=config.adam_eps)
  student.train()
  distill.train()
  teacher.eval()
  history = []
  for step, indices in enumerate(BATCHES):
    x = rs.torch_images(source.images[indices], source.mean, source.std).to(dtype)
    target = torch.from_numpy(source.labels[indices].astype(np.int64))
    optimizer.zero_grad()
    tokens_s = student.forward_tokens(x)
    logits = student.head(tokens_s[-1][:, 0])
    with torch.no_grad():
      tokens_t = teacher.forward_tokens(x)
    low_s, low_t = (torch.stack([t[0][:, 1:], t[1][:, 1:]], dim=1) for t in (tokens_s, tokens_t))
    loss_lr, loss_gen = distill(low_s, tokens_s[-1][:, 1:], low_t, tokens_t[-1][:, 1:],
                                torch_models.kept_first_noise(torch.from_numpy(masks[step])))
    terms = {'ce': config.ce_weight * torch_models.label_smooth_loss(
        logits, target, config.label_smoothing).mean(),
             'vitkd_mimic': config.feature.weight * loss_lr,
             'vitkd_generation': config.feature.weight * loss_gen}
    loss = sum(terms.values())
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(params, config.grad_clip_norm)
    optimizer.step()
    row = {k: float(v.detach()) for k, v in terms.items()}
    row.update(loss=float(loss.detach()),
               top1=float((logits.argmax(1) == target).double().mean()),
               _grad_norm=float(norm))
    history.append(row)
  return history


def reference_modules(config, seed: int) -> tuple[nn.Module, nn.Module, nn.Module]:
  """The student, the teacher (``torch_models.randomize_vit``) and the ViTKD module (PyTorch's
  default initialisation), built under ``seed``.

  The student's class token and position embedding and ViTKD's mask token are N(0, 1) (not
  ``randomize_vit``'s 0.01 or the reference's zeros): AdamW's updates are ~lr per element, and a
  weight decay wrongly applied to these leaves or wrongly left off (lr * wd * |p|, 5e-5 per
  element at |p| ~ 1) must stand out of the updates' float32 noise."""
  torch.manual_seed(seed)
  student = torch_models.randomize_vit(torch_models.VisionTransformer(
      *SIZES[STUDENT], num_classes=NUM_CLASSES, image=IMAGE, patch=PATCH))
  teacher = torch_models.randomize_vit(torch_models.VisionTransformer(
      *SIZES[TEACHER], num_classes=NUM_CLASSES, image=IMAGE, patch=PATCH))
  distill = torch_models.ViTKDLoss(SIZES[STUDENT][0], SIZES[TEACHER][0], alpha=config.vitkd.alpha,
                                   beta=config.vitkd.beta, lam=config.vitkd.mask_ratio)
  with torch.no_grad():
    for p in (student.cls_token, student.pos_embed, distill.mask_token):
      p.normal_()
  return student, teacher, distill


def method_variables(distill: nn.Module) -> dict[str, Any]:
  """kdjax's method ``params`` of the torch ViTKD module (``kdjax.convert``'s rule; the mask
  token as it is)."""
  state = dict(distill.state_dict())
  mask_token = state.pop('mask_token').detach().numpy().copy()
  params = convert.state_dict_to_variables(state)['params']
  params['mask_token'] = mask_token
  return {'params': {'feature': params}}


def without_key_bias(params: dict[str, Any], dim: int) -> dict[str, Any]:
  """``params`` (a student tree) with each block's ``attn/qkv/bias`` cut to its query and value
  thirds (see ``test_vitkd_step_matches_cls_kd``)."""
  params = copy.deepcopy(jax.tree.map(np.asarray, params))
  for block in params['blocks'].values():
    bias = block['attn']['qkv']['bias']
    block['attn']['qkv']['bias'] = np.concatenate([bias[:dim], bias[2 * dim:]])
  return params


def key_bias_update(final: dict[str, Any], initial: dict[str, Any], dim: int) -> float:
  """The norm of the update of every block's key bias (the middle third of ``qkv/bias``)."""
  return float(np.linalg.norm([np.linalg.norm(
      np.asarray(final['blocks'][i]['attn']['qkv']['bias'][dim:2 * dim], np.float64)
      - np.asarray(initial['blocks'][i]['attn']['qkv']['bias'][dim:2 * dim], np.float64))
      for i in initial['blocks']]))


# ----------------------------------------------------------------------------- the test
def test_vitkd_step_matches_cls_kd(toy_vits, drawn_masks):  # pylint: disable=unused-argument
  """Three steps of ViTKD on the DeiT recipe: every logged term per step (``ce``,
  ``vitkd_mimic``, ``vitkd_generation``, ``loss``, ``top1``), the update of every student
  parameter and of every ViTKD parameter (projections, mask token, generation block).

  The gradient norms are 5.5, 8.1 and 6.0 here, so the clipping to 5 acts in every step, with a
  different factor each time (which AdamW's second and third updates see). The key bias (the
  middle third of each block's ``qkv`` bias) is left out of the update comparison: its exact
  gradient is 0 (adding ``q . b_k`` to all of a query's attention logits leaves their softmax
  unchanged), so both float32 implementations hand AdamW rounding noise (|g| ~1e-9; the float64
  reference ~1e-17), which AdamW scales to updates of up to ~lr per element: no value there is
  meaningful. The float64 reference's key-bias update is checked to be ~0 instead.

  Sharpness, measured once by changing the reference (the largest ``|kdjax - float64| /
  allowed`` of any term or leaf; > 1 fails): unchanged 0.09 (a term; 0.03 for an update); beta
  or alpha x1.01: 490 (their terms); lambda 0.75 instead of 0.5: 32 (the student's updates; the
  generation term alone moves little, as beta / lambda x the masked tokens is nearly invariant);
  the step-0 mask in all three steps: 290; no label smoothing: 1400 (``ce``), 0.11 instead of
  0.1: 210; no gradient clipping: 100; lr x1.01: 110; no weight decay: 73; the mask token not
  decayed: 74; the class token and position embedding decayed: 60.
  """
  source = rs.imagenet_source(NUM_EXAMPLES, IMAGE, seed=150, num_classes=NUM_CLASSES)
  config = rs.kdjax_config('vitkd', TEACHER, STUDENT, batch_size=BATCH, recipe='deit_imagenet',
                           **OVERRIDES)
  assert config.optimizer == 'adamw' and config.lr_schedule == 'cosine'
  assert (config.label_smoothing, config.grad_clip_norm, config.weight_decay) == (0.1, 5.0, 0.05)
  assert config.vitkd.mask_ratio == 0.5 and config.weight_decay_mask == 'no_bias_norm'
  student, teacher, distill = reference_modules(config, seed=151)
  student_initial, method_initial = rs.torch_variables(student), method_variables(distill)
  epoch = 1
  run = rs.run_steps(config, source, BATCHES, epoch=epoch, student=student, teacher=teacher,
                     method_variables=method_initial)
  jax.effects_barrier()  # every callback has run
  # The masks of the three steps (the method's initialisation draws one first).
  assert len(drawn_masks) in (len(BATCHES), len(BATCHES) + 1), len(drawn_masks)
  masks = drawn_masks[-len(BATCHES):]
  tokens = (IMAGE // PATCH) ** 2
  for mask in masks:
    assert mask.shape == (BATCH, tokens) and mask.dtype == bool
    np.testing.assert_array_equal(mask.sum(1), tokens - int(tokens * 0.5))
  assert not np.array_equal(masks[0], masks[1])  # drawn afresh each step, as torch.rand is

  lr = config_lib.resolved_lr(config)  # mmcls's per-epoch cosine: the peak for all of epoch 1
  reference = {}
  for bits, dtype in ((32, torch.float32), (64, torch.float64)):
    s, t, d = (copy.deepcopy(m).to(dtype) for m in (student, teacher, distill))
    reference[bits] = (reference_steps(config, source, s, t, d, masks, lr), s, d)
  assert all(row['_grad_norm'] > config.grad_clip_norm for row in reference[64][0])
  terms32, terms64 = ([{k: v for k, v in row.items() if not k.startswith('_')}
                       for row in reference[bits][0]] for bits in (32, 64))
  rs.assert_terms_within_spread(run, terms32, terms64, factor=FACTOR, rtol=TERM_RTOL,
                                atol=TERM_ATOL)

  dim = SIZES[STUDENT][0]
  torch_final = {bits: rs.torch_variables(reference[bits][1])['params'] for bits in (32, 64)}
  assert key_bias_update(torch_final[64], student_initial['params'], dim) < 1e-9
  rs.assert_updates_within_spread(
      *({'params': without_key_bias(tree, dim)} for tree in (
          run.final.params['student'], run.initial.params['student'], torch_final[32],
          torch_final[64], student_initial['params'])),
      factor=FACTOR, rtol=UPDATE_RTOL, atol=UPDATE_ATOL, what='student ')
  rs.assert_updates_within_spread(
      {'params': run.final.params['method']}, {'params': run.initial.params['method']},
      method_variables(reference[32][2]), method_variables(reference[64][2]), method_initial,
      factor=FACTOR, rtol=UPDATE_RTOL, atol=UPDATE_ATOL, what='method ')
