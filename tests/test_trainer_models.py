"""Any model and optimizer through the one trainer: a toy ViT student (no BatchNorm, dropout)
trained with KD by AdamW + cosine warm-up, a weight-decay mask, gradient clipping and
Mixup/CutMix soft targets on the digits dataset, on 1 and 2 devices with equal results, and
resumed exactly."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from kdjax import convert
from kdjax import models
from kdjax import optim
from kdjax import train
from tests import method_checks


@pytest.fixture(scope='module')
def config(tmp_path_factory):
  """KD from a randomly initialised resnet8 teacher (saved as a kdjax teacher) into vit_toy, on
  64 training digits (the rest held out) in 2 epochs of 2 steps, evaluated on the test split."""
  teacher_dir = str(tmp_path_factory.mktemp('teacher') / 'resnet8')
  variables = models.init_variables(models.create('resnet8', num_classes=10), jax.random.key(7),
                                    (16, 16, 3))
  convert.save_teacher(teacher_dir, 'resnet8', 10, variables, source='random init (test)')
  c = method_checks.smoke(
      'kd', 'resnet8', 'vit_toy', dataset='digits', smoke=False, teacher_checkpoint=teacher_dir,
      epochs=2, batch_size=32, drop_remainder=True, eval_batch_size=450, augment_flip=False,
      validation_examples=1347 - 64, eval_split='test', eval_statistics=False,
      augment_padding=2, optimizer='adamw', lr=2e-3, weight_decay=0.05, lr_schedule='cosine',
      warmup_epochs=1, warmup_lr=1e-4, min_lr=1e-5, weight_decay_mask='no_bias_norm',
      grad_clip_norm=1.0, mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1,
      log_every=100)
  return c



@pytest.fixture(scope='module')
def uninterrupted(config, tmp_path_factory):
  """The run on this process's one device (its compilation shared with the resumed runs)."""
  assert jax.device_count() == 1
  workdir = str(tmp_path_factory.mktemp('uninterrupted'))
  run = train.prepare_run(config)
  initial = run.program.init(np.uint32(config.seed), **train.init_data(run))
  result = train.train_and_evaluate(config, workdir)
  return workdir, result, {'state': method_checks.state_leaves(result.state),
                           'initial': method_checks.state_leaves(initial),
                           'rows': method_checks.metric_rows(workdir)}


def test_vit_student_trains_on_one_and_two_devices_alike(config, uninterrupted, tmp_path):
  _, result, one = uninterrupted
  two = method_checks.run_on_devices({'vit': config}, 2, tmp_path)
  assert two['devices'] == 2 and two['vit']['replicated']
  two = two['vit']
  assert result.state.batch_stats == {'student': {}, 'method': {}}  # no BatchNorm anywhere
  assert any("['pos_embed']" in key for key in one['state'])
  # 1 vs 2 devices: the same program on a sharded batch, dropout masks and the batch's mixing
  # drawn from keys that do not depend on the split; agreement as float32 guarantees
  # (method_checks.RTOL, argued there).
  method_checks.assert_same_runs(one, two)
  rows = one['rows']
  assert [r['epoch'] for r in rows] == [1, 2]
  assert rows[0]['lr'] == pytest.approx(1e-4)  # warm-up start
  assert rows[1]['lr'] == pytest.approx(optim.learning_rate_at_epoch(config, 2))
  assert rows[1]['lr'] == pytest.approx(2e-3)  # warm-up end: the peak (cosine at 0)


def test_vit_student_resumes_exactly(config, uninterrupted, tmp_path):
  """Stopped after epoch 1 and resumed: bitwise the uninterrupted run (method_checks.
  assert_same_state argues why), and the same logged values."""
  reference_dir, reference, _ = uninterrupted
  workdir = str(tmp_path / 'interrupted')

  def stop(epoch, row):
    del row
    if epoch == 1:
      raise method_checks.StopAfterFirstEpoch

  with pytest.raises(method_checks.StopAfterFirstEpoch):
    train.train_and_evaluate(config, workdir, epoch_callback=stop)
  epochs = []
  resumed = train.train_and_evaluate(config, workdir,
                                     epoch_callback=lambda epoch, _: epochs.append(epoch))
  assert epochs == [2]  # resumed, not restarted
  method_checks.assert_same_state(resumed.state, reference.state)
  rows, reference_rows = (method_checks.metric_rows(w) for w in (workdir, reference_dir))
  assert [r['epoch'] for r in rows] == [1, 2]
  for row, ref in zip(rows, reference_rows):
    for key in ('train_loss', 'train_ce', 'train_kd', 'test_top1', 'lr'):
      assert row[key] == ref[key], (key, row[key], ref[key])


