"""SimKD (Chen et al., "Knowledge Distillation with the Reused Teacher Classifier", CVPR 2022).

The student's last feature map goes through a trainable projector to the teacher's width; the
projector is trained to reproduce the teacher's last feature map, and the student is deployed
as backbone + projector + the teacher's (frozen) classifier:

    loss = feature.weight * mean (P(f_s) - f_t)^2        (ce_weight 0, no logit term)
    logits = teacher_fc(avgpool(P(f_s)))                  (training accuracy and evaluation)

as DefangChen/SimKD runs it (``README.md`` / ``scripts``: ``--distill simkd -c 0 -d 0 -b 1``;
``helper/loops.py`` ``train_distill`` / ``validate_distill``; ``models/util.py`` ``SimKD``):

* ``f_s``, ``f_t``: the CRD codebase's ``feat[-2]``, the last stage's activated map
  (``reference_map``): kdjax's ``feats[-1]``, except for WRN, whose ``feats[-1]`` is the raw
  group output and whose reference ``feat[-2]`` is ``relu(bn1(block3))`` (``head_map``).
* Spatial alignment: when the student's map is larger (by height) it is adaptive-average-pooled
  to the teacher's size, otherwise the teacher's map is pooled to the student's.
* Projector (``Projector``, ``models/util.py`` ``SimKD.transfer``): 1x1 conv ``s_n -> t_n / f``,
  BN, ReLU, 3x3 conv (pad 1) ``t_n / f -> t_n / f``, BN, ReLU, 1x1 conv ``t_n / f -> t_n``, BN,
  ReLU; no conv biases, PyTorch's default initialisation; ``f`` = ``simkd.factor`` (``--factor``,
  2; the README also reports 4 and 8).
* The teacher's classifier (its ``fc`` / ``linear`` / ``classifier``, with its bias) reads the
  global mean of the projected map (``eval_logits``); it stays frozen. The teacher's last map must
  therefore be what its classifier pools (not so for MobileNetV2 / ShuffleV2 teachers, whose
  classifier reads a later 1x1 conv: refused by ``check_config``).

``export`` gives the deployable model (student + projector + teacher head) of a trained state.
The trainer logs ``train_top1`` of the student's own (unused, untrained) head; ``train_simkd_top1``
is the reused head's training accuracy (the reference's training ``Acc@1``), and every test
accuracy is the reused head's (``summary.json``: ``evaluated_head``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from kdjax import feature_losses
from kdjax import models
from kdjax.methods import base
from kdjax.models import layers

Array = jax.Array


def reference_map(model: str, features: models.Features) -> Array:
  """The last feature map SimKD reads from ``model``: the CRD codebase's ``feat[-2]``.

  ``features.feats[-1]`` (the last stage, activated), except for WRN, whose reference ``feat[-2]``
  is ``relu(bn1(block3))`` (``features.head_map``).
  """
  if model.startswith('wrn'):
    if features.head_map is None:
      raise ValueError(f'SimKD needs the head map of {model} (Features.head_map), got None')
    return features.head_map
  return features.feats[-1]


def map_shape(model: str, image_shape: tuple[int, ...] | None = None) -> tuple[int, int, int]:
  """``(H, W, C)`` of ``reference_map`` for ``model`` on ``image_shape`` inputs (traced only)."""
  features = models.feature_shapes(model, image_shape)
  return tuple(int(d) for d in reference_map(model, features).shape[1:])


def _classifier_width(model: str, image_shape: tuple[int, ...] | None = None) -> int:
  return int(models.feature_shapes(model, image_shape).pooled.shape[-1])


def classify(head_path: tuple[str, ...], variables: Any, pooled: Array) -> Array:
  """``models.classify`` with the classifier's parameter path given (usable inside a Linen
  method, where no model may be constructed to look the path up)."""
  params = variables['params'] if 'params' in variables else variables
  for key in head_path:
    params = params[key]
  return (jnp.dot(pooled.astype(jnp.float32), params['kernel']) + params['bias']).astype(
      jnp.float32)


class Projector(nn.Module):
  """SimKD's projector (``models/util.py`` ``SimKD.transfer``), NHWC.

  Submodules are named like the reference's ``nn.Sequential`` (``transfer.0`` conv, ``.1`` BN,
  ``.3`` conv, ``.4`` BN, ``.6`` conv, ``.7`` BN).

  Attributes:
    channels: ``t_n``, the teacher's channels.
    factor: the bottleneck's reduction (``t_n // factor`` middle channels).
  """
  channels: int
  factor: int = 2

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    mid = self.channels // self.factor
    for index, (width, kernel, pad) in enumerate(((mid, 1, 0), (mid, 3, 1),
                                                  (self.channels, 1, 0))):
      x = layers.conv(width, kernel, padding=pad, name=str(3 * index))(x)
      x = layers.BatchNorm(name=str(3 * index + 1))(x, train)
      x = nn.relu(x)
    return x


def pair_of(config, context) -> tuple[str, str, tuple[int, ...] | None]:
  """``(teacher, student, image shape or None)`` of a run: from the ``methods.Context`` when the
  trainer gives one, else from the config (the image shape is then the model's own)."""
  if context is not None:
    return context.teacher, context.student, context.image_shape
  return config.teacher, config.student, None

class SimKD(base.Term):
  """The SimKD term (see the module docstring); ``teacher`` / ``student`` are registry names."""
  NAME: ClassVar[str] = 'simkd'
  NEEDS: ClassVar[base.Needs] = base.Needs(teacher=True, features=True, teacher_variables=True,
                                           eval_features=True)
  TERM_NAMES: ClassVar[tuple[str, ...]] = ('simkd',)
  STAT_NAMES: ClassVar[tuple[str, ...]] = ('simkd_top1',)
  EVAL_HEAD: ClassVar[str | None] = 'simkd: student + projector + teacher classifier'
  PUBLISHED_WITH_CE: ClassVar[bool] = False

  teacher: str = ''
  student: str = ''
  factor: int = 2
  teacher_shape: tuple[int, int, int] = (1, 1, 1)  # (H, W, C) of the teacher's reference_map.
  teacher_head: tuple[str, ...] = ('fc',)  # models.classifier_path(teacher)

  @classmethod
  def default_config(cls) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(factor=2))  # SimKD train_student.py --factor

  @classmethod
  def from_config(cls, config, context=None) -> 'SimKD':
    teacher, student, image_shape = pair_of(config, context)
    return cls(teacher=teacher, student=student, factor=int(config.simkd.factor),
               teacher_shape=map_shape(teacher, image_shape),
               teacher_head=models.classifier_path(teacher))

  @classmethod
  def check_config(cls, config, context) -> list[str]:
    factor = config.simkd.factor
    if not isinstance(factor, int) or factor < 1:
      return [f'simkd.factor must be an int >= 1, got {factor!r}']
    if context is None:
      return []
    teacher, student, image_shape = pair_of(config, context)
    problems = []
    for role, name in (('teacher', teacher), ('student', student)):
      if name not in models.names():
        problems.append(f'SimKD: unknown {role} model {name!r}')
    if problems:
      return problems
    t_h, t_w, t_c = map_shape(teacher, image_shape)
    width = _classifier_width(teacher, image_shape)
    if t_c != width:
      problems.append(
          f'SimKD reuses the teacher\'s classifier on the pooled projection of the student, '
          f'trained to match the teacher\'s last stage map; {teacher}\'s last stage map has '
          f'{t_c} channels but its classifier reads {width} features (a later layer), so its '
          f'classifier cannot be reused: pick a teacher whose classifier pools its last stage '
          f'(ResNets, WRN, VGG)')
    if t_c // factor < 1:
      problems.append(f'simkd.factor {factor} leaves no channel of the teacher\'s {t_c}')
    s_h, s_w, _ = map_shape(student, image_shape)
    if s_h != s_w or t_h != t_w:
      problems.append(f'SimKD aligns square maps (the reference pools by height only); got '
                      f'student {s_h}x{s_w}, teacher {t_h}x{t_w}')
    return problems

  def setup(self):
    self.projector = Projector(self.teacher_shape[-1], self.factor)

  def _source(self, student_map: Array) -> Array:
    """The student's map, pooled to the teacher's size when larger (float32)."""
    student_map = student_map.astype(jnp.float32)
    if student_map.shape[1] > self.teacher_shape[0]:
      return feature_losses.adaptive_avg_pool2d(student_map, self.teacher_shape[0])
    return student_map

  def _head(self, projected: Array, teacher_variables: Any) -> Array:
    """The teacher's classifier on the global mean of the projected map (float32 logits)."""
    return classify(self.teacher_head, teacher_variables, jnp.mean(projected, axis=(1, 2)))

  def __call__(self, inputs: base.StepInputs, train: bool = True) -> dict[str, Array]:
    f_s = reference_map(self.student, inputs.student.features)
    f_t = jax.lax.stop_gradient(
        reference_map(self.teacher, inputs.teacher.features).astype(jnp.float32))
    if tuple(f_t.shape[1:]) != tuple(self.teacher_shape):
      raise ValueError(f'SimKD was built for a {self.teacher_shape} teacher map of '
                       f'{self.teacher}, got {tuple(f_t.shape[1:])} (build it with the run\'s '
                       f'Context.image_shape)')
    source = self._source(f_s)
    target = f_t if f_s.shape[1] > f_t.shape[1] else feature_losses.adaptive_avg_pool2d(
        f_t, f_s.shape[1])
    projected = self.projector(source, train)
    out = {'simkd': jnp.mean(jnp.square(projected - target))}
    if inputs.teacher_variables is None:  # The trainer's init passes none (shapes only).
      if self.is_initializing():
        return dict(out, simkd_top1=jnp.float32(0.0))
      raise ValueError('SimKD needs the teacher\'s variables (Needs.teacher_variables)')
    logits = self._head(projected, inputs.teacher_variables)
    out['simkd_top1'] = 100.0 * jnp.mean(
        (jnp.argmax(logits, -1) == inputs.labels).astype(jnp.float32))
    return out

  def eval_logits(self, student: base.Outputs, teacher_variables: Any) -> Array:
    """The teacher's classifier on the pooled projection of the student's map (inference BN)."""
    projected = self.projector(self._source(reference_map(self.student, student.features)),
                               False)
    return self._head(projected, teacher_variables)


