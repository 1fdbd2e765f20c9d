"""The logit term: LS z-score x temperature policy x base divergence, composed by configuration.

``config.logit`` selects the composition (none of the reference codebases offers it:
each of their combinations is a copy of the loss code):

* ``standardize``: the logit standardisation of Sun et al. (CVPR 2024, Eq. 3 /
  Algorithm 1) applied to both logit vectors before the divergence (its
  estimator in ``config.ls``: ``ddof`` 1 as released, ``eps``; ``center`` /
  ``scale`` select the partial pre-processes of its Table 4 ablation);
* ``policy``: a registered temperature policy (``register_policy``): ``fixed``
  (``logit.temperature``), ``ctkd`` (a learned global or per-instance temperature
  through a gradient-reversal layer, Li et al., AAAI 2023; ``config.ctkd``) or
  ``max_logit`` (a per-example temperature from the z-scored maxima, Matsuyama et
  al. 2025, Algorithms 1-3; ``config.max_logit``);
* ``loss``: a registered base divergence (``register_divergence``): ``kd`` (Hinton
  et al. 2015), ``dkd`` (Zhao et al., CVPR 2022, Eq. 1-2, ``config.dkd``, its
  warm-up factor on this term only), ``mlkd`` (Jin et al., CVPR 2023, two views,
  ``config.mlkd``), ``ttm`` / ``wttm`` (Zheng & Yang, ICLR 2024, Eqs. 10 and 14,
  ``config.ttm``; with a learned or max-logit policy the teacher's exponent is
  ``gamma = 1 / T``) or ``dist`` (Huang et al., NeurIPS 2022, as the TTM repository
  re-implements it, ``config.dist``); other modules of ``kdjax.methods`` register
  more (``kdjax/methods/nkd.py``).

The term returns ``{'kd': logit.weight * mean divergence}`` (for DKD the weight
multiplies alpha and beta, the LS release's convention, and the warm-up factor
multiplies the term; TTM/WTTM's beta IS the weight); MLKD returns its own
``ce``, ``kd``, ``cc``, ``bc`` (its cross-entropy covers both views).
Statistics: ``temperature_mean/min/max`` and ``logit_correlation`` (mean
per-example Pearson correlation of student and teacher logits).

Adding a divergence or a policy: a module of ``kdjax.methods`` defines a ``Divergence``
(or ``Policy``) subclass with its ``NAME``, config group (``GROUP`` + ``default_config``),
checks and computation, decorated with ``register_divergence`` (``register_policy``), and
its presets in ``PRESETS``; ``kdjax.methods`` imports every module of the package, so
nothing else changes. ``kdjax/methods/nkd.py`` is the example.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar, Iterator, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from kdjax import losses
from kdjax import temperature as temperature_lib
from kdjax.methods import base

Array = jax.Array

MLKD_STRONG_CROPS = ('independent', 'shared')


# ----------------------------------------------------------------------------- settings


@dataclasses.dataclass(frozen=True)
class Settings(Mapping[str, Any]):
  """A frozen, hashable ``{name: value}`` of one config group (a field of the Linen term).

  Read as a mapping (``settings['gamma']``) or by attribute (``settings.gamma``).
  """
  items_: tuple[tuple[str, Any], ...] = ()

  @classmethod
  def of(cls, values: Mapping[str, Any] | None = None, **kwargs: Any) -> 'Settings':
    return cls(tuple({**dict(values or {}), **kwargs}.items()))

  def __getitem__(self, name: str) -> Any:
    for key, value in self.items_:
      if key == name:
        return value
    raise KeyError(name)

  def __getattr__(self, name: str) -> Any:
    if name.startswith('__') or name == 'items_':
      raise AttributeError(name)
    try:
      return self[name]
    except KeyError:
      raise AttributeError(f'no setting {name!r}; have {[k for k, _ in self.items_]}') from None

  def __iter__(self) -> Iterator[str]:
    return iter(key for key, _ in self.items_)

  def __len__(self) -> int:
    return len(self.items_)


def _typed(config_group: ml_collections.ConfigDict,
           defaults: ml_collections.ConfigDict) -> Settings:
  """The values of ``config_group`` cast to the types of its defaults (``1`` -> ``1.0``)."""
  values = {}
  for name, default in defaults.items():
    value = config_group[name]
    if isinstance(value, (list, tuple)):
      values[name] = tuple(value)  # hashable: the settings are a field of the Linen term
    else:
      values[name] = value if default is None else type(default)(value)
  return Settings.of(values)


# ----------------------------------------------------------------------------- registries


class _Component:
  """What a divergence and a policy share: a name, a config group, checks, per-epoch scalars."""
  NAME: ClassVar[str] = ''
  # The config group holding the settings (``config.<GROUP>``), or None. A group is declared by
  # one component (its ``default_config``); another may read it (WTTM reads TTM's ``ttm``).
  GROUP: ClassVar[str | None] = None

  @staticmethod
  def default_config() -> ml_collections.ConfigDict | None:
    """The defaults of ``config.<GROUP>`` when this component declares the group, else None."""
    return None

  @classmethod
  def check_config(cls, config: ml_collections.ConfigDict) -> list[str]:
    """Problems with the group's values (run for every declared group, selected or not)."""
    del config
    return []

  @classmethod
  def check_selected(cls, config: ml_collections.ConfigDict) -> list[str]:
    """Problems of the composition when this component is selected (e.g. MLKD with partial LS)."""
    del config
    return []

  @classmethod
  def settings(cls, config: ml_collections.ConfigDict) -> Settings:
    """The settings the computation reads (the group's values, typed as its defaults)."""
    if cls.GROUP is None:
      return Settings()
    return _typed(config[cls.GROUP], _GROUPS[cls.GROUP].default_config())

  @classmethod
  def epoch_scalars(cls, config: ml_collections.ConfigDict, epoch: int) -> dict[str, float]:
    """Host-side per-epoch step inputs (epochs from 1), e.g. DKD's warm-up factor."""
    del config, epoch
    return {}


