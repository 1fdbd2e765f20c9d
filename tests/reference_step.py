"""Shared harness of the step-equivalence tests: kdjax's assembled train step vs a PyTorch one.

A step-equivalence test runs kdjax's REAL compiled ``train_step`` (``kdjax.steps.build_program``
on the ``Setup`` of a real config) and a PyTorch reference step written from the reference
repository's trainer and distiller, from identical weights on identical batches, and compares
every logged term per step and the final parameters and statistics. This module is the kdjax
half and the shared torch-side tools; the reference steps themselves live in the test files.

kdjax side
----------
``kdjax_config(method, teacher, student, batch_size=, **overrides)``
    ``recipes.resolve(method, teacher, student)`` (the published settings of the cell: lr,
    milestones, momentum, weight decay, the method's hyperparameters) + ``overrides`` (dotted
    fields), with augmentation off (``augment_padding=0``, ``augment_flip=False``: the train
    view is exactly the normalised image), float32 at ``precision='highest'``, one convolution
    chunk; validated.
``FixedSource(images, labels, num_classes, mean=, std=, on_device=True)``
    A ``kdjax.data.sources.Source`` over fixed uint8 ``[N, H, W, 3]`` images. ``on_device``:
    the CIFAR path (batches are example indices, the step gathers and augments on device);
    ``on_device=False``: the ImageNet path (batches carry the host's uint8 crops, the step
    normalises them). ``cifar_source(n, seed)`` / ``imagenet_source(n, size, seed)`` make
    random ones with the datasets' normalisations.
``run_steps(config, source, batches, *, epoch, student, teacher, method_variables=None)``
    Builds (cached per ``Setup``) the program, starts from the torch ``student`` / ``teacher``
    modules' weights (``kdjax.convert.state_dict_to_variables``), optionally replaces the
    method's collections (``method_variables``: ``{'params'|'batch_stats'|'state': tree}``; each
    must have exactly the structure ``program.init`` gives), sets the optimizer's step count to
    the start of ``epoch`` (so the learning rate is the schedule's at that epoch) and passes
    ``steps.scalars_of(config, epoch)`` (DKD's warm-up, CTKD's lambda of that epoch), then runs
    one ``train_step`` per entry of ``batches`` (int arrays of example indices). Returns a
    ``StepRun``: ``terms`` (per step, the step's logged metrics: every term, ``loss``, ``top1``,
    the statistics), ``initial`` and ``final`` ``TrainState`` (numpy), the ``program``.
``step_views(run, batch, step)``
    The ``(weak, strong or None, labels)`` model inputs the step makes of a batch (the same
    ``Views.train`` call with the same per-example keys): give these to the reference when a
    view is random (MLKD's strong view), so both sides see the same pixels.

Torch side
----------
``torch_images(images, mean, std)``: uint8 NHWC -> the reference's normalised NCHW float32
(``ToTensor`` + ``Normalize``). ``reference_lr(base_lr, milestones, rate, epoch)``: mdistiller's
``adjust_learning_rate`` / RepDistiller's ``adjust_learning_rate``. ``reference_sgd(params, lr,
momentum, weight_decay)``: their ``optim.SGD`` (mdistiller over
``distiller.get_learnable_parameters()`` = student + the distiller's extra modules;
RepDistiller over ``trainable_list``; Nesterov off). ``randomize_batchnorm(module, seed)``: non-trivial
BN affine parameters and running statistics (so eval-mode BN, the running-statistic updates
and the decay of BN parameters are all visible; ``clear_of_kinks`` for compared students, see
its docstring). ``seeded(name, num_classes, seed)``: a
``tests/torch_models`` model built under a seed.

Comparison
----------
``assert_terms_within_spread(run, ref32, ref64, factor=, rtol=, atol=)`` and
``assert_student_within_spread(run, student32, student64, initial, factor=, rtol=, atol=)``:
the reference run twice, in float32 and float64; kdjax must be as close to the float64 result
as the float32 reference is, up to ``factor`` (``within_float32_spread``): a tolerance set by
the conditioning of the quantity itself, not by this machine.
``assert_terms_match(run, reference_terms, rtol=, atol=)``: per step, each reference term
against kdjax's logged term of the same name. ``assert_module_matches(flax_variables,
initial_variables, torch_module, rtol=)``: every leaf of a torch module's state dict (named by
``kdjax.convert``'s rule) against kdjax's, and the UPDATE of every parameter
(final - initial) against torch's, per leaf, in norm: ``|d_kdjax - d_torch| <= rtol |d_torch|
+ atol``. Comparing the update is what makes the check sharp: the final parameters are
dominated by the shared initial values.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import torch

from kdjax import config as config_lib
from kdjax import convert
from kdjax import metrics as metrics_lib
from kdjax import parallel
from kdjax import steps as steps_lib
from kdjax.data import batching
from kdjax.data import cifar
from kdjax.data import imagenet
from kdjax.data import sources
from tests import torch_models

CIFAR_MEAN, CIFAR_STD = cifar.CIFAR100_MEAN, cifar.CIFAR100_STD
IMAGENET_MEAN, IMAGENET_STD = imagenet.IMAGENET_MEAN, imagenet.IMAGENET_STD
# The optimizer's step count is set to (epoch - 1) * STEPS_PER_EPOCH: one value for every
# test, so that runs of one Setup share their compilation; any count above the steps run works.
STEPS_PER_EPOCH = 100


@functools.lru_cache(maxsize=1)
def mesh() -> jax.sharding.Mesh:
  """One mesh object for every test (it is part of the Setup, the compilation cache key)."""
  return parallel.create_mesh()


# ----------------------------------------------------------------------------- kdjax side
def kdjax_config(method: str, teacher: str, student: str, *, batch_size: int,
                 recipe: str | None = None, **overrides: Any) -> ml_collections.ConfigDict:
  """The resolved config of a published cell, augmentation off, float32 at 'highest'."""
  from kdjax import recipes  # pylint: disable=import-outside-toplevel
  config = recipes.resolve(method, teacher, student, recipe=recipe).config
  config.update_from_flattened_dict(dict(
      batch_size=batch_size, augment_padding=0, augment_flip=False, compute_dtype='float32',
      precision='highest', conv_batch_chunks=1, **overrides))
  config.method = None  # re-derived from the switches by validate
  return config_lib.validate(config)


class FixedSource(sources.Source):
  """Fixed uint8 images as a run's data (``Setup.create`` reads its shapes and views)."""

  def __init__(self, images: np.ndarray, labels: np.ndarray, num_classes: int, *,
               mean: Sequence[float], std: Sequence[float], on_device: bool = True):
    self.images = np.asarray(images, np.uint8)
    self.labels = np.asarray(labels, np.int32)
    self.name = 'fixed'
    self.num_classes = num_classes
    self.image_shape = tuple(self.images.shape[1:])
    self.mean, self.std = tuple(mean), tuple(std)
    self.num_train = self.num_test = len(self.images)
    self.on_device = on_device

  def train_labels(self) -> np.ndarray:
    return self.labels

  def device_arrays(self, split: str, mesh_: jax.sharding.Mesh) -> dict[str, jax.Array]:
    del split
    if not self.on_device:
      return {}
    images, labels = parallel.put_replicated((self.images, self.labels), mesh_)
    return {'images': images, 'labels': labels}

  def batch(self, indices: np.ndarray) -> dict[str, np.ndarray]:
    """The step's batch of these examples: indices (on device), or the host crops."""
    indices = np.asarray(indices, np.int32)
    if self.on_device:
      return {'index': indices}
    return {'index': indices, 'image': self.images[indices], 'label': self.labels[indices]}


