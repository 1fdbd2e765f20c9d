"""The method interface: what a distillation term needs, receives and returns.

A distillation run minimises ``ce_weight * CE + sum of terms``. A *term* is one
Flax Linen module (a subclass of ``Term``) that declares

* ``needs`` (a ``Needs``): the model outputs it reads (logits only, or the
  stage features of ``kdjax.models.Features``), whether it uses MLKD's strong
  view, the batch's dataset indices (CRD's memory) or the teacher's variables
  (OFD's BatchNorm margins, a reused classifier);
* its own variables, created by ``init`` like any Linen module: trainable
  ``params`` (CTKD's temperature, connectors, regressors, embeddings: the
  trainer's optimizer updates them with the student's), ``batch_stats`` of its
  own BatchNorms and non-gradient ``state`` (a memory bank), all saved in the
  checkpoint;
* ``__call__(inputs, train) -> {name: scalar}``: its weighted loss terms, which
  the trainer sums (and logs), plus any statistics named in ``STAT_NAMES``
  (logged, never summed);
* ``epoch_scalars(config, epoch)``: host-side per-epoch values (CTKD's lambda,
  DKD's warm-up factor) passed to the step as arrays, so they never recompile;
* ``view_options(config)``: how the data pipeline makes the views it reads
  (MLKD's strong crop), so the step and the loop name no method.

``kdjax.methods.register`` adds a term to the registry; a method is then a
configuration (``config.logit`` / ``config.feature`` select the terms, their
settings live in ``config.<name>``). See ``kdjax/methods/__init__.py``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping

import flax
import flax.linen as nn
import jax
import ml_collections

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Needs:
  """What a term reads from the models and the data.

  Attributes:
    teacher: runs the frozen teacher (False: CE-only training).
    features: the ``kdjax.models.Features`` of student and teacher (stage
      features, pre-activation features, pooled feature), not only the logits.
    strong_view: a second, strongly augmented view through both models (MLKD).
    example_index: the dataset index of every example of the batch (CRD).
    teacher_variables: the teacher's variables in the step (OFD's margins from
      its BatchNorms, a reused classifier).
    eval_features: the student's features at evaluation (a term whose
      ``eval_logits`` replaces the student's head, e.g. SimKD).
    student_variables: the student's parameters in the step, differentiable
      (a term that reads the student's own classifier, e.g. CAT-KD's CAMs).
    teacher_train_bn: the teacher runs with BatchNorm in training mode (batch
      statistics, its running statistics left untouched), as mdistiller's OFD
      does (its ``train()`` never puts the teacher in eval mode).
    dataset_labels: the training set's labels at initialisation
      (``StepInputs.dataset_labels``; CRD draws its negatives from other classes).
  """
  teacher: bool = False
  features: bool = False
  strong_view: bool = False
  example_index: bool = False
  teacher_variables: bool = False
  eval_features: bool = False
  student_variables: bool = False
  teacher_train_bn: bool = False
  dataset_labels: bool = False

  def __or__(self, other: 'Needs') -> 'Needs':
    return Needs(**{f.name: getattr(self, f.name) or getattr(other, f.name)
                    for f in dataclasses.fields(self)})


@flax.struct.dataclass
class Outputs:
  """One model's outputs on one view: float32 logits ``[B, K]`` and, when asked, its features."""
  logits: Array
  features: Any = None  # kdjax.models.Features, or None when no term needs features.


@flax.struct.dataclass
class StepInputs:
  """Everything a term may read in a train step (fields a term does not need are None).

  Attributes:
    student: the student's outputs on the weak (standard) view, in train mode.
    teacher: the frozen teacher's outputs on the weak view (inference mode).
    student_strong, teacher_strong: the same on MLKD's strong view.
    labels: int32 ``[B]`` (with soft targets: their argmax, as yzd-v/cls_KD's NKD reads 2-D
      labels).
    targets: float32 ``[B, K]`` soft targets (Mixup/CutMix/label smoothing, ``Views.mix``),
      or None (one-hot ``labels``); the cross-entropy reads them when present.
    indices: int32 ``[B]`` dataset indices of the examples (``Needs.example_index``).
    teacher_variables: the teacher's ``{'params', 'batch_stats'}`` (``Needs.teacher_variables``).
    student_variables: the student's ``{'params'}``, differentiable (``Needs.student_variables``).
    dataset_labels: int32 ``[N]`` labels of the training set, at ``init`` only
      (``Needs.dataset_labels``; None in the step).
    scalars: the per-epoch values of every term's ``epoch_scalars`` (float32 arrays).
  """
  student: Outputs
  labels: Array
  teacher: Outputs | None = None
  student_strong: Outputs | None = None
  teacher_strong: Outputs | None = None
  indices: Array | None = None
  teacher_variables: Any = None
  student_variables: Any = None
  dataset_labels: Array | None = None
  targets: Array | None = None
  scalars: Mapping[str, Array] = flax.struct.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Context:
  """Facts of a run a term may be built from (beside its config group).

  Attributes:
    teacher, student: model registry names.
    num_classes: classes of the dataset.
    num_examples: training examples (CRD's memory size).
    image_shape: ``(H, W, C)`` of the model inputs (the feature maps' sizes follow from it),
      or None: the student's registry default (``kdjax.models.input_shape``).
  """
  teacher: str
  student: str
  num_classes: int
  num_examples: int
  image_shape: tuple[int, int, int] | None = None


