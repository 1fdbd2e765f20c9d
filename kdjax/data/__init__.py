"""Data: CIFAR-100 / digits in memory, ImageNet on grain, on-device augmentation.

Host side, `load(name, split=...)` returns an `ArrayDataset` of uint8 NHWC images;
`epoch_permutation` / `batch_indices` pick each step's examples and
`example_keys` gives each example its PRNG key. Device side, `train_view`,
`strong_view` and `test_view` turn uint8 batches into normalised float inputs.
"""

from kdjax.data import imagenet
from kdjax.data.arrays import ArrayDataset
from kdjax.data.arrays import DatasetCorruptError
from kdjax.data.arrays import DatasetNotFoundError
from kdjax.data.arrays import default_data_dir
from kdjax.data.augment import apply_crop_flip
from kdjax.data.augment import crop_flip
from kdjax.data.augment import crop_flip_params
from kdjax.data.augment import cutout
from kdjax.data.augment import cutout_params
from kdjax.data.augment import normalize
from kdjax.data.augment import strong_view
from kdjax.data.augment import test_view
from kdjax.data.augment import train_view
from kdjax.data.batching import batch_indices
from kdjax.data.batching import epoch_permutation
from kdjax.data.batching import example_keys
from kdjax.data.batching import num_batches
from kdjax.data.cifar import CIFAR100_MEAN
from kdjax.data.cifar import CIFAR100_STD
from kdjax.data.imagenet import IMAGENET_MEAN
from kdjax.data.imagenet import IMAGENET_STD
from kdjax.data.loading import load
from kdjax.data.loading import stats
from kdjax.data.image_ops import randaugment
from kdjax.data.image_ops import randaugment_params

__all__ = [
    'ArrayDataset', 'CIFAR100_MEAN', 'CIFAR100_STD', 'DatasetCorruptError',
    'DatasetNotFoundError', 'IMAGENET_MEAN', 'IMAGENET_STD', 'apply_crop_flip',
    'batch_indices', 'crop_flip', 'crop_flip_params', 'cutout', 'cutout_params',
    'default_data_dir', 'epoch_permutation', 'example_keys', 'imagenet', 'load',
    'normalize', 'num_batches', 'randaugment', 'randaugment_params', 'stats', 'strong_view', 'test_view', 'train_view',
]
