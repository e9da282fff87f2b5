"""The contact solvers' memory across steps: each contact's impulse, found again by its key.

A contact's key is its body pair and its index within the pair; the impulses of the last step
warm-start the next solve (hard and smoothed contact).
"""
import numpy as np

from simcore._jit import jit
from simcore.kernels.consts import MAXCON_PAIR
from simcore.kernels.contact_space import apply_contact_impulse


@jit
def _contact_keys(m, d, nc, keys):
    # identify a contact across steps by its body pair and its rank among the pair's contacts
    rank = 0
    for k in range(nc):
        if k > 0 and d.con_body[k, 0] == d.con_body[k - 1, 0] and \
                d.con_body[k, 1] == d.con_body[k - 1, 1]:
            rank += 1
        else:
            rank = 0
        keys[k] = (d.con_body[k, 0] * m.nbody + d.con_body[k, 1]) * MAXCON_PAIR + rank


@jit
def warm_start(m, d, nc, keys, lam, V, W):
    # lam[k] = the impulse the same contact had at the end of the previous solve (applied to
    # V, W), else zero; keys (nc,) is filled for remember()
    _contact_keys(m, d, nc, keys)
    order = np.argsort(d.prev_key[:d.nprev[0]])
    sorted_keys = d.prev_key[:d.nprev[0]][order]
    for k in range(nc):
        lam[k, :] = 0.0
        pos = np.searchsorted(sorted_keys, keys[k])
        if pos < sorted_keys.shape[0] and sorted_keys[pos] == keys[k]:
            lam[k, :] = d.prev_lam[order[pos]]
            apply_contact_impulse(d, k, lam[k], V, W)


@jit
def remember(d, nc, keys, lam):
    # keep this solve's impulses for the next step's warm start
    for k in range(nc):
        d.prev_key[k] = keys[k]
        d.prev_lam[k, :] = lam[k]
    d.nprev[0] = nc
