"""The kappa_gap scenario runs end to end; its gaps shrink with kappa."""
import numpy as np

from scenarios import kappa_gap as kg
from scenarios.__main__ import main as scenarios_main
from scenarios._common import GIF_FRAMES
from tests.helpers import check_outputs
from viz.animate import frame_count, frame_steps


def test_kappa_gap_quick_writes_the_table_and_the_gaps_shrink(tmp_path):
    out = tmp_path / "kg"
    assert scenarios_main(["run", "kappa_gap", "--quick", "--out", str(out), "--animate"]) == 0
    check_outputs(out, ("kappa_gap.png", "kappa_gap.md", "kappa_gap.csv", "kappa_gap_detail.md",
                        "kappa_gap_detail.csv", "kappa_gap.npz", "toss.gif"))
    # the toss's 1000 steps in 100 frames at most: every 11th state and the last
    steps = kg.SCENES["toss"][1]
    assert frame_count(out / "toss.gif") == len(frame_steps(steps, max_frames=GIF_FRAMES)) == 92
    data = np.load(out / "kappa_gap.npz")
    assert list(data["kappas"]) == [1e-2, 1e-4, 1e-6]
    for scene in ("drop", "slide", "toss"):
        gaps = data[scene]
        assert np.all(np.diff(gaps) < 0), scene
    # drop and slide: about in proportion to kappa (measured 1e-2 m -> 1e-7 m and 4e-6 m)
    assert data["drop"][-1] < 1e-6 and data["slide"][-1] < 1e-5 and data["toss"][-1] < 1e-3
    assert "solver failures" in (out / "kappa_gap_detail.md").read_text()
    rows = (out / "kappa_gap_detail.csv").read_text().splitlines()[1:]
    assert all(row.split(",")[5] == "0" for row in rows)
