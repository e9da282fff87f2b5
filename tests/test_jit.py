"""simcore._jit: kernels without a Python entry point say so when Python calls them; entry
kernels take the records as one reference."""
import pytest

import simcore as sc
from simcore._jit import RecordRef, as_record, jit
from simcore.kernels import consts, hard_solver
from simcore.kernels.models import KIND
from simcore.model import make_data


def test_a_kernel_without_entry_point_refuses_a_python_call():
    with pytest.raises(TypeError,
                       match=r"simcore\.kernels\.hard_solver\.solve .*jit\(entry=True\)"):
        hard_solver.solve(None, None, None, 0, None, None, None, None, None)


def test_every_contact_model_has_its_compile_time_kind():
    codes = {consts.CONTACT_PENALTY, consts.CONTACT_HARD, consts.CONTACT_SMOOTHED}
    assert set(KIND) == codes
    assert len({type(k) for k in KIND.values()}) == len(codes)


@jit(entry=True)
def _advance(m, d):
    # (a kernel of records: reads the Model, writes the Data's array in place)
    d.pos[0, 0] += m.opt_dt
    return m.nbody


def test_entry_kernels_take_the_records_as_one_reference_to_the_same_arrays():
    scene = sc.Scene(dt=0.004)
    scene.add_sphere(0.1)
    model = scene.build()
    data = make_data(model, model.initial_state(), 1, 1)
    assert as_record(3) == 3 and as_record((1.0,)) == (1.0,)
    assert _advance(model, data) == 1
    assert _advance(model._replace(opt_dt=0.5), as_record(data)) == 1
    assert _advance(model, d=data) == 1  # (a record passed by keyword is converted too)
    assert data.pos[0, 0] == 0.0 + 0.004 + 0.5 + 0.004  # every call wrote the caller's array
    (sig,) = _advance.signatures  # one compile, for records, whichever way they came
    assert all(isinstance(t, RecordRef) for t in sig)
