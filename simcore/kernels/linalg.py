"""Linear solves that report failure instead of raising (numpy's raise LinAlgError from
compiled code, which would reach the user as a raw exception): dense and banded LU with partial
pivoting and block-sparse LU (factor and solve apart, so that a factorization can be kept:
factors.py), the least-squares fallback, and GMRES's steps."""
import numpy as np

from simcore._jit import jit


@jit(entry=True)
def solve_dense(A, b):
    # (ok, x) with A x = b by Gaussian elimination with partial pivoting; ok is False (x
    # undefined) when a pivot is exactly zero (as LAPACK's gesv) or anything is non-finite.
    # in: A (n, n), b (n,), neither modified
    M = A.copy()
    x = b.copy()
    piv = np.empty(b.shape[0], dtype=np.int64)
    if not lu_factor(M, piv):
        return False, x
    return lu_solve(M, piv, x), x


@jit(inline="always")
def solve_dense_in(A, M, x, piv):
    """solve_dense into the caller's scratch, for small systems solved in inner loops: x holds b
    on entry and A^-1 b on return, M (like A) and piv (n) are overwritten. The same arithmetic,
    without allocating. Returns ok (False as solve_dense's)."""
    n = x.shape[0]
    for i in range(n):
        for j in range(n):
            M[i, j] = A[i, j]
    if not lu_factor(M, piv):
        return False
    return lu_solve(M, piv, x)


@jit
def lu_factor(M, piv):
    """M = P L U in place by Gaussian elimination with partial pivoting, in band_factor's
    layout (the multipliers of column c in its rows below the diagonal, rows swapped right of
    the diagonal only, piv[c] the row swapped with c). False at an exactly zero pivot (as
    LAPACK's getrf) or a non-finite entry."""
    n = M.shape[0]
    for i in range(n):
        for j in range(n):
            if not np.isfinite(M[i, j]):
                return False
    for c in range(n):
        p = c
        for r in range(c + 1, n):
            if abs(M[r, c]) > abs(M[p, c]):
                p = r
        if M[p, c] == 0.0:
            return False
        piv[c] = p
        if p != c:
            for j in range(c, n):
                M[c, j], M[p, j] = M[p, j], M[c, j]
        for r in range(c + 1, n):
            f = M[r, c] / M[c, c]
            M[r, c] = f
            if f != 0.0:
                for j in range(c + 1, n):
                    M[r, j] -= f * M[c, j]
    return True


@jit
def lu_solve_transposed(T, piv, x):
    """x <- A^-1 x in place, as lu_solve, from lu_factor's factors of A stored transposed
    (T = M^T, C-contiguous): both triangular sweeps then walk T's rows, updates over contiguous
    memory the compiler vectorises, where lu_solve's back substitution sums along a row (a
    reduction it may not reorder without fastmath). For a caller that solves with the same
    factors many times (contact_space's kept adjoint solves). The forward sweep is lu_solve's
    arithmetic; the back sweep subtracts in the other order, so its last bits may differ.
    False when x is not finite."""
    n = x.shape[0]
    for c in range(n):  # L z = P x, column by column (row c of T is column c of L)
        p = piv[c]
        if p != c:
            x[c], x[p] = x[p], x[c]
        xc = x[c]
        if xc != 0.0:
            for r in range(c + 1, n):
                x[r] -= T[c, r] * xc
    for c in range(n - 1, -1, -1):  # U x = z, column by column
        xc = x[c] / T[c, c]
        x[c] = xc
        if xc != 0.0:
            for r in range(c):
                x[r] -= T[c, r] * xc
    for c in range(n):
        if not np.isfinite(x[c]):
            return False
    return True


@jit
def lu_solve(M, piv, x):
    """x <- A^-1 x in place with lu_factor's factors of A; False when x is not finite."""
    n = x.shape[0]
    for c in range(n):
        p = piv[c]
        if p != c:
            x[c], x[p] = x[p], x[c]
        for r in range(c + 1, n):
            f = M[r, c]
            if f != 0.0:
                x[r] -= f * x[c]
    for c in range(n - 1, -1, -1):
        acc = x[c]
        for j in range(c + 1, n):
            acc -= M[c, j] * x[j]
        x[c] = acc / M[c, c]
    for c in range(n):
        if not np.isfinite(x[c]):
            return False
    return True


