"""The contact solvers' memory across steps: each contact's impulse, found again by its key.

A contact's key is its body pair and its index within the pair; the impulses of the last step
warm-start the next solve (hard, smoothed and the time-constant form of penalty contact).
"""
import numpy as np

from simcore._jit import jit
from simcore.kernels.consts import MAXCON_PAIR
from simcore.kernels.contact_space import add_impulse


@jit
def _contact_keys(m, d, nc, keys):
    # identify a contact across steps by its body pair and its rank among the pair's contacts,
    # a torque block (HardContact's, after the contacts: rolling.torque_rows) by its contact's
    # key, negated (the records' arrays read before the loops: simcore/_jit.py, records)
    body, parent = d.con_body, d.con_parent
    rank = 0
    for k in range(nc):
        if parent[k] >= 0:
            keys[k] = -1 - keys[parent[k]]
            continue
        if k > 0 and body[k, 0] == body[k - 1, 0] and body[k, 1] == body[k - 1, 1]:
            rank += 1
        else:
            rank = 0
        keys[k] = (body[k, 0] * m.nbody + body[k, 1]) * MAXCON_PAIR + rank


@jit
def warm_start(m, d, nc, keys, lam, V, W):
    # lam[k] = the impulse the same contact (or torque block) had at the end of the previous
    # solve (applied to V, W), else zero, for entries 0 .. nc-1; keys (nc,) is filled for
    # remember()
    warm_start_selected(m, d, nc, keys, lam, V, W, np.arange(nc), nc)


@jit
def warm_start_selected(m, d, nc, keys, lam, V, W, sel, nsel):
    # warm_start for the selected entries sel[:nsel] (increasing) only, the others' lam zero
    _contact_keys(m, d, nc, keys)
    order = np.argsort(d.prev_key[:d.nprev[0]])
    sorted_keys = d.prev_key[:d.nprev[0]][order]
    prev_lam, MJ, body = d.prev_lam, d.con_MJ, d.con_body
    for k in range(nc):
        for j in range(3):
            lam[k, j] = 0.0
    for p in range(nsel):  # (on scalars: no array views in the loop)
        k = sel[p]
        pos = np.searchsorted(sorted_keys, keys[k])
        if pos < sorted_keys.shape[0] and sorted_keys[pos] == keys[k]:
            for j in range(3):
                lam[k, j] = prev_lam[order[pos], j]
            add_impulse(MJ, body, k, lam[k, 0], lam[k, 1], lam[k, 2], V, W)


@jit
def remember(d, nc, keys, lam):
    # keep this solve's impulses for the next step's warm start
    prev_key, prev_lam = d.prev_key, d.prev_lam
    for k in range(nc):
        prev_key[k] = keys[k]
        for j in range(3):
            prev_lam[k, j] = lam[k, j]
    d.nprev[0] = nc
