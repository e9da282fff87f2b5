"""Factorizations kept while one caller solves with the same matrices again and again.

transition_kernel (step.py) carries every row of a step's Jacobians back through the same
substep: each row's adjoint solves with the same matrices (the contact solves' transposed
systems, dense or through the bodies), which the rows would otherwise assemble and factor
anew. While Data.fac_on[0] is 1, each factorization is kept (keep) under a key, what its matrix
is assembled from (system_key: the selected contacts, their F_l, F_u and Jacobians), and a
later solve with exactly the same key (find_kept: compared entry by entry, so a row can never
get another matrix's factors) solves with the kept factors (kept_factors), skipping the
assembly and the factorization: the result is the same to the bit. transition_kernel turns
this on for its rows and clears the entries per substep.

A solve's row-independent work is kept the same way (MEMO: memo_find / memo_keep): an adjoint
whose every row recomputes the same quantities from the forward's solution (a contact solve's
F_l and F_u) keeps them once per substep under a slot, which names one call site of one solve
(the hard model's resting solve, each impact phase's, the smoothed and penalty models'
solves). Within a substep every row goes back through the same replayed forward
(transition_kernel puts its contacts back between rows), so a slot and the selected contacts
determine the matrix: while such a solve runs, Data.fac_tag[0] holds its slot, and system_key
is then the slot and the contacts (a few numbers) in place of the matrix's contents. Other
work kept per substep the same way: the islands, the body-space solve's order and F_l^-1, the
box pairs' Jacobians and the box-box pairs' separating-axis tests (MEMO_ISLANDS, MEMO_BODIES,
MEMO_COLLISION slots 0 and 1).
"""
import numpy as np

from simcore._jit import jit
from simcore.kernels.linalg import band_factor, block_factor, lu_factor


# the kinds of matrix kept besides a band (w >= 0): dense (n, n), or linalg.block_layout's; and
# a memo's block of floats
DENSE = -1
BLOCK_SPARSE = -2
MEMO = -3
# what keeps a memo (memo_key): a contact solve's adjoint (its slot), the solve through the
# bodies (body_space.solve), the islands (contact_space.transposed_solve), the collision's
# pair Jacobians (slot 0) and box-box axis tests (slot 1, step.collision_vjp)
MEMO_SOLVE = 0
MEMO_BODIES = 1
MEMO_ISLANDS = 2
MEMO_COLLISION = 3


@jit(inline="always")
def factor_of_kind(M, n, w, piv):
    # band_factor (w >= 0), lu_factor (DENSE) or block_factor (BLOCK_SPARSE) of M, in place
    if w == BLOCK_SPARSE:
        return block_factor(M)
    return band_factor(M, n, w, piv) if w >= 0 else lu_factor(M, piv)


@jit
def system_key(d, sel, nsel, Fl, Fu):
    """Everything K = F_l + F_u J M^-1 J^T over the selected contacts is made of, as one array:
    per contact its index, its bodies, F_l, F_u, J and M^-1 J^T (d.con_J, d.con_MJ). Two solves
    with equal keys (entry by entry) assemble the same matrix, bit for bit, whatever path
    (dense or through the bodies) they take; its callers key their kept factors by it, and
    skip the assembly on a match. While d.fac_tag[0] >= 0 (a memo's solve: module docstring),
    the tag and the selected contacts instead (negative first: never a contents key's)."""
    tag = d.fac_tag[0]
    if tag >= 0:
        key = np.empty(nsel + 2)
        key[0] = -1.0 - tag
        key[1] = nsel
        for p in range(nsel):
            key[2 + p] = sel[p]
        return key
    per = 3 + 18 + 72
    key = np.empty(nsel * per)
    J, MJ, body = d.con_J, d.con_MJ, d.con_body
    for p in range(nsel):
        k = sel[p]
        o = p * per
        key[o] = k
        key[o + 1] = body[k, 0]
        key[o + 2] = body[k, 1]
        o += 3
        for r in range(3):
            for c in range(3):
                key[o] = Fl[p, r, c]
                key[o + 1] = Fu[p, r, c]
                o += 2
        for s in range(2):
            for r in range(3):
                for c in range(6):
                    key[o] = J[k, s, r, c]
                    key[o + 1] = MJ[k, s, c, r]
                    o += 2
    return key


