"""The explorer in real headless Chromium: the page is loaded with query parameters that move the sliders
(through the same 'input' events as a hand on the slider) and the DOM after rendering is checked against
the model's formulas."""

from __future__ import annotations

import numpy as np
import pytest

from lmmflow.explore import explorer_html, write_explorer

from ._helpers import dump_dom, fake_growth_model, needs_chromium, screenshot

pytestmark = [pytest.mark.browser, needs_chromium]


def icc_formula(t, tau00, tau11, rho, sigma):
    t = np.asarray(t, dtype=float)
    tau01 = rho * np.sqrt(tau00 * tau11)
    between = tau00 + 2 * t * tau01 + t ** 2 * tau11
    return between / (between + sigma ** 2), between + sigma ** 2


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    path = tmp_path_factory.mktemp("explorer") / "explorer.html"
    path.write_text(explorer_html(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def default_dom(page):
    return dump_dom(page)


def test_opens_on_the_tutorial(default_dom):
    dom = default_dom
    root = dom["lmm-explorer"]
    assert root.attrs["data-ready"] == "1" and root.attrs["data-query-errors"] == ""
    assert root.num("data-tau00") == 100 and root.num("data-tau01") == pytest.approx(-2.0)
    assert dom["value-tau00"].text == "100" and dom["value-rho"].text == "−0.20"
    lines = dom.unit_lines()
    assert len(lines) == 200
    assert dom["traj-svg"].attrs["data-n-waves"] == "5"
    assert all(len(n.attrs["points"].split()) == 5 for n in lines)
    assert dom["mean-line"].attrs["points"]
    icc, var = icc_formula(range(5), 100, 1, -0.2, 5)
    np.testing.assert_allclose(dom.icc(), icc, rtol=1e-12)
    np.testing.assert_allclose(dom.var(), var, rtol=1e-12)
    shown = [r.find_all("td", "icc")[0].text for r in dom["icc-table"].find_all("tr") if "data-icc" in r.attrs]
    assert shown == [f"{v:.3f}" for v in icc]
    fan = dom["fan-status"]
    assert fan.attrs["data-fan"] == "in-out" and fan.num("data-tstar") == pytest.approx(2.0)
    assert "tstar-marker" in dom


def test_query_parameters_move_the_sliders(page, default_dom):
    dom = dump_dom(page, "tau00=50&sigma=3&rho=0.4&tau11=2")
    root = dom["lmm-explorer"]
    shown = tuple(root.num(f"data-{k}") for k in ("tau00", "sigma", "rho", "tau11"))
    assert shown == (50, 3, 0.4, 2)
    assert dom["value-tau00"].text == "50" and dom["value-sigma"].text == "3"
    assert int(root.attrs["data-renders"]) >= 5  # one render per dispatched 'input' event, after the first
    icc, var = icc_formula(range(5), 50, 2, 0.4, 3)
    np.testing.assert_allclose(dom.icc(), icc, rtol=1e-12)
    np.testing.assert_allclose(dom.var(), var, rtol=1e-12)
    before = [n.attrs["points"] for n in default_dom.unit_lines()]
    after = [n.attrs["points"] for n in dom.unit_lines()]
    assert len(after) == 200 and sum(a != b for a, b in zip(before, after)) > 190
    assert dom["fan-status"].attrs["data-fan"] == "out"


def test_same_seed_same_picture_and_parameters_act_alone(page, default_dom):
    again = dump_dom(page)
    assert [n.attrs["points"] for n in again.unit_lines()] == [n.attrs["points"] for n in default_dom.unit_lines()]
    other = dump_dom(page, "seed=7")
    assert other["lmm-explorer"].attrs["data-seed"] == "7"
    assert not np.allclose(other.unit_y(), default_dom.unit_y())
    # the draws are reused while a slider moves: +10 on gamma00 lifts every observation by exactly 10,
    # and a larger sigma scales only the residuals
    shifted = dump_dom(page, "gamma00=60")
    np.testing.assert_allclose(shifted.unit_y() - default_dom.unit_y(), 10.0, atol=1e-6)
    quiet = dump_dom(page, "noise=0")
    loud = dump_dom(page, "sigma=10")
    np.testing.assert_allclose(loud.unit_y() - quiet.unit_y(), 2 * (default_dom.unit_y() - quiet.unit_y()), atol=1e-6)


def test_noise_free_lines_are_straight(page):
    dom = dump_dom(page, "noise=0&n_waves=7")
    y = dom.unit_y()
    assert y.shape == (200, 7)
    np.testing.assert_allclose(np.diff(y, n=2, axis=1), 0.0, atol=1e-8)
    assert dom["traj-svg"].attrs["data-noise"] == "0"


def test_units_and_waves(page):
    dom = dump_dom(page, "n_units=30&n_waves=8")
    assert len(dom.unit_lines()) == 30 and dom["traj-units"].attrs["data-n"] == "30"
    assert dom.unit_y().shape == (30, 8)
    assert len(dom.icc()) == 8
    np.testing.assert_allclose(dom.icc(), icc_formula(range(8), 100, 1, -0.2, 5)[0], rtol=1e-12)
    assert len(dom.pool_rows()) == 12


def test_simulation_matches_the_model_in_a_large_sample(page):
    dom = dump_dom(page, "n_units=2000&seed=11", budget_ms=8000)
    y = dom.unit_y()
    assert y.shape == (2000, 5)
    t = np.arange(5.0)
    _, var = icc_formula(t, 100, 1, -0.2, 5)
    np.testing.assert_allclose(y.var(axis=0, ddof=1), var, rtol=0.1)
    np.testing.assert_allclose(y.mean(axis=0), 50 + 2 * t, atol=0.8)
    # per-unit OLS intercepts: tau00 + sigma^2 (X'X)^-1[0,0];  slopes: tau11 + sigma^2 (X'X)^-1[1,1]
    X = np.column_stack([np.ones(5), t])
    B = np.linalg.lstsq(X, y.T, rcond=None)[0].T
    xtx = np.linalg.inv(X.T @ X)
    assert B[:, 0].var(ddof=1) == pytest.approx(100 + 25 * xtx[0, 0], rel=0.1)
    assert B[:, 1].var(ddof=1) == pytest.approx(1 + 25 * xtx[1, 1], rel=0.1)
    # the sample variance column of the ICC table is this same variance
    rows = [r for r in dom["icc-table"].find_all("tr") if "data-icc" in r.attrs]
    shown = [float(r.find_all("td")[-1].text) for r in rows]
    np.testing.assert_allclose(shown, y.var(axis=0, ddof=1), rtol=5e-4)


@pytest.mark.parametrize("query", ["", "t0=2", "sigma=12&n_waves=3", "tau11=0", "rho=-0.9&t0=4"])
def test_partial_pooling_is_the_balanced_blup(page, query):
    dom = dump_dom(page, query)
    root = dom["lmm-explorer"]
    g00, g10, tau00, tau11, rho, sigma, c = (root.num(f"data-{k}") for k in
                                             ("gamma00", "gamma10", "tau00", "tau11", "rho", "sigma", "t0"))
    n_waves = int(root.attrs["data-n-waves"])
    t = np.arange(float(n_waves)) - c
    tau01 = rho * np.sqrt(tau00 * tau11)
    # the parameters with time zero at c
    g = np.array([g00 + c * g10, g10])
    T = np.array([[tau00 + 2 * c * tau01 + c * c * tau11, tau01 + c * tau11], [tau01 + c * tau11, tau11]])
    X = np.column_stack([np.ones(n_waves), t])
    V = sigma ** 2 * np.linalg.inv(X.T @ X)
    M = T @ np.linalg.inv(T + V)
    y = dom.unit_y()
    rows = dom.pool_rows()
    assert len(rows) == 12 and dom["pool-table"].attrs["data-source"] == "sim"
    for i, row in enumerate(rows):
        ols = np.linalg.lstsq(X, y[i], rcond=None)[0]
        np.testing.assert_allclose([row.num("data-ols-b0"), row.num("data-ols-b1")], ols, rtol=1e-8, atol=1e-8)
        blup = g + M @ (ols - g)
        np.testing.assert_allclose([row.num("data-blup-b0"), row.num("data-blup-b1")], blup, rtol=1e-8, atol=1e-8)
        # the same BLUP from the textbook formula E[b | y] = g + T X' (X T X' + sigma^2 I)^-1 (y - X g)
        direct = g + T @ X.T @ np.linalg.solve(X @ T @ X.T + sigma ** 2 * np.eye(n_waves), y[i] - X @ g)
        np.testing.assert_allclose(blup, direct, rtol=1e-8, atol=1e-8)
    w = dom["pool-weights"]
    assert (w.num("data-w0"), w.num("data-w1")) == pytest.approx((M[0, 0], M[1, 1]))
    assert len(dom["pool-svg"].find_all("circle", "blup")) == 12


def test_moving_time_zero_reexpresses_the_same_model(page, default_dom):
    dom = dump_dom(page, "t0=2")
    cen = dom["centring-table"]
    assert cen.num("data-tau00") == pytest.approx(100 + 2 * 2 * -2 + 4 * 1)
    assert cen.num("data-tau01") == pytest.approx(-2 + 2 * 1)
    assert cen.num("data-gamma00") == pytest.approx(54.0)
    assert dom["centred-tau00"].num("data-value") == pytest.approx(96.0)
    assert cen.num("data-rho") == pytest.approx(0.0, abs=1e-12)
    # the data, variances and ICCs at the same calendar times do not change; the axis labels do
    np.testing.assert_allclose(dom.unit_y(), default_dom.unit_y())
    np.testing.assert_allclose(dom.icc(), default_dom.icc())
    assert dom["origin-spread"].num("data-sd") == pytest.approx(np.sqrt(96.0))
    labels = [n.text for n in dom["traj-svg"].find_all("text")]
    assert "−2" in labels and "2" in labels


@pytest.mark.parametrize(("query", "kind"), [("tau11=0", "parallel"), ("rho=0.5", "out"),
                                             ("rho=-0.9", "in"), ("", "in-out")])
def test_fan_in_and_fan_out(page, query, kind):
    dom = dump_dom(page, query)
    fan = dom["fan-status"]
    assert fan.attrs["data-fan"] == kind
    sd_first, sd_last = fan.num("data-sd-first"), fan.num("data-sd-last")
    if kind == "out":
        assert sd_last > sd_first
    if kind == "in":
        assert sd_last < sd_first and fan.num("data-tstar") == pytest.approx(0.9 * 10 / 1)
    if kind == "parallel":
        assert sd_last == pytest.approx(sd_first) and len(set(np.round(dom.icc(), 12))) == 1


def test_out_of_range_and_bad_query_values(page):
    dom = dump_dom(page, "tau00=1000&sigma=abc")
    root = dom["lmm-explorer"]
    assert root.num("data-tau00") == 1000  # the slider's range grew to take it
    assert float(dom["slider-tau00"].attrs["max"]) >= 1000
    assert root.attrs["data-query-errors"] == "sigma" and root.num("data-sigma") == 5


def test_buttons(page, default_dom):
    dom = dump_dom(page, "seed=5&click=btn-resample")
    assert dom["lmm-explorer"].attrs["data-seed"] == "6" and dom["seed-input"].attrs.get("value") is not None
    reset = dump_dom(page, "tau00=50&rho=0.9&click=btn-reset")
    assert reset["lmm-explorer"].num("data-tau00") == 100 and reset["lmm-explorer"].num("data-rho") == -0.2
    np.testing.assert_allclose(reset.unit_y(), default_dom.unit_y())
    locked = dump_dom(page, "tau00=400")
    refit = dump_dom(page, "tau00=400&click=btn-rescale")
    lo0, hi0 = map(float, locked["traj-svg"].attrs["data-y-range"].split())
    lo1, hi1 = map(float, refit["traj-svg"].attrs["data-y-range"].split())
    assert (lo0, hi0) == tuple(map(float, default_dom["traj-svg"].attrs["data-y-range"].split()))  # axis stays put
    y = refit.unit_y()
    assert lo1 <= y.min() and hi1 >= y.max() and hi1 - lo1 > hi0 - lo0
    bad = dump_dom(page, "click=nothing")
    assert bad["lmm-explorer"].attrs["data-query-errors"] == "click:nothing"


def test_model_page(tmp_path):
    import lmmflow as lf

    m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    path = write_explorer(tmp_path / "sleep.html", m)
    dom = dump_dom(path)
    root = dom["lmm-explorer"]
    assert root.attrs["data-source"] == "model"
    assert root.num("data-tau00") == pytest.approx(m.varcorr["vcov"].iloc[0])
    assert root.num("data-gamma10") == pytest.approx(m.fixef["Days"])
    groups = dom["model-units"].find_all("g", "model-unit-group")
    assert len(groups) == 18
    cf = m.coef["Subject"]
    for g in groups:
        line = g.find_all("polyline", "model-unit")[0]
        assert line.num("data-b0") == pytest.approx(cf.loc[g.attrs["data-unit"], "(Intercept)"])
        assert line.num("data-b1") == pytest.approx(cf.loc[g.attrs["data-unit"], "Days"])
        assert len(g.find_all("circle", "model-point")) == 10
    # the pooling panel opens on the model's units: OLS per subject vs the fit's BLUP-based coefficients
    rows = dom.pool_rows()
    assert dom["pool-table"].attrs["data-source"] == "model" and len(rows) == 12
    data = m.data
    for row in rows:
        d = data[data["Subject"].astype(str) == row.attrs["data-unit"]]
        ols = np.polyfit(d["Days"], d["Reaction"], 1)[::-1]
        np.testing.assert_allclose([row.num("data-ols-b0"), row.num("data-ols-b1")], ols, rtol=1e-8)
        assert row.num("data-blup-b1") == pytest.approx(cf.loc[row.attrs["data-unit"], "Days"])
    icc, _ = icc_formula(np.arange(10), m.varcorr["vcov"].iloc[0], m.varcorr["vcov"].iloc[1],
                         m.varcorr["sdcor"].iloc[2], m.sigma)
    np.testing.assert_allclose(dom.icc(), icc, rtol=1e-10)
    hidden = dump_dom(path, "model=0&pool=sim")
    assert "model-units" not in hidden and hidden["pool-table"].attrs["data-source"] == "sim"


def test_fake_model_page(tmp_path):
    path = write_explorer(tmp_path / "fake.html", fake_growth_model(n_units=12, times=[0, 1, 3, 6, 12]))
    dom = dump_dom(path, "t0=3")
    assert len(dom["model-units"].find_all("g", "model-unit-group")) == 12
    assert len(dom.icc()) == 5
    icc, _ = icc_formula([0, 1, 3, 6, 12], 64.0, 0.81, 0.3, 4.0)
    np.testing.assert_allclose(dom.icc(), icc, rtol=1e-12)
    row = dom.pool_rows()[0]
    cf = fake_growth_model(n_units=12, times=[0, 1, 3, 6, 12]).coef["id"].iloc[0]
    assert row.num("data-blup-b0") == pytest.approx(cf["(Intercept)"] + 3 * cf["time"])  # intercept at t = 3


def test_screenshot_renders(page, tmp_path):
    out = screenshot(page, tmp_path / "shot.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


@pytest.mark.parametrize(("n_units", "line", "point"), [(12, 0.6, 0.5), (200, 0.25, 0.18)])
def test_many_model_units_are_drawn_fainter(tmp_path, n_units, line, point):
    path = write_explorer(tmp_path / "many.html", fake_growth_model(n_units=n_units))
    dom = dump_dom(path)
    group = dom["model-units"]
    assert len(group.find_all("g", "model-unit-group")) == n_units
    style = dict(part.split(":") for part in group.attrs["style"].replace(" ", "").split(";") if part)
    assert float(style["--model-line"]) == pytest.approx(line) and float(style["--model-point"]) == pytest.approx(point)
