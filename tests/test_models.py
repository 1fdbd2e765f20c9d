"""kdjax.models against the PyTorch reference layouts and models (tests/torch_models.py).

Run as a script (``python tests/test_models.py``) to print, per model, the parameter count and
the measured relative logit difference to PyTorch.
"""

from __future__ import annotations

import functools
import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import torch_models  # noqa: E402  (test-only PyTorch definitions next to this file)

from kdjax import convert  # noqa: E402
from kdjax import models  # noqa: E402
from kdjax.convert import state_dict_to_variables  # noqa: E402
from kdjax.models import layers  # noqa: E402

torch.set_default_dtype(torch.float32)


def _load_layouts() -> dict:
  """The reference state-dict layouts (a copy in ``tests/data``, or ``shared/reference``)."""
  repo = pathlib.Path(__file__).resolve().parents[1]
  candidates = [repo / "tests" / "data", repo / "shared" / "reference",
                repo.parent / "shared" / "reference"]
  for folder in candidates:
    path = folder / "torch_state_dict_layouts.json"
    if path.exists():
      return json.loads(path.read_text())["models"]
  raise FileNotFoundError(
      f"torch_state_dict_layouts.json not found under {[str(c) for c in candidates]}; "
      "it is part of the repository: restore it with git checkout tests/data")


LAYOUTS = _load_layouts()
# Same family as the reference WRNs (seed 001 Table 5) but absent from the layout file.
EXTRA_MODELS = ("wrn_28_2", "wrn_16_4", "wrn_28_4", "resnet101", "resnet152")
# Seed 002 Table 7's deeper torchvision teachers: the layout file lists neither; their
# trainable-parameter counts as torchvision publishes them (1000 classes).
TORCHVISION_PARAMS = {"resnet101": 44_549_160, "resnet152": 60_192_808}
# Same code as resnet50 with more blocks: their torch equivalence runs in the slow lane.
DEEP = {"resnet101", "resnet152"}
# Models of the trainer's tests, not ports of a reference model: no mdistiller features or
# layout file; vit_toy is checked against timm's ViT in tests/test_trainer_models.py.
TEST_MODELS = ("vit_toy",)
# timm's DeiT / DeiT III: no mdistiller counterpart; checked against PyTorch in tests/test_deit.py.
VIT_MODELS = ("deit_tiny_patch16_224", "deit_small_patch16_224", "deit_base_patch16_224",
              "deit3_small_patch16_224", "deit3_base_patch16_224")
REFERENCE_MODELS = [n for n in models.names() if n not in TEST_MODELS + VIT_MODELS]
TOLERANCE = 1e-4


def _num_classes(name: str) -> int:
  return 1000 if models.input_shape(name) == models.IMAGENET_INPUT_SHAPE else 100


def _batch_size(name: str) -> int:
  return 1 if models.input_shape(name) == models.IMAGENET_INPUT_SHAPE else 2


def _rel_err(actual, expected) -> float:
  expected = np.asarray(expected)
  return float(np.max(np.abs(np.asarray(actual) - expected)) / np.max(np.abs(expected)))


def _nchw_to_nhwc(x: torch.Tensor) -> jax.Array:
  return jnp.asarray(x.detach().numpy().transpose(0, 2, 3, 1))


def _randomize_batchnorm(model: torch.nn.Module) -> None:
  """Non-default BN statistics and affine parameters, so that every leaf matters."""
  with torch.no_grad():
    for m in model.modules():
      if isinstance(m, torch.nn.BatchNorm2d):
        m.running_mean.normal_(0.0, 0.2)
        m.running_var.uniform_(0.5, 2.0)
        m.weight.uniform_(0.3, 1.2)
        m.bias.normal_(0.0, 0.2)


def _reference_layout(name: str) -> dict[str, np.ndarray]:
  """Zero arrays with the reference state-dict shapes (JSON, or the torch model for extras)."""
  if name in LAYOUTS:
    return {key: np.zeros(shape, np.float32) for key, shape in LAYOUTS[name]["state_dict"]}
  return dict(torch_models.build(name, _num_classes(name)).state_dict())


