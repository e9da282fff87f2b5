"""kernels/factors.py: the factorizations transition_kernel's rows share are those of exactly
the same matrix, bit for bit, and only while the caller turns keeping on."""
import numpy as np

import simcore as sc
from simcore.kernels.factors import BLOCK_SPARSE, DENSE
from simcore.model import FACTOR_ENTRIES, make_data
from tests.kernel_entries import (band_factor, block_factor_of, block_layout_of, factor_kept_each,
                                  keyed_lookups, lu_factor)
from tests.kernels.test_body_space import random_blocks


def _data():
    scene = sc.Scene()
    scene.add_plane()
    scene.add_sphere(0.1, pos=(0, 0, 0.1))
    scene.add_sphere(0.1, pos=(0, 0, 0.3))
    model = scene.build()
    return make_data(model, model.initial_state(), 4, 4)


def _kept(d, Ms, n, w):
    Ms = Ms.copy()
    piv = np.zeros((Ms.shape[0], n), dtype=np.int64)
    count = np.zeros(Ms.shape[0], dtype=np.int64)
    ok = factor_kept_each(d, Ms, n, w, piv, count)
    return ok, Ms, piv, count


def _direct(M, n, w=DENSE):
    M = M.copy()
    piv = np.zeros(n, dtype=np.int64)
    return (band_factor(M, n, w, piv) if w >= 0 else lu_factor(M, piv)), M, piv


def test_a_kept_factorization_is_reused_only_for_the_same_matrix(rng):
    n = 9
    M = rng.normal(size=(n, n))
    other = M.copy()
    other[4, 2] = np.nextafter(other[4, 2], np.inf)  # one entry one ulp away
    d = _data()
    d.fac_on[0] = 1
    ok, F, piv, count = _kept(d, np.stack([M, M, other, M]), n, DENSE)
    assert ok and list(count) == [1, 1, 2, 2]  # the same matrix again: nothing new kept
    for i, want in enumerate((M, M, other, M)):
        ok_w, F_w, piv_w = _direct(want, n)
        assert ok_w and np.array_equal(F[i], F_w) and np.array_equal(piv[i], piv_w)
    assert not np.array_equal(F[2], F[0])


def test_a_banded_factorization_is_kept_like_the_others(rng):
    n, w = 12, 2
    B = np.zeros((n, 3 * w + 1))
    for r in range(n):  # a banded matrix in band_factor's layout
        for c in range(max(0, r - w), min(n, r + w + 1)):
            B[r, c - r + w] = rng.normal() + (4.0 if r == c else 0.0)
    d = _data()
    d.fac_on[0] = 1
    ok, F, piv, count = _kept(d, np.stack([B, B]), n, w)
    ok_w, F_w, piv_w = _direct(B, n, w)
    assert ok and ok_w and list(count) == [1, 1]
    assert np.array_equal(F[1], F_w) and np.array_equal(piv[1], piv_w)


def test_block_sparse_and_dense_factorizations_are_kept_apart_and_bounded(rng):
    # block_layout's array carries its structure: the same structure and blocks reuse the kept
    # factors (equal to a direct factorization), other blocks do not
    nb = 4
    adj = np.zeros((nb, nb), dtype=np.bool_)
    for i in range(nb - 1):
        adj[i, i + 1] = adj[i + 1, i] = True
    blocks = random_blocks(adj, 0.2, rng)
    other = blocks.copy()
    other[1, 2, 3, 4] += 1e-3
    layouts = [block_layout_of(nb, adj, b) for b in (blocks, blocks, other)]
    d = _data()
    d.fac_on[0] = 1
    ok, F, _, count = _kept(d, np.stack(layouts), 0, BLOCK_SPARSE)
    ok_w, F_w = block_factor_of(nb, adj, blocks)
    assert ok and ok_w and list(count) == [1, 1, 2]
    assert np.array_equal(F[0], F_w) and np.array_equal(F[1], F_w)
    assert not np.array_equal(F[2], F_w)
    # more distinct matrices than there is room for: the extra ones are factored, not kept
    Ms = rng.normal(size=(FACTOR_ENTRIES + 3, 5, 5))
    ok, F, piv, count = _kept(d, Ms, 5, DENSE)
    assert ok and count[-1] == FACTOR_ENTRIES
    for i in range(Ms.shape[0]):
        assert np.array_equal(F[i], _direct(Ms[i], 5)[1])


def test_nothing_is_kept_unless_the_caller_turns_keeping_on(rng):
    M = rng.normal(size=(6, 6))
    d = _data()
    ok, F, _, count = _kept(d, np.stack([M, M]), 6, DENSE)
    assert ok and list(count) == [0, 0]
    assert np.array_equal(F[1], _direct(M, 6)[1])


def test_a_failed_factorization_is_not_kept():
    d = _data()
    d.fac_on[0] = 1
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    ok, _, _, count = _kept(d, np.stack([singular]), 2, DENSE)
    assert not ok and count[0] == 0



def test_factors_kept_by_what_the_system_is_made_of_are_found_only_for_the_same_contacts(rng):
    # factors.system_key: the selected contacts, their bodies, F_l, F_u, J and M^-1 J^T; one ulp
    # in any of them is another system (the solves through it factor anew)
    d = _data()
    d.fac_on[0] = 1
    sel = np.array([0, 2])
    d.con_body[:] = [[0, 1], [0, 2], [1, 2], [0, 2]]
    J, MJ = rng.normal(size=d.con_J.shape), rng.normal(size=d.con_MJ.shape)
    Fl, Fu = rng.normal(size=(2, 3, 3)), rng.normal(size=(2, 3, 3))
    Fl_ulp, Fu_ulp, J_ulp, MJ_ulp = Fl.copy(), Fu.copy(), J.copy(), MJ.copy()
    Fl_ulp[1, 2, 0] = np.nextafter(Fl[1, 2, 0], np.inf)
    Fu_ulp[0, 0, 1] = np.nextafter(Fu[0, 0, 1], -np.inf)
    J_ulp[2, 1, 2, 5] = np.nextafter(J[2, 1, 2, 5], np.inf)
    MJ_ulp[0, 0, 4, 1] = np.nextafter(MJ[0, 0, 4, 1], -np.inf)
    J_other, MJ_other = J.copy(), MJ.copy()
    J_other[1] += 1.0  # a contact not selected: the same system
    MJ_other[3] -= 1.0
    cases = [(Fl, Fu, J, MJ), (Fl, Fu, J, MJ), (Fl_ulp, Fu, J, MJ), (Fl, Fu_ulp, J, MJ),
             (Fl, Fu, J_ulp, MJ), (Fl, Fu, J, MJ_ulp), (Fl, Fu, J_other, MJ_other),
             (Fl_ulp, Fu, J, MJ)]
    n = 6
    M = rng.normal(size=(n, n))
    Ms = np.stack([M] * len(cases))
    piv = np.zeros((len(cases), n), dtype=np.int64)
    found = np.zeros(len(cases), dtype=np.int64)
    keyed_lookups(d, sel, *(np.stack([c[j] for c in cases]) for j in range(4)), Ms, n, DENSE,
                  piv, found)
    assert list(found) == [-1, 0, -1, -1, -1, -1, 0, 1]
    ok, F, p = _direct(M, n)
    assert ok
    for i in range(len(cases)):
        assert np.array_equal(Ms[i], F) and np.array_equal(piv[i], p)
