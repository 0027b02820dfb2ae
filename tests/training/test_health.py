"""Collapse checks."""

from __future__ import annotations

import pytest

from brainscore_speech.exceptions import CollapseError
from brainscore_speech.training import CollapseWarning, HealthMonitor, check_health

HEALTHY = {"loss": 2.5, "accuracy": 0.3, "code_perplexity": 20.0, "neg_is_pos": 0.01,
           "grad_norm": 1.0}
KW = dict(num_groups=2, collapse_perplexity=3.0, grad_norm_band=(1e-6, 1e3))


def test_check_health_healthy():
    assert check_health(HEALTHY, **KW) == ([], [])


@pytest.mark.parametrize("change,match", [
    ({"code_perplexity": 2.0}, r"code perplexity 2.00 < 3 \(full collapse = 2\)"),
    ({"neg_is_pos": 0.9}, r"90% of negatives equal their positive"),
    ({"loss": 0.0, "accuracy": 1.0}, r"contrastive loss 0.0000 ~ 0 with accuracy ~ 1"),
    ({"grad_norm": 1e-19}, r"grad norm 1.00e-19 below"),
    ({"loss": float("nan")}, r"non-finite loss nan"),
])
def test_check_health_collapse_signs(change, match):
    collapse, _ = check_health({**HEALTHY, **change}, **KW)
    assert any(__import__("re").search(match, c) for c in collapse), collapse


def test_check_health_large_grad_is_warning_only():
    collapse, other = check_health({**HEALTHY, "grad_norm": 1e5}, **KW)
    assert collapse == [] and "above" in other[0]


def test_monitor_warns_once_then_raises_after_patience():
    mon = HealthMonitor(2, 3.0, (1e-6, 1e3), patience=3)
    bad = {**HEALTHY, "code_perplexity": 2.0, "loss": 0.0, "accuracy": 1.0}
    with pytest.warns(CollapseWarning, match=r"Training health at step 1: code "
                                             r"perplexity 2.00 < 3 .*; contrastive "
                                             r"loss"):
        mon.update(1, bad)
    mon.update(2, HEALTHY)  # a healthy update resets the streak
    assert mon.streak == 0
    mon.update(3, bad)  # already warned about these: logged only (a warning would
    mon.update(4, bad)  # be an error here, BrainscoreWarnings are errors in tests)
    with pytest.raises(CollapseError, match=r"Training collapsed at step 5: code "
                                            r"perplexity 2.00 < 3 .* for 3 "
                                            r"consecutive updates\. Try a lower --lr"):
        mon.update(5, bad)
