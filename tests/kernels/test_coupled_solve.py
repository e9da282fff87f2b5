"""hard_solver._coupled_transposed_solve: the hard adjoint's transposed solve where torque blocks
(rolling.torque_rows) sit at their bounds, which their contacts' normal impulses set.

It returns y with K^T y = g, K = K0 + C over the selected entries: K0 = F_l + F_u A with
A = J M^-1 J^T (dense_delassus's: the dynamic bodies' sides only), and C coupling each torque
block's rows 3p + j to its contact's normal row 3 pos[q] (q = con_parent, selected, lam[q, 0] > 0):
C[3p + j, 3 pos[q]] = -db[p, j] con_resist[sel[p], min(j, 1)] (_coupling_add). It iterates
K0^T y = g - C^T y (active_transposed_solve) for at most MAX_COUPLED passes, and where that does
not converge solves K^T densely (dense_transposed plus C's columns, solve_or_lstsq).

Checked against numpy.linalg.solve on K assembled here from the definitions (A from the bodies'
inverse mass matrices and d.con_J, not from the kernels), on test_torque_rows's scene (contacts
on static, kinematic and dynamic bodies, six torque blocks, some coefficients 0; three
"separated" entries F_l = I, F_u = 0 that active_transposed_solve solves by a pass through the
bodies):

- a weak coupling (|db| ~ 0.01): the iteration's spectral radius rho(K0^-T C^T) < 1, the
  iteration converges (mirrored in Python with the kernel's active_transposed_solve);
- a strong one (|db| in [50, 100]): rho > 1, the iteration diverges, the dense fallback answers;
- the entries C leaves out (a block whose contact has lam_n <= 0 or is not selected; contacts'
  own db rows) and a permuted selection, in both regimes;
- a coupling so strong that the iteration would overflow within MAX_COUPLED passes: the answer
  must still be the dense one (before the kernel stopped a diverging iteration, it returned the
  overflowed iterate, inf and nan entries, at 14 of these 400 scales: its stopping test held
  with change = size = inf).
"""
import numpy as np
import pytest

from simcore.kernels.consts import BODY_DYNAMIC
from simcore.kernels.hard_solver import MAX_COUPLED
from tests.kernel_entries import active_transposed_solve, coupled_transposed_solve, torque_rows
from tests.kernels.test_torque_rows import BLOCKS_ROWS, CONTACTS_ROWS, rows_data

NC = len(CONTACTS_ROWS)
NT = len(BLOCKS_ROWS)
# contacts with F_l = I, F_u = 0 (active_transposed_solve's separated rows): the static box and
# the kinematic sphere on the plane (no dynamic side), and the first box on the sphere
SEPARATED = [2, 3, 7]


def _inverse_masses(m, d):
    # (nbody, 6, 6): diag(1 / mass I, R diag(1 / I) R^T) of each dynamic body, 0 otherwise
    Minv = np.zeros((m.nbody, 6, 6))
    for i in range(m.nbody):
        if m.body_kind[i] == BODY_DYNAMIC:
            R = d.xmat[i]
            Minv[i, :3, :3] = m.body_invmass[i] * np.eye(3)
            Minv[i, 3:, 3:] = R @ np.diag(1.0 / m.body_inertia[i]) @ R.T
    return Minv


