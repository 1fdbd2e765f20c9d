"""Compact PyTorch reference definitions of every kdjax model (tests only).

Our own compact code for the CIFAR models of RepDistiller (github.com/HobbitLong/RepDistiller,
``models/*.py``) and mdistiller (github.com/megvii-research/mdistiller,
``mdistiller/models/cifar/*.py``) and for the ImageNet models (torchvision's ResNets; mdistiller's
``mdistiller/models/imagenet/*.py``): module attribute names and registration order reproduce the
reference state-dict layouts key for key, and the initialisers are the reference code's.
``build(name, num_classes)`` returns the module; ``forward`` returns logits only, and
``forward_features(x)`` returns ``(logits, feats)`` with the feature dict mdistiller's models
return (``feats``, ``preact_feats`` where the reference defines it, ``pooled_feat``), computed
the way the reference computes it (including its quirks: the in-place ReLU that makes the
ImageNet ResNets' stem "preact" the activated stem, WRN's BNs re-applied to the group outputs,
ShuffleNetV2's unshuffled preacts). Global average pools are means over H, W (the reference's
fixed-size pools at the models' default input sizes), so the ImageNet models also run on smaller
images. The vision transformers (timm's layout: DeiT, DeiT III) are built at the sizes a test
needs (``VisionTransformer``; not in ``build``).
"""

from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F


def _conv(cin, cout, k, stride=1, padding=0, groups=1, bias=False):
  return nn.Conv2d(cin, cout, k, stride, padding, groups=groups, bias=bias)


def _conv_bn(cin, cout, k, stride=1, padding=0, groups=1, relu=False):
  layers = [_conv(cin, cout, k, stride, padding, groups), nn.BatchNorm2d(cout)]
  return nn.Sequential(*(layers + [nn.ReLU()] if relu else layers))


def _init_fan_out(model, linear_std=None):
  """normal(0, sqrt(2 / (k*k*out))) convs (bias 0), BN 1/0, optional normal(0, std) linears."""
  for m in model.modules():
    if isinstance(m, nn.Conv2d):
      nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / (m.kernel_size[0] * m.kernel_size[1]
                                                      * m.out_channels)))
      if m.bias is not None:
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
      nn.init.ones_(m.weight)
      nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Linear) and linear_std is not None:
      nn.init.normal_(m.weight, 0.0, linear_std)
      nn.init.zeros_(m.bias)
  return model


def _channel_shuffle(x, groups):
  n, c, h, w = x.shape
  return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


# ----------------------------------------------------------------------------- ResNets
class BasicBlock(nn.Module):
  expansion = 1

  def __init__(self, cin, planes, stride, shortcut_name):
    super().__init__()
    self.conv1, self.bn1 = _conv(cin, planes, 3, stride, 1), nn.BatchNorm2d(planes)
    self.conv2, self.bn2 = _conv(planes, planes, 3, 1, 1), nn.BatchNorm2d(planes)
    self.shortcut_name = shortcut_name
    if stride != 1 or cin != planes:
      setattr(self, shortcut_name, _conv_bn(cin, planes, 1, stride))

  def forward_pre(self, x):
    """(output, output before the final ReLU)."""
    out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
    short = getattr(self, self.shortcut_name, None)
    pre = out + (short(x) if short is not None else x)
    return F.relu(pre), pre

  def forward(self, x):
    return self.forward_pre(x)[0]


class Bottleneck(nn.Module):
  expansion = 4

  def __init__(self, cin, planes, stride, shortcut_name):
    super().__init__()
    self.conv1, self.bn1 = _conv(cin, planes, 1), nn.BatchNorm2d(planes)
    self.conv2, self.bn2 = _conv(planes, planes, 3, stride, 1), nn.BatchNorm2d(planes)
    self.conv3, self.bn3 = _conv(planes, 4 * planes, 1), nn.BatchNorm2d(4 * planes)
    self.shortcut_name = shortcut_name
    if stride != 1 or cin != 4 * planes:
      setattr(self, shortcut_name, _conv_bn(cin, 4 * planes, 1, stride))

  def forward_pre(self, x):
    out = F.relu(self.bn1(self.conv1(x)))
    out = self.bn3(self.conv3(F.relu(self.bn2(self.conv2(out)))))
    short = getattr(self, self.shortcut_name, None)
    pre = out + (short(x) if short is not None else x)
    return F.relu(pre), pre

  def forward(self, x):
    return self.forward_pre(x)[0]


