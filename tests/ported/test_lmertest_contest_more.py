"""Ports of lmerTest's test_contest1D.R and test_ranova_step.R expectations that FAIL on current lmmflow.

Not collected (file name). They wait for issue 11 item 3 (contrasts with zero-row L) and item 1 (a/b expansion).
"""

from __future__ import annotations