def _compile(fn, *args):
  """``jax.jit(fn)`` compiled for ``args``, without XLA's slow CPU backend optimisation.

  Tests run each model once or twice at batch 2, so compile time dominates; the numerics of
  the convolutions (library calls) are unaffected.
  """
  options = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None
  return jax.jit(fn).lower(*args).compile(compiler_options=options)


def _shapes(tree) -> dict:
  return jax.tree.map(lambda x: tuple(x.shape), tree)


def _nhwc_to_nchw(x) -> np.ndarray:
  return np.asarray(x).transpose(0, 3, 1, 2)


def compare_with_torch(name: str, seed: int = 0) -> dict:
  """Inference-mode logits and features of kdjax vs PyTorch on the same random weights.

  The reference features are ``torch_models``' ``forward_features`` (mdistiller's feature dict);
  kdjax's come from ``models.apply_with_features``.
  """
  torch.manual_seed(seed)
  reference = torch_models.build(name, _num_classes(name))
  _randomize_batchnorm(reference)
  reference.eval()
  height, width, _ = models.input_shape(name)
  x = torch.randn(_batch_size(name), 3, height, width)
  with torch.no_grad():
    expected = reference(x).numpy()
    feature_logits, torch_feats = reference.forward_features(x)
  # forward_features is the same network as forward.
  assert _rel_err(feature_logits.numpy(), expected) <= 1e-6

  module = models.create(name, num_classes=_num_classes(name))
  variables = state_dict_to_variables(reference.state_dict())
  apply = functools.partial(models.apply_with_features, module, train=False)
  logits, features, updates = _compile(apply, variables, _nchw_to_nhwc(x))(
      variables, _nchw_to_nhwc(x))
  assert updates == {}
  feature_errors = {}
  for key in ("feats", "preact_feats"):
    ours, theirs = getattr(features, key), torch_feats.get(key, [])
    assert len(ours) == len(theirs), (key, len(ours), len(theirs))
    for index, (got, want) in enumerate(zip(ours, theirs)):
      assert _nhwc_to_nchw(got).shape == tuple(want.shape), (key, index)
      feature_errors[f"{key}[{index}]"] = _rel_err(_nhwc_to_nchw(got), want.numpy())
  assert features.pooled.shape == tuple(torch_feats["pooled_feat"].shape)
  feature_errors["pooled_feat"] = _rel_err(features.pooled, torch_feats["pooled_feat"].numpy())
  return dict(logits=np.asarray(logits), expected=expected, variables=variables,
              features=features, rel_err=_rel_err(logits, expected),
              feature_errors=feature_errors)


# ----------------------------------------------------------------------------- layouts
@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_torch_reference_matches_layout_file(name):
  reference = torch_models.build(name, _num_classes(name))
  layout = [[key, list(value.shape)] for key, value in reference.state_dict().items()]
  assert layout == LAYOUTS[name]["state_dict"]
  assert sum(p.numel() for p in reference.parameters()) == LAYOUTS[name]["trainable_params"]


def _count_primitive(jaxpr, name: str) -> int:
  """Occurrences of primitive ``name`` in a (closed) jaxpr, sub-jaxprs included."""
  jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
  count = 0
  for eqn in jaxpr.eqns:
    count += eqn.primitive.name == name
    for param in eqn.params.values():
      for sub in (param if isinstance(param, (tuple, list)) else (param,)):
        if hasattr(sub, "eqns") or hasattr(getattr(sub, "jaxpr", None), "eqns"):
          count += _count_primitive(sub, name)
  return count


def _num_conv_kernels(params) -> int:
  return sum(1 for path, leaf in jax.tree_util.tree_leaves_with_path(params)
             if path[-1].key == "kernel" and leaf.ndim == 4)


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_flax_variables_mirror_state_dict(name):
  """The variables mirror the state dict, whatever ``conv_batch_chunks`` (here 2, traced on a
  batch of 2: every convolution of the model is computed on two slices)."""
  module = models.create(name, num_classes=_num_classes(name), conv_batch_chunks=2)
  dummy = jnp.zeros((2, *models.input_shape(name)), jnp.float32)
  jaxpr, init = jax.make_jaxpr(functools.partial(module.init, train=False),
                               return_shape=True)(jax.random.key(0), dummy)
  assert _count_primitive(jaxpr, "conv_general_dilated") == 2 * _num_conv_kernels(init["params"])
  flax_vars = {"params": init["params"], "batch_stats": init["batch_stats"]}
  converted = state_dict_to_variables(_reference_layout(name))
  assert _shapes(converted) == _shapes(flax_vars)
  assert jax.tree.structure(converted) == jax.tree.structure(flax_vars)
  num_params = sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(init["params"]))
  if name in LAYOUTS:
    assert num_params == LAYOUTS[name]["trainable_params"]
  else:
    reference = torch_models.build(name, _num_classes(name))
    assert num_params == sum(p.numel() for p in reference.parameters())
  assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(flax_vars))


