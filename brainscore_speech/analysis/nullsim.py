"""Per-subject score maps for validity checks, with structure the analysis ignores.

:func:`simulate_layer_scores` builds per-subject
:class:`~brainscore_speech.containers.LayerScores` whose errors have the structure
real cross-validated scores have and the group analysis never models:

- per-fold errors correlated across layers (``layer_corr``: an untrained network's
  layers are nearly alike, 0.9-0.95; a trained one's much less, ~0.3), with an
  exchangeable (``"exchangeable"``) or nearest-layer (``"ar1"``) structure;
- spatially smooth errors on the mesh (``smoothing_steps`` of neighbour averaging
  per hemisphere);
- heavy tails (Student t with ``df`` degrees of freedom) and a different noise
  level per subject (log-normal, ``subject_sd_jitter``);
- errors added in the Fisher-z domain, so ``r = tanh(atanh(r_true) + error)`` is
  bounded and not Gaussian;
- independent errors between outer folds (their test data do not overlap), and
  inner-CV validation scores (``inner_scores``, what the layer selection uses)
  with errors of their own, smaller by ``sqrt(n_folds - 1)`` (they pool the
  training runs), independent of the held-out scores.

The true score ``true_r`` is common to all subjects: a global null is
``true_r = 0`` (or one value for every layer and model); planted effects are
arrays of shape (n_layers, n_targets). :func:`make_icosphere` gives a small closed
mesh (an icosahedron subdivided ``n`` times, like fsaverage's) for fast checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._io import make_provenance
from .._validation import check_option, check_random_state
from ..containers import LayerScores

__all__ = ["make_icosphere", "simulate_encoding_data", "simulate_layer_scores",
           "smoothing_operator"]


def make_icosphere(n_subdivisions: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A unit icosphere (fsaverage-like triangulation, coarser).

    Parameters
    ----------
    n_subdivisions : int, default=3
        ``10 * 4 ** n + 2`` vertices (3: 642, 4: 2562, 5: 10242 as fsaverage5).

    Returns
    -------
    coords : array of shape (n_vertices, 3)
        On the unit sphere.
    faces : array of shape (20 * 4 ** n, 3) of int
    """
    if not 0 <= int(n_subdivisions) <= 6:
        raise ValueError(f"'n_subdivisions' must be between 0 and 6, got "
                         f"{n_subdivisions}.")
    t = (1 + 5 ** 0.5) / 2
    verts = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t),
             (0, -1, -t), (0, 1, -t), (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    faces = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9),
             (5, 11, 4), (11, 10, 2), (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2),
             (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5), (2, 4, 11), (6, 2, 10),
             (8, 6, 7), (9, 8, 1)]
    coords = [np.asarray(v, float) / np.linalg.norm(v) for v in verts]
    for _ in range(int(n_subdivisions)):
        cache: dict[tuple[int, int], int] = {}

        def mid(a: int, b: int, cache: dict = cache) -> int:
            key = (min(a, b), max(a, b))
            if key not in cache:
                m = coords[a] + coords[b]
                coords.append(m / np.linalg.norm(m))
                cache[key] = len(coords) - 1
            return cache[key]

        new = []
        for a, b, c in faces:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            new += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        faces = new
    return np.asarray(coords), np.asarray(faces, dtype=int)


def smoothing_operator(adjacency, n_steps: int):
    """``n_steps`` of neighbour averaging, scaled to keep unit variance per vertex.

    Parameters
    ----------
    adjacency : scipy sparse matrix of shape (n_vertices, n_vertices)
    n_steps : int

    Returns
    -------
    scipy.sparse.csr_matrix
        ``S`` such that ``S @ w`` is smooth with unit variance when ``w`` is white
        with unit variance.
    """
    from scipy import sparse

    a = sparse.csr_matrix(adjacency, dtype=float)
    a = ((a + a.T) > 0).astype(float) + sparse.identity(a.shape[0], format="csr")
    w = sparse.diags(1.0 / np.asarray(a.sum(axis=1)).ravel()) @ a
    op = sparse.identity(a.shape[0], format="csr")
    for _ in range(int(n_steps)):
        op = w @ op
    norm = np.sqrt(np.asarray(op.multiply(op).sum(axis=1)).ravel())
    return sparse.csr_matrix(sparse.diags(1.0 / norm) @ op)


