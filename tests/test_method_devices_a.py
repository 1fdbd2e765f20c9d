"""AT, RKD, PKT, VID and OFD on 1 and 2 simulated devices: the same runs (one subprocess each).

RKD and PKT couple the examples of a batch and OFD normalises the teacher with its batch
statistics: on 2 devices they must still see the GLOBAL batch (the step is one jit over the
sharded batch), which per-device slices would not give. VID runs RepDistiller's variant (trained
log-scales, seed 002) here; its mdistiller variant (constant log-scales) is the resume test's.
"""

import pytest

from tests import method_checks

CONFIGS = {
    'at': lambda: method_checks.smoke('at'),
    'rkd': lambda: method_checks.smoke('rkd'),
    'pkt': lambda: method_checks.smoke('pkt'),
    'vid': lambda: method_checks.smoke('vid', recipe='seed002'),
    'ofd': lambda: method_checks.smoke('ofd'),
}


@pytest.mark.slow
def test_one_and_two_devices_agree(tmp_path):
  configs = {name: make() for name, make in CONFIGS.items()}
  assert configs['vid'].vid.train_log_scale and configs['ofd'].ofd.teacher_train_bn
  one = method_checks.run_on_devices(configs, 1, tmp_path)
  two = method_checks.run_on_devices(configs, 2, tmp_path)
  assert (one['devices'], two['devices']) == (1, 2)
  for name in configs:
    method_checks.assert_same_runs(one[name], two[name])
    assert two[name]['replicated'], name
  assert any('log_scale' in key and 'params' in key for key in one['vid']['state'])
