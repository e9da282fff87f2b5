"""One island's linear system K x = r (or K^T y = g), K = F_l + F_u A, solved through its bodies.

The smoothed and penalty solvers' global Newton steps, the hard solver's Newton steps on large
islands (hard_solver.py) and the adjoints' transposed solve (contact_space) solve with K, where
A = J M^-1 J^T couples the contacts through the bodies they share. A large solve
(the lattice pile of 64 cubes in benchmarks/throughput.py: about 650 contacts) is too large for a
dense solve in contact space (3 unknowns per contact), but has few bodies. With
X_k = F_l,k^-1 F_u,k per contact (3x3), x_k = F_l,k^-1 r_k - X_k J_k y where y = M^-1 J^T x is the
bodies' velocity change, so
    H y = sum_k MJ_k F_l,k^-1 r_k,   H = I + sum_k MJ_k X_k J_k   (6 per dynamic body),
    K^T y = g:  H^T q = sum_k J_k^T X_k^T g_k,   y_k = F_l,k^-T (g_k - MJ_k^T q),
with MJ_k = M^-1 J_k^T as the solvers hold it (d.con_MJ), so that A is exactly theirs. H couples
only bodies in contact: it has a 6 x 6 block per body and per pair of bodies in contact. Under
SmoothedContact and PenaltyContact a block-sparse LU factors it (linalg.block_factor: elimination
in minimum-degree order over the contact graph, its fill included, pivoting within the diagonal
blocks); their F_l are regularised, and the diagonal blocks carry the elimination. Under
HardContact, whose sticking and sliding contacts make F_l nearly singular (below), pivots must be
sought across bodies: H is ordered by reverse Cuthill-McKee, where it is banded (the 64-cube pile:
a band of about 16 bodies), and a banded LU with partial pivoting factors it in O(n w^2).
(`python benchmarks/transition_cost.py --contact hard`: with the block LU the settled 64-cube
lattice pile's per-step Jacobians, whose adjoint solves go through its bodies, took 49 s, where
the banded LU's take under 1 s.) A pass of refinement against K
applied through the bodies (exact up to rounding) removes what the elimination loses. It loses
much where F_l is tiny: the hard model's sticking contacts have F_l = eps R with eps ~ 1e-9 of
the Delassus scale, and on a layer of cubes face to face on the ground
(../shared/repros/cube_layer_stall.py) refinement stalls far above rounding. There the same
correction preconditions GMRES (from the refined solution), which does reach rounding
(tests/kernels/test_body_space.py). The adjoints' right-hand side is mostly the image
J M^-1 v of the bodies' velocity cotangent v: given v, the transposed solve starts from the
bodies' H^T q = v (_from_bodies), which loses nothing at sticking contacts and leaves
refinement and GMRES little to do. solve() returns a solution only at the
relative residual its caller accepts (ACCEPT_TOL for the adjoints and the smoothed and penalty
Newton steps; the hard solver's Newton steps on large islands take a looser one), and otherwise
says so; so it does where the island is too wide for the budget (affordable()) or a factor is
singular, and the caller keeps its own method.
"""
import numpy as np

from simcore._jit import jit
from simcore.kernels.consts import BODY_DYNAMIC, CONTACT_HARD
from simcore.kernels.factors import (BLOCK_SPARSE, MEMO_BODIES, factor_of_kind, find_kept, keep,
                                     kept_factors, memo_find, memo_keep, memo_key, system_key)
from simcore.kernels.linalg import (arnoldi_start, arnoldi_step, arnoldi_update, band_solve,
                                    block_ids, block_layout, block_order, block_solve,
                                    block_start)

