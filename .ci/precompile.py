"""Compile the engine's kernels into numba's cache before the tests, one contact model per
process, so that a machine with several cores compiles them side by side: the test session
alone would compile them one after another (most of a run on an empty cache).

    python .ci/precompile.py

Each process builds a scene with every shape pair and runs a rollout, value_and_grad and
transition_jacobians of two steps under its model: the entry kernels the tests and scenarios
call (the tests' own entries, tests/kernel_entries.py, compile in the test session). The cache
is the one the tests use (simcore/_jit.py: $NUMBA_CACHE_DIR or ~/.cache/simcore, keyed by the
kernels' sources). Exits non-zero if a process fails.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("HardContact", "PenaltyContact", "SmoothedContact")

_CHILD = """
import sys
import numpy as np
import simcore as sc
scene = sc.Scene(dt=1e-3)
scene.add_plane()
scene.add_sphere(0.1, pos=(0, 0, 0.1))
scene.add_box((0.1, 0.1, 0.1), pos=(0.3, 0, 0.1))
scene.add_capsule(0.05, 0.1, pos=(-0.3, 0, 0.05), quat=(np.sqrt(0.5), np.sqrt(0.5), 0, 0))
model = scene.build(contact=getattr(sc, sys.argv[1])())
state = model.initial_state()
sc.rollout(model, state, 2, progress=False)
sc.value_and_grad(model, state, 2, sc.losses.final(1), progress=False)
sc.transition_jacobians(model, state, 2, progress=False)
"""


def main():
    t0 = time.perf_counter()
    procs = {m: subprocess.Popen([sys.executable, "-c", _CHILD, m], cwd=ROOT) for m in MODELS}
    failed = [m for m, p in procs.items() if p.wait() != 0]
    print(f"precompile: {len(MODELS)} contact models in {time.perf_counter() - t0:.0f} s"
          f"{' (failed: ' + ', '.join(failed) + ')' if failed else ''} on "
          f"{os.cpu_count()} cores", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