@dataclasses.dataclass(frozen=True)
class Exported:
  """A trained SimKD student as deployed: student backbone + projector + teacher classifier.

  Attributes:
    student, teacher: registry names.
    num_classes: the classifier's outputs.
    factor: the projector's ``simkd.factor``.
    teacher_shape: ``(H, W, C)`` of the teacher's last map the projector was built for.
    variables: ``{'student': {'params', 'batch_stats'}, 'projector': {'params',
      'batch_stats'}, 'head': {'params': {<teacher classifier path>: {'kernel', 'bias'}}}}``
      (only the teacher's classifier is kept).
  """
  student: str
  teacher: str
  num_classes: int
  factor: int
  teacher_shape: tuple[int, int, int]
  variables: Any

  def apply(self, variables: Any, images: Array) -> Array:
    """float32 logits ``[N, K]`` of NHWC ``images`` (a pure function of ``variables``; jittable)."""
    module = models.create(self.student, num_classes=self.num_classes)
    logits, features, _ = models.apply_with_features(module, variables['student'], images,
                                                     train=False)
    term = SimKD(teacher=self.teacher, student=self.student, factor=self.factor,
                 teacher_shape=self.teacher_shape,
                 teacher_head=models.classifier_path(self.teacher))
    return term.apply({'params': {'projector': variables['projector']['params']},
                       'batch_stats': {'projector': variables['projector']['batch_stats']}},
                      base.Outputs(logits=logits, features=features), variables['head'],
                      method=SimKD.eval_logits)

  def __call__(self, images: Array) -> Array:
    return self.apply(self.variables, images)

  def num_params(self) -> int:
    """Parameters of the deployed model (student, projector, teacher classifier)."""
    params = [self.variables['student']['params'], self.variables['projector']['params'],
              self.variables['head']['params']]
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(params))