# affordable(): the widest island taken through its bodies, n w^2 per contact (n = 6 per body, w
# its bandwidth in reverse Cuthill-McKee order)
BAND_BUDGET = 40000.0
# affordable(): the most bodies an island taken through them may have (block_factor's order and
# block map take nb^2 memory and time)
BLOCK_MAX_BODIES = 512
REFINE_TOL = 1e-14  # relative residual |r - K x| / |r| that ends refinement
ACCEPT_TOL = 1e-12  # the largest relative residual of a solution returned as ok
KRYLOV = 30  # GMRES's restart length where refinement stalls
KRYLOV_CYCLES = 4  # its restarts at most


@jit
def island_order(m, d, sel, nsel, loc, bodies):
    """The island's dynamic bodies in reverse Cuthill-McKee order over the contact graph.

    out: bodies[p] the body at position p, loc[i] = p (loc (nbody,) must hold -1 on entry for
    every body; it keeps -1 for bodies not in the island). Returns (number of bodies,
    bandwidth in bodies).
    """
    nb = 0
    first = np.empty(m.nbody, dtype=np.int64)  # discovery order
    body, bkind = d.con_body, m.body_kind  # (read before the loops)
    for p in range(nsel):
        for s in range(2):
            i = body[sel[p], s]
            if bkind[i] == BODY_DYNAMIC and loc[i] < 0:
                loc[i] = nb
                first[nb] = i
                nb += 1
    # adjacency (CSR over discovery positions), from the contacts between two dynamic bodies
    deg = np.zeros(nb + 1, dtype=np.int64)
    for p in range(nsel):
        a, b = loc[body[sel[p], 0]], loc[body[sel[p], 1]]
        if a >= 0 and b >= 0 and a != b:
            deg[a + 1] += 1
            deg[b + 1] += 1
    for i in range(nb):
        deg[i + 1] += deg[i]
    adj = np.empty(deg[nb], dtype=np.int64)
    fill = deg[:nb].copy()
    for p in range(nsel):
        a, b = loc[body[sel[p], 0]], loc[body[sel[p], 1]]
        if a >= 0 and b >= 0 and a != b:
            adj[fill[a]] = b
            fill[a] += 1
            adj[fill[b]] = a
            fill[b] += 1
    degree = np.empty(nb, dtype=np.int64)
    for i in range(nb):
        degree[i] = deg[i + 1] - deg[i]
    # Cuthill-McKee: breadth first from a least connected body, neighbours by degree
    seen = np.zeros(nb, dtype=np.bool_)
    queue = np.empty(nb, dtype=np.int64)
    head = tail = 0
    while tail < nb:
        root = -1
        for i in range(nb):
            if not seen[i] and (root < 0 or degree[i] < degree[root]):
                root = i
        seen[root] = True
        queue[tail] = root
        tail += 1
        while head < tail:
            i = queue[head]
            head += 1
            t0 = tail
            for e in range(deg[i], deg[i + 1]):
                j = adj[e]
                if not seen[j]:
                    seen[j] = True
                    queue[tail] = j
                    tail += 1
                    q = tail - 1  # insertion by degree
                    while q > t0 and degree[queue[q - 1]] > degree[queue[q]]:
                        queue[q - 1], queue[q] = queue[q], queue[q - 1]
                        q -= 1
    for p in range(nb):
        i = first[queue[nb - 1 - p]]
        bodies[p] = i
        loc[i] = p
    band = 0
    for p in range(nsel):
        a, b = loc[body[sel[p], 0]], loc[body[sel[p], 1]]
        if a >= 0 and b >= 0:
            band = max(band, abs(a - b))
    return nb, band


@jit
def _banded(m, d, sel, nsel, loc):
    # (n, w, fits): the island's system size (6 per dynamic body), its bandwidth in that order
    # and whether it is within budget (n w^2 <= BAND_BUDGET per contact, at most
    # BLOCK_MAX_BODIES bodies; no bodies: nothing to factor). loc as for island_order
    nb, band = island_order(m, d, sel, nsel, loc, np.empty(m.nbody, dtype=np.int64))
    n = 6 * nb
    w = min(6 * band + 5, n - 1)
    return n, w, 0 < nb <= BLOCK_MAX_BODIES and n * w * w <= BAND_BUDGET * nsel