def _layer_mixing(n_layers: int, rho: float, structure: str) -> np.ndarray:
    """Cholesky factor of the layer correlation matrix."""
    idx = np.arange(n_layers)
    if structure == "exchangeable":
        corr = np.full((n_layers, n_layers), rho) + (1 - rho) * np.eye(n_layers)
    else:  # ar1 with the given mean correlation between neighbours
        corr = rho ** np.abs(idx[:, None] - idx[None, :])
    return np.linalg.cholesky(corr)


def _smooth_errors(rng, ops, hemi_sizes, chol, n_layers, n_folds, df, t_scale):
    """Unit errors of shape (n_layers, n_folds, n_targets): smooth on the mesh,
    Student t, correlated between the layers of each fold."""
    fields = []
    for h, op in ops.items():
        n_h = hemi_sizes[h]
        if np.isfinite(df):
            white = rng.standard_t(df, size=(n_h, n_layers * n_folds)) / t_scale
        else:
            white = rng.normal(size=(n_h, n_layers * n_folds))
        fields.append(op @ white)
    # rows: (layer, fold) pairs; correlate the layers within each fold
    n_targets = sum(hemi_sizes.values())
    e = np.concatenate(fields, axis=0).T.reshape(n_layers, n_folds * n_targets)
    return (chol @ e).reshape(n_layers, n_folds, n_targets)


def simulate_layer_scores(
    n_subjects: int, adjacency: Mapping[str, Any], *,
    layer_names: Sequence[str] | int = 19, n_folds: int = 5, layer_corr: float = 0.3,
    structure: str = "exchangeable", true_r: float | np.ndarray = 0.0,
    noise_sd: float = 0.07, subject_sd_jitter: float = 0.3, df: float = 5.0,
    smoothing_steps: int = 3, model_id: str = "model", space: str = "sim",
    model_meta: Mapping[str, Any] | None = None,
    subjects: Sequence[str] | None = None,
    random_state: int | np.random.Generator | None = 0,
) -> list[LayerScores]:
    """Cross-validated layer scores of ``n_subjects`` subjects (see module docstring).

    Parameters
    ----------
    n_subjects : int
    adjacency : dict of str to scipy sparse matrix
        Mesh adjacency per hemisphere (``{"L": ..., "R": ...}``, e.g. from
        :func:`~brainscore_speech.analysis.mesh_adjacency`); targets are the
        hemispheres' vertices concatenated in this order.
    layer_names : sequence of str or int, default=19
        Layer names, or a number of layers (named ``layer00``...).
    n_folds : int, default=5
    layer_corr : float, default=0.3
        Correlation of one fold's errors between layers, in [0, 1).
    structure : {"exchangeable", "ar1"}, default="exchangeable"
        ``"ar1"``: correlation ``layer_corr ** |i - j|`` between layers i and j.
    true_r : float or array of shape (n_layers, n_targets), default=0.0
        True score shared by every subject (0: global null).
    noise_sd : float, default=0.07
        Typical standard deviation of one fold's error in Fisher z (about
        ``1 / sqrt(n_test_samples)``: 0.07 for ~200 test TRs).
    subject_sd_jitter : float, default=0.3
        Log-normal spread of the noise level across subjects.
    df : float, default=5.0
        Degrees of freedom of the Student-t errors (``inf`` for Gaussian).
    smoothing_steps : int, default=3
    model_id, space : str
    model_meta : dict, optional
    subjects : sequence of str, optional
    random_state : int, Generator or None, default=0

    Returns
    -------
    list of LayerScores
        ``scores`` of shape (n_layers, n_folds, n_targets), float32.
    """
    check_option("structure", structure, ("exchangeable", "ar1"))
    if not 0 <= layer_corr < 1:
        raise ValueError(f"'layer_corr' must be in [0, 1), got {layer_corr}.")
    if n_subjects < 1 or n_folds < 1:
        raise ValueError(f"'n_subjects' and 'n_folds' must be >= 1, got {n_subjects} "
                         f"and {n_folds}.")
    rng = check_random_state(random_state)
    names = (tuple(f"layer{i:02d}" for i in range(layer_names))
             if isinstance(layer_names, (int, np.integer)) else tuple(layer_names))
    n_layers = len(names)
    hemi_sizes = {h: int(a.shape[0]) for h, a in adjacency.items()}
    n_targets = sum(hemi_sizes.values())
    z_true = np.arctanh(np.broadcast_to(np.asarray(true_r, float),
                                        (n_layers, n_targets)))
    ops = {h: smoothing_operator(a, smoothing_steps) for h, a in adjacency.items()}
    chol = _layer_mixing(n_layers, float(layer_corr), structure)
    t_scale = np.sqrt(df / (df - 2)) if np.isfinite(df) else 1.0
    subjects = ([f"{i + 1:02d}" for i in range(n_subjects)] if subjects is None
                else [str(s) for s in subjects])
    meta = dict(model_meta or {})
    params = {"layer_corr": layer_corr, "structure": structure, "noise_sd": noise_sd,
              "df": df, "smoothing_steps": smoothing_steps, "n_folds": n_folds}
    prov = make_provenance("simulate_layer_scores", params=params)
    out = []
    for sub in subjects:
        sd = noise_sd * np.exp(rng.normal(0.0, subject_sd_jitter))
        e = _smooth_errors(rng, ops, hemi_sizes, chol, n_layers, n_folds, df, t_scale)
        scores = np.tanh(z_true[:, None, :] + sd * e).astype(np.float32)
        e_in = _smooth_errors(rng, ops, hemi_sizes, chol, n_layers, n_folds, df,
                              t_scale)
        sd_in = sd / np.sqrt(max(n_folds - 1, 1))
        inner = np.tanh(z_true[:, None, :] + sd_in * e_in).astype(np.float32)
        out.append(LayerScores(
            scores=scores, best_alphas=np.ones_like(scores), inner_scores=inner,
            layer_names=names,
            cv={"scheme": "simulated", "n_folds": n_folds}, subject=sub,
            model_id=model_id, space=space, model_meta=meta, hemi_sizes=hemi_sizes,
            provenance=prov))
    return out