def cifar_source(num_examples: int, seed: int, *, num_classes: int = 100,
                 size: int = 32) -> FixedSource:
  """Random CIFAR-shaped images and labels with CIFAR-100's normalisation."""
  rng = np.random.default_rng(seed)
  images = rng.integers(0, 256, (num_examples, size, size, 3), dtype=np.uint8)
  labels = rng.integers(0, num_classes, (num_examples,)).astype(np.int32)
  return FixedSource(images, labels, num_classes, mean=CIFAR_MEAN, std=CIFAR_STD)


def imagenet_source(num_examples: int, size: int, seed: int, *,
                    num_classes: int = 1000) -> FixedSource:
  """Random crops of side ``size`` as the ImageNet host pipeline hands them to the step."""
  rng = np.random.default_rng(seed)
  images = rng.integers(0, 256, (num_examples, size, size, 3), dtype=np.uint8)
  labels = rng.integers(0, num_classes, (num_examples,)).astype(np.int32)
  return FixedSource(images, labels, num_classes, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                     on_device=False)


def program_for(config: ml_collections.ConfigDict, source: FixedSource) -> steps_lib.Program:
  """``build_program`` of the config's Setup (cached: equal Setups share the compilation)."""
  setup = steps_lib.Setup.create(config, source, steps_per_epoch=STEPS_PER_EPOCH, mesh=mesh())
  return steps_lib.build_program(setup)