@jit(entry=True)
def solve_or_lstsq(A, b):
    # x with A x = b, or where A is singular, the least-squares solution of least norm (the
    # convention of the adjoints for a solve whose Jacobian is singular at its solution: the
    # implicit derivative is not unique there, and this picks the smallest); zeros when
    # anything is non-finite (the caller's finiteness check then reports it)
    ok, x = solve_dense(A, b)
    if ok:
        return x
    for i in range(b.shape[0]):
        if not np.isfinite(b[i]):
            return np.zeros(b.shape[0])
        for j in range(b.shape[0]):
            if not np.isfinite(A[i, j]):
                return np.zeros(b.shape[0])
    return np.linalg.lstsq(A, b, rcond=-1.0)[0]


@jit(inline="always")
def arnoldi_start(Q, e, r):
    # GMRES's restart from the residual r: Q[0] = r / |r|, e = (|r|, 0, ...); returns |r|
    acc = 0.0
    for i in range(r.shape[0]):
        acc += r[i] * r[i]
    beta = np.sqrt(acc)
    e[:] = 0.0
    e[0] = beta
    if beta > 0.0:
        for i in range(r.shape[0]):
            Q[0, i] = r[i] / beta
    return beta


@jit(inline="always")
def arnoldi_step(Q, H, cs, sn, e, j, w):
    # step j of GMRES: w = A q_j (overwritten) orthogonalized against Q[:j+1] (modified
    # Gram-Schmidt) into Q[j+1] and H[:, j], then the Givens rotations that keep H upper
    # triangular applied to H[:, j] and to e. Returns |e[j+1]|, the residual's 2-norm
    n = w.shape[0]
    for i in range(j + 1):
        acc = 0.0
        for r in range(n):
            acc += w[r] * Q[i, r]
        H[i, j] = acc
        for r in range(n):
            w[r] -= acc * Q[i, r]
    acc = 0.0
    for r in range(n):
        acc += w[r] * w[r]
    H[j + 1, j] = np.sqrt(acc)
    if H[j + 1, j] > 0.0:
        for r in range(n):
            Q[j + 1, r] = w[r] / H[j + 1, j]
    for i in range(j):  # the previous rotations
        t = cs[i] * H[i, j] + sn[i] * H[i + 1, j]
        H[i + 1, j] = -sn[i] * H[i, j] + cs[i] * H[i + 1, j]
        H[i, j] = t
    den = np.sqrt(H[j, j] ** 2 + H[j + 1, j] ** 2)
    cs[j], sn[j] = (H[j, j] / den, H[j + 1, j] / den) if den > 0.0 else (1.0, 0.0)
    H[j, j] = den
    H[j + 1, j] = 0.0
    e[j + 1] = -sn[j] * e[j]
    e[j] = cs[j] * e[j]
    return abs(e[j + 1])


@jit(inline="always")
def arnoldi_update(Q, H, e, j_end, x):
    # x += Q[:j_end]^T c with H[:j_end, :j_end] c = e[:j_end] (back substitution)
    coef = np.zeros(j_end)
    for i in range(j_end - 1, -1, -1):
        acc = e[i]
        for c in range(i + 1, j_end):
            acc -= H[i, c] * coef[c]
        coef[i] = acc / H[i, i] if H[i, i] != 0.0 else 0.0
    for i in range(j_end):
        for r in range(x.shape[0]):
            x[r] += coef[i] * Q[i, r]


