"""throw_wall: with time of impact the optimiser finds the throw through both bounces."""
import csv

import numpy as np

from scenarios import throw_wall as tw
from scenarios.__main__ import main as scenarios_main
from scenarios._common import GIF_FRAMES
from tests.helpers import check_outputs
from viz.animate import frame_count, frame_steps


def test_throw_wall_quick(tmp_path):
    assert scenarios_main(["run", "throw_wall", "--quick", "--iters", "20", "--out",
                           str(tmp_path), "--animate"]) == 0
    check_outputs(tmp_path, ("convergence.png", "paths.png", "summary.md", "summary.csv",
                             "result.npz", "iterations.gif"))
    # 288 steps in 100 frames at most: every 3rd state
    assert frame_count(tmp_path / "iterations.gif") == \
        len(frame_steps(tw.STEPS, max_frames=GIF_FRAMES)) == 97
    rows = {r["setting"]: r for r in csv.DictReader(open(tmp_path / "summary.csv"))}
    hard = rows["hard TOI"]
    assert float(hard["loss replayed with hard TOI"]) < 1e-12  # 2e-28 measured in 8 iterations
    path = np.load(tmp_path / "result.npz")["hard_TOI_path"]
    # through both bounces: it reaches the wall and the ground before ending on the target
    # (within one step of travel: the impacts fall between stored steps)
    assert path[:, 0].max() > tw.WALL - tw.R - 0.03 and path[:, 1].min() < tw.R + 0.03
    assert np.allclose(path[-1], tw.TARGET, atol=1e-6)
