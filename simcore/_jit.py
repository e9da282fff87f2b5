"""The one numba decorator, with the project's defaults.

Every kernel uses ``jit``: on-disk cache (compile once per machine), exact float semantics
(gradients are compared to 1e-7, so no fastmath), numpy error model (no Python exceptions from
inside kernels; the kernels themselves must never produce inf or nan).

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

_DEFAULTS = dict(cache=True, fastmath=False, error_model="numpy", nogil=True)


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


def jit(fn=None, **overrides):
    """``numba.njit`` with the project's defaults; usable as ``@jit`` or ``@jit(inline=...)``."""
    opts = dict(_DEFAULTS, **overrides)
    if fn is None:
        return lambda f: numba.njit(**opts)(f)
    return numba.njit(**opts)(fn)