class _Case:
    """test_torque_rows's scene and contacts, its torque blocks appended by torque_rows (entries
    NC .. NC + NT - 1), every contact's J random and MJ = M^-1 J^T; random F_l (the identity
    plus a little), F_u, lam (lam_n > 0), g and db (scaled by the caller)."""

    def __init__(self, rng):
        m, d = rows_data(rng)
        assert torque_rows(m, d, NC) == NT
        assert np.array_equal(d.con_parent[NC:NC + NT], BLOCKS_ROWS)
        Minv = _inverse_masses(m, d)
        for k in range(NC):
            d.con_A[k] = 0.0
            for s in range(2):
                i = d.con_body[k, s]
                d.con_J[k, s] = rng.normal(size=(3, 6))
                d.con_MJ[k, s] = Minv[i] @ d.con_J[k, s].T
                d.con_A[k] += d.con_J[k, s] @ d.con_MJ[k, s]
        # torque_rows's blocks: the same M^-1 (their rows pure rotations)
        for e in range(NC, NC + NT):
            for s in range(2):
                MJ = Minv[d.con_body[e, s]] @ d.con_J[e, s].T
                assert np.allclose(d.con_MJ[e, s], MJ, rtol=0, atol=1e-13)
        self.m, self.d, self.Minv = m, d, Minv
        n = NC + NT
        self.Fl = np.eye(3) + 0.1 * rng.normal(size=(n, 3, 3))
        self.Fu = 0.1 * rng.normal(size=(n, 3, 3))
        self.Fl[SEPARATED] = np.eye(3)
        self.Fu[SEPARATED] = 0.0
        self.lam = rng.normal(size=(d.con_J.shape[0], 3))
        self.lam[:, 0] = rng.uniform(0.5, 1.5, d.con_J.shape[0])
        self.g = rng.normal(size=3 * n)
        # db's size, and its signs (every row's, the contacts' included: C leaves those out)
        self.db_unit = rng.uniform(0.5, 1.0, (n, 3)) * rng.choice([-1.0, 1.0], (n, 3))

    def select(self, sel):
        """The kernel's arguments over the entries sel (in that order), float64 / int64,
        C-contiguous."""
        sel = np.ascontiguousarray(sel, dtype=np.int64)
        Fl, Fu = np.ascontiguousarray(self.Fl[sel]), np.ascontiguousarray(self.Fu[sel])
        g = np.ascontiguousarray(self.g.reshape(-1, 3)[sel].ravel())
        return sel, Fl, Fu, g

    def matrices(self, sel, lam, Fl, Fu, db):
        """(K0, C) over sel, from the definitions: A = G M^-1 G^T with G the selected rows of
        J on the dynamic bodies' columns."""
        m, d = self.m, self.d
        n = sel.shape[0]
        G = np.zeros((3 * n, 6 * m.nbody))
        for p, k in enumerate(sel):
            for s in range(2):
                i = d.con_body[k, s]
                if m.body_kind[i] == BODY_DYNAMIC:
                    G[3 * p:3 * p + 3, 6 * i:6 * i + 6] += d.con_J[k, s]
        Mbig = np.zeros((6 * m.nbody, 6 * m.nbody))
        for i in range(m.nbody):
            Mbig[6 * i:6 * i + 6, 6 * i:6 * i + 6] = self.Minv[i]
        A = G @ Mbig @ G.T
        for p, k in enumerate(sel):  # (the contacts' own blocks are d.con_A's)
            assert np.allclose(A[3 * p:3 * p + 3, 3 * p:3 * p + 3], d.con_A[k], rtol=0,
                               atol=1e-12)
        K0 = np.zeros((3 * n, 3 * n))
        for p in range(n):
            K0[3 * p:3 * p + 3, 3 * p:3 * p + 3] += Fl[p]
            K0[3 * p:3 * p + 3] += Fu[p] @ A[3 * p:3 * p + 3]
        pos = {int(k): p for p, k in enumerate(sel)}
        C = np.zeros((3 * n, 3 * n))
        for p, k in enumerate(sel):
            q = int(d.con_parent[k])
            if q < 0 or q not in pos or not lam[q, 0] > 0.0:
                continue
            for j in range(3):
                C[3 * p + j, 3 * pos[q]] = -db[p, j] * d.con_resist[k, min(j, 1)]
        return K0, C


def _spectral_radius(K0, C):
    # of the iteration y <- K0^-T (g - C^T y)
    return np.max(np.abs(np.linalg.eigvals(np.linalg.solve(K0.T, C.T))))


def _mirror_passes(case, sel, lam, Fl, Fu, g, C):
    # the kernel's iteration, run from Python with its active_transposed_solve (C^T y by
    # numpy) to MAX_COUPLED passes (without the kernel's stop where a pass grows): the pass at
    # which it converges, None if it does not
    m, d, n = case.m, case.d, sel.shape[0]
    y = active_transposed_solve(m, d, sel, n, Fl, Fu, g)
    with np.errstate(all="ignore"):
        for it in range(MAX_COUPLED):
            y_new = active_transposed_solve(m, d, sel, n, Fl, Fu, g - C.T @ y)
            change = np.max(np.abs(y_new - y))
            y = y_new
            if change <= 1e-15 * np.max(np.abs(y)):
                return it + 1
    return None


def _run(case, sel, lam, db):
    sel, Fl, Fu, g = case.select(sel)
    lam = np.ascontiguousarray(lam)
    db = np.ascontiguousarray(db)
    K0, C = case.matrices(sel, lam, Fl, Fu, db)
    assert np.count_nonzero(C) > 0
    y_ref = np.linalg.solve((K0 + C).T, g)
    y = coupled_transposed_solve(case.m, case.d, sel, lam, Fl, Fu, g, db)
    err = np.max(np.abs(y - y_ref)) / np.max(np.abs(y_ref))
    rho = _spectral_radius(K0, C)
    passes = _mirror_passes(case, sel, lam, Fl, Fu, g, C)
    cond = np.linalg.cond(K0 + C)
    return y, y_ref, err, rho, passes, cond


def _db(rng, case, regime):
    # weak: |db| in [0.005, 0.01]; strong: |db| in [50, 100] (the signs of case.db_unit)
    if regime == "weak":
        return 0.01 * case.db_unit
    return rng.uniform(50.0, 100.0, case.db_unit.shape) * np.sign(case.db_unit)


