"""encoding stage: cross-validated ridge encoding models and brain scores."""

from .cv import describe_splits, group_splits, run_order, run_splits
from .estimator import RunwiseRidgeCV
from .ridge import ALPHA_SELECTIONS, fit_ridge_cv, ridge_cv_predict
from .scoring import EDGE_WARN_FRACTION, pearson_r, score_layers

__all__ = [
    "ALPHA_SELECTIONS",
    "EDGE_WARN_FRACTION",
    "RunwiseRidgeCV",
    "describe_splits",
    "fit_ridge_cv",
    "group_splits",
    "pearson_r",
    "ridge_cv_predict",
    "run_order",
    "run_splits",
    "score_layers",
]
