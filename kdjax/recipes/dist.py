"""DIST (Huang et al., NeurIPS 2022) as seed 002 runs it, and DIST's codebase's ImageNet recipe.

CIFAR-100: the TTM repository's flags (zkxufo/TTM) with DIST's CIFAR weight; ImageNet: DIST's
codebase (hunto/image_classification_sota), which is also the ``dist_imagenet`` recipe (DIST
and seed 002 Table 7's "KD (T=4)" row). Seed 000 re-ran DIST without giving its settings: seed
002's, marked as a default.
"""

from __future__ import annotations

from kdjax.recipes.core import (SEED000_BASELINE, TTM_REPO, Setting, defaulted, register,
                                register_recipe)
from kdjax.recipes.ttm import TTM_FLAGS

DIST_CODE = 'hunto/image_classification_sota'  # the code of DIST's repository hunto/DIST_KD
_DIST_TTM = f'{TTM_FLAGS} (--dist_tau 4 --dist_beta 1 --dist_gamma 1 = distiller_zoo/dist.py DIST)'
_DIST_CIFAR = f'{DIST_CODE} configs/strategies/distill/dist_cifar.yaml (ori_loss_weight 1, ' \
              f'kd_loss_weight 2, kd dist_t4 = DIST(beta 1, gamma 1, tau 4))'
SEED002_DIST = {
    'ce_weight': Setting(1.0, f'{TTM_FLAGS} (-r default 1) = {_DIST_CIFAR}'),
    'logit.temperature': Setting(4.0, _DIST_TTM), 'dist.beta': Setting(1.0, _DIST_TTM),
    'dist.gamma': Setting(1.0, _DIST_TTM),
    # TTM publishes no -b for DIST (no command; -b has no default); seed 002's DIST numbers are
    # DIST's own README's (hunto/DIST_KD), whose CIFAR config weighs the loss by 2.
    'logit.weight': Setting(2.0, f'{_DIST_CIFAR}; {TTM_REPO} publishes no -b for --distill dist '
                                 f'and seed 002\'s DIST row equals hunto/DIST_KD README\'s')}
# ImageNet (seed 002 Tables 5 and 7 quote DIST's README): configs/strategies/distill/
# resnet_dist.yaml on 8 GPUs (README: tools/dist_train.sh 8), batch 32 each.
# Its tools/train.py builds SGD with Nesterov momentum and no weight decay on biases and BN
# (--sgd-no-nesterov / --opt-no-filter not set; lib/utils/optim.py: no decay where
# len(param.shape) == 1 or the name ends in .bias): nesterov=True, weight_decay_mask='no_bias_norm'.
_DIST_SGD = f'{DIST_CODE} tools/train.py + lib/utils/optim.py: Nesterov SGD without weight ' \
            f'decay on biases and BN (one-dimensional parameters)'
_SGD_FIELDS = {'nesterov': True, 'weight_decay_mask': 'no_bias_norm'}
_DIST_IN = f'{DIST_CODE} configs/strategies/distill/resnet_dist.yaml (8 GPUs x batch 32, lr 0.1, ' \
           f'decay x0.1 every 30 epochs, 100 epochs, wd 1e-4, ori 1, kd_loss_weight 2, kd dist = ' \
           f'DIST(beta 1, gamma 1, tau 1): lib/models/losses/kd_loss.py; {_DIST_SGD})'
# Seed 002 Table 7's KD row is DIST's README "KD (T=4)" column (hunto/DIST_KD), trained with
# configs/strategies/distill/resnet_kdt4.yaml: kd 'kdt4' = KLDivergence(tau 4) x tau^2 (batch
# mean; lib/models/losses/kl_div.py), ori_loss_weight 0.9, kd_loss_weight 1.0, the same solver as
# resnet_dist.yaml (8 GPUs x batch 32, lr 0.1, step x0.1 every 30 epochs, 100 epochs, wd 1e-4,
# label smoothing 0).
_KD_T4_IN = f'{DIST_CODE} configs/strategies/distill/resnet_kdt4.yaml (kd kdt4: T 4, ' \
            f'ori_loss_weight 0.9, kd_loss_weight 1.0; 8 GPUs (hunto/DIST_KD README: ' \
            f'tools/dist_train.sh 8) x batch 32, lr 0.1, decay_epochs 30 x0.1, 100 epochs, wd ' \
            f'1e-4, smoothing 0; {_DIST_SGD})'
KD_T4_IMAGENET = {
    'ce_weight': Setting(0.9, _KD_T4_IN), 'logit.weight': Setting(1.0, _KD_T4_IN),
    'logit.temperature': Setting(4.0, _KD_T4_IN), 'batch_size': Setting(256, _KD_T4_IN),
    'lr': Setting(0.1, _KD_T4_IN), 'epochs': Setting(100, _KD_T4_IN),
    'lr_decay_epochs': Setting((30, 60, 90), _KD_T4_IN),
    'lr_decay_rate': Setting(0.1, _KD_T4_IN), 'momentum': Setting(0.9, _KD_T4_IN),
    'weight_decay': Setting(1e-4, _KD_T4_IN),
    **{field: Setting(value, _DIST_SGD) for field, value in _SGD_FIELDS.items()}}
DIST_IMAGENET = {
    'ce_weight': Setting(1.0, _DIST_IN), 'logit.weight': Setting(2.0, _DIST_IN),
    'logit.temperature': Setting(1.0, _DIST_IN), 'dist.beta': Setting(1.0, _DIST_IN),
    'dist.gamma': Setting(1.0, _DIST_IN), 'batch_size': Setting(256, _DIST_IN),
    'lr': Setting(0.1, _DIST_IN), 'epochs': Setting(100, _DIST_IN),
    'lr_decay_epochs': Setting((30, 60, 90), _DIST_IN), 'weight_decay': Setting(1e-4, _DIST_IN),
    **{field: Setting(value, _DIST_SGD) for field, value in _SGD_FIELDS.items()}}

register_recipe('dist_imagenet', closed=(DIST_CODE, 'imagenet'))
register('kd', settings={'dist_imagenet': KD_T4_IMAGENET})
register('dist', preset_source=f'{_DIST_TTM}; -r 1; weight: {_DIST_CIFAR}', own_recipe='seed002',
         settings={'seed002': SEED002_DIST, 'seed000': defaulted(SEED002_DIST, SEED000_BASELINE),
                   'imagenet': DIST_IMAGENET, 'dist_imagenet': DIST_IMAGENET})
