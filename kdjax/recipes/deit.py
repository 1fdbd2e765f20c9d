"""The DeiT recipe of seed 002 Table 13 (``deit_imagenet``): yzd-v/cls_KD on mmcls 1.x.

Seed 002 (Zheng & Yang, ICLR 2024) distils DeiT III-Small into DeiT-Tiny on ImageNet with
yzd-v/cls_KD (zkxufo/TTM README: "we employ this repo"); its runs are
``configs/distillers/imagenet/deit-s3_distill_deit-t_img.py``, whose student config is mmcls's
``configs/deit/deit-tiny_pt-4xb256_in1k.py`` (-> ``deit-small_pt-4xb256_in1k.py`` -> the
``_base_`` files ``datasets/imagenet_bs64_swin_224.py``, ``schedules/imagenet_bs1024_adamw_swin.py``),
trained on 4 GPUs (cls_KD ``vitkd.md``: ``tools/dist_train.sh <config> 4``).

Every setting below names its file; the method settings are the distiller config's loss entries
(``ClassificationDistiller`` adds the student's label-smoothed CE and the distillation losses).
Differences from the reference that remain:

* mmcls steps the cosine once per epoch after a per-iteration warm-up (``CosineAnnealingLR``
  ``by_epoch=True``, ``LinearLR`` ``convert_to_iter_based=True``); kdjax's cosine here is per
  update (``lr_schedule_unit='step'``), which differs from the epoch staircase by under one
  epoch's cosine step (at most ``pi / 280 / 2`` of the peak lr).
* mmcls mixes each GPU's 256 examples with a random permutation of them (``torch.randperm``);
  kdjax mixes the global batch with its reverse (timm's batch mode). Both draw one lambda and
  one Mixup-or-CutMix choice per mixed batch.
* RandAugment's geometric ops: see ``kdjax.data.host_augment`` (OpenCV's fixed-point bicubic
  warp, matched to one level).
"""

from __future__ import annotations

from kdjax.recipes.core import DEFAULT, Setting, register, register_recipe
from kdjax.recipes.nkd import NKD_REPO
from kdjax.recipes.ttm import WTTM

CLS_KD = NKD_REPO  # yzd-v/cls_KD
_DISTILLER = f'{CLS_KD} configs/distillers/imagenet/deit-s3_distill_deit-t_img.py'
_DEIT_S = f'{CLS_KD} configs/deit/deit-small_pt-4xb256_in1k.py (base of deit-tiny_pt-4xb256_in1k.py)'
_DATA = f'{CLS_KD} configs/_base_/datasets/imagenet_bs64_swin_224.py train_pipeline'
_TEST = f'{CLS_KD} configs/_base_/datasets/imagenet_bs64_swin_224.py test_pipeline (ResizeEdge ' \
        f'256 short edge, pillow bicubic; CenterCrop 224)'
_SCHEDULE = f'{CLS_KD} configs/_base_/schedules/imagenet_bs1024_adamw_swin.py'
_GPUS = f'{CLS_KD} vitkd.md (tools/dist_train.sh deit-s3_distill_deit-t_img.py 4)'


def _s(value, source: str) -> Setting:
  return Setting(value, source)


