"""AT, RKD, PKT, VID and OFD on 1 and 2 simulated devices: the same runs (one subprocess each).

RKD and PKT couple the examples of a batch and OFD normalises the teacher with its batch
statistics: on 2 devices they must still see the GLOBAL batch (the step is one jit over the
sharded batch), which per-device slices would not give. VID runs RepDistiller's variant (trained
log-scales, seed 002) here; its mdistiller variant (constant log-scales) is the resume test's.
The runs use lr 0.005, where four steps stay near-linear (see ``method_checks.RTOL``).
"""

import pytest

from tests import method_checks

CONFIGS = {
    'at': lambda: method_checks.smoke('at', lr=0.005),
    'rkd': lambda: method_checks.smoke('rkd', lr=0.005),
    'pkt': lambda: method_checks.smoke('pkt', lr=0.005),
    'vid': lambda: method_checks.smoke('vid', recipe='seed002', lr=0.005),
    'ofd': lambda: method_checks.smoke('ofd', lr=0.005),
}


@pytest.mark.slow
def test_one_and_two_devices_agree(tmp_path):
  configs = {name: make() for name, make in CONFIGS.items()}
  assert configs['vid'].vid.train_log_scale and configs['ofd'].ofd.teacher_train_bn
  one = method_checks.run_on_devices(configs, 1, tmp_path)
  two = method_checks.run_on_devices(configs, 2, tmp_path)
  assert (one['devices'], two['devices']) == (1, 2)
  margins = {name: method_checks.assert_same_runs(one[name], two[name]) for name in configs}
  print('largest difference / allowed:', margins)
  for name in configs:
    assert two[name]['replicated'], name
  assert any('log_scale' in key and 'params' in key for key in one['vid']['state'])