class Divergence(_Component):
  """A base divergence of the logit term (register with ``register_divergence``).

  ``loss`` receives the (standardised, when ``logit.standardize``) float32 logits and returns
  the term's weighted batch value; a divergence that needs more than one view or computes its
  own cross-entropy overrides ``terms``.
  """
  TERM_NAMES: ClassVar[tuple[str, ...]] = ('kd',)
  OWNS_CE: ClassVar[bool] = False  # computes the cross-entropy itself (the composite adds none)
  STRONG_VIEW: ClassVar[bool] = False  # reads the strong view of both models (Needs.strong_view)

  @classmethod
  def view_options(cls, config: ml_collections.ConfigDict) -> dict[str, Any]:
    """Keyword options of the data views this divergence reads (``Term.view_options``)."""
    del config
    return {}

  @classmethod
  def fixed_temperature(cls, settings: Settings, temperature: Array) -> Array:
    """The temperature under the ``fixed`` policy (default: ``logit.temperature``)."""
    del settings
    return jnp.asarray(temperature, jnp.float32)

  @classmethod
  def loss(cls, student: Array, teacher: Array, labels: Array, *, temperature: Array,
           weight: Array, settings: Settings, scalars: Mapping[str, Array]) -> Array:
    """The weighted batch value of the term ``'kd'``."""
    raise NotImplementedError

  @classmethod
  def terms(cls, term: 'LogitTerm', inputs: base.StepInputs, z: Array, v: Array,
            temperature: Array, weight: Array) -> dict[str, Array]:
    """``{name: value}`` of ``TERM_NAMES`` (default: ``loss`` on the standardised logits)."""
    zs, vs = term.standardized(z), term.standardized(v)
    return {'kd': cls.loss(zs, vs, inputs.labels, temperature=temperature, weight=weight,
                           settings=term.divergence_settings, scalars=inputs.scalars)}


class Policy(_Component):
  """A temperature policy of the logit term (register with ``register_policy``)."""

  @classmethod
  def method_name(cls, loss: str, ls: str) -> str:
    """The composition's name from the divergence's and the LS suffix (``'_ls'``, ``''``, ...)."""
    raise NotImplementedError

  @classmethod
  def temperature(cls, term: 'LogitTerm', z: Array, v: Array, fixed: Array,
                  scalars: Mapping[str, Array]) -> Array:
    """The temperature (scalar or per-example), called inside the term's compact ``__call__``.

    Args:
      term: the Linen term (its settings; a learned policy creates its submodule here).
      z, v: raw float32 student and teacher logits.
      fixed: the divergence's fixed temperature (``Divergence.fixed_temperature``).
      scalars: the step's per-epoch scalars.
    """
    raise NotImplementedError


