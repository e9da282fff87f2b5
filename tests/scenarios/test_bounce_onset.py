"""The flagship study: its closed form, and a small sweep end to end."""
import csv

import numpy as np

from scenarios import bounce_onset as bo
from scenarios.__main__ import main as scenarios_main
from tests.helpers import check_outputs
from viz.animate import frame_count


def test_closed_form_matches_its_own_differences_and_the_known_slopes():
    T = bo.STEPS * bo.DT
    on = bo.onset_height()
    H = np.array([0.05, 0.15, 0.3, 0.9, 1.5, 0.999 * on, 1.001 * on, 2.5])
    for e in (1.0, 0.6, 0.0):
        z, dz = bo.closed_form(H, e)
        zp, _ = bo.closed_form(H + 1e-7, e)
        zm, _ = bo.closed_form(H - 1e-7, e)
        assert np.allclose(dz, (zp - zm) / 2e-7, atol=1e-5)
    z, dz = bo.closed_form(H, 1.0)
    ts = np.sqrt(2 * H / bo.G)
    one = (ts < T) & (3 * ts > T)  # one elastic bounce: 2 T / t* - 3
    assert np.allclose(dz[one], 2 * T / ts[one] - 3)
    assert np.all(dz[ts > T] == 1.0)
    assert np.all(z >= bo.RADIUS - 1e-12)  # never below the ground
    # z is continuous at onset and at the second bounce
    for h0 in (on, on / 9):
        assert abs(bo.closed_form(h0 * (1 + 1e-9), 1.0)[0][0]
                   - bo.closed_form(h0 * (1 - 1e-9), 1.0)[0][0]) < 1e-6


def test_quick_study_writes_its_outputs_and_separates_the_models(tmp_path):
    out = tmp_path / "bo"
    assert scenarios_main(["run", "bounce_onset", "--quick", "--out", str(out),
                           "--workers", "2", "--animate"]) == 0
    check_outputs(out, ("loss.png", "gradients.png", "gradient_error.png", "summary.md",
                        "summary.csv", "sweep.npz", "sweep.gif"))
    # 100 frames at most over 600 steps: every 7th state (0, 7, ..., 595) and the last
    assert frame_count(out / "sweep.gif") == 87
    rows = list(csv.DictReader(open(out / "summary.csv")))
    err = {(r["setting"], r["region"]): float(r["adjoint vs closed form, max"]) for r in rows}
    regions = {r["region"] for r in rows}
    assert {"pre-contact", "onset", "separation"} <= regions
    # time of impact: right everywhere, within O(h); plain time stepping: wrong after impact
    for region in regions:
        assert err[("hard TOI", region)] < 0.02, region
    assert err[("hard no TOI", "separation")] > 0.5
    sweep = np.load(out / "sweep.npz")
    adj = sweep["hard_no_TOI_adjoint"]
    hit = sweep["heights"] < sweep["onset"] * 0.99
    assert np.allclose(adj[hit], 1.0)  # the known wrong gradient, measured
