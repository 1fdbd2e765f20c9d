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
      "place the spec pack's shared/ folder in or next to the repository")


LAYOUTS = _load_layouts()
# Same family as the reference WRNs (seed 001 Table 5) but absent from the layout file.
EXTRA_MODELS = ("wrn_28_2", "wrn_16_4", "wrn_28_4")
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


# Torch submodule whose forward output is a sown JAX feature: (path, collection, index).
def _feature_taps(name: str) -> list[tuple[str, str, int]]:
  if name.startswith("wrn"):
    return [(f"block{i}", "feats", i) for i in (1, 2, 3)]
  if name.startswith("vgg"):  # torch stages end at their last BN
    return [(f"block{i}", "preact_feats", i) for i in (1, 2, 3, 4)]
  if name == "MobileNetV2":
    return [(f"blocks.{g}", "feats", i) for i, g in enumerate((1, 2, 4, 6), start=1)]
  if name == "MobileNetV1":  # torch units end with their ReLU
    return [(f"model.{u}", "feats", i) for i, u in enumerate((3, 5, 11, 13))]
  num_stages = 4 if name in ("ResNet18", "ResNet50", "resnet18", "resnet34", "resnet50") else 3
  return [(f"layer{i}", "feats", i) for i in range(1, num_stages + 1)]


def compare_with_torch(name: str, seed: int = 0) -> dict:
  """Inference-mode logits and features of kdjax vs PyTorch on the same random weights."""
  torch.manual_seed(seed)
  reference = torch_models.build(name, _num_classes(name))
  _randomize_batchnorm(reference)
  reference.eval()
  height, width, _ = models.input_shape(name)
  x = torch.randn(_batch_size(name), 3, height, width)
  taps, hooks = {}, []
  for path, _, _ in _feature_taps(name):
    hooks.append(reference.get_submodule(path).register_forward_hook(
        lambda module, args, out, path=path: taps.__setitem__(path, out.detach().numpy())))
  with torch.no_grad():
    expected = reference(x).numpy()
  for hook in hooks:
    hook.remove()

  module = models.create(name, num_classes=_num_classes(name))
  variables = state_dict_to_variables(reference.state_dict())
  apply = functools.partial(module.apply, mutable=["intermediates"])
  logits, state = _compile(apply, variables, _nchw_to_nhwc(x))(variables, _nchw_to_nhwc(x))
  inter = state["intermediates"]
  feature_errors = {
      path: _rel_err(np.asarray(inter[collection][index]).transpose(0, 3, 1, 2), taps[path])
      for path, collection, index in _feature_taps(name)
  }
  return dict(logits=np.asarray(logits), expected=expected, variables=variables, inter=inter,
              rel_err=_rel_err(logits, expected), feature_errors=feature_errors)


# ----------------------------------------------------------------------------- layouts
@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_torch_reference_matches_layout_file(name):
  reference = torch_models.build(name, _num_classes(name))
  layout = [[key, list(value.shape)] for key, value in reference.state_dict().items()]
  assert layout == LAYOUTS[name]["state_dict"]
  assert sum(p.numel() for p in reference.parameters()) == LAYOUTS[name]["trainable_params"]


@pytest.mark.parametrize("name", models.names())
def test_flax_variables_mirror_state_dict(name):
  module = models.create(name, num_classes=_num_classes(name))
  dummy = jnp.zeros((1, *models.input_shape(name)), jnp.float32)
  init = jax.eval_shape(module.init, jax.random.key(0), dummy)
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
  assert set(models.names()) == set(LAYOUTS) | set(EXTRA_MODELS)
  assert models.input_shape("resnet32x4") == (32, 32, 3)
  assert models.input_shape("resnet50") == (224, 224, 3)
  assert models.input_shape("ResNet50") == (32, 32, 3)
  for name, entry in LAYOUTS.items():
    assert models.input_shape(name)[0] == entry["input_size"], name


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
@pytest.mark.parametrize("name", models.names())
def test_inference_matches_torch(name):
  result = compare_with_torch(name)
  assert result["logits"].shape == (_batch_size(name), _num_classes(name))
  assert result["logits"].dtype == np.float32
  assert result["rel_err"] <= TOLERANCE, result["rel_err"]
  for path, err in result["feature_errors"].items():
    assert err <= TOLERANCE, (path, err)
  # The sown pooled feature is what the classifier reads.
  params = result["variables"]["params"]
  head = next(params[k] for k in ("fc", "linear", "classifier") if k in params)
  head = head.get("0", head)
  pooled = np.asarray(result["inter"]["pooled_feat"][0])
  assert _rel_err(pooled @ head["kernel"] + head["bias"], result["expected"]) <= TOLERANCE


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


