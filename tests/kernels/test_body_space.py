"""body_space.py: the banded and the block-sparse LU, the bodies' ordering, and K x = r /
K^T y = g solved through the bodies, against dense numpy solves; and the solvers that use it
against their dense paths."""
import dataclasses

import numpy as np
import pytest

import simcore as sc
from simcore.kernels.collision import tangent_frame
from simcore.model import make_data
from simcore.kernels.body_space import BLOCK_MAX_BODIES
from tests.kernel_entries import (affordable, band_factor, band_solve, block_factor_of,
                                  block_solve, body_first_solutions, body_solve,
                                  body_solve_from_bodies,
                                  contact_jacobian, dense_delassus,
                                  island_order)
from tests.kernels.test_contact_space import _random_system, _regroup, _setup
from tests.test_grad import _linear_loss


def _banded(rng, n, w, diag):
    """A random n x n matrix of bandwidth w (diagonal shifted by diag) and its band storage."""
    H = np.zeros((n, n))
    for i in range(n):
        for j in range(max(0, i - w), min(n, i + w + 1)):
            H[i, j] = rng.normal() + (diag if i == j else 0.0)
    B = np.zeros((n, 3 * w + 1))
    for i in range(n):
        for j in range(max(0, i - w), min(n, i + w + 1)):
            B[i, j - i + w] = H[i, j]
    return H, B


@pytest.mark.parametrize("n, w, diag", [(1, 0, 1.0), (12, 2, 5.0), (30, 7, 0.0), (40, 39, 0.0)])
def test_band_lu_solves_like_numpy(n, w, diag, rng):
    # diag 0: pivots must be searched (a plain elimination would meet small ones)
    H, B = _banded(rng, n, w, diag)
    piv = np.empty(n, dtype=np.int64)
    assert band_factor(B, n, w, piv)
    if diag == 0.0 and n > 1:
        assert np.any(piv != np.arange(n))  # rows were swapped
    b = rng.normal(size=n)
    for trans in (False, True):
        x = b.copy()
        band_solve(B, n, w, piv, x, trans)
        ref = np.linalg.solve(H.T if trans else H, b)
        assert np.abs(x - ref).max() <= 1e-12 * np.abs(ref).max()


def test_band_lu_reports_a_singular_matrix(rng):
    H, B = _banded(rng, 10, 2, 3.0)
    B[:, :] = 0.0  # a zero column: no pivot
    assert not band_factor(B, 10, 2, np.empty(10, dtype=np.int64))


def _graph(kind, nb, rng):
    """A symmetric adjacency (nb, nb) without diagonal: a grid (a layer of bodies side by
    side), a random sparse graph with isolated nodes, or a complete graph."""
    adj = np.zeros((nb, nb), dtype=np.bool_)
    if kind == "grid":
        side = int(round(np.sqrt(nb)))
        for i in range(nb):
            for j in (i + 1, i + side):
                if j < nb and (j == i + side or j % side):
                    adj[i, j] = adj[j, i] = True
    elif kind == "random":
        for _ in range(2 * nb):
            i, j = rng.integers(0, nb - 3, size=2)  # the last three nodes stay isolated
            if i != j:
                adj[i, j] = adj[j, i] = True
    else:
        adj[:, :] = True
        np.fill_diagonal(adj, False)
    return adj


def random_blocks(adj, scale, rng):
    """Blocks (nb, nb, 6, 6) on the pattern of adj: I + scale N(0, 1) on the diagonal (as H's),
    scale N(0, 1) off it."""
    nb = adj.shape[0]
    blocks = np.zeros((nb, nb, 6, 6))
    for i in range(nb):
        blocks[i, i] = np.eye(6) + scale * rng.normal(size=(6, 6))
        for j in range(nb):
            if adj[i, j]:
                blocks[i, j] = scale * rng.normal(size=(6, 6))
    return blocks