def test_registry_covers_reference_models():
  assert set(models.names()) == (set(LAYOUTS) | set(EXTRA_MODELS) | set(TEST_MODELS)
                                 | set(VIT_MODELS))
  assert models.input_shape("resnet32x4") == (32, 32, 3)
  assert models.input_shape("resnet50") == (224, 224, 3)
  assert models.input_shape("ResNet50") == (32, 32, 3)
  for name, entry in LAYOUTS.items():
    assert models.input_shape(name)[0] == entry["input_size"], name


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS))
def test_deep_torchvision_resnets_have_the_published_layout(name):
  """resnet101 / resnet152: torchvision's state-dict keys and shapes (the conversion machinery's
  ``expected_state_dict_shapes``) and its published parameter counts."""
  reference = torch_models.build(name, 1000)
  expected = {k: tuple(v.shape) for k, v in reference.state_dict().items()
              if not k.endswith("num_batches_tracked")}
  assert dict(convert.expected_state_dict_shapes(name, 1000)) == expected
  assert sum(p.numel() for p in reference.parameters()) == TORCHVISION_PARAMS[name]
  shapes = jax.eval_shape(functools.partial(models.create(name, num_classes=1000).init,
                                            train=False),
                          jax.random.key(0), jax.ShapeDtypeStruct((1, 224, 224, 3), jnp.float32))
  count = sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(shapes["params"]))
  assert count == TORCHVISION_PARAMS[name]
  blocks = {"resnet101": (3, 4, 23, 3), "resnet152": (3, 8, 36, 3)}[name]
  for stage, size in enumerate(blocks, start=1):
    assert f"layer{stage}.{size - 1}.conv3.weight" in expected
    assert f"layer{stage}.{size}.conv1.weight" not in expected
  assert models.stage_channels(name) == (64, 256, 512, 1024, 2048)


def test_unknown_name_lists_known_models():
  with pytest.raises(ValueError, match="unknown model 'nope'") as error:
    models.create("nope", num_classes=10)
  for name in models.names():
    assert name in str(error.value)
  with pytest.raises(ValueError, match="resnet8x4"):
    models.input_shape("nope")
  with pytest.raises(ValueError, match="num_classes"):
    models.create("resnet8", num_classes=0)


# ----------------------------------------------------------------------------- equivalence
def _check_bn_before_relu(name: str, variables: dict, features) -> None:
  """``bn_before_relu``: the BNs exist, sit where the reference takes them, and have the
  channels of the ``preact_feats`` (MobileNetV2: ``feats``) entries they belong to."""
  if name in ("ShuffleV1", "ShuffleV2"):  # the reference models do not define it
    with pytest.raises(NotImplementedError, match="get_bn_before_relu"):
      models.bn_before_relu(name, variables)
    return
  bns = models.bn_before_relu(name, variables)
  paths = models.bn_before_relu_paths(name)
  expected_count = {"resnet18": 3, "resnet34": 3, "resnet50": 3, "resnet101": 3, "resnet152": 3,
                    "MobileNetV1": 4}.get(
      name, len(features.feats) - 1)
  assert len(bns) == len(paths) == expected_count
  targets = (features.preact_feats or features.feats)[-len(bns):]
  params = variables["params"]
  for path, bn, target in zip(paths, bns, targets):
    assert sorted(bn) == ["bias", "mean", "scale", "var"]
    for key in bn:
      assert bn[key].shape == (target.shape[-1],), (path, key)
    np.testing.assert_array_equal(bn["scale"], _at(params, path)["scale"])
    np.testing.assert_array_equal(bn["var"], _at(variables["batch_stats"], path)["var"])
    stage = path[:2] if path[0] == "blocks" else path[:1]
    if path[0].startswith("layer") or path[0] == "blocks":  # the stage's LAST block
      assert int(path[len(stage)]) == max(int(k) for k in _at(params, stage)), path
    if name.startswith("vgg"):  # the stage's LAST BN
      block = params[path[0]]
      assert int(path[1]) == max(int(k) for k, v in block.items() if "scale" in v), path
  if name.startswith("wrn"):  # WRN's preacts are exactly these BNs applied to the groups
    for bn, feat, preact in zip(bns, features.feats[1:], features.preact_feats[1:]):
      normalised = (np.asarray(feat) - bn["mean"]) / np.sqrt(np.asarray(bn["var"]) + 1e-5)
      assert _rel_err(normalised * bn["scale"] + bn["bias"], preact) <= TOLERANCE


