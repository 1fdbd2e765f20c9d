"""Reads PyTorch checkpoint files without PyTorch and without running pickled code.

Two on-disk formats of ``torch.save`` are understood:

* the zip format (torch >= 1.6): ``<root>/data.pkl`` holds the pickled object, whose tensors point
  (through pickle persistent ids) at raw storages ``<root>/data/<key>``; ``<root>/byteorder`` says
  ``little`` or ``big`` (absent: little);
* the legacy format (``_use_new_zipfile_serialization=False``, and every file of torch < 1.6): a
  pickled magic number, protocol version and ``sys_info`` dict, the pickled object, the pickled list
  of storage keys, then for each key an 8-byte element count followed by the storage's raw bytes.

Every pickle is read by `_SafeUnpickler`, whose ``find_class`` resolves only the globals that
tensors and state dicts need (plus ``argparse.Namespace`` and numpy scalars, which training scripts
store next to the weights and which carry data only); any other global raises
`UnsafeCheckpointError` before anything is called. Tensors come back as numpy arrays:
floating-point ones as float32 (from fp16, bf16, fp32 or fp64 storages), integer and boolean ones
in their own dtype.
"""

from __future__ import annotations

import _compat_pickle
import argparse
import builtins
import collections
import dataclasses
import os
import pickle
import struct
import tarfile
import zipfile
import zlib
from typing import Any, BinaryIO, Callable

import numpy as np

try:  # numpy >= 2
  from numpy._core.multiarray import _reconstruct as _np_reconstruct
  from numpy._core.multiarray import scalar as _np_scalar
except ImportError:  # numpy 1.x
  from numpy.core.multiarray import _reconstruct as _np_reconstruct
  from numpy.core.multiarray import scalar as _np_scalar

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_BFLOAT16 = "bfloat16"  # numpy has no bfloat16: read as uint16, widened to float32.

# torch storage class -> element dtype of its raw bytes.
_STORAGE_DTYPES: dict[str, Any] = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": _BFLOAT16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class CheckpointError(ValueError):
  """Base class of the errors raised for a checkpoint that cannot be used."""


class CheckpointFormatError(CheckpointError):
  """A checkpoint file that is corrupt, truncated or in an unsupported format."""


class UnsafeCheckpointError(CheckpointError):
  """A pickle that names a global outside the allowlist (it could run code when loaded).

  Attributes:
    global_name: the refused global, ``module.name``.
  """

  def __init__(self, path: str, global_name: str):
    self.global_name = global_name
    super().__init__(
        f"{path}: refused to load the global {global_name!r}: a checkpoint may only hold tensors, "
        "containers and plain data (the safe reader never runs pickled code). If this file is a "
        "whole pickled model or holds custom objects, load it in PyTorch from a source you trust "
        "and re-save `model.state_dict()`.")


@dataclasses.dataclass(frozen=True)
class _StorageType:
  name: str

  @property
  def dtype(self) -> Any:
    return _STORAGE_DTYPES[self.name]

  @property
  def itemsize(self) -> int:
    return 2 if self.dtype == _BFLOAT16 else np.dtype(self.dtype).itemsize


@dataclasses.dataclass(frozen=True)
class _StorageRef:
  """``numel`` elements of storage ``key`` starting at element ``offset`` (legacy views)."""
  key: str
  kind: _StorageType
  offset: int
  numel: int


@dataclasses.dataclass(frozen=True)
class _TensorRef:
  """A tensor to materialise once the storage bytes are at hand."""
  storage: _StorageRef
  offset: int
  size: tuple[int, ...]
  stride: tuple[int, ...]


def _is_int_tuple(value: Any) -> bool:
  return isinstance(value, (tuple, list)) and all(isinstance(v, int) for v in value)


def _rebuild_tensor(storage, storage_offset, size, stride):
  if not (isinstance(storage, _StorageRef) and isinstance(storage_offset, int)
          and _is_int_tuple(size) and _is_int_tuple(stride) and len(size) == len(stride)):
    raise CheckpointFormatError("malformed tensor record (storage, offset, size, stride)")
  return _TensorRef(storage, storage_offset, tuple(size), tuple(stride))


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                       metadata=None):
  del requires_grad, backward_hooks
  if metadata:
    raise CheckpointFormatError(
        f"tensors with metadata {metadata!r} (conj/neg views) are unsupported")
  return _rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad, backward_hooks):
  del requires_grad, backward_hooks
  return data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
  del requires_grad, backward_hooks, state
  return data


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
  """How protocol-2 pickles spell a ``bytes`` object; any other codec is refused."""
  if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
    raise CheckpointFormatError(f"refused _codecs.encode with encoding {encoding!r}")
  return text.encode("latin1")


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("torch", "Size"): tuple,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): _latin1_encode,
    ("argparse", "Namespace"): argparse.Namespace,  # RepDistiller's 'opt': attributes only.
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
}
for _name in ("set", "frozenset", "slice", "complex", "bytearray"):
  _ALLOWED_GLOBALS[("builtins", _name)] = getattr(builtins, _name)
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
  _ALLOWED_GLOBALS[(_module, "scalar")] = _np_scalar
  _ALLOWED_GLOBALS[(_module, "_reconstruct")] = _np_reconstruct
