"""Contact space: the contact Jacobian J, the Delassus matrix A = J M^-1 J^T, contact velocities
and impulses, shared by the hard and smoothed solvers; and the reverse-mode pieces of their
implicit differentiation.

A solve over the selected contacts S maps the body velocities V_in to
    V_out = V_in + sum_k M^-1 J_k^T lambda_k,    lambda the root of G(lambda, theta) = 0,
where G_k depends on lambda_k, on the contact velocity u_k = J_k V_out and on parameters theta_k
(bias, mu, ...), and is linearised per contact as dG_k = F_l,k dlambda_k + F_u,k du_k + ...
Then dG/dlambda = K = F_l + F_u A (A = J M^-1 J^T), and the vjp of the solve is:
    g = (M^-1 J^T)^T V_out_bar,  K^T y = g,  c = -y,
    u_bar = F_u^T c (pushed into V_out_bar through J at fixed lambda), theta_bar = c^T dG/dtheta,
and finally the impulses' own geometry and masses at fixed lambda (V_out_bar passes to V_in).

Frame: the solution of both models is invariant under a rotation of the tangent frame (t1, t2)
about n (isotropic friction, tangent scales from traces), so the frame is not differentiated:
the cotangents of (n, t1, t2) are carried to n as the minimal rotation's (frame_to_normal).
"""
import numpy as np

from simcore._jit import jit
from simcore.kernels.body_space import ACCEPT_TOL, solve as solve_bodies
from simcore.kernels.consts import BODY_DYNAMIC
from simcore.kernels.dynamics import apply_impulse_vjp
from simcore.kernels.factors import (DENSE, MEMO_ISLANDS, find_kept, keep, kept_factors,
                                     memo_find, memo_keep, memo_key, system_key)
from simcore.kernels.linalg import (arnoldi_start, arnoldi_step, arnoldi_update, lu_factor,
                                    lu_solve_transposed, solve_dense, solve_or_lstsq)
from simcore.kernels.rolling import torque_impulse_vjp

# the regularisation of torque blocks (contact_eps), at least: in a pile a body's rotation is held
# by the blocks of all its contacts and by their friction, so the split between them is left to
# the regularisation, which the solves settle slowly at the contacts' 1e-9 (benchmarks/
# pile_rest.py's 64 spheres with 2 mm of rolling friction: at 1e-9 its first 5 simulated seconds
# took 785 s, in runs of 1 s; at 1e-6 its 20 s take 10.4 s). Its price is compliance: a block
# holding a steady push turns at 1e-6 of the rate the push gives in one step
TORQUE_REG = 1e-6


@jit(inline="always")
def local_scratch():
    """Scratch for a per-contact Newton solve run in an inner loop (smoothed.py's _local_newton,
    penalty.py's _tc_local), allocated once per sweep rather than per contact: (u, F, dl, Fl,
    Fu, Jk, M, x, piv), vectors of 3, 3 x 3 matrices, and the pivots of solve_dense_in."""
    return (np.empty(3), np.empty(3), np.empty(3), np.empty((3, 3)), np.empty((3, 3)),
            np.empty((3, 3)), np.empty((3, 3)), np.empty(3), np.empty(3, dtype=np.int64))


@jit
def contact_jacobians(m, d, nc):
    # contact_jacobian of contacts 0 .. nc-1 at their bodies' poses, in one call (the records'
    # arrays read before the loop, and no array views in it: simcore/_jit.py, records)
    body, pos, xmat = d.con_body, d.pos, d.xmat
    kind, invmass, invinertia = m.body_kind, m.body_invmass, m.body_invinertia
    cpos, normal, t1, t2 = d.con_pos, d.con_normal, d.con_t1, d.con_t2
    J, MJ, A = d.con_J, d.con_MJ, d.con_A
    for k in range(nc):
        _jacobian(kind, invmass, invinertia, body, cpos, normal, t1, t2, J, MJ, A, k, pos, xmat,
                  body[k, 0], pos, xmat, body[k, 1])


@jit
def contact_jacobian(m, d, k, xa, Ra, xb, Rb):
    # contact k's, at the poses (xa, Ra) of its body a and (xb, Rb) of b (see _jacobian)
    _jacobian(m.body_kind, m.body_invmass, m.body_invinertia, d.con_body, d.con_pos,
              d.con_normal, d.con_t1, d.con_t2, d.con_J, d.con_MJ, d.con_A, k,
              xa.reshape((1, 3)), Ra.reshape((1, 3, 3)), np.int64(0), xb.reshape((1, 3)),
              Rb.reshape((1, 3, 3)), np.int64(0))


@jit(inline="always")
def _jacobian(kind, invmass, invinertia, body, cpos, normal, t1, t2, J, MJ, A, k, Pa, Xa, ia,
              Pb, Xb, ib):
    # J[k, s] (3, 6) (d.con_J): rows (n, t1, t2) -> (linear, angular) of side s (a: +, b: -);
    # MJ[k, s] (6, 3) = M^-1 J^T (zero for static/kinematic bodies);
    # A[k] (3, 3) = sum_s J M^-1 J^T, the contact's diagonal Delassus block.
    # Side a's pose is (Pa[ia], Xa[ia]), b's (Pb[ib], Xb[ib]): read on scalars
    _jacobian_side(kind, invmass, invinertia, body, cpos, normal, t1, t2, J, MJ, k, 0, Pa, Xa, ia)
    _jacobian_side(kind, invmass, invinertia, body, cpos, normal, t1, t2, J, MJ, k, 1, Pb, Xb, ib)
    for p in range(3):
        for q in range(3):
            acc = 0.0
            for s in range(2):
                for j in range(6):
                    acc += J[k, s, p, j] * MJ[k, s, j, q]
            A[k, p, q] = acc


