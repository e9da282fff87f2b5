"""The kappa_gap scenario runs end to end; its gaps shrink with kappa."""
import numpy as np

from scenarios.__main__ import main as scenarios_main


def test_kappa_gap_quick_writes_the_table_and_the_gaps_shrink(tmp_path):
    out = tmp_path / "kg"
    assert scenarios_main(["run", "kappa_gap", "--quick", "--out", str(out)]) == 0
    for name in ("kappa_gap.png", "kappa_gap.md", "kappa_gap.csv", "kappa_gap_detail.md",
                 "kappa_gap.npz"):
        assert (out / name).stat().st_size > 0, name
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
