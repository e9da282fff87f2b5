"""Python entry points for the kernels the tests check one by one that take the Model / Data /
Adjoint records.

Kernels are compiled without numba's Python wrapper unless Python calls them (simcore/_jit.py):
a wrapper is compiled code only the tests would use. Each entry here calls its kernel from
compiled code; it is compiled (and cached) in test sessions only.
"""
import numpy as np

from simcore._jit import jit
from simcore.kernels import (body_space, contact_space, factors, hard, hard_solver, linalg, rolling,
                             smoothed, step)


@jit(entry=True)
def contact_jacobian(m, d, k, xa, Ra, xb, Rb):
    return contact_space.contact_jacobian(m, d, k, xa, Ra, xb, Rb)


@jit(entry=True)
def dense_delassus(m, d, sel, nsel, A_out, reg):
    return contact_space.dense_delassus(m, d, sel, nsel, A_out, reg)


@jit(entry=True)
def _dense_transposed_solve(m, d, sel, nsel, Fl, Fu, g):
    return contact_space._dense_transposed_solve(m, d, sel, nsel, Fl, Fu, g)


@jit(entry=True)
def islands(m, d, sel, nsel, order, start):
    return contact_space.islands(m, d, sel, nsel, order, start)


@jit(entry=True)
def active_transposed_solve(m, d, sel, nsel, Fl, Fu, g):
    return contact_space.active_transposed_solve(m, d, sel, nsel, Fl, Fu, g, np.empty(0))


@jit(entry=True)
def transposed_solve(m, d, sel, nsel, Fl, Fu, g):
    return contact_space.transposed_solve(m, d, sel, nsel, Fl, Fu, g, np.empty(0))


@jit(entry=True)
def gmres_transposed_solve(m, d, sel, nsel, Fl, Fu, g):
    return contact_space.gmres_transposed_solve(m, d, sel, nsel, Fl, Fu, g)


@jit(entry=True)
def contact_poses(d, nc):
    return contact_space.contact_poses(d, nc)


@jit(entry=True)
def impulse_vjp(m, d, a, sel, nsel, lam, cx, cR, Vb, Wb, tb, cx_bar, cR_bar):
    return contact_space.impulse_vjp(m, d, a, sel, nsel, lam, cx, cR, Vb, Wb, tb, cx_bar, cR_bar)


@jit(entry=True)
def _blend_work(d, sel, nsel, Vp, Wp, V0, W0, lam0, VN, WN, lamN):
    return hard._blend_work(d, sel, nsel, Vp, Wp, V0, W0, lam0, VN, WN, lamN)


@jit(entry=True)
def hard_contacts(m, d, h):
    return hard.hard_contacts(m, d, h)


@jit(entry=True)
def _blend_vjp(d, a, sel, nsel, alpha, Vp, Wp, V0, W0, lam0, VN, WN, lamN, P, Vb, Wb, Vpb, Wpb,
               V0b, W0b, lam0_bar, lamN_bar):
    return hard._blend_vjp(d, a, sel, nsel, alpha, Vp, Wp, V0, W0, lam0, VN, WN, lamN, P, Vb, Wb,
                           Vpb, Wpb, V0b, W0b, lam0_bar, lamN_bar)


@jit(entry=True)
def contact_scales(m, d, k):
    return smoothed.contact_scales(m, d, k)


@jit(entry=True)
def smoothed_contacts(m, d, h):
    return smoothed.smoothed_contacts(m, d, h)


@jit(entry=True)
def body_solve(m, d, sel, nsel, Fl, Fu, rhs, trans):
    return body_space.solve(m, d, sel, nsel, Fl, Fu, rhs, np.empty(0), trans,
                            body_space.ACCEPT_TOL)


@jit(entry=True)
def body_solve_from_bodies(m, d, sel, nsel, Fl, Fu, Vb, Wb):
    # K^T y = g for g = J M^-1 [Vb; Wb] (impulse_rhs), given with its body-space v: (ok, y, g)
    g = np.empty(3 * nsel)
    contact_space.impulse_rhs(d, sel, nsel, Vb, Wb, g)
    ok, y = body_space.solve(m, d, sel, nsel, Fl, Fu, g, contact_space.body_vector(Vb, Wb),
                             np.bool_(True), body_space.ACCEPT_TOL)
    return ok, y, g