@jit(inline="always")
def _jacobian_side(kind, invmass, invinertia, body, cpos, normal, t1, t2, J, MJ, k, s, P, X, ix):
    # _jacobian's rows of side s, its body's pose (P[ix], X[ix])
    i = body[k, s]
    sign = 1.0 if s == 0 else -1.0
    r0, r1, r2 = cpos[k, 0] - P[ix, 0], cpos[k, 1] - P[ix, 1], cpos[k, 2] - P[ix, 2]
    dyn = kind[i] == BODY_DYNAMIC
    for row in range(3):
        if row == 0:
            d0, d1, d2 = normal[k, 0], normal[k, 1], normal[k, 2]
        elif row == 1:
            d0, d1, d2 = t1[k, 0], t1[k, 1], t1[k, 2]
        else:
            d0, d1, d2 = t2[k, 0], t2[k, 1], t2[k, 2]
        c0 = r1 * d2 - r2 * d1
        c1 = r2 * d0 - r0 * d2
        c2 = r0 * d1 - r1 * d0
        J[k, s, row, 0] = sign * d0
        J[k, s, row, 1] = sign * d1
        J[k, s, row, 2] = sign * d2
        J[k, s, row, 3] = sign * c0
        J[k, s, row, 4] = sign * c1
        J[k, s, row, 5] = sign * c2
        if not dyn:
            for j in range(6):
                MJ[k, s, j, row] = 0.0
            continue
        im = invmass[i]
        b0 = (X[ix, 0, 0] * c0 + X[ix, 1, 0] * c1 + X[ix, 2, 0] * c2) * invinertia[i, 0]
        b1 = (X[ix, 0, 1] * c0 + X[ix, 1, 1] * c1 + X[ix, 2, 1] * c2) * invinertia[i, 1]
        b2 = (X[ix, 0, 2] * c0 + X[ix, 1, 2] * c1 + X[ix, 2, 2] * c2) * invinertia[i, 2]
        MJ[k, s, 0, row] = sign * im * d0
        MJ[k, s, 1, row] = sign * im * d1
        MJ[k, s, 2, row] = sign * im * d2
        for j in range(3):
            MJ[k, s, 3 + j, row] = sign * (X[ix, j, 0] * b0 + X[ix, j, 1] * b1 + X[ix, j, 2] * b2)


@jit(inline="always")
def contact_u(J, body, k, V, W):
    # (u_n, u_t1, u_t2) = J_k [V; W] from the arrays con_J, con_body, on scalars: no array views
    # (no reference counting) in the hard solver's inner loops. (Summed in another order than
    # contact_velocity: the solvers' rounding, and the optimisations of the scenarios that
    # depend on it, stay as they were tested.)
    a, b = body[k, 0], body[k, 1]
    u0 = u1 = u2 = 0.0
    for j in range(3):
        u0 += (J[k, 0, 0, j] * V[a, j] + J[k, 0, 0, 3 + j] * W[a, j]
               + J[k, 1, 0, j] * V[b, j] + J[k, 1, 0, 3 + j] * W[b, j])
        u1 += (J[k, 0, 1, j] * V[a, j] + J[k, 0, 1, 3 + j] * W[a, j]
               + J[k, 1, 1, j] * V[b, j] + J[k, 1, 1, 3 + j] * W[b, j])
        u2 += (J[k, 0, 2, j] * V[a, j] + J[k, 0, 2, 3 + j] * W[a, j]
               + J[k, 1, 2, j] * V[b, j] + J[k, 1, 2, 3 + j] * W[b, j])
    return u0, u1, u2


@jit(entry=True, inline="always")  # per contact
def contact_velocity(d, k, V, W, u_out):
    # u_out (3,) = J_k [V; W]: velocity of a relative to b at contact k, in its frame
    velocity(d.con_J, d.con_body, k, V, W, u_out)


@jit(inline="always")
def velocity(J, body, k, V, W, u_out):
    # contact_velocity from the arrays con_J, con_body (a loop over contacts reads them once)
    for row in range(3):
        acc = 0.0
        for s in range(2):
            i = body[k, s]
            acc += (J[k, s, row, 0] * V[i, 0] + J[k, s, row, 1] * V[i, 1]
                    + J[k, s, row, 2] * V[i, 2] + J[k, s, row, 3] * W[i, 0]
                    + J[k, s, row, 4] * W[i, 1] + J[k, s, row, 5] * W[i, 2])
        u_out[row] = acc


@jit(inline="always")
def add_impulse(MJ, body, k, d0, d1, d2, V, W):
    # [V; W] += M^-1 J_k^T (d0, d1, d2) from the arrays con_MJ, con_body, on scalars
    a, b = body[k, 0], body[k, 1]
    for j in range(3):
        V[a, j] += MJ[k, 0, j, 0] * d0 + MJ[k, 0, j, 1] * d1 + MJ[k, 0, j, 2] * d2
        W[a, j] += MJ[k, 0, 3 + j, 0] * d0 + MJ[k, 0, 3 + j, 1] * d1 + MJ[k, 0, 3 + j, 2] * d2
        V[b, j] += MJ[k, 1, j, 0] * d0 + MJ[k, 1, j, 1] * d1 + MJ[k, 1, j, 2] * d2
        W[b, j] += MJ[k, 1, 3 + j, 0] * d0 + MJ[k, 1, 3 + j, 1] * d1 + MJ[k, 1, 3 + j, 2] * d2


@jit(entry=True, inline="always")
def apply_contact_impulse(d, k, dlam, V, W):
    # [V; W] += M^-1 J_k^T dlam
    add_impulse(d.con_MJ, d.con_body, k, dlam[0], dlam[1], dlam[2], V, W)


@jit
def undo_impulses(d, sel, nsel, lam, V, W):
    # V, W -= M^-1 J^T lam over the selected contacts: the velocities before a solve
    MJ, body = d.con_MJ, d.con_body
    for p in range(nsel):
        k = sel[p]
        add_impulse(MJ, body, k, -lam[k, 0], -lam[k, 1], -lam[k, 2], V, W)


@jit(inline="always")
def friction_rows(lam, u, mu, vs, F_out):
    # F_out[1:3] of the smoothed Coulomb law at the contact velocity u (3,): rho lam_t + mu lam_n
    # u_t = 0, rho = sqrt(|u_t|^2 + vs^2) (the smoothed and the time-constant penalty models'
    # friction rows, solved multiplied by rho: the same root, near-bilinear when vs is tiny).
    # Returns rho
    rho = np.sqrt(u[1] * u[1] + u[2] * u[2] + vs * vs)
    F_out[1] = rho * lam[1] + mu * lam[0] * u[1]
    F_out[2] = rho * lam[2] + mu * lam[0] * u[2]
    return rho


@jit(inline="always")
def friction_rows_jacobian(lam, u, mu, vs, Fl_out, Fu_out):
    # Fl_out, Fu_out (3, 3) zeroed, with friction_rows' rows: d/dlam at fixed u, d/du at fixed lam
    rho = np.sqrt(u[1] * u[1] + u[2] * u[2] + vs * vs)
    Fl_out[:, :] = 0.0
    Fu_out[:, :] = 0.0
    for a in range(2):
        Fl_out[1 + a, 1 + a] = rho
        Fl_out[1 + a, 0] = mu * u[1 + a]
        Fu_out[1 + a, 1 + a] = mu * lam[0]
        for b in range(2):
            Fu_out[1 + a, 1 + b] += lam[1 + a] * u[1 + b] / rho


