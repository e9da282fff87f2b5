"""gradient_audit: its classes on functions whose derivative is known, and a small run end to end
with no mismatch."""
import csv

import numpy as np

from scenarios import gradient_audit as ga
from scenarios.__main__ import main as scenarios_main
from tests.helpers import check_outputs


def _runner(f, switch_at=None):
    # run(h) for gradient_audit.classify: f(h), and a mode-switch key that changes where h
    # crosses switch_at
    return lambda h: (f(h), () if switch_at is None or h < switch_at else ((1, 0, 1, 2, 0),))


def test_classes_on_known_functions():
    f = lambda h: np.sin(0.3 + h)  # noqa: E731
    g = np.cos(0.3)
    assert ga.classify(_runner(f), f(0.0), (), g, 1.0)[0] == "match"
    assert ga.classify(_runner(f), f(0.0), (), 1.01 * g, 1.0)[0] == "mismatch"
    assert ga.classify(_runner(f), f(0.0), (), np.nan, 1.0)[0] == "non-finite"
    # a mode switch just beyond the smallest step: the wider stencils cross it, the small ones
    # keep their modes and judge the adjoint
    cls, central, *_ = ga.classify(_runner(f, switch_at=5e-6), f(0.0), (), g, 1.0)
    assert cls == "match" and np.isfinite(central).all()
    # a kink at the point: every stencil crosses the switch; the one-sided slopes are 2 and -1
    k = lambda h: 2 * h if h >= 0 else -h  # noqa: E731
    cls, _, _, fwd, bwd = ga.classify(_runner(k, switch_at=0.0), 0.0, (), 0.5, 1.0)
    assert cls == "switch in every stencil" and abs(fwd - 2) < 1e-9 and abs(bwd + 1) < 1e-9
    # differences that do not settle (noise far above the slope): not judged
    rng = np.random.default_rng(0)
    noisy = lambda h: 1e-7 * h + 1e-9 * rng.normal()  # noqa: E731
    assert ga.classify(_runner(noisy), 0.0, (), 5.0, 1.0)[0] == "not converged"
    # a derivative below what the differences resolve (a loss of 1 whose slope 3e-16 rounds
    # away, an adjoint at rounding level): a match; the same loss with an adjoint of 1e-9 is a
    # mismatch (the widest step, 1e-3, resolves 1e-11)
    flat = lambda h: 1.0 + 3e-16 * h  # noqa: E731
    assert ga.classify(_runner(flat), 1.0, (), 2.6e-16, 1e-16)[0] == "match"
    assert ga.classify(_runner(flat), 1.0, (), 1e-9, 1e-16)[0] == "mismatch"
    # an input at a bound of its range (restitution 0) is not judged
    assert ga.classify(_runner(f), f(0.0), (), g, 1.0, lo=0.0)[0] == "at a bound"


def test_quick_audit_writes_its_outputs_and_finds_no_mismatch(tmp_path):
    out = tmp_path / "ga"
    assert scenarios_main(["run", "gradient_audit", "--quick", "--out", str(out),
                           "--workers", "2"]) == 0
    check_outputs(out, ("summary.md", "summary.csv", "entries.csv", "error_vs_margin.png",
                        "mismatches.md"))
    with open(out / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == list(ga.MODELS)
    for r in rows:
        assert int(r["mismatch"]) == 0 and int(r["non-finite"]) == 0, r
        assert int(r["match"]) > 100, r
    assert (out / "mismatches.md").read_text().strip().endswith("none")
