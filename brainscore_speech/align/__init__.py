"""align stage: HRF convolution of activations and sampling at scan times."""

from .hrf import HRF_MODELS, SCALINGS, hrf_kernels, hrf_regressors, run_regressors

__all__ = ["HRF_MODELS", "SCALINGS", "hrf_kernels", "hrf_regressors", "run_regressors"]
