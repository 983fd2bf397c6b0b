import numpy as np

from ganopt import get_problem
import pandas as pd

from bench.plots import plot_trajectories, trajectory_frame


def _curves(strategy: str, xs, ys) -> pd.DataFrame:
    return pd.DataFrame({"strategy": strategy, "seed": 0, "run_id": strategy, "step": range(len(xs)),
                         "traj_x": xs, "traj_y": ys, "dist_to_eq": np.hypot(xs, ys)})


def test_a_diverging_path_does_not_set_the_trajectory_frame(tmp_path):
    converging = _curves("extragradient", np.array([1.0, 0.5, 0.1]), np.array([-0.8, -0.3, 0.05]))
    diverging = _curves("gd", np.array([0.6, -40.0, 3e6]), np.array([0.2, 90.0, -5e6]))
    curves = pd.concat([converging, diverging], ignore_index=True)
    assert trajectory_frame(curves) == 2.5 * 1.0
    path = plot_trajectories(tmp_path / "trajectory.png", "bilinear", None, curves,
                             {"extragradient": "C0", "gd": "C1"}, get_problem("bilinear").primary)
    assert path.stat().st_size > 10_000