def _at(tree, path):
  for key in path:
    tree = tree[key]
  return tree


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in DEEP else n
                                  for n in REFERENCE_MODELS])
def test_inference_matches_torch(name):
  """Logits and EVERY feature (feats, preact_feats, pooled_feat) equal the reference's; the
  features API (stage_channels, classify, bn_before_relu) agrees with them."""
  result = compare_with_torch(name)
  assert result["logits"].shape == (_batch_size(name), _num_classes(name))
  assert result["logits"].dtype == np.float32
  assert result["rel_err"] <= TOLERANCE, result["rel_err"]
  for key, err in result["feature_errors"].items():
    assert err <= TOLERANCE, (key, err)
  features, variables = result["features"], result["variables"]
  assert models.stage_channels(name) == tuple(f.shape[-1] for f in features.feats)
  shapes = models.feature_shapes(name, batch_size=_batch_size(name))
  assert _shapes(shapes) == _shapes(features)
  # The classifier reads the sown pooled feature.
  kernel, bias = models.classifier(name, variables)
  assert kernel.shape == (features.pooled.shape[-1], _num_classes(name))
  assert bias.shape == (_num_classes(name),)
  # (atol relative to the largest logit: the deep ResNets' random-BN logits reach about 50.)
  np.testing.assert_allclose(models.classify(name, variables, features.pooled),
                             result["logits"], rtol=1e-5,
                             atol=1e-5 * max(1.0, float(np.max(np.abs(result["logits"])))))
  # The classifier pools the sown head map (CAT-KD's CAMs are taken on it).
  np.testing.assert_allclose(jnp.mean(features.head_map, axis=(1, 2)), features.pooled,
                             rtol=1e-5, atol=1e-6)
  _check_bn_before_relu(name, variables, features)
  _check_feature_relations(name, features)


def _check_feature_relations(name: str, features) -> None:
  """How each model's preacts relate to its feats (the reference particulars)."""
  feats, preacts = features.feats, features.preact_feats
  if name == "MobileNetV2":  # the reference defines no preact_feats
    assert preacts == () and len(feats) == 5
    return
  assert len(preacts) == len(feats)
  if name == "MobileNetV1":  # no stem entry; every entry is a true pre-ReLU
    pairs = list(zip(feats, preacts))
  else:  # the first entry is the same tensor in both lists (activated, or WRN's raw conv1)
    np.testing.assert_array_equal(preacts[0], feats[0])
    pairs = list(zip(feats, preacts))[1:]
  if name.startswith("wrn"):  # preacts are BN(feats), checked in _check_bn_before_relu
    return
  for feat, preact in pairs:
    if name == "ShuffleV2":  # the preact is taken before the block's channel shuffle
      np.testing.assert_array_equal(feat, layers.channel_shuffle(jax.nn.relu(preact), 2))
    else:
      np.testing.assert_array_equal(feat, jax.nn.relu(preact))
    assert float(jnp.min(preact)) < 0  # really before the ReLU