_DIVERGENCES: dict[str, type[Divergence]] = {}
_POLICIES: dict[str, type[Policy]] = {}
_GROUPS: dict[str, type[_Component]] = {}  # group name -> the component declaring it


def _register(registry: dict[str, Any], kind: str, cls: Any) -> Any:
  if not cls.NAME or cls.NAME in registry or cls.NAME == 'none':
    raise ValueError(f'a {kind} needs a new, unique NAME, got {cls.NAME!r}')
  if 'default_config' in vars(cls):  # declares its group
    if cls.GROUP is None or cls.GROUP in _GROUPS or cls.GROUP in ('logit', 'ls'):
      raise ValueError(f'{kind} {cls.NAME!r} declares the config group {cls.GROUP!r}, which '
                       'is missing or declared already')
    _GROUPS[cls.GROUP] = cls
  elif cls.GROUP is not None and cls.GROUP not in _GROUPS:
    raise ValueError(f'{kind} {cls.NAME!r} reads config.{cls.GROUP}, which no component '
                     'declares (define default_config)')
  registry[cls.NAME] = cls
  return cls


def register_divergence(cls: type[Divergence]) -> type[Divergence]:
  """Class decorator: registers a base divergence under ``cls.NAME`` (and its config group)."""
  return _register(_DIVERGENCES, 'divergence', cls)


def register_policy(cls: type[Policy]) -> type[Policy]:
  """Class decorator: registers a temperature policy under ``cls.NAME`` (and its config group)."""
  return _register(_POLICIES, 'policy', cls)


def divergences() -> dict[str, type[Divergence]]:
  """The registered base divergences by name (``config.logit.loss``)."""
  return dict(_DIVERGENCES)


def policies() -> dict[str, type[Policy]]:
  """The registered temperature policies by name (``config.logit.policy``)."""
  return dict(_POLICIES)


# ----------------------------------------------------------------------------- config


def logit_group() -> ml_collections.ConfigDict:
  """``config.logit``: the composition's switches."""
  return ml_collections.ConfigDict(dict(
      loss='kd',  # none | a registered divergence: kd | dkd | mlkd | ttm | wttm | dist | ...
      weight=0.9,  # the term's weight (DKD: multiplies alpha and beta; TTM/WTTM: beta)
      temperature=4.0,  # fixed T of KD/DKD/DIST, LS base tau, MLKD's T0
      policy='fixed',  # a registered temperature policy: fixed | ctkd | max_logit
      standardize=False,  # LS z-score of both logit vectors
  ))


def ls_group() -> ml_collections.ConfigDict:
  """``config.ls``: the z-score's estimator (Sun et al. 2024)."""
  return ml_collections.ConfigDict(dict(
      ddof=1,  # 1: the released unbiased std; 0: the paper's Algorithm 1
      eps=1e-7,
      center=True,  # False: x / (eps + std) only (Sun et al. Table 4, "z / std")
      scale=True,  # False: x - mean only (Sun et al. Table 4, "z - mean")
  ))


def group_builders() -> dict[str, Callable[[], ml_collections.ConfigDict]]:
  """``{group: the function building its defaults}`` (their comments are the fields' meanings)."""
  builders = {'logit': logit_group, 'ls': ls_group}
  builders.update({name: cls.default_config for name, cls in _GROUPS.items()})
  return builders


def config_groups() -> dict[str, ml_collections.ConfigDict]:
  """The config groups of the logit term: ``logit``, ``ls`` and each registered component's."""
  return {name: build() for name, build in group_builders().items()}