@jit
def band_factor(B, n, w, piv):
    """LU with partial pivoting of the n x n matrix of lower and upper bandwidth w held in B
    (n, 3w + 1): entry (i, j) at B[i, j - i + w], j - i in [-w, 2w] (the upper w for fill-in).
    In place, after LINPACK's dgbfa: rows are swapped right of the diagonal only, piv[c] the
    row swapped with c, U stays in its rows (B[i, w:]); the multipliers of column c, L[c+1:c+w+1,
    c], end in row c (B[c, :w], _columns_of_l), where band_solve walks them along contiguous
    memory (in LINPACK's place, down a column of B, each one a row further). Returns False at
    a zero or non-finite pivot. The fill reaches past the upper band only where rows were
    swapped (ju, as LINPACK's dgbfa tracks it), and each row's update runs on a copy of the
    pivot row, which lets the compiler vectorise it (the arithmetic is the same as updating in
    place)."""
    ju = 0  # the rightmost column a pivot row reaches
    row = np.empty(2 * w + 1)
    for c in range(n):
        last = min(c + w, n - 1)
        p = c
        big = abs(B[c, w])
        for r in range(c + 1, last + 1):
            v = abs(B[r, c - r + w])
            if v > big:
                big, p = v, r
        if big == 0.0 or not np.isfinite(big):
            return False
        piv[c] = p
        ju = max(ju, p + w)
        right = min(ju, n - 1)
        if p != c:
            for j in range(c, right + 1):
                t = B[c, j - c + w]
                B[c, j - c + w] = B[p, j - p + w]
                B[p, j - p + w] = t
        inv = 1.0 / B[c, w]
        width = right - c
        for j in range(width):
            row[j] = B[c, w + 1 + j]
        for r in range(c + 1, last + 1):
            f = B[r, c - r + w] * inv
            B[r, c - r + w] = f
            if f != 0.0:
                o = c + 1 - r + w
                for j in range(width):
                    B[r, o + j] -= f * row[j]
    _columns_of_l(B, n, w)
    return True


@jit
def _columns_of_l(B, n, w):
    # L[r, c] (r = c+1 .. c+w), left by the elimination at B[r, c - r + w], to B[c, r - c - 1]
    L = np.zeros((n, w))
    for c in range(n):
        for r in range(c + 1, min(c + w, n - 1) + 1):
            L[c, r - c - 1] = B[r, c - r + w]
    for c in range(n):
        for j in range(w):
            B[c, j] = L[c, j]


@jit
def band_solve(B, n, w, piv, x, trans):
    """x <- H^-1 x (trans: H^-T x) in place, with band_factor's factors of H. Each sweep runs
    along rows of B (L's columns are its rows: band_factor), and U^T's as updates the compiler
    vectorises: the same arithmetic, in the same order, as the textbook sweeps."""
    # U's upper bandwidth: w, and up to w more where rows were swapped (band_factor's ju)
    wu = w
    for c in range(n):
        wu = max(wu, piv[c] - c + w)
    if not trans:
        for c in range(n):
            p = piv[c]
            if p != c:
                x[c], x[p] = x[p], x[c]
            xc = x[c]
            if xc != 0.0:
                o = -c - 1
                for r in range(c + 1, min(c + w, n - 1) + 1):
                    x[r] -= B[c, r + o] * xc
        for c in range(n - 1, -1, -1):
            acc = x[c]
            for j in range(c + 1, min(c + wu, n - 1) + 1):
                acc -= B[c, j - c + w] * x[j]
            x[c] = acc / B[c, w]
        return
    # H = P_0 L_0 ... P_{n-1} L_{n-1} U: U^T first (column c of U^T is row c of U: each x[c],
    # once final, taken off the later entries), then each L_c^T and P_c from the last
    for c in range(n):
        xc = x[c] / B[c, w]
        x[c] = xc
        if xc != 0.0:
            o = w - c
            for j in range(c + 1, min(c + wu, n - 1) + 1):
                x[j] -= B[c, j + o] * xc
    for c in range(n - 1, -1, -1):
        acc = x[c]
        o = -c - 1
        for r in range(c + 1, min(c + w, n - 1) + 1):
            acc -= B[c, r + o] * x[r]
        x[c] = acc
        p = piv[c]
        if p != c:
            x[c], x[p] = x[p], x[c]