def export(state: Any, teacher_variables: Any, config: ml_collections.ConfigDict,
           image_shape: tuple[int, int, int] | None = None) -> Exported:
  """The deployable SimKD student of a trained ``state`` (``kdjax.steps.TrainState``).

  Evaluate it like the trainer does::

    result = kdjax.train.train_and_evaluate(config, workdir)       # or a restored state
    teacher_variables = kdjax.teachers.load_variables(config, num_classes, image_shape)
    model = kdjax.methods.simkd.export(result.state, teacher_variables, config)
    logits = jax.jit(model.apply)(model.variables, images)         # or model(images)

  where ``images`` are NHWC float32 test images normalised as the trainer's test view
  (``kdjax.data.augment.test_view``: the dataset's mean / std, ImageNet's resize and centre
  crop). Its top-1 on the test split is the run's logged ``test_top1``.

  Args:
    state: the run's state (``params`` / ``batch_stats`` with ``'student'`` and ``'method'``).
    teacher_variables: the teacher's ``{'params', ...}`` the run was trained with.
    config: the run's config (teacher, student, ``simkd.factor``).
    image_shape: the run's input ``(H, W, C)`` (None: the student's registry default).

  Raises:
    ValueError: the config is not a SimKD run, or the state holds no projector.
  """
  if config.feature.loss != SimKD.NAME:
    raise ValueError(f'export needs a SimKD run (feature.loss {SimKD.NAME!r}), got '
                     f'{config.feature.loss!r}')
  method_params = dict(jax.device_get(state.params['method']))
  if 'projector' not in method_params.get('feature', {}):
    raise ValueError('the state holds no SimKD projector under params/method/feature')
  path = models.classifier_path(config.teacher)
  kernel, bias = models.classifier(config.teacher, jax.device_get(teacher_variables))
  head: dict[str, Any] = {'kernel': kernel, 'bias': bias}
  for key in reversed(path):
    head = {key: head}
  return Exported(
      student=config.student, teacher=config.teacher, num_classes=int(kernel.shape[-1]),
      factor=int(config.simkd.factor), teacher_shape=map_shape(config.teacher, image_shape),
      variables={
          'student': {'params': jax.device_get(state.params['student']),
                      'batch_stats': jax.device_get(state.batch_stats['student'])},
          'projector': {'params': method_params['feature']['projector'],
                        'batch_stats': jax.device_get(
                            state.batch_stats['method'])['feature']['projector']},
          'head': {'params': head}})


TERM = SimKD
PRESETS = {
    # DefangChen/SimKD README + scripts: --distill simkd -c 0 -d 0 -b 1 (feature MSE only).
    'simkd': {'ce_weight': 0.0, 'logit.loss': 'none', 'logit.weight': 0.0,
              'feature.loss': 'simkd', 'feature.weight': 1.0},
}