@pytest.mark.parametrize("name", ["resnet8x4", "wrn_16_2", "ShuffleV1"])
def test_train_mode_matches_torch(name):
  torch.manual_seed(1)
  reference = torch_models.build(name, _num_classes(name))
  _randomize_batchnorm(reference)
  # Copies: the converted arrays may share memory with the tensors torch updates in place.
  variables = state_dict_to_variables({k: v.clone() for k, v in reference.state_dict().items()})
  x = torch.randn(4, 3, 32, 32)
  reference.train()
  with torch.no_grad():
    expected = reference(x).numpy()
  expected_stats = state_dict_to_variables(reference.state_dict())["batch_stats"]

  module = models.create(name, num_classes=_num_classes(name))
  apply = functools.partial(module.apply, train=True, mutable=["batch_stats"])
  logits, state = _compile(apply, variables, _nchw_to_nhwc(x))(variables, _nchw_to_nhwc(x))
  assert _rel_err(logits, expected) <= TOLERANCE
  assert _shapes(state["batch_stats"]) == _shapes(expected_stats)
  errors = jax.tree.map(_rel_err, state["batch_stats"], expected_stats)
  assert max(jax.tree.leaves(errors)) <= TOLERANCE
  # The statistics really moved (this is not the identity on the old ones).
  moved = jax.tree.map(lambda a, b: float(np.max(np.abs(np.asarray(a) - b))),
                       state["batch_stats"], variables["batch_stats"])
  assert min(jax.tree.leaves(moved)) > 0


def test_batchnorm_matches_torch_over_steps():
  torch.manual_seed(2)
  reference = torch.nn.BatchNorm2d(5)
  with torch.no_grad():
    reference.weight.uniform_(0.5, 1.5)
    reference.bias.normal_()
  bn = layers.BatchNorm()
  variables = state_dict_to_variables({k: v.clone() for k, v in reference.state_dict().items()})
  for _ in range(3):  # three training steps, batch of 3 x 2 x 2 pixels (n = 12)
    x = torch.randn(3, 5, 2, 2) * 3 + 1
    expected = reference(x).detach().numpy().transpose(0, 2, 3, 1)
    out, state = bn.apply(variables, _nchw_to_nhwc(x), train=True, mutable=["batch_stats"])
    variables = {"params": variables["params"], "batch_stats": state["batch_stats"]}
    assert _rel_err(out, expected) <= 1e-5
  stats = state_dict_to_variables(reference.state_dict())["batch_stats"]
  np.testing.assert_allclose(variables["batch_stats"]["var"], stats["var"], rtol=1e-5)
  np.testing.assert_allclose(variables["batch_stats"]["mean"], stats["mean"], rtol=1e-5, atol=1e-6)
  reference.eval()
  x = torch.randn(2, 5, 3, 3)
  expected = reference(x).detach().numpy().transpose(0, 2, 3, 1)
  assert _rel_err(bn.apply(variables, _nchw_to_nhwc(x)), expected) <= 1e-5


def test_channel_shuffle_matches_torch():
  x = torch.arange(2 * 12 * 2 * 3, dtype=torch.float32).reshape(2, 12, 2, 3)
  expected = torch_models._channel_shuffle(x, 3).numpy().transpose(0, 2, 3, 1)
  np.testing.assert_array_equal(layers.channel_shuffle(_nchw_to_nhwc(x), 3), expected)


# ----------------------------------------------------------------------------- init, dtype
def _leaf_stats(leaf):
  leaf = np.asarray(leaf, np.float64).ravel()
  return leaf.size, leaf.std(), leaf


@pytest.mark.parametrize("name", ["resnet8", "wrn_16_2", "vgg8", "ShuffleV1"])
def test_initialisers_match_reference(name):
  """Every leaf's init distribution (constant, spread, tails) equals the reference code's."""
  torch.manual_seed(3)
  expected = state_dict_to_variables(torch_models.build(name, 100).state_dict())
  actual = models.init_variables(models.create(name, num_classes=100), jax.random.key(3))
  assert _shapes(actual) == _shapes(expected)
  paths_and_leaves = jax.tree_util.tree_leaves_with_path(actual)
  flat_expected = dict(jax.tree_util.tree_leaves_with_path(expected))
  for path, leaf in paths_and_leaves:
    size, std, values = _leaf_stats(leaf)
    _, expected_std, expected_values = _leaf_stats(flat_expected[path])
    if expected_std == 0:  # BN scale/bias, zero biases, running stats
      np.testing.assert_array_equal(values, expected_values, err_msg=str(path))
      continue
    if size >= 1000:
      assert abs(std / expected_std - 1) < 0.1, (path, std, expected_std)
    if size >= 20000:  # normal vs uniform vs truncated normal: mass beyond 2.5 sigma
      tail = np.mean(np.abs(values) > 2.5 * expected_std)
      expected_tail = np.mean(np.abs(expected_values) > 2.5 * expected_std)
      assert abs(tail - expected_tail) < 0.005, (path, tail, expected_tail)