# ----------------------------------------------------------------------------------------------
# Block-sparse LU of a matrix of 6 x 6 blocks (a body's velocity and angular velocity) whose
# pattern is a graph over nb nodes (the bodies, an edge per pair in contact): elimination in
# minimum-degree order, fill included, blocks pivoted within themselves. Its factors and their
# structure live in one array of one row (the layout of block_layout; a row of a 2-d array, as the
# other factorizations' matrices are 2-d), so a factorization can be kept and compared entry by
# entry like the others (factors.py).

BLOCK = 6


@jit
def block_order(nb, adj):
    """Minimum-degree elimination order of the symmetric graph adj (nb, nb; bool, no diagonal)
    and its fill. Returns (order, lstart, later): order[t] the node eliminated at step t; the
    nodes adjacent to it then, in the graph with the fill of the steps before (its L blocks'
    rows and U blocks' columns), are later[lstart[t]:lstart[t + 1]]."""
    A = adj.copy()
    alive = np.ones(nb, dtype=np.bool_)
    deg = np.zeros(nb, dtype=np.int64)
    for i in range(nb):
        for j in range(nb):
            if A[i, j]:
                deg[i] += 1
    order = np.empty(nb, dtype=np.int64)
    lstart = np.zeros(nb + 1, dtype=np.int64)
    later = np.empty(16, dtype=np.int64)
    nbr = np.empty(nb, dtype=np.int64)
    for t in range(nb):
        p = -1
        for i in range(nb):
            if alive[i] and (p < 0 or deg[i] < deg[p]):
                p = i
        order[t] = p
        alive[p] = False
        c = 0
        for i in range(nb):
            if alive[i] and A[p, i]:
                nbr[c] = i
                c += 1
        if lstart[t] + c > later.shape[0]:
            grown = np.empty(max(2 * later.shape[0], lstart[t] + c), dtype=np.int64)
            grown[:lstart[t]] = later[:lstart[t]]
            later = grown
        for q in range(c):
            later[lstart[t] + q] = nbr[q]
            deg[nbr[q]] -= 1
        lstart[t + 1] = lstart[t] + c
        for q in range(c):  # the neighbours become a clique (the fill)
            i = nbr[q]
            for r in range(q + 1, c):
                j = nbr[r]
                if not A[i, j]:
                    A[i, j] = True
                    A[j, i] = True
                    deg[i] += 1
                    deg[j] += 1
    return order, lstart, later[:lstart[nb]]


@jit
def block_layout(nb, order, lstart, later):
    """The array (1, length) of a block-sparse matrix with this structure, zero blocks: [nb, nl,
    order (nb), lstart (nb + 1), later (nl), blocks (nb + 2 nl, 6, 6)], the structure stored as
    floats (exact). Block p is node p's diagonal; the a-th entry of later, node i adjacent to
    p = order[t], has block nb + 2a at (i, p) (L) and nb + 2a + 1 at (p, i) (U)."""
    nl = lstart[nb]
    head = 2 + 2 * nb + 1 + nl
    out = np.zeros((1, head + (nb + 2 * nl) * BLOCK * BLOCK))
    M = out[0]
    M[0] = nb
    M[1] = nl
    for t in range(nb):
        M[2 + t] = order[t]
    for t in range(nb + 1):
        M[2 + nb + t] = lstart[t]
    for a in range(nl):
        M[3 + 2 * nb + a] = later[a]
    return out


@jit(inline="always")
def _block_head(M):
    # (nb, nl, offset of order, of lstart, of later, of the blocks) of block_layout's array
    nb = np.int64(M[0])
    nl = np.int64(M[1])
    return nb, nl, 2, 2 + nb, 3 + 2 * nb, 3 + 2 * nb + nl


@jit(inline="always")
def block_start(layout, b):
    # where block b's 36 entries (row by row) start in block_layout's row
    return _block_head(layout[0])[5] + BLOCK * BLOCK * b