for _name in _STORAGE_DTYPES:
  _ALLOWED_GLOBALS[("torch", _name)] = _StorageType(_name)


class _SafeUnpickler(pickle.Unpickler):
  """Resolves only `_ALLOWED_GLOBALS`; records storage references instead of reading them."""

  def __init__(self, file: BinaryIO, path: str, storages: dict[str, tuple[_StorageType, int]]):
    super().__init__(file, encoding="utf-8")
    self._path = path
    self._storages = storages

  def find_class(self, module: str, name: str) -> Any:
    # Protocol-2 pickles spell Python 3 names the Python 2 way (__builtin__.set): translate first.
    if (module, name) in _compat_pickle.NAME_MAPPING:
      module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    try:
      return _ALLOWED_GLOBALS[(module, name)]
    except KeyError:
      raise UnsafeCheckpointError(self._path, f"{module}.{name}") from None

  def persistent_load(self, pid: Any) -> _StorageRef:
    if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
            and isinstance(pid[1], _StorageType) and isinstance(pid[4], int)):
      raise CheckpointFormatError(f"{self._path}: unsupported persistent id {pid!r}")
    kind, key, numel = pid[1], str(pid[2]), pid[4]
    known = self._storages.setdefault(key, (kind, numel))
    if known != (kind, numel):
      raise CheckpointFormatError(f"{self._path}: storage {key} is declared twice, differently")
    view = pid[5] if len(pid) == 6 else None
    if view is None:
      return _StorageRef(key, kind, 0, numel)
    _, offset, view_numel = view  # Legacy views: (view key, element offset, element count).
    if offset < 0 or offset + view_numel > numel:
      raise CheckpointFormatError(f"{self._path}: storage view out of bounds")
    return _StorageRef(key, kind, offset, view_numel)


def _storage_array(data: bytes, kind: _StorageType, numel: int, little_endian: bool) -> np.ndarray:
  """Raw storage bytes -> 1-D native-endian array (bfloat16 stays uint16 until widened)."""
  if len(data) != numel * kind.itemsize:
    raise CheckpointFormatError(
        f"storage holds {len(data)} bytes, {numel} x {kind.itemsize} expected (truncated file?)")
  dtype = np.dtype(np.uint16 if kind.dtype == _BFLOAT16 else kind.dtype)
  return np.frombuffer(data, dtype.newbyteorder("<" if little_endian else ">")).astype(dtype)


def _tensor_array(ref: _TensorRef, storage: np.ndarray) -> np.ndarray:
  """Applies a tensor's offset/size/stride to its storage; floats become float32."""
  size, stride, start = ref.size, ref.stride, ref.storage.offset + ref.offset
  if min(size, default=0) < 0 or min(stride, default=0) < 0 or ref.offset < 0:
    raise CheckpointFormatError(f"tensor view with negative size/stride/offset {ref}")
  if 0 not in size:
    last = ref.offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= ref.storage.numel:
      raise CheckpointFormatError(f"tensor view {ref} reaches past its storage")
  else:
    start = 0
  array = np.lib.stride_tricks.as_strided(
      storage[start:], shape=size, strides=[s * storage.itemsize for s in stride]).copy()
  if ref.storage.kind.dtype == _BFLOAT16:
    return (array.astype(np.uint32) << 16).view(np.float32)
  if np.issubdtype(array.dtype, np.floating):
    return array.astype(np.float32)
  return array


def _materialise(obj: Any, tensor: Callable[[_TensorRef], np.ndarray], seen: set[int]) -> Any:
  """Replaces every `_TensorRef` inside containers (in place where mutable) by its array."""
  if isinstance(obj, _TensorRef):
    return tensor(obj)
  if id(obj) in seen:
    return obj
  if isinstance(obj, dict):
    seen.add(id(obj))
    for key in obj:
      obj[key] = _materialise(obj[key], tensor, seen)
  elif isinstance(obj, list):
    seen.add(id(obj))
    obj[:] = [_materialise(item, tensor, seen) for item in obj]
  elif isinstance(obj, tuple):
    return tuple(_materialise(item, tensor, seen) for item in obj)
  elif isinstance(obj, argparse.Namespace):
    seen.add(id(obj))
    for key, value in vars(obj).items():
      setattr(obj, key, _materialise(value, tensor, seen))
  return obj


