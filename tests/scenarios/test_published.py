"""The published cases: time of impact gives the analytic values; plain time stepping gives the
wrong ones the reports describe."""
from scenarios.__main__ import main as scenarios_main
from scenarios._common import GIF_FRAMES
from tests.helpers import check_outputs
from viz.animate import frame_count, frame_steps
from scenarios.published import run


def test_published_table(tmp_path):
    rows = run(quick=True)
    for r in rows:
        if isinstance(r["exact"], str):
            assert r["hard TOI"] == r["exact"], r
        elif not r["quantity"].startswith("largest"):
            assert abs(r["hard TOI"] - r["exact"]) < 1e-6, r
    by = {(r["case"], r["quantity"]): r for r in rows}
    # DiffTaichi's naive +1, and Nimble's kind of error, reproduced without time of impact
    assert abs(by[("difftaichi_toi", "d z_T / d z_0")]["hard no TOI"] - 1.0) < 1e-6
    assert abs(by[("nimble_issue97", "d x_f / d v0")]["hard no TOI"] - 1.0) > 0.1
    brax = by[("brax_issue317", "gradcheck verdict at z_0 = 2.9537")]
    assert brax["hard no TOI"] == "discontinuous"
    step = by[("brax_issue317", "largest step / spacing between neighbours")]
    assert abs(step["hard TOI"] - 1.0) < 1e-6 and step["hard no TOI"] > 2  # 2.6 measured


def test_published_writes_its_table(tmp_path):
    assert scenarios_main(["run", "published", "--quick", "--out", str(tmp_path),
                           "--animate"]) == 0
    check_outputs(tmp_path, ("published.md", "published.csv", "balls.gif"))
    assert "nimble_issue97" in (tmp_path / "published.md").read_text()
    # 1000 steps (T = 1 s) in 100 frames at most: every 11th state and the last
    assert frame_count(tmp_path / "balls.gif") == len(frame_steps(1000, max_frames=GIF_FRAMES)) \
        == 92
