"""KD++ (Wang et al., ICCV 2023) as its release (WangYZ1608/Knowledge-Distillation-via-ND) trains
it on ImageNet: seed 002 Table 5's KD++ rows.

``ImageNet/train_kd.py`` (argument defaults and its training loop) with the factors of
``ImageNet/train.sh`` per pair. Difference from kdjax's ``imagenet`` protocol (mdistiller's
batch-512 SOLVER, the same batch, lr, epochs, steps and decay): Nesterov momentum
(``torch.optim.SGD(..., nesterov=True)``), decay on every parameter as there.
"""

from __future__ import annotations

from kdjax.recipes.core import IN_MV1, IN_R18, KDJAX, Setting, register, sourced, table

KDPP_REPO = 'WangYZ1608/Knowledge-Distillation-via-ND'
_KDPP_SCRIPT = f'{KDPP_REPO} ImageNet/train_kd.py'
_KDPP_LOSS = f'{_KDPP_SCRIPT} (cls_loss_factor * CE + kd_loss_factor * min(1, epoch / warm_up) ' \
             f'* KDLoss(T) + DirectNormLoss * nd_loss_factor; defaults --cls_loss_factor 1, ' \
             f'--kd_loss_factor 1, --nd_loss_factor 1, --t 1, --warm_up 5)'
_KDPP_TRAIN_SH = f'{KDPP_REPO} ImageNet/train.sh (KD++ factors per pair: ' \
                 f'"1.0*cls + a*kd + b*nd"; --batch_size 512 --lr 0.2)'
# train_kd.py: optim.SGD(model.parameters(), lr, momentum 0.9, nesterov=True, weight_decay 1e-4)
# (the student with its EmbTrans), lr x0.1 at epochs 30, 60, 90 of --epochs 100;
# Dataset/ImageNet.py: RandomResizedCrop(224) + flip; test resize 256, crop 224.
_KDPP_SOLVER = f'{_KDPP_SCRIPT} (--epochs 100, --momentum 0.9, --weight_decay 1e-4; ' \
               f'optim.SGD(nesterov=True) over every parameter; lr x0.1 at epochs 30/60/90) ' \
               f'with {_KDPP_TRAIN_SH}'
_SOLVER_FIELDS = ('batch_size', 'lr', 'epochs', 'lr_decay_epochs', 'lr_decay_rate', 'momentum',
                  'weight_decay', 'nesterov', 'weight_decay_mask')
KDPP_IMAGENET = {
    **sourced(('ce_weight', 'feature.weight', 'kdpp.temperature', 'kdpp.warmup_epochs'),
              (1.0, 1.0, 1.0, 5.0), _KDPP_LOSS),
    **sourced(_SOLVER_FIELDS, (512, 0.2, 100, (30, 60, 90), 0.1, 0.9, 1e-4, True, 'all'),
              _KDPP_SOLVER),
    # The release precomputes the centres (ImageNet/emb_fea_distribution.py: one pass of the
    # training set, training augmentation); kdjax takes the same pass from the first epoch.
    'kdpp.center_epochs': Setting(1, f'{KDJAX}: the teacher embeddings of one augmented pass of '
                                     f'the training set make the class centres, as '
                                     f'{KDPP_REPO} ImageNet/emb_fea_distribution.py computes '
                                     f'them before training')}
# ImageNet/train.sh's table of (kd_loss_factor, nd_loss_factor) per teacher -> student.
KDPP_FACTORS = table('KD++ (kd_loss_factor, nd_loss_factor)', ('kdpp.kd_weight', 'kdpp.nd_weight'),
                     _KDPP_TRAIN_SH, {
                         IN_R18: (2.5, 1.0), ('resnet50', 'resnet18'): (4.0, 1.0),
                         ('resnet101', 'resnet18'): (3.5, 4.0),
                         ('resnet152', 'resnet18'): (4.0, 2.0), IN_MV1: (4.0, 1.0)})

register('kdpp', preset_source=_KDPP_LOSS, settings={'imagenet': KDPP_IMAGENET},
         tables={'imagenet': (KDPP_FACTORS,)})