@jit
def block_ids(layout):
    """bid (nb, nb): the block of entry (i, j) in block_layout's array, -1 where none."""
    M = layout[0]
    nb, nl, o_ord, o_ls, o_lat, o_blk = _block_head(M)
    bid = np.full((nb, nb), -1, dtype=np.int64)
    for p in range(nb):
        bid[p, p] = p
    for t in range(nb):
        p = np.int64(M[o_ord + t])
        for a in range(np.int64(M[o_ls + t]), np.int64(M[o_ls + t + 1])):
            i = np.int64(M[o_lat + a])
            bid[i, p] = nb + 2 * a
            bid[p, i] = nb + 2 * a + 1
    return bid


@jit
def _inverse6(M, o, T):
    # the 6 x 6 block at M[o:o + 36] replaced by its inverse (Gauss-Jordan, partial pivoting);
    # T (6, 12) scratch. False at an exactly zero pivot
    for r in range(BLOCK):
        for c in range(BLOCK):
            T[r, c] = M[o + BLOCK * r + c]
            T[r, BLOCK + c] = 1.0 if r == c else 0.0
    for c in range(BLOCK):
        p = c
        for r in range(c + 1, BLOCK):
            if abs(T[r, c]) > abs(T[p, c]):
                p = r
        if T[p, c] == 0.0:
            return False
        if p != c:
            for j in range(2 * BLOCK):
                T[c, j], T[p, j] = T[p, j], T[c, j]
        inv = 1.0 / T[c, c]
        for j in range(2 * BLOCK):
            T[c, j] *= inv
        for r in range(BLOCK):
            f = T[r, c]
            if r != c and f != 0.0:
                for j in range(2 * BLOCK):
                    T[r, j] -= f * T[c, j]
    for r in range(BLOCK):
        for c in range(BLOCK):
            M[o + BLOCK * r + c] = T[r, BLOCK + c]
    return True


@jit
def block_factor(layout):
    """H = L U in place in block_layout's array: node p's diagonal block becomes D_p^-1 (D_p
    the Schur complement's diagonal block when p is eliminated), its L blocks L_ip = H_ip
    D_p^-1, its U blocks stay H_pi (updated by the steps before). False where a D_p is
    singular or anything is non-finite. Each step's update of its later neighbours' blocks,
    H_ij -= L_ip U_pj, is taken row by row over all of them at once (the L blocks stacked in
    Ls, the U blocks side by side in Us), so its inner loops run over 6 x (neighbours) entries."""
    M = layout[0]
    nb, nl, o_ord, o_ls, o_lat, o_blk = _block_head(M)
    for r in range(o_blk, M.shape[0]):
        if not np.isfinite(M[r]):
            return False
    bid = block_ids(layout)
    T = np.empty((BLOCK, 2 * BLOCK))
    most = 0
    for t in range(nb):
        most = max(most, np.int64(M[o_ls + t + 1]) - np.int64(M[o_ls + t]))
    Ls = np.empty((BLOCK * most, BLOCK))
    Us = np.empty((BLOCK, BLOCK * most))
    G = np.empty(BLOCK * most)
    B2 = BLOCK * BLOCK
    for t in range(nb):
        p = np.int64(M[o_ord + t])
        od = o_blk + B2 * p
        if not _inverse6(M, od, T):
            return False
        a0, a1 = np.int64(M[o_ls + t]), np.int64(M[o_ls + t + 1])
        for a in range(a0, a1):  # L_ip = H_ip D_p^-1 (stacked in Ls), U_pi (side by side in Us)
            ol = o_blk + B2 * (nb + 2 * a)
            ou = ol + B2
            e = BLOCK * (a - a0)
            for r in range(BLOCK):
                for c in range(BLOCK):
                    acc = 0.0
                    for q in range(BLOCK):
                        acc += M[ol + BLOCK * r + q] * M[od + BLOCK * q + c]
                    Ls[e + r, c] = acc
                    Us[r, e + c] = M[ou + BLOCK * r + c]
            for r in range(BLOCK):
                for c in range(BLOCK):
                    M[ol + BLOCK * r + c] = Ls[e + r, c]
        width = BLOCK * (a1 - a0)
        for a in range(a0, a1):  # H_ij -= L_ip U_pj over the later neighbours i, j
            i = np.int64(M[o_lat + a])
            for r in range(BLOCK):
                e = BLOCK * (a - a0) + r
                for c in range(width):
                    G[c] = 0.0
                for q in range(BLOCK):
                    f = Ls[e, q]
                    for c in range(width):
                        G[c] += f * Us[q, c]
                for b in range(a0, a1):
                    og = o_blk + B2 * bid[i, np.int64(M[o_lat + b])] + BLOCK * r
                    for c in range(BLOCK):
                        M[og + c] -= G[BLOCK * (b - a0) + c]
    for r in range(o_blk, M.shape[0]):
        if not np.isfinite(M[r]):
            return False
    return True