@pytest.mark.parametrize("kind, nb", [("grid", 64), ("random", 40), ("complete", 5), ("grid", 1)])
def test_block_lu_solves_like_numpy(kind, nb, rng):
    # blocks of 6 on the graph's pattern, diagonal blocks near the identity (as H's): the
    # factors, fill included, solve H x = b and H^T y = b
    adj = _graph(kind, nb, rng)
    blocks = random_blocks(adj, 0.3, rng)
    H = blocks.transpose(0, 2, 1, 3).reshape(6 * nb, 6 * nb)
    ok, F = block_factor_of(nb, adj, blocks)
    assert ok
    b = rng.normal(size=6 * nb)
    for trans in (False, True):
        x = b.copy()
        block_solve(F, x, trans)
        ref = np.linalg.solve(H.T if trans else H, b)
        assert np.abs(x - ref).max() <= 1e-11 * np.abs(ref).max()


def test_block_lu_reports_a_singular_block(rng):
    adj = _graph("grid", 9, rng)
    blocks = np.zeros((9, 9, 6, 6))
    for i in range(9):
        blocks[i, i] = np.eye(6)
    blocks[4, 4, 2, :] = 0.0  # a zero row in a block no neighbour fills
    assert not block_factor_of(9, adj, blocks)[0]
    blocks[4, 4] = np.eye(6)
    blocks[7, 7, 0, 0] = np.inf
    assert not block_factor_of(9, adj, blocks)[0]


def _chain_model(nb):
    scene = sc.Scene(dt=1e-3)
    scene.add_plane()
    for i in range(nb):
        scene.add_sphere(0.05, pos=(0.1 * i, 0.0, 0.05))
    model = scene.build(contact=sc.HardContact())
    return model, make_data(model, model.initial_state(), 4 * nb, 8)


@pytest.mark.parametrize("graph", ["path", "grid"])
def test_island_order_is_a_permutation_with_a_narrow_band(graph, rng):
    # bodies 1..n (0 the plane) in contact along a path (bandwidth 1 in the right order) or an
    # 8 x 8 grid (at most 2 x 8 over Cuthill-McKee's levels), the contacts listed shuffled and
    # with each body on the plane too (the static plane couples nothing)
    side = 8
    nb = 12 if graph == "path" else side * side
    model, d = _chain_model(nb)
    if graph == "path":
        edges = [(i + 1, i + 2) for i in range(nb - 1)]
    else:
        edges = [(1 + r * side + c, 1 + r * side + c + 1) for r in range(side)
                 for c in range(side - 1)]
        edges += [(1 + r * side + c, 1 + (r + 1) * side + c) for r in range(side - 1)
                  for c in range(side)]
    edges += [(i + 1, 0) for i in range(nb)]
    order = rng.permutation(len(edges))
    for k, e in enumerate(order):
        d.con_body[k] = edges[e]
    nsel = len(edges)
    sel = np.arange(nsel, dtype=np.int64)
    loc = np.full(model.nbody, -1, dtype=np.int64)
    bodies = np.empty(model.nbody, dtype=np.int64)
    n, band = island_order(model, d, sel, nsel, loc, bodies)
    assert n == nb
    assert sorted(bodies[:n].tolist()) == list(range(1, nb + 1))
    assert np.array_equal(loc[bodies[:n]], np.arange(n)) and loc[0] == -1
    assert band == max(abs(loc[a] - loc[b]) for a, b in edges if b != 0)
    assert band <= (1 if graph == "path" else 2 * side)


def test_a_chain_is_taken_through_its_bodies_up_to_the_body_limit():
    # a path of bodies has bandwidth 1, so only the body limit (the block map's nb^2) refuses it
    for nb in (BLOCK_MAX_BODIES, BLOCK_MAX_BODIES + 1):
        model, d = _chain_model(nb)
        for k in range(nb - 1):
            d.con_body[k] = (k + 1, k + 2)
        sel = np.arange(nb - 1, dtype=np.int64)
        assert affordable(model, d, sel, nb - 1) == (nb <= BLOCK_MAX_BODIES)


