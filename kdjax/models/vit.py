"""A Vision Transformer (Dosovitskiy et al., ICLR 2021) without BatchNorm, with dropout.

The layout and submodule names of timm's ``VisionTransformer``
(huggingface/pytorch-image-models, ``timm/models/vision_transformer.py``), so that its
state-dict keys map one-to-one onto these variables (``blocks.0.attn.qkv.weight`` ->
``params/blocks/0/attn/qkv/kernel``): ``patch_embed.proj`` (a ``patch x patch`` convolution of
stride ``patch``), ``cls_token``, ``pos_embed`` (class token first), ``blocks.{i}`` of pre-norm
residual blocks ``x + attn(norm1(x))``, ``x + mlp(norm2(x))`` (LayerNorm eps 1e-6,
multi-head self-attention ``qkv`` / ``proj``, MLP ``fc1`` - exact GELU - ``fc2``), the final
``norm`` and the ``head`` on the class token.

Dropout (``drop_rate``) follows the embedding (timm ``pos_drop``), the attention's and the
MLP's outputs (``proj_drop``, ``drop1``/``drop2``) and precedes the head (``head_drop``); in
train mode it needs the ``'dropout'`` rng (``model.apply(..., rngs={'dropout': key})``). The
model has no ``batch_stats``. Only ``vit_toy`` is registered (tests on 16x16 digits); larger
ones are the same class with other sizes.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Dtype = Any
LN_EPS = 1e-6  # timm VisionTransformer: norm_layer = partial(nn.LayerNorm, eps=1e-6)
_INIT_STD = 0.02  # timm trunc_normal_(std=.02) of the linear weights and the position embedding


def _dense(features: int, name: str, dtype: Dtype) -> nn.Dense:
  return nn.Dense(features, kernel_init=nn.initializers.truncated_normal(_INIT_STD),
                  bias_init=nn.initializers.zeros, dtype=dtype, param_dtype=jnp.float32,
                  name=name)


def _norm(name: str, dtype: Dtype) -> nn.LayerNorm:
  return nn.LayerNorm(epsilon=LN_EPS, dtype=dtype, param_dtype=jnp.float32, name=name)


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
  """timm ``Block`` (pre-norm): ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""
  dim: int
  num_heads: int
  mlp_ratio: float
  drop_rate: float = 0.0
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    x = x + Attention(self.dim, self.num_heads, self.drop_rate, self.dtype, name='attn')(
        _norm('norm1', self.dtype)(x), train)
    return x + Mlp(int(self.dim * self.mlp_ratio), self.dim, self.drop_rate, self.dtype,
                   name='mlp')(_norm('norm2', self.dtype)(x), train)


class Blocks(nn.Module):
  """The blocks, named ``'0'``, ``'1'``, ... (timm's ``blocks`` ``nn.Sequential``)."""
  depth: int
  dim: int
  num_heads: int
  mlp_ratio: float
  drop_rate: float = 0.0
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    for index in range(self.depth):
      x = Block(self.dim, self.num_heads, self.mlp_ratio, self.drop_rate, self.dtype,
                name=str(index))(x, train)
    return x


class PatchEmbed(nn.Module):
  """timm ``PatchEmbed``: a ``patch x patch`` convolution of stride ``patch``, flattened."""
  patch_size: int
  dim: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    p = self.patch_size
    x = nn.Conv(self.dim, (p, p), strides=(p, p), padding='VALID', dtype=self.dtype,
                param_dtype=jnp.float32, name='proj')(x)
    return x.reshape(x.shape[0], -1, self.dim)


class VisionTransformer(nn.Module):
  """ViT with a class token (see the module docstring). NHWC images -> float32 logits.

  Attributes:
    num_classes: logits.
    patch_size, dim, depth, num_heads, mlp_ratio: timm's ``patch_size``, ``embed_dim``,
      ``depth``, ``num_heads``, ``mlp_ratio``.
    drop_rate: dropout probability (see the module docstring).
    dtype: computation dtype (parameters float32).
  """
  num_classes: int
  patch_size: int = 4
  dim: int = 32
  depth: int = 2
  num_heads: int = 2
  mlp_ratio: float = 2.0
  drop_rate: float = 0.1
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    x = PatchEmbed(self.patch_size, self.dim, self.dtype, name='patch_embed')(
        x.astype(self.dtype))
    cls_token = self.param('cls_token', nn.initializers.normal(1e-6), (1, 1, self.dim))
    pos_embed = self.param('pos_embed', nn.initializers.truncated_normal(_INIT_STD),
                           (1, x.shape[1] + 1, self.dim))
    cls_tokens = jnp.broadcast_to(cls_token.astype(self.dtype), (x.shape[0], 1, self.dim))
    x = jnp.concatenate([cls_tokens, x], axis=1) + pos_embed.astype(self.dtype)
    x = nn.Dropout(self.drop_rate, deterministic=not train, name='pos_drop')(x)
    x = Blocks(self.depth, self.dim, self.num_heads, self.mlp_ratio, self.drop_rate,
               self.dtype, name='blocks')(x, train)
    pooled = _norm('norm', self.dtype)(x)[:, 0]
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
