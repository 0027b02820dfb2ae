"""encoding stage: cross-validated ridge encoding models and brain scores."""

from .cv import (
    describe_splits,
    group_splits,
    inner_splits,
    run_order,
    run_splits,
    stimulus_groups,
    trim_gap,
)
from .ridge import ALPHA_SELECTIONS, fit_ridge_cv, ridge_cv_predict
from .scoring import EDGE_WARN_FRACTION, pearson_r, score_layers

__all__ = [
    "ALPHA_SELECTIONS",
    "EDGE_WARN_FRACTION",
    "RunwiseRidgeCV",
    "describe_splits",
    "fit_ridge_cv",
    "group_splits",
    "inner_splits",
    "pearson_r",
    "ridge_cv_predict",
    "run_order",
    "run_splits",
    "score_layers",
    "stimulus_groups",
    "trim_gap",
]


def __getattr__(name):
    # scikit-learn takes ~1.7 s to import: only load the estimator when asked for
    if name == "RunwiseRidgeCV":
        from .estimator import RunwiseRidgeCV

        return RunwiseRidgeCV
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
