"""Executes experiments/losses_tour.ipynb with nbclient on the project's Python kernel."""

import os
import pathlib
import subprocess
import sys

import nbclient
import nbformat
import pytest
from jupyter_client import kernelspec

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "experiments" / "losses_tour.ipynb"


@pytest.fixture(scope="module")
def python3_kernel():
  """Makes sure a `python3` kernel spec exists (installs one into this environment if not)."""
  if "python3" not in kernelspec.KernelSpecManager().find_kernel_specs():
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix"], check=True)
  return "python3"


def test_notebook_is_small_valid_and_has_no_outputs():
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  nbformat.validate(notebook)
  code_cells = [c for c in notebook.cells if c.cell_type == "code"]
  assert code_cells and all(not c.outputs and c.execution_count is None for c in code_cells)
  assert NOTEBOOK.stat().st_size < 20_000


@pytest.mark.slow
def test_notebook_executes(python3_kernel, tmp_path, monkeypatch):
  monkeypatch.setenv("KDJAX_NOTEBOOK_OUT", str(tmp_path))
  monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  client = nbclient.NotebookClient(notebook, kernel_name=python3_kernel, timeout=300,
                                   resources={"metadata": {"path": str(tmp_path)}})
  client.execute()   # raises CellExecutionError if any cell (including its asserts) fails
  figure = tmp_path / "losses_tour_temperatures.png"
  assert figure.exists() and figure.stat().st_size > 1000
  printed = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code"
                    for o in c.outputs)
  for expected in ("KD+LS (tau=2)", "zDKD+max-logit", "wrong argmax", "saved"):
    assert expected in printed