class ResNet(nn.Module):

  def __init__(self, block, sizes, planes, strides, stem, num_classes, imagenet=False,
               shortcut_name="downsample", head_name="fc"):
    super().__init__()
    self.imagenet = imagenet
    self.conv1 = _conv(3, stem, 7, 2, 3) if imagenet else _conv(3, stem, 3, 1, 1)
    self.bn1 = nn.BatchNorm2d(stem)
    cin, self.stages = stem, []
    for i, (size, p, s) in enumerate(zip(sizes, planes, strides)):
      blocks = []
      for j in range(size):
        blocks.append(block(cin, p, s if j == 0 else 1, shortcut_name))
        cin = p * block.expansion
      setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
      self.stages.append(f"layer{i + 1}")
    self.head_name = head_name
    setattr(self, head_name, nn.Linear(cin, num_classes))
    _init_fan_out(self)

  def forward(self, x):
    x = F.relu(self.bn1(self.conv1(x)))
    if self.imagenet:
      x = F.max_pool2d(x, 3, 2, 1)
    for stage in self.stages:
      x = getattr(self, stage)(x)
    return getattr(self, self.head_name)(x.mean((2, 3)))

  def forward_features(self, x):
    if self.imagenet:  # mdistiller/models/imagenet/resnet.py
      stem = self.bn1(self.conv1(x))
      x = F.relu(stem, inplace=True)  # as the reference: the kept "preact" stem is activated too
      feats, preacts = [x], [stem]
      x = F.max_pool2d(x, 3, 2, 1)
    else:  # mdistiller/models/cifar/resnet.py, resnetv2.py
      x = F.relu(self.bn1(self.conv1(x)))
      feats, preacts = [x], [x]
    for stage in self.stages:
      for block in getattr(self, stage):
        x, pre = block.forward_pre(x)
      feats.append(x)
      preacts.append(pre)
    pooled = x.mean((2, 3))
    logits = getattr(self, self.head_name)(pooled)
    return logits, {"feats": feats, "preact_feats": preacts, "pooled_feat": pooled}


# ----------------------------------------------------------------------------- WRN
class WideBlock(nn.Module):

  def __init__(self, cin, cout, stride):
    super().__init__()
    self.bn1, self.conv1 = nn.BatchNorm2d(cin), _conv(cin, cout, 3, stride, 1)
    self.bn2, self.conv2 = nn.BatchNorm2d(cout), _conv(cout, cout, 3, 1, 1)
    self.equal = cin == cout
    if not self.equal:
      self.convShortcut = _conv(cin, cout, 1, stride)

  def forward(self, x):
    act = F.relu(self.bn1(x))
    out = self.conv2(F.relu(self.bn2(self.conv1(act))))
    return out + (x if self.equal else self.convShortcut(act))


class WideGroup(nn.Module):

  def __init__(self, n, cin, cout, stride):
    super().__init__()
    self.layer = nn.Sequential(*[WideBlock(cin if i == 0 else cout, cout, stride if i == 0 else 1)
                                 for i in range(n)])

  def forward(self, x):
    return self.layer(x)


