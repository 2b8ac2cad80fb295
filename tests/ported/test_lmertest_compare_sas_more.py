"""Ports of lmerTest's test_compare_sas.R and test_lmerTest_paper.R expectations that FAIL on current lmmflow.

They wait for issue 11 item 1 (contrasts=, here SAS's last-level reference) and item 3 (type II anova).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import lmmflow as lf

from ._data import all_equal, load


def test_type2_term_order_invariance():
    """test_compare_sas.R:98-111: type II tables of y ~ a*b and y ~ b*a are the same rows (reordered).
    """
    dd = pd.DataFrame({"a": [1, 1, 1, 2, 2, 2, 2, 2, 1, 2], "b": [1, 1, 2, 1, 2, 2, 2, 2, 2, 1],
                       "f": [1, 2, 1, 2, 1, 2, 1, 2, 1, 2], "y": [12, 14, 11, 20, 17, 23, 35, 46, 15, 16.0]}).astype(
        {"a": str, "b": str, "f": str})
    an = lf.anova(lf.lmer("y ~ a*b + (1|f)", dd), type=2)
    an2 = lf.anova(lf.lmer("y ~ b*a + (1|f)", dd), type=2)
    assert all_equal(an.to_numpy(dtype=float), an2.iloc[[1, 0, 2]].to_numpy(dtype=float), tolerance=1e-5)
    assert np.isfinite(an.to_numpy(dtype=float)).all()


def test_paper_type2_kenward_roger_8_2():
    """test_lmerTest_paper.R:20-21, 67-71: anova(tv, type=2, ddf="Kenward-Roger") as the paper's saved table.
    """
    from ._data import num, r_values

    tv = lf.lmer("Sharpnessofmovement ~ TVset * Picture + (1 | Assessor) + (1 | Assessor:TVset) + "
                 "(1 | Assessor:Picture)", load("tvbo"))
    an = lf.anova(tv, type=2, ddf="kenward-roger")
    ref = num(r_values()["lmertest"]["paper"]["ankr8.2"])
    for j, col in enumerate(["sum_sq", "mean_sq", "num_df", "den_df", "f_value", "p_value"]):
        assert all_equal(ref[:, j], an[col].to_numpy(dtype=float), tolerance=1e-4), col