@jit
def find_kept(d, key, n, w):
    """The kept entry of order n and kind w (band_factor's band w >= 0, DENSE or BLOCK_SPARSE)
    whose key equals key entry by entry, or -1 (always -1 while keeping is off)."""
    if d.fac_on[0] == 0:
        return -1
    meta, store = d.fac_meta, d.fac_float
    count = _live(d)
    ksize = key.shape[0]
    for e in range(count):
        if meta[e, 0] != n or meta[e, 1] != w or meta[e, 5] != ksize:
            continue
        f0 = meta[e, 2]
        same = True
        for r in range(ksize):
            if store[f0 + r] != key[r]:
                same = False
                break
        if same:
            return e
    return -1


@jit
def kept_factors(d, e, rows, cols):
    """Entry e's factors, shaped (rows, cols) as they were kept, and its pivots: views of the
    store, to be read only (a later keep may move the store, not change them)."""
    meta = d.fac_meta
    f0, size, i0 = meta[e, 2] + meta[e, 5], meta[e, 4], meta[e, 3]
    return d.fac_float[f0:f0 + size].reshape((rows, cols)), d.fac_int[i0:i0 + meta[e, 0]]


@jit
def keep(d, key, M, n, w, piv):
    """Keep M's factors (M factored in place, piv its pivots) under key while keeping is on and
    d.fac_meta has room; otherwise nothing."""
    if d.fac_on[0] == 0:
        return
    meta = d.fac_meta
    count = _live(d)
    if count == meta.shape[0]:
        return
    size, ksize = M.shape[0] * M.shape[1], key.shape[0]
    f0 = meta[count - 1, 2] + meta[count - 1, 5] + meta[count - 1, 4] if count > 0 else 0
    i0 = meta[count - 1, 3] + meta[count - 1, 0] if count > 0 else 0
    store, ints = d.fac_float, d.fac_int
    if store.shape[0] < f0 + ksize + size:
        grown = np.zeros(max(2 * store.shape[0], f0 + ksize + size))
        grown[:f0] = store[:f0]
        d.fac_float = grown
        store = grown
    if ints.shape[0] < i0 + n:
        grown_int = np.zeros(max(2 * ints.shape[0], i0 + n), dtype=np.int64)
        grown_int[:i0] = ints[:i0]
        d.fac_int = grown_int
        ints = grown_int
    store[f0:f0 + ksize] = key
    store[f0 + ksize:f0 + ksize + size] = M.reshape(size)
    ints[i0:i0 + n] = piv[:n]
    meta[count, 0], meta[count, 1], meta[count, 2] = n, w, f0
    meta[count, 3], meta[count, 4], meta[count, 5] = i0, size, ksize
    d.fac_count[0] = count + 1


@jit(inline="always")
def _live(d):
    # the entries kept in this compiled call's stores (an earlier call's grown stores are gone
    # with its record, and its count with them)
    meta, count = d.fac_meta, d.fac_count[0]
    if count > 0 and (meta[count - 1, 2] + meta[count - 1, 5] + meta[count - 1, 4]
                      > d.fac_float.shape[0]
                      or meta[count - 1, 3] + meta[count - 1, 0] > d.fac_int.shape[0]):
        d.fac_count[0] = 0
        return 0
    return count


@jit
def memo_key(site, slot, sel, nsel):
    # a memo's key: what keeps it (MEMO_SOLVE, ...), the solve's slot and the selected contacts
    key = np.empty(nsel + 3)
    key[0] = site
    key[1] = slot
    key[2] = nsel
    for p in range(nsel):
        key[3 + p] = sel[p]
    return key


@jit
def memo_find(d, key, size):
    """(found, block): the block of size floats (any size: -1) kept under key in this substep
    (a view of the store, to be read only), or found False (always while keeping is off)."""
    e = find_kept(d, key, np.int64(0), np.int64(MEMO))
    if e < 0 or (size >= 0 and d.fac_meta[e, 4] != size):
        return False, np.empty(0)
    f0 = d.fac_meta[e, 2] + d.fac_meta[e, 5]
    return True, d.fac_float[f0:f0 + d.fac_meta[e, 4]]


@jit
def memo_room(d):
    # whether memo_keep would keep a block now (keeping on, an entry free)
    return d.fac_on[0] == 1 and _live(d) < d.fac_meta.shape[0]


@jit
def memo_keep(d, key, block):
    # keep block (1-D) under key while keeping is on and there is room; otherwise nothing
    keep(d, key, block.reshape((1, block.shape[0])), np.int64(0), np.int64(MEMO),
         np.empty(0, np.int64))