@jit(inline="always")
def contact_eps(reg, A, parent, k):
    # the hard model's regularisation eps_k = reg tr(A_kk) / 3, relative to the contact's own
    # Delassus scale (reg: m.hard_regularization, or _continuation's nearby problem; A: d.con_A);
    # a torque block's (parent[k] >= 0: rolling.torque_rows) at least TORQUE_REG
    if parent[k] >= 0:
        reg = max(reg, TORQUE_REG)
    return reg * (A[k, 0, 0] + A[k, 1, 1] + A[k, 2, 2]) / 3.0

@jit(inline="always")
def contacts_in(d, sel, nsel):
    # the selected entries that are contacts (not HardContact's torque blocks, rolling.py): the
    # hard solver's size limits count these, a contact and its block being one dense problem
    n = 0
    parent = d.con_parent
    for p in range(nsel):
        if parent[sel[p]] < 0:
            n += 1
    return n


@jit
def dense_delassus(m, d, sel, nsel, A_out, reg):
    # A_out (3 nsel, 3 nsel) = J M^-1 J^T over the selected contacts (+ eps_k on the diagonal)
    A_out[:, :] = 0.0
    for p in range(nsel):
        k = sel[p]
        for q in range(nsel):
            l = sel[q]
            for sk in range(2):
                i = d.con_body[k, sk]
                if m.body_kind[i] != BODY_DYNAMIC:
                    continue
                for sl in range(2):
                    if d.con_body[l, sl] != i:
                        continue
                    for a in range(3):
                        for b in range(3):
                            acc = 0.0
                            for j in range(6):
                                acc += d.con_J[k, sk, a, j] * d.con_MJ[l, sl, j, b]
                            A_out[3 * p + a, 3 * q + b] += acc
        if reg > 0.0:  # the hard model's eps_k on the diagonal
            eps = contact_eps(reg, d.con_A, d.con_parent, k)
            for a in range(3):
                A_out[3 * p + a, 3 * p + a] += eps


# ----------------------------------------------------------------------------------------------
# Reverse mode


@jit
def impulse_rhs(d, sel, nsel, Vb, Wb, g):
    # g (3 nsel) = (M^-1 J^T)^T [Vb; Wb]: the cotangent of the selected impulses
    body, MJ = d.con_body, d.con_MJ
    for p in range(nsel):
        k = sel[p]
        for row in range(3):
            acc = 0.0
            for s in range(2):
                i = body[k, s]
                for j in range(3):
                    acc += MJ[k, s, j, row] * Vb[i, j] + MJ[k, s, 3 + j, row] * Wb[i, j]
            g[3 * p + row] = acc


@jit
def body_vector(Vb, Wb):
    # (6 nbody): per body Vb's 3 entries, then Wb's (transposed_solve's g_bodies)
    out = np.empty(6 * Vb.shape[0])
    for i in range(Vb.shape[0]):
        for j in range(3):
            out[6 * i + j] = Vb[i, j]
            out[6 * i + 3 + j] = Wb[i, j]
    return out


@jit
def dense_transposed(m, d, sel, nsel, Fl, Fu):
    # K^T, K = F_l + F_u A over the selected contacts, assembled densely
    n3 = 3 * nsel
    A = np.empty((n3, n3))
    dense_delassus(m, d, sel, nsel, A, 0.0)
    KT = np.zeros((n3, n3))
    for p in range(nsel):
        for a in range(3):
            for b in range(3):
                KT[3 * p + b, 3 * p + a] += Fl[p, a, b]
            for col in range(n3):
                acc = 0.0
                for r in range(3):
                    acc += Fu[p, a, r] * A[3 * p + r, col]
                KT[col, 3 * p + a] += acc
    return KT


@jit
def _dense_transposed_solve(m, d, sel, nsel, Fl, Fu, g):
    # y with K^T y = g, K = F_l + F_u A assembled densely (while d.fac_on, factors kept by
    # what K is made of: a row of transition_kernel finding them skips the assembly)
    n3 = 3 * nsel
    y = g.copy()
    key = system_key(d, sel, nsel, Fl, Fu) if d.fac_on[0] else np.empty(0)
    e = find_kept(d, key, n3, np.int64(DENSE))
    if e >= 0:
        T, piv = kept_factors(d, e, n3, n3)
        if lu_solve_transposed(T, piv, y):
            return y
        return solve_or_lstsq(dense_transposed(m, d, sel, nsel, Fl, Fu), g)
    KT = dense_transposed(m, d, sel, nsel, Fl, Fu)
    LU = KT.copy()
    piv = np.empty(n3, dtype=np.int64)
    if lu_factor(LU, piv):
        T = np.ascontiguousarray(LU.T)  # (the layout lu_solve_transposed is fast with)
        keep(d, key, T, n3, np.int64(DENSE), piv)
        if lu_solve_transposed(T, piv, y):
            return y
    return solve_or_lstsq(KT, g)


@jit
def _transposed_apply(d, sel, nsel, Fl, Fu, P, x, out, z, dV, dW):
    # out = K^T P x, with A applied through the bodies (A symmetric: K^T = F_l^T + A F_u^T) and
    # P the block-diagonal preconditioner
    u = np.empty(3)
    for p in range(nsel):
        for r in range(3):
            z[3 * p + r] = (P[p, r, 0] * x[3 * p] + P[p, r, 1] * x[3 * p + 1]
                            + P[p, r, 2] * x[3 * p + 2])
    dV[:, :] = 0.0
    dW[:, :] = 0.0
    for p in range(nsel):
        for r in range(3):
            u[r] = Fu[p, 0, r] * z[3 * p] + Fu[p, 1, r] * z[3 * p + 1] + Fu[p, 2, r] * z[3 * p + 2]
        apply_contact_impulse(d, sel[p], u, dV, dW)
    for p in range(nsel):
        contact_velocity(d, sel[p], dV, dW, u)
        for r in range(3):
            out[3 * p + r] = (u[r] + Fl[p, 0, r] * z[3 * p] + Fl[p, 1, r] * z[3 * p + 1]
                              + Fl[p, 2, r] * z[3 * p + 2])