class WideResNet(nn.Module):

  def __init__(self, depth, k, num_classes):
    super().__init__()
    n, w = (depth - 4) // 6, [16, 16 * k, 32 * k, 64 * k]
    self.conv1 = _conv(3, 16, 3, 1, 1)
    self.block1 = WideGroup(n, w[0], w[1], 1)
    self.block2 = WideGroup(n, w[1], w[2], 2)
    self.block3 = WideGroup(n, w[2], w[3], 2)
    self.bn1, self.fc = nn.BatchNorm2d(w[3]), nn.Linear(w[3], num_classes)
    _init_fan_out(self)
    nn.init.zeros_(self.fc.bias)

  def forward(self, x):
    x = self.block3(self.block2(self.block1(self.conv1(x))))
    return self.fc(F.relu(self.bn1(x)).mean((2, 3)))

  def forward_features(self, x):  # mdistiller/models/cifar/wrn.py
    f0 = self.conv1(x)
    f1 = self.block1(f0)
    f2 = self.block2(f1)
    f3 = self.block3(f2)
    pooled = F.relu(self.bn1(f3)).mean((2, 3))
    # The reference re-applies the BNs that follow each group to the group outputs.
    preacts = [f0, self.block2.layer[0].bn1(f1), self.block3.layer[0].bn1(f2), self.bn1(f3)]
    return self.fc(pooled), {"feats": [f0, f1, f2, f3], "preact_feats": preacts,
                             "pooled_feat": pooled}


# ----------------------------------------------------------------------------- VGG
VGG_CFG = {
    "vgg8": [[64], [128], [256], [512], [512]],
    "vgg11": [[64], [128], [256, 256], [512, 512], [512, 512]],
    "vgg13": [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
    "vgg16": [[64, 64], [128, 128], [256] * 3, [512] * 3, [512] * 3],
    "vgg19": [[64, 64], [128, 128], [256] * 4, [512] * 4, [512] * 4],
}


class VGG(nn.Module):

  def __init__(self, cfg, num_classes):
    super().__init__()
    cin = 3
    for i, widths in enumerate(cfg):
      layers = []
      for w in widths:
        layers += [_conv(cin, w, 3, 1, 1, bias=True), nn.BatchNorm2d(w), nn.ReLU()]
        cin = w
      setattr(self, f"block{i}", nn.Sequential(*layers[:-1]))
    self.classifier = nn.Linear(512, num_classes)
    _init_fan_out(self, linear_std=0.01)

  def forward(self, x):
    h = x.shape[2]
    for i in range(5):
      if i in (1, 2, 3) or (i == 4 and h == 64):
        x = F.max_pool2d(x, 2, 2)
      x = F.relu(getattr(self, f"block{i}")(x))
    return self.classifier(x.mean((2, 3)))

  def forward_features(self, x):  # mdistiller/models/cifar/vgg.py
    h, feats, preacts = x.shape[2], [], []
    for i in range(5):
      if i in (1, 2, 3) or (i == 4 and h == 64):
        x = F.max_pool2d(x, 2, 2)
      pre = getattr(self, f"block{i}")(x)
      x = F.relu(pre)
      feats.append(x)
      preacts.append(x if i == 0 else pre)  # stage 0's "preact" is its activated output
    pooled = x.mean((2, 3))
    return self.classifier(pooled), {"feats": feats, "preact_feats": preacts,
                                     "pooled_feat": pooled}


# ----------------------------------------------------------------------------- MobileNets
class InvertedResidual(nn.Module):

  def __init__(self, cin, cout, stride, t):
    super().__init__()
    hid = cin * t
    self.residual = stride == 1 and cin == cout
    self.conv = nn.Sequential(_conv(cin, hid, 1), nn.BatchNorm2d(hid), nn.ReLU(),
                              _conv(hid, hid, 3, stride, 1, groups=hid), nn.BatchNorm2d(hid),
                              nn.ReLU(), _conv(hid, cout, 1), nn.BatchNorm2d(cout))

  def forward(self, x):
    return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
  SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
              (6, 160, 3, 2), (6, 320, 1, 1)]

  def __init__(self, num_classes, width=0.5):
    super().__init__()
    cin = int(32 * width)
    self.conv1 = _conv_bn(3, cin, 3, 2, 1, relu=True)
    self.blocks = nn.ModuleList()
    for t, c, n, s in self.SETTINGS:
      cout, group = int(c * width), []
      for i in range(n):
        group.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
        cin = cout
      self.blocks.append(nn.Sequential(*group))
    self.conv2 = _conv_bn(cin, 1280, 1, relu=True)
    self.classifier = nn.Sequential(nn.Linear(1280, num_classes))
    _init_fan_out(self, linear_std=0.01)

  def forward(self, x):
    x = self.conv1(x)
    for group in self.blocks:
      x = group(x)
    return self.classifier(self.conv2(x).mean((2, 3)))

  def forward_features(self, x):  # mdistiller/models/cifar/mobilenetv2.py: no preact_feats
    x = self.conv1(x)
    feats = [x]
    for index, group in enumerate(self.blocks):
      x = group(x)
      if index in (1, 2, 4, 6):
        feats.append(x)
    pooled = self.conv2(x).mean((2, 3))
    return self.classifier(pooled), {"feats": feats, "pooled_feat": pooled}


