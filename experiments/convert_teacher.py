r"""Converts a PyTorch teacher checkpoint into a kdjax teacher directory.

  python -m experiments.convert_teacher --model resnet32x4 \
      --checkpoint cifar_teachers/resnet32x4_vanilla/ckpt_epoch_240.pth --out teachers/resnet32x4

Reads the ``.pth`` (zip or legacy ``torch.save`` format; no PyTorch needed, no pickled code run) or
``.safetensors`` file, checks it against the model, and writes ``OUT/variables`` (orbax) and
``OUT/kdjax_teacher.json``. Prints the parameter count, a checksum of the logits on a fixed input
(``np.random.default_rng(0)`` normal images, batch 2) and the time taken. The trainer reads the
result with ``--teacher_checkpoint OUT`` (``kdjax.convert.load_teacher``).
"""

from __future__ import annotations

import time

from absl import app
from absl import flags

from experiments import cli

from kdjax import convert

_MODEL = flags.DEFINE_string("model", None, "Model name, e.g. resnet32x4 (kdjax.models.names()).")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "PyTorch .pth/.pt/.tar or .safetensors file.")
_OUT = flags.DEFINE_string("out", None, "Output directory.")
_NUM_CLASSES = flags.DEFINE_integer(
    "num_classes", None, "Classifier size; default: read from the checkpoint's classifier.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing output directory.")
flags.mark_flags_as_required(["model", "checkpoint", "out"])


def convert_and_save(model: str, checkpoint: str, out: str, num_classes: int | None,
                     overwrite: bool) -> str:
  """Converts ``checkpoint``, writes the teacher to ``out``; returns the printed report."""
  start = time.perf_counter()
  convert.check_output_directory(out, overwrite=overwrite)  # Fail before the slow part.
  module, variables = convert.load_teacher(checkpoint, model, num_classes=num_classes)
  converted = time.perf_counter()
  metadata = convert.save_teacher(out, model, module.num_classes, variables, source=checkpoint,
                                  overwrite=overwrite)
  done = time.perf_counter()
  checksum = metadata["logits_checksum"]
  return "\n".join([
      f"model: {metadata['model']} (num_classes={metadata['num_classes']})",
      f"parameters: {metadata['param_count']:,}",
      f"logits checksum: sum={checksum['sum']:.6g} abs_sum={checksum['abs_sum']:.6g} "
      f"sha256={checksum['sha256']}",
      f"wrote {out} in {done - start:.2f} s (read+convert {converted - start:.2f} s, "
      f"checksum+save {done - converted:.2f} s)",
  ])


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  print(convert_and_save(_MODEL.value, _CHECKPOINT.value, _OUT.value, _NUM_CLASSES.value,
                         _OVERWRITE.value))


if __name__ == "__main__":
  cli.run(main, "experiments.convert_teacher")
