"""The benchmarks run (smoke runs: a few steps, no timing asserted)."""
import numpy as np
import pytest

from tests.helpers import load_benchmark


def test_piles_are_built_without_overlaps():
    bench = load_benchmark()
    for layout, kind, n in bench.SCENES:
        scene = bench.build_scene(layout, kind, n)
        pos = np.array([b["pos"] for b in scene.bodies[1:]])
        assert len(pos) == n
        if n > 1:
            gaps = np.linalg.norm(pos[:, None] - pos[None], axis=2) + 10 * np.eye(n)
            if layout == "lattice":
                # centres more than 2 r apart: no two spheres touch, and cubes (half extent r)
                # sit in separate lattice cells, each a gap apart along some axis
                assert gaps.min() > 2 * bench.RADIUS + 0.2 * bench.GAP
            else:  # neighbours in a layer touch (2 r apart), layers are apart
                assert abs(gaps.min() - 2 * bench.RADIUS) < 1e-12
                assert np.all(np.diff(np.unique(pos[:, 2])) > 2 * bench.RADIUS)
        assert pos[:, 2].min() > bench.RADIUS  # above the ground


def test_smoke_run_prints_every_pile_and_model(capsys):
    bench = load_benchmark()
    assert bench.main(["--steps", "3", "--repeats", "1", "--no-startup", "--no-mujoco"]) == 0
    out = capsys.readouterr().out
    for name in ("pile of 1 sphere", "pile of 64 spheres", "pile of 512 spheres",
                 "pile of 64 boxes", "columns of 1 sphere", "columns of 512 spheres",
                 "columns of 1 box", "columns of 64 boxes", "columns of 512 boxes"):
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


def test_fuzz_quick_run_has_no_raw_exception_and_no_non_finite_result(capsys, tmp_path):
    # a few dozen random scenes per contact model (rollout and value_and_grad): whatever goes
    # wrong is a SimulationError with its step, never numpy's or numba's own exception, and
    # nothing non-finite comes back
    bench = load_benchmark("fuzz")
    assert bench.main(["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| ")]
    head = [c.strip() for c in rows[0]]
    table = [dict(zip(head, (c.strip() for c in r))) for r in rows[1:]]
    assert len(table) == 6  # three models, scenes with and without overlap
    for row in table:
        assert int(row["scenes"]) == (bench.QUICK_OVERLAP if "overlap" in row["model"]
                                      else bench.QUICK_SCENES)
        assert row["raw exceptions"] == "0" and row["non-finite, no error"] == "0", row
        assert row["grad non-finite"] == "0", row
    assert (tmp_path / "fuzz.md").exists() and (tmp_path / "scenes.csv").exists()


def test_profile_pile_smoke_run(capsys):
    bench = load_benchmark("profile_pile")
    assert bench.main(["--n", "2", "--steps", "3"]) == 0
    out = capsys.readouterr().out
    for model in ("HardContact(", "SmoothedContact("):
        assert model in out
    assert out.count("full step:") == 2 and out.count("steps whose solve ended above") == 2


def test_polish_limit_smoke_run(capsys):
    assert load_benchmark("polish_limit").main(["--quick"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 8 ")]
    assert len(rows) == 4  # two piles, two limits
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert all(np.isfinite(float(c)) for c in cells[2:])


def test_transition_cost_smoke_run(capsys):
    bench = load_benchmark("transition_cost")
    assert bench.main(["--quick", "--no-mujoco"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "us" in line]
    assert [r.split(" | ")[0] for r in rows] == ["| 1 sphere", "| 8 spheres", "| 1 box",
                                                 "| 8 boxes"]
    assert all(r.split(" | ")[5].strip(" |") == "0" for r in rows)  # no failed solve


def test_step_overhead_smoke_run(capsys):
    bench = load_benchmark("step_overhead")
    assert bench.main(["--steps", "100", "--repeats", "1", "--no-mujoco"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert [r.split(" | ")[0] for r in rows[1:]] == ["| " + s for s in bench.SCENES]
    assert all(float(x) > 0 for r in rows[1:] for x in r.strip(" |").split(" | ")[1:])
    assert "Jacobians" in out and "; 2 steps timed)" in out


def test_sweep_scaling_smoke_run_gets_the_loop_s_rows_on_every_executor(capsys):
    pytest.importorskip("dask.distributed")
    bench = load_benchmark("sweep_scaling")
    assert bench.main(["--quick"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()
            if line.split()[:1] in (["threads"], ["processes"], ["dask"])]
    assert [r[0] for r in rows] == ["threads", "processes", "dask"]
    assert all(r[-1] == "yes" for r in rows), rows


def test_pile_rest_smoke_run(capsys):
    bench = load_benchmark("pile_rest")
    assert bench.main(["--quick", "--no-mujoco"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| simcore")]
    assert [r.split("|")[2].strip() for r in rows] == ["0", "0.002"]
    assert all(r.split("|")[-2].strip() == "0" for r in rows)  # no failed solve


def test_loss_jumps_finds_a_step_and_not_a_kink(capsys):
    bench = load_benchmark("loss_jumps")
    x = np.linspace(0.0, 1.0, 201)
    smooth = np.sin(3.0 * x) + x ** 2
    # (second differences of the smooth part: about 1e-4) a step of 0.1 between samples 120
    # and 121 is found there; a kink whose slope change, 1e-3 per sample, is ten of them is not
    assert list(bench.jumps(smooth + 0.1 * (np.arange(201) > 120), 300.0)) == [120]
    assert len(bench.jumps(smooth + 0.2 * np.maximum(x - 0.6, 0.0), 300.0)) == 0
    assert bench.main(["--n", "5", "--e", "0.5"]) == 0
    assert "restitution 0.5:" in capsys.readouterr().out