def test_depthwise_fan_out_init_counts_output_channels():
  """Depthwise kernels (HWIO = 3x3x1xC) get normal(0, sqrt(2 / (9 C))) like torch's [C,1,3,3]."""
  channels = 256
  conv = layers.conv(channels, 3, groups=channels, kernel_init=layers.fan_out_normal_init)
  kernel = conv.init(jax.random.key(0), jnp.zeros((1, 4, 4, channels)))["params"]["kernel"]
  assert kernel.shape == (3, 3, 1, channels)
  assert abs(float(jnp.std(kernel)) / (2.0 / (9 * channels)) ** 0.5 - 1) < 0.05


def test_bfloat16_computation_keeps_float32_state():
  module32 = models.create("resnet8", num_classes=100)
  module16 = models.create("resnet8", num_classes=100, dtype=jnp.bfloat16)
  variables = models.init_variables(module16, jax.random.key(0), batch_size=2)
  assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(variables))
  x = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
  outputs = []
  for module in (module16, module32):
    apply = functools.partial(module.apply, train=True, mutable=["batch_stats"])
    outputs.append(_compile(apply, variables, x)(variables, x))
  (logits16, state16), (logits32, state32) = outputs
  assert logits16.dtype == jnp.float32
  assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(state16))
  assert 1e-4 < _rel_err(logits16, logits32) < 5e-2  # really computed in bfloat16
  errors = jax.tree.map(_rel_err, state16["batch_stats"], state32["batch_stats"])
  assert max(jax.tree.leaves(errors)) < 5e-2


def test_apply_with_features_in_training():
  """Train mode: same logits and BN updates as ``module.apply``; features packed as a pytree;
  a plain ``apply`` sows nothing; a stale ``'intermediates'`` entry in the variables is ignored."""
  module = models.create("resnet8", num_classes=10)
  variables = models.init_variables(module, jax.random.key(0), (16, 16, 3))
  x = jax.random.normal(jax.random.key(1), (2, 16, 16, 3))
  plain = jax.eval_shape(module.apply, variables, x)
  assert isinstance(plain, jax.ShapeDtypeStruct) and plain.shape == (2, 10)

  def both(variables, x):
    reference = module.apply(variables, x, train=True, mutable=["batch_stats"])
    return reference, models.apply_with_features(module, variables, x, train=True,
                                                 mutable="batch_stats")

  stale = dict(variables, intermediates={"feats": (jnp.zeros(1),)})
  (ref_logits, ref_state), (logits, features, updates) = _compile(both, stale, x)(stale, x)
  assert isinstance(features, models.Features)
  np.testing.assert_array_equal(logits, ref_logits)
  assert set(updates) == {"batch_stats"}
  for got, want in zip(jax.tree.leaves(updates), jax.tree.leaves(ref_state)):
    np.testing.assert_array_equal(got, want)
  assert [f.shape for f in features.feats] == [
      (2, 16, 16, 16), (2, 16, 16, 16), (2, 8, 8, 32), (2, 4, 4, 64)]
  assert len(features.preact_feats) == 4 and features.pooled.shape == (2, 64)
  np.testing.assert_array_equal(features.preact_feats[0], features.feats[0])  # activated stem
  for feat, preact in list(zip(features.feats, features.preact_feats))[1:]:
    np.testing.assert_array_equal(feat, jax.nn.relu(preact))
    assert float(jnp.min(preact)) < 0
  np.testing.assert_allclose(features.pooled, features.feats[-1].mean((1, 2)), rtol=1e-6)
  assert models.apply_with_features(module, variables, x, train=False)[2] == {}
  assert _shapes(models.feature_shapes("resnet8", [16, 16, 3], 2)) == _shapes(features)


