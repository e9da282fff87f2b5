"""The one numba decorator, with the project's defaults.

Every kernel uses ``jit``: on-disk cache (compile once per machine), exact float semantics
(gradients are compared to 1e-7, so no fastmath), numpy error model (no Python exceptions from
inside kernels; the kernels themselves must never produce inf or nan).

Records: Model, Data, Adjoint and Tape (simcore/model.py) are NamedTuples in Python, marked
``@record``. An entry kernel (below) called with one receives it as a ``RecordRef``: a numba
StructRef holding the same arrays and scalars, so the kernels' ``m.body_mass`` reads and writes
the caller's arrays as before, but a compiled call passes one pointer and counts one reference.
Passed as a tuple, each call passed every array it holds field by field (about 90 arrays, seven
words each) and counted a reference to each: that was a third of a one-sphere step's time
(``perf``), and the calls' argument code a large part of the compile. Measured on one machine
before and after: a HardContact step of one sphere in free flight 6.3 -> 1.6 us
(``benchmarks/step_overhead.py``), the first HardContact rollout's compile 148 -> 99 s
(``benchmarks/compile_time.py``). The conversion is the entry kernel's: Python code keeps the
NamedTuples (``model._replace``). Inside compiled code a field read counts a reference each time
it runs, so a loop reads the arrays it needs before it starts (with the reads in the loops, the
HardContact step of 64 cubes in columns 0.1 mm apart took 26% longer with records than with
tuples; with them before, about the same).

Python entry points: numba gives every compiled function a wrapper that unboxes its arguments
from Python objects. Only the kernels Python calls need it, so a kernel is compiled without one
unless declared ``jit(entry=True)``: the rollout and reverse kernels, and the kernels the tests
check one by one. Calling a kernel compiled without its wrapper from Python raises a TypeError
saying so.

Literal arguments: numba compiles a callee once per argument type, and a constant passed to it
(``f(0)``, ``g(True)``), or a counter that starts at one (``n = 0`` then ``n += 1``, typed
first as the literal 0), is a type of its own: the callee and everything it calls are compiled
twice. So the kernels pass such values as ``np.int64(0)`` / ``np.bool_(True)`` (the first
HardContact rollout and gradient compiled 17% faster, ``benchmarks/compile_time.py``).

Inlining: the per-contact kernels called inside a solver's sweep (penalty's ``_tc_local``,
smoothed's ``_local_newton``, ``_start``, ``contact_scales``) are ``jit(inline="always")``.
Inline with care: inlining the once-per-step stages and the vjp's (``step``, the contact
model's dispatch, ``collision_vjp``, ...) made the friction gradients wrong (41 tests failed),
so they are compiled calls.

Numba checks a cached function against its own file only, so editing a callee in another file
(or upgrading simcore) can leave a cached caller stale. We therefore key the cache folder by a
hash of the sources compiled code depends on (the kernels, this file, and model.py whose records
the kernels take): ``$NUMBA_CACHE_DIR`` (or ``~/.cache/simcore``) ``/<hash>``. Editing the
pure-Python layers (scene, rollout, contact configs) keeps the cache.
"""
import hashlib
import os
from pathlib import Path

import numba
from numba.core import types
from numba.core.registry import CPUDispatcher
from numba.experimental import structref
from numba.extending import overload

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


@structref.register
class RecordRef(types.StructRef):
    """Compiled code's view of a record (Model, Data, ...): its fields behind one reference."""

    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(t)) for name, t in fields)


class _Record(structref.StructRefProxy):
    """A record as Python holds it between entry kernels (see as_record)."""


structref.define_boxing(RecordRef, _Record)

_RECORDS = set()


def record(cls):
    """Class decorator: instances of this NamedTuple enter compiled code as one RecordRef."""
    _RECORDS.add(cls)
    return cls


def _new_record(nt):
    """A RecordRef holding the NamedTuple's fields (compiled code only: see the overload)."""
    raise NotImplementedError


@overload(_new_record, **OVERLOAD_OPTIONS)
def _new_record_impl(nt):
    # one statement per field: a StructRef's fields are set by name, so the code is written for
    # the NamedTuple's names
    ref = RecordRef(list(zip(nt.fields, nt.types)))
    lines = ["def impl(nt):", "    r = structref.new(ref)"]
    lines += [f"    r.{name} = nt[{i}]" for i, name in enumerate(nt.fields)]
    lines.append("    return r")
    scope = {"__name__": __name__, "structref": structref, "ref": ref}
    exec("\n".join(lines), scope)
    return scope["impl"]


@numba.njit(**_DEFAULTS)
def _to_record(nt):
    return _new_record(nt)


def as_record(value):
    """A registered NamedTuple as the RecordRef entry kernels take; anything else unchanged."""
    return _to_record(value) if type(value) in _RECORDS else value


class _Entry(CPUDispatcher):
    """A kernel called from Python: records (Model, Data, ...) are passed as one reference."""

    def __call__(self, *args, **kwargs):
        return super().__call__(*[as_record(x) for x in args],
                                **{k: as_record(x) for k, x in kwargs.items()})


class _Kernel(CPUDispatcher):
    """A kernel compiled without a Python entry point: called from compiled code only."""

    def __call__(self, *args, **kwargs):
        raise TypeError(f"{self.py_func.__module__}.{self.py_func.__qualname__} is compiled "
                        "without a Python entry point; declare it with jit(entry=True) to call "
                        "it from Python")


def _kernel(fn, opts, entry):
    cache = opts.pop("cache")
    extra = {} if entry else dict(no_cpython_wrapper=True, no_cfunc_wrapper=True)
    disp = (_Entry if entry else _Kernel)(py_func=fn, locals={}, targetoptions=dict(
        opts, nopython=True, **extra))
    if cache:
        disp.enable_caching()
    return disp


def jit(fn=None, *, entry=False, **overrides):
    """``numba.njit`` with the project's defaults; usable as ``@jit`` or ``@jit(inline=...)``.

    ``entry=True``: the kernel is called from Python too, and gets numba's Python wrapper.
    """
    opts = dict(_DEFAULTS, **overrides)

    def decorate(f):
        return _kernel(f, dict(opts), entry)

    return decorate if fn is None else decorate(fn)
