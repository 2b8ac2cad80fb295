"""``lmmflow fit/report --family/--link/--nagq``: GLMMs from the command line, bad input in one line."""

from __future__ import annotations

import html
from pathlib import Path

import pytest

import lmmflow as lf

from .test_cli import assert_one_line_error, call


@pytest.fixture(scope="module")
def csv(tmp_path_factory) -> Path:
    d = lf.simulate_growth(n_units=50, seed=4)
    d["high"] = (d["y"] > d["y"].median()).astype(int)
    d["visits"] = (d["y"] // 12).clip(lower=0).astype(int)
    d["neg"] = d["visits"] - 3
    p = tmp_path_factory.mktemp("cli_glmm") / "d.csv"
    d.to_csv(p, index=False)
    return p


def test_fit_binomial_probit(csv, capsys):
    res = call(capsys, "fit", str(csv), "high ~ time + (1 | id)", "--family", "binomial", "--link", "probit",
               "--nagq", "1")
    assert res.returncode == 0, res.stderr
    assert "Family: binomial  ( probit )" in res.stdout and "z value" in res.stdout
    assert "Satterthwaite" not in res.stdout


def test_fit_agq_matches_the_api(csv, capsys):
    res = call(capsys, "fit", str(csv), "high ~ time + (1 | id)", "--family", "binomial", "--nagq", "9")
    assert res.returncode == 0, res.stderr
    import pandas as pd

    g = lf.glmer("high ~ time + (1 | id)", pd.read_csv(csv), family="binomial", nagq=9, quiet=True)
    assert f"{g.aic:.1f}" in res.stdout


def test_report_poisson(csv, tmp_path, capsys):
    out = tmp_path / "rep"
    res = call(capsys, "report", str(csv), "--formula", "visits ~ time + (1 | id)", "--family", "poisson",
               "--out", str(out), "--seed", "1")
    assert res.returncode == 0, res.stderr
    for name in ("report.html", "summary.txt", "binned_residuals.png", "observed.png", "response_curve.png",
                 "fixed_effects.csv", "blups.csv"):
        assert (out / name).exists(), name
    page = html.unescape((out / "report.html").read_text(encoding="utf-8")).replace("\u00a0", " ")
    assert "rate ratio" in page and "RR = " in page and "Satterthwaite" not in page
    assert "Generalized linear mixed model report" in page
    assert "RR = " in res.stdout


@pytest.mark.parametrize("args, fragments", [
    (["--family", "gamma"], ["family='gamma'", "binomial"]),
    (["--family", "binomial", "--link", "log"], ["link 'log'", "logit"]),
    (["--family", "poisson", "--link", "logit"], ["link 'logit'", "poisson"]),
    (["--link", "probit"], ["--family binomial"]),
    (["--nagq", "3"], ["--family"]),
    (["--family", "binomial", "--nagq", "-1"], ["--nagq"]),
    (["--family", "binomial", "--ddf", "kenward-roger"], ["Wald z"]),
    (["--family", "binomial", "--ml"], ["maximum likelihood"]),
])
def test_fit_bad_family_or_link(csv, capsys, args, fragments):
    assert_one_line_error(call(capsys, "fit", str(csv), "high ~ time + (1 | id)", *args), *fragments)


@pytest.mark.parametrize("formula, family, fragments", [
    ("neg ~ time + (1 | id)", "poisson", ["negative values", "'neg'"]),
    ("y ~ time + (1 | id)", "binomial", ["outside [0, 1]", "'y'"]),
    ("cbind(hits, 5 - hits) ~ time + (1 | id)", "binomial", ["'hits'"]),
])
def test_response_that_does_not_fit_the_family(csv, tmp_path, capsys, formula, family, fragments):
    assert_one_line_error(call(capsys, "fit", str(csv), formula, "--family", family), *fragments)
    assert_one_line_error(call(capsys, "report", str(csv), "--formula", formula, "--family", family,
                               "--out", str(tmp_path / "r"), "--no-figures"), *fragments)
    assert not (tmp_path / "r").exists()
