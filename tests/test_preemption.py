"""SIGTERM on several hosts: every process stops after the same step, saves it, and resumes exactly.

Two processes of one ``jax.distributed`` run on CPU (localhost coordinator, one device each)
receive SIGTERM at different steps of their own. JAX's preemption sync manager (started by
``jax.distributed.initialize``, on CPU too) takes the notice in each and the processes agree on
one step (``Checkpoints.reached_preemption``, orbax's ``CheckpointManager.reached_preemption``):
both save that step's checkpoint and exit with ``Interrupted`` (status 143); the same command
resumes, and the resumed run ends with exactly the parameters of an uninterrupted one (same two
processes, same collectives, so bit for bit).
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from kdjax import parallel

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# argv: workdir, out prefix, the step at which this process sends itself SIGTERM (0: never).
_SCRIPT = textwrap.dedent('''
    import json, os, signal, sys, time
    import jax, numpy as np
    from experiments.configs import method as method_file
    from kdjax import checkpointing, logs, train
    workdir, out, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    config = method_file.get_config('ce,student=resnet8,runlocal')
    config.update(dict(distributed=True, epochs=2, smoke_steps=8, smoke_examples=64,
                       batch_size=8, checkpoint_keep=5))

    class Steps(logs.Progress):
      """Counts this process's steps; sends SIGTERM to itself after step ``kill_at``. The
      steps are slowed down so that the notice (JAX's notifier polls every second) arrives
      mid-run."""
      count, killed_after = 0, None

      def advance(self, images):
        Steps.count += 1
        if Steps.count == kill_at:
          Steps.killed_after = Steps.count
          os.kill(os.getpid(), signal.SIGTERM)
        if kill_at:
          time.sleep(0.4)

    result = {'process': None, 'stopped': None}
    try:
      run = train.train_and_evaluate(config, workdir, progress=Steps(enabled=False))
      state, code = run.state, 0
    except train.Interrupted as stopped:
      result['stopped'] = [stopped.epoch, stopped.step, stopped.signal_name]
      state, code = None, stopped.exit_code
    result.update(process=jax.process_index(), processes=jax.process_count(),
                  steps_done=Steps.count, killed_after=Steps.killed_after,
                  checkpoints=sorted(int(name) for name in os.listdir(
                      os.path.join(workdir, checkpointing.CHECKPOINT_DIR)) if name.isdigit()))
    json.dump(result, open(f'{out}.{jax.process_index()}.json', 'w'))
    if state is not None and jax.process_index() == 0:
      leaves = jax.tree_util.tree_leaves_with_path(jax.device_get(state))
      np.savez(out + '.npz', **{jax.tree_util.keystr(p): np.asarray(x) for p, x in leaves})
    sys.exit(code)
''')


def _free_port():
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def _two_processes(workdir, out, kill_at=(0, 0)):
  """Runs the script as the two processes of one run; returns their exit codes and results."""
  port = _free_port()
  base = dict(os.environ, JAX_PLATFORMS='cpu', JAX_NUM_CPU_DEVICES='1',
              PYTHONPATH=os.pathsep.join([REPO, os.environ.get('PYTHONPATH', '')]))
  procs = []
  for rank in range(2):
    env = dict(base, JAX_COORDINATOR_ADDRESS=f'localhost:{port}', JAX_NUM_PROCESSES='2',
               JAX_PROCESS_ID=str(rank))
    procs.append(subprocess.Popen(
        [sys.executable, '-c', _SCRIPT, str(workdir), str(out), str(kill_at[rank])], env=env,
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  codes = []
  try:
    for proc in procs:
      _, err = proc.communicate(timeout=600)
      codes.append((proc.returncode, err[-3000:]))
  finally:  # A hang (processes that disagree on where to stop wait for each other) fails, and
    for proc in procs:  # leaves no process behind.
      if proc.poll() is None:
        proc.kill()
        proc.wait()
  results = []
  for rank in range(2):
    path = f'{out}.{rank}.json'
    assert os.path.exists(path), f'process {rank} wrote no result: {codes[rank]}'
    results.append(json.load(open(path)))
  return [code for code, _ in codes], results, [err for _, err in codes]


def test_single_process_runs_handle_sigterm_themselves():
  assert not parallel.preemption_synced()  # no jax.distributed here: the Python handler


@pytest.mark.slow
def test_sigterm_at_different_steps_stops_both_processes_at_one_step(tmp_path):
  workdir = tmp_path / 'run'
  # Process 0 receives SIGTERM after its 2nd step, process 1 after its 4th (epoch 1 has 8).
  codes, stopped, errors = _two_processes(workdir, tmp_path / 'stopped', kill_at=(2, 4))
  assert codes == [143, 143], errors
  assert [r['process'] for r in stopped] == [0, 1] and stopped[0]['processes'] == 2
  assert stopped[0]['killed_after'] == 2  # process 0 was signalled before the stop
  # One step for both: the same position, the same steps trained, the same checkpoint saved.
  assert stopped[0]['stopped'] == stopped[1]['stopped'], stopped
  # Not before the first notice (the sync point is one past the largest step any process had
  # reported when the notice reached them: step 2 itself when it arrived before process 0
  # reported it).
  assert stopped[0]['steps_done'] == stopped[1]['steps_done'] >= 2
  epoch, step, name = stopped[0]['stopped']
  assert name == 'SIGTERM'
  global_step = (epoch - 1) * 8 + step  # optimizer updates done: the checkpoint's number
  assert stopped[0]['steps_done'] == global_step
  assert stopped[0]['checkpoints'] == stopped[1]['checkpoints']
  assert stopped[0]['checkpoints'][-1] == global_step

  codes, resumed, errors = _two_processes(workdir, tmp_path / 'resumed')
  assert codes == [0, 0], errors
  assert resumed[0]['steps_done'] == resumed[1]['steps_done'] == 16 - global_step
  codes, _, errors = _two_processes(tmp_path / 'whole', tmp_path / 'whole')
  assert codes == [0, 0], errors
  a, b = dict(np.load(f'{tmp_path}/resumed.npz')), dict(np.load(f'{tmp_path}/whole.npz'))
  assert a.keys() == b.keys()
  for key in a:
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)