def torch_variables(module: torch.nn.Module) -> dict[str, Any]:
  """``{'params', 'batch_stats'}`` of a torch module by ``kdjax.convert``'s naming rule."""
  return convert.state_dict_to_variables(module.state_dict())


def _with_counts(tree: Any, count: int) -> Any:
  """``tree`` with every optax ``count`` leaf set to ``count`` (the schedule's position)."""
  def set_count(path, leaf):
    name = getattr(path[-1], 'name', None) if path else None
    return jnp.full_like(leaf, count) if name == 'count' else leaf
  return jax.tree_util.tree_map_with_path(set_count, tree)


def _replace_checked(current: Any, new: Any, what: str) -> Any:
  """``new`` as float32 arrays, after checking it has exactly ``current``'s structure and shapes."""
  new = jax.tree.map(lambda x: jnp.asarray(np.asarray(x), jnp.asarray(x).dtype), new)
  if jax.tree.structure(current) != jax.tree.structure(new):
    raise ValueError(f'{what}: structure {jax.tree.structure(new)} differs from kdjax\'s '
                     f'{jax.tree.structure(current)}')
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(current), jax.tree.leaves(new)):
    if a.shape != b.shape:
      raise ValueError(f'{what}{jax.tree_util.keystr(path)}: shape {b.shape}, kdjax has '
                       f'{a.shape}')
  return jax.tree.map(lambda a, b: b.astype(a.dtype), current, new)


@dataclasses.dataclass
class StepRun:
  """What ``run_steps`` returns.

  Attributes:
    config, source, program: the run's config, data and compiled program.
    epoch: the epoch the steps ran in.
    batches: the steps' example indices.
    terms: per step, ``{metric name: value}`` the step logged (its batch means).
    initial, final: the ``TrainState`` before the first and after the last step (numpy).
  """
  config: ml_collections.ConfigDict
  source: FixedSource
  program: steps_lib.Program
  epoch: int
  batches: list[np.ndarray]
  terms: list[dict[str, float]]
  initial: steps_lib.TrainState
  final: steps_lib.TrainState


def initial_state(program: steps_lib.Program, source: FixedSource, *, epoch: int,
                  student: torch.nn.Module, method_variables: Mapping[str, Any] | None = None
                  ) -> steps_lib.TrainState:
  """``program.init``'s state with the torch student's weights, the given method collections,
  a fresh optimizer state (momentum buffers zero, as torch's empty ones) at ``epoch``'s start."""
  needs = program.distillation.needs
  state = program.init(np.uint32(0), **({'dataset_labels': source.train_labels()}
                                         if needs.dataset_labels else {}))
  state = jax.device_get(state)
  student_vars = torch_variables(student)
  params = {'student': _replace_checked(state.params['student'], student_vars['params'],
                                        'student params'),
            'method': state.params['method']}
  batch_stats = {'student': _replace_checked(state.batch_stats['student'],
                                             student_vars['batch_stats'], 'student batch_stats'),
                 'method': state.batch_stats['method']}
  method_state = state.method_state
  method_variables = dict(method_variables or {})
  unknown = set(method_variables) - {'params', 'batch_stats', 'state'}
  if unknown:
    raise ValueError(f'method_variables: unknown collections {sorted(unknown)}')
  if 'params' in method_variables:
    params['method'] = _replace_checked(params['method'], method_variables['params'],
                                        'method params')
  if 'batch_stats' in method_variables:
    batch_stats['method'] = _replace_checked(batch_stats['method'],
                                             method_variables['batch_stats'],
                                             'method batch_stats')
  if 'state' in method_variables:
    method_state = _replace_checked(method_state, method_variables['state'], 'method state')
  start = (epoch - 1) * STEPS_PER_EPOCH
  opt_state = _with_counts(program.setup.optimizer().init(params), start)
  return steps_lib.TrainState(step=jnp.int32(start), params=params, batch_stats=batch_stats,
                              method_state=method_state, opt_state=opt_state)


