"""Tests of kdjax.torch_io (the code-free .pth reader) and kdjax.convert (PyTorch -> Flax)."""

from __future__ import annotations

import argparse
import collections
import functools
import io
import json
import os
import pickle
import re
import struct
import subprocess
import sys
import zipfile

import jax
import numpy as np
import pytest
import torch

import torch_models
from kdjax import convert
from kdjax import models
from kdjax import torch_io

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL_MODELS = ["resnet8x4", "resnet32x4", "wrn_40_2", "vgg13", "MobileNetV2", "ShuffleV1",
               "ResNet50"]
SMALL = "resnet8x4"


# ----------------------------------------------------------------------------- helpers
@functools.lru_cache(maxsize=None)
def _torch_model(name: str, num_classes: int = 100) -> torch.nn.Module:
  """A reference model in eval mode with non-trivial BN weights and running statistics."""
  torch.manual_seed(0)
  model = torch_models.build(name, num_classes)
  with torch.no_grad():
    for module in model.modules():
      if isinstance(module, torch.nn.BatchNorm2d):
        module.weight.uniform_(0.5, 1.5)
        module.bias.uniform_(-0.2, 0.2)
        module.running_mean.uniform_(-0.3, 0.3)
        module.running_var.uniform_(0.5, 1.5)
        module.num_batches_tracked.fill_(7)
  return model.eval()


def _images(name: str) -> np.ndarray:
  return np.random.default_rng(1).standard_normal((2, *models.input_shape(name)), dtype=np.float32)


