"""Bad input gets a clear error naming the column or term; missing values are dropped and counted;
the caller's data is never changed."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# ---- inputs taken at their word (issue 11, item 4) ------------------------------------------------------

W = "weights"


def _w(d: pd.DataFrame) -> pd.Series:
    return 1.0 + (d["Days"] % 3) / 2.0


@pytest.mark.parametrize("arg", ["weights", "offset"])
def test_series_aligns_on_the_index_not_by_position(sleepstudy: pd.DataFrame, arg: str) -> None:
    d = sleepstudy.sample(frac=1.0, random_state=1)  # shuffled rows, index labels kept
    v = _w(d) if arg == "weights" else 2.0 * d["Days"]
    by_position = lf.lmer(F, d, quiet=True, **{arg: v.to_numpy()})
    for s in (v, v.iloc[::-1], v.sort_index()):  # any order of the same labels: the same fit
        m = lf.lmer(F, d, quiet=True, **{arg: s})
        assert m.objective == pytest.approx(by_position.objective, rel=1e-10)
        np.testing.assert_allclose(m.fixef, by_position.fixef, rtol=1e-8)
    # a Series covering more rows than the data (e.g. made on the frame before a subset) is aligned too
    bigger = pd.concat([v, pd.Series([5.0], index=[10_000])])
    m = lf.lmer(F, d, quiet=True, **{arg: bigger})
    assert m.objective == pytest.approx(by_position.objective, rel=1e-10)


def test_series_with_missing_rows_drops_them_with_the_data(sleepstudy: pd.DataFrame) -> None:
    d = sleepstudy.copy()
    d.loc[[3, 50], "Reaction"] = np.nan
    w = _w(d).iloc[::-1]
    with pytest.warns(lf.DroppedRowsWarning):
        m = lf.lmer(F, d, weights=w)
    ref = lf.lmer(F, d.dropna(), weights=_w(d.dropna()).to_numpy(), quiet=True)
    np.testing.assert_allclose(m.fixef, ref.fixef, rtol=1e-8)
    np.testing.assert_allclose(m.weights, _w(d.dropna()).to_numpy())


@pytest.mark.parametrize("arg", ["weights", "offset"])
@pytest.mark.parametrize("make, match", [
    (lambda d: pd.Series(np.ones(len(d)), index=d.index + 1000), "row label"),  # other labels
    (lambda d: pd.Series(np.ones(len(d) - 10), index=d.index[10:]), "10 row label"),  # a subset
    (lambda d: pd.Series(np.ones(len(d)), index=[0] * len(d)), "duplicate labels"),
])
def test_series_that_does_not_match_is_refused(sleepstudy: pd.DataFrame, arg: str, make, match: str) -> None:
    with pytest.raises(DataError, match=f"{arg}.*{match}"):
        lf.lmer(F, sleepstudy, **{arg: make(sleepstudy)})


def test_numpy_arrays_stay_positional_with_their_length_checked(sleepstudy: pd.DataFrame) -> None:
    d = sleepstudy.set_index(sleepstudy.index + 500)
    w = _w(d).to_numpy()
    m = lf.lmer(F, d, weights=w, quiet=True)
    np.testing.assert_allclose(m.weights, w)
    with pytest.raises(DataError, match=r"weights must have one value per row of the data \(180\)"):
        lf.lmer(F, d, weights=w[:-1])


def test_refit_series_aligns_on_the_rows_used(sleepstudy: pd.DataFrame) -> None:
    d = sleepstudy.copy()
    d.loc[7, "Reaction"] = np.nan
    m = lf.lmer(F, d, quiet=True)
    y = m.fitted + np.random.default_rng(2).normal(0, 20, m.nobs)
    ref = m.refit(y.to_numpy())
    np.testing.assert_allclose(m.refit(y.iloc[::-1]).fixef, ref.fixef, rtol=1e-10)
    whole = pd.concat([y, pd.Series([0.0], index=[7])])  # covering the dropped row too
    np.testing.assert_allclose(m.refit(whole).fixef, ref.fixef, rtol=1e-10)
    with pytest.raises(DataError, match="new_y.*row label"):
        m.refit(y.reset_index(drop=True))
    with pytest.raises(DataError, match="one value per row used"):
        m.refit(y.to_numpy()[:-1])


def test_interaction_codes_do_not_overflow() -> None:
    """(1 | a:b:c:d) with 60,000 levels each: the product of level counts (1.3e19) exceeds int64."""
    from lmmflow.design.frame import group_codes

    n = 60_000
    rng = np.random.default_rng(5)
    d = pd.DataFrame({c: rng.permutation(n) for c in "abcd"})
    d = pd.concat([d, d.iloc[:50], d.iloc[:3]], ignore_index=True)  # some combinations repeat
    assert np.prod([float(d[c].nunique()) for c in "abcd"]) > np.iinfo(np.int64).max
    codes, labels = group_codes(d, list("abcd"))
    text = d.astype(str).agg(":".join, axis=1)
    assert len(labels) == text.nunique() == n
    np.testing.assert_array_equal(labels[codes], text.to_numpy())  # each row's label is its combination
    assert codes[n] == codes[0] and codes[n + 50] == codes[0]
    # levels in lme4's order: lexicographic in the columns' own (numeric) orders
    keys = list(zip(*(d[c].to_numpy()[np.unique(codes, return_index=True)[1]] for c in "abcd")))
    assert keys == sorted(keys)


def test_interaction_labels_sorted_as_lme4() -> None:
    from lmmflow.design.frame import group_codes

    d = pd.DataFrame({"a": ["x", "y", "x", "y", "x"], "b": [2, 1, 2, 10, 1]})
    codes, labels = group_codes(d, ["a", "b"])
    assert list(labels) == ["x:1", "x:2", "y:1", "y:10"]
    assert codes.tolist() == [1, 2, 1, 3, 0]


def _mixed(d: pd.DataFrame) -> pd.DataFrame:
    s = d["Subject"].astype(object)
    s.iloc[:60] = s.iloc[:60].astype(int)
    return d.assign(Subject=s)


def _dup(d: pd.DataFrame) -> pd.DataFrame:
    out = d.copy()
    out.columns = ["Reaction", "Days", "Days"]
    return out


@pytest.mark.parametrize("change, kwargs, match", [
    (_dup, {}, r"several columns named \['Days'\]"),
    (_mixed, {}, r"grouping column 'Subject' mixes values of types \['int', 'str'\].*astype\(str\)"),
    (lambda d: d.assign(Reaction=250.0), {}, "response 'Reaction' is constant"),
    (lambda d: d.assign(Reaction=d["Reaction"] * 1e300), {}, "response 'Reaction' is too large.*rescale"),
    (lambda d: d.assign(Reaction=d["Reaction"].where(d.index != 4, -np.inf)), {}, "'Reaction' has 1 infinite"),
    (lambda d: d, {W: np.zeros(180)}, "weights are all zero"),
    (lambda d: d, {W: -np.ones(180)}, "non-negative.*as in lme4"),
    (lambda d: d, {W: np.r_[np.inf, np.ones(179)]}, "weights has 1 infinite"),
    (lambda d: d, {"offset": np.r_[np.inf, np.ones(179)]}, "offset has 1 infinite"),
    (lambda d: d, {W: np.array(["a"] * 180)}, "weights must be numeric"),
    (lambda d: d.assign(Days=d["Days"] * 1e300), {}, "column 'Days' is too large.*rescale"),
    (lambda d: d.assign(Reaction=d["Reaction"] * 1e150), {}, "response 'Reaction' is too large.*rescale"),
])
def test_bad_inputs_give_clear_errors(sleepstudy: pd.DataFrame, change, kwargs: dict, match: str) -> None:
    with pytest.raises(DataError, match=match):
        lf.lmer(F, change(sleepstudy.copy()), **kwargs)


def test_duplicate_names_not_used_by_the_model_are_fine(sleepstudy: pd.DataFrame) -> None:
    d = sleepstudy.assign(x=1.0, z=2.0)
    d.columns = ["Reaction", "Days", "Subject", "x", "x"]
    assert lf.lmer(F, d).nobs == 180


def test_constant_response_in_make_deviance_and_lformula_path(sleepstudy: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="constant"):
        lf.make_deviance(F, sleepstudy.assign(Reaction=1.0))


# ---- a sweep of odd inputs: a fit or a clear error, never an internal exception ---------------------------

_RESPONSE = st.sampled_from(["ok", "nan", "inf", "huge", "constant", "text", "bool"])
_GROUP = st.sampled_from(["ok", "nan", "mixed", "one_level", "float", "categorical"])
_DAYS = st.sampled_from(["ok", "nan", "inf", "huge", "text", "constant"])
_WEIGHTS = st.sampled_from([None, "ok", "zeros", "negative", "nan", "inf", "series_shuffled", "series_other",
                            "short", "text"])
_OFFSET = st.sampled_from([None, "ok", "nan", "series_other", "short"])


def _corrupt(d: pd.DataFrame, resp: str, group: str, days: str, rng: np.random.Generator) -> pd.DataFrame:
    d = d.copy()
    k = rng.integers(0, len(d), 3)
    if resp == "nan":
        d.loc[d.index[k], "Reaction"] = np.nan
    elif resp == "inf":
        d.loc[d.index[k[0]], "Reaction"] = np.inf
    elif resp == "huge":
        d["Reaction"] = d["Reaction"] * 1e200
    elif resp == "constant":
        d["Reaction"] = 3.0
    elif resp == "text":
        d["Reaction"] = d["Reaction"].astype(str)
    elif resp == "bool":
        d["Reaction"] = d["Reaction"] > 250
    if group == "nan":
        d["Subject"] = d["Subject"].astype(object)
        d.loc[d.index[k], "Subject"] = None
    elif group == "mixed":
        s = d["Subject"].astype(object)
        s.iloc[:5] = s.iloc[:5].astype(int)
        d["Subject"] = s
    elif group == "one_level":
        d["Subject"] = "a"
    elif group == "float":
        d["Subject"] = d["Subject"].astype(float)
    elif group == "categorical":
        d["Subject"] = d["Subject"].astype("category")
    if days == "nan":
        d["Days"] = d["Days"].astype(float)
        d.loc[d.index[k], "Days"] = np.nan
    elif days == "inf":
        d["Days"] = d["Days"].astype(float)
        d.loc[d.index[k[0]], "Days"] = -np.inf
    elif days == "huge":
        d["Days"] = d["Days"] * 1e250
    elif days == "text":
        d["Days"] = "d" + d["Days"].astype(str)
    elif days == "constant":
        d["Days"] = 1.0
    return d


def _vector(kind: str | None, d: pd.DataFrame, rng: np.random.Generator) -> object:
    n = len(d)
    base = 1.0 + rng.random(n)
    return {None: None, "ok": base, "zeros": np.zeros(n), "negative": -base, "nan": np.r_[np.nan, base[1:]],
            "inf": np.r_[np.inf, base[1:]], "series_shuffled": pd.Series(base, index=d.index).sample(frac=1.0),
            "series_other": pd.Series(base, index=np.arange(n) + 10_000), "short": base[:-2],
            "text": np.array(["x"] * n)}[kind]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(resp=_RESPONSE, group=_GROUP, days=_DAYS, weights=_WEIGHTS, offset=_OFFSET, seed=st.integers(0, 1000),
       formula=st.sampled_from([F, "Reaction ~ Days + (1 | Subject)", "Reaction ~ 1 + (Days || Subject)"]))
def test_property_odd_inputs_fit_or_fail_clearly(sleepstudy: pd.DataFrame, resp: str, group: str, days: str,
                                                 weights: str | None, offset: str | None, seed: int,
                                                 formula: str) -> None:
    rng = np.random.default_rng(seed)
    d = _corrupt(sleepstudy.iloc[:90], resp, group, days, rng)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = lf.lmer(formula, d, weights=_vector(weights, d, rng), offset=_vector(offset, d, rng))
    except (KeyError, IndexError, AttributeError, TypeError, np.linalg.LinAlgError, ZeroDivisionError) as exc:
        pytest.fail(f"internal {type(exc).__name__} escaped: {exc}")
    except (DataError, FormulaError, ValueError) as exc:
        msg = str(exc)
        assert msg  # a message for the user, not numpy's
        assert not any(s in msg for s in ("could not convert", "broadcast", "array element", "ufunc")), msg
        return
    assert np.isfinite(m.objective) and np.isfinite(m.fixef.to_numpy()).all()


def test_unused_categories_are_dropped_as_lme4_does() -> None:
    """lme4's model frame drops unused levels (drop.unused.levels = TRUE): an unused first category must not
    become the reference level (the coefficients would change meaning, one aliased column dropped)."""
    import warnings

    import numpy as np
    import pandas as pd

    import lmmflow as lf

    df = lf.load_dataset("sleepstudy")
    df = df[df["Days"] >= 5].copy()
    df["dose"] = pd.Categorical(np.where(df["Days"] < 7, "c", "d"), categories=["a", "c", "d"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", lf.RankDeficiencyWarning)
        m = lf.lmer("Reaction ~ dose + (1 | Subject)", df)
    assert list(m.fixef.index) == ["(Intercept)", "dose[T.d]"]
    plain = lf.lmer("Reaction ~ dose + (1 | Subject)", df.assign(dose=df["dose"].astype(str)))
    np.testing.assert_allclose(m.fixef.to_numpy(), plain.fixef.to_numpy(), rtol=1e-10)
    assert list(df["dose"].cat.categories) == ["a", "c", "d"]  # the caller's frame is unchanged