def _step_metrics(acc: Mapping[str, Any]) -> dict[str, float]:
  """One step's logged values from its own accumulator (means divided back by the count)."""
  acc = jax.device_get(acc)
  count = float(acc[metrics_lib.COUNT])
  return {name: float(value) / count if metrics_lib.reduction(name) == 'mean' else float(value)
          for name, value in acc.items() if name != metrics_lib.COUNT}


def run_steps(config: ml_collections.ConfigDict, source: FixedSource,
              batches: Sequence[np.ndarray], *, epoch: int, student: torch.nn.Module,
              teacher: torch.nn.Module | None,
              method_variables: Mapping[str, Any] | None = None) -> StepRun:
  """Runs kdjax's train step once per batch of ``batches`` at ``epoch`` (see the module doc)."""
  if len(batches) > STEPS_PER_EPOCH:
    raise ValueError(f'at most {STEPS_PER_EPOCH} steps stay inside one epoch')
  program = program_for(config, source)
  state = initial_state(program, source, epoch=epoch, student=student,
                        method_variables=method_variables)
  initial = jax.device_get(state)
  teacher_vars = None
  if program.distillation.needs.teacher:
    teacher_vars = parallel.put_replicated(torch_variables(teacher), mesh())
  arrays = source.device_arrays('train', mesh())
  scalars = steps_lib.scalars_of(config, epoch)
  state = parallel.put_replicated(state, mesh())
  terms = []
  for step, indices in enumerate(batches):
    acc = parallel.put_replicated(metrics_lib.empty_accumulator(program.metric_names), mesh())
    batch = {k: parallel.local_to_global(v, mesh()) for k, v in source.batch(indices).items()}
    state, acc = program.train_step(state, acc, teacher_vars, arrays, batch,
                                    dict(scalars, step=np.uint32(step)))
    terms.append(_step_metrics(acc))
  return StepRun(config=config, source=source, program=program, epoch=epoch,
                 batches=[np.asarray(b) for b in batches], terms=terms, initial=initial,
                 final=jax.device_get(state))