def check_config(config: ml_collections.ConfigDict) -> list[str]:
  """Problems with the logit settings of ``config`` (empty: fine)."""
  logit, problems = config.logit, []
  names = ('none',) + tuple(_DIVERGENCES)
  if logit.loss not in names:
    problems.append(f'logit.loss must be one of {names}, got {logit.loss!r}')
  if logit.policy not in _POLICIES:
    problems.append(f'logit.policy must be one of {tuple(_POLICIES)}, got {logit.policy!r}')
  if logit.loss == 'none' and (logit.policy != 'fixed' or logit.standardize):
    problems.append("a temperature policy or LS needs a logit loss (logit.loss='none' trains "
                    'without one)')
  if logit.temperature <= 0:
    problems.append(f'logit.temperature must be > 0, got {logit.temperature}')
  if not (config.ls.center or config.ls.scale):
    problems.append('ls.center and ls.scale cannot both be False (use logit.standardize=False '
                    'for raw logits)')
  for registry, name in ((_DIVERGENCES, logit.loss), (_POLICIES, logit.policy)):
    if name in registry:
      problems += registry[name].check_selected(config)
  for cls in _GROUPS.values():
    problems += cls.check_config(config)
  return problems


def _ls_suffix(config: ml_collections.ConfigDict) -> str:
  """``_ls`` (``_lscenter`` / ``_lsscale`` for the partial pre-processes), '' unstandardised."""
  if not config.logit.standardize:  # neither centre nor scale: raw (check_config refuses it)
    return ''
  return {(True, True): '_ls', (True, False): '_lscenter', (False, True): '_lsscale'}.get(
      (bool(config.ls.center), bool(config.ls.scale)), '')


def logit_name(config: ml_collections.ConfigDict) -> str:
  """The name of the logit term's composition: ``kd``, ``kd_ls``, ``ctkd``, ``dkd_maxlogit``, ...

  ``<loss>`` for a fixed temperature, ``ctkd`` (KD) or ``ctkd_<loss>`` with a
  learned one, ``<loss>_maxlogit`` with the max-logit policy; ``_ls`` when
  standardised (``_lscenter`` / ``_lsscale`` for the partial pre-processes;
  the max-logit policy implies LS, ``_maxlogit_raw`` without it). '' for none.
  """
  if config.logit.loss == 'none':
    return ''
  policy = _POLICIES.get(config.logit.policy)
  if policy is None:  # unknown: check_config names the problem
    return f'{config.logit.loss}_{config.logit.policy}{_ls_suffix(config)}'
  return policy.method_name(config.logit.loss, _ls_suffix(config))


def epoch_scalars(config: ml_collections.ConfigDict, epoch: int) -> dict[str, float]:
  """The per-epoch step inputs of the selected divergence and policy (epochs from 1)."""
  if config.logit.loss == 'none':
    return {}
  return {**_POLICIES[config.logit.policy].epoch_scalars(config, epoch),
          **_DIVERGENCES[config.logit.loss].epoch_scalars(config, epoch)}


def describe(config: ml_collections.ConfigDict) -> str:
  """One line naming the composition, e.g. ``'LS x ctkd x kd (weight 9)'``."""
  logit = config.logit
  if logit.loss == 'none':
    return 'no logit term'
  ls = 'LS x ' if logit.standardize else ''
  return f'{ls}{logit.policy} x {logit.loss} (weight {logit.weight:g})'


# ----------------------------------------------------------------------------- the term


