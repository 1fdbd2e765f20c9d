"""Vision Transformers (Dosovitskiy et al., ICLR 2021): ViT, DeiT and DeiT III, without BatchNorm.

The layout and submodule names of timm's ``VisionTransformer``
(huggingface/pytorch-image-models, ``timm/models/vision_transformer.py``), so that its
state-dict keys map one-to-one onto these variables (``blocks.0.attn.qkv.weight`` ->
``params/blocks/0/attn/qkv/kernel``): ``patch_embed.proj`` (a ``patch x patch`` convolution of
stride ``patch``), ``cls_token``, ``pos_embed``, ``blocks.{i}`` of pre-norm residual blocks
``x + drop_path(ls1(attn(norm1(x))))``, ``x + drop_path(ls2(mlp(norm2(x))))`` (LayerNorm eps
1e-6, multi-head self-attention ``qkv`` / ``proj`` with biases, MLP ``fc1`` - exact GELU -
``fc2``), the final ``norm`` and the ``head`` on the class token.

DeiT (Touvron et al., "Training data-efficient image transformers & distillation through
attention", ICML 2021; facebookresearch/deit ``models.py``, timm ``timm/models/deit.py``) is
this ViT at other sizes. DeiT III (Touvron et al., "DeiT III: Revenge of the ViT", ECCV 2022;
facebookresearch/deit ``models_v2.py``, ``vit_models`` with ``Layer_scale_init_Block``) adds

* LayerScale (``init_values``): each residual branch is multiplied by a learned per-channel
  ``gamma`` (timm ``ls1.gamma`` / ``ls2.gamma``, initialised to ``init_values``);
* ``no_embed_class``: ``pos_embed`` has no class-token slot (``[1, P, D]``) and is added to the
  patch tokens BEFORE the class token is prepended (timm ``_pos_embed`` with
  ``no_embed_class=True``; mmpretrain ``DeiT3``).

Stochastic depth (Huang et al., ECCV 2016; timm ``DropPath``): in train mode each residual
branch of block ``i`` is dropped for a whole sample with probability
``drop_path_rate * i / (depth - 1)`` (timm's linear rule, ``torch.linspace(0, rate, depth)``)
and the kept ones are scaled by ``1 / (1 - p)``; it is the identity at eval. Dropout
(``drop_rate``) follows the embedding (timm ``pos_drop``), the attention's and the MLP's outputs
(``proj_drop``, ``drop1``/``drop2``) and precedes the head (``head_drop``). Both draw from the
``'dropout'`` rng (``model.apply(..., rngs={'dropout': key})``, the trainer's student stream).
The models have no ``batch_stats``.

Features (``layers.sow_features``; ``kdjax.models.apply_with_features``): ``feats`` are the
tokens ``[B, 1 + P, D]`` (class token first) after each block, block 0 first; the LAST entry is
taken after the final ``norm``, as mmcls's ``VisionTransformer`` / ``DeiT3`` backbones return
their last layer (``if i == len(self.layers) - 1 and self.final_norm: x = self.norm1(x)``,
``mmcls/models/backbones/vision_transformer.py`` of yzd-v/cls_KD, whose ViTKD reads blocks 0 and
1 and that normed last layer). ``pooled`` is the normed class token the ``head`` reads
(``feats[-1][:, 0]``); there are no ``preact_feats`` and no ``head_map`` (no spatial map).

Registered: ``vit_toy`` (tests on 16x16 digits) and timm's ``deit_tiny_patch16_224``,
``deit_small_patch16_224``, ``deit_base_patch16_224``, ``deit3_small_patch16_224``,
``deit3_base_patch16_224`` (224x224, patch 16, MLP ratio 4; dropout and stochastic depth off, the
defaults of timm's constructors and of cls_KD's ``deit-tiny`` student,
``configs/deit/deit-small_pt-4xb256_in1k.py``).
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from kdjax.models import layers

Dtype = Any
LN_EPS = 1e-6  # timm VisionTransformer: norm_layer = partial(nn.LayerNorm, eps=1e-6)
_INIT_STD = 0.02  # timm trunc_normal_(std=.02) of the linear weights and the position embedding


def _dense(features: int, name: str, dtype: Dtype) -> nn.Dense:
  return nn.Dense(features, kernel_init=nn.initializers.truncated_normal(_INIT_STD),
                  bias_init=nn.initializers.zeros, dtype=dtype, param_dtype=jnp.float32,
                  name=name)


def _norm(name: str, dtype: Dtype) -> nn.LayerNorm:
  return nn.LayerNorm(epsilon=LN_EPS, dtype=dtype, param_dtype=jnp.float32, name=name)


def drop_path_rates(rate: float, depth: int) -> tuple[float, ...]:
  """Per-block stochastic-depth rates: ``rate * i / (depth - 1)``, 0 at block 0 (timm
  ``calculate_drop_path_rates``, ``torch.linspace(0, rate, depth)``)."""
  return tuple(float(r) for r in np.linspace(0.0, rate, depth))


class DropPath(nn.Module):
  """Stochastic depth (timm ``DropPath``): in train mode the input of each SAMPLE is zeroed
  with probability ``rate`` and otherwise scaled by ``1 / (1 - rate)``; identity at eval.
  Draws from the ``'dropout'`` rng."""
  rate: float

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    if not train or self.rate == 0.0:
      return x
    keep_prob = 1.0 - self.rate
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    keep = jax.random.bernoulli(self.make_rng('dropout'), keep_prob, shape)
    return jnp.where(keep, x / jnp.asarray(keep_prob, x.dtype), jnp.zeros((), x.dtype))


class LayerScale(nn.Module):
  """timm ``LayerScale``: ``x * gamma``, a learned per-channel scale initialised to
  ``init_values`` (DeiT III)."""
  dim: int
  init_values: float

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    gamma = self.param('gamma', nn.initializers.constant(self.init_values), (self.dim,),
                       jnp.float32)
    return x * gamma.astype(x.dtype)


class Attention(nn.Module):
  """timm ``Attention``: ``proj(softmax(q k^T / sqrt(d)) v)`` over ``num_heads`` heads."""
  dim: int
  num_heads: int
  drop_rate: float = 0.0
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    batch, tokens, _ = x.shape
    head_dim = self.dim // self.num_heads
    qkv = _dense(3 * self.dim, 'qkv', self.dtype)(x)
    qkv = qkv.reshape(batch, tokens, 3, self.num_heads, head_dim)
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # [B, N, H, d]
    logits = jnp.einsum('bqhd,bkhd->bhqk', q, k) * head_dim ** -0.5
    weights = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(self.dtype)
    out = jnp.einsum('bhqk,bkhd->bqhd', weights, v).reshape(batch, tokens, self.dim)
    out = _dense(self.dim, 'proj', self.dtype)(out)
    return nn.Dropout(self.drop_rate, deterministic=not train, name='proj_drop')(out)


class Mlp(nn.Module):
  """timm ``Mlp``: ``fc1`` - GELU (exact, torch's default) - dropout - ``fc2`` - dropout."""
  hidden: int
  dim: int
  drop_rate: float = 0.0
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    x = nn.gelu(_dense(self.hidden, 'fc1', self.dtype)(x), approximate=False)
    x = nn.Dropout(self.drop_rate, deterministic=not train, name='drop1')(x)
    x = _dense(self.dim, 'fc2', self.dtype)(x)
    return nn.Dropout(self.drop_rate, deterministic=not train, name='drop2')(x)


class Block(nn.Module):
  """timm ``Block`` (pre-norm): ``x + drop_path(ls1(attn(norm1(x))))``, then
  ``x + drop_path(ls2(mlp(norm2(x))))``; ``ls1``/``ls2`` only with ``init_values``."""
  dim: int
  num_heads: int
  mlp_ratio: float
  drop_rate: float = 0.0
  drop_path_rate: float = 0.0
  init_values: Optional[float] = None
  dtype: Dtype = jnp.float32

  def _scale(self, x: jax.Array, name: str) -> jax.Array:
    return x if self.init_values is None else LayerScale(self.dim, self.init_values, name=name)(x)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    branch = Attention(self.dim, self.num_heads, self.drop_rate, self.dtype, name='attn')(
        _norm('norm1', self.dtype)(x), train)
    x = x + DropPath(self.drop_path_rate, name='drop_path1')(self._scale(branch, 'ls1'), train)
    branch = Mlp(int(self.dim * self.mlp_ratio), self.dim, self.drop_rate, self.dtype,
                 name='mlp')(_norm('norm2', self.dtype)(x), train)
    return x + DropPath(self.drop_path_rate, name='drop_path2')(self._scale(branch, 'ls2'), train)


class Blocks(nn.Module):
  """The blocks, named ``'0'``, ``'1'``, ... (timm's ``blocks`` ``nn.Sequential``), with
  timm's linearly increasing stochastic-depth rates; returns every block's output."""
  depth: int
  dim: int
  num_heads: int
  mlp_ratio: float
  drop_rate: float = 0.0
  drop_path_rate: float = 0.0
  init_values: Optional[float] = None
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> tuple[jax.Array, ...]:
    outputs = []
    for index, rate in enumerate(drop_path_rates(self.drop_path_rate, self.depth)):
      x = Block(self.dim, self.num_heads, self.mlp_ratio, self.drop_rate, rate,
                self.init_values, self.dtype, name=str(index))(x, train)
      outputs.append(x)
    return tuple(outputs)


class PatchEmbed(nn.Module):
  """timm ``PatchEmbed``: a ``patch x patch`` convolution of stride ``patch``, flattened."""
  patch_size: int
  dim: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    p = self.patch_size
    if x.shape[1] % p or x.shape[2] % p:
      raise ValueError(f"image size {x.shape[1]}x{x.shape[2]} is not a multiple of the patch "
                       f"size {p}; resize or crop the images to a multiple of {p}")
    x = nn.Conv(self.dim, (p, p), strides=(p, p), padding='VALID', dtype=self.dtype,
                param_dtype=jnp.float32, name='proj')(x)
    return x.reshape(x.shape[0], -1, self.dim)


class VisionTransformer(nn.Module):
  """ViT / DeiT / DeiT III with a class token (see the module docstring). NHWC images ->
  float32 logits.

  Attributes:
    num_classes: logits.
    patch_size, dim, depth, num_heads, mlp_ratio: timm's ``patch_size``, ``embed_dim``,
      ``depth``, ``num_heads``, ``mlp_ratio``.
    drop_rate: dropout probability (see the module docstring).
    drop_path_rate: stochastic-depth rate of the LAST block (timm ``drop_path_rate``).
    init_values: LayerScale's initial ``gamma`` (DeiT III); None: no LayerScale.
    no_embed_class: the position embedding covers the patch tokens only and is added before
      the class token is prepended (DeiT III).
    dtype: computation dtype (parameters float32).
  """
  num_classes: int
  patch_size: int = 4
  dim: int = 32
  depth: int = 2
  num_heads: int = 2
  mlp_ratio: float = 2.0
  drop_rate: float = 0.1
  drop_path_rate: float = 0.0
  init_values: Optional[float] = None
  no_embed_class: bool = False
  dtype: Dtype = jnp.float32

  def classifier_path(self) -> tuple[str, ...]:
    """Path of the final linear layer (timm's ``head``)."""
    return ('head',)

  def bn_before_relu_paths(self) -> tuple[tuple[str, ...], ...]:
    raise NotImplementedError(
        "a VisionTransformer has no BatchNorm: the reference's get_bn_before_relu (OFD's "
        "margins) is defined for the CNNs only")

  def _embed(self, x: jax.Array) -> jax.Array:
    """Class token and position embedding (timm ``_pos_embed``)."""
    batch, patches, _ = x.shape
    cls_token = self.param('cls_token', nn.initializers.normal(1e-6), (1, 1, self.dim))
    slots = patches if self.no_embed_class else patches + 1
    pos_embed = self.param('pos_embed', nn.initializers.truncated_normal(_INIT_STD),
                           (1, slots, self.dim)).astype(self.dtype)
    cls_tokens = jnp.broadcast_to(cls_token.astype(self.dtype), (batch, 1, self.dim))
    if self.no_embed_class:
      return jnp.concatenate([cls_tokens, x + pos_embed], axis=1)
    return jnp.concatenate([cls_tokens, x], axis=1) + pos_embed

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    x = PatchEmbed(self.patch_size, self.dim, self.dtype, name='patch_embed')(
        x.astype(self.dtype))
    x = self._embed(x)
    x = nn.Dropout(self.drop_rate, deterministic=not train, name='pos_drop')(x)
    outputs = Blocks(self.depth, self.dim, self.num_heads, self.mlp_ratio, self.drop_rate,
                     self.drop_path_rate, self.init_values, self.dtype, name='blocks')(x, train)
    normed = _norm('norm', self.dtype)(outputs[-1])
    pooled = normed[:, 0]
    layers.sow_features(self, (*outputs[:-1], normed), None, pooled)
    pooled = nn.Dropout(self.drop_rate, deterministic=not train, name='head_drop')(pooled)
    logits = _dense(self.num_classes, 'head', self.dtype)(pooled)
    return logits.astype(jnp.float32)


def vit_toy(num_classes: int, dtype: Dtype = jnp.float32, conv_batch_chunks: int = 1
            ) -> VisionTransformer:
  """A two-block, 32-wide ViT on 4x4 patches (16x16 digits: 16 tokens + the class token), for
  tests; ``conv_batch_chunks`` is ignored (one convolution, on small inputs)."""
  del conv_batch_chunks
  return VisionTransformer(num_classes, patch_size=4, dim=32, depth=2, num_heads=2,
                           mlp_ratio=2.0, drop_rate=0.1, dtype=dtype)


# timm ``timm/models/deit.py``: (embed_dim, depth, num_heads, DeiT III). DeiT III adds
# ``no_embed_class=True, init_values=1e-6`` (timm's deit3_* constructors).
DEIT_CONFIGS = {
    'deit_tiny_patch16_224': (192, 12, 3, False),
    'deit_small_patch16_224': (384, 12, 6, False),
    'deit_base_patch16_224': (768, 12, 12, False),
    'deit3_small_patch16_224': (384, 12, 6, True),
    'deit3_base_patch16_224': (768, 12, 12, True),
}
DEIT3_INIT_VALUES = 1e-6  # timm deit3_*: init_values=1e-6


def deit(name: str, num_classes: int, dtype: Dtype = jnp.float32, conv_batch_chunks: int = 1,
         *, drop_rate: float = 0.0, drop_path_rate: float = 0.0) -> VisionTransformer:
  """timm's DeiT / DeiT III model ``name`` (a key of ``DEIT_CONFIGS``): patch 16, MLP ratio 4;
  ``conv_batch_chunks`` is ignored (one convolution, the patch embedding)."""
  del conv_batch_chunks
  dim, depth, heads, deit3 = DEIT_CONFIGS[name]
  return VisionTransformer(num_classes, patch_size=16, dim=dim, depth=depth, num_heads=heads,
                           mlp_ratio=4.0, drop_rate=drop_rate, drop_path_rate=drop_path_rate,
                           init_values=DEIT3_INIT_VALUES if deit3 else None,
                           no_embed_class=deit3, dtype=dtype)
