"""Bad input gets a clear error naming the column or term; missing values are dropped and counted;
the caller's data is never changed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow import DataError, FormulaError

F = "Reaction ~ Days + (Days | Subject)"


def test_unknown_column_is_named(sleepstudy: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"'Dayz'.*did you mean|'Dayz'"):
        lf.lmer("Reaction ~ Dayz + (1 | Subject)", sleepstudy)
    with pytest.raises(DataError, match="'Subjekt'.*random term"):
        lf.lmer("Reaction ~ Days + (1 | Subjekt)", sleepstudy)
    with pytest.raises(DataError, match="'reaction'.*did you mean 'Reaction'"):
        lf.lmer("reaction ~ Days + (1 | Subject)", sleepstudy)


def test_non_numeric_response(sleepstudy: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="response 'Subject' must be numeric"):
        lf.lmer("Subject ~ Days + (1 | Subject)", sleepstudy)


def test_empty_data() -> None:
    with pytest.raises(DataError, match="no rows"):
        lf.lmer(F, pd.DataFrame({"Reaction": [], "Days": [], "Subject": []}))


def test_inf_is_refused_with_the_column(sleepstudy: pd.DataFrame) -> None:
    d = sleepstudy.astype({"Days": float})
    d.loc[3, "Days"] = np.inf
    with pytest.raises(DataError, match="'Days' has 1 infinite"):
        lf.lmer(F, d)


def test_one_level_grouping_factor(sleepstudy: pd.DataFrame) -> None:
    d = sleepstudy.assign(g="only")
    with pytest.raises(DataError, match="'g'.*only 1 level"):
        lf.lmer("Reaction ~ Days + (1 | g)", d)


def test_as_many_levels_as_rows(sleepstudy: pd.DataFrame) -> None:
    d = sleepstudy.assign(row=np.arange(len(sleepstudy)))
    with pytest.raises(DataError, match="'row' has 180 levels for 180 observations"):
        lf.lmer("Reaction ~ Days + (1 | row)", d)


def test_more_random_effects_than_observations() -> None:
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"g": np.repeat(np.arange(10), 2), "x": rng.normal(size=20), "z": rng.normal(size=20),
                      "y": rng.normal(size=20)})
    with pytest.raises(DataError, match="random effects for 20 observations"):
        lf.lmer("y ~ 1 + (1 + x + z | g)", d)


def test_no_random_term(sleepstudy: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="no random-effects term"):
        lf.lmer("Reaction ~ Days", sleepstudy)


def test_unparseable_fixed_part(sleepstudy: pd.DataFrame) -> None:
    with pytest.raises(FormulaError):
        lf.lmer("Reaction ~ Days +* + (1 | Subject)", sleepstudy)


def test_missing_values_dropped_and_counted(sleepstudy: pd.DataFrame) -> None:
    d = sleepstudy.astype({"Days": float})
    d.loc[[0, 5, 17], "Reaction"] = np.nan
    d.loc[40, "Days"] = np.nan
    with pytest.warns(UserWarning, match="4 row"):
        m = lf.lmer(F, d)
    assert m.nobs == 176 and m.n_dropped == 4
    assert "4 observation(s) deleted" in str(m.summary())
    full = lf.lmer(F, d.dropna())
    assert m.objective == pytest.approx(full.objective, rel=1e-12)
    assert list(m.fitted.index) == list(d.dropna().index)


def test_caller_frame_is_not_changed(sleepstudy: pd.DataFrame) -> None:
    d = sleepstudy.copy()
    d["Subject"] = d["Subject"].astype(int)
    before = d.copy()
    lf.lmer(F, d)
    pd.testing.assert_frame_equal(d, before)


def test_grouping_column_of_any_dtype_is_categorical(sleepstudy: pd.DataFrame) -> None:
    a = lf.lmer(F, sleepstudy)
    b = lf.lmer(F, sleepstudy.assign(Subject=sleepstudy["Subject"].astype(int)))
    c = lf.lmer(F, sleepstudy.assign(Subject=sleepstudy["Subject"].astype("category")))
    assert a.objective == pytest.approx(b.objective, rel=1e-12) == pytest.approx(c.objective, rel=1e-12)


def test_polars_and_dict_input(sleepstudy: pd.DataFrame) -> None:
    pl = pytest.importorskip("polars")
    a = lf.lmer(F, sleepstudy)
    b = lf.lmer(F, pl.from_pandas(sleepstudy))
    c = lf.lmer(F, {k: sleepstudy[k].to_numpy() for k in sleepstudy.columns})
    assert a.objective == pytest.approx(b.objective, rel=1e-12)
    assert a.objective == pytest.approx(c.objective, rel=1e-12)


def test_aliased_columns_dropped_with_a_message(sleepstudy: pd.DataFrame) -> None:
    d = sleepstudy.assign(Days2=sleepstudy["Days"] * 2.0)
    with pytest.warns(UserWarning, match="rank deficient so dropping 1"):
        m = lf.lmer("Reaction ~ Days + Days2 + (1 | Subject)", d)
    assert list(m.fixef.index) == ["(Intercept)", "Days"]
    assert m.design.fixed.dropped == ["Days2"]


def test_weights_and_offset_validation(sleepstudy: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="weights='w' is not a column"):
        lf.lmer(F, sleepstudy, weights="w")
    with pytest.raises(DataError, match="one value per row"):
        lf.lmer(F, sleepstudy, offset=np.ones(3))
    with pytest.raises(DataError, match="non-negative"):
        lf.lmer(F, sleepstudy, weights=-np.ones(len(sleepstudy)))


def test_fit_does_not_see_later_changes_to_the_callers_frame(sleepstudy: pd.DataFrame) -> None:
    """The model frame shares the caller's columns without copying them, copy-on-write: changing the
    caller's frame afterwards (in place or by assignment) leaves the fit's data and predictions alone."""
    df = sleepstudy.copy()
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", df)
    data0, fitted0 = m.data.copy(), m.predict()
    df.loc[0, "Reaction"] = 9999.0
    df["Days"] = df["Days"] * 100
    pd.testing.assert_frame_equal(m.data, data0)
    pd.testing.assert_series_equal(m.predict(), fitted0)