@jit
def affordable(m, d, sel, nsel):
    # whether solve() will factor the island's bodies' system. BAND_BUDGET was set on the
    # lattice piles of benchmarks/throughput.py with SmoothedContact() for the banded LU that
    # block_factor replaced: the 64-body piles are within it (their global Newton through the
    # bodies converges to rounding, the cubes' at 1.7 times the rate of Gauss-Seidel), the
    # 512-sphere pile is not (its band is a layer of the pile wide) and keeps Gauss-Seidel.
    return _banded(m, d, sel, nsel, np.full(m.nbody, -1, dtype=np.int64))[2]


@jit
def _inv3(F, out):
    # out = F^-1 (3x3) by the adjugate; False when singular or not finite
    c00 = F[1, 1] * F[2, 2] - F[1, 2] * F[2, 1]
    c01 = F[1, 2] * F[2, 0] - F[1, 0] * F[2, 2]
    c02 = F[1, 0] * F[2, 1] - F[1, 1] * F[2, 0]
    det = F[0, 0] * c00 + F[0, 1] * c01 + F[0, 2] * c02
    if det == 0.0 or not np.isfinite(det):
        return False
    out[0, 0] = c00 / det
    out[1, 0] = c01 / det
    out[2, 0] = c02 / det
    out[0, 1] = (F[0, 2] * F[2, 1] - F[0, 1] * F[2, 2]) / det
    out[1, 1] = (F[0, 0] * F[2, 2] - F[0, 2] * F[2, 0]) / det
    out[2, 1] = (F[0, 1] * F[2, 0] - F[0, 0] * F[2, 1]) / det
    out[0, 2] = (F[0, 1] * F[1, 2] - F[0, 2] * F[1, 1]) / det
    out[1, 2] = (F[0, 2] * F[1, 0] - F[0, 0] * F[1, 2]) / det
    out[2, 2] = (F[0, 0] * F[1, 1] - F[0, 1] * F[1, 0]) / det
    return True


@jit(inline="always")
def _scatter(J, MJ, k, s, u, trans, z, base):
    # z[base:base + 6] += J_{k,s}^T u (trans: a force on side s's body) or MJ_{k,s} u (its
    # velocity change); J, MJ = d.con_J, d.con_MJ (arrays: per contact, no Data tuple)
    for c in range(6):
        if trans:
            z[base + c] += J[k, s, 0, c] * u[0] + J[k, s, 1, c] * u[1] + J[k, s, 2, c] * u[2]
        else:
            z[base + c] += MJ[k, s, c, 0] * u[0] + MJ[k, s, c, 1] * u[1] + MJ[k, s, c, 2] * u[2]


@jit(inline="always")
def _gather(J, MJ, k, s, z, base, trans, r):
    # row r of MJ_{k,s}^T z[base:base + 6] (trans) or of J_{k,s} z[base:base + 6]
    acc = 0.0
    for c in range(6):
        acc += (MJ[k, s, c, r] if trans else J[k, s, r, c]) * z[base + c]
    return acc