class MobileNetV1(nn.Module):
  UNITS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [
      (1024, 2), (1024, 1)]

  def __init__(self, num_classes):
    super().__init__()
    units, cin = [_conv_bn(3, 32, 3, 2, 1, relu=True)], 32
    for cout, s in self.UNITS:
      units.append(nn.Sequential(_conv(cin, cin, 3, s, 1, groups=cin), nn.BatchNorm2d(cin),
                                 nn.ReLU(), _conv(cin, cout, 1), nn.BatchNorm2d(cout), nn.ReLU()))
      cin = cout
    self.model = nn.Sequential(*units, nn.AvgPool2d(7))
    self.fc = nn.Linear(1024, num_classes)

  def forward(self, x):
    return self.fc(self.model(x).flatten(1))

  def forward_features(self, x):  # mdistiller/models/imagenet/mobilenetv1.py
    m = self.model
    pre1 = m[3][:-1](m[0:3](x))  # units end with BN, ReLU: [:-1] stops before the ReLU
    pre2 = m[5][:-1](m[4](F.relu(pre1)))
    pre3 = m[11][:-1](m[6:11](F.relu(pre2)))
    pre4 = m[13][:-1](m[12](F.relu(pre3)))
    preacts = [pre1, pre2, pre3, pre4]
    pooled = F.relu(pre4).mean((2, 3))
    return self.fc(pooled), {"feats": [F.relu(p) for p in preacts], "preact_feats": preacts,
                             "pooled_feat": pooled}


# ----------------------------------------------------------------------------- ShuffleNets
class ShuffleV1Block(nn.Module):

  def __init__(self, cin, cout, stride, groups=3):
    super().__init__()
    mid, self.stride = cout // 4, stride
    self.g = 1 if cin == 24 else groups
    self.conv1, self.bn1 = _conv(cin, mid, 1, groups=self.g), nn.BatchNorm2d(mid)
    self.conv2, self.bn2 = _conv(mid, mid, 3, stride, 1, groups=mid), nn.BatchNorm2d(mid)
    self.conv3, self.bn3 = _conv(mid, cout, 1, groups=groups), nn.BatchNorm2d(cout)

  def forward_pre(self, x):
    out = _channel_shuffle(F.relu(self.bn1(self.conv1(x))), self.g)
    out = self.bn3(self.conv3(F.relu(self.bn2(self.conv2(out)))))
    if self.stride == 2:
      pre = torch.cat([out, F.avg_pool2d(x, 3, 2, 1)], 1)
    else:
      pre = out + x
    return F.relu(pre), pre

  def forward(self, x):
    return self.forward_pre(x)[0]


class ShuffleNetV1(nn.Module):

  def __init__(self, num_classes, planes=(240, 480, 960), blocks=(4, 8, 4)):
    super().__init__()
    self.conv1, self.bn1 = _conv(3, 24, 1), nn.BatchNorm2d(24)
    cin = 24
    for i, (p, n) in enumerate(zip(planes, blocks)):
      layer = [ShuffleV1Block(cin, p - cin, 2)] + [ShuffleV1Block(p, p, 1) for _ in range(n - 1)]
      setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
      cin = p
    self.linear = nn.Linear(cin, num_classes)

  def forward(self, x):
    x = F.relu(self.bn1(self.conv1(x)))
    x = self.layer3(self.layer2(self.layer1(x)))
    return self.linear(x.mean((2, 3)))

  def forward_features(self, x):  # mdistiller/models/cifar/ShuffleNetv1.py
    return _shufflenet_features(self, x, head=lambda out: out)


