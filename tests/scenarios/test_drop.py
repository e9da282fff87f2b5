"""The drop scenario runs end to end and writes what it promises."""

import numpy as np

from scenarios import drop
from scenarios.__main__ import main as scenarios_main
from scenarios._common import GIF_FRAMES
from tests.helpers import check_outputs
from viz.animate import frame_count, frame_steps


def test_drop_quick_writes_figures_and_tables(tmp_path, capsys):
    out = tmp_path / "drop"
    assert scenarios_main(["run", "drop", "--quick", "--out", str(out), "--animate"]) == 0
    check_outputs(out, ("trajectories.png", "final_height.png", "summary.md", "summary.csv",
                        "sweep.npz", "drops.gif"))
    # 100 frames at most over the quick run's 400 steps: every 5th state
    assert frame_count(out / "drops.gif") == len(frame_steps(400, max_frames=GIF_FRAMES)) == 81
    sweep = np.load(out / "sweep.npz")
    heights, onset = sweep["heights"], float(sweep["onset"])
    k = [key for key in sweep.files if key.startswith("penalty")][0]
    free = heights > onset
    steps = 400
    assert np.allclose(sweep[k][free], drop.free_fall_final_height(heights[free], steps),
                       atol=1e-12)
    # after an impact the ball is above the ground and below where free fall would put it
    hit = heights < onset
    assert np.all(sweep[k][hit] > 0.0)
    assert "penalty k=10000" in (out / "summary.md").read_text()


def test_listing_names_the_scenarios(capsys):
    assert scenarios_main([]) == 0
    assert "drop" in capsys.readouterr().out