class LogitTerm(base.Term):
  """The composed logit loss (see the module docstring); all fields come from the config.

  Attributes:
    loss: the registered divergence's name.
    policy: the registered temperature policy's name.
    standardize: LS z-score of both logit vectors before the divergence.
    weight: the term's weight (a step input ``logit_weight`` overrides it).
    temperature: ``logit.temperature`` (a step input ``logit_temperature`` overrides it).
    ce_weight: the run's CE weight (read by a divergence that owns the CE: MLKD).
    ls: ``config.ls``.
    divergence_settings: the divergence's ``settings(config)``.
    policy_settings: the policy's ``settings(config)``.
  """
  NAME: ClassVar[str] = 'logit'
  STAT_NAMES: ClassVar[tuple[str, ...]] = ('temperature_mean', 'temperature_min',
                                           'temperature_max', 'logit_correlation')

  loss: str = 'kd'
  policy: str = 'fixed'
  standardize: bool = False
  weight: float = 0.9
  temperature: float = 4.0
  ce_weight: float = 0.1
  ls: Settings = Settings.of(ddof=1, eps=1e-7, center=True, scale=True)
  divergence_settings: Settings = Settings()
  policy_settings: Settings = Settings()

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict, context: base.Context | None = None
                  ) -> 'LogitTerm':
    del context
    c = config
    return cls(
        loss=c.logit.loss, policy=c.logit.policy, standardize=bool(c.logit.standardize),
        weight=float(c.logit.weight), temperature=float(c.logit.temperature),
        ce_weight=float(c.ce_weight), ls=_typed(c.ls, ls_group()),
        divergence_settings=_DIVERGENCES[c.logit.loss].settings(c),
        policy_settings=_POLICIES[c.logit.policy].settings(c))

  @classmethod
  def epoch_scalars(cls, config: ml_collections.ConfigDict, epoch: int) -> dict[str, float]:
    return epoch_scalars(config, epoch)

  @classmethod
  def view_options(cls, config: ml_collections.ConfigDict) -> dict[str, Any]:
    return _DIVERGENCES[config.logit.loss].view_options(config)

  @property
  def divergence(self) -> type[Divergence]:
    return _DIVERGENCES[self.loss]

  @property
  def needs(self) -> base.Needs:
    return base.Needs(teacher=True, strong_view=self.divergence.STRONG_VIEW)

  @property
  def owns_ce(self) -> bool:
    return self.divergence.OWNS_CE

  @property
  def term_names(self) -> tuple[str, ...]:
    return self.divergence.TERM_NAMES

  def standardized(self, logits: Array) -> Array:
    """``logits`` z-scored with ``config.ls`` when ``standardize``, else unchanged."""
    if not self.standardize:
      return logits
    return temperature_lib.zscore(logits, ddof=self.ls.ddof, eps=self.ls.eps,
                                  center=self.ls.center, scale=self.ls.scale)

  @nn.compact
  def __call__(self, inputs: base.StepInputs, train: bool = True) -> dict[str, Array]:
    del train
    z = inputs.student.logits.astype(jnp.float32)
    v = jax.lax.stop_gradient(inputs.teacher.logits.astype(jnp.float32))
    # The weight and fixed temperature are step inputs when the trainer passes them
    # (kdjax.steps.RUNTIME_FIELDS: a sweep over them compiles once), else the fields.
    weight = inputs.scalars.get('logit_weight', self.weight)
    temperature = inputs.scalars.get('logit_temperature', self.temperature)
    fixed = self.divergence.fixed_temperature(self.divergence_settings, temperature)
    t = _POLICIES[self.policy].temperature(self, z, v, fixed, inputs.scalars)
    tf = jnp.asarray(t, jnp.float32)
    out = {'temperature_mean': jnp.mean(tf), 'temperature_min': jnp.min(tf),
           'temperature_max': jnp.max(tf),
           'logit_correlation': jnp.mean(temperature_lib.logit_correlation(z, v))}
    out.update(self.divergence.terms(self, inputs, z, v, t, weight))
    return out


# ----------------------------------------------------------------------------- registrations
# In the order of today's config groups (dkd, ttm, ctkd, max_logit, mlkd, dist).


@register_policy
class Fixed(Policy):
  """A fixed temperature: ``logit.temperature``, or the divergence's own (TTM: ``1 / gamma``)."""
  NAME = 'fixed'

  @classmethod
  def method_name(cls, loss: str, ls: str) -> str:
    return loss + ls

  @classmethod
  def temperature(cls, term, z, v, fixed, scalars):
    del term, z, v, scalars
    return fixed


@register_divergence
class KD(Divergence):
  """Hinton et al. 2015: ``weight * mean T^2 KL(softmax(v/T) || softmax(z/T))``."""
  NAME = 'kd'

  @classmethod
  def loss(cls, student, teacher, labels, *, temperature, weight, settings, scalars):
    del labels, settings, scalars
    return weight * jnp.mean(losses.kd(student, teacher, temperature=temperature))


def dkd_warmup(config: ml_collections.ConfigDict, epoch: int) -> float:
  """DKD's warm-up factor ``min(epoch / warmup_epochs, 1)``, constant within an epoch."""
  if epoch < 1:
    raise ValueError(f'epochs are counted from 1, got {epoch}')
  return min(epoch / config.dkd.warmup_epochs, 1.0)