def _tensor_reader(read: Callable[[str], bytes], storages: dict[str, tuple[_StorageType, int]],
                   little_endian: bool) -> Callable[[_TensorRef], np.ndarray]:
  cache: dict[str, np.ndarray] = {}

  def tensor(ref: _TensorRef) -> np.ndarray:
    key = ref.storage.key
    if key not in cache:
      kind, numel = storages[key]
      cache[key] = _storage_array(read(key), kind, numel, little_endian)
    return _tensor_array(ref, cache[key])

  return tensor


def _load_zip(path: str) -> Any:
  with zipfile.ZipFile(path) as archive:
    pickles = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == "data.pkl"]
    if not pickles:
      raise CheckpointFormatError(f"{path}: zip archive without data.pkl (not a torch.save file)")
    root = min(pickles, key=len)[: -len("data.pkl")]
    little = True
    if f"{root}byteorder" in archive.namelist():
      little = archive.read(f"{root}byteorder").strip() != b"big"
    storages: dict[str, tuple[_StorageType, int]] = {}
    with archive.open(f"{root}data.pkl") as file:
      obj = _SafeUnpickler(file, path, storages).load()
    tensor = _tensor_reader(lambda key: archive.read(f"{root}data/{key}"), storages, little)
    return _materialise(obj, tensor, set())


def _read_exactly(file: BinaryIO, count: int) -> bytes:
  remaining = os.fstat(file.fileno()).st_size - file.tell()
  if count > remaining:  # Checked first: a corrupt count must not allocate a huge buffer.
    raise CheckpointFormatError(f"unexpected end of file ({remaining} of {count} bytes left)")
  data = file.read(count)
  if len(data) != count:
    raise CheckpointFormatError(f"unexpected end of file ({len(data)} of {count} bytes)")
  return data


def _load_legacy(path: str) -> Any:
  storages: dict[str, tuple[_StorageType, int]] = {}
  with open(path, "rb") as file:
    header = [_SafeUnpickler(file, path, storages).load() for _ in range(3)]
    magic, protocol, sys_info = header
    if magic != _LEGACY_MAGIC or protocol != _LEGACY_PROTOCOL or not isinstance(sys_info, dict):
      raise CheckpointFormatError(f"{path}: not a legacy torch.save file (bad magic/protocol)")
    little = bool(sys_info.get("little_endian", True))
    obj = _SafeUnpickler(file, path, storages).load()
    keys = _SafeUnpickler(file, path, {}).load()
    if not isinstance(keys, list) or set(map(str, keys)) != set(storages):
      raise CheckpointFormatError(f"{path}: storage key list does not match the pickled tensors")
    raw: dict[str, bytes] = {}
    for key in map(str, keys):
      kind, _ = storages[key]
      (numel,) = struct.unpack("<q" if little else ">q", _read_exactly(file, 8))
      if numel != storages[key][1]:
        raise CheckpointFormatError(f"{path}: storage {key} holds {numel} elements, "
                                    f"{storages[key][1]} expected")
      raw[key] = _read_exactly(file, numel * kind.itemsize)
  return _materialise(obj, _tensor_reader(raw.__getitem__, storages, little), set())


def load(path: str | os.PathLike) -> Any:
  """Loads a ``torch.save`` file (zip or legacy format) without PyTorch, executing no pickled code.

  Args:
    path: a ``.pth``/``.pt``/``.pth.tar`` file written by ``torch.save``.

  Returns:
    The saved object with every tensor replaced by a numpy array (floating point -> float32).

  Raises:
    FileNotFoundError: ``path`` does not exist.
    UnsafeCheckpointError: the pickle names a global outside the allowlist (nothing was run).
    CheckpointFormatError: the file is corrupt, truncated or not a torch.save file.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no checkpoint file at {path}")
  with open(path, "rb") as file:
    head = file.read(4)
  try:
    if head.startswith(b"PK"):
      return _load_zip(path)
    if head[:1] == b"\x80":
      return _load_legacy(path)
  except UnsafeCheckpointError:
    raise
  except CheckpointFormatError as err:
    if str(err).startswith(path):
      raise
    raise CheckpointFormatError(f"{path}: {err}") from err
  except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError,
          AttributeError, IndexError, struct.error, zlib.error, OSError, MemoryError,
          OverflowError, RecursionError) as err:
    raise CheckpointFormatError(
        f"{path}: corrupt or truncated PyTorch checkpoint ({type(err).__name__}: {err})") from err
  if not head:
    raise CheckpointFormatError(f"{path}: empty file")
  if tarfile.is_tarfile(path):
    raise CheckpointFormatError(f"{path}: tar format of torch < 0.1.10 is unsupported; re-save it "
                                "with a recent torch")
  raise CheckpointFormatError(f"{path}: not a torch.save file (unknown header {head!r})")
