"""simcore._jit: kernels without a Python entry point say so when Python calls them."""
import pytest

from simcore.kernels import consts, hard_solver
from simcore.kernels.models import KIND


def test_a_kernel_without_entry_point_refuses_a_python_call():
    with pytest.raises(TypeError,
                       match=r"simcore\.kernels\.hard_solver\.solve .*jit\(entry=True\)"):
        hard_solver.solve(None, None, None, 0, None, None, None, None, None)


def test_every_contact_model_has_its_compile_time_kind():
    codes = {consts.CONTACT_PENALTY, consts.CONTACT_HARD, consts.CONTACT_SMOOTHED}
    assert set(KIND) == codes
    assert len({type(k) for k in KIND.values()}) == len(codes)