def test_solve_through_the_bodies_matches_dense(rng):
    model, d, _, _ = _setup(rng)
    for pairs in (None, [(3, 0), (1, 0), (3, 2), (2, 0)], [(1, 0), (2, 1), (3, 0), (2, 0)]):
        sel = np.array([2, 0, 3, 1], dtype=np.int64) if pairs is None else \
            _regroup(model, d, pairs)
        Fl, Fu, g, A, K = _random_system(model, d, sel, rng)
        for trans in (False, True):
            ok, x = body_solve(model, d, sel, len(sel), Fl, Fu, g, trans)
            ref = np.linalg.solve(K.T if trans else K, g)
            assert ok
            assert np.abs(x - ref).max() <= 1e-12 * np.abs(ref).max()


def test_solve_through_the_bodies_refuses_what_it_cannot_do(rng):
    model, d, _, _ = _setup(rng)
    sel = np.array([2, 0, 3, 1], dtype=np.int64)
    Fl, Fu, g, A, K = _random_system(model, d, sel, rng)
    Fl[1] = 0.0  # F_l not invertible: the elimination through the bodies does not exist
    ok, _ = body_solve(model, d, sel, len(sel), Fl, Fu, g, False)
    assert not ok
    # sticking contacts of the hard model with a tiny eps (F_l = eps R, F_u = R): K is ill
    # conditioned; whatever is returned as ok solves the system to its acceptance tolerance
    Fl, Fu, g, A, K = _random_system(model, d, sel, rng)
    for p in range(len(sel)):
        R = np.diag(1.0 / np.diag(A[3 * p:3 * p + 3, 3 * p:3 * p + 3]))
        Fl[p], Fu[p] = 1e-9 * R, R
    K = np.zeros_like(A)
    for p in range(len(sel)):
        K[3 * p:3 * p + 3, 3 * p:3 * p + 3] += Fl[p]
        K[3 * p:3 * p + 3] += Fu[p] @ A[3 * p:3 * p + 3]
    for trans in (False, True):
        ok, x = body_solve(model, d, sel, len(sel), Fl, Fu, g, trans)
        if ok:
            res = (K.T if trans else K) @ x - g
            assert np.abs(res).max() <= 1e-12 * np.abs(g).max()