@jit(entry=True)
def body_first_solutions(m, d, sel, nsel, Fl, Fu, Vb, Wb):
    # a HardContact island's first solutions of K^T y = g, g = J M^-1 [Vb; Wb], through its
    # bodies' banded factors, before any refinement: (from the bodies' v (_from_bodies), from g
    # (_correct from zero), g)
    g = np.empty(3 * nsel)
    contact_space.impulse_rhs(d, sel, nsel, Vb, Wb, g)
    loc = np.full(m.nbody, -1, dtype=np.int64)
    n, w, _ = body_space._banded(m, d, sel, nsel, loc)
    Li, X = np.empty((nsel, 3, 3)), np.empty((nsel, 3, 3))
    for p in range(nsel):
        body_space._inv3(Fl[p], Li[p])
        X[p] = Li[p] @ Fu[p]
    H = body_space._assemble(m, d, sel, nsel, loc, X, n, w)
    piv = np.empty(n, dtype=np.int64)
    linalg.band_factor(H, n, w, piv)
    z, sk = np.empty(n), np.empty(3)
    y_bodies, y_g = np.empty(3 * nsel), np.empty(3 * nsel)
    body_space._from_bodies(d, sel, nsel, loc, Li, H, n, w, piv,
                            contact_space.body_vector(Vb, Wb), y_bodies, z, sk)
    body_space._correct(d, sel, nsel, loc, Li, X, H, n, w, piv, g, y_g, z, sk, True)
    return y_bodies, y_g, g


@jit(entry=True)
def affordable(m, d, sel, nsel):
    return body_space.affordable(m, d, sel, nsel)


@jit(entry=True)
def island_order(m, d, sel, nsel, loc, bodies):
    return body_space.island_order(m, d, sel, nsel, loc, bodies)


@jit(entry=True)
def band_factor(B, n, w, piv):
    return linalg.band_factor(B, n, w, piv)


@jit(entry=True)
def band_solve(B, n, w, piv, x, trans):
    linalg.band_solve(B, n, w, piv, x, trans)


@jit(entry=True)
def block_factor_of(nb, adj, blocks):
    """block_factor of block_layout_of(nb, adj, blocks); returns (ok, factored layout)."""
    H = block_layout_of(nb, adj, blocks)
    return linalg.block_factor(H), H


@jit(entry=True)
def block_layout_of(nb, adj, blocks):
    """block_order and block_layout of the matrix whose 6 x 6 blocks are blocks (nb, nb, 6, 6)
    (zero off the graph adj), its blocks filled in."""
    order, lstart, later = linalg.block_order(nb, adj)
    H = linalg.block_layout(nb, order, lstart, later)
    bid = linalg.block_ids(H)
    for i in range(nb):
        for j in range(nb):
            if bid[i, j] >= 0:
                o = linalg.block_start(H, bid[i, j])
                for r in range(6):
                    for c in range(6):
                        H[0, o + 6 * r + c] = blocks[i, j, r, c]
    return H


@jit(entry=True)
def block_solve(H, x, trans):
    linalg.block_solve(H, x, trans)


@jit(entry=True)
def resistance(m, d, lam, W):
    return rolling.resistance(m, d, lam, W)


@jit(entry=True)
def resistance_vjp(m, d, a, lam, W, Wb, lam_bar, tb, kink):
    return rolling.resistance_vjp(m, d, a, lam, W, Wb, lam_bar, tb, kink)


@jit(entry=True)
def coupled_transposed_solve(m, d, sel, lam, Fl, Fu, g, db):
    # y with (K0 + C)^T y = g over all of sel: the torque blocks coupled to their contacts'
    # normal impulses (the hard adjoint's solve where a block sits at its bound)
    return hard_solver._coupled_transposed_solve(m, d, sel, sel.shape[0], lam, Fl, Fu, g, db)


