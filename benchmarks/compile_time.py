"""Where the first run's time goes: compiling the kernels, per contact model and per kernel.

    python benchmarks/compile_time.py [--models hard,penalty,smoothed] [--top 15] [--no-grad]

For each contact model, a fresh Python process with an empty NUMBA_CACHE_DIR builds a one-sphere
scene and times its first ``rollout`` (1 step) and then its first ``value_and_grad`` (1 step): on
an empty cache both are nearly all compiling. numba's compile events give each compiled function's
own time (its callees' compiles subtracted; it includes optimising and generating the machine code
of the callees linked into it, which numba repeats in every caller), and its LLVM events the part
of each phase spent in LLVM (parsing the IR numba wrote, optimising it, emitting machine code);
the rest is numba's own typing and lowering, in Python. The table lists the kernels that took
longest, over the models run. numba's optimisation level is the environment's NUMBA_OPT. Single-threaded compiles; the load average is printed.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = """
import json, sys, time
from collections import defaultdict
from numba.core import event

log = []


class _Listener(event.Listener):
    def on_start(self, ev):
        log.append((True, time.perf_counter(), ev.data["dispatcher"]))

    def on_end(self, ev):
        log.append((False, time.perf_counter(), ev.data["dispatcher"]))


class _LLVM(event.Listener):
    # time spent in LLVM (parsing each function's IR, optimising, emitting machine code), the
    # rest of a compile being numba's own typing and lowering, in Python
    total = 0.0

    def on_start(self, ev):
        self.t = time.perf_counter()

    def on_end(self, ev):
        _LLVM.total += time.perf_counter() - self.t


event.register("numba:compile", _Listener())
event.register("numba:llvm_lock", _LLVM())
t0 = time.perf_counter()
import numpy as np
import simcore as sc
scene = sc.Scene(dt=1e-3)
scene.add_plane()
scene.add_sphere(0.05, mass=0.1, pos=(0.0, 0.0, 0.2))
model = scene.build(contact={contact})
state = model.initial_state()
t1 = time.perf_counter()
sc.rollout(model, state, 1, progress=False)
t2 = time.perf_counter()
out = dict(import_s=t1 - t0, rollout_s=t2 - t1, rollout_llvm_s=_LLVM.total)
if {grad}:
    def loss(traj):
        cot = np.zeros_like(traj.pos)
        cot[-1] = 1.0
        return float(traj.pos[-1].sum()), dict(pos=cot)
    sc.value_and_grad(model, state, 1, loss, progress=False)
    out["grad_s"] = time.perf_counter() - t2
    out["grad_llvm_s"] = _LLVM.total - out["rollout_llvm_s"]
own = defaultdict(float)
stack = []
for start, t, disp in log:
    name = disp.py_func.__module__ + "." + disp.py_func.__qualname__
    if start:
        stack.append([name, t, 0.0])
    else:
        name, t_start, children = stack.pop()
        own[name] += t - t_start - children
        if stack:
            stack[-1][2] += t - t_start
out["own"] = own
print(json.dumps(out))
"""

CONTACTS = {"hard": "sc.HardContact()", "penalty": "sc.PenaltyContact()",
            "smoothed": "sc.SmoothedContact()"}


def cold_run(model, grad):
    """The child's timings for one contact model, on an empty cache folder."""
    cache = tempfile.mkdtemp(prefix="simcore_compile_")
    env = dict(os.environ, NUMBA_CACHE_DIR=cache,
               PYTHONPATH=os.pathsep.join([str(ROOT)] + ([os.environ["PYTHONPATH"]]
                                                         if os.environ.get("PYTHONPATH") else [])))
    code = _CHILD.format(contact=CONTACTS[model], grad=grad)
    try:
        proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=str(ROOT),
                              capture_output=True, text=True)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError(f"compile-time child ({model}) failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="hard,penalty,smoothed",
                        help="comma-separated contact models (hard, penalty, smoothed)")
    parser.add_argument("--top", type=int, default=15, help="kernels listed (default 15)")
    parser.add_argument("--no-grad", action="store_true", help="time the first rollout only")
    args = parser.parse_args(argv)
    models = [s.strip() for s in args.models.split(",") if s.strip()]
    bad = [s for s in models if s not in CONTACTS]
    if bad:
        parser.error(f"unknown contact model(s) {bad}; choose from {sorted(CONTACTS)}")
    print(f"cold start (empty NUMBA_CACHE_DIR), one sphere on a plane, 1 step; load average "
          f"{os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    print(f"{'contact':10s} {'import s':>9s} {'first rollout s':>16s} {'of it LLVM s':>13s} "
          f"{'first grad s':>13s} {'of it LLVM s':>13s}")
    own = defaultdict(float)
    for model in models:
        print(f"  ... compiling {model}", file=sys.stderr, flush=True)
        r = cold_run(model, not args.no_grad)
        grad = (f"{r['grad_s']:13.1f} {r['grad_llvm_s']:13.1f}" if "grad_s" in r
                else f"{'-':>13s} {'-':>13s}")
        print(f"{model:10s} {r['import_s']:9.1f} {r['rollout_s']:16.1f} "
              f"{r['rollout_llvm_s']:13.1f} {grad}", flush=True)
        for name, t in r["own"].items():
            own[name] += t
    print(f"\nkernels by own compile time (s), summed over {', '.join(models)}; "
          f"total {sum(own.values()):.1f} s over {len(own)} functions")
    for name, t in sorted(own.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"{t:7.1f}  {name}")


if __name__ == "__main__":
    main()