def _torch_logits(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
  with torch.no_grad():
    out = model(torch.from_numpy(images.transpose(0, 3, 1, 2)))
  return (out[0] if isinstance(out, tuple) else out).numpy()


def _jax_logits(module, variables, images: np.ndarray) -> np.ndarray:
  with jax.default_matmul_precision("highest"):
    return np.asarray(jax.jit(module.apply)(variables, images))


def _assert_close_logits(actual: np.ndarray, expected: np.ndarray) -> None:
  rel = np.abs(actual - expected).max() / np.abs(expected).max()
  assert rel <= 1e-4, f"relative logit error {rel:.3g}"


def _assert_same_tree(a, b) -> None:
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    assert x.dtype == np.float32 and x.shape == y.shape
    np.testing.assert_array_equal(x, y)


def _save(obj, path, legacy: bool = False) -> str:
  torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
  return str(path)


@pytest.fixture(scope="module")
def small_state_dict():
  return _torch_model(SMALL).state_dict()


@pytest.fixture(scope="module")
def small_variables(small_state_dict):
  return convert.from_torch(small_state_dict, SMALL)


# ----------------------------------------------------------------------------- torch_io reader
def _reader_payload():
  base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 7
  shared = torch.randn(5, 3)
  return {
      "model": collections.OrderedDict(
          f32=torch.randn(2, 3, 3, 3), f16=torch.randn(4, 5).half(),
          bf16=torch.randn(6).bfloat16(), f64=torch.randn(3, 2).double(),
          i64=torch.arange(-3, 3), i32=torch.arange(4, dtype=torch.int32),
          flags=torch.tensor([True, False, True]), scalar=torch.tensor(2.5),
          empty=torch.zeros(0, 3), view=base[1:, ::2], transposed=base.t(),
          shared_a=shared, shared_b=shared[2:], param=torch.nn.Parameter(torch.randn(3))),
      "opt": argparse.Namespace(lr=0.05, model="resnet8x4", milestones=[150, 180]),
      "best_acc": np.float64(79.42), "tags": {"a", "b"}, "raw": b"\x00\xff", "epoch": 240,
  }


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_reader_matches_torch(tmp_path, legacy):
  payload = _reader_payload()
  loaded = torch_io.load(_save(payload, tmp_path / "ckpt.pth", legacy))
  assert list(loaded["model"]) == list(payload["model"])
  for key, tensor in payload["model"].items():
    tensor = tensor.detach()
    expected = tensor.float().numpy() if tensor.is_floating_point() else tensor.numpy()
    assert loaded["model"][key].dtype == expected.dtype, key
    np.testing.assert_array_equal(loaded["model"][key], expected, err_msg=key)
  assert loaded["opt"] == payload["opt"]
  assert loaded["best_acc"] == payload["best_acc"]
  assert (loaded["tags"], loaded["raw"], loaded["epoch"]) == ({"a", "b"}, b"\x00\xff", 240)


class _Storage:  # Stands for a storage in a handmade pickle (see _handmade_checkpoint).

  def __init__(self, key, numel, view=None):
    self.key, self.numel, self.view = key, numel, view


class _Tensor:

  def __init__(self, storage, offset, size, stride):
    self.args = (storage, offset, size, stride, False, collections.OrderedDict())

  def __reduce__(self):
    return torch._utils._rebuild_tensor_v2, self.args


def _handmade_checkpoint(path, *, legacy: bool, little_endian: bool) -> np.ndarray:
  """Writes a float32 storage of 12 elements by hand, in a given byte order, as tensor 'w'.

  'w' is a 2x2 view at storage offset 1 with strides (3, 2); in the legacy file it also sits on a
  pre-1.0 storage view (element offset 2), which the reader must add. Returns the expected 'w'.
  """
  values = np.arange(12, dtype=np.float32) * 0.5 - 1.0
  view = ("v", 2, 8) if legacy else None
  obj = {"w": _Tensor(_Storage("0", 12, view), 1, (2, 2), (3, 2))}
  buffer = io.BytesIO()
  pickler = pickle.Pickler(buffer, protocol=2)
  pickler.persistent_id = lambda o: (("storage", torch.FloatStorage, o.key, "cpu", o.numel)
                                     + ((o.view,) if legacy else ()) if isinstance(o, _Storage)
                                     else None)
  pickler.dump(obj)
  data = values.astype("<f4" if little_endian else ">f4").tobytes()
  if legacy:
    with open(path, "wb") as file:
      for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": little_endian}):
        pickle.dump(header, file, protocol=2)
      file.write(buffer.getvalue())
      pickle.dump(["0"], file, protocol=2)
      file.write(struct.pack("<q" if little_endian else ">q", 12) + data)
  else:
    with zipfile.ZipFile(path, "w") as archive:
      archive.writestr("ckpt/data.pkl", buffer.getvalue())
      archive.writestr("ckpt/byteorder", "little" if little_endian else "big")
      archive.writestr("ckpt/data/0", data)
  start = 1 + (2 if legacy else 0)
  return np.lib.stride_tricks.as_strided(values[start:], (2, 2), (12, 8)).copy()


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("little_endian", [True, False], ids=["little", "big"])
def test_reader_byte_order_and_storage_views(tmp_path, legacy, little_endian):
  path = tmp_path / "handmade.pth"
  expected = _handmade_checkpoint(path, legacy=legacy, little_endian=little_endian)
  np.testing.assert_array_equal(torch_io.load(path)["w"], expected)


class _RunsCode:

  def __init__(self, func, arg):
    self.func, self.arg = func, arg

  def __reduce__(self):
    return self.func, (self.arg,)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("kind", ["system", "exec"])
def test_malicious_pickle_refused_without_running(tmp_path, small_state_dict, legacy, kind):
  marker = tmp_path / "pwned"
  func, arg = {"system": (os.system, f"touch {marker}"),
               "exec": (exec, f"open({str(marker)!r}, 'w').close()")}[kind]
  path = _save({"model": small_state_dict, "payload": _RunsCode(func, arg)}, tmp_path / "x.pth",
               legacy)
  with pytest.raises(convert.UnsafeCheckpointError) as info:
    convert.from_torch(path, SMALL)
  name = f"{func.__module__}.{func.__name__}"  # posix.system / builtins.exec
  assert info.value.global_name == name
  assert name in str(info.value) and str(path) in str(info.value)
  assert not marker.exists()


def test_whole_pickled_module_refused(tmp_path):
  path = _save(torch.nn.Linear(2, 3), tmp_path / "module.pth")
  with pytest.raises(convert.UnsafeCheckpointError, match="torch.nn.modules.linear.Linear"):
    torch_io.load(path)


def test_corrupt_files_give_clear_errors(tmp_path, small_state_dict):
  for legacy in (False, True):
    good = _save(small_state_dict, tmp_path / f"good{legacy}.pth", legacy)
    data = open(good, "rb").read()
    for cut in (len(data) // 2, len(data) - 100, 60):
      bad = tmp_path / f"cut{legacy}{cut}.pth"
      bad.write_bytes(data[:cut])
      with pytest.raises(convert.CheckpointFormatError, match=re.escape(str(bad))):
        convert.from_torch(bad, SMALL)
  garbage = tmp_path / "garbage.pth"
  garbage.write_bytes(b"not a checkpoint at all")
  with pytest.raises(convert.CheckpointFormatError, match="not a torch.save file"):
    torch_io.load(garbage)
  empty = tmp_path / "empty.pth"
  empty.write_bytes(b"")
  with pytest.raises(convert.CheckpointFormatError, match="empty file"):
    torch_io.load(empty)
  broken = tmp_path / "broken.safetensors"
  broken.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
  with pytest.raises(convert.CheckpointFormatError, match="broken.safetensors"):
    convert.from_torch(broken, SMALL)
  with pytest.raises(FileNotFoundError):
    convert.from_torch(tmp_path / "missing.pth", SMALL)


# ----------------------------------------------------------------------------- real models
@pytest.mark.parametrize("name", REAL_MODELS)
def test_zip_and_legacy_files_reproduce_torch_logits(tmp_path, name):
  model = _torch_model(name)
  checkpoint = {"model": model.state_dict(), "epoch": 240, "accuracy": torch.tensor(79.4)}
  zip_vars = convert.from_torch(_save(checkpoint, tmp_path / "zip.pth"), name)
  legacy_vars = convert.from_torch(_save(checkpoint, tmp_path / "legacy.pth", True), name)
  _assert_same_tree(zip_vars, legacy_vars)
  assert convert.param_count(zip_vars) == sum(p.numel() for p in model.parameters())
  module = models.create(name, num_classes=100)
  images = _images(name)
  _assert_close_logits(_jax_logits(module, zip_vars, images), _torch_logits(model, images))


def test_fp16_checkpoint(tmp_path, small_state_dict):
  half = {k: v.half() if v.is_floating_point() else v for k, v in small_state_dict.items()}
  variables = convert.from_torch(_save(half, tmp_path / "half.pth"), SMALL)
  rounded = {k: v.float() if v.is_floating_point() else v for k, v in half.items()}
  _assert_same_tree(variables, convert.state_dict_to_variables(rounded))
  model = _torch_model(SMALL)
  fp16_model = torch_models.build(SMALL, 100).eval()
  fp16_model.load_state_dict(rounded)
  images = _images(SMALL)
  _assert_close_logits(_jax_logits(models.create(SMALL, num_classes=100), variables, images),
                       _torch_logits(fp16_model, images))
  assert not np.allclose(_torch_logits(fp16_model, images), _torch_logits(model, images),
                         rtol=0, atol=1e-7)  # The fp16 rounding is really in the weights.


def test_wrapped_prefixed_safetensors_and_in_memory_sources(tmp_path, small_state_dict,
                                                           small_variables):
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  prefixed = collections.OrderedDict((f"module.{k}", v) for k, v in small_state_dict.items())
  optimizer = torch.optim.SGD(_torch_model(SMALL).parameters(), lr=0.05, momentum=0.9)
  sources = {
      "wrapped": _save({"model": small_state_dict, "opt": argparse.Namespace(lr=0.05),
                        "optimizer": optimizer.state_dict(), "epoch": 240},
                       tmp_path / "wrapped.pth"),
      "state_dict+module.": _save({"state_dict": prefixed, "best_acc": 79.42},
                                  tmp_path / "prefixed.pth.tar", legacy=True),
      "safetensors": str(tmp_path / "weights.safetensors"),
      "numpy mapping": {k: v.numpy() for k, v in small_state_dict.items()},
  }
  save_file({k: v.numpy() for k, v in small_state_dict.items()}, sources["safetensors"])
  for label, source in sources.items():
    variables = convert.from_torch(source, SMALL)
    assert set(variables) == {"params", "batch_stats"}, label
    _assert_same_tree(variables, small_variables)


def test_a_cls_kd_distiller_checkpoint_gives_its_student(tmp_path, small_state_dict,
                                                        small_variables):
  """yzd-v/cls_KD saves its ``ClassificationDistiller`` (``mmcls/models/classifiers/
  distiller.py``: ``self.teacher``, ``self.student``, ``self.distill_losses``) as an mmengine
  checkpoint ``{'meta', 'state_dict', 'optimizer', ...}``; its ``pth_transfer.py`` keeps the
  ``student.`` entries without the prefix. The file converts (and loads as a teacher, the
  conversion command's path) to the student's variables."""
  teacher = _torch_model("resnet32x4").state_dict()
  state_dict = collections.OrderedDict(
      [(f"teacher.{k}", v) for k, v in teacher.items()]
      + [(f"student.{k}", v) for k, v in small_state_dict.items()]
      + [("distill_losses.loss_vitkd.mask_token", torch.zeros(1, 1, 256)),
         ("distill_losses.loss_vitkd.align.weight", torch.ones(256, 64))])
  optimizer = torch.optim.AdamW(_torch_model(SMALL).parameters(), lr=1e-3)
  path = _save({"meta": {"epoch": 300}, "state_dict": state_dict,
                "optimizer": optimizer.state_dict()}, tmp_path / "epoch_300.pth")
  _assert_same_tree(convert.from_torch(path, SMALL), small_variables)
  module, variables = convert.load_teacher(path, SMALL)
  assert module.num_classes == 100
  _assert_same_tree(variables, small_variables)
  # A state dict with other keys beside student.* is not a distiller's: it is not unwrapped.
  mixed = {**{f"student.{k}": v for k, v in small_state_dict.items()}, "fc.bias": torch.zeros(100)}
  with pytest.raises(convert.CheckpointMismatchError, match="unexpected keys"):
    convert.from_torch(mixed, SMALL)


def test_small_model_logits_and_inferred_num_classes(small_variables):
  images = _images(SMALL)
  _assert_close_logits(
      _jax_logits(models.create(SMALL, num_classes=100), small_variables, images),
      _torch_logits(_torch_model(SMALL), images))
  ten = convert.from_torch(torch_models.build(SMALL, 10).state_dict(), SMALL)
  assert ten["params"]["fc"]["kernel"].shape == (256, 10)


def test_mismatch_lists_missing_unexpected_and_misshaped_keys(small_state_dict):
  broken = dict(small_state_dict)
  del broken["layer1.0.bn2.running_var"]
  broken["layer9.conv.weight"] = torch.zeros(3, 3, 1, 1)
  broken["layer2.0.conv1.weight"] = torch.zeros(128, 64, 1, 1)
  with pytest.raises(convert.CheckpointMismatchError) as info:
    convert.from_torch(broken, SMALL)
  message = str(info.value)
  assert "1 missing keys:\n    layer1.0.bn2.running_var" in message
  assert "1 unexpected keys:\n    layer9.conv.weight" in message
  assert "layer2.0.conv1.weight: expected (128, 64, 3, 3), found (128, 64, 1, 1)" in message
  assert "Fix: check that 'resnet8x4' is the architecture" in message


def test_mismatch_wrong_model_and_wrong_num_classes(small_state_dict):
  with pytest.raises(convert.CheckpointMismatchError,
                     match="120 missing keys:\n    layer1.1.bn1.bias"):
    convert.from_torch(small_state_dict, "resnet32x4")
  with pytest.raises(convert.CheckpointMismatchError) as info:
    convert.from_torch(small_state_dict, SMALL, num_classes=10)
  assert "fc.weight: expected (10, 256), found (100, 256)" in str(info.value)
  assert "pass num_classes=100" in str(info.value)
  with pytest.raises(ValueError, match="unknown model"):
    convert.from_torch(small_state_dict, "resnet9000")


# ----------------------------------------------------------------------------- teachers + command
def test_save_and_load_teacher(tmp_path, small_variables):
  out = tmp_path / "teacher"
  metadata = convert.save_teacher(out, SMALL, 100, small_variables, source="memory")
  on_disk = json.loads((out / convert.METADATA_FILE).read_text())
  assert on_disk == metadata
  assert metadata["param_count"] == sum(p.numel() for p in _torch_model(SMALL).parameters())
  module, variables = convert.load_teacher(out)
  _assert_same_tree(jax.tree.map(np.asarray, variables), small_variables)
  images = _images(SMALL)
  _assert_close_logits(_jax_logits(module, variables, images),
                       _torch_logits(_torch_model(SMALL), images))
  checksum_logits = _torch_logits(_torch_model(SMALL), convert.checksum_images((32, 32, 3)))
  np.testing.assert_allclose(metadata["logits_checksum"]["sum"], checksum_logits.sum(), rtol=1e-4)
  assert convert.logits_checksum(module, variables, (32, 32, 3)) == metadata["logits_checksum"]
  with pytest.raises(FileExistsError, match="overwrite"):
    convert.save_teacher(out, SMALL, 100, small_variables)
  with pytest.raises(ValueError, match="model='resnet8x4'"):
    convert.load_teacher(out, "resnet32x4")
  (tmp_path / "some.pth").write_bytes(b"")
  with pytest.raises(ValueError, match="model_name is required"):
    convert.load_teacher(tmp_path / "some.pth")
  with pytest.raises(FileNotFoundError, match="no teacher checkpoint"):
    convert.load_teacher(tmp_path / "missing", SMALL)
  with pytest.raises(FileNotFoundError, match="not a converted teacher"):
    convert.load_teacher(tmp_path)
  wrong = jax.tree.map(lambda x: x, small_variables)
  wrong["params"]["fc"]["kernel"] = np.zeros((256, 10), np.float32)
  with pytest.raises(convert.CheckpointMismatchError, match="params/fc/kernel"):
    convert.save_teacher(out, SMALL, 100, wrong, overwrite=True)


def _run_command(tmp_path, *args: str) -> subprocess.CompletedProcess:
  """Runs the command in a fresh interpreter in which ``import torch`` fails."""
  blocker = tmp_path / "no_torch" / "torch"
  blocker.mkdir(parents=True, exist_ok=True)
  (blocker / "__init__.py").write_text("raise ImportError('torch is blocked in this test')\n")
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(blocker.parent), REPO_ROOT]),
             JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "-m", "experiments.convert_teacher", *args],
                        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
                        check=False)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip-wrapped", "legacy-bare"])
