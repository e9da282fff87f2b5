"""sysid_toss runs end to end, recovers friction and restitution and reports the gradient check
at its stop."""
import csv

import numpy as np

from scenarios import sysid_toss as st
from scenarios.__main__ import main as scenarios_main
from scenarios._common import GIF_FRAMES
from tests.helpers import check_outputs
from viz.animate import frame_count, frame_steps


def test_sysid_toss_quick(tmp_path):
    assert scenarios_main(["run", "sysid_toss", "--quick", "--iters", "40", "--out",
                           str(tmp_path), "--animate"]) == 0
    check_outputs(tmp_path, ("convergence.png", "summary.md", "summary.csv", "result.npz",
                             "fits.gif"))
    # 600 steps in 100 frames at most: every 7th state and the last
    assert frame_count(tmp_path / "fits.gif") == \
        len(frame_steps(st.STEPS, max_frames=GIF_FRAMES)) == 87
    (row,) = list(csv.DictReader(open(tmp_path / "summary.csv")))
    hist = np.load(tmp_path / "result.npz")["hard_TOI_history"]
    assert hist[-1] < 1e-5  # 6.5e-3 -> 2.97e-6 measured, at the noise floor (2.98e-6)
    # both recovered: friction 0.64 -> 0.1602 (true 0.16), restitution 0.2 -> 0.4998 (0.5)
    assert abs(float(row["friction (box)"]) - 0.16) < 0.005
    assert abs(float(row["restitution"]) - 0.5) < 0.01
    assert row["gradcheck at the optimum (friction)"]  # the check ran and wrote its verdict