@jit
def _apply(d, sel, nsel, Fl, Fu, x, out, zb, trans):
    # out = K x (trans: K^T x) through the bodies: A = J M^-1 J^T, applied as (MJ)_k, J_k per
    # contact; A^T's (k, l) block is MJ_k^T J_l^T
    zb[:] = 0.0  # 6 per body (all of the Model's)
    J, MJ, body = d.con_J, d.con_MJ, d.con_body
    u = np.empty(3)
    for p in range(nsel):
        k = sel[p]
        for r in range(3):
            if trans:  # the bodies' force sum_l J_l^T F_u,l^T x_l
                u[r] = Fu[p, 0, r] * x[3 * p] + Fu[p, 1, r] * x[3 * p + 1] \
                    + Fu[p, 2, r] * x[3 * p + 2]
            else:
                u[r] = x[3 * p + r]
        for s in range(2):
            _scatter(J, MJ, k, s, u, trans, zb, 6 * body[k, s])
    for p in range(nsel):
        k = sel[p]
        for r in range(3):  # trans: MJ_k^T of the bodies' force; else J_k of their velocities
            u[r] = (_gather(J, MJ, k, 0, zb, 6 * body[k, 0], trans, r)
                    + _gather(J, MJ, k, 1, zb, 6 * body[k, 1], trans, r))
        for r in range(3):
            acc = 0.0
            for c in range(3):
                if trans:
                    acc += Fl[p, c, r] * x[3 * p + c]
                else:
                    acc += Fl[p, r, c] * x[3 * p + c] + Fu[p, r, c] * u[c]
            out[3 * p + r] = acc + u[r] if trans else acc


