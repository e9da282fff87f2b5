"""Helpers shared by scenarios: output folders and tables a person can open."""
import csv
import os

import numpy as np

from simcore.parallel import EXECUTORS, sweep

GIF_FRAMES, GIF_DPI = 100, 60  # a scenario's GIF: at most this many frames, at this resolution


def out_dir(path):
    os.makedirs(path, exist_ok=True)
    return path


def write_table(rows, out, stem):
    """Write rows (a list of dicts with the same keys) as ``stem.csv`` and ``stem.md``."""
    keys = list(rows[0])
    with open(os.path.join(out, stem + ".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    fmt = lambda v: f"{v:.6g}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(fmt(r[k]) for k in keys) + " |" for r in rows]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, stem + ".md"), "w") as f:
        f.write(text)
    return text


def add_sweep_arguments(p, what="rollouts"):
    """The options of a scenario or benchmark whose work is a sweep of independent runs
    (``simcore.parallel.sweep``): --executor, --workers and --dask-address."""
    p.add_argument("--executor", choices=EXECUTORS, default=None,
                   help="where the runs go: threads of this process (default), processes of "
                        "this machine, or a Dask cluster (--dask-address, or a local one)")
    p.add_argument("--workers", type=int, default=None,
                   help=f"threads, processes or local Dask workers running {what} in parallel "
                        "(default: all cores)")
    p.add_argument("--dask-address", default=None, metavar="ADDRESS",
                   help="a Dask scheduler to send the runs to (tcp://host:8786); implies "
                        "--executor dask")


def parallel_map(fn, items, args, what="rollouts"):
    """[fn(item) for item in items] on the executor chosen by ``args`` (add_sweep_arguments),
    with a progress bar; results in order and the same whatever the executor."""
    executor = args.executor or ("dask" if args.dask_address else "threads")
    return sweep(fn, items, executor, args.workers, args.dask_address, what=what)


def write_index(out, name, doc, written, table=""):
    """Write ``out/index.md``: the scenario's name, the first paragraph of its docstring, the
    files written (a description each when ``written`` maps path -> description) and a table.
    Prints the list of files and returns the path of the index."""
    items = written.items() if isinstance(written, dict) else ((w, "") for w in written)
    lines = [f"- `{os.path.basename(w)}`" + (f": {d}" if d else "") for w, d in items]
    path = os.path.join(out, "index.md")
    with open(path, "w") as f:
        f.write(f"# {name}\n\n" + doc.strip().split("\n\n")[0] + "\n\n" + "\n".join(lines)
                + "\n" + ("\n" + table if table else ""))
    print("wrote " + ", ".join(list(written)) + ", " + path)
    return path


def spread(n, k):
    """min(n, k) of the indices 0 .. n-1, always the first and the last, spaced about
    geometrically: the iterations an animation of an optimisation shows, denser at the start,
    where an optimiser moves most."""
    idx = []
    for v in np.geomspace(1, n, min(n, k)):
        idx.append(max(int(round(v)) - 1, idx[-1] + 1 if idx else 0))  # distinct: all when n <= k
    return idx


def series_gif(path, model, trajs, labels, title, view="xz"):
    """Trajectories of one scene (``model``'s bodies and shapes) drawn over each other, one
    colour each (``viz.animate.animate_series``), into the GIF ``path``: at most GIF_FRAMES
    frames (``viz.animate.frame_steps(steps, max_frames=GIF_FRAMES)``) at GIF_DPI. Returns
    ``path``."""
    from viz.animate import animate_series
    return animate_series(model, trajs, path, labels=labels, view=view, title=title,
                          max_frames=GIF_FRAMES, dpi=GIF_DPI)


def sweep_gif(path, runs, steps, labels, title, view="xz"):
    """Roll out each run, ``(model, state)`` or ``(model, state, controls)``, for ``steps`` and
    draw them over each other with ``series_gif``. The first run's model draws the shapes, so
    the runs are builds of one scene that differ in initial state or parameters. Returns
    ``path``."""
    import simcore as sc
    trajs = [sc.rollout(run[0], run[1], steps, *run[2:], progress=False) for run in runs]
    return series_gif(path, runs[0][0], trajs, labels, title, view)
