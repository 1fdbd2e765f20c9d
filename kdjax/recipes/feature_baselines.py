"""FitNet, AT, RKD, PKT, VID and OFD as mdistiller and the CRD codebase (RepDistiller) run them.

Seed 001's rows of these baselines are mdistiller's published numbers, seed 002's the CRD
codebase's (which has no OFD: mdistiller's, as a default); seed 000 gives no settings
(mdistiller's, as a default); ImageNet: mdistiller's configs/imagenet (AT, OFD; the others
have none there, so their CIFAR values, as a default).
"""

from __future__ import annotations

from typing import Any, Mapping

from kdjax.recipes.core import (CRD_REPO, DEFAULT, MDISTILLER, SEED000_DEFAULT, Setting,
                                register)
from kdjax.recipes.protocol import IMAGENET_PROTOCOL

_MD_CFG = f'{MDISTILLER} mdistiller/engine/cfg.py'
_RD_SCRIPT = f'{CRD_REPO} scripts/run_cifar_distill.sh'
_PRESET_SOURCES = {  # where each preset comes from
    'fitnet': f'{_MD_CFG} (FITNET: CE 1, FEAT 100, HINT_LAYER 2) = {_RD_SCRIPT} '
              f'(--distill hint -a 0 -b 100, -r default 1)',
    'at': f'{_MD_CFG} (AT: P 2, CE 1, FEAT 1000) = {_RD_SCRIPT} (--distill attention -a 0 '
          f'-b 1000, -r default 1)',
    'rkd': f'{_MD_CFG} (RKD: CE 1, FEAT 1, DISTANCE_WEIGHT 25, ANGLE_WEIGHT 50) = {_RD_SCRIPT} '
           f'(--distill rkd -a 0 -b 1, -r default 1)',
    'pkt': f'{_MD_CFG} (PKT: CE 1, FEAT 30000) = {_RD_SCRIPT} (--distill pkt -a 0 -b 30000, '
           f'-r default 1)',
    'vid': f'{_MD_CFG} (VID: CE 1, FEAT 1, INIT_PRED_VAR 5) = {_RD_SCRIPT} (--distill vid -a 0 '
           f'-b 1, -r default 1)',
    'ofd': f'{_MD_CFG} (OFD: CE 1, FEAT 0.001, CONNECTOR.KERNEL_SIZE 1; {CRD_REPO} has no OFD)',
}

# What each codebase sets per feature method (besides the CIFAR protocol): {method: {field:
# (value, what the file says)}}. mdistiller: cfg.py values (its configs/cifar100/<method>.yaml
# files set only the solver, the protocol); RepDistiller: the -r/-b of its script and the
# defaults of train_student.py / distiller_zoo.
_MD_YAML = f'{MDISTILLER} configs/cifar100/{{method}}.yaml (no {{section}} section) + ' \
           f'mdistiller/engine/cfg.py'
_MD_VALUES = {
    'fitnet': ('FITNET', {'ce_weight': (1.0, 'FITNET.LOSS.CE_WEIGHT'),
                          'feature.weight': (100.0, 'FITNET.LOSS.FEAT_WEIGHT'),
                          'fitnet.hint_layer': (2, 'FITNET.HINT_LAYER')}),
    'at': ('AT', {'ce_weight': (1.0, 'AT.LOSS.CE_WEIGHT'),
                  'feature.weight': (1000.0, 'AT.LOSS.FEAT_WEIGHT'), 'at.p': (2.0, 'AT.P')}),
    'rkd': ('RKD', {'ce_weight': (1.0, 'RKD.LOSS.CE_WEIGHT'),
                    'feature.weight': (1.0, 'RKD.LOSS.FEAT_WEIGHT'),
                    'rkd.distance_weight': (25.0, 'RKD.DISTANCE_WEIGHT'),
                    'rkd.angle_weight': (50.0, 'RKD.ANGLE_WEIGHT')}),
    'pkt': ('PKT', {'ce_weight': (1.0, 'PKT.LOSS.CE_WEIGHT'),
                    'feature.weight': (30000.0, 'PKT.LOSS.FEAT_WEIGHT')}),
    'vid': ('VID', {'ce_weight': (1.0, 'VID.LOSS.CE_WEIGHT'),
                    'feature.weight': (1.0, 'VID.LOSS.FEAT_WEIGHT'),
                    'vid.init_pred_var': (5.0, 'VID.INIT_PRED_VAR')}),
    'ofd': ('OFD', {'ce_weight': (1.0, 'OFD.LOSS.CE_WEIGHT'),
                    'feature.weight': (0.001, 'OFD.LOSS.FEAT_WEIGHT'),
                    'ofd.connector_kernel': (1, 'OFD.CONNECTOR.KERNEL_SIZE')}),
}
# The two behaviours of mdistiller's distillers that are code, not config.
_MD_VID_LOG_SCALE = Setting(False, f'{MDISTILLER} mdistiller/distillers/VID.py (self.log_scales '
                                   f'is a plain list: not registered, not trained; variance 5)')
_MD_OFD_TEACHER_BN = Setting(True, f'{MDISTILLER} mdistiller/distillers/OFD.py (OFD.train() '
                                   f'never calls teacher.eval(): batch-statistics BN)')