@jit
def block_solve(layout, x, trans):
    """x <- H^-1 x (trans: H^-T x) in place, with block_factor's factors of H (x: 6 per node,
    in node order)."""
    M = layout[0]
    nb, nl, o_ord, o_ls, o_lat, o_blk = _block_head(M)
    B2 = BLOCK * BLOCK
    s = np.empty(BLOCK)
    if not trans:
        for t in range(nb):  # L y = x (unit block diagonal)
            p = np.int64(M[o_ord + t])
            for a in range(np.int64(M[o_ls + t]), np.int64(M[o_ls + t + 1])):
                i = np.int64(M[o_lat + a])
                ol = o_blk + B2 * (nb + 2 * a)
                for r in range(BLOCK):
                    acc = 0.0
                    for c in range(BLOCK):
                        acc += M[ol + BLOCK * r + c] * x[BLOCK * p + c]
                    x[BLOCK * i + r] -= acc
        for t in range(nb - 1, -1, -1):  # U x = y, U's diagonal blocks D_p
            p = np.int64(M[o_ord + t])
            for r in range(BLOCK):
                s[r] = x[BLOCK * p + r]
            for a in range(np.int64(M[o_ls + t]), np.int64(M[o_ls + t + 1])):
                j = np.int64(M[o_lat + a])
                ou = o_blk + B2 * (nb + 2 * a + 1)
                for r in range(BLOCK):
                    acc = 0.0
                    for c in range(BLOCK):
                        acc += M[ou + BLOCK * r + c] * x[BLOCK * j + c]
                    s[r] -= acc
            od = o_blk + B2 * p
            for r in range(BLOCK):
                acc = 0.0
                for c in range(BLOCK):
                    acc += M[od + BLOCK * r + c] * s[c]
                x[BLOCK * p + r] = acc
        return
    # H^T = U^T L^T: U^T z = x in elimination order, then L^T y = z in reverse
    for t in range(nb):
        p = np.int64(M[o_ord + t])
        od = o_blk + B2 * p
        for r in range(BLOCK):
            acc = 0.0
            for c in range(BLOCK):
                acc += M[od + BLOCK * c + r] * x[BLOCK * p + c]
            s[r] = acc
        for r in range(BLOCK):
            x[BLOCK * p + r] = s[r]
        for a in range(np.int64(M[o_ls + t]), np.int64(M[o_ls + t + 1])):
            j = np.int64(M[o_lat + a])
            ou = o_blk + B2 * (nb + 2 * a + 1)
            for c in range(BLOCK):
                acc = 0.0
                for r in range(BLOCK):
                    acc += M[ou + BLOCK * r + c] * s[r]
                x[BLOCK * j + c] -= acc
    for t in range(nb - 1, -1, -1):
        p = np.int64(M[o_ord + t])
        for a in range(np.int64(M[o_ls + t]), np.int64(M[o_ls + t + 1])):
            i = np.int64(M[o_lat + a])
            ol = o_blk + B2 * (nb + 2 * a)
            for c in range(BLOCK):
                acc = 0.0
                for r in range(BLOCK):
                    acc += M[ol + BLOCK * r + c] * x[BLOCK * i + r]
                x[BLOCK * p + c] -= acc
