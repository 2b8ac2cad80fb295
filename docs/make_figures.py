"""Draw the figures of docs/plots.md into docs/img/ from simulated growth data.

Run from the repository root:  python docs/make_figures.py

Uses ``lf.simulate_growth`` when the installed lmmflow has it (else the same model simulated here with
numpy), and ``lf.profile`` for the profile figure when available (else that figure is skipped). With
Debian's ``chromium`` on the PATH it also takes screenshots of the explorer (docs/explorer.md) and of the
top of a report (docs/workflow.md); without it those two images are left as they are.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import lmmflow as lf  # noqa: E402

OUT = Path(__file__).resolve().parent / "img"
MAX_BYTES = 150_000


def growth_data(seed: int = 2) -> pd.DataFrame:
    """200 units x 5 waves: intercepts N(50, 10^2), slopes N(2, 1), covariance -2, residual SD 5."""
    try:
        return lf.simulate_growth(n_units=200, times=range(5), seed=seed)
    except (AttributeError, ImportError, NotImplementedError):
        pass
    rng = np.random.default_rng(seed)
    u = rng.multivariate_normal([0.0, 0.0], [[100.0, -2.0], [-2.0, 1.0]], size=200)
    ids = np.repeat(np.arange(1, 201), 5)
    time = np.tile(np.arange(5.0), 200)
    y = 50 + u[ids - 1, 0] + (2 + u[ids - 1, 1]) * time + rng.normal(0, 5, len(ids))
    return pd.DataFrame({"id": ids, "time": time, "y": y})


def save(obj, name: str, palette: bool = False) -> None:
    """Save the figure of ``obj`` (Axes or array of Axes); ``palette``: as a 256-colour PNG (large panels)."""
    ax = np.ravel(np.asarray(obj, dtype=object))[0]
    fig = ax.figure
    path = OUT / f"{name}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    if palette:
        from PIL import Image

        with Image.open(path) as img:
            img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    size = path.stat().st_size
    flag = "  TOO BIG" if size > MAX_BYTES else ""
    print(f"{path.name:28s} {size / 1024:6.1f} KB{flag}")


def screenshot(page: Path, name: str, width: int, height: int) -> None:
    """Save a headless-Chromium screenshot of ``page`` (the top ``width`` x ``height`` pixels) as a small PNG."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        print(f"{name}.png skipped: chromium is not installed")
        return
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        shot = Path(tmp) / "shot.png"
        subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={tmp}/profile", "--virtual-time-budget=5000",
                        f"--window-size={width},{height}", f"--screenshot={shot}", page.resolve().as_uri()],
                       capture_output=True, timeout=120, check=True)
        path = OUT / f"{name}.png"
        Image.open(shot).convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)
    size = path.stat().st_size
    flag = "  TOO BIG" if size > MAX_BYTES else ""
    print(f"{path.name:28s} {size / 1024:6.1f} KB{flag}")


def page_images() -> None:
    """The explorer on the tutorial's values, and the top of the tutorial's report."""
    with tempfile.TemporaryDirectory() as tmp:
        page = lf.write_explorer(Path(tmp) / "explorer.html")
        screenshot(page, "explorer", 1200, 900)
        data = lf.simulate_growth(n_units=200, times=range(5), seed=9)
        lf.report(data, "y ~ time + (1 + time | id)", out=Path(tmp) / "report", formats=("html",), seed=9,
                  title="lmmflow tutorial: growth of 'y' over time")
        screenshot(Path(tmp) / "report" / "report.html", "report", 1100, 1250)


def power_curve_result():
    """The power curve of docs/power.md (30-unit growth design, slope 1.2)."""
    design = lf.simulate_growth(n_units=30)[["id", "time"]]
    return lf.power(formula="y ~ time + (1 + time | id)", data=design, nsim=500, seed=1, progress=False,
                    params={"beta": {"(Intercept)": 50, "time": 1.2}, "theta": [1, 0.05, 0.4], "sigma": 5},
                    along="n_units", values=[10, 20, 40, 60, 80])


def glmm_figures(df: pd.DataFrame) -> None:
    """The binary-outcome figures: observed proportions, response curve, binned residuals."""
    df = df.assign(event=(df["y"] > 55).astype(int))
    g = lf.glmer("event ~ time + (1 + time | id)", df, family="binomial")
    save(lf.plots.observed_proportions(df, "time", "event", unit="id", seed=1), "observed_proportions")
    save(lf.plots.response_curve(g, "time", n_units=20, seed=1), "response_curve")
    save(lf.plots.binned_residuals(g), "binned_residuals")


def main() -> int:
    OUT.mkdir(exist_ok=True)
    df = growth_data()
    m = lf.lmer("y ~ time + (1 + time | id)", df)

    save(lf.plots.spaghetti(df, x="time", y="y", unit="id"), "spaghetti")
    save(lf.plots.residuals_vs_fitted(m), "residuals_vs_fitted")
    save(lf.plots.qq_residuals(m), "qq_residuals")
    save(lf.plots.qq_ranef(m), "qq_ranef")
    save(lf.plots.caterpillar(m), "caterpillar")
    first40 = df[df["id"].isin(pd.unique(df["id"])[:40])]
    save(lf.plots.caterpillar_panels(lf.lmer("y ~ time + (1 + time | id)", first40), add_fixed=True),
         "caterpillar_panels")
    save(lf.plots.shrinkage_panels(m), "shrinkage_panels")
    save(lf.plots.trajectories(m, n=9, seed=1), "trajectories")
    save(lf.plots.trajectory_panels(m, n=6, seed=1), "trajectory_panels")
    save(lf.plots.prediction_curve(m, "time"), "prediction_curve")
    save(lf.plots.variance_over_time(m), "variance_over_time")
    save(lf.plots.icc_over_time(m), "icc_over_time")
    save(lf.plots.check_model(m, panel_size=(4.6, 3.3)).axes[0], "check_model", palette=True)
    save(lf.plots.power_curve(power_curve_result()), "power_curve")
    try:
        prof = lf.profile(m, which="theta_", progress=False)  # the variance parameters
    except (AttributeError, ImportError, NotImplementedError) as exc:
        print(f"profile_zeta.png skipped: lf.profile is not available ({exc})")
    else:
        save(lf.plots.profile_zeta(prof, ncols=2), "profile_zeta")
    glmm_figures(df)
    page_images()
    return 0


if __name__ == "__main__":
    sys.exit(main())
