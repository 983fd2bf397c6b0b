import numpy as np

from ganopt import declarations, get_problem
import pandas as pd

from bench.plots import plot_trajectories, trajectory_frame

BILINEAR = declarations(get_problem("bilinear"))
PATH_XY = [m for m in BILINEAR if m.plot == "trajectory"]
LOSSES = [m for m in BILINEAR if m.plot == "loss"]


def _curves(strategy: str, xs, ys) -> pd.DataFrame:
    return pd.DataFrame({"strategy": strategy, "seed": 0, "run_id": strategy, "step": range(len(xs)),
                         "traj_x": xs, "traj_y": ys, "dist_to_eq": np.hypot(xs, ys)})


def test_a_diverging_path_does_not_set_the_trajectory_frame(tmp_path):
    converging = _curves("extragradient", np.array([1.0, 0.5, 0.1]), np.array([-0.8, -0.3, 0.05]))
    diverging = _curves("gd", np.array([0.6, -40.0, 3e6]), np.array([0.2, 90.0, -5e6]))
    curves = pd.concat([converging, diverging], ignore_index=True)
    assert trajectory_frame(curves, ("traj_x", "traj_y")) == 2.5 * 1.0
    path = plot_trajectories(tmp_path / "trajectory.png", "bilinear", None, curves,
                             {"extragradient": "C0", "gd": "C1"}, get_problem("bilinear").primary, PATH_XY)
    assert path.stat().st_size > 10_000


def test_every_strategy_of_a_suite_has_a_look_of_its_own():
    from itertools import combinations

    from matplotlib.colors import to_rgb

    from bench.plots import strategy_styles
    from bench.spec import find_suite, read_suite_file

    standard = read_suite_file(find_suite("standard"))["strategies"]
    assert len(standard) == 19
    for names in (standard, standard + [f"mine-{i}" for i in range(237)]):  # 256 in all
        looks = [(to_rgb(s["color"]), s["linestyle"], s["marker"]) for s in strategy_styles(names).values()]
        assert len(set(looks)) == len(looks)
    # a scatter (the diagnostics' eigenvalues) has no line: colour and marker alone tell apart
    # every strategy of 64 (gd and consensus, 8 apart in the games suite, once shared both)
    dots = [(s["color"], s["marker"]) for s in strategy_styles([f"s{i}" for i in range(64)]).values()]
    assert len(set(dots)) == 64
    looks = list(strategy_styles(standard).items())
    for (a, sa), (b, sb) in combinations(looks, 2):  # the same line and marker: the colours must differ clearly
        if (sa["linestyle"], sa["marker"]) == (sb["linestyle"], sb["marker"]):
            distance = np.linalg.norm(np.subtract(to_rgb(sa["color"]), to_rgb(sb["color"])))
            assert distance > 0.25, (a, b)


def test_legends_sit_outside_the_axes(tmp_path, monkeypatch):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    import bench.plots as plots

    names = [f"strategy-{i}" for i in range(14)]
    curves = pd.concat([_curves(name, np.linspace(1, 0.1 * i, 5), np.linspace(-1, 0.1 * i, 5)) for i, name in
                        enumerate(names)], ignore_index=True)
    curves = curves.assign(grad_evals=curves["step"] * 1.0, wall_s=curves["step"] * 0.1, loss_d=1.0, loss_g=0.5)
    styles = plots.strategy_styles(names)
    figures = []
    original = plots.files.save_figure
    monkeypatch.setattr(plots.files, "save_figure", lambda fig, path, **kw: (figures.append(fig), original(fig, path, **kw)))
    metric = get_problem("bilinear").primary
    plots.plot_budgets(tmp_path / "b.png", "bilinear", curves, styles, "dist_to_eq", "distance", log=True)
    plots.plot_losses(tmp_path / "l.png", "bilinear", curves, styles, LOSSES)
    plots.plot_trajectories(tmp_path / "t.png", "bilinear", None, curves, styles, metric, PATH_XY)
    assert len(figures) == 3
    for fig in figures:
        renderer = FigureCanvasAgg(fig).get_renderer()
        legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
        assert len(legends) == 1
        box = legends[0].get_window_extent(renderer)
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(renderer)), "a legend covers a plot"


