"""Cross-validated brain scores of every layer (ridge, one alpha per target)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._io import make_provenance
from .._logging import logger, progress
from .._logging import verbose as _verbose
from .._validation import check_finite, check_option, check_shapes
from ..containers import LayerScores
from ..exceptions import BrainscoreWarning
from ._fastcv import SharedCV, bf16_isa, estimate_job
from .cv import describe_splits, inner_splits, run_order, run_splits
from .ridge import ALPHA_SELECTIONS, _check_alphas, _FoldSolver, _Ops, r_from_sums

__all__ = ["score_layers", "pearson_r", "EDGE_WARN_FRACTION", "SOLVERS",
           "SEARCH_DTYPES", "edge_alpha_summary", "warn_edge_alphas"]

SOLVERS = ("fast", "fast-local", "exact")
SEARCH_DTYPES = ("auto", "float32", "bfloat16")
# search_dtype="auto" chooses bfloat16 from this many features (the widest
# layer): measured on a 2-core AVX512-BF16 CPU, bfloat16 against float32 took
# 1.1-1.4x longer at d = 96 (100 scans per run), the same at d = 256 and 0.75x
# at d = 768 (LPP size), where the validation products dominate
AUTO_BF16_MIN_FEATURES = 512
# ... and on these bfloat16 ISAs only. AMX: bfloat16 products measured 254-348
# GMAC/s against 87 in float32 (3-4x). AVX512-BF16 without AMX (AMD Zen 4):
# 150-188 against 85-97 (2x), which the two alphas refined in float32 and
# torch's slower float32 there leave at 1.03-1.10x per layer at LPP size
# (benchmarks/results/bench_encoding_lpp_bf16*.json): not worth the change
AUTO_BF16_ISAS = ("amx",)

# Warn when more than this fraction of the predicted targets picked an alpha at
# an end of the grid (the optimum may lie outside it).
EDGE_WARN_FRACTION = 0.05
# A target counts as predicted by a layer when its fold-mean r exceeds
# EDGE_R_Z / sqrt(n_samples): 3 null standard deviations of a Pearson r over the
# n_samples held-out scans (each scan is tested once). Noise targets rightly pick
# the largest penalty, so they are left out of the edge count; BOLD
# autocorrelation widens the null, so a few noise targets still pass.
EDGE_R_Z = 3.0
# ... and only when at least this many layer-target pairs are predicted (a
# handful of chance passes says nothing about the grid).
EDGE_MIN_PREDICTED = 10


#: The default ridge grid (read-only: a shared default must not be mutated).
DEFAULT_ALPHAS = np.logspace(-1, 8, 10)
DEFAULT_ALPHAS.flags.writeable = False

def edge_alpha_summary(alphas: np.ndarray, scores: np.ndarray, grid: np.ndarray, *,
                       n_samples: int) -> dict[str, Any]:
    """Share of the chosen alphas at each end of the grid, among predicted targets.

    Parameters
    ----------
    alphas : array of shape (n_layers, n_folds, n_targets)
        Chosen penalties (NaN where not scored).
    scores : array of shape (n_layers, n_folds, n_targets)
        Held-out Pearson r.
    grid : array of shape (n_alphas,)
        The increasing alpha grid.
    n_samples : int
        Scans scored (sets the threshold ``EDGE_R_Z / sqrt(n_samples)``).

    Returns
    -------
    dict
        ``low`` and ``high`` (fractions of the chosen alphas of predicted
        layer-target pairs, over folds), ``n_predicted`` (layer-target pairs),
        ``n_low``, ``n_high``, ``n_chosen`` (counts over folds) and
        ``r_threshold``.
    """
    alphas = np.asarray(alphas, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    grid = np.asarray(grid, dtype=np.float64)
    thr = float(EDGE_R_Z / np.sqrt(max(int(n_samples), 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN targets
        mean_r = np.nanmean(scores, axis=1, keepdims=True)
    predicted = np.broadcast_to(np.nan_to_num(mean_r, nan=-np.inf) > thr, alphas.shape)
    sel = predicted & np.isfinite(alphas)
    n = int(sel.sum())
    # relative comparison: the grid may have been stored as float32
    lo = np.isclose(alphas, grid[0], rtol=1e-5, atol=0) & sel
    hi = np.isclose(alphas, grid[-1], rtol=1e-5, atol=0) & sel
    n_lo, n_hi = int(lo.sum()), int(hi.sum())
    return {"low": n_lo / max(n, 1), "high": n_hi / max(n, 1), "n_low": n_lo,
            "n_high": n_hi, "n_chosen": n,
            "n_predicted": int(predicted[:, 0].sum()) if predicted.ndim == 3 else n,
            "r_threshold": thr}


def warn_edge_alphas(summary: dict[str, Any], grid: np.ndarray, *, what: str = "",
                     stacklevel: int = 2) -> bool:
    """Warn once when too many predicted targets chose an end of the alpha grid.

    Parameters
    ----------
    summary : dict
        Output of :func:`edge_alpha_summary` (counts may be summed over layers).
    grid : array of shape (n_alphas,)
    what : str
        Who was scored (e.g. ``"sub-01 model native"``), for the message.
    stacklevel : int, default=2

    Returns
    -------
    bool
        Whether a warning was issued.
    """
    grid = np.asarray(grid, dtype=np.float64)
    n = summary["n_chosen"]
    lo, hi = summary["n_low"] / max(n, 1), summary["n_high"] / max(n, 1)
    if (len(grid) < 2 or summary["n_predicted"] < EDGE_MIN_PREDICTED
            or lo + hi <= EDGE_WARN_FRACTION):
        return False
    # suggest a grid 3 decades wider on the crowded side, same spacing
    log_lo, log_hi = np.log10(grid[0]), np.log10(grid[-1])
    step = (log_hi - log_lo) / (len(grid) - 1)
    edge = "lowest" if lo >= hi else "highest"
    log_lo, log_hi = (log_lo - 3, log_hi) if lo >= hi else (log_lo, log_hi + 3)
    n_new = int(round((log_hi - log_lo) / step)) + 1 if step > 0 else len(grid)
    example = f"{10 ** log_lo:g}:{10 ** log_hi:g}:{n_new}"
    warnings.warn(
        f"{what + ': ' if what else ''}{100 * (lo + hi):.1f}% of the chosen alphas "
        f"of the {summary['n_predicted']} predicted layer-target pairs (held-out r > "
        f"{summary['r_threshold']:.3g}) lie at an edge of the grid [{grid[0]:g}, "
        f"{grid[-1]:g}], mostly the {edge} ({100 * lo:.1f}% at the lowest, "
        f"{100 * hi:.1f}% at the highest): the best penalty may lie outside it; "
        f"widen 'alphas' towards the {edge} values (e.g. score --alphas '{example}').",
        BrainscoreWarning, stacklevel=stacklevel + 1)
    return True


def pearson_r(Y_true: np.ndarray, Y_pred: np.ndarray) -> np.ndarray:
    """Column-wise Pearson correlation (float64), NaN where a column is constant.

    Parameters
    ----------
    Y_true, Y_pred : arrays of shape (n_samples, n_targets)

    Returns
    -------
    r : ndarray of shape (n_targets,)
    """
    a = np.asarray(Y_true, dtype=np.float64)
    b = np.asarray(Y_pred, dtype=np.float64)
    check_shapes(Y_true=a, Y_pred=b, ndim=2)
    if a.shape != b.shape:
        raise ValueError(
            f"Y_true and Y_pred must have the same shape; got Y_true: {a.shape}, "
            f"Y_pred: {b.shape}.")
    a = a - a.mean(0)
    b = b - b.mean(0)
    return r_from_sums((a * b).sum(0), (a * a).sum(0), (b * b).sum(0))


def _standardize(ops, A, train, dtype):
    """Standardise columns with training statistics (float64 stats).

    The statistics are accumulated in float64; the subtraction and division run
    in the wider of the input's dtype and ``dtype`` (no float64 copy of a
    float32 BOLD matrix: this runs once per layer and fold).
    """
    A = np.asarray(A)
    tr = A[train]
    mean = tr.mean(0, dtype=np.float64)
    sd = tr.std(0, dtype=np.float64)
    const = ~(sd > 1e-12 * np.maximum(np.abs(mean), 1.0))
    sd[const] = 1.0
    work = np.result_type(A.dtype, np.dtype(dtype), np.float32)
    out = A.astype(work, copy=True)
    out -= mean.astype(work)
    out /= sd.astype(work)
    return out.astype(dtype, copy=False), const


def _check_layers(layers, n_y, Y_shape):
    if not isinstance(layers, Mapping) or len(layers) == 0:
        raise ValueError(
            "'layers' must be a non-empty mapping of layer name to an array "
            f"(n_samples, n_features), got {type(layers).__name__} of length "
            f"{len(layers) if hasattr(layers, '__len__') else '?'}.")
    for name, X in layers.items():
        shape = np.shape(X)
        if len(shape) != 2:
            raise ValueError(
                f"Layer {name!r} must be a 2-D array (n_samples, n_features), got "
                f"shape {shape}.")
        if shape[1] == 0 or shape[0] == 0:
            raise ValueError(
                f"Layer {name!r} is empty: expected (n_samples, n_features) with "
                f"n_features >= 1, got shape {shape}.")
        if shape[0] != n_y:
            raise ValueError(
                f"X and Y must have the same number of samples (scans); got "
                f"X ({name!r}): {shape}, Y: {Y_shape}.")
        check_finite(f"layers.{name}", X)


@_verbose
def score_layers(
    layers: Mapping[str, np.ndarray],
    Y: np.ndarray,
    runs: np.ndarray,
    *,
    alphas: np.ndarray = DEFAULT_ALPHAS,
    cv: str | int = "leave-one-run-out",
    groups: np.ndarray | None = None,
    gap: int = 0,
    inner_cv: int | None = None,
    alpha_selection: str = "inner-cv",
    target_batch_size: int = 4096,
    device: str = "cpu",
    backend: str | None = None,
    dtype: str = "float32",
    solver: str = "fast",
    search_dtype: str = "auto",
    on_layer: Callable[[str, LayerScores], None] | None = None,
    model_id: str | None = None,
    subject: str | None = None,
    verbose: bool | int | str | None = None,
) -> LayerScores:
    """Cross-validated ridge brain scores of each layer, per target and fold.

    For each layer and each outer fold (whole held-out runs), X and Y are
    standardised with the training statistics, one alpha per target is chosen
    on the training runs only, the model is refitted on all training runs, and
    the Pearson r between the held-out BOLD and the prediction is stored.

    Parameters
    ----------
    layers : mapping of str to array of shape (n_samples, n_features)
        HRF-aligned regressors of each layer (e.g. from
        :func:`brainscore_speech.align.run_regressors`, runs concatenated in
        time), in hierarchy order.
    Y : array of shape (n_samples, n_targets)
        BOLD (scans x vertices), runs concatenated in the same order.
    runs : array of shape (n_samples,)
        Run label of each scan.
    alphas : array of shape (n_alphas,), default=np.logspace(-1, 8, 10)
        Ridge penalties (the paper's grid), strictly increasing.
    cv : "leave-one-run-out" or int, default="leave-one-run-out"
        Outer folds: each run held out in turn, or K contiguous groups of runs
        (K contiguous blocks of scans when there is a single run).
    groups : array of shape (n_samples,), optional
        Stimulus of each scan (:func:`~brainscore_speech.encoding.cv.stimulus_groups`):
        outer and inner folds are then made over stimuli, so a stimulus played in
        several runs is never on both sides of a split. None: over runs.
    gap : int, default=0
        Scans removed from training on each side of every held-out block of the
        same run (single-run contiguous blocks; whole held-out runs need none).
        ``score_subject`` passes ``ceil(gap_s / tr_s)`` (10 s by default).
    inner_cv : int or None, default=None
        Inner folds inside the training runs for ``alpha_selection="inner-cv"``:
        None leaves one training run out at a time, an int K uses K contiguous
        groups of training runs (with a single training run: contiguous blocks,
        5 when None).
    alpha_selection : {"inner-cv", "gcv"}, default="inner-cv"
        Minimise the mean inner-fold validation MSE (run-wise, robust to
        autocorrelation), or the leave-one-scan-out GCV error of the paper's
        scikit-learn ``RidgeCV``.
    target_batch_size : int, default=4096
        Targets solved at once; bounds memory (~ n_samples x batch x 4 bytes
        per array).
    device : str, default="cpu"
        ``"cpu"`` or a torch CUDA device (``"cuda"``, ``"cuda:0"``).
    backend : {"numpy", "torch"} or None, default=None
        None: numpy on CPU (torch with a bfloat16 alpha search), torch on CUDA.
    dtype : {"float32", "float64"}, default="float32"
        Dtype of the large matrix products (eigendecompositions are float64).
    solver : {"fast", "fast-local", "exact"}, default="fast"
        ``"exact"``: per fold and layer, the direct solve (one eigendecomposition
        and the predictions of every alpha for every inner fold). ``"fast"``: the
        same model (same alphas) with the products shared between folds and the
        validation predictions as one product per inner fold and alpha (see
        ``encoding/_fastcv.py``). ``"fast-local"``: also a local alpha search
        after the first fold (~3.9 of 10 alphas evaluated, ~2x faster than
        ``"fast"`` at LPP size). It chooses the grid argmin wherever the error
        curve keeps one minimum over the grid: measured, the same alphas as the
        exact path on 99.9997 % of (vertex, fold) pairs of the LPP-size
        benchmark, but on 96 % only of the small, noisy simulated study of the
        tests (curves with a second, deeper minimum in later folds), where the
        default is the safe choice. GCV always uses the exact path.
    search_dtype : {"auto", "float32", "bfloat16"}, default="auto"
        Inputs of the fast solvers' validation products, which only choose the
        alphas (the refit and the held-out scores are always in ``dtype``).
        ``"bfloat16"``: bfloat16 inputs with float32 accumulation (torch/oneDNN),
        3-4x the float32 GEMM rate on CPUs with AMX, 2x with AVX512-BF16 alone,
        much slower without either; the alphas of each target's two lowest bfloat16
        errors (and any other within a margin of its measured bfloat16 error)
        are evaluated again in float32 and the choice made among them.
        ``"auto"``: bfloat16 for ``solver="fast"`` and ``dtype="float32"`` on
        an AMX CPU (:data:`AUTO_BF16_ISAS`, ``device="cpu"``) when the widest
        layer has at least :data:`AUTO_BF16_MIN_FEATURES` (512) features, else
        float32. The scores record which was used (``cv["search_dtype"]``).
    on_layer : callable, optional
        ``on_layer(name, scores)`` is called after each layer with that layer's
        one-layer :class:`LayerScores` (e.g. to cache it).
    model_id, subject : str, optional
        Stored in the returned container.
    verbose : bool, int, str or None
        Log level for this call.

    Returns
    -------
    scores : LayerScores
        ``scores`` and ``alphas`` of shape (n_layers, n_folds, n_targets);
        NaN for targets constant in the training or test data.

    Raises
    ------
    ValueError
        Mismatched sample counts, non-finite values, an empty layer, fewer than
        two runs for run-wise CV, or bad options.

    Warns
    -----
    BrainscoreWarning
        Once, when more than :data:`EDGE_WARN_FRACTION` of the chosen alphas of
        the predicted targets (:func:`edge_alpha_summary`) lie at either end of
        the grid; the message names the edge and a wider grid.
    """
    t_start = time.perf_counter()
    backend_arg = backend
    Y, runs, alphas, backend = _check_score_layers_args(
        layers, Y, runs, alphas=alphas, alpha_selection=alpha_selection, dtype=dtype,
        backend=backend, device=device, target_batch_size=target_batch_size,
        inner_cv=inner_cv, solver=solver)
    splits, cv_groups, groups, inner = _outer_inner_splits(
        runs, cv, groups, gap, alpha_selection, alphas, inner_cv)
    use_fast = solver != "exact" and alpha_selection == "inner-cv"
    kind = solver if use_fast else "exact"
    search = _search_dtype(search_dtype, kind, dtype, device,
                           max(np.shape(x)[1] for x in layers.values()))
    if search == "bfloat16" and backend_arg is None:
        # every product of the engine in torch: OpenBLAS's spinning threads
        # between torch's bfloat16 calls cost measured 2-5x on 2 cores
        backend = "torch"
    ops = _Ops(backend, device, dtype)
    names = [str(k) for k in layers]
    n_layers, n_folds, n_targets = len(layers), len(splits), Y.shape[1]
    est = estimate_job(
        n_samples=Y.shape[0], n_features=[np.shape(x)[1] for x in layers.values()],
        n_targets=n_targets, splits=splits, inner=inner, n_alphas=len(alphas),
        solver=kind, ops=ops, search_dtype=search,
        target_batch_size=target_batch_size)
    _log_estimate(est, (n_layers, n_folds, n_targets),
                  f"{alpha_selection}, {backend}, {kind} solver, {search} alpha search")
    res = _LayerResults(
        scores=np.full((n_layers, n_folds, n_targets), np.nan, dtype=np.float32),
        chosen=np.full((n_layers, n_folds, n_targets), np.nan, dtype=np.float64),
        inner=np.full((n_layers, n_folds, n_targets), np.nan, dtype=np.float32),
        alphas=alphas, names=names, n_samples=Y.shape[0], subject=subject,
        model_id=model_id,
        cv_desc=_cv_description(cv, n_folds, runs, splits, cv_groups, gap,
                                alpha_selection, inner_cv, alphas, kind),
        params={"alphas": alphas.tolist(), "cv": cv, "inner_cv": inner_cv,
                "gap": int(gap),
                "alpha_selection": alpha_selection,
                "target_batch_size": target_batch_size, "device": device,
                "backend": backend, "dtype": dtype, "solver": solver,
                "search_dtype": search_dtype})
    res.cv_desc["search_dtype"] = search
    ticker = iter(progress(range(n_layers * n_folds), total=n_layers * n_folds,
                           desc=f"scoring (est. {_fmt_s(est['seconds'])})",
                           unit="fold"))
    engine = None
    if use_fast:
        engine = SharedCV(Y, splits, inner, alphas, ops, target_batch_size,
                          local=solver == "fast-local", search_dtype=search)
    for li, (name, X) in enumerate(layers.items()):
        t_layer = time.perf_counter()
        if engine is not None:
            _fast_layer(engine, X, li, n_folds, res, ticker)
        else:
            _exact_layer(ops, X, Y, splits, inner, alphas, alpha_selection,
                         target_batch_size, np.dtype(dtype), res.scores[li],
                         res.chosen[li], res.inner[li], ticker)
        logger.info("Layer %s (%d/%d): %.1f s", name, li + 1, n_layers,
                    time.perf_counter() - t_layer)
        if engine is not None:
            c = engine.cost
            res.cv_desc["cost"] = {"gmac": c.macs / 1e9, "bf16_gmac": c.low_macs / 1e9,
                                   "eighs": c.eighs,
                                   "alphas_evaluated_per_target_fold":
                                       c.evals / max(c.n_fold_targets, 1),
                                   "alphas_refined_per_target_fold":
                                       c.refined / max(c.n_fold_targets, 1)}
        if on_layer is not None:
            on_layer(names[li], res.result([li]))
    for _ in ticker:  # closes the bar
        pass

    warn_edge_alphas(res.edges(list(range(n_layers))), alphas, stacklevel=3)
    elapsed = time.perf_counter() - t_start
    logger.info("Scored %d layer(s) in %.1f s (estimate %s)", n_layers, elapsed,
                _fmt_s(est["seconds"]))
    return res.result(list(range(n_layers)))


def _check_score_layers_args(layers, Y, runs, *, alphas, alpha_selection, dtype,
                             backend, device, target_batch_size, inner_cv, solver):
    """Validate :func:`score_layers`' inputs; the arrays, alpha grid and backend."""
    Y = np.asarray(Y)
    if Y.ndim != 2:
        raise ValueError(f"'Y' must be a 2-D array (n_samples, n_targets), got shape "
                         f"{Y.shape}.")
    if Y.shape[1] == 0:
        raise ValueError(f"'Y' has no targets (shape {Y.shape}).")
    check_finite("Y", Y)
    runs = np.asarray(runs)
    if runs.shape != (Y.shape[0],):
        raise ValueError(
            f"'runs' must have shape (n_samples,) = ({Y.shape[0]},) to match Y "
            f"{Y.shape}, got {runs.shape}.")
    _check_layers(layers, Y.shape[0], Y.shape)
    alphas = _check_alphas(alphas)
    check_option("alpha_selection", alpha_selection, ALPHA_SELECTIONS)
    check_option("dtype", dtype, ("float32", "float64"))
    if backend is None:
        backend = "numpy" if device == "cpu" else "torch"
    check_option("backend", backend, ("numpy", "torch"))
    if backend == "numpy" and device != "cpu":
        raise ValueError(f"backend='numpy' runs on device='cpu' only, got "
                         f"device={device!r}.")
    if int(target_batch_size) != target_batch_size or target_batch_size < 1:
        raise ValueError(
            f"'target_batch_size' must be a positive integer, got "
            f"{target_batch_size!r}.")
    if inner_cv is not None and (int(inner_cv) != inner_cv or inner_cv < 2):
        raise ValueError(f"'inner_cv' must be None or an int >= 2, got {inner_cv!r}.")

    check_option("solver", solver, SOLVERS)

    return Y, runs, alphas, backend


def _log_estimate(est: dict, shape: tuple[int, int, int], how: str) -> None:
    """Log the pre-fit estimate of a job of ``shape`` (layers, folds, targets)."""
    rates = f"{est['gemm_gmac_per_s']:.0f} GMAC/s"
    if est["bf16_gmac_per_s"]:
        rates += (f"; {est['bf16_gmac']:.0f} of them bfloat16 at "
                  f"{est['bf16_gmac_per_s']:.0f} GMAC/s")
    logger.info("Scoring %d layer(s) x %d fold(s) x %d target(s) (%s): estimated %s, "
                "~%.2f GB (%.0f GMAC at a measured %s)", *shape, how,
                _fmt_s(est["seconds"]), est["peak_gb"], est["gmac"], rates)


def _search_dtype(search_dtype: str, kind: str, dtype: str, device: str,
                  n_features: int) -> str:
    """The validation products' input dtype that ``search_dtype`` resolves to
    (``kind``: the solver that runs, "exact" for GCV)."""
    check_option("search_dtype", search_dtype, SEARCH_DTYPES)
    use_fast = kind != "exact"
    if search_dtype == "auto":
        # the local search evaluates ~4 alphas: two of them again in float32
        # leave no gain (measured 47.5 s per layer at LPP size, above float32)
        native = (kind == "fast" and dtype == "float32" and device == "cpu"
                  and n_features >= AUTO_BF16_MIN_FEATURES
                  and bf16_isa() in AUTO_BF16_ISAS)
        return "bfloat16" if native else dtype
    if search_dtype == "bfloat16" and not (use_fast and dtype == "float32"):
        raise ValueError("search_dtype='bfloat16' needs a fast solver with "
                         "alpha_selection='inner-cv' and dtype='float32'; got "
                         f"{'dtype=' + repr(dtype) if use_fast else 'the exact path'}"
                         ".")
    return dtype if search_dtype == "float32" else search_dtype


def _outer_inner_splits(runs, cv, groups, gap, alpha_selection, alphas, inner_cv):
    """Outer folds, the CV groups as given, the inner-CV groups and inner folds."""
    splits = run_splits(runs, cv, groups=groups, gap=gap)
    cv_groups = groups
    # with one run split into blocks, the blocks act as runs for the inner CV
    groups = runs if groups is None else np.asarray(groups)
    if len(run_order(groups)) == 1:
        groups = np.empty(len(runs), dtype=np.int64)
        for i, (_, test) in enumerate(splits):
            groups[test] = i
    inner = [None] * len(splits)
    if alpha_selection == "inner-cv" and len(alphas) > 1:
        inner = [inner_splits(train, groups, runs, inner_cv, gap=gap)
                 for train, _ in splits]
    return splits, cv_groups, groups, inner


def _cv_description(cv, n_folds, runs, splits, cv_groups, gap, alpha_selection,
                    inner_cv, alphas, kind) -> dict[str, Any]:
    """The ``LayerScores.cv`` record of the scheme."""
    return {
        "scheme": cv if isinstance(cv, str) else f"{int(cv)}-fold contiguous",
        "n_folds": n_folds,
        "folds": describe_splits(runs, splits, groups=cv_groups),
        "runs": [str(r) for r in run_order(runs)],
        "groups": "runs" if cv_groups is None else "stimuli",
        "gap_scans": int(gap),
        "alpha_selection": alpha_selection,
        "inner_cv": "leave-one-run-out" if inner_cv is None else int(inner_cv),
        "alphas": alphas.tolist(),
        "standardize": "X and Y z-scored with training statistics per fold",
        "metric": "pearson_r",
        "solver": kind,
    }


def _fast_layer(engine, X, li: int, n_folds: int, res: _LayerResults,
                ticker) -> None:
    """One layer through the shared-CV engine (scores and chosen alphas in place)."""
    # no warm start across layers: a layer's result does not depend on
    # the other layers of the call (cached layers stay exact on resume)
    sc, best, val = engine.score_layer(X, on_fold=lambda: next(ticker, None))
    for f in range(n_folds):
        res.scores[li, f] = sc[f]
        a = res.alphas[best[f]]
        const = engine.folds[f].y_const
        a[const] = np.nan
        res.chosen[li, f] = a
        res.inner[li, f] = np.where(const, np.nan, val[f])


@dataclass
class _LayerResults:
    """Scores and chosen alphas of every layer as they are filled in."""

    scores: np.ndarray
    chosen: np.ndarray
    inner: np.ndarray
    alphas: np.ndarray
    names: list
    n_samples: int
    subject: Any
    model_id: Any
    cv_desc: dict
    params: dict

    def edges(self, idx):
        return edge_alpha_summary(self.chosen[idx], self.scores[idx], self.alphas,
                                  n_samples=self.n_samples)

    def result(self, idx) -> LayerScores:
        e = self.edges(idx)
        return LayerScores(
            scores=self.scores[idx], best_alphas=self.chosen[idx],
            inner_scores=self.inner[idx], layer_names=tuple(self.names[i] for i in idx),
            cv={**self.cv_desc,
                "edge_alpha_fraction": {"low": e["low"], "high": e["high"]},
                "edge_alpha_predicted": {"n": e["n_predicted"],
                                         "r_threshold": e["r_threshold"]}},
            subject=self.subject, model_id=self.model_id,
            provenance=make_provenance("score_layers", params=self.params,
                                       inputs={"Y_shape": [self.n_samples,
                                                           self.scores.shape[2]]}))


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _exact_layer(ops, X, Y, splits, inner, alphas, alpha_selection, target_batch_size,
                 np_dtype, scores, chosen, inner_scores, ticker) -> None:
    """The direct solve of one layer, fold by fold (fills ``scores``, ``chosen``
    and ``inner_scores``)."""
    alphas64 = ops.asarray(alphas, ops.f64)
    n_targets = Y.shape[1]
    for f, (train, test) in enumerate(splits):
        Ystd, y_const = _standardize(ops, Y, train, np_dtype)
        y_test_const = ~(Y[test].std(0) > 0)
        Xstd, _ = _standardize(ops, X, train, np_dtype)
        solver = _FoldSolver(ops, ops.asarray(Xstd[train]), ops.asarray(Xstd[test]),
                             alphas64, inner[f], alpha_selection)
        for start in range(0, n_targets, target_batch_size):
            stop = min(n_targets, start + target_batch_size)
            pred, best, val = solver.solve(ops.asarray(Ystd[train, start:stop]))
            pred = ops.numpy(pred)
            best = ops.numpy(best)
            r = pearson_r(Ystd[test, start:stop], pred)
            r[y_const[start:stop] | y_test_const[start:stop]] = np.nan
            a = alphas[best]
            a[y_const[start:stop]] = np.nan
            scores[f, start:stop] = r
            chosen[f, start:stop] = a
            val[y_const[start:stop]] = np.nan
            inner_scores[f, start:stop] = val
        del Xstd, Ystd, solver
        next(ticker, None)