# ----------------------------------------------------------------------------- the toy ViT

class _TorchAttention(torch.nn.Module):
  """timm ``Attention`` (qkv_bias=True, no q/k norm), written from its definition."""

  def __init__(self, dim, num_heads):
    super().__init__()
    self.num_heads, self.scale = num_heads, (dim // num_heads) ** -0.5
    self.qkv, self.proj = torch.nn.Linear(dim, 3 * dim), torch.nn.Linear(dim, dim)

  def forward(self, x):
    b, n, c = x.shape
    qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
    return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class _TorchBlock(torch.nn.Module):
  def __init__(self, dim, num_heads, hidden):
    super().__init__()
    self.norm1, self.norm2 = torch.nn.LayerNorm(dim, eps=1e-6), torch.nn.LayerNorm(dim, eps=1e-6)
    self.attn = _TorchAttention(dim, num_heads)
    self.mlp = torch.nn.Module()
    self.mlp.fc1, self.mlp.fc2 = torch.nn.Linear(dim, hidden), torch.nn.Linear(hidden, dim)

  def forward(self, x):
    x = x + self.attn(self.norm1(x))
    h = self.mlp.fc2(torch.nn.functional.gelu(self.mlp.fc1(self.norm2(x))))
    return x + h


class _TorchViT(torch.nn.Module):
  """timm ``VisionTransformer`` (class token, no pre-norm / fc-norm, token pooling) at vit_toy's
  sizes, with timm's module names."""

  def __init__(self, num_classes, image=16, patch=4, dim=32, depth=2, heads=2, hidden=64):
    super().__init__()
    self.patch_embed = torch.nn.Module()
    self.patch_embed.proj = torch.nn.Conv2d(3, dim, patch, stride=patch)
    self.cls_token = torch.nn.Parameter(torch.randn(1, 1, dim))
    self.pos_embed = torch.nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, dim))
    self.blocks = torch.nn.Sequential(*[_TorchBlock(dim, heads, hidden) for _ in range(depth)])
    self.norm = torch.nn.LayerNorm(dim, eps=1e-6)
    self.head = torch.nn.Linear(dim, num_classes)

  def forward(self, x):
    x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
    x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
    return self.head(self.norm(self.blocks(x))[:, 0])


def test_vit_toy_is_timms_vit_under_its_state_dict_names():
  """timm's state-dict keys convert onto vit_toy's variables (``convert``'s rule, plus the
  two embeddings as they are), and the logits agree; dropout acts in train mode only."""
  torch.manual_seed(0)
  reference = _TorchViT(10).eval()
  for p in reference.parameters():  # non-default LayerNorm affines and biases: every leaf counts
    torch.nn.init.normal_(p, std=0.2)
  state = {k: v.detach().numpy() for k, v in reference.state_dict().items()}
  embeddings = {k: state.pop(k) for k in ('cls_token', 'pos_embed')}
  variables = convert.state_dict_to_variables(state)
  variables['params'].update(embeddings)
  module = models.create('vit_toy', num_classes=10)
  x = torch.randn(3, 3, 16, 16)
  images = jnp.asarray(x.numpy().transpose(0, 2, 3, 1))
  init = jax.eval_shape(module.init, jax.random.key(0), images)
  assert set(init) == {'params'}  # no batch_stats
  assert (jax.tree.map(lambda a: a.shape, init['params'])
          == jax.tree.map(np.shape, variables['params']))
  logits = module.apply({'params': variables['params']}, images)
  with torch.no_grad():
    expected = reference(x).numpy()
  # float32: the two sides sum the same <= 64-term products in other orders through two
  # blocks; a few ulps per operation, far below 1e-5 of the largest logit (a wrong scale, eps
  # or head input moves logits by > 1e-2 of it).
  np.testing.assert_allclose(logits, expected, atol=1e-5 * np.abs(expected).max(), rtol=0)
  train_a, train_b = (module.apply({'params': variables['params']}, images, train=True,
                                   rngs={'dropout': jax.random.key(s)}) for s in (1, 2))
  assert not np.allclose(train_a, train_b) and not np.allclose(train_a, logits)
