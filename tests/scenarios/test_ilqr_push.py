"""ilqr_push: iLQR on sc.transition_jacobians reaches the goal (smoothed, then hard from the
smoothed plan), and MPC planned with the smoothed model recovers from a kick on hard contact."""
import csv

from scenarios.__main__ import main as scenarios_main
from scenarios import ilqr_push as ip
from tests.helpers import check_outputs


def test_ilqr_push_quick(tmp_path):
    assert scenarios_main(["run", "ilqr_push", "--quick", "--out", str(tmp_path),
                           "--animate"]) == 0
    check_outputs(tmp_path, ("convergence.png", "summary.md", "summary.csv", "result.npz",
                             "mpc.gif"))
    rows = list(csv.DictReader(open(tmp_path / "summary.csv")))
    assert [(r["method"].split(":")[0], r["planned with"]) for r in rows] == [
        ("iLQR", ip.SMOOTHED), ("iLQR", f"{ip.HARD} from the smoothed plan"),
        ("MPC", ip.SMOOTHED)]
    for r in rows:  # the bar: within 1 cm and 2 degrees of the goal
        assert float(r["position error (m)"]) < 0.01, r
        assert float(r["yaw error (deg)"]) < 2.0, r
