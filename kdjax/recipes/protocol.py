"""The recipes' training protocols: CIFAR-100 (the CRD codebase's) and ImageNet (mdistiller's).

Every run starts from its dataset's protocol (``resolve`` applies it before the method's
settings); the ImageNet teachers' weights are listed here too. Cross-entropy training (method
``ce``, the teachers) is the ``scratch`` recipe: the protocol alone.
"""

from __future__ import annotations

from kdjax.recipes.core import CRD_REPO, KDJAX, MDISTILLER, Setting, register

CIFAR_SOURCE = f'{CRD_REPO} train_student.py defaults (batch 64, 240 epochs, lr 0.05, x0.1 ' \
               f'after 150/180/210, SGD momentum 0.9, wd 5e-4), kept by {MDISTILLER} ' \
               f'configs/cifar100'
CIFAR_LIGHT_LR = f'{CRD_REPO} train_student.py (lr 0.01 for MobileNetV2 / ShuffleV1 / ShuffleV2)'
CIFAR_PROTOCOL = {field: Setting(None, CIFAR_SOURCE) for field in (
    'dataset', 'epochs', 'batch_size', 'lr_decay_epochs', 'lr_decay_rate', 'momentum',
    'weight_decay')}
# The optimizer of both protocols: torch.optim.SGD (decay on every parameter, no clipping) with
# MultiStepLR (the schema's defaults optimizer='sgd', nesterov=False, lr_schedule='step',
# weight_decay_mask='all', grad_clip_norm=0).
_SGD_FIELDS = ('optimizer', 'nesterov', 'lr_schedule', 'weight_decay_mask', 'grad_clip_norm')
CIFAR_PROTOCOL.update({field: Setting(None, f'{CRD_REPO} train_student.py: optim.SGD over '
                                            f'every parameter + MultiStepLR')
                       for field in _SGD_FIELDS})

IMAGENET_SOURCE = f'{MDISTILLER} configs/imagenet/r34_r18/kd.yaml SOLVER'
IMAGENET_PROTOCOL = {
    'dataset': Setting('imagenet2012', IMAGENET_SOURCE),
    'epochs': Setting(100, IMAGENET_SOURCE),
    'batch_size': Setting(512, IMAGENET_SOURCE),
    'lr': Setting(0.2, IMAGENET_SOURCE),
    'lr_decay_epochs': Setting((30, 60, 90), IMAGENET_SOURCE),
    'lr_decay_rate': Setting(0.1, IMAGENET_SOURCE),
    'momentum': Setting(0.9, IMAGENET_SOURCE),
    'weight_decay': Setting(1e-4, IMAGENET_SOURCE),
    **{field: Setting(None, f'{MDISTILLER} mdistiller/engine/trainer.py init_optimizer: '
                            f'optim.SGD over every parameter, step decay')
       for field in _SGD_FIELDS},
    'eval_batch_size': Setting(500, f'{KDJAX}: evaluation batch (any value gives the same '
                                    f'numbers)'),
}
# Reproduction cells run float32 at full precision (jax 'highest'): the papers do not say which
# GPUs they used; pre-Ampere GPUs (V100, seed 000's) compute fp32 exactly, while PyTorch >= 1.7 on
# Ampere runs fp32 convolutions in TF32 (cudnn.allow_tf32 defaults to True). 'default' (TF32 on
# GPUs) is the faster alternative.
# Its source is kdjax's (not ``default:``, which marks a per-pair value no reference gives).
PRECISION = Setting('highest', f'{KDJAX}: full float32 (the papers name no GPU; V100 runs '
                               f'were full fp32)')

# mdistiller's batch-256 ImageNet SOLVER (configs/imagenet/{r34_r18,r50_mv1}/{crd,reviewkd}.yaml).
IN_SCHEDULE = ('batch_size', 'lr', 'epochs', 'lr_decay_epochs', 'lr_decay_rate', 'momentum',
               'weight_decay')
IN_SCHEDULE_VALUES = (256, 0.1, 100, (30, 60, 90), 0.1, 0.9, 1e-4)

IMAGENET_TEACHERS = {
    'resnet34': 'torchvision resnet34-333f7ec4.pth (IMAGENET1K_V1, 73.31% top-1)',
    'resnet50': 'torchvision resnet50-19c8e357.pth (IMAGENET1K_V1, 76.13% top-1; not today\'s '
                'default IMAGENET1K_V2 weights)',
    # Seed 002 Table 7's stronger teachers (its 77.37 / 78.31 are these weights' accuracies).
    'resnet101': 'torchvision resnet101-5d3b4d8f.pth (IMAGENET1K_V1, 77.37% top-1)',
    'resnet152': 'torchvision resnet152-b121ed2d.pth (IMAGENET1K_V1, 78.31% top-1)',
}

register('ce', preset_source=f'{CRD_REPO} train_teacher.py (cross-entropy only)',
         own_recipe='scratch')