class ShuffleV2Down(nn.Module):

  def __init__(self, cin, cout):
    super().__init__()
    mid = cout // 2
    self.conv1, self.bn1 = _conv(cin, cin, 3, 2, 1, groups=cin), nn.BatchNorm2d(cin)
    self.conv2, self.bn2 = _conv(cin, mid, 1), nn.BatchNorm2d(mid)
    self.conv3, self.bn3 = _conv(cin, mid, 1), nn.BatchNorm2d(mid)
    self.conv4, self.bn4 = _conv(mid, mid, 3, 2, 1, groups=mid), nn.BatchNorm2d(mid)
    self.conv5, self.bn5 = _conv(mid, mid, 1), nn.BatchNorm2d(mid)

  def forward(self, x):
    left = F.relu(self.bn2(self.conv2(self.bn1(self.conv1(x)))))
    right = self.bn4(self.conv4(F.relu(self.bn3(self.conv3(x)))))
    right = F.relu(self.bn5(self.conv5(right)))
    return _channel_shuffle(torch.cat([left, right], 1), 2)

  def forward_pre(self, x):
    out = self.forward(x)
    return out, out


class ShuffleV2Basic(nn.Module):

  def __init__(self, channels):
    super().__init__()
    c = channels // 2
    self.conv1, self.bn1 = _conv(c, c, 1), nn.BatchNorm2d(c)
    self.conv2, self.bn2 = _conv(c, c, 3, 1, 1, groups=c), nn.BatchNorm2d(c)
    self.conv3, self.bn3 = _conv(c, c, 1), nn.BatchNorm2d(c)

  def forward_pre(self, x):
    """(shuffled output, unshuffled ``cat([x1, bn3(..)])``: the reference's preact)."""
    c = x.shape[1] // 2
    x1, x2 = x[:, :c], x[:, c:]
    out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x2)))))
    pre = self.bn3(self.conv3(out))
    return _channel_shuffle(torch.cat([x1, F.relu(pre)], 1), 2), torch.cat([x1, pre], 1)

  def forward(self, x):
    return self.forward_pre(x)[0]


class ShuffleNetV2(nn.Module):

  def __init__(self, num_classes, channels=(116, 232, 464, 1024), blocks=(3, 7, 3)):
    super().__init__()
    self.conv1, self.bn1 = _conv(3, 24, 1), nn.BatchNorm2d(24)
    cin = 24
    for i, (c, n) in enumerate(zip(channels, blocks)):
      setattr(self, f"layer{i + 1}",
              nn.Sequential(ShuffleV2Down(cin, c), *[ShuffleV2Basic(c) for _ in range(n)]))
      cin = c
    self.conv2, self.bn2 = _conv(cin, channels[3], 1), nn.BatchNorm2d(channels[3])
    self.linear = nn.Linear(channels[3], num_classes)

  def forward(self, x):
    x = F.relu(self.bn1(self.conv1(x)))
    x = self.layer3(self.layer2(self.layer1(x)))
    return self.linear(F.relu(self.bn2(self.conv2(x))).mean((2, 3)))

  def forward_features(self, x):  # mdistiller/models/cifar/ShuffleNetv2.py
    return _shufflenet_features(self, x, head=lambda out: F.relu(self.bn2(self.conv2(out))))


def _shufflenet_features(model, x, head):
  """Stem, then each stage's (output, preact of its last block); pooled = mean of head(out)."""
  x = F.relu(model.bn1(model.conv1(x)))
  feats, preacts = [x], [x]
  for layer in (model.layer1, model.layer2, model.layer3):
    for block in layer:
      x, pre = block.forward_pre(x)
    feats.append(x)
    preacts.append(pre)
  pooled = head(x).mean((2, 3))
  return model.linear(pooled), {"feats": feats, "preact_feats": preacts, "pooled_feat": pooled}