def step_views(run: StepRun, step: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
  """``(weak, strong or None, labels)``: the model inputs (NHWC) ``run``'s step ``step`` made."""
  indices = run.batches[step]
  batch = {k: jnp.asarray(v) for k, v in run.source.batch(indices).items()}
  keys = batching.example_keys(run.config.seed, run.epoch, step, len(indices))
  arrays = {k: jnp.asarray(v) for k, v in
            {'images': run.source.images, 'labels': run.source.labels}.items()}
  weak, strong, labels = run.program.setup.views.train(arrays, batch, keys, jnp.float32)
  return (np.asarray(weak), None if strong is None else np.asarray(strong), np.asarray(labels))


# ----------------------------------------------------------------------------- torch side
def seeded(name: str, num_classes: int, seed: int) -> torch.nn.Module:
  """``tests/torch_models.build(name)`` with its reference initialisation under ``seed``."""
  torch.manual_seed(seed)
  return torch_models.build(name, num_classes)


def randomize_batchnorm(module: torch.nn.Module, seed: int, *,
                        clear_of_kinks: bool = False) -> torch.nn.Module:
  """Random BN scales (0.5-1.5), shifts, running means and variances (0.5-2), in place.

  ``clear_of_kinks``: scales 0.1-0.3 and shifts of 4-5 scales (activations of order 1), so that in train mode every BN output (which
  feeds a ReLU, directly or through a residual sum of non-negative terms) is
  ``scale * (xhat + 4..5)`` with ``xhat`` the batch-normalised input. Why: two float32
  implementations round a pre-activation differently by ~1e-6; a unit that close to 0 may
  sit on either side of the ReLU on the two sides, and one such flipped unit moves the
  gradient of every layer below it by its share (0.5-4% of a BN shift's update, measured on
  a centred ResNet8). A centred ResNet8 at batch 8 has ~0.5 such units per forward pass; with
  the shifts the density of ReLU inputs at 0 drops from 0.4 to < 1.4e-4 per scale unit
  (N(4, 1) at 0), and a BN over n values per channel has ``xhat >= -sqrt(n - 1)``, so a
  channel of n <= 17 values (a ResNet18's last stages on small images) cannot reach the kink
  at all. Use it for the networks whose gradients are compared (students, connectors).
  """
  generator = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for m in module.modules():
      if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):  # pylint: disable=protected-access
        n = m.num_features
        if clear_of_kinks:  # small scales: activations of order 1 despite the shifts
          m.weight.copy_(0.1 + 0.2 * torch.rand(n, generator=generator))
          m.bias.copy_((4.0 + torch.rand(n, generator=generator)) * m.weight)
        else:
          m.weight.copy_(0.5 + torch.rand(n, generator=generator))
          m.bias.copy_(0.2 * torch.randn(n, generator=generator))
        m.running_mean.copy_(0.2 * torch.randn(n, generator=generator))
        m.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=generator))
  return module


def torch_images(images: np.ndarray, mean: Sequence[float], std: Sequence[float]
                 ) -> torch.Tensor:
  """uint8 NHWC -> ``Normalize(mean, std)(ToTensor()(x))``: float32 NCHW."""
  x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(255.0)
  mean = torch.tensor(mean, dtype=torch.float32)[:, None, None]
  std = torch.tensor(std, dtype=torch.float32)[:, None, None]
  return (x - mean) / std


def nhwc_to_torch(x: np.ndarray) -> torch.Tensor:
  """Normalised NHWC model inputs (``step_views``) as a torch NCHW tensor."""
  return torch.from_numpy(np.ascontiguousarray(np.asarray(x, np.float32).transpose(0, 3, 1, 2)))


def reference_lr(base_lr: float, milestones: Sequence[int], rate: float, epoch: int) -> float:
  """The lr of an epoch (from 1) in mdistiller's / RepDistiller's ``adjust_learning_rate``:
  ``base * rate ** #{m : epoch > m}``."""
  return base_lr * rate ** int(np.sum(epoch > np.asarray(milestones)))


def reference_sgd(params: Sequence[torch.nn.Parameter], *, lr: float, momentum: float,
                  weight_decay: float) -> torch.optim.SGD:
  """The reference optimizer: ``optim.SGD(params, lr, momentum, weight_decay)``, no Nesterov."""
  return torch.optim.SGD(list(params), lr=lr, momentum=momentum, weight_decay=weight_decay,
                         nesterov=False)


def config_sgd(config: ml_collections.ConfigDict, params: Sequence[torch.nn.Parameter],
               epoch: int) -> torch.optim.SGD:
  """``reference_sgd`` with the config's (published) settings at ``epoch``.

  The values are read from the config, so the reference settings themselves are checked by
  the recipes' tests; what this harness checks is that kdjax's step uses them as the reference
  optimizer does."""
  lr = reference_lr(config_lib.resolved_lr(config), config.lr_decay_epochs,
                    config.lr_decay_rate, epoch)
  return reference_sgd(params, lr=lr, momentum=config.momentum,
                       weight_decay=config.weight_decay)


