"""Broad phase: candidate pairs whose bounds come within the contact margin.

Planes are tested against every body by the body's support along the plane normal; the other
bodies by sweep and prune on the world axis where their centres spread most (O(n log n) for a
pile instead of O(n^2) narrow-phase calls). Bounds are inflated by each body's motion bound so
that a body which can reach another within the step already has the pair (speculative contact).
"""
import numpy as np

from simcore._jit import jit
from simcore.kernels.consts import (BODY_DYNAMIC, GEOM_BOX, GEOM_CAPSULE, GEOM_PLANE,
                                    STATUS_OK, STATUS_PAIR_OVERFLOW)


@jit(inline="always")  # per body
def support(gtype, R, size, n):
    # max over the shape of n . (x - centre), for a unit direction n
    if gtype == GEOM_BOX:
        return (size[0] * abs(n[0] * R[0, 0] + n[1] * R[1, 0] + n[2] * R[2, 0])
                + size[1] * abs(n[0] * R[0, 1] + n[1] * R[1, 1] + n[2] * R[2, 1])
                + size[2] * abs(n[0] * R[0, 2] + n[1] * R[1, 2] + n[2] * R[2, 2]))
    if gtype == GEOM_CAPSULE:
        return size[0] + size[1] * abs(n[0] * R[0, 2] + n[1] * R[1, 2] + n[2] * R[2, 2])
    return size[0]  # sphere


@jit(inline="always")  # per pair
def _add_pair(gtype, pair, npair, i, j):
    # order so that type(a) >= type(b); False when the pair array is full
    k = npair[0]
    if k >= pair.shape[0]:
        return False
    if gtype[i] >= gtype[j]:
        pair[k, 0] = i
        pair[k, 1] = j
    else:
        pair[k, 0] = j
        pair[k, 1] = i
    npair[0] = k + 1
    return True


@jit(entry=True, inline="always")  # a wrapper
def broadphase(m, d):
    # in: d.pos, d.xmat, d.body_spec; out: d.pair, d.npair, d.aabb, d.order
    return broadphase_arrays(m.geom_type, m.geom_size, m.body_kind, m.opt_margin, d.pos, d.xmat,
                             d.body_spec, d.pair, d.npair, d.aabb, d.order)


@jit
def broadphase_arrays(gtype, size, kind, margin, pos, xmat, spec, pair, npair, aabb, order):
    # broadphase on the arrays
    nb = gtype.shape[0]
    npair[0] = 0
    half_margin = 0.5 * margin
    axis = np.zeros(3)
    nsweep = 0
    for i in range(nb):
        if gtype[i] == GEOM_PLANE:
            continue
        for k in range(3):
            axis[:] = 0.0
            axis[k] = 1.0
            ext = support(gtype[i], xmat[i], size[i], axis) + spec[i] + half_margin
            aabb[i, k] = pos[i, k] - ext
            aabb[i, 3 + k] = pos[i, k] + ext
        order[nsweep] = i
        nsweep += 1
    # planes against every other body
    for p in range(nb):
        if gtype[p] != GEOM_PLANE:
            continue
        n = xmat[p, :, 2]
        for i in range(nb):
            if gtype[i] == GEOM_PLANE or kind[i] != BODY_DYNAMIC:
                continue
            height = (n[0] * (pos[i, 0] - pos[p, 0]) + n[1] * (pos[i, 1] - pos[p, 1])
                      + n[2] * (pos[i, 2] - pos[p, 2]))
            reach = support(gtype[i], xmat[i], size[i], n)
            if height - reach < margin + spec[i]:
                if not _add_pair(gtype, pair, npair, i, p):
                    return STATUS_PAIR_OVERFLOW
    if nsweep < 2:
        return STATUS_OK
    # sweep axis: largest spread of centres
    best, ax = -1.0, 0
    for k in range(3):
        lo, hi = np.inf, -np.inf
        for s in range(nsweep):
            c = pos[order[s], k]
            lo = min(lo, c)
            hi = max(hi, c)
        if hi - lo > best:
            best, ax = hi - lo, k
    idx = order[:nsweep]
    keys = np.empty(nsweep)
    for s in range(nsweep):
        keys[s] = aabb[idx[s], ax]
    sorted_idx = idx[np.argsort(keys)]
    for s in range(nsweep):
        i = sorted_idx[s]
        for t in range(s + 1, nsweep):
            j = sorted_idx[t]
            if aabb[j, ax] > aabb[i, 3 + ax]:
                break
            if kind[i] != BODY_DYNAMIC and kind[j] != BODY_DYNAMIC:
                continue
            overlap = True
            for k in range(3):
                if aabb[j, k] > aabb[i, 3 + k] or aabb[i, k] > aabb[j, 3 + k]:
                    overlap = False
            if overlap and not _add_pair(gtype, pair, npair, i, j):
                return STATUS_PAIR_OVERFLOW
    return STATUS_OK