@register_divergence
class DKD(Divergence):
  """Zhao et al., CVPR 2022: the weight multiplies alpha and beta; the warm-up the term."""
  NAME = 'dkd'
  GROUP = 'dkd'

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(alpha=1.0, beta=8.0, warmup_epochs=20))

  @classmethod
  def check_config(cls, config):
    if config.dkd.warmup_epochs < 1:
      return [f'dkd.warmup_epochs must be >= 1, got {config.dkd.warmup_epochs}']
    return []

  @classmethod
  def epoch_scalars(cls, config, epoch):
    return {'dkd_warmup': dkd_warmup(config, epoch)}

  @classmethod
  def loss(cls, student, teacher, labels, *, temperature, weight, settings, scalars):
    warmup = jnp.asarray(scalars.get('dkd_warmup', jnp.float32(1.0)), jnp.float32)
    per_example = losses.dkd(student, teacher, labels, alpha=settings.alpha * weight,
                             beta=settings.beta * weight, temperature=temperature)
    return warmup * jnp.mean(per_example)


@register_divergence
class TTM(Divergence):
  """Zheng & Yang, ICLR 2024, Eq. 10: the teacher's exponent ``gamma = 1 / T``.

  Under the fixed policy ``T = 1 / ttm.gamma``; a learned or max-logit ``T`` enters as
  ``gamma = 1 / T`` (their Eq. 9). The weight is the paper's beta.
  """
  NAME = 'ttm'
  GROUP = 'ttm'
  FUNCTION: ClassVar[Callable[..., Array]] = staticmethod(losses.ttm)

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(gamma=0.1))  # teacher exponent gamma = 1 / T

  @classmethod
  def check_config(cls, config):
    if config.ttm.gamma <= 0:
      return [f'ttm.gamma (1/T of the TTM teacher) must be > 0, got {config.ttm.gamma}']
    return []

  @classmethod
  def fixed_temperature(cls, settings, temperature):
    del temperature
    return jnp.float32(1.0 / settings.gamma)

  @classmethod
  def loss(cls, student, teacher, labels, *, temperature, weight, settings, scalars):
    del labels, settings, scalars
    gamma = 1.0 / temperature  # TTM's teacher exponent (Zheng & Yang 2024, Eq. 9: gamma = 1/T).
    return weight * jnp.mean(cls.FUNCTION(student, teacher, gamma=gamma))


@register_divergence
class WTTM(TTM):
  """Zheng & Yang, ICLR 2024, Eq. 14: TTM weighted by the teacher's power sum (``config.ttm``)."""
  NAME = 'wttm'
  FUNCTION = staticmethod(losses.wttm)


def ctkd_lambda(config: ml_collections.ConfigDict, epoch: int) -> float:
  """CTKD's gradient-reversal strength lambda(epoch) (cosine or linear schedule, epochs from 1)."""
  c = config.ctkd
  schedule = {'cosine': temperature_lib.cosine_lambda,
              'linear': temperature_lib.linear_lambda}[c.schedule]
  return float(schedule(epoch, lambda_max=c.lambda_max, lambda_min=c.lambda_min,
                        num_epochs=c.lambda_epochs))


@register_policy
class CTKD(Policy):
  """CTKD's learned temperature (Li et al., AAAI 2023; zhengli97/CTKD ``models/temp_global.py``).

  Its module is the term's submodule ``temperature`` (the checkpoint path
  ``method/logit/temperature/...``); the gradient-reversal strength is the per-epoch
  scalar ``ctkd_lambda``.
  """
  NAME = 'ctkd'
  GROUP = 'ctkd'

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(
        variant='global',  # global | instance (paper only: no released code, no numbers)
        t_start=1.0, t_range=20.0, init=1.0,  # T = t_start + t_range * sigmoid(theta)
        schedule='cosine',  # cosine | linear lambda schedule
        lambda_max=0.0, lambda_min=-1.0, lambda_epochs=10,
        hidden=64,  # instance variant: MLP width
    ))

  @classmethod
  def check_config(cls, config):
    problems = []
    if config.ctkd.variant not in ('global', 'instance'):
      problems.append(f"ctkd.variant must be 'global' or 'instance', got {config.ctkd.variant!r}")
    if config.ctkd.schedule not in ('cosine', 'linear'):
      problems.append(f"ctkd.schedule must be 'cosine' or 'linear', got {config.ctkd.schedule!r}")
    return problems

  @classmethod
  def epoch_scalars(cls, config, epoch):
    return {'ctkd_lambda': ctkd_lambda(config, epoch)}

  @classmethod
  def method_name(cls, loss: str, ls: str) -> str:
    return ('ctkd' if loss == 'kd' else f'ctkd_{loss}') + ls

  @classmethod
  def temperature(cls, term, z, v, fixed, scalars):
    del fixed
    s = term.policy_settings
    lambda_ = scalars.get('ctkd_lambda', jnp.float32(0.0))
    if s.variant == 'global':
      module = temperature_lib.GlobalTemperature(
          t_start=s.t_start, t_range=s.t_range, init_value=s.init, name='temperature')
      return module(lambda_)
    module = temperature_lib.InstanceTemperature(
        t_start=s.t_start, t_range=s.t_range, init_value=s.init, hidden_width=s.hidden,
        name='temperature')
    return module(z, v, lambda_)


