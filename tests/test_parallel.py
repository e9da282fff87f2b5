"""simcore.parallel.sweep: the same results, bit for bit, on threads, processes and a local Dask
cluster; clear errors on bad input; exceptions raised where the sweep was called."""
import functools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scenarios import gradient_audit
from simcore.parallel import sweep


def audit_gradient(seed, contact="hard"):
    """A gradient_audit scene (mixed shapes, spins, stacks, restitution, controls on odd seeds)
    with its random loss: the loss and every gradient entry the adjoint gives."""
    model, steps, loss, probs = gradient_audit.problems(contact, seed)
    f, flat, _ = probs[0].evaluate(probs[0].x0)
    return f, flat


def fail_on_three(x):
    if x == 3:
        raise RuntimeError("item three")
    return x * x


ROOT = Path(__file__).resolve().parent.parent
SEEDS = list(range(6))


@pytest.fixture(scope="module")
def reference():
    return [audit_gradient(s) for s in SEEDS]


def assert_same(results, reference):
    assert len(results) == len(reference)
    for (f, g), (f0, g0) in zip(results, reference):
        assert f == f0
        np.testing.assert_array_equal(g, g0)


@pytest.mark.parametrize("executor,chunk", [("threads", None), ("threads", 4),
                                            ("processes", None), ("processes", 1)])
def test_threads_and_processes_give_the_loop_s_results_bit_for_bit(reference, executor, chunk):
    assert_same(sweep(audit_gradient, SEEDS, executor, workers=2, chunk=chunk,
                      progress=False), reference)


def test_a_local_dask_cluster_gives_the_loop_s_results_bit_for_bit(reference):
    pytest.importorskip("dask.distributed")
    fn = functools.partial(audit_gradient, contact="hard")
    assert_same(sweep(fn, SEEDS, "dask", workers=2, chunk=2, progress=False), reference)


def test_a_dask_cluster_at_an_address_gives_the_loop_s_results(reference):
    # the path of --dask-address: a scheduler and workers started apart from the sweep
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        assert_same(sweep(audit_gradient, SEEDS[:3], "dask", address=cluster.scheduler_address,
                          progress=False), reference[:3])


def test_results_keep_the_order_of_the_items():
    items = list(range(23))
    for chunk in (None, 1, 5, 100):
        assert sweep(abs, [-i for i in items], chunk=chunk, progress=False) == items
    assert sweep(abs, [], progress=False) == []


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_an_exception_in_fn_is_raised_by_sweep(executor):
    with pytest.raises(RuntimeError, match="item three"):
        sweep(fail_on_three, range(6), executor, workers=2, progress=False)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="executor must be one of threads, processes, dask"):
        sweep(abs, [1], "gpu")
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        sweep(abs, [1], workers=0)
    with pytest.raises(ValueError, match="chunk must be a positive integer"):
        sweep(abs, [1], chunk=1.5)
    with pytest.raises(ValueError, match="needs executor='dask'"):
        sweep(abs, [1], "threads", address="tcp://127.0.0.1:8786")
    with pytest.raises(ValueError, match="a cluster at an address has the workers"):
        sweep(abs, [1], "dask", workers=2, address="tcp://127.0.0.1:8786")
    with pytest.raises(TypeError, match="fn must be callable"):
        sweep(3, [1])
    with pytest.raises(TypeError, match="does not pickle"):
        sweep(lambda x: x, [1], "processes")


def test_a_benchmark_script_runs_its_sweep_on_processes_as_on_threads():
    # solver_convergence's grid: its function comes from the script run as __main__, which the
    # spawned processes import again; the table is the same but for the time taken
    def table(*options):
        out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "solver_convergence.py"),
                              "--grid", "2", "1", "--regularization", "1e-9", *options],
                             capture_output=True, text=True, check=True).stdout
        return [line.split()[:-1] for line in out.splitlines()[1:]]
    on_processes = table("--executor", "processes", "--workers", "2")
    assert on_processes[0][:2] == ["1e-09", "2"]
    assert on_processes == table("--workers", "2")