def simulate_encoding_data(
    *, n_runs: int = 5, scans_per_run: int = 100, n_layers: int = 10,
    n_features: int = 24, n_targets: int = 800, feature_ar: float = 0.8,
    noise_ar: float = 0.5, shared: float = 0.5, planted_layer: int | None = None,
    planted_targets: int = 0, planted_r: float = 0.3,
    random_state: int | np.random.Generator | None = 0,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Layer features and BOLD for checking the real scorer (not its scores).

    A generator that shares nothing with the analysis: features and noise are
    first-order autoregressive *within* each run (no HRF; runs are scanned
    separately, so nothing crosses a run boundary), every layer is a common
    component plus its own (correlated layers, as in real networks), and the BOLD
    is noise independent of the features except, optionally, in the first
    ``planted_targets`` targets, which get a random linear read-out of one layer.

    Parameters
    ----------
    n_runs, scans_per_run : int, default=5, 100
    n_layers, n_features : int, default=10, 24
    n_targets : int, default=800
    feature_ar, noise_ar : float, default=0.8, 0.5
        AR(1) coefficients of the features and of the noise.
    shared : float, default=0.5
        Weight of the component common to all layers.
    planted_layer : int, optional
        Layer the planted targets are driven by (None: a global null).
    planted_targets : int, default=0
    planted_r : float, default=0.3
        Correlation of a planted target with its signal (signal variance
        ``r^2``, noise ``1 - r^2``).
    random_state : int, Generator or None, default=0

    Returns
    -------
    layers : dict of str to array of shape (n_samples, n_features), float32
        ``l00``, ``l01``... in order.
    Y : array of shape (n_samples, n_targets), float32
    runs : array of shape (n_samples,) of int
    """
    from scipy.signal import lfilter

    if planted_layer is not None and not 0 <= planted_layer < n_layers:
        raise ValueError(f"'planted_layer' must be in [0, {n_layers}), got "
                         f"{planted_layer}.")
    if not 0 <= planted_targets <= n_targets:
        raise ValueError(f"'planted_targets' must be in [0, {n_targets}], got "
                         f"{planted_targets}.")
    rng = check_random_state(random_state)
    runs = np.repeat(np.arange(n_runs), scans_per_run)

    def ar(x, a):
        return np.concatenate([lfilter([1.0], [1.0, -a], x[runs == r], axis=0)
                               for r in range(n_runs)])

    n = runs.size
    base = ar(rng.normal(size=(n, n_features)), feature_ar)
    layers = {f"l{i:02d}": shared * base + ar(rng.normal(size=(n, n_features)),
                                              feature_ar)
              for i in range(n_layers)}
    Y = ar(rng.normal(size=(n, n_targets)), noise_ar)
    Y /= Y.std(0)
    if planted_layer is not None and planted_targets:
        x = layers[f"l{planted_layer:02d}"]
        sig = x @ rng.normal(size=(n_features, planted_targets))
        sig /= sig.std(0)
        k = slice(0, planted_targets)
        Y[:, k] = planted_r * sig + np.sqrt(1 - planted_r ** 2) * Y[:, k]
    return ({k: v.astype(np.float32) for k, v in layers.items()},
            Y.astype(np.float32), runs)