# ----------------------------------------------------------------------------- vision transformers
# timm's ``VisionTransformer`` (huggingface/pytorch-image-models
# ``timm/models/vision_transformer.py``) and DeiT III's ``vit_models`` (facebookresearch/deit
# ``models_v2.py``), under timm's state-dict names (kdjax.models.vit); not in ``BUILDERS``: the
# tests build them at the sizes they need.
class ViTAttention(nn.Module):
  """Multi-head self-attention with a joint ``qkv`` projection (biases) and ``proj``."""

  def __init__(self, dim, heads):
    super().__init__()
    self.heads = heads
    self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

  def forward(self, x):
    batch, tokens, dim = x.shape
    q, k, v = self.qkv(x).view(batch, tokens, 3, self.heads, dim // self.heads).unbind(2)
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, H, N, d]
    weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dim // self.heads), dim=-1)
    return self.proj((weights @ v).transpose(1, 2).reshape(batch, tokens, dim))


class LayerScale(nn.Module):
  """DeiT III's per-channel scale of a residual branch (timm ``ls1.gamma`` / ``ls2.gamma``)."""

  def __init__(self, dim):
    super().__init__()
    self.gamma = nn.Parameter(torch.ones(dim))

  def forward(self, x):
    return x * self.gamma


class ViTBlock(nn.Module):
  """Pre-norm block (LayerNorm eps 1e-6, exact GELU); the residual branches scaled by
  LayerScale (DeiT III)."""

  def __init__(self, dim, heads, layer_scale, mlp_ratio=4):
    super().__init__()
    self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
    self.attn = ViTAttention(dim, heads)
    self.mlp = nn.Module()
    self.mlp.fc1 = nn.Linear(dim, int(mlp_ratio * dim))
    self.mlp.fc2 = nn.Linear(int(mlp_ratio * dim), dim)
    if layer_scale:
      self.ls1, self.ls2 = LayerScale(dim), LayerScale(dim)
    self.layer_scale = layer_scale

  def _branch(self, y, scale):
    return scale(y) if self.layer_scale else y

  def forward(self, x):
    x = x + self._branch(self.attn(self.norm1(x)), getattr(self, "ls1", None))
    hidden = F.gelu(self.mlp.fc1(self.norm2(x)))
    return x + self._branch(self.mlp.fc2(hidden), getattr(self, "ls2", None))


