"""The dense solves that report failure instead of raising from compiled code."""
import numpy as np

from simcore.kernels.linalg import solve_dense, solve_or_lstsq
from tests.kernel_entries import lu_factor, lu_solve, lu_solve_transposed


def test_solve_dense_matches_numpy_and_reports_singular_or_non_finite(rng):
    for n in (1, 3, 12):
        A = rng.normal(size=(n, n))
        b = rng.normal(size=n)
        ok, x = solve_dense(A, b)
        assert ok and np.allclose(x, np.linalg.solve(A, b), rtol=1e-12, atol=1e-12)
    A = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 1.0]])  # rank 2
    assert not solve_dense(A, np.ones(3))[0]
    assert not solve_dense(np.eye(3), np.array([1.0, np.nan, 0.0]))[0]
    B = np.eye(3)
    B[1, 1] = np.inf
    assert not solve_dense(B, np.ones(3))[0]


def test_solve_or_lstsq_takes_the_least_norm_solution_of_a_singular_system(rng):
    A = np.array([[1.0, 1.0], [1.0, 1.0]])
    x = solve_or_lstsq(A, np.array([2.0, 2.0]))
    assert np.allclose(x, [1.0, 1.0])  # the least-norm point of x0 + x1 = 2
    A = rng.normal(size=(4, 4))
    b = rng.normal(size=4)
    assert np.allclose(solve_or_lstsq(A, b), np.linalg.solve(A, b))
    assert np.all(solve_or_lstsq(A, np.full(4, np.nan)) == 0.0)


def test_lu_solve_transposed_agrees_with_lu_solve(rng):
    # the same factors, stored transposed: the same solution up to rounding in the back sweep,
    # and a non-finite one reported
    for n in (1, 2, 7, 40):
        A = rng.normal(size=(n, n)) + n * np.eye(n)
        M = A.copy()
        piv = np.empty(n, dtype=np.int64)
        assert lu_factor(M, piv)
        T = np.ascontiguousarray(M.T)
        for b in (rng.normal(size=n), np.eye(n)[n - 1], np.zeros(n)):
            x1, x2 = b.copy(), b.copy()
            assert lu_solve(M, piv, x1) and lu_solve_transposed(T, piv, x2)
            assert np.allclose(x2, x1, rtol=1e-13, atol=1e-14 * np.abs(x1).max(initial=1.0))
            assert np.allclose(A @ x2, b, rtol=1e-12, atol=1e-12)
    bad = np.ones(n)
    bad[0] = np.inf
    assert not lu_solve_transposed(T, piv, bad)
