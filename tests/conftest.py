"""Shared fixtures. numba's cache folder is keyed by a hash of the kernel sources."""
import sys

import numpy as np
import pytest

import simcore as sc


@pytest.fixture(scope="session", autouse=True)
def warm_kernels():
    """Compile (or load from cache) the rollout kernel once, with every shape pair present."""
    scene = sc.Scene(dt=1e-3)
    scene.add_plane()
    scene.add_sphere(0.1, pos=(0, 0, 0.1))
    scene.add_box((0.1, 0.1, 0.1), pos=(0.3, 0, 0.1))
    scene.add_capsule(0.05, 0.1, pos=(-0.3, 0, 0.05), quat=(np.sqrt(0.5), np.sqrt(0.5), 0, 0))
    model = scene.build()
    sc.rollout(model, model.initial_state(), 2)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def pytest_terminal_summary(terminalreporter):
    """After a run that included tests/test_grad.py: its worst adjoint-vs-difference errors."""
    worst = getattr(sys.modules.get("tests.test_grad"), "WORST", None)
    if worst:
        terminalreporter.section("worst relative error of the adjoint against central "
                                 "differences (tests/test_grad.py, passing checks)")
        for label, (err, n) in sorted(worst.items()):
            terminalreporter.write_line(f"{label:58s} {err:8.1e}  over {n} entries")