@jit(entry=True)
def factor_kept_each(d, Ms, n, w, piv, count):
    # Ms[0], Ms[1], ... factored in place, in one compiled call (its kept factorizations live
    # in the call's record), each keyed by itself: the kept factors of exactly the same matrix
    # if there are any (factors.find_kept, kept_factors), else factored and kept
    # (factors.keep); piv[i] their pivots, count[i] d.fac_count after each; returns whether all
    # succeeded
    ok = True
    for i in range(Ms.shape[0]):
        M = Ms[i].copy()
        key = M.reshape(M.size).copy()
        e = factors.find_kept(d, key, n, w)
        if e >= 0:
            F, p = factors.kept_factors(d, e, M.shape[0], M.shape[1])
            M[:, :] = F
            piv[i, :n] = p
        elif factors.factor_of_kind(M, n, w, piv[i]):
            factors.keep(d, key, M, n, w, piv[i])
        else:
            ok = False
        Ms[i] = M
        count[i] = d.fac_count[0]
    return ok


@jit(entry=True)
def keyed_lookups(d, sel, Fls, Fus, Js, MJs, Ms, n, w, piv, found):
    # for each i, in one compiled call: d.con_J = Js[i], d.con_MJ = MJs[i], then the kept
    # factors of the key factors.system_key(d, sel, .., Fls[i], Fus[i]) into Ms[i] (found[i] =
    # their entry), or Ms[i] factored and kept under that key (found[i] = -1)
    for i in range(Ms.shape[0]):
        d.con_J[:] = Js[i]
        d.con_MJ[:] = MJs[i]
        key = factors.system_key(d, sel, sel.shape[0], Fls[i], Fus[i])
        e = factors.find_kept(d, key, n, w)
        found[i] = e
        if e >= 0:
            F, p = factors.kept_factors(d, e, n, n)
            Ms[i] = F
            piv[i] = p
        elif factors.factor_of_kind(Ms[i], n, w, piv[i]):
            factors.keep(d, key, Ms[i], n, w, piv[i])


@jit(entry=True)
def lu_factor(M, piv):
    return linalg.lu_factor(M, piv)


@jit(entry=True)
def lu_solve(M, piv, x):
    return linalg.lu_solve(M, piv, x)


@jit(entry=True)
def lu_solve_transposed(T, piv, x):
    return linalg.lu_solve_transposed(T, piv, x)


@jit(entry=True)
def torque_rows(m, d, nc):
    return rolling.torque_rows(m, d, nc)


@jit(entry=True)
def torque_box(z0, z1, z2, bt, br):
    return rolling.torque_box(z0, z1, z2, bt, br)


@jit(entry=True)
def torque_box_jacobian_side(z, bt, br, outside, dP, db):
    rolling.torque_box_jacobian_side(z, bt, br, outside, dP, db)


@jit(entry=True)
def torque_velocity_vjp(d, e, W, ubar, Wb, tb):
    rolling.torque_velocity_vjp(d, e, W, ubar, Wb, tb)


@jit(entry=True)
def torque_impulse_vjp(m, d, a, e, tau, Wb, tb):
    rolling.torque_impulse_vjp(m, d, a, e, tau, Wb, tb)


@jit(entry=True)
def torque_trace_vjp(m, d, a, e, tr_bar):
    rolling.torque_trace_vjp(m, d, a, e, tr_bar)


@jit(entry=True)
def replayed_velocities(kind, m, d, tape, controls, h, out):
    # each substep k (one per step) re-run from the tape as the reverse sweep re-runs it
    # (_load_substep, step_replay): its post-contact velocities into out[k] (nbody, 6)
    for k in range(out.shape[0]):
        step._load_substep(m, d, tape, k, k)
        status = step.step_replay(kind, m, d, controls[k], h)[0]
        if status != 0:
            return status
        out[k, :, :3] = d.vel_free
        out[k, :, 3:] = d.ang_vel_free
    return 0
