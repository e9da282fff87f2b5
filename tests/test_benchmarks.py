"""The benchmarks run (smoke runs: a few steps, no timing asserted)."""
import numpy as np

from tests.helpers import load_benchmark


def test_piles_are_built_without_overlaps():
    bench = load_benchmark()
    for kind, n in bench.SCENES:
        scene = bench.pile(kind, n)
        pos = np.array([b["pos"] for b in scene.bodies[1:]])
        assert len(pos) == n
        if n > 1:
            gaps = np.linalg.norm(pos[:, None] - pos[None], axis=2) + 10 * np.eye(n)
            # centres more than 2 r apart: no two spheres touch, and cubes (half extent r) sit in
            # separate lattice cells, each a gap apart along some axis
            assert gaps.min() > 2 * bench.RADIUS + 0.2 * bench.GAP


def test_smoke_run_prints_every_pile_and_model(capsys):
    bench = load_benchmark()
    assert bench.main(["--steps", "3", "--repeats", "1", "--no-startup", "--no-mujoco"]) == 0
    out = capsys.readouterr().out
    for name in ("pile of 1 sphere", "pile of 64 spheres", "pile of 512 spheres",
                 "pile of 64 boxes"):
        for model in ("PenaltyContact()", "HardContact()", "SmoothedContact()"):
            assert any(name in line and model in line for line in out.splitlines()), \
                (name, model)


def test_grad_cost_smoke_run(capsys):
    bench = load_benchmark("grad_cost")
    bench.main(["--quick"])
    out = capsys.readouterr().out
    assert "PenaltyContact()" in out and "300 control parameters" in out
    # the adjoint and the differences it is timed against agree
    err = float(out.split("largest difference ")[1].split()[0])
    assert err < 1e-5


def test_solver_convergence_smoke_run(capsys):
    bench = load_benchmark("solver_convergence")
    assert bench.main(["--grid", "2", "2", "--regularization", "1e-9"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:2] == ["1e-09", "4"]  # the regularization and 4 rollouts