@jit
def solve(m, d, sel, nsel, Fl, Fu, rhs, rhs_bodies, trans, accept):
    """(ok, x) with K x = rhs (trans: K^T x = rhs) over one island's selected contacts, refined
    toward a relative residual of REFINE_TOL; ok False (x undefined) when the island is beyond
    the budget (affordable()), an F_l block or the factorization is singular, or the best
    residual refinement reaches is above accept (ACCEPT_TOL for a solve that must be exact; a
    Newton step of the hard solver takes a looser one, NEWTON_ACCEPT in hard_solver.py).
    rhs_bodies (trans only; else empty): empty, or v (6 nbody) with rhs = J M^-1 v, when the
    first solution is taken from the bodies' (_from_bodies) before refinement."""
    n3 = 3 * nsel
    x = np.zeros(n3)
    loc = np.full(m.nbody, -1, dtype=np.int64)
    Li = np.empty((nsel, 3, 3))  # F_l^-1
    X = np.empty((nsel, 3, 3))  # F_l^-1 F_u
    # the island's order and F_l^-1, F_u: kept once per substep under a memo's solve
    # (factors.py, its tag)
    memo = d.fac_tag[0] >= 0
    mkey = memo_key(np.int64(MEMO_BODIES), d.fac_tag[0], sel, nsel)
    size = 3 + m.nbody + 18 * nsel
    found, blk = memo_find(d, mkey, size) if memo else (False, np.empty(0))
    if found:
        n, w = np.int64(blk[0]), np.int64(blk[1])
        if blk[2] == 0.0:
            return False, x
        _memo_copy(blk, nsel, loc, Li, X, False)
    else:
        n, w, ok = _prepare(m, d, sel, nsel, Fl, Fu, loc, Li, X)
        if memo:
            blk = np.empty(size)
            blk[0], blk[1], blk[2] = n, w, 1.0 if ok else 0.0
            _memo_copy(blk, nsel, loc, Li, X, True)
            memo_keep(d, mkey, blk)
        if not ok:
            return False, x
    # H = I + sum_k MJ_k X_k J_k over the dynamic sides: banded under HardContact, else
    # block-sparse (module docstring); while d.fac_on, its factors are kept by what it is made
    # of (factors.system_key): a row of transition_kernel finding them skips the assembly
    hard = m.opt_contact == CONTACT_HARD
    kn, kw = (n, w) if hard else (np.int64(0), np.int64(BLOCK_SPARSE))
    key = system_key(d, sel, nsel, Fl, Fu) if d.fac_on[0] else np.empty(0)
    kept = find_kept(d, key, kn, kw)
    if kept >= 0:
        Hf, piv = kept_factors(d, kept, n, 3 * w + 1) if hard else \
            kept_factors(d, kept, 1, d.fac_meta[kept, 4])
    else:
        Hf = _assemble(m, d, sel, nsel, loc, X, n, w)
        piv = np.empty(n if hard else 0, dtype=np.int64)
        if not factor_of_kind(Hf, kn, kw, piv):
            return False, x
        keep(d, key, Hf, kn, kw, piv)
    w = kw
    res = rhs.copy()
    kx = np.empty(n3)
    z = np.empty(n)
    sk = np.empty(3)
    zb = np.empty(6 * m.nbody)
    rnorm = 0.0
    for r in range(n3):
        rnorm = max(rnorm, abs(rhs[r]))
    if rnorm == 0.0:
        return True, x
    best = np.inf
    x_best = np.zeros(n3)
    dx = np.empty(n3)
    if trans and rhs_bodies.shape[0] > 0:
        _from_bodies(d, sel, nsel, loc, Li, Hf, n, w, piv, rhs_bodies, x, z, sk)
        best = _residual(d, sel, nsel, Fl, Fu, rhs, x, kx, zb, trans, res)
        if not np.isfinite(best):
            return False, x
        x_best[:] = x
    if best > REFINE_TOL * rnorm:
        # a correction for the residual res through the bodies, then the true residual (one
        # pass: where one does not reach REFINE_TOL, GMRES below gains more per correction)
        _correct(d, sel, nsel, loc, Li, X, Hf, n, w, piv, res, dx, z, sk, trans)
        for r in range(n3):
            x[r] += dx[r]
        err = _residual(d, sel, nsel, Fl, Fu, rhs, x, kx, zb, trans, res)
        if not np.isfinite(err):
            return False, x
        if err < best:
            best = err
            x_best[:] = x
    if best > REFINE_TOL * rnorm:
        # refinement stalled (sticking contacts: the elimination through F_l = eps R loses
        # digits): GMRES, right-preconditioned by the same correction, from the best so far
        x[:] = x_best
        _residual(d, sel, nsel, Fl, Fu, rhs, x, kx, zb, trans, res)
        Q = np.zeros((KRYLOV + 1, n3))
        H = np.zeros((KRYLOV + 1, KRYLOV))
        cs, sn, e = np.zeros(KRYLOV), np.zeros(KRYLOV), np.zeros(KRYLOV + 1)
        v = np.empty(n3)
        goal = 0.5 * REFINE_TOL * np.sqrt(np.sum(rhs * rhs))  # (2-norm)
        for _ in range(KRYLOV_CYCLES):
            if arnoldi_start(Q, e, res) == 0.0:
                break
            j_end = 0
            for j in range(KRYLOV):
                _correct(d, sel, nsel, loc, Li, X, Hf, n, w, piv, Q[j], dx, z, sk, trans)
                _apply(d, sel, nsel, Fl, Fu, dx, v, zb, trans)
                resid = arnoldi_step(Q, H, cs, sn, e, j, v)
                j_end = j + 1
                if resid <= goal or H[j, j] == 0.0:
                    break
            v[:] = 0.0
            arnoldi_update(Q, H, e, j_end, v)
            _correct(d, sel, nsel, loc, Li, X, Hf, n, w, piv, v, dx, z, sk, trans)
            for r in range(n3):
                x[r] += dx[r]
            err = _residual(d, sel, nsel, Fl, Fu, rhs, x, kx, zb, trans, res)
            if not np.isfinite(err):
                break
            if err < best:
                best = err
                x_best[:] = x
            if err <= REFINE_TOL * rnorm:
                break
    return best <= accept * rnorm, x_best


@jit
def _prepare(m, d, sel, nsel, Fl, Fu, loc, Li, X):
    # solve's part that depends on the matrix only: (n, w, ok) with the island's order in loc
    # (_banded), Li = F_l^-1 and X = F_l^-1 F_u per contact; ok False when the island is beyond
    # the budget or an F_l block is singular
    n, w, fits = _banded(m, d, sel, nsel, loc)
    if not fits:
        return n, w, False
    for p in range(nsel):
        if not _inv3(Fl[p], Li[p]):
            return n, w, False
        for r in range(3):
            for c in range(3):
                X[p, r, c] = Li[p, r, 0] * Fu[p, 0, c] + Li[p, r, 1] * Fu[p, 1, c] \
                    + Li[p, r, 2] * Fu[p, 2, c]
    return n, w, True