@register_policy
class MaxLogit(Policy):
  """The max-logit temperature (Matsuyama et al. 2025, Algorithms 1-3), per example."""
  NAME = 'max_logit'
  GROUP = 'max_logit'

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(order=2, teacher_only=False))

  @classmethod
  def check_config(cls, config):
    if config.max_logit.order not in (1, 2):
      return [f'max_logit.order must be 1 or 2, got {config.max_logit.order}']
    return []

  @classmethod
  def method_name(cls, loss: str, ls: str) -> str:
    return f'{loss}_maxlogit' + ('' if ls == '_ls' else (ls or '_raw'))

  @classmethod
  def temperature(cls, term, z, v, fixed, scalars):
    del fixed, scalars
    return temperature_lib.max_logit(z, v, order=term.policy_settings.order,
                                     teacher_only=term.policy_settings.teacher_only,
                                     ddof=term.ls.ddof, eps=term.ls.eps)


@register_divergence
class MLKD(Divergence):
  """Jin et al., CVPR 2023: two views, its own CE over both; standardises inside ``losses.mlkd``."""
  NAME = 'mlkd'
  GROUP = 'mlkd'
  TERM_NAMES = ('ce', 'kd', 'cc', 'bc')
  OWNS_CE = True
  STRONG_VIEW = True

  @classmethod
  def view_options(cls, config):
    """The strong view is cropped as ``mlkd.strong_crop`` says."""
    return {'strong_crop': config.mlkd.strong_crop}

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(
        masking='released',  # released (scalar fractions) | per_sample (the paper's intent)
        strong_crop='independent',  # independent (both releases) | shared (the weak view's)
    ))

  @classmethod
  def check_config(cls, config):
    problems = []
    if config.mlkd.masking not in losses.MLKD_MASKINGS:
      problems.append(f'mlkd.masking must be one of {losses.MLKD_MASKINGS}, '
                      f'got {config.mlkd.masking!r}')
    if config.mlkd.strong_crop not in MLKD_STRONG_CROPS:
      problems.append(f'mlkd.strong_crop must be one of {MLKD_STRONG_CROPS}, '
                      f'got {config.mlkd.strong_crop!r}')
    return problems

  @classmethod
  def check_selected(cls, config):
    if config.logit.standardize and not (config.ls.center and config.ls.scale):
      return ['MLKD supports the full z-score only (ls.center = ls.scale = True)']
    return []

  @classmethod
  def terms(cls, term, inputs, z, v, temperature, weight):
    if inputs.student_strong is None or inputs.teacher_strong is None:
      raise ValueError('MLKD needs the strong view of student and teacher (Needs.strong_view)')
    parts = losses.mlkd(
        z, inputs.student_strong.logits.astype(jnp.float32), v,
        jax.lax.stop_gradient(inputs.teacher_strong.logits.astype(jnp.float32)),
        inputs.labels, temperature=temperature,
        ce_weight=inputs.scalars.get('ce_weight', term.ce_weight), kd_weight=weight,
        standardize=term.standardize, masking=term.divergence_settings.masking,
        ddof=term.ls.ddof, eps=term.ls.eps)
    return {name: parts[name] for name in cls.TERM_NAMES}


