r"""ImageNet distillation: ResNet34 -> ResNet18 and ResNet50 -> MobileNetV1 (the papers' ImageNet tables).

  python -m experiments.imagenet --config=experiments/configs/imagenet.py:resnet34-resnet18-kd_ls \
      --config.data_dir=$TFDS_DATA_DIR --config.teacher_checkpoint=resnet34-333f7ec4.pth \
      --config.num_workers=32 --workdir=runs/in-r34-r18-kd_ls

This runs the same training loop as every other dataset (``kdjax.train.train_and_evaluate``); what is
ImageNet's lives in the data source and the recipe:

* **Data**: TFDS ``imagenet2012`` in ArrayRecord format, read with random access and decoded on the
  host by grain workers (``kdjax.data.sources.StreamingSource``): torchvision's
  ``RandomResizedCrop(224)`` + flip for training (MLKD's strong view draws its own crop and flip,
  then RandAugment + Cutout on the device), resize 256 / centre crop 224 for the 50,000 validation
  images. Prepare it once, on a machine with TensorFlow: get ``ILSVRC2012_img_train.tar`` and
  ``ILSVRC2012_img_val.tar`` from https://image-net.org, then ``tfds build imagenet2012
  --manual_dir <dir with the tars> --data_dir $TFDS_DATA_DIR --file_format=array_record``.
  ``--config.checkpoint_every_steps=1000`` also saves mid-epoch (with the loader's position), so a
  preempted run loses minutes, not an epoch; SIGTERM saves before it stops.
* **Teachers**: the torchvision V1 weights the reference runs used, ``resnet34-333f7ec4.pth``
  (73.31% top-1) and ``resnet50-19c8e357.pth`` (``IMAGENET1K_V1``, 76.13%; NOT torchvision's
  current default ``IMAGENET1K_V2``, 80.86%), converted on load (``--config.teacher_checkpoint``
  takes the ``.pth``; or ``experiments.convert_teacher`` once).
* **Recipe** (``kdjax.recipes``, ``recipe='imagenet'``): mdistiller's ``configs/imagenet``
  protocol (batch 512, lr 0.2, 100 epochs, x0.1 at 30/60/90, weight decay 1e-4) and each method's
  settings with their sources (``python -m experiments.sweep --table=imagenet --show``).

The teacher-logit cache is not offered here: the crops are made on the host and one epoch of
teacher logits would take 2.6 GB.
"""

from __future__ import annotations

import os

from absl import flags

from experiments import cli


def define_flags() -> None:
  cli.define_config_flag(os.path.join(cli.CONFIG_DIR, 'imagenet.py') + ':resnet34-resnet18-kd',
                         'config file[:argument], e.g. experiments/configs/imagenet.py:<cell>')
  flags.DEFINE_string('workdir', None, 'run directory (resumable)')


def main(argv):
  del argv
  cli.train_config(flags.FLAGS.config, flags.FLAGS.workdir, dry_run=flags.FLAGS.dry_run)


if __name__ == '__main__':
  define_flags()
  cli.run(main, 'experiments.imagenet')