# ----------------------------------------------------------------------------- comparison
def assert_terms_match(run: StepRun, reference: Sequence[Mapping[str, float]], *,
                       rtol: float | Sequence[float], atol: float = 0.0) -> None:
  """Every reference term of every step equals kdjax's logged value of that name.

  ``rtol``: one value, or one per step (the first step, from identical weights, is tighter)."""
  assert len(reference) == len(run.terms), (len(reference), len(run.terms))
  rtols = [rtol] * len(reference) if np.isscalar(rtol) else list(rtol)
  for step, (ours, theirs) in enumerate(zip(run.terms, reference)):
    for name, value in theirs.items():
      assert name in ours, f'kdjax logs no {name!r} (it logs {sorted(ours)})'
      np.testing.assert_allclose(ours[name], float(value), rtol=rtols[step], atol=atol,
                                 err_msg=f'step {step} term {name}')


def _flat(variables: Mapping[str, Any]) -> dict[str, np.ndarray]:
  """``{'params', 'batch_stats'}`` trees -> {'collection/a/b/leaf': array}."""
  out = {}
  for collection in ('params', 'batch_stats'):
    for path, leaf in jax.tree_util.tree_leaves_with_path(dict(variables.get(collection, {}))):
      out[collection + jax.tree_util.keystr(path)] = np.asarray(leaf, np.float64)
  return out


def assert_close_updates(ours: np.ndarray, ours_initial: np.ndarray, theirs: np.ndarray,
                         theirs_initial: np.ndarray, *, rtol: float, atol: float,
                         name: str) -> None:
  """Same initial value, and the updates agree in norm: ``|d - d_ref| <= rtol |d_ref| + atol``."""
  np.testing.assert_allclose(ours_initial, theirs_initial, rtol=1e-6, atol=1e-7,
                             err_msg=f'{name}: initial values differ')
  d_ours, d_theirs = ours - ours_initial, theirs - theirs_initial
  err = float(np.linalg.norm(d_ours - d_theirs))
  scale = float(np.linalg.norm(d_theirs))
  assert err <= rtol * scale + atol, (
      f'{name}: update differs by {err:.3g} (|reference update| {scale:.3g}, '
      f'allowed {rtol:g} * {scale:.3g} + {atol:g})')


def assert_variables_match(final: Mapping[str, Any], initial: Mapping[str, Any],
                           torch_final: Mapping[str, Any], torch_initial: Mapping[str, Any], *,
                           rtol: float, atol: float = 1e-7, stats_rtol: float | None = None,
                           what: str = '') -> None:
  """Every leaf of the torch ``{'params', 'batch_stats'}`` (``torch_variables``) against
  kdjax's: same set of leaves, same initial value, same update (``assert_close_updates``;
  ``stats_rtol``, default ``rtol``, for the BatchNorm statistics)."""
  ours, ours0 = _flat(final), _flat(initial)
  theirs, theirs0 = _flat(torch_final), _flat(torch_initial)
  assert sorted(ours) == sorted(theirs), (
      f'{what}: leaves differ: kdjax only {sorted(set(ours) - set(theirs))}, '
      f'torch only {sorted(set(theirs) - set(ours))}')
  for name in theirs:
    tol = stats_rtol if (stats_rtol is not None and name.startswith('batch_stats')) else rtol
    assert_close_updates(ours[name], ours0[name], theirs[name], theirs0[name], rtol=tol,
                         atol=atol, name=f'{what}{name}')


def assert_student_matches(run: StepRun, torch_student: torch.nn.Module,
                           torch_initial: Mapping[str, Any], *, rtol: float,
                           atol: float = 1e-7, stats_rtol: float | None = None) -> None:
  """kdjax's final student (params + BN statistics) against the torch student after its steps.

  ``torch_initial``: ``torch_variables(student)`` taken before the reference's first step."""
  final = {'params': run.final.params['student'],
           'batch_stats': run.final.batch_stats['student']}
  initial = {'params': run.initial.params['student'],
             'batch_stats': run.initial.batch_stats['student']}
  assert_variables_match(final, initial, torch_variables(torch_student), torch_initial,
                         rtol=rtol, atol=atol, stats_rtol=stats_rtol, what='student ')