def _mdistiller(method: str, prefix: str = '') -> dict[str, Setting]:
  """mdistiller's settings of ``method``, each sourced (``prefix`` before every source)."""
  section, values = _MD_VALUES[method]
  yaml = _MD_YAML.format(method=method, section=section)
  out = {field: Setting(value, f'{prefix}{yaml} {key}')
         for field, (value, key) in values.items()}
  if method == 'vid':
    out['vid.train_log_scale'] = Setting(False, prefix + _MD_VID_LOG_SCALE.source)
  if method == 'ofd':
    out['ofd.teacher_train_bn'] = Setting(True, prefix + _MD_OFD_TEACHER_BN.source)
  return out


_RD_TRAIN = f'{CRD_REPO} train_student.py'
_RD_VALUES = {  # method: {field: (value, source)}; -r is never passed: its default 1.
    'fitnet': {'ce_weight': (1.0, f'{_RD_TRAIN} (-r default 1)'),
               'feature.weight': (100.0, f'{_RD_SCRIPT} (--distill hint -b 100)'),
               'fitnet.hint_layer': (2, f'{_RD_TRAIN} (--hint_layer default 2)')},
    'at': {'ce_weight': (1.0, f'{_RD_TRAIN} (-r default 1)'),
           'feature.weight': (1000.0, f'{_RD_SCRIPT} (--distill attention -b 1000)'),
           'at.p': (2.0, f'{CRD_REPO} distiller_zoo/AT.py (Attention(p=2))')},
    'rkd': {'ce_weight': (1.0, f'{_RD_TRAIN} (-r default 1)'),
            'feature.weight': (1.0, f'{_RD_SCRIPT} (--distill rkd -b 1)'),
            'rkd.distance_weight': (25.0, f'{CRD_REPO} distiller_zoo/RKD.py (w_d=25)'),
            'rkd.angle_weight': (50.0, f'{CRD_REPO} distiller_zoo/RKD.py (w_a=50)')},
    'pkt': {'ce_weight': (1.0, f'{_RD_TRAIN} (-r default 1)'),
            'feature.weight': (30000.0, f'{_RD_SCRIPT} (--distill pkt -b 30000)')},
    'vid': {'ce_weight': (1.0, f'{_RD_TRAIN} (-r default 1)'),
            'feature.weight': (1.0, f'{_RD_SCRIPT} (--distill vid -b 1)'),
            'vid.init_pred_var': (5.0, f'{CRD_REPO} distiller_zoo/VID.py (init_pred_var=5.0)'),
            'vid.train_log_scale': (True, f'{_RD_TRAIN} (the VIDLoss modules, log_scale '
                                          f'included, are appended to trainable_list: SGD with '
                                          f'weight decay)')},
}
_IMAGENET_NONE = f'{MDISTILLER} configs/imagenet has no {{method}} config (only kd, at, ofd, ' \
                 f'crd, reviewkd, dkd, dot)'
_IMAGENET_SOLVER = ('batch_size', 'epochs', 'lr', 'lr_decay_epochs', 'lr_decay_rate',
                    'weight_decay', 'momentum')


def _imagenet(method: str, source: str, solver: Mapping[str, Any]) -> dict[str, Setting]:
  """An ImageNet config of mdistiller: its SOLVER, and cfg.py for what it leaves out."""
  _, values = _MD_VALUES[method]
  out = {field: Setting(value, f'{source} SOLVER') for field, value in solver.items()}
  out.update({field: Setting(value, f'{source} (no {key}: mdistiller/engine/cfg.py\'s)')
              for field, (value, key) in values.items()})
  return out


def _imagenet_at() -> dict[str, Setting]:
  return _imagenet('at', f'{MDISTILLER} configs/imagenet/r34_r18/at.yaml, r50_mv1/at.yaml',
                   {field: IMAGENET_PROTOCOL[field].value for field in _IMAGENET_SOLVER})


def _imagenet_ofd() -> dict[str, Setting]:
  source = f'{MDISTILLER} configs/imagenet/r50_mv1/ofd.yaml (the only ImageNet OFD config)'
  out = _imagenet('ofd', source, dict(batch_size=128, epochs=100, lr=0.05,
                                      lr_decay_epochs=(30, 60, 90), lr_decay_rate=0.1,
                                      weight_decay=1e-4, momentum=0.9))
  out['feature.weight'] = Setting(0.0001, f'{source} OFD.LOSS.FEAT_WEIGHT')
  out['ofd.teacher_train_bn'] = _MD_OFD_TEACHER_BN
  return out



def _settings_of(method: str) -> dict[str, dict[str, Setting]]:
  """``{recipe: settings}`` of ``method`` (see the module docstring)."""
  settings = {'seed001': _mdistiller(method),
              'seed000': _mdistiller(method, SEED000_DEFAULT)}
  if method in _RD_VALUES:
    settings['seed002'] = {field: Setting(value, source)
                           for field, (value, source) in _RD_VALUES[method].items()}
  else:
    settings['seed002'] = _mdistiller(method, f'{DEFAULT}: {CRD_REPO} has no {method}; '
                                              f'mdistiller\'s: ')
  if method == 'at':
    settings['imagenet'] = _imagenet_at()
  elif method == 'ofd':
    settings['imagenet'] = _imagenet_ofd()
  else:
    settings['imagenet'] = _mdistiller(
        method, f'{DEFAULT}: {_IMAGENET_NONE.format(method=method)}; the CIFAR values of ')
  return settings


for _method in _MD_VALUES:
  register(_method, preset_source=_PRESET_SOURCES[_method], settings=_settings_of(_method))