class Term(nn.Module):
  """Base class of a distillation term (see the module docstring).

  Subclasses set ``NAME`` (the registry and config-group name), ``NEEDS``,
  ``TERM_NAMES`` (the keys of the loss terms ``__call__`` returns, summed into
  the loss) and ``STAT_NAMES`` (extra logged statistics, not summed; names
  ending in ``_min``/``_max`` are reduced by min/max over an epoch, others
  averaged), and implement ``from_config`` and ``__call__``.
  """
  NAME: ClassVar[str] = ''
  NEEDS: ClassVar[Needs] = Needs(teacher=True)
  TERM_NAMES: ClassVar[tuple[str, ...]] = ()
  STAT_NAMES: ClassVar[tuple[str, ...]] = ()
  # This term computes the cross-entropy itself (MLKD's CE over both views); the
  # composite then adds none.
  OWNS_CE: ClassVar[bool] = False
  # What the student is evaluated by when ``eval_logits`` replaces its head (e.g.
  # "projector + teacher classifier"); None: the student's own head.
  EVAL_HEAD: ClassVar[str | None] = None
  # Whether the method's published objective has the student's cross-entropy. False (SimKD):
  # alone (no logit term) it is named plainly at ce_weight 0 and ``<NAME>_ce`` with a CE
  # (``kdjax.methods.method_name``); True: ``<NAME>_noce`` marks a run without it.
  PUBLISHED_WITH_CE: ClassVar[bool] = True

  @classmethod
  def default_config(cls) -> ml_collections.ConfigDict:
    """The term's config group ``config.<NAME>`` with its defaults (empty: no settings)."""
    return ml_collections.ConfigDict()

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict, context: Context) -> 'Term':
    """The term of a run's config."""
    raise NotImplementedError

  @classmethod
  def check_config(cls, config: ml_collections.ConfigDict, context: Context | None) -> list[str]:
    """Problems with the run's config or models for this term (empty: fine).

    Called before anything is compiled; ``context`` is None when only the
    config is checked (no models or data known yet).
    """
    del config, context
    return []

  @classmethod
  def epoch_scalars(cls, config: ml_collections.ConfigDict, epoch: int) -> dict[str, float]:
    """Per-epoch inputs of the step (epochs from 1), logged with the epoch's metrics."""
    del config, epoch
    return {}

  @classmethod
  def scalar_names(cls, config: ml_collections.ConfigDict) -> tuple[str, ...]:
    """The names of its ``epoch_scalars``, known before training: the step inputs that ``init``
    is traced with (zeros), so that a term never special-cases its initialisation."""
    return tuple(cls.epoch_scalars(config, 1))

  @classmethod
  def view_options(cls, config: ml_collections.ConfigDict) -> dict[str, Any]:
    """Keyword options of the data views this term reads (``Source.views``, e.g. how a strong
    view is cropped); {}: the pipeline's defaults."""
    del config
    return {}

  @property
  def needs(self) -> Needs:
    """What this term reads (``NEEDS``, unless its settings change it)."""
    return self.NEEDS

  @property
  def term_names(self) -> tuple[str, ...]:
    """The loss terms ``__call__`` returns (``TERM_NAMES``, unless its settings change them)."""
    return self.TERM_NAMES

  @property
  def owns_ce(self) -> bool:
    """Whether this term computes the cross-entropy itself (``OWNS_CE``)."""
    return self.OWNS_CE

  def eval_logits(self, student: Outputs, teacher_variables: Any) -> Array | None:
    """The logits to evaluate the student by, when the term replaces its head (else None).

    Called through ``Distillation.eval_logits`` outside ``__call__``: a term that
    overrides it defines the submodules both use in ``setup``.
    """
    del student, teacher_variables
    return None