@register_divergence
class DIST(Divergence):
  """Huang et al., NeurIPS 2022, as zkxufo/TTM ``distiller_zoo/dist.py`` re-implements it."""
  NAME = 'dist'
  GROUP = 'dist'

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(beta=1.0, gamma=1.0))

  @classmethod
  def loss(cls, student, teacher, labels, *, temperature, weight, settings, scalars):
    del labels, scalars
    return weight * losses.dist(student, teacher, beta=settings.beta, gamma=settings.gamma,
                                temperature=temperature)


# The logit methods of the papers as presets of the schema (dotted field -> value). Their
# per-pair values (temperatures, weights, DKD's beta, TTM's gamma/beta) are in kdjax.recipes.
PRESETS = {
    'ce': {'ce_weight': 1.0, 'logit.loss': 'none', 'logit.weight': 0.0},
    # Hinton et al. 2015 as the CRD/mdistiller code runs it: T 4, CE 0.1, KD 0.9.
    'kd': {'logit.loss': 'kd', 'logit.temperature': 4.0, 'ce_weight': 0.1, 'logit.weight': 0.9},
    # Sun et al. 2024: LS with base temperature 2, CE 0.1, KD 9.
    'kd_ls': {'logit.loss': 'kd', 'logit.standardize': True, 'logit.temperature': 2.0,
              'ce_weight': 0.1, 'logit.weight': 9.0},
    # Li et al. 2023: the learned global temperature, CE 0.1, KD 0.9.
    'ctkd': {'logit.loss': 'kd', 'logit.policy': 'ctkd', 'ce_weight': 0.1, 'logit.weight': 0.9},
    'ctkd_ls': {'logit.loss': 'kd', 'logit.policy': 'ctkd', 'logit.standardize': True,
                'ce_weight': 0.1, 'logit.weight': 9.0},
    # Zhao et al. 2022: T 4, alpha 1, CE 1, 20 warm-up epochs (beta per pair).
    'dkd': {'logit.loss': 'dkd', 'logit.temperature': 4.0, 'ce_weight': 1.0, 'logit.weight': 1.0,
            'dkd.alpha': 1.0, 'dkd.warmup_epochs': 20},
    'dkd_ls': {'logit.loss': 'dkd', 'logit.standardize': True, 'logit.temperature': 2.0,
               'ce_weight': 1.0, 'logit.weight': 9.0, 'dkd.alpha': 1.0, 'dkd.warmup_epochs': 20},
    # Jin et al. 2023: T0 4, CE 0.1, KD 0.9, two views.
    'mlkd': {'logit.loss': 'mlkd', 'logit.temperature': 4.0, 'ce_weight': 0.1,
             'logit.weight': 0.9},
    'mlkd_ls': {'logit.loss': 'mlkd', 'logit.standardize': True, 'logit.temperature': 2.0,
                'ce_weight': 0.1, 'logit.weight': 9.0},
    # Zheng & Yang 2024: CE 1, (gamma, beta) per pair.
    'ttm': {'logit.loss': 'ttm', 'ce_weight': 1.0},
    'wttm': {'logit.loss': 'wttm', 'ce_weight': 1.0},
    # Seed 002 Table 6: WTTM without the cross-entropy.
    'wttm_noce': {'logit.loss': 'wttm', 'ce_weight': 0.0},
    # Huang et al. 2022 as zkxufo/TTM re-implements it (--dist_tau 4 --dist_beta 1 --dist_gamma 1,
    # -r 1); the weight 2 is DIST's own CIFAR config (kdjax.recipes has the sources).
    'dist': {'logit.loss': 'dist', 'logit.temperature': 4.0, 'ce_weight': 1.0,
             'logit.weight': 2.0, 'dist.beta': 1.0, 'dist.gamma': 1.0},
    # Matsuyama et al. 2025 (zKD+Ours, zDKD+Ours of its Table 3).
    'kd_maxlogit': {'logit.loss': 'kd', 'logit.policy': 'max_logit', 'logit.standardize': True,
                    'ce_weight': 0.1, 'logit.weight': 9.0},
    'dkd_maxlogit': {'logit.loss': 'dkd', 'logit.policy': 'max_logit',
                     'logit.standardize': True, 'ce_weight': 1.0, 'logit.weight': 9.0,
                     'dkd.alpha': 1.0, 'dkd.warmup_epochs': 20},
}