@jit
def union_root(parent, i):
    # union-find root of i, halving the path on the way
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@jit
def body_roots(m, d, sel, nsel):
    """Per body, its island's root over the selected contacts (union-find through the contacts
    between two dynamic bodies): two bodies are in one island when their roots are equal."""
    parent = np.arange(m.nbody)
    body, bkind = d.con_body, m.body_kind  # (read before the loop)
    for p in range(nsel):
        a, b = body[sel[p], 0], body[sel[p], 1]
        if bkind[a] == BODY_DYNAMIC and bkind[b] == BODY_DYNAMIC:
            ra, rb = union_root(parent, a), union_root(parent, b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    for i in range(m.nbody):
        parent[i] = union_root(parent, i)
    return parent


@jit
def islands(m, d, sel, nsel, order, start):
    """Splits the selected contacts into islands: contacts coupled through dynamic bodies.
    Islands share no dynamic body, so A is block diagonal over them and each solve (and its
    adjoint) falls apart into independent ones.

    out: island j holds the contacts sel[order[start[j]:start[j + 1]]] (order (nsel,): positions
    in sel, ascending within an island; islands numbered by their first contact; start
    (nsel + 1,)). Returns the number of islands.
    """
    root = body_roots(m, d, sel, nsel)
    body, bkind = d.con_body, m.body_kind  # (read before the loops)
    label = np.full(m.nbody, -1, dtype=np.int64)  # island of each root
    isl = np.empty(nsel, dtype=np.int64)
    nis = 0
    for p in range(nsel):
        a, b = body[sel[p], 0], body[sel[p], 1]
        i = a if bkind[a] == BODY_DYNAMIC else b
        if bkind[i] != BODY_DYNAMIC:  # no dynamic body: a problem of its own
            isl[p] = nis
            nis += 1
            continue
        r = root[i]
        if label[r] < 0:
            label[r] = nis
            nis += 1
        isl[p] = label[r]
    start[:nis + 1] = 0
    for p in range(nsel):
        start[isl[p] + 1] += 1
    for j in range(nis):
        start[j + 1] += start[j]
    fill = start[:nis].copy()
    for p in range(nsel):
        order[fill[isl[p]]] = p
        fill[isl[p]] += 1
    return nis


@jit
def _kept_islands(m, d, sel, nsel, order, start):
    # islands(), kept once per substep under a memo's solve (factors.py, its tag)
    if d.fac_tag[0] < 0:
        return islands(m, d, sel, nsel, order, start)
    key = memo_key(np.int64(MEMO_ISLANDS), d.fac_tag[0], sel, nsel)
    size = 2 * nsel + 2
    found, blk = memo_find(d, key, size)
    if found:
        for p in range(nsel + 1):
            start[p] = np.int64(blk[1 + nsel + p])
            if p < nsel:
                order[p] = np.int64(blk[1 + p])
        return np.int64(blk[0])
    nis = islands(m, d, sel, nsel, order, start)
    blk = np.empty(size)
    blk[0] = nis
    for p in range(nsel + 1):
        blk[1 + nsel + p] = start[p]
        if p < nsel:
            blk[1 + p] = order[p]
    memo_keep(d, key, blk)
    return nis


@jit
def active_transposed_solve(m, d, sel, nsel, Fl, Fu, g, g_bodies):
    """transposed_solve, solving only the contacts the solution moves with (g_bodies: as
    transposed_solve's; it stands for the coupled contacts' part of g too).

    A separated contact (F_l = I, F_u = 0) has an identity row in K, so only the others' block
    K_NN^T y_N = g_N is solved (over islands of those contacts alone); then
    y_S = g_S - (K_NS)^T y_N = g_S - J_S M^-1 J_N^T F_u,N^T y_N, one pass through the bodies.
    (Used by the hard adjoint; the smoothed adjoint keeps transposed_solve, whose rounding its
    1e-6 gradient checks were measured with; this one has not been tried there.)
    """
    if nsel == 0:
        return np.zeros(0)
    act = np.empty(nsel, dtype=np.int64)  # positions in sel of the contacts that couple
    na = np.int64(0)
    for p in range(nsel):
        ident = True
        for r in range(3):
            for c in range(3):
                if Fu[p, r, c] != 0.0 or Fl[p, r, c] != (1.0 if r == c else 0.0):
                    ident = False
        if not ident:
            act[na] = p
            na += 1
    if na == nsel:
        return transposed_solve(m, d, sel, nsel, Fl, Fu, g, g_bodies)
    y = g.copy()
    if na == 0:
        return y
    sel_a = np.empty(na, dtype=np.int64)
    Fl_a = np.empty((na, 3, 3))
    Fu_a = np.empty((na, 3, 3))
    g_a = np.empty(3 * na)
    for q in range(na):
        p = act[q]
        sel_a[q] = sel[p]
        Fl_a[q] = Fl[p]
        Fu_a[q] = Fu[p]
        g_a[3 * q:3 * q + 3] = g[3 * p:3 * p + 3]
    y_a = transposed_solve(m, d, sel_a, na, Fl_a, Fu_a, g_a, g_bodies)
    dV = np.zeros((m.nbody, 3))
    dW = np.zeros((m.nbody, 3))
    u = np.empty(3)
    for q in range(na):
        p = act[q]
        for r in range(3):
            y[3 * p + r] = y_a[3 * q + r]
            u[r] = Fu_a[q, 0, r] * y_a[3 * q] + Fu_a[q, 1, r] * y_a[3 * q + 1] \
                + Fu_a[q, 2, r] * y_a[3 * q + 2]
        apply_contact_impulse(d, sel_a[q], u, dV, dW)
    q = 0
    for p in range(nsel):
        if q < na and act[q] == p:
            q += 1
            continue
        contact_velocity(d, sel[p], dV, dW, u)
        for r in range(3):
            y[3 * p + r] -= u[r]
    return y


@jit
def transposed_solve(m, d, sel, nsel, Fl, Fu, g, g_bodies):
    """y with K^T y = g (K = F_l + F_u A over the selected contacts; F_l, F_u (nsel, 3, 3)),
    island by island (K is block diagonal over them), each by _transposed_solve_island.
    g_bodies: empty, or (6 nbody: per body 3 for its velocity, 3 for its angular velocity) a
    body-space v with g = J M^-1 v (impulse_rhs's g, the cotangent of the velocities the
    impulses move), which lets a solve through the bodies start from v (body_space.solve)."""
    if nsel == 0:
        return np.zeros(0)
    if not _any_nonzero(g, 0, nsel, np.arange(nsel)):
        return np.zeros(3 * nsel)
    order = np.empty(nsel, dtype=np.int64)
    start = np.empty(nsel + 1, dtype=np.int64)
    nis = _kept_islands(m, d, sel, nsel, order, start)
    if nis == 1:
        return _transposed_solve_island(m, d, sel, nsel, Fl, Fu, g, g_bodies)
    y = np.empty(3 * nsel)
    sub = np.empty(nsel, dtype=np.int64)
    for j in range(nis):
        n = start[j + 1] - start[j]
        if not _any_nonzero(g, start[j], start[j + 1], order):
            # (K is invertible: a zero right-hand side has the zero solution; a vjp whose
            # cotangent lives on other islands, as each row of transition_kernel's, skips it)
            for q in range(start[j], start[j + 1]):
                y[3 * order[q]:3 * order[q] + 3] = 0.0
            continue
        if n == 1:  # a lone contact (the most common island): its 3x3 block, here
            p = order[start[j]]
            _lone_transposed_solve(d.con_A, sel[p], Fl[p], Fu[p], g[3 * p:3 * p + 3],
                                   y[3 * p:3 * p + 3])
            continue
        Fl_s = np.empty((n, 3, 3))
        Fu_s = np.empty((n, 3, 3))
        g_s = np.empty(3 * n)
        for q in range(n):
            p = order[start[j] + q]
            sub[q] = sel[p]
            Fl_s[q] = Fl[p]
            Fu_s[q] = Fu[p]
            g_s[3 * q:3 * q + 3] = g[3 * p:3 * p + 3]
        y_s = _transposed_solve_island(m, d, sub, n, Fl_s, Fu_s, g_s, g_bodies)
        for q in range(n):
            p = order[start[j] + q]
            y[3 * p:3 * p + 3] = y_s[3 * q:3 * q + 3]
    return y


@jit(inline="always")
def nonzero3(v):
    # whether a 3-vector has a non-zero entry (a vjp skips what is linear in a zero cotangent)
    return v[0] != 0.0 or v[1] != 0.0 or v[2] != 0.0


@jit(inline="always")
def _any_nonzero(g, q0, q1, order):
    # whether g has a non-zero entry in the 3-blocks of contacts order[q0 .. q1-1]
    for q in range(q0, q1):
        p = order[q]
        if g[3 * p] != 0.0 or g[3 * p + 1] != 0.0 or g[3 * p + 2] != 0.0:
            return True
    return False


@jit
def _lone_transposed_solve(A, k, Fl, Fu, g, y):
    # y (3,) with K^T y = g for one contact, K = F_l + F_u A_kk (3x3), by the adjugate
    K = np.empty((3, 3))
    for r in range(3):
        for c in range(3):
            K[c, r] = Fl[r, c] + Fu[r, 0] * A[k, 0, c] + Fu[r, 1] * A[k, 1, c] \
                + Fu[r, 2] * A[k, 2, c]  # K^T
    c00 = K[1, 1] * K[2, 2] - K[1, 2] * K[2, 1]
    c01 = K[1, 2] * K[2, 0] - K[1, 0] * K[2, 2]
    c02 = K[1, 0] * K[2, 1] - K[1, 1] * K[2, 0]
    det = K[0, 0] * c00 + K[0, 1] * c01 + K[0, 2] * c02
    if det == 0.0:
        y[:] = solve_or_lstsq(K, g)
        return
    y[0] = (c00 * g[0] + (K[0, 2] * K[2, 1] - K[0, 1] * K[2, 2]) * g[1]
            + (K[0, 1] * K[1, 2] - K[0, 2] * K[1, 1]) * g[2]) / det
    y[1] = (c01 * g[0] + (K[0, 0] * K[2, 2] - K[0, 2] * K[2, 0]) * g[1]
            + (K[0, 2] * K[1, 0] - K[0, 0] * K[1, 2]) * g[2]) / det
    y[2] = (c02 * g[0] + (K[0, 1] * K[2, 0] - K[0, 0] * K[2, 1]) * g[1]
            + (K[0, 0] * K[1, 1] - K[0, 1] * K[1, 0]) * g[2]) / det


@jit
def _dot(a, b):
    # a . b of two vectors, as a loop (no temporary array: GMRES's inner products)
    acc = 0.0
    for r in range(a.shape[0]):
        acc += a[r] * b[r]
    return acc


@jit
def _transposed_solve_island(m, d, sel, nsel, Fl, Fu, g, g_bodies):
    """y with K^T y = g over the selected contacts (one island; sel may be longer).

    Dense for at most m.opt_polish_max_contacts contacts; beyond, through the island's bodies
    where their band is affordable (body_space.solve: refinement, then GMRES preconditioned by
    the bodies' factorization); else matrix-free restarted GMRES, right-preconditioned by the
    inverse transposed 3x3 diagonal blocks of K, to a relative residual of 1e-13, else (not
    reached in 20 restarts) the dense solve after all: exact, only slower.
    """
    if contacts_in(d, sel, nsel) <= m.opt_polish_max_contacts:
        return _dense_transposed_solve(m, d, sel, nsel, Fl, Fu, g)
    ok, y = solve_bodies(m, d, sel, nsel, Fl, Fu, g, g_bodies, np.bool_(True), ACCEPT_TOL)
    if not ok:
        ok, y = gmres_transposed_solve(m, d, sel, nsel, Fl, Fu, g)
    if not ok:
        y = _dense_transposed_solve(m, d, sel, nsel, Fl, Fu, g)
    return y


@jit
def gmres_transposed_solve(m, d, sel, nsel, Fl, Fu, g):
    """(ok, y) with K^T y = g by _transposed_solve_island's GMRES; ok False (y undefined) when it
    does not reach its tolerance in 20 restarts."""
    n3 = 3 * nsel
    P = np.empty((nsel, 3, 3))
    blk = np.empty((3, 3))
    unit = np.empty(3)
    for p in range(nsel):
        A = d.con_A[sel[p]]
        for r in range(3):
            for c in range(3):
                acc = Fl[p, c, r]
                for q in range(3):
                    acc += A[r, q] * Fu[p, c, q]
                blk[r, c] = acc
        for c in range(3):  # the block's inverse, column by column
            unit[:] = 0.0
            unit[c] = 1.0
            ok, col = solve_dense(blk, unit)
            if not ok:  # (a preconditioner: a singular block only slows GMRES down)
                P[p] = np.eye(3)
                break
            P[p, :, c] = col
    z = np.empty(n3)
    dV = np.empty((m.nbody, 3))
    dW = np.empty((m.nbody, 3))
    restart = 40
    Q = np.zeros((restart + 1, n3))
    H = np.zeros((restart + 1, restart))
    cs = np.zeros(restart)
    sn = np.zeros(restart)
    e = np.zeros(restart + 1)
    x = np.zeros(n3)
    w = np.empty(n3)
    gnorm = np.sqrt(_dot(g, g))
    if gnorm == 0.0:
        return True, np.zeros(n3)
    done = False
    for _ in range(20):
        _transposed_apply(d, sel, nsel, Fl, Fu, P, x, w, z, dV, dW)
        for r in range(n3):
            w[r] = g[r] - w[r]
        if arnoldi_start(Q, e, w) <= 1e-13 * gnorm:
            done = True
            break
        j_end = 0
        for j in range(restart):
            _transposed_apply(d, sel, nsel, Fl, Fu, P, Q[j], w, z, dV, dW)
            resid = arnoldi_step(Q, H, cs, sn, e, j, w)
            j_end = j + 1
            if resid <= 1e-13 * gnorm or H[j, j] == 0.0:
                break
        arnoldi_update(Q, H, e, j_end, x)
    y = np.empty(n3)
    for p in range(nsel):
        for r in range(3):
            y[3 * p + r] = (P[p, r, 0] * x[3 * p] + P[p, r, 1] * x[3 * p + 1]
                            + P[p, r, 2] * x[3 * p + 2])
    return done, y


@jit
def contact_poses(d, nc):
    """The poses each contact's Jacobian was built at, per side: cx (nc, 2, 3), cR (nc, 2, 3, 3)
    (the bodies' poses at the step start; hard contacts refreshed at an impact differ), and
    zeroed cotangents of the same shapes."""
    cx = np.empty((nc, 2, 3))
    cR = np.empty((nc, 2, 3, 3))
    body, pos, xmat = d.con_body, d.pos, d.xmat  # (before the loop; and no views in it)
    for k in range(nc):
        for s in range(2):
            i = body[k, s]
            for j in range(3):
                cx[k, s, j] = pos[i, j]
                for c in range(3):
                    cR[k, s, j, c] = xmat[i, j, c]
    return cx, cR, np.zeros((nc, 2, 3)), np.zeros((nc, 2, 3, 3))


@jit
def scatter_pose_bars(d, a, nc, cx_bar, cR_bar):
    # the contacts' pose cotangents onto their bodies' (a.pos_bar, a.R_bar)
    body, pos_bar, R_bar = d.con_body, a.pos_bar, a.R_bar
    for k in range(nc):
        for s in range(2):
            i = body[k, s]
            for j in range(3):
                pos_bar[i, j] += cx_bar[k, s, j]
                for c in range(3):
                    R_bar[i, j, c] += cR_bar[k, s, j, c]


@jit(entry=True, inline="always")  # per contact: inlined
def contact_velocity_vjp(d, a, k, cx, V, W, ubar, Vb, Wb, tb, cx_bar):
    """vjp of u = J_k [V; W] = E^T (v_a(p) - v_b(p)), E = [n t1 t2], at the velocities V, W,
    with the bodies' origins cx[k]: into Vb, Wb, the contact point (a.con_pos_bar), the origins
    (cx_bar) and the frame's columns tb (3, 3) (rows: n, t1, t2). (velocity_vjp on the records'
    arrays: a loop over contacts calls that, with the arrays read before it.)"""
    velocity_vjp(d.con_normal, d.con_t1, d.con_t2, d.con_body, d.con_pos, a.con_pos_bar, k, cx,
                 V, W, ubar[0], ubar[1], ubar[2], Vb, Wb, tb.reshape((1, 3, 3)), np.int64(0),
                 cx_bar)


@jit(inline="always")  # per contact: inlined, and no temporary arrays
def velocity_vjp(normal, t1, t2, body, cpos, cpos_bar, k, cx, V, W, ub0, ub1, ub2, Vb, Wb, tb,
                 kt, cx_bar):
    # contact_velocity_vjp from the arrays con_normal, con_t1, con_t2, con_body, con_pos and
    # Adjoint.con_pos_bar, u's cotangent (ub0, ub1, ub2); the frame's cotangent into tb[kt]
    # g = E ubar, the world vector u's cotangent pulls the relative point velocity with
    g0 = ub0 * normal[k, 0] + ub1 * t1[k, 0] + ub2 * t2[k, 0]
    g1 = ub0 * normal[k, 1] + ub1 * t1[k, 1] + ub2 * t2[k, 1]
    g2 = ub0 * normal[k, 2] + ub1 * t1[k, 2] + ub2 * t2[k, 2]
    for s in range(2):
        i = body[k, s]
        sg = 1.0 if s == 0 else -1.0
        r0 = cpos[k, 0] - cx[k, s, 0]
        r1 = cpos[k, 1] - cx[k, s, 1]
        r2 = cpos[k, 2] - cx[k, s, 2]
        w0, w1, w2 = W[i, 0], W[i, 1], W[i, 2]
        # this side's point velocity v + w x r, into the frame's cotangent (signed)
        p0 = V[i, 0] + w1 * r2 - w2 * r1
        p1 = V[i, 1] + w2 * r0 - w0 * r2
        p2 = V[i, 2] + w0 * r1 - w1 * r0
        for col in range(3):
            uc = ub0 if col == 0 else (ub1 if col == 1 else ub2)
            tb[kt, col, 0] += sg * uc * p0
            tb[kt, col, 1] += sg * uc * p1
            tb[kt, col, 2] += sg * uc * p2
        # v_bar += sg g; w_bar += r x (sg g); r_bar = (sg g) x w
        h0, h1, h2 = sg * g0, sg * g1, sg * g2
        Vb[i, 0] += h0
        Vb[i, 1] += h1
        Vb[i, 2] += h2
        Wb[i, 0] += r1 * h2 - r2 * h1
        Wb[i, 1] += r2 * h0 - r0 * h2
        Wb[i, 2] += r0 * h1 - r1 * h0
        point_offset_bar(cpos_bar, cx_bar, k, s, h1 * w2 - h2 * w1, h2 * w0 - h0 * w2,
                         h0 * w1 - h1 * w0)


@jit(inline="always")
def point_offset_bar(cpos_bar, cx_bar, k, s, rb0, rb1, rb2):
    # the cotangent (rb0, rb1, rb2) of r = p_k - cx[k, s], contact k's point from its side s
    # body's origin, onto the point (Adjoint.con_pos_bar) and the origin
    cpos_bar[k, 0] += rb0
    cpos_bar[k, 1] += rb1
    cpos_bar[k, 2] += rb2
    cx_bar[k, s, 0] -= rb0
    cx_bar[k, s, 1] -= rb1
    cx_bar[k, s, 2] -= rb2


@jit
def impulse_vjp(m, d, a, sel, nsel, lam, cx, cR, Vb, Wb, tb, cx_bar, cR_bar):
    """vjp of V_out = V_in + sum_k M^-1 J_k^T lam_k at fixed lam (world impulse E lam at the
    contact point, + on a, - on b; bodies at the poses cx, cR) into the geometry
    (a.con_pos_bar, the frames' cotangents tb (ncon, 3, 3)), the poses (cx_bar, cR_bar) and the
    masses; V_out's cotangent Vb, Wb is V_in's unchanged."""
    r, imp, r_bar, imp_bar, mb = (np.empty(3), np.empty(3), np.empty(3), np.empty(3),
                                  np.empty(1))
    # (the records' arrays read before the loop: simcore/_jit.py, records)
    parent, body, cpos, normal, t1, t2 = (d.con_parent, d.con_body, d.con_pos, d.con_normal,
                                          d.con_t1, d.con_t2)
    bkind, invmass, inertia = m.body_kind, m.body_invmass, m.body_inertia
    invmass_bar, inertia_bar, cpos_bar = a.invmass_bar, a.inertia_bar, a.con_pos_bar
    for p in range(nsel):
        k = sel[p]
        if parent[k] >= 0:  # a torque block (its own geometry, rolling.py)
            q = parent[k]
            torque_impulse_vjp(m, d, a, k, lam[k], Wb, tb[q])
            continue
        for s in range(2):
            i = body[k, s]
            if bkind[i] != BODY_DYNAMIC or not (nonzero3(Vb[i]) or nonzero3(Wb[i])):
                continue  # (linear in the body's cotangent: nothing to pass back)
            sign = 1.0 if s == 0 else -1.0
            for j in range(3):
                r[j] = cpos[k, j] - cx[k, s, j]
                imp[j] = sign * (lam[k, 0] * normal[k, j] + lam[k, 1] * t1[k, j]
                                 + lam[k, 2] * t2[k, j])
                r_bar[j] = 0.0
                imp_bar[j] = 0.0
            mb[0] = 0.0
            apply_impulse_vjp(cR[k, s], invmass[i], inertia[i], r, imp, Vb[i], Wb[i],
                              cR_bar[k, s], r_bar, imp_bar, mb, inertia_bar[i])
            invmass_bar[i] += mb[0]
            point_offset_bar(cpos_bar, cx_bar, k, s, r_bar[0], r_bar[1], r_bar[2])
            for j in range(3):
                for col in range(3):
                    tb[k, col, j] += sign * lam[k, col] * imp_bar[j]


@jit(entry=True, inline="always")  # per contact: inlined
def delassus_diagonal_vjp(m, d, a, k, cx, cR, w, tb, cx_bar, cR_bar):
    """vjp of w_n A_nn + w_1 A_11 + w_2 A_22, weights w = (w_n, w_1, w_2) on contact k's Delassus
    diagonal along its frame rows (n, t1, t2): A_ii = sum over dynamic sides of invm + g^T D g,
    g = R^T (r x e_i), D = diag(1 / inertia), |e_i| = 1. The smoothed model's mean tangent entry
    A_tt is w = (0, 1/2, 1/2) of it, the penalty spring's A_nn w = (1, 0, 0). (diagonal_vjp on
    the records' arrays: a loop over contacts calls that, with the arrays read before it.)"""
    diagonal_vjp(m.body_kind, m.body_inertia, d.con_body, d.con_pos, d.con_normal, d.con_t1,
                 d.con_t2, a.invmass_bar, a.inertia_bar, a.con_pos_bar, k, cx, cR, w[0], w[1],
                 w[2], tb.reshape((1, 3, 3)), np.int64(0), cx_bar, cR_bar)


@jit(inline="always")  # per contact: inlined, and no temporary arrays
def diagonal_vjp(bkind, inertia, body, cpos, normal, t1, t2, invmass_bar, inertia_bar, cpos_bar,
                 k, cx, cR, w0, w1, w2, tb, kt, cx_bar, cR_bar):
    # delassus_diagonal_vjp from the arrays (Model.body_kind, body_inertia; con_body, con_pos
    # and the frame; Adjoint.invmass_bar, inertia_bar, con_pos_bar), the weights (w0, w1, w2);
    # the frame's cotangent into tb[kt]
    for s in range(2):
        i = body[k, s]
        if bkind[i] != BODY_DYNAMIC:
            continue
        I0, I1, I2 = inertia[i, 0], inertia[i, 1], inertia[i, 2]
        invmass_bar[i] += w0 + w1 + w2
        r0 = cpos[k, 0] - cx[k, s, 0]
        r1 = cpos[k, 1] - cx[k, s, 1]
        r2 = cpos[k, 2] - cx[k, s, 2]
        rb0 = rb1 = rb2 = 0.0
        for row in range(3):
            wr = w0 if row == 0 else (w1 if row == 1 else w2)
            if wr == 0.0:
                continue
            e = normal if row == 0 else (t1 if row == 1 else t2)
            e0, e1, e2 = e[k, 0], e[k, 1], e[k, 2]
            q0 = r1 * e2 - r2 * e1  # q = r x e, g = R^T q
            q1 = r2 * e0 - r0 * e2
            q2 = r0 * e1 - r1 * e0
            g0 = cR[k, s, 0, 0] * q0 + cR[k, s, 1, 0] * q1 + cR[k, s, 2, 0] * q2
            g1 = cR[k, s, 0, 1] * q0 + cR[k, s, 1, 1] * q1 + cR[k, s, 2, 1] * q2
            g2 = cR[k, s, 0, 2] * q0 + cR[k, s, 1, 2] * q1 + cR[k, s, 2, 2] * q2
            gb0 = 2.0 * wr * g0 / I0
            gb1 = 2.0 * wr * g1 / I1
            gb2 = 2.0 * wr * g2 / I2
            inertia_bar[i, 0] -= wr * g0 * g0 / I0 ** 2
            inertia_bar[i, 1] -= wr * g1 * g1 / I1 ** 2
            inertia_bar[i, 2] -= wr * g2 * g2 / I2 ** 2
            qb0 = cR[k, s, 0, 0] * gb0 + cR[k, s, 0, 1] * gb1 + cR[k, s, 0, 2] * gb2
            qb1 = cR[k, s, 1, 0] * gb0 + cR[k, s, 1, 1] * gb1 + cR[k, s, 1, 2] * gb2
            qb2 = cR[k, s, 2, 0] * gb0 + cR[k, s, 2, 1] * gb1 + cR[k, s, 2, 2] * gb2
            for j in range(3):
                qj = q0 if j == 0 else (q1 if j == 1 else q2)
                cR_bar[k, s, j, 0] += qj * gb0
                cR_bar[k, s, j, 1] += qj * gb1
                cR_bar[k, s, j, 2] += qj * gb2
            rb0 += e1 * qb2 - e2 * qb1  # r_bar += e x q_bar, e_bar += q_bar x r
            rb1 += e2 * qb0 - e0 * qb2
            rb2 += e0 * qb1 - e1 * qb0
            tb[kt, row, 0] += qb1 * r2 - qb2 * r1
            tb[kt, row, 1] += qb2 * r0 - qb0 * r2
            tb[kt, row, 2] += qb0 * r1 - qb1 * r0
        point_offset_bar(cpos_bar, cx_bar, k, s, rb0, rb1, rb2)


@jit(entry=True, inline="always")  # per contact: inlined
def delassus_trace_vjp(m, d, a, k, cx, cR, tr_bar, cx_bar, cR_bar):
    """vjp of tr A_kk, the trace of contact k's Delassus block (frame-free, so no frame
    cotangent): per dynamic side, 3 invm + |r|^2 tr(D) - s^T D s with s = R^T r and
    D = diag(1 / inertia), r the contact point from the body's origin cx[k]. (trace_vjp on the
    records' arrays: a loop over contacts calls that, with the arrays read before it.)"""
    trace_vjp(m.body_kind, m.body_inertia, d.con_body, d.con_pos, a.invmass_bar, a.inertia_bar,
              a.con_pos_bar, k, cx, cR, tr_bar, cx_bar, cR_bar)


@jit(inline="always")  # per contact: inlined, and no temporary arrays
def trace_vjp(bkind, inertia, body, cpos, invmass_bar, inertia_bar, cpos_bar, k, cx, cR, tr_bar,
              cx_bar, cR_bar):
    # delassus_trace_vjp from the arrays (Model.body_kind, body_inertia; con_body, con_pos;
    # Adjoint.invmass_bar, inertia_bar, con_pos_bar)
    for side in range(2):
        i = body[k, side]
        if bkind[i] != BODY_DYNAMIC:
            continue
        invmass_bar[i] += 3.0 * tr_bar
        r0 = cpos[k, 0] - cx[k, side, 0]
        r1 = cpos[k, 1] - cx[k, side, 1]
        r2 = cpos[k, 2] - cx[k, side, 2]
        rr = r0 * r0 + r1 * r1 + r2 * r2
        I0, I1, I2 = inertia[i, 0], inertia[i, 1], inertia[i, 2]
        trD = 1.0 / I0 + 1.0 / I1 + 1.0 / I2
        s0 = cR[k, side, 0, 0] * r0 + cR[k, side, 1, 0] * r1 + cR[k, side, 2, 0] * r2  # R^T r
        s1 = cR[k, side, 0, 1] * r0 + cR[k, side, 1, 1] * r1 + cR[k, side, 2, 1] * r2
        s2 = cR[k, side, 0, 2] * r0 + cR[k, side, 1, 2] * r1 + cR[k, side, 2, 2] * r2
        inertia_bar[i, 0] -= tr_bar * (rr - s0 * s0) / I0 ** 2
        inertia_bar[i, 1] -= tr_bar * (rr - s1 * s1) / I1 ** 2
        inertia_bar[i, 2] -= tr_bar * (rr - s2 * s2) / I2 ** 2
        ds0, ds1, ds2 = s0 / I0, s1 / I1, s2 / I2  # D s
        for j in range(3):
            rj = r0 if j == 0 else (r1 if j == 1 else r2)
            # d/dR[j, c]: -2 r_j D_c s_c; d/dr: 2 r tr(D) - 2 R D s
            cR_bar[k, side, j, 0] -= 2.0 * tr_bar * rj * ds0
            cR_bar[k, side, j, 1] -= 2.0 * tr_bar * rj * ds1
            cR_bar[k, side, j, 2] -= 2.0 * tr_bar * rj * ds2
            rb = 2.0 * rj * trD - 2.0 * (cR[k, side, j, 0] * ds0 + cR[k, side, j, 1] * ds1
                                         + cR[k, side, j, 2] * ds2)
            cpos_bar[k, j] += tr_bar * rb
            cx_bar[k, side, j] -= tr_bar * rb


@jit(entry=True, inline="always")  # per contact: inlined, and no temporary arrays
def frame_to_normal(d, a, k, tb):
    # a.con_normal_bar[k] += n_bar + (t1 x t1_bar + t2 x t2_bar) x n, tb (3, 3) rows n, t1, t2
    _frame_to_normal(d.con_t1, d.con_t2, d.con_normal, a.con_normal_bar, k,
                     tb.reshape((1, 3, 3)), np.int64(0))


@jit
def frames_to_normals(d, a, nc, tb):
    # frame_to_normal for contacts 0 .. nc-1, tb (ncon, 3, 3) (the arrays read once)
    t1, t2, n, n_bar = d.con_t1, d.con_t2, d.con_normal, a.con_normal_bar
    for k in range(nc):
        _frame_to_normal(t1, t2, n, n_bar, k, tb, k)


@jit(inline="always")
def _frame_to_normal(t1, t2, n, n_bar, k, tb, kt):
    # frame_to_normal from the arrays, the frame's cotangent in tb[kt]
    c0 = (t1[k, 1] * tb[kt, 1, 2] - t1[k, 2] * tb[kt, 1, 1]) \
        + (t2[k, 1] * tb[kt, 2, 2] - t2[k, 2] * tb[kt, 2, 1])
    c1 = (t1[k, 2] * tb[kt, 1, 0] - t1[k, 0] * tb[kt, 1, 2]) \
        + (t2[k, 2] * tb[kt, 2, 0] - t2[k, 0] * tb[kt, 2, 2])
    c2 = (t1[k, 0] * tb[kt, 1, 1] - t1[k, 1] * tb[kt, 1, 0]) \
        + (t2[k, 0] * tb[kt, 2, 1] - t2[k, 1] * tb[kt, 2, 0])
    n_bar[k, 0] += tb[kt, 0, 0] + (c1 * n[k, 2] - c2 * n[k, 1])
    n_bar[k, 1] += tb[kt, 0, 1] + (c2 * n[k, 0] - c0 * n[k, 2])
    n_bar[k, 2] += tb[kt, 0, 2] + (c0 * n[k, 1] - c1 * n[k, 0])