_UNUSED = f'unused: {_SCHEDULE} trains with AdamW and a cosine schedule'
DEIT_PROTOCOL = {
    'dataset': _s('imagenet2012', f'{_DATA} (ImageNet-1k, data_root data/imagenet)'),
    **{field: _s(None, _UNUSED) for field in ('momentum', 'nesterov', 'lr_decay_epochs',
                                             'lr_decay_rate')},
    'epochs': _s(300, f'{_SCHEDULE} train_cfg max_epochs'),
    'batch_size': _s(1024, f'{_DEIT_S} train_dataloader batch_size 256 x 4 GPUs ({_GPUS})'),
    'optimizer': _s('adamw', f'{_SCHEDULE} optim_wrapper AdamW'),
    'lr': _s(1e-3, f'{_SCHEDULE} lr = 5e-4 * 1024 / 512'),
    'weight_decay': _s(0.05, f'{_SCHEDULE} weight_decay'),
    'adam_b1': _s(0.9, f'{_SCHEDULE} betas (0.9, 0.999)'),
    'adam_b2': _s(0.999, f'{_SCHEDULE} betas (0.9, 0.999)'),
    'adam_eps': _s(1e-8, f'{_SCHEDULE} eps'),
    'weight_decay_mask': _s('no_bias_norm', f'{_DEIT_S} paramwise_cfg (norm_decay_mult 0, '
                                            f'bias_decay_mult 0, .cls_token and .pos_embed '
                                            f'decay_mult 0) + {_SCHEDULE} (flat_decay_mult 0)'),
    'grad_clip_norm': _s(5.0, f'{_DEIT_S} optim_wrapper clip_grad max_norm'),
    'lr_schedule': _s('cosine', f'{_SCHEDULE} param_scheduler (LinearLR, then CosineAnnealingLR)'),
    'lr_schedule_unit': _s('step', f'{_SCHEDULE} LinearLR convert_to_iter_based (the warm-up per '
                                   f'update; mmcls steps the cosine per epoch: kdjax.recipes.deit)'),
    'warmup_epochs': _s(20, f'{_SCHEDULE} LinearLR end=20 (CosineAnnealingLR begin=20)'),
    'warmup_lr': _s(1e-6, f'{_SCHEDULE} LinearLR start_factor 1e-3 x lr 1e-3'),
    'min_lr': _s(1e-5, f'{_SCHEDULE} CosineAnnealingLR eta_min'),
    'label_smoothing': _s(0.1, f'{_DEIT_S} head loss LabelSmoothLoss(label_smooth_val=0.1, '
                               f'mode=original), applied to the mixed targets'),
    'mixup_alpha': _s(0.8, f'{_DEIT_S} train_cfg augments Mixup(alpha=0.8)'),
    'cutmix_alpha': _s(1.0, f'{_DEIT_S} train_cfg augments CutMix(alpha=1.0)'),
    'mix_prob': _s(1.0, f'{CLS_KD} mmcls/models/utils/batch_augments/wrapper.py '
                        f'RandomBatchAugment (probs None: every batch mixed)'),
    'mix_switch_prob': _s(0.5, f'{CLS_KD} mmcls/models/utils/batch_augments/wrapper.py '
                               f'RandomBatchAugment (probs None: Mixup or CutMix uniformly)'),
    'image_interpolation': _s('bicubic', f'{_DATA} RandomResizedCrop(backend=pillow, '
                                         f'interpolation=bicubic); {_TEST}'),
    'randaugment': _s('timm_increasing', f'{_DATA} RandAugment(policies=timm_increasing)'),
    'randaugment_num_ops': _s(2, f'{_DATA} RandAugment num_policies'),
    'randaugment_magnitude': _s(9.0, f'{_DATA} RandAugment magnitude_level (total_level 10)'),
    'randaugment_magnitude_std': _s(0.5, f'{_DATA} RandAugment magnitude_std'),
    'random_erasing_prob': _s(0.25, f'{_DATA} RandomErasing(erase_prob=0.25, mode=rand)'),
}

# The distiller config's losses (one is switched on per run: kd / nkd / vitkd flags).
_KD = f'{_DISTILLER} KDLoss(temp=1.0, alpha=0.5); {CLS_KD} mmcls/models/dis_losses/kd.py ' \
      f'(CE x (1 - alpha) + alpha x T^2 x CE(teacher, student))'
_NKD = f'{_DISTILLER} NKDLoss(temp=1.0, gamma=1.0); mmcls/models/classifiers/distiller.py ' \
       f'(CE + loss_nkd, unweighted)'
DEIT_KD = {'ce_weight': _s(0.5, _KD), 'logit.weight': _s(0.5, _KD),
           'logit.temperature': _s(1.0, _KD)}
DEIT_NKD = {'ce_weight': _s(1.0, _NKD), 'logit.weight': _s(1.0, _NKD),
            'nkd.temperature': _s(1.0, _NKD), 'nkd.gamma': _s(1.0, _NKD)}
# WTTM on DeiT: neither seed 002 nor zkxufo/TTM gives (gamma, beta) for DeiT; the ImageNet row
# of seed 002 (ResNet34 -> ResNet18) is used, marked as a default.
_WTTM_IN = WTTM.rows[('resnet34', 'resnet18')]
_WTTM_WHY = f'{DEFAULT}: no WTTM setting is published for DeiT III-Small -> DeiT-Tiny (seed 002 ' \
            f'Table 13, zkxufo/TTM README); the ImageNet ResNet34 -> ResNet18 row ({_WTTM_IN[1]})'
DEIT_WTTM = {'ce_weight': _s(1.0, f'{_WTTM_WHY}; CE + beta x WTTM'),
             'ttm.gamma': _s(_WTTM_IN[0][0], _WTTM_WHY),
             'logit.weight': _s(_WTTM_IN[0][1], _WTTM_WHY)}

register_recipe('deit_imagenet', settings=DEIT_PROTOCOL, closed=(CLS_KD, 'imagenet'))
register('kd', settings={'deit_imagenet': DEIT_KD})
register('nkd', settings={'deit_imagenet': DEIT_NKD})
register('wttm', settings={'deit_imagenet': DEIT_WTTM})
# The DeiT-Tiny student trained alone: the same recipe with its label-smoothed CE.
register('ce', settings={'deit_imagenet': {}})
