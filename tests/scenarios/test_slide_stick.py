"""slide_stick: its closed form, and a small sweep end to end."""
import csv

import numpy as np

from scenarios import slide_stick as ss
from scenarios.__main__ import main as scenarios_main
from scenarios._common import GIF_FRAMES
from tests.helpers import check_outputs
from viz.animate import frame_count, frame_steps


def test_closed_form_matches_its_own_differences_and_is_c1_at_onset():
    T = ss.STEPS * ss.DT
    on = ss.onset_speed()
    V = np.array([0.3, 0.9, 1.7, 0.999 * on, 1.001 * on, 3.2, 5.0])
    for mu in (0.2, 0.5, 0.9):
        x, dv, dmu = ss.closed_form(V, mu)
        h = 1e-7
        assert np.allclose(dv, (ss.closed_form(V + h, mu)[0] - ss.closed_form(V - h, mu)[0])
                           / (2 * h), atol=1e-6)
        assert np.allclose(dmu, (ss.closed_form(V, mu + h)[0] - ss.closed_form(V, mu - h)[0])
                           / (2 * h), atol=1e-6)
    x, dv, dmu = ss.closed_form(V)
    ts = V / (ss.MU * ss.G)
    assert np.allclose(dv[ts < T], ts[ts < T])  # stopped: dx/dv0 = t_s
    assert np.all(dv[ts > T] == T) and np.allclose(dmu[ts > T], -ss.G * T * T / 2)
    # x, dx/dv0 and dx/dmu are continuous at the onset t_s = T (only their slopes jump)
    lo, hi = np.array(ss.closed_form([on * (1 - 1e-9), on * (1 + 1e-9)])).T  # (x, dv, dmu)
    assert np.allclose(lo, hi, atol=1e-7)
    assert abs(lo[1] - T) < 1e-8 and abs(lo[2] + ss.G * T * T / 2) < 1e-7


def test_quick_study_writes_its_outputs_and_the_hard_adjoint_follows_the_closed_form(tmp_path):
    out = tmp_path / "ss"
    assert scenarios_main(["run", "slide_stick", "--quick", "--out", str(out),
                           "--workers", "2", "--animate"]) == 0
    check_outputs(out, ("loss.png", "grad_v0.png", "grad_v0_error.png", "grad_mu.png",
                        "grad_mu_error.png", "summary.md", "summary.csv", "sweep.npz",
                        "sweep.gif"))
    # 500 steps in 100 frames at most: every 6th state and the last
    assert frame_count(out / "sweep.gif") == len(frame_steps(ss.STEPS, max_frames=GIF_FRAMES)) \
        == 85
    rows = list(csv.DictReader(open(out / "summary.csv")))
    assert {r["region"] for r in rows} == {name for name, _, _ in ss.REGIONS}
    err = {(r["setting"], r["region"], r["gradient"]): float(r["adjoint vs closed form, max"])
           for r in rows}
    for name, _, _ in ss.REGIONS:
        # the discrete stop is h floor(t_s / h): dx/dv0 within one step h = 1e-3 of t_s
        # (measured 8.0e-4); dx/dmu within g T h / 2 = 2.4525e-3 (measured 2.4525e-3)
        assert err[("hard", name, "dx/dv0")] < 1e-3, name
        assert err[("hard", name, "dx/dmu")] < 2.5e-3, name
    for r in rows:  # every model's adjoint is the slope of its own loss (measured <= 9e-9)
        assert float(r["central h=1e-06 vs adjoint, max"]) < 1e-7, r
    sweep = np.load(out / "sweep.npz")
    ts = sweep["speeds"] / (ss.MU * ss.G)
    n = np.minimum(np.floor(ts / ss.DT), ss.STEPS)
    # the hard adjoint is exact for the discrete map (measured to 1.2e-12 and 5.6e-12)
    assert np.allclose(sweep["hard_adjoint_v0"], ss.DT * n, atol=1e-9)
    assert np.allclose(sweep["hard_adjoint_mu"], -ss.G * ss.DT ** 2 * n * (n + 1) / 2, atol=1e-9)
