"""Factorizations kept while one caller solves with the same matrices again and again.

transition_kernel (step.py) carries every row of a step's Jacobians back through the same
substep: each row's adjoint solves with the same matrices (the contact solves' transposed
systems, dense or through the bodies), which the rows would otherwise factor anew. While
Data.fac_on[0] is 1, factor_kept keeps each factorization beside a copy of the matrix it was
taken of, and a later call on exactly the same matrix (compared entry by entry, so a row can
never get another matrix's factors) copies them instead of factoring: the result is the same
to the bit. transition_kernel turns this on for its rows and clears the entries per substep.
"""
import numpy as np

from simcore._jit import jit
from simcore.kernels.linalg import band_factor, block_factor, lu_factor


# factor_kept's kinds of matrix besides a band (w >= 0): dense (n, n), or linalg.block_layout's
DENSE = -1
BLOCK_SPARSE = -2


@jit(inline="always")
def _factor(M, n, w, piv):
    if w == BLOCK_SPARSE:
        return block_factor(M)
    return band_factor(M, n, w, piv) if w >= 0 else lu_factor(M, piv)


@jit
def factor_kept(d, M, n, w, piv):
    """band_factor(M, n, w, piv) (w >= 0: M banded, (n, 3 w + 1)), lu_factor(M, piv) (w = DENSE:
    M (n, n)) or block_factor(M) (w = BLOCK_SPARSE: block_layout's array; n = 0, piv unused),
    in place; while d.fac_on[0], the kept factors of exactly the same M if there are any, else
    factored and kept while d.fac_meta has room. False where the factorization fails (nothing
    is kept then)."""
    if d.fac_on[0] == 0:
        return _factor(M, n, w, piv)
    size = M.shape[0] * M.shape[1]
    meta, store, ints = d.fac_meta, d.fac_float, d.fac_int
    flat = M.reshape(size)
    count = d.fac_count[0]
    if count > 0 and (meta[count - 1, 2] + 2 * meta[count - 1, 4] > store.shape[0]
                      or meta[count - 1, 3] + meta[count - 1, 0] > ints.shape[0]):
        count = 0  # (the grown stores belong to an earlier compiled call's record: gone)
    for e in range(count):
        if meta[e, 0] != n or meta[e, 1] != w or meta[e, 4] != size:
            continue
        f0 = meta[e, 2]
        same = True
        for r in range(size):
            if store[f0 + r] != flat[r]:
                same = False
                break
        if same:
            flat[:] = store[f0 + size:f0 + 2 * size]
            piv[:n] = ints[meta[e, 3]:meta[e, 3] + n]
            return True
    if count == meta.shape[0]:
        return _factor(M, n, w, piv)
    f0 = meta[count - 1, 2] + 2 * meta[count - 1, 4] if count > 0 else 0
    i0 = meta[count - 1, 3] + meta[count - 1, 0] if count > 0 else 0
    if store.shape[0] < f0 + 2 * size:
        grown = np.zeros(max(2 * store.shape[0], f0 + 2 * size))
        grown[:f0] = store[:f0]
        d.fac_float = grown
        store = grown
    if ints.shape[0] < i0 + n:
        grown_int = np.zeros(max(2 * ints.shape[0], i0 + n), dtype=np.int64)
        grown_int[:i0] = ints[:i0]
        d.fac_int = grown_int
        ints = grown_int
    store[f0:f0 + size] = flat
    if not _factor(M, n, w, piv):
        return False
    store[f0 + size:f0 + 2 * size] = flat
    ints[i0:i0 + n] = piv[:n]
    meta[count, 0], meta[count, 1], meta[count, 2] = n, w, f0
    meta[count, 3], meta[count, 4] = i0, size
    d.fac_count[0] = count + 1
    return True
