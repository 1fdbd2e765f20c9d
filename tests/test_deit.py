"""DeiT / DeiT III (kdjax.models.vit) against an independent PyTorch ViT, and their conversion.

The PyTorch model (``tests/torch_models.VisionTransformer``) is written from the semantics of
timm's ``VisionTransformer`` (huggingface/pytorch-image-models
``timm/models/vision_transformer.py``) and DeiT III's ``vit_models`` (facebookresearch/deit
``models_v2.py``), under timm's state-dict names. The
mmcls / mmpretrain checkpoint of the same weights is made by renaming its keys as mmcls's
``VisionTransformer`` / ``DeiT3`` backbones and ``VisionTransformerClsHead`` name them
(``mmcls/models/backbones/vision_transformer.py``, ``deit3.py`` of yzd-v/cls_KD).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from kdjax import convert
from kdjax import models
from kdjax.models import vit
from tests import torch_models

# (embed dim, depth, heads, DeiT III) of timm's deit_tiny_patch16_224 / deit3_small_patch16_224.
SIZES = {'deit_tiny_patch16_224': (192, 12, 3, False),
         'deit3_small_patch16_224': (384, 12, 6, True)}
# timm's published parameter counts at 1000 classes (timm/models/deit.py model cards: 5.7M, 22.1M).
TIMM_PARAMS = {'deit_tiny_patch16_224': 5_717_416, 'deit3_small_patch16_224': 22_059_496}
IMAGE, PATCH, NUM_CLASSES = 224, 16, 1000


def _to_mmcls(state_dict: dict) -> dict:
  """timm names -> mmcls names (backbone ``layers.{i}``: ``ln1``/``ln2``, ``attn.qkv``/``proj``,
  ``ffn.layers.0.0``/``ffn.layers.1``, LayerScale ``attn.gamma1.weight``/``ffn.gamma2.weight``;
  ``patch_embed.projection``, final ``ln1``, head ``head.layers.head``)."""
  renamed = {}
  for key, value in state_dict.items():
    parts = key.split('.')
    if parts[0] == 'blocks':
      i, rest = parts[1], '.'.join(parts[2:])
      rest = {'norm1.weight': 'ln1.weight', 'norm1.bias': 'ln1.bias',
              'norm2.weight': 'ln2.weight', 'norm2.bias': 'ln2.bias',
              'ls1.gamma': 'attn.gamma1.weight', 'ls2.gamma': 'ffn.gamma2.weight',
              'mlp.fc1.weight': 'ffn.layers.0.0.weight', 'mlp.fc1.bias': 'ffn.layers.0.0.bias',
              'mlp.fc2.weight': 'ffn.layers.1.weight', 'mlp.fc2.bias': 'ffn.layers.1.bias',
              }.get(rest, rest)
      key = f'backbone.layers.{i}.{rest}'
    elif parts[0] == 'patch_embed':
      key = 'backbone.patch_embed.projection.' + parts[-1]
    elif parts[0] == 'norm':
      key = 'backbone.ln1.' + parts[-1]
    elif parts[0] == 'head':
      key = 'head.layers.head.' + parts[-1]
    else:  # cls_token, pos_embed
      key = 'backbone.' + key
    renamed[key] = value
  return renamed


def _to_official_deit3(state_dict: dict) -> dict:
  """timm names -> facebookresearch/deit ``models_v2.py`` (``blocks.{i}.gamma_1``/``gamma_2``)."""
  return {k.replace('.ls1.gamma', '.gamma_1').replace('.ls2.gamma', '.gamma_2'): v
          for k, v in state_dict.items()}


def _rel_err(actual, expected) -> float:
  expected = np.asarray(expected, np.float64)
  return float(np.max(np.abs(np.asarray(actual, np.float64) - expected))
               / np.max(np.abs(expected)))


# float32 tolerance of the golden tests: both sides compute the same float32 operations in other
# orders. Each output is a sum of at most 4 * 384 = 1536 products (fc2 of the small model) whose
# rounding errors are independent, about sqrt(1536) * 2**-24 ~ 2.3e-6 relative at worst-typical,
# and the unit-gain weights, LayerNorms and O(1) attention logits (torch_models.randomize_vit)
# keep the twelve blocks from amplifying them (each block adds to the residual stream; LayerNorm
# divides scale out). 1e-5 of the largest value is therefore a safe bound on any CPU, while a wrong
# model is far outside it: LayerNorm epsilon 1e-5 instead of 1e-6 moves the logits by ~2e-2 of
# the largest, tanh-approximated GELU by ~2e-4 (a missing LayerScale, softmax scale or
# position-embedding slot by O(1) or a shape error).
TOLERANCE = 1e-5


@functools.lru_cache(maxsize=None)
def _reference(name: str):
  """The PyTorch model (seed 0), its timm state dict, a batch of 2 images and its outputs."""
  torch.manual_seed(0)
  model = torch_models.randomize_vit(
      torch_models.VisionTransformer(*SIZES[name], num_classes=NUM_CLASSES).eval())
  x = torch.randn(2, 3, IMAGE, IMAGE)
  with torch.no_grad():
    tokens = [t.numpy() for t in model.forward_tokens(x)]
    logits = model(x).numpy()
  state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
  params = sum(p.numel() for p in model.parameters())
  return state, x.numpy().transpose(0, 2, 3, 1), tokens, logits, params


@pytest.mark.parametrize('name', sorted(SIZES))
def test_deit_matches_pytorch_from_timm_and_mmcls_checkpoints(name):
  """Logits, every block's tokens and the pooled class token equal the PyTorch model's; the
  timm, mmcls and (DeiT III) facebookresearch/deit key names convert to the same variables."""
  state, images, tokens, expected, torch_params = _reference(name)
  assert torch_params == TIMM_PARAMS[name]
  variables = convert.from_torch({'model': state}, name)  # deit checkpoints: ckpt['model']
  assert convert.param_count(variables) == TIMM_PARAMS[name]
  assert variables['batch_stats'] == {}
  others = [{'state_dict': _to_mmcls(state)}]  # mmcls checkpoints: ckpt['state_dict']
  # A yzd-v/cls_KD distiller checkpoint (ClassificationDistiller: student., teacher.,
  # distill_losses.): its student.
  distiller = {**{f'student.{k}': v for k, v in _to_mmcls(state).items()},
               'teacher.backbone.ln1.weight': np.ones(7, np.float32),
               'distill_losses.loss_vitkd.mask_token': np.zeros((1, 1, 7), np.float32)}
  others.append({'meta': {'epoch': 300}, 'state_dict': distiller})
  if SIZES[name][3]:
    others.append({'model': _to_official_deit3(state)})
  for other in others:
    converted = convert.from_torch(other, name, num_classes=NUM_CLASSES)
    jax.tree.map(np.testing.assert_array_equal, converted, variables)

  module = models.create(name, num_classes=NUM_CLASSES)
  apply = jax.jit(functools.partial(models.apply_with_features, module, train=False))
  logits, features, _ = apply({'params': variables['params']}, images)
  assert _rel_err(logits, expected) <= TOLERANCE
  # feats: blocks 0..10, then block 11 after the final norm (mmcls's last backbone layer).
  assert len(features.feats) == len(tokens) - 1 == SIZES[name][1]
  for index, got in enumerate(features.feats[:-1]):
    assert got.shape == (2, 197, SIZES[name][0])
    assert _rel_err(got, tokens[index]) <= TOLERANCE, index
  assert _rel_err(features.feats[-1], tokens[-1]) <= TOLERANCE
  assert features.preact_feats == () and features.head_map is None
  np.testing.assert_array_equal(features.pooled, features.feats[-1][:, 0])
  assert _rel_err(models.classify(name, variables, features.pooled), expected) <= TOLERANCE


def test_conversion_names_a_wrong_layout_or_size_in_one_line():
  shapes = convert.expected_state_dict_shapes('deit_small_patch16_224', 1000)
  small = {k: np.zeros(v, np.float32) for k, v in shapes.items()}
  with pytest.raises(convert.CheckpointMismatchError,
                     match=r"embed dim 384.*'deit_tiny_patch16_224' has embed dim 192.*"
                           r"fix: pass model_name='deit_small_patch16_224'") as error:
    convert.from_torch(small, 'deit_tiny_patch16_224')
  assert '\n' not in str(error.value)
  # DeiT and DeiT III of the same width differ in LayerScale and position embeddings.
  with pytest.raises(convert.CheckpointMismatchError,
                     match=r"no LayerScale, 197 position embeddings, but "
                           r"'deit3_small_patch16_224' has .*LayerScale, 196 position.*"
                           r"model_name='deit_small_patch16_224'") as error:
    convert.from_torch(_to_mmcls(small), 'deit3_small_patch16_224')
  assert '\n' not in str(error.value)
  cnn = {'conv1.weight': np.zeros((64, 3, 7, 7), np.float32)}
  with pytest.raises(convert.CheckpointMismatchError,
                     match=r"not a ViT state dict in a known layout.*blocks\.0\.norm1\.weight.*"
                           r"backbone\.layers\.0\.ln1\.weight.*fix:") as error:
    convert.from_torch(cnn, 'deit_tiny_patch16_224')
  assert '\n' not in str(error.value)


def test_drop_path_rates_follow_timms_linear_rule():
  np.testing.assert_allclose(vit.drop_path_rates(0.1, 12),
                             torch.linspace(0, 0.1, 12).tolist(), rtol=1e-6, atol=0)
  assert vit.drop_path_rates(0.0, 3) == (0.0, 0.0, 0.0)


def test_drop_path_is_per_sample_in_train_and_identity_at_eval():
  x = np.random.default_rng(0).standard_normal((2000, 3, 4)).astype(np.float32)
  layer = vit.DropPath(0.25)
  np.testing.assert_array_equal(layer.apply({}, x, train=False), x)
  out = np.asarray(layer.apply({}, x, train=True, rngs={'dropout': jax.random.key(1)}))
  dropped = np.all(out == 0, axis=(1, 2))
  kept = np.all(np.isclose(out, x / 0.75, rtol=1e-6, atol=0), axis=(1, 2))
  assert np.all(dropped ^ kept)  # each sample entirely dropped or entirely kept and rescaled
  # Binomial(2000, 0.25): mean 500, standard deviation 19.4; +-100 is over 5 deviations.
  assert abs(int(dropped.sum()) - 500) < 100
  other = np.asarray(layer.apply({}, x, train=True, rngs={'dropout': jax.random.key(2)}))
  assert not np.array_equal(np.all(other == 0, axis=(1, 2)), dropped)


def _random_params(module, *args):
  """Standard-normal parameters of ``module`` (shapes traced; no RNG kernels to compile)."""
  shapes = jax.eval_shape(functools.partial(module.init, train=False), jax.random.key(0), *args)
  rng = np.random.default_rng(0)
  return jax.tree.map(lambda s: rng.standard_normal(s.shape).astype(np.float32), shapes)


def test_drop_path_acts_on_the_residual_branches_of_the_model():
  """A block whose branches are always dropped is the identity in train mode; at eval a model
  with stochastic depth computes the same logits as without it, and in train mode not."""
  # The block has the model's sizes below (17 tokens of width 32), so that the eagerly run
  # operations are compiled once for both.
  x = np.random.default_rng(1).standard_normal((4, 17, 32)).astype(np.float32)
  block = vit.Block(32, 2, 2.0, drop_path_rate=1.0, init_values=0.5)
  params = _random_params(block, x)
  np.testing.assert_array_equal(
      block.apply(params, x, train=True, rngs={'dropout': jax.random.key(2)}), x)
  assert not np.allclose(block.apply(params, x, train=False), x)
  images = np.random.default_rng(3).standard_normal((4, 16, 16, 3)).astype(np.float32)
  plain = vit.VisionTransformer(5, drop_rate=0.0, init_values=0.5, no_embed_class=True)
  deep = plain.clone(drop_path_rate=0.5)
  variables = _random_params(plain, images)
  assert variables['params']['pos_embed'].shape == (1, 16, 32)  # no class-token slot
  evaluated = plain.apply(variables, images)
  np.testing.assert_array_equal(deep.apply(variables, images), evaluated)
  trained = deep.apply(variables, images, train=True, rngs={'dropout': jax.random.key(5)})
  assert not np.allclose(trained, evaluated)


def test_create_passes_drop_path_rate_to_the_deits_only():
  """``models.create(..., drop_path_rate=r)``: timm's ``create_model(name, drop_path_rate=r)``
  for the DeiTs (rates ``r * i / 11`` over the 12 blocks, the last ``r``), refused for models
  without stochastic depth and outside [0, 1]."""
  module = models.create('deit3_small_patch16_224', num_classes=5, drop_path_rate=0.1)
  assert module == vit.deit('deit3_small_patch16_224', 5, drop_path_rate=0.1)
  assert (module.drop_path_rate, module.depth, module.init_values) == (0.1, 12, 1e-6)
  assert models.create('deit3_small_patch16_224', num_classes=5).drop_path_rate == 0.0
  # What the rate does in the model's blocks: test_drop_path_acts_on_the_residual_branches_of_
  # the_model (the same VisionTransformer at toy sizes).
  with pytest.raises(ValueError, match=r"'resnet18' has no stochastic depth.*leave it 0"):
    models.create('resnet18', num_classes=5, drop_path_rate=0.1)
  with pytest.raises(ValueError, match=r'drop_path_rate must be in \[0, 1\], got 1.5'):
    models.create('deit_tiny_patch16_224', num_classes=5, drop_path_rate=1.5)


# Every registered DeiT / DeiT III: timm's sizes (timm/models/deit.py constructors).
ALL_SIZES = {**SIZES, 'deit_small_patch16_224': (384, 12, 6, False),
             'deit_base_patch16_224': (768, 12, 12, False),
             'deit3_base_patch16_224': (768, 12, 12, True)}


@pytest.mark.parametrize('name', sorted(ALL_SIZES))
def test_registered_deits_have_the_pytorch_state_dict(name):
  """``models.create(name)`` expects exactly the PyTorch model's keys and shapes (built on the
  meta device: no memory, no weights)."""
  with torch.device('meta'):
    reference = torch_models.VisionTransformer(*ALL_SIZES[name], num_classes=10)
  expected = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
  assert dict(convert.expected_state_dict_shapes(name, 10)) == expected
  assert models.input_shape(name) == (IMAGE, IMAGE, 3)
  assert models.stage_channels(name) == (ALL_SIZES[name][0],) * ALL_SIZES[name][1]
  assert models.classifier_path(name) == ('head',)