@jit
def _memo_copy(blk, nsel, loc, Li, X, into_blk):
    # _prepare's loc, Li and X to (into_blk) or from a memo's block, after its (n, w, ok)
    o = 3
    for i in range(loc.shape[0]):
        if into_blk:
            blk[o + i] = loc[i]
        else:
            loc[i] = np.int64(blk[o + i])
    o += loc.shape[0]
    for part in (Li.reshape(9 * nsel), X.reshape(9 * nsel)):
        for r in range(9 * nsel):
            if into_blk:
                blk[o + r] = part[r]
            else:
                part[r] = blk[o + r]
        o += 9 * nsel


@jit
def _assemble(m, d, sel, nsel, loc, X, n, w):
    # H = I + sum_k MJ_k X_k J_k over the selected contacts' dynamic sides (loc: their bodies'
    # positions): banded (n, 3 w + 1) under HardContact, else block_layout's array
    J, MJ = d.con_J, d.con_MJ
    nb = n // 6
    if m.opt_contact == CONTACT_HARD:
        Hf = np.zeros((n, 3 * w + 1))
        for r in range(n):
            Hf[r, w] = 1.0
        bid = np.empty((0, 0), dtype=np.int64)
    else:
        adj = np.zeros((nb, nb), dtype=np.bool_)
        for p in range(nsel):
            i, j = loc[d.con_body[sel[p], 0]], loc[d.con_body[sel[p], 1]]
            if i >= 0 and j >= 0 and i != j:
                adj[i, j] = True
                adj[j, i] = True
        order, lstart, later = block_order(nb, adj)
        Hf = block_layout(nb, order, lstart, later)
        bid = block_ids(Hf)
        for i in range(nb):
            o = block_start(Hf, i)
            for r in range(6):
                Hf[0, o + 7 * r] = 1.0
        w = np.int64(BLOCK_SPARSE)
    T = np.empty((6, 3))
    for p in range(nsel):
        k = sel[p]
        for s in range(2):
            i = loc[d.con_body[k, s]]
            if i < 0:
                continue
            for r in range(6):
                for c in range(3):
                    T[r, c] = (MJ[k, s, r, 0] * X[p, 0, c] + MJ[k, s, r, 1] * X[p, 1, c]
                               + MJ[k, s, r, 2] * X[p, 2, c])
            for s2 in range(2):
                j = loc[d.con_body[k, s2]]
                if j < 0:
                    continue
                for r in range(6):
                    # where row 6 i + r's entries of block (i, j) are
                    if w == BLOCK_SPARSE:
                        row, o = 0, block_start(Hf, bid[i, j]) + 6 * r
                    else:
                        row, o = 6 * i + r, 6 * j - 6 * i - r + w
                    for c in range(6):
                        Hf[row, o + c] += (T[r, 0] * J[k, s2, 0, c] + T[r, 1] * J[k, s2, 1, c]
                                          + T[r, 2] * J[k, s2, 2, c])
    return Hf


@jit
def _residual(d, sel, nsel, Fl, Fu, rhs, x, kx, zb, trans, res):
    # res = rhs - K x (trans: K^T); returns its largest entry's magnitude
    _apply(d, sel, nsel, Fl, Fu, x, kx, zb, trans)
    err = 0.0
    for r in range(rhs.shape[0]):
        res[r] = rhs[r] - kx[r]
        err = max(err, abs(res[r]))
    return err


@jit(inline="always")
def _solve_factored(H, n, w, piv, z, trans):
    # z <- H^-1 z (trans: H^-T z) with the bodies' kept factors, block-sparse or banded
    if w == BLOCK_SPARSE:
        block_solve(H, z, trans)
    else:
        band_solve(H, n, w, piv, z, trans)


