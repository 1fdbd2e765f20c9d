r"""kdjax speed: method cost, kdjax vs PyTorch, pipelines, dispatch, teacher cache, GPU epochs.

Every number is a rate or a ratio measured within one run: the candidates of a
section are timed in interleaved rotating rounds (ABC, BCA, CAB...,
``experiments/timing.py``) and compared by their medians, so a shared
machine's load hits them alike (the load average is recorded with each
section). Nothing here is a timed test: the CI test only checks that every
section runs and reports positive, finite ratios.

Running
-------
::

  python -m experiments.benchmark --out=/tmp/benchmark.json           # full
  python -m experiments.benchmark --smoke --out=/tmp/benchmark.json   # CI: every section, tiny
  python -m experiments.benchmark --sections=methods,cache --kd_methods=kd,ctkd,mlkd

Flags: ``--sections`` (default all, in the order below), ``--smoke`` (tiny
models and batches, one round; the numbers mean nothing, every code path
runs), ``--out`` (JSON, rewritten after every section), ``--kd_methods``
(the ``methods`` section's presets, ``kdjax.config.METHODS``), ``--pair``
(``teacher,student``, default ``resnet32x4,resnet8x4``), ``--batch`` (64),
``--repeats`` / ``--inner`` (interleaved rounds, calls per candidate per
round), ``--peak_tflops`` (the ``gpu`` section's peak, default a table by GPU).
The table is printed at the end; the JSON is ``{'meta': {device, backend,
versions, options, load averages}, 'sections': {name: {...,
'load_average_before_after', 'wall_seconds'}}}``.

Sections
--------
The train steps are ``kdjax.steps.build_program``'s, on random CIFAR-shaped
data (``kdjax.data.sources.open_source`` in smoke mode) held on the devices,
with the host work of ``kdjax.train.train_epoch`` per step (``runner.py``);
configs are ``kdjax.recipes.method_config(method, teacher, student)``.

* ``methods``: each method's full train step (on-device augmentation, teacher
  forward, student forward+backward, loss, SGD) relative to plain KD, for
  resnet32x4 -> resnet8x4 at batch 64 on CIFAR shapes: the cost of each
  temperature policy. ``kd_control`` is a second runner of KD's compiled step:
  its distance from 1 is the precision of the run's ratios.
* ``torch``: the kdjax KD step against the same step written the PyTorch way:
  eager ``tests/torch_models.py`` models, per-example tensor crop/flip/normalise
  as torchvision's transforms do, KD (T 4, 0.1 CE / 0.9 KD), SGD momentum 0.9 wd
  5e-4, teacher in eval mode under ``no_grad``; images/s of each and the ratio
  (also PyTorch without its data preparation, and kdjax with cached teacher
  logits). The repository's ``tests`` directory is put on ``sys.path`` for
  ``torch_models``; only ``torch`` and ``kernels`` import PyTorch.
* ``kernels``: what bounds the ``torch`` ratio: one 3x3 convolution of each
  CIFAR ResNet stage's shape (XLA's vs PyTorch's kernel, GFLOP/s), and the two
  halves of the step (teacher forward in eval mode; student forward+backward in
  train mode) in each framework.
* ``chunks``: the KD step and the cached-teacher step with every convolution on
  the whole batch (``conv_batch_chunks`` 1) against slices of it: the auto
  setting (``kdjax.steps.resolved_conv_batch_chunks``; CPU slices batches of
  32x32 images) and twice it. ``models_slice_convolutions`` says whether the
  installed ``kdjax.models.create`` takes ``conv_batch_chunks``; until it does
  (``kdjax.steps.create_model`` falls back) every chunking computes the same
  program and the ratios only show the run's noise.
* ``pipeline``: on-device CIFAR augmentation (``kdjax.data.train_view`` /
  ``strong_view``) against the rate the KD step consumes, and the ImageNet host
  pipeline (``kdjax.data.sources.StreamingSource``: ``kdjax.data.imagenet.TrainBatch``
  decoding and cropping synthetic JPEG records, through grain's ``iterate``)
  against the rate of its KD step on those batches (host-to-device transfer
  included): headroom = pipeline rate / step rate.
* ``dispatch``: k steps in one ``lax.scan`` dispatch (a rolled loop, and
  unrolled) against k dispatches.
* ``cache``: the step reading cached teacher logits (``kdjax.teacher_cache``,
  filled in a temporary directory) against the step running the teacher, and
  the teacher forward alone; with the cache's fill and read costs.
* ``gpu``: epoch time of the real loop (``kdjax.train.train_and_evaluate``,
  random data of CIFAR-100's size) for float32 at matmul precision 'highest'
  (the config default, full float32) and 'default' (TF32 on NVIDIA GPUs), and
  for bfloat16 compute; FLOP/s (FLOPs from XLA's cost analysis of the compiled
  step) as a fraction of the device's peak, and the projected time of a
  240-epoch run. Needs a GPU: skipped on CPU, except that ``--smoke`` runs it
  tiny so that CI covers the code.
* ``bf16_accuracy``: test top-1 of float32 vs bfloat16 training of one method
  on the digits main job (the protocol of ``experiments.distill``).

Layout: ``runner.py`` (options, data, ``StepRunner``, the shared ``Context``),
one module per section with ``run(ctx) -> dict`` and ``report(result) -> lines``,
``report.py`` (runs the sections, writes the JSON, formats the table) and
``__main__.py`` (the flags).
"""

SECTIONS = ('methods', 'torch', 'kernels', 'chunks', 'pipeline', 'dispatch', 'cache', 'gpu',
            'bf16_accuracy')