def test_command_end_to_end_without_torch(tmp_path, small_state_dict, legacy):
  model = _torch_model(SMALL)
  obj = small_state_dict if legacy else {"model": small_state_dict, "epoch": 240}
  checkpoint = _save(obj, tmp_path / "ckpt_epoch_240.pth", legacy)
  out = tmp_path / "teacher"
  out.mkdir()
  (out / "stale.txt").write_text("x")
  args = ["--model", SMALL, "--checkpoint", checkpoint, "--out", str(out)]
  if not legacy:  # A non-empty directory is refused, cleanly, before converting anything.
    refused = _run_command(tmp_path, *args)
    assert refused.returncode == 2  # a user error: one line, exit 2 (experiments.cli)
    error, hint = refused.stderr.strip().splitlines()[-2:]
    assert error.startswith("experiments.convert_teacher: error: ") and hint == "(--debug shows the traceback)"
    assert "--overwrite" in refused.stderr and "Traceback" not in refused.stderr
  result = _run_command(tmp_path, *args, "--overwrite")
  assert result.returncode == 0, result.stderr[-3000:]
  metadata = json.loads((out / convert.METADATA_FILE).read_text())
  assert metadata["model"] == SMALL and metadata["num_classes"] == 100
  assert metadata["source"] == checkpoint
  assert "parameters: 1,233,540" in result.stdout and metadata["param_count"] == 1233540
  assert metadata["logits_checksum"]["sha256"] in result.stdout
  assert " s (read+convert " in result.stdout
  module, variables = convert.load_teacher(out, SMALL)
  images = _images(SMALL)
  _assert_close_logits(_jax_logits(module, variables, images), _torch_logits(model, images))