class VisionTransformer(nn.Module):
  """DeiT (``pos_embed`` over class + patch tokens, added after the class token is prepended)
  or DeiT III (``deit3``: LayerScale; ``pos_embed`` over the patches only, added before)."""

  def __init__(self, dim, depth, heads, deit3, num_classes=1000, image=224, patch=16,
               mlp_ratio=4):
    super().__init__()
    patches = (image // patch) ** 2
    self.deit3 = deit3
    self.patch_embed = nn.Module()
    self.patch_embed.proj = nn.Conv2d(3, dim, patch, stride=patch)
    self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
    self.pos_embed = nn.Parameter(torch.zeros(1, patches + (0 if deit3 else 1), dim))
    self.blocks = nn.Sequential(*[ViTBlock(dim, heads, deit3, mlp_ratio) for _ in range(depth)])
    self.norm = nn.LayerNorm(dim, eps=1e-6)
    self.head = nn.Linear(dim, num_classes)

  def forward_tokens(self, x):
    """Every block's output ``[B, 1 + N, D]`` (class token first), then the final norm's."""
    x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
    cls = self.cls_token.expand(x.shape[0], -1, -1)
    x = (torch.cat([cls, x + self.pos_embed], 1) if self.deit3 else
         torch.cat([cls, x], 1) + self.pos_embed)
    outputs = []
    for block in self.blocks:
      x = block(x)
      outputs.append(x)
    return outputs + [self.norm(x)]

  def forward(self, x):
    return self.head(self.forward_tokens(x)[-1][:, 0])


def randomize_vit(model: nn.Module) -> nn.Module:
  """Weights of unit gain (N(0, 1/fan_in)), LayerNorm affines near 1, biases, embeddings and
  LayerScales away from their inits, in place: every leaf moves the logits, and the attention
  logits are O(1) (no saturated softmax hiding a wrong scale). The embeddings are then scaled by
  0.02: small embedded tokens (variance ~5e-4), so the first LayerNorm's epsilon matters."""
  with torch.no_grad():
    for name, p in model.named_parameters():
      if name.endswith("weight") and p.ndim >= 2:
        p.normal_(0.0, 1.0 / math.sqrt(p[0].numel()))
      elif "norm" in name and name.endswith("weight"):
        p.uniform_(0.7, 1.3)
      elif name.endswith("gamma"):
        p.uniform_(0.3, 1.0)
      else:  # biases, cls_token, pos_embed
        p.normal_(0.0, 0.1 if name.endswith("bias") else 0.5)
    for name, p in model.named_parameters():
      if name.startswith(("patch_embed", "cls_token", "pos_embed")):
        p.mul_(0.02)
  return model


# ----------------------------------------------------------------------------- registry
_SMALL, _X4 = [16, 16, 32, 64], [32, 64, 128, 256]


def _cifar_resnet(depth, widths, k):
  n = (depth - 2) // 6
  return ResNet(BasicBlock, [n] * 3, widths[1:], [1, 2, 2], widths[0], k)


BUILDERS = {
    **{f"resnet{d}": (lambda k, d=d: _cifar_resnet(d, _SMALL, k))
       for d in (8, 14, 20, 32, 44, 56, 110)},
    "resnet8x4": lambda k: _cifar_resnet(8, _X4, k),
    "resnet32x4": lambda k: _cifar_resnet(32, _X4, k),
    "ResNet18": lambda k: ResNet(BasicBlock, [2] * 4, [64, 128, 256, 512], [1, 2, 2, 2], 64, k,
                                 shortcut_name="shortcut", head_name="linear"),
    "ResNet50": lambda k: ResNet(Bottleneck, [3, 4, 6, 3], [64, 128, 256, 512], [1, 2, 2, 2], 64,
                                 k, shortcut_name="shortcut", head_name="linear"),
    **{f"wrn_{d}_{w}": (lambda k, d=d, w=w: WideResNet(d, w, k))
       for d, w in ((16, 1), (16, 2), (40, 1), (40, 2), (28, 2), (16, 4), (28, 4))},
    **{name: (lambda k, cfg=cfg: VGG(cfg, k)) for name, cfg in VGG_CFG.items()},
    "MobileNetV2": MobileNetV2,
    "ShuffleV1": ShuffleNetV1,
    "ShuffleV2": ShuffleNetV2,
    "resnet18": lambda k: ResNet(BasicBlock, [2] * 4, [64, 128, 256, 512], [1, 2, 2, 2], 64, k,
                                 imagenet=True),
    "resnet34": lambda k: ResNet(BasicBlock, [3, 4, 6, 3], [64, 128, 256, 512], [1, 2, 2, 2], 64,
                                 k, imagenet=True),
    "resnet50": lambda k: ResNet(Bottleneck, [3, 4, 6, 3], [64, 128, 256, 512], [1, 2, 2, 2], 64,
                                 k, imagenet=True),
    "resnet101": lambda k: ResNet(Bottleneck, [3, 4, 23, 3], [64, 128, 256, 512], [1, 2, 2, 2],
                                  64, k, imagenet=True),
    "resnet152": lambda k: ResNet(Bottleneck, [3, 8, 36, 3], [64, 128, 256, 512], [1, 2, 2, 2],
                                  64, k, imagenet=True),
    "MobileNetV1": MobileNetV1,
}


def build(name: str, num_classes: int) -> nn.Module:
  """The PyTorch reference model ``name`` (float32, reference initialisation, train mode)."""
  return BUILDERS[name](num_classes)


class ViTKDLoss(nn.Module):
  """yzd-v/cls_KD ``ViTKDLoss`` (``mmcls/models/dis_losses/vitkd.py``), its modules named as
  kdjax's ``feature`` tree (``shallow_projection_{0,1}`` = ``align2``, ``deep_projection`` =
  ``align``, present when the widths differ; ``generation.conv0/conv1``), so that
  ``kdjax.convert``'s rule maps its state dict. ``forward(low_s, high_s, low_t, high_t, noise)``
  (``low_*`` ``[B, 2, N, D]``: blocks 0 and 1; ``high_*`` ``[B, N, D]``; class tokens dropped)
  returns ``(loss_lr, loss_gen)``; ``noise`` ``[B, N]`` is the reference's ``random_masking``
  noise, whose ``N - int(N (1 - lam))`` largest entries mark the masked tokens
  (``kept_first_noise`` makes it from a mask)."""

  def __init__(self, student_dim, teacher_dim, *, alpha, beta, lam):
    super().__init__()
    self.alpha, self.beta, self.lam = alpha, beta, lam
    self.projected = student_dim != teacher_dim
    if self.projected:
      self.shallow_projection_0 = nn.Linear(student_dim, teacher_dim)  # align2[0]
      self.shallow_projection_1 = nn.Linear(student_dim, teacher_dim)  # align2[1]
      self.deep_projection = nn.Linear(student_dim, teacher_dim)  # align
    self.mask_token = nn.Parameter(torch.zeros(1, 1, teacher_dim))
    self.generation = nn.Module()
    self.generation.conv0 = nn.Conv2d(teacher_dim, teacher_dim, 3, padding=1)
    self.generation.conv1 = nn.Conv2d(teacher_dim, teacher_dim, 3, padding=1)

  def forward(self, low_s, high_s, low_t, high_t, noise):
    b = low_s.shape[0]
    if self.projected:
      low_s = torch.stack([self.shallow_projection_0(low_s[:, 0]),
                           self.shallow_projection_1(low_s[:, 1])], dim=1)
      high_s = self.deep_projection(high_s)
    loss_lr = torch.sum((low_s - low_t) ** 2) / b * self.alpha
    x = high_s
    _, n, d = x.shape
    keep = int(n * (1 - self.lam))
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    x_keep = torch.gather(x, 1, ids_shuffle[:, :keep, None].repeat(1, 1, d))
    mask = torch.ones(b, n, dtype=x.dtype)
    mask[:, :keep] = 0
    mask = torch.gather(mask, 1, ids_restore)[..., None]
    x = torch.cat([x_keep, self.mask_token.repeat(b, n - keep, 1)], dim=1)
    x = torch.gather(x, 1, ids_restore[..., None].repeat(1, 1, d))
    side = int(n ** 0.5)
    x = x.reshape(b, side, side, d).permute(0, 3, 1, 2)
    x = self.generation.conv1(F.relu(self.generation.conv0(x))).flatten(2).transpose(1, 2)
    loss_gen = torch.sum((x * mask - high_t * mask) ** 2) / b * self.beta / self.lam
    return loss_lr, loss_gen


def kept_first_noise(masked: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
  """``ViTKDLoss`` noise that masks exactly ``masked`` (bool ``[B, N]``, True: masked): kept
  tokens below masked ones (the order within each group changes nothing: ``ids_restore``
  undoes it)."""
  n = masked.shape[1]
  return masked.to(dtype) + torch.arange(n, dtype=dtype) / (2 * n)


def label_smooth_loss(logits: torch.Tensor, target: torch.Tensor, eps: float) -> torch.Tensor:
  """mmcls ``LabelSmoothLoss(mode='original')`` per example (yzd-v/cls_KD
  ``mmcls/models/losses/label_smooth_loss.py``): the one-hot labels (or the batch augments' mixed
  scores ``[B, K]``) times ``1 - eps`` plus ``eps / K``, then the soft cross-entropy."""
  if target.ndim == 1:
    target = F.one_hot(target.long(), logits.shape[1])
  smooth = target.to(logits.dtype) * (1 - eps) + eps / logits.shape[1]
  return -(smooth * F.log_softmax(logits, dim=1)).sum(dim=1)