@pytest.mark.parametrize("name", ["resnet20", "ResNet50", "wrn_16_2", "vgg13", "MobileNetV2",
                                  "resnet34", "MobileNetV1"])
def test_bn_before_relu_feeds_its_feature(name):
  """Each ``bn_before_relu`` BN's output has the full shape (stage resolution included) of the
  ``preact_feats`` entry it belongs to (``feats`` for MobileNetV2); traced only."""
  module = models.create(name, num_classes=10)
  x = jax.ShapeDtypeStruct((1, *models.input_shape(name)), jnp.float32)
  paths = set(models.bn_before_relu_paths(name))
  variables = jax.eval_shape(functools.partial(module.init, train=False), jax.random.key(0), x)
  _, state = jax.eval_shape(functools.partial(
      module.apply, train=False, mutable=["intermediates"],
      capture_intermediates=lambda mdl, method: mdl.path in paths), variables, x)
  features = models.features_from_intermediates(state["intermediates"])
  outputs = [_at(state["intermediates"], path)["__call__"][0]
             for path in models.bn_before_relu_paths(name)]
  targets = (features.preact_feats or features.feats)[-len(outputs):]
  assert [o.shape for o in outputs] == [t.shape for t in targets]



def test_conv_batch_chunks_compute_the_same_convolutions():
  """A model with ``conv_batch_chunks=4`` convolves 4 strided batch slices per layer (4
  convolutions in the jaxpr per conv layer) and gives the same logits and batch statistics; a
  chunk count that does not divide the batch convolves it whole."""
  x = jax.random.normal(jax.random.key(1), (8, 16, 16, 3))
  whole = models.create("resnet8", num_classes=10)
  variables = models.init_variables(whole, jax.random.key(0), (16, 16, 3))
  sliced = models.create("resnet8", num_classes=10, conv_batch_chunks=4)
  assert sliced.conv_batch_chunks == 4

  def forward(module, variables):
    return module.apply(variables, x, train=True, mutable=["batch_stats"])

  def convolutions(module):
    jaxpr = jax.make_jaxpr(functools.partial(forward, module))(variables)
    return _count_primitive(jaxpr, "conv_general_dilated")

  layers_count = _num_conv_kernels(variables["params"])
  assert convolutions(whole) == layers_count > 0
  assert convolutions(sliced) == 4 * layers_count  # The slices are really convolved apart.
  undivided = models.create("resnet8", num_classes=10, conv_batch_chunks=3)
  assert convolutions(undivided) == layers_count  # 3 does not divide 8: the whole batch.

  def run(variables):
    return forward(whole, variables), forward(sliced, variables)

  (logits, stats), (sliced_logits, sliced_stats) = _compile(run, variables)(variables)
  # The slices change the order of XLA's sums (the convolutions are computed apart), so a logit
  # carries float32 rounding of the size of the sums it comes from, not of itself: 1e-5 of the
  # largest logit (a logit near 0 can differ by ~1e-5 of its own value, seen under SSE4.2).
  np.testing.assert_allclose(sliced_logits, logits, rtol=1e-5,
                             atol=1e-5 * float(np.abs(logits).max()))
  for got, want in zip(jax.tree.leaves(sliced_stats), jax.tree.leaves(stats)):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  # Parameters and names do not depend on the chunk count.
  shapes = jax.eval_shape(functools.partial(sliced.init, train=False), jax.random.key(0), x)
  assert _shapes(shapes) == _shapes(variables)
  for bad in (0, -1, 2.0, True):
    with pytest.raises(ValueError, match="conv_batch_chunks must be an int >= 1"):
      models.create("resnet8", num_classes=10, conv_batch_chunks=bad)


def _print_table() -> None:
  print(f"{'model':12s} {'params':>10s} {'max rel logit diff':>20s}")
  for name in REFERENCE_MODELS:
    module = models.create(name, num_classes=_num_classes(name))
    dummy = jnp.zeros((1, *models.input_shape(name)), jnp.float32)
    params = jax.eval_shape(module.init, jax.random.key(0), dummy)["params"]
    count = sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(params))
    print(f"{name:12s} {count:10d} {compare_with_torch(name)['rel_err']:20.2e}", flush=True)


if __name__ == "__main__":
  _print_table()