@jit(inline="always")
def _gather_contact(body, J, MJ, loc, k, z, trans, sk):
    # sk = MJ_k^T q (trans) or J_k y for the bodies' vector z, over contact k's island bodies
    for r in range(3):
        acc = 0.0
        for s in range(2):
            i = loc[body[k, s]]
            if i >= 0:
                acc += _gather(J, MJ, k, s, z, 6 * i, trans, r)
        sk[r] = acc


@jit
def _from_bodies(d, sel, nsel, loc, Li, H, n, w, piv, v, x, z, sk):
    # x with K^T x = J M^-1 v: H^T q = v, x_k = F_l,k^-T MJ_k^T q (then K^T x = MJ^T H^T q =
    # J M^-1 v, as K^T = F_l^T + A F_u^T and H^T = I + sum_k J_k^T X_k^T MJ_k^T). _correct's
    # x_k = F_l,k^-T (g_k - MJ_k^T q) is the same x, but where F_l,k is tiny (sticking contacts
    # under HardContact) g_k and MJ_k^T q nearly cancel, and what the difference loses
    # F_l,k^-T magnifies; here nothing cancels, and the solution starts near rounding
    J, MJ, body = d.con_J, d.con_MJ, d.con_body
    z[:] = 0.0
    for i in range(loc.shape[0]):
        if loc[i] >= 0:
            for c in range(6):
                z[6 * loc[i] + c] = v[6 * i + c]
    _solve_factored(H, n, w, piv, z, True)
    for p in range(nsel):
        _gather_contact(body, J, MJ, loc, sel[p], z, True, sk)
        for r in range(3):
            x[3 * p + r] = Li[p, 0, r] * sk[0] + Li[p, 1, r] * sk[1] + Li[p, 2, r] * sk[2]


@jit
def _correct(d, sel, nsel, loc, Li, X, H, n, w, piv, res, dx, z, sk, trans):
    # dx: the solution of K dx = res (trans: K^T) through the bodies' factored H (exact up to
    # what the elimination loses)
    J, MJ, body = d.con_J, d.con_MJ, d.con_body
    z[:] = 0.0
    for p in range(nsel):
        k = sel[p]
        for r in range(3):
            if trans:  # J_k^T X_k^T res_k
                sk[r] = X[p, 0, r] * res[3 * p] + X[p, 1, r] * res[3 * p + 1] \
                    + X[p, 2, r] * res[3 * p + 2]
            else:  # MJ_k F_l,k^-1 res_k
                sk[r] = Li[p, r, 0] * res[3 * p] + Li[p, r, 1] * res[3 * p + 1] \
                    + Li[p, r, 2] * res[3 * p + 2]
        for s in range(2):
            i = loc[body[k, s]]
            if i >= 0:
                _scatter(J, MJ, k, s, sk, trans, z, 6 * i)
    _solve_factored(H, n, w, piv, z, trans)
    for p in range(nsel):
        _gather_contact(body, J, MJ, loc, sel[p], z, trans, sk)  # trans: MJ_k^T q; else J_k y
        for r in range(3):
            if trans:  # F_l^-T (res_k - MJ_k^T q)
                dx[3 * p + r] = (Li[p, 0, r] * (res[3 * p] - sk[0])
                                 + Li[p, 1, r] * (res[3 * p + 1] - sk[1])
                                 + Li[p, 2, r] * (res[3 * p + 2] - sk[2]))
            else:  # F_l^-1 res_k - X_k J_k y
                dx[3 * p + r] = (Li[p, r, 0] * res[3 * p] + Li[p, r, 1] * res[3 * p + 1]
                                 + Li[p, r, 2] * res[3 * p + 2]
                                 - X[p, r, 0] * sk[0] - X[p, r, 1] * sk[1]
                                 - X[p, r, 2] * sk[2])
