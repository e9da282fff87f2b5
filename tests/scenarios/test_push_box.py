"""push_box: no hard gradient before first touch; the smoothed model pulls the pusher in."""
import csv

from scenarios import push_box as pb
from scenarios.__main__ import main as scenarios_main
from scenarios._common import GIF_FRAMES
from tests.helpers import check_outputs
from viz.animate import frame_count, frame_steps


def test_push_box_quick(tmp_path):
    assert scenarios_main(["run", "push_box", "--quick", "--out", str(tmp_path),
                           "--animate"]) == 0
    check_outputs(tmp_path, ("convergence.png", "plans.png", "summary.md", "summary.csv",
                             "result.npz", "iterations.gif"))
    # 200 steps in 100 frames at most: every 3rd state and the last
    assert frame_count(tmp_path / "iterations.gif") == \
        len(frame_steps(pb.STEPS, max_frames=GIF_FRAMES)) == 68
    rows = {r["setting"]: r for r in csv.DictReader(open(tmp_path / "summary.csv"))}
    hard, smooth = rows["hard TOI"], rows["smoothed kappa=1e-3"]
    assert float(hard["gradient norm at the start"]) == 0.0  # no contact, no gradient
    assert abs(float(hard["box x replayed with hard TOI"])) < 1e-12
    assert float(smooth["gradient norm at the start"]) > 0.0  # 4.6e-6 measured
    assert abs(float(smooth["box x (own model)"]) - 0.15) < 1e-3  # 0.14997 measured
    cont = rows["hard TOI from the smoothed plan"]
    assert abs(float(cont["box x replayed with hard TOI"]) - 0.15) < 1e-3  # 0.149995 measured