def test_intermediates_are_sown_only_when_mutable():
  module = models.create("resnet8x4", num_classes=10)
  variables = models.init_variables(module, jax.random.key(0))
  x = jnp.ones((2, 32, 32, 3))
  plain = jax.eval_shape(module.apply, variables, x)
  assert isinstance(plain, jax.ShapeDtypeStruct) and plain.shape == (2, 10)
  apply = functools.partial(module.apply, mutable=["intermediates"])
  logits, state = _compile(apply, variables, x)(variables, x)
  inter = state["intermediates"]
  assert [f.shape for f in inter["feats"]] == [
      (2, 32, 32, 32), (2, 32, 32, 64), (2, 16, 16, 128), (2, 8, 8, 256)]
  assert len(inter["preact_feats"]) == 4 and inter["pooled_feat"][0].shape == (2, 256)
  for feat, preact in list(zip(inter["feats"], inter["preact_feats"]))[1:]:
    np.testing.assert_array_equal(feat, jax.nn.relu(preact))
  np.testing.assert_allclose(inter["pooled_feat"][0], inter["feats"][-1].mean((1, 2)), rtol=1e-6)
  assert logits.shape == (2, 10)


def _print_table() -> None:
  print(f"{'model':12s} {'params':>10s} {'max rel logit diff':>20s}")
  for name in models.names():
    module = models.create(name, num_classes=_num_classes(name))
    dummy = jnp.zeros((1, *models.input_shape(name)), jnp.float32)
    params = jax.eval_shape(module.init, jax.random.key(0), dummy)["params"]
    count = sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(params))
    print(f"{name:12s} {count:10d} {compare_with_torch(name)['rel_err']:20.2e}", flush=True)


if __name__ == "__main__":
  _print_table()


def test_conv_batch_chunks_compute_the_same_convolutions():
  """Each convolution on strided batch slices: same logits, batch statistics and gradients."""
  module = models.create('resnet8', num_classes=10)
  variables = models.init_variables(module, jax.random.key(0), (16, 16, 3))
  x = jax.random.normal(jax.random.key(1), (8, 16, 16, 3))

  def loss(params, chunks):
    with layers.conv_batch_chunks(chunks):
      logits, updates = module.apply({'params': params, 'batch_stats': variables['batch_stats']},
                                     x, train=True, mutable=['batch_stats'])
    return jnp.sum(jnp.sin(logits)), (logits, updates['batch_stats'])

  def convolutions(chunks):
    jaxpr = jax.make_jaxpr(lambda p: loss(p, chunks))(variables['params'])
    return str(jaxpr).count('conv_general_dilated')

  assert convolutions(4) == 4 * convolutions(1) > 0  # The slices are really convolved apart.
  whole = jax.grad(loss, has_aux=True)(variables['params'], 1)
  for chunks in (2, 4, 3):  # 3 does not divide the batch: the whole batch is used.
    sliced = jax.grad(loss, has_aux=True)(variables['params'], chunks)
    for got, want in zip(jax.tree.leaves(sliced), jax.tree.leaves(whole)):
      np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match='conv_batch_chunks must be >= 1'):
    with layers.conv_batch_chunks(0):
      pass