def test_image_tiles_keep_each_image_in_its_cell_with_white_seams():
    from bench.plots import _tile

    images = np.stack([np.full((2, 3), i / 10) for i in range(5)])  # 5 images of 2x3 pixels
    canvas = _tile(images, side=3)
    assert canvas.shape == (3 * 3, 3 * 4)
    for i in range(5):
        r, q = divmod(i, 3)
        assert (canvas[r * 3: r * 3 + 2, q * 4: q * 4 + 3] == i / 10).all()
    assert (canvas[2] == 1).all() and (canvas[:, 3] == 1).all()  # the seams
    assert (canvas[3:5, 8:11] == 1).all()  # no sixth image: blank


def test_stacked_images_get_one_grey_grid_per_channel(tmp_path):
    import matplotlib.image as mpimg

    from bench.plots import plot_channel_grids

    rng = np.random.default_rng(0)
    samples = {"a": rng.random((40, 3, 28, 28)).astype(np.float32), "b": np.zeros((40, 3, 28, 28), np.float32)}
    runs = pd.DataFrame({"run_id": ["a", "b"], "strategy": ["adam", "ttur"], "seed": [0, 0], "status": "ok"})
    path = plot_channel_grids(tmp_path / "channels.png", "stacked-mnist", runs, samples)
    picture = mpimg.imread(path)
    assert picture.shape[1] > 1.2 * picture.shape[0]  # 3 channel columns (2.6 in each) beside 2 strategy rows (2.8)
    assert picture[..., :3].std() > 0.1  # the noise run's grids are drawn


def test_the_plots_follow_the_declarations_not_the_metric_names(tmp_path):
    """A problem whose metrics have names bench/ never saw gets the path panel, the dynamics
    figure and a curve for what it declares so, and nothing for what it does not."""
    import bench.plots as plots
    from bench.scoring import Scorecard
    from ganopt.metrics import Metric, Target

    declared = (Metric("gap", "gap", higher_is_better=False, primary=True),
                Metric("u", "first coordinate", plot="trajectory"), Metric("w", "second coordinate", plot="trajectory"),
                Metric("spin", "rotation", plot="rotation"), Metric("energy", "energy", plot="curve"),
                Metric("quiet", "not drawn"),
                Metric("ld", "D loss", plot="loss"), Metric("lg", "G loss", plot="loss"))
    steps = np.arange(5.0)
    curves = pd.concat([pd.DataFrame({"problem": "toy", "strategy": s, "seed": 0, "run_id": s, "step": steps,
                                      "grad_evals": steps, "wall_s": steps, "gap": 1 / (1 + steps), "u": steps,
                                      "w": -steps, "spin": 0.5, "energy": steps, "quiet": 1.0, "ld": 1.0, "lg": 2.0})
                        for s in ("a", "b")], ignore_index=True)
    summary = pd.DataFrame({"run_id": ["a", "b"], "problem": "toy", "strategy": ["a", "b"], "seed": 0,
                            "status": "done", "options": "{}"})
    written = plots.write_plots(tmp_path, summary, curves, {}, {"toy": Scorecard(declared, Target("", ""))})
    names = {p.name for p in written["toy"]}
    assert names == {"trajectory_toy.png", "gap_toy.png", "energy_toy.png", "losses_toy.png", "diagnostics_toy.png"}
    # undeclared, the same columns draw nothing of their own
    plain = tuple(Metric(m.name, m.label, m.higher_is_better, primary=m.primary) for m in declared)
    (tmp_path / "plain").mkdir()
    written = plots.write_plots(tmp_path / "plain", summary, curves, {}, {"toy": Scorecard(plain, Target("", ""))})
    assert {p.name for p in written["toy"]} == {"gap_toy.png"}