def test_solve_through_the_bodies_reaches_rounding_on_redundant_sticking_contacts(rng):
    # four coplanar corners per body pair, all sticking (F_l = eps R, F_u = R, the hard model's
    # adjoint with its regularization eps): K's condition number is 3e7 (eps 1e-6) and 3e10
    # (1e-9), where refinement through the bodies stalls far above rounding; GMRES
    # preconditioned by the same elimination reaches rounding, as LAPACK's dense solve does, for
    # a right-hand side K y (the adjoint's is consistent too), and the solutions agree as far
    # as the conditioning lets them
    model, d0, _, _ = _setup(rng)
    pairs = [(2, 0), (3, 2), (1, 2)]
    nc = 4 * len(pairs)
    d = make_data(model, model.initial_state(), nc, 8)
    for i in range(model.nbody):
        d.pos[i], d.quat[i], d.xmat[i] = d0.pos[i], d0.quat[i], d0.xmat[i]
    k = 0
    for a, b in pairs:
        n = rng.normal(size=3)
        n /= np.linalg.norm(n)
        t1 = np.cross(n, [0.3, 0.5, 0.8])
        t1 /= np.linalg.norm(t1)
        t2 = np.cross(n, t1)
        for sx, sy in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
            d.con_body[k] = (a, b)
            d.con_normal[k] = n
            d.con_pos[k] = 0.5 * (d.pos[a] + d.pos[b]) + 0.05 * (sx * t1 + sy * t2)
            tangent_frame(d.con_normal[k], d.con_t1[k], d.con_t2[k])
            contact_jacobian(model, d, k, d.pos[a], d.xmat[a], d.pos[b], d.xmat[b])
            k += 1
    d.ncon[0] = nc
    sel = np.arange(nc, dtype=np.int64)
    A = np.empty((3 * nc, 3 * nc))
    dense_delassus(model, d, sel, nc, A, 0.0)
    for eps, cond in ((1e-6, 1e7), (1e-9, 1e10)):
        Fl, Fu = np.empty((nc, 3, 3)), np.empty((nc, 3, 3))
        for p in range(nc):
            R = np.diag(1.0 / np.diag(A[3 * p:3 * p + 3, 3 * p:3 * p + 3]))
            Fl[p], Fu[p] = eps * R, R
        K = np.zeros_like(A)
        for p in range(nc):
            K[3 * p:3 * p + 3, 3 * p:3 * p + 3] += Fl[p]
            K[3 * p:3 * p + 3] += Fu[p] @ A[3 * p:3 * p + 3]
        for trans in (False, True):
            Kt = K.T if trans else K
            assert np.linalg.cond(Kt) > cond
            g = Kt @ rng.normal(size=3 * nc)
            ok, x = body_solve(model, d, sel, nc, Fl, Fu, g, trans)
            assert ok
            assert np.abs(Kt @ x - g).max() <= 1e-14 * np.abs(g).max()
            ref = np.linalg.solve(Kt, g)
            assert np.abs(x - ref).max() <= 1e-16 * np.linalg.cond(Kt) * np.abs(ref).max()
        # the adjoint's right-hand side g = J M^-1 v given with v: its solution from the
        # bodies, where nothing cancels, then refined, is K^-T g to rounding too
        Vb, Wb = rng.normal(size=(model.nbody, 3)), rng.normal(size=(model.nbody, 3))
        ok, y, g = body_solve_from_bodies(model, d, sel, nc, Fl, Fu, Vb, Wb)
        assert ok
        assert np.abs(K.T @ y - g).max() <= 1e-14 * np.abs(g).max()
        ref = np.linalg.solve(K.T, g)
        assert np.abs(y - ref).max() <= 1e-16 * np.linalg.cond(K) * np.abs(ref).max()
        # and before any refinement: from v the first solution is near rounding (g's 1e-13),
        # from g (g_k - M^-1 J_k^T q over F_l = eps R) digits are lost (1e-8 to 1e-6)
        y_v, y_g, g = body_first_solutions(model, d, sel, nc, Fl, Fu, Vb, Wb)
        res_v = np.abs(K.T @ y_v - g).max() / np.abs(g).max()
        res_g = np.abs(K.T @ y_g - g).max() / np.abs(g).max()
        print(f"eps {eps:.0e}: first solution's residual from v {res_v:.1e}, from g {res_g:.1e}")
        assert res_v <= 1e-11 and res_v <= 1e-3 * res_g


def _landing_boxes():
    # nine boxes side by side in a 3 x 3 layer, touching, landing tilted on the ground and
    # sliding: about 100 contacts in one solve, more than the default dense Newton takes
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(friction=0.6)
    q = np.array([0.999, 0.03, -0.02, 0.01])
    for i in range(3):
        for j in range(3):
            scene.add_box((0.05, 0.05, 0.05), mass=0.2, pos=(0.1 * i, 0.1 * j, 0.07),
                          quat=tuple(q / np.linalg.norm(q)), vel=(0.3, 0.1 * j, -0.2),
                          friction=0.8)
    return scene


def test_smoothed_large_solve_newton_through_the_bodies_matches_the_dense_one():
    # polish_max_contacts 0: every solve's global Newton goes through the bodies (as a large
    # solve's does by default); 10,000: every one is dense. Same trajectories, both converged
    # to rounding
    scene = _landing_boxes()
    runs = {}
    for pm in (0, 10_000):
        model = scene.build(contact=sc.SmoothedContact(polish_max_contacts=pm))
        runs[pm] = sc.rollout(model, model.initial_state(), 60)
    assert runs[0].ncon.max() > 32
    for t in runs.values():
        assert t.solver_failures.sum() == 0 and t.solver_residual.max() < 1e-12
    err = max(np.abs(runs[0].pos - runs[10_000].pos).max(),
              np.abs(runs[0].vel - runs[10_000].vel).max())
    print(f"smoothed: bodies vs dense Newton, largest difference {err:.1e}")
    assert err < 1e-10


