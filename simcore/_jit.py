"""The one numba decorator, with the project's defaults.

Every kernel uses ``jit``: on-disk cache (compile once per machine), exact float semantics
(gradients are compared to 1e-7, so no fastmath), numpy error model (no Python exceptions from
inside kernels; the kernels themselves must never produce inf or nan).

Python entry points: numba gives every compiled function a wrapper that unboxes its arguments
from Python objects; for a kernel taking the Model / Data tuples that is code for every array
they hold, compiled and optimised once per kernel. Only the kernels Python calls need it, so a
kernel is compiled without one unless declared ``jit(entry=True)``: the rollout and reverse
kernels, and the kernels the tests check one by one (the wrappers were about a fifth of the
first HardContact rollout's compile, ``benchmarks/compile_time.py``). Calling a kernel compiled
without its wrapper from Python raises a TypeError saying so.

Literal arguments: numba compiles a callee once per argument type, and a constant passed to it
(``f(0)``, ``g(True)``), or a counter that starts at one (``n = 0`` then ``n += 1``, typed
first as the literal 0), is a type of its own: the callee and everything it calls are compiled
twice. So the kernels pass such values as ``np.int64(0)`` / ``np.bool_(True)`` (the first
HardContact rollout and gradient compiled 17% faster, ``benchmarks/compile_time.py``).

Reference counts: a compiled function taking the Model / Data tuples increments and decrements
the count of every array they hold (about 90 atomic operations each way) on each call: a third
of a one-sphere step's time (``perf``). Inside a solver's sweep that is paid per contact, so the
per-contact kernels called there (penalty's ``_tc_local``, smoothed's ``_local_newton``,
``_start``, ``contact_scales``) are inlined, ``jit(inline="always")``: one to three call sites
each, the first rollouts' compile measured the same, and PenaltyContact's 64-sphere lattice
pile ran 1.23 times and its 64 cubes in columns 1.32 times faster, SmoothedContact's cubes in
columns 1.14 times (``benchmarks/throughput.py``; one body: ``benchmarks/step_overhead.py``).
Inline with care: inlining the once-per-step stages and the vjp's (``step``, the contact
model's dispatch, ``collision_vjp``, ...) made the friction gradients wrong (41 tests failed),
so they are compiled calls.

Numba checks a cached function against its own file only, so editing a callee in another file
(or upgrading simcore) can leave a cached caller stale. We therefore key the cache folder by a
hash of the sources compiled code depends on (the kernels, this file, and model.py whose tuples
the kernels take): ``$NUMBA_CACHE_DIR`` (or ``~/.cache/simcore``) ``/<hash>``. Editing the
pure-Python layers (scene, rollout, contact configs) keeps the cache.
"""
import hashlib
import os
from pathlib import Path

import numba
from numba.core.registry import CPUDispatcher

_DEFAULTS = dict(cache=True, fastmath=False, error_model="numpy", nogil=True)
# the same, for the implementations of ``numba.extending.overload`` (compiled and cached with
# their callers)
OVERLOAD_OPTIONS = dict(fastmath=False, error_model="numpy", nogil=True)


def _source_hash():
    root = Path(__file__).resolve().parent
    h = hashlib.sha1()
    for path in sorted(root.glob("kernels/**/*.py")) + [root / "_jit.py", root / "model.py"]:
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _keyed_cache_dir():
    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "simcore")
    return os.path.join(base, _source_hash())


CACHE_DIR = _keyed_cache_dir()
numba.config.CACHE_DIR = CACHE_DIR


class _Kernel(CPUDispatcher):
    """A kernel compiled without a Python entry point: called from compiled code only."""

    def __call__(self, *args, **kwargs):
        raise TypeError(f"{self.py_func.__module__}.{self.py_func.__qualname__} is compiled "
                        "without a Python entry point; declare it with jit(entry=True) to call "
                        "it from Python")


def _kernel(fn, opts):
    cache = opts.pop("cache")
    disp = _Kernel(py_func=fn, locals={}, targetoptions=dict(
        opts, nopython=True, no_cpython_wrapper=True, no_cfunc_wrapper=True))
    if cache:
        disp.enable_caching()
    return disp


def jit(fn=None, *, entry=False, **overrides):
    """``numba.njit`` with the project's defaults; usable as ``@jit`` or ``@jit(inline=...)``.

    ``entry=True``: the kernel is called from Python too, and gets numba's Python wrapper.
    """
    opts = dict(_DEFAULTS, **overrides)

    def decorate(f):
        return numba.njit(**opts)(f) if entry else _kernel(f, dict(opts))

    return decorate if fn is None else decorate(fn)