# ----------------------------------------------------------------------------- float64-calibrated
def within_float32_spread(ours: np.ndarray, ref32: np.ndarray, ref64: np.ndarray, *,
                          factor: float, rtol: float, atol: float) -> tuple[bool, str]:
  """``|ours - ref64| <= factor * |ref32 - ref64| + rtol * |ref64| + atol`` (2-norms).

  The reference run in float32 AND float64 measures how far float32 rounding alone moves
  this quantity (its conditioning: after a few SGD steps of a BatchNorm network, from 1e-6
  relative for a loss at the first step to several % for a BN shift after three steps at a
  large learning rate); kdjax's float32 result, another rounding of the same computation,
  must be as close to the float64 one, up to ``factor``, with floors ``rtol`` / ``atol`` for
  quantities the float32 reference happens to get almost exactly.
  """
  ours, ref32, ref64 = (np.asarray(a, np.float64) for a in (ours, ref32, ref64))
  err, spread = float(np.linalg.norm(ours - ref64)), float(np.linalg.norm(ref32 - ref64))
  allowed = factor * spread + rtol * float(np.linalg.norm(ref64)) + atol
  return err <= allowed, (f'|kdjax - float64 reference| {err:.3g} > allowed {allowed:.3g} '
                          f'({factor:g} x float32 spread {spread:.3g} + {rtol:g} x '
                          f'|reference| {float(np.linalg.norm(ref64)):.3g} + {atol:g})')


def assert_terms_within_spread(run: StepRun, ref32: Sequence[Mapping[str, float]],
                               ref64: Sequence[Mapping[str, float]], *, factor: float,
                               rtol: float, atol: float) -> None:
  """Every term of every step of the reference (run in float32 and float64) against kdjax's."""
  assert len(ref32) == len(ref64) == len(run.terms), (len(ref32), len(ref64), len(run.terms))
  for step, (ours, r32, r64) in enumerate(zip(run.terms, ref32, ref64)):
    for name in r64:
      assert name in ours, f'kdjax logs no {name!r} (it logs {sorted(ours)})'
      ok, message = within_float32_spread(ours[name], r32[name], r64[name], factor=factor,
                                          rtol=rtol, atol=atol)
      assert ok, f'step {step} term {name}: kdjax {ours[name]!r}, reference float32 ' \
                 f'{r32[name]!r}, float64 {r64[name]!r}: {message}'


def assert_updates_within_spread(final: Mapping[str, Any], initial: Mapping[str, Any],
                                 ref32: Mapping[str, Any], ref64: Mapping[str, Any],
                                 ref_initial: Mapping[str, Any], *, factor: float, rtol: float,
                                 atol: float, what: str = '') -> None:
  """Every leaf's update (final - initial) of kdjax against the reference's float32 / float64
  runs (``{'params', 'batch_stats'}`` trees, torch leaves named by ``torch_variables``)."""
  ours, ours0 = _flat(final), _flat(initial)
  r32, r64, r0 = _flat(ref32), _flat(ref64), _flat(ref_initial)
  assert sorted(ours) == sorted(r64), (
      f'{what}: leaves differ: kdjax only {sorted(set(ours) - set(r64))}, '
      f'torch only {sorted(set(r64) - set(ours))}')
  for name in r64:
    np.testing.assert_allclose(ours0[name], r0[name], rtol=1e-6, atol=1e-7,
                               err_msg=f'{what}{name}: initial values differ')
    ok, message = within_float32_spread(ours[name] - ours0[name], r32[name] - r0[name],
                                        r64[name] - r0[name], factor=factor, rtol=rtol,
                                        atol=atol)
    assert ok, f'{what}{name} update: {message}'


def assert_student_within_spread(run: StepRun, student32: torch.nn.Module,
                                 student64: torch.nn.Module, torch_initial: Mapping[str, Any],
                                 **tolerances: float) -> None:
  """kdjax's final student against the reference student after its float32 / float64 steps."""
  final = {'params': run.final.params['student'],
           'batch_stats': run.final.batch_stats['student']}
  initial = {'params': run.initial.params['student'],
             'batch_stats': run.initial.batch_stats['student']}
  assert_updates_within_spread(final, initial, torch_variables(student32),
                               torch_variables(student64), torch_initial, what='student ',
                               **tolerances)