def _check_regime(regime, rho, passes):
    # weak: the iteration converges well inside MAX_COUPLED passes; strong: rho > 1, so it
    # diverges (for a g not orthogonal to the growing modes) and the dense fallback answers
    if regime == "weak":
        assert rho < 0.5
        assert passes is not None and passes < MAX_COUPLED // 2
    else:
        assert rho > 1.0 and passes is None


def test_coupled_iteration(rng):
    # weak coupling over every entry: the iteration's answer
    case = _Case(rng)
    sel = np.arange(NC + NT)
    y, y_ref, err, rho, passes, cond = _run(case, sel, case.lam, _db(rng, case, "weak"))
    print(f"iteration: rho {rho:.2e}, {passes} passes, cond(K) {cond:.1e}, "
          f"max rel. error {err:.2e}")
    _check_regime("weak", rho, passes)
    assert np.all(np.isfinite(y))
    assert err < 1e-10, (y, y_ref)


def test_coupled_dense_fallback(rng):
    # strong coupling over every entry: the dense K^T's answer
    case = _Case(rng)
    sel = np.arange(NC + NT)
    y, y_ref, err, rho, passes, cond = _run(case, sel, case.lam, _db(rng, case, "strong"))
    print(f"dense fallback: rho {rho:.2e}, cond(K) {cond:.1e}, max rel. error {err:.2e}")
    _check_regime("strong", rho, passes)
    assert np.all(np.isfinite(y))
    assert err < 1e-9, (y, y_ref)


@pytest.mark.parametrize("regime", ["weak", "strong"])
def test_coupled_left_out(regime, rng):
    # a permuted selection without contact 6 (its block, entry NC + 2, selected: pos[q] < 0),
    # contact 8's lam_n = 0 and contact 10's < 0 (their blocks uncoupled): C couples only the
    # blocks of contacts 0, 5 and 9, each at its contact's position in sel
    case = _Case(rng)
    lam = case.lam.copy()
    lam[8, 0] = 0.0
    lam[10, 0] = -0.3
    sel = rng.permutation(np.delete(np.arange(NC + NT), 6))
    db = _db(rng, case, regime)[sel]
    y, y_ref, err, rho, passes, cond = _run(case, sel, lam, db)
    sel, Fl, Fu, _ = case.select(sel)
    _, C = case.matrices(sel, lam, Fl, Fu, db)
    coupled = [int(case.d.con_parent[sel[p]]) for p in np.flatnonzero(np.any(C, axis=1)) // 3]
    assert sorted(set(coupled)) == [0, 5, 9]
    print(f"left out, {regime}: rho {rho:.2e}, {passes} passes, cond(K) {cond:.1e}, "
          f"max rel. error {err:.2e}")
    _check_regime(regime, rho, passes)
    assert np.all(np.isfinite(y))
    assert err < (1e-10 if regime == "weak" else 1e-9), (y, y_ref)


# db scales at which the iteration overflows inside MAX_COUPLED passes (rho ~ 0.35 scale here:
# 1.7e3 .. 1.1e5, rho^100 far past 1e308)
OVERFLOW_SCALES = np.logspace(3.7, 5.5, 400)


def test_coupled_overflow(rng):
    # |db| so large that the iteration overflows: the answer must still be the dense one,
    # finite (the kernels must never produce inf or nan), at every scale
    case = _Case(rng)
    sel, Fl, Fu, g = case.select(np.arange(NC + NT))
    bad, worst = [], 0.0
    for scale in OVERFLOW_SCALES:
        db = np.ascontiguousarray(scale * case.db_unit)
        K0, C = case.matrices(sel, case.lam, Fl, Fu, db)
        rho = _spectral_radius(K0, C)
        assert MAX_COUPLED * np.log10(rho) > 320.0
        y_ref = np.linalg.solve((K0 + C).T, g)
        y = coupled_transposed_solve(case.m, case.d, sel, case.lam, Fl, Fu, g, db)
        with np.errstate(invalid="ignore"):
            err = np.max(np.abs(y - y_ref)) / np.max(np.abs(y_ref))
        if not (np.all(np.isfinite(y)) and err < 1e-9):
            bad.append((float(scale), f"rho {rho:.2e}",
                        f"{np.count_nonzero(~np.isfinite(y))} non-finite of {y.size}"))
        else:
            worst = max(worst, err)
    print(f"overflow: {len(OVERFLOW_SCALES) - len(bad)} of {len(OVERFLOW_SCALES)} scales "
          f"right (worst rel. error {worst:.2e}); wrong at {bad}")
    assert not bad, f"{len(bad)} of {len(OVERFLOW_SCALES)} scales: {bad}"