def test_smoothed_gradient_through_the_bodies_matches_the_dense_one():
    # the same landing, differentiated with every solve and adjoint solve through the bodies
    # (polish_max_contacts 0) and with every one dense: measured agreement 1.5e-13 (vel),
    # 3.6e-6 (ang_vel, one entry sensitive to the solves' rounding), 8e-14 (friction) of each
    # array's largest entry; central differences (steps 1e-5, 1e-6) agree with the first to 1e-8
    scene = _landing_boxes()
    steps = 60
    grads = {}
    for pm in (0, 10_000):
        model = scene.build(contact=sc.SmoothedContact(polish_max_contacts=pm))
        loss = _linear_loss(steps, model.nbody, seed=4)
        grads[pm] = sc.value_and_grad(model, model.initial_state(), steps, loss,
                                      params=("friction", "mass", "kappa"))[1]
    a, b = grads[0], grads[10_000]
    for name, tol in (("pos", 1e-10), ("vel", 1e-10), ("ang_vel", 1e-4)):
        x, y = getattr(a, name), getattr(b, name)
        assert np.abs(x - y).max() <= tol * np.abs(y).max(), name
    for name in ("friction", "mass", "kappa"):
        assert np.abs(a.params[name] - b.params[name]).max() <= 1e-10 * np.abs(
            b.params[name]).max(), name
    model = scene.build(contact=sc.SmoothedContact(polish_max_contacts=0))
    state = model.initial_state()
    for i, j in ((5, 0), (2, 2), (7, 1)):
        def f(e):
            vel = state.vel.copy()
            vel[i, j] += e
            return loss(sc.rollout(model, dataclasses.replace(state, vel=vel), steps))[0]
        fd = (f(1e-6) - f(-1e-6)) / 2e-6
        assert fd == pytest.approx(a.vel[i, j], rel=1e-7)


def _textbook_band_solve(B, n, w, piv, b, trans):
    # band_solve's sweeps as dot products over L and U read from band_factor's layout (L's
    # column c in row c of B), in plain Python: the same arithmetic in the same order
    x = list(b)
    wu = max([w] + [int(piv[c]) - c + w for c in range(n)])
    L = lambda r, c: B[c, r - c - 1]  # noqa: E731
    U = lambda i, j: B[i, j - i + w]  # noqa: E731
    if not trans:
        for c in range(n):
            p = piv[c]
            x[c], x[p] = x[p], x[c]
            for r in range(c + 1, min(c + w, n - 1) + 1):
                x[r] -= L(r, c) * x[c]
        for c in range(n - 1, -1, -1):
            acc = x[c]
            for j in range(c + 1, min(c + wu, n - 1) + 1):
                acc -= U(c, j) * x[j]
            x[c] = acc / U(c, c)
        return np.array(x)
    for c in range(n):
        acc = x[c]
        for i in range(max(0, c - wu), c):
            acc -= U(i, c) * x[i]
        x[c] = acc / U(c, c)
    for c in range(n - 1, -1, -1):
        acc = x[c]
        for r in range(c + 1, min(c + w, n - 1) + 1):
            acc -= L(r, c) * x[r]
        x[c] = acc
        p = piv[c]
        x[c], x[p] = x[p], x[c]
    return np.array(x)


@pytest.mark.parametrize("n, w", [(12, 2), (30, 7)])
def test_band_solve_is_the_textbook_sweeps_to_the_bit(n, w, rng):
    # band_solve walks rows of B (vectorised updates): the result is the dot-product sweeps'
    _, B = _banded(rng, n, w, 0.0)
    piv = np.empty(n, dtype=np.int64)
    assert band_factor(B, n, w, piv)
    b = rng.normal(size=n)
    for trans in (False, True):
        x = b.copy()
        band_solve(B, n, w, piv, x, trans)
        assert np.array_equal(x, _textbook_band_solve(B, n, w, piv, b, trans))
