"""Second-level (across-subjects) statistics on brain-score maps.

Every test works on a stack of per-subject maps of shape ``(n_subjects, n_targets)``
(brain scores, or paired differences between two models), runs **separately per
hemisphere** when ``hemi_sizes`` is given, and returns a
:class:`~brainscore_speech.containers.GroupMap` that records ``n_subjects``.

Tests (METHODS.md section 11):

- ``"wilcoxon"``: two-sided one-sample Wilcoxon signed-rank test against 0 per
  target (:func:`scipy.stats.wilcoxon`), Benjamini-Hochberg FDR within hemisphere
  (:func:`mne.stats.fdr_correction`).
- ``"signflip"``: sign-flip permutation test of the mean per target (exhaustive
  when ``2 ** n_subjects <= n_permutations``), then the same FDR.
- ``"cluster"``: cluster-based permutation test on the mesh adjacency
  (:func:`mne.stats.permutation_cluster_1samp_test` with
  :func:`mne.spatial_tris_adjacency`); controls the family-wise error over
  clusters of both hemispheres together (one maximum statistic).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from .. import spaces as _spaces
from .._validation import check_int, check_option, check_random_state, check_scalar
from ..containers import GroupMap

__all__ = [
    "group_test",
    "fdr_by_hemi",
    "signflip_pvalues",
    "cluster_test",
    "mesh_adjacency",
    "hemi_slices",
]

TESTS = ("wilcoxon", "signflip", "ttest", "cluster")


def hemi_slices(n_targets: int, hemi_sizes: Mapping[str, int] | None
                ) -> dict[str, slice]:
    """Slices of the concatenated target axis for each hemisphere.

    Parameters
    ----------
    n_targets : int
        Length of the target axis.
    hemi_sizes : dict of str to int or None
        ``{"L": n_left, "R": n_right}``; None means one block called ``"all"``.

    Returns
    -------
    dict of str to slice

    See Also
    --------
    brainscore_speech.spaces.hemi_slices : the one definition (this wraps it).
    """
    return _spaces.hemi_slices(hemi_sizes, n_targets)


def _check_stack(data: Any, name: str = "data") -> np.ndarray:
    arr = np.asarray(data, dtype=float)
    if arr.ndim != 2:
        raise ValueError(
            f"{name!r} must have shape (n_subjects, n_targets), got {arr.shape}."
        )
    if arr.shape[0] < 2:
        raise ValueError(
            f"{name!r} needs at least 2 subjects for a group test, got {arr.shape[0]}."
        )
    return arr


def fdr_by_hemi(p_values: np.ndarray, hemi_sizes: Mapping[str, int] | None = None,
                *, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini-Hochberg FDR within each hemisphere (NaN p-values are ignored).

    Parameters
    ----------
    p_values : array of shape (n_targets,)
    hemi_sizes : dict of str to int, optional
    alpha : float, default=0.05

    Returns
    -------
    reject : array of shape (n_targets,) of bool
    p_fdr : array of shape (n_targets,)
        Corrected p-values (NaN where the input was NaN).
    """
    from mne.stats import fdr_correction

    p = np.asarray(p_values, dtype=float)
    reject = np.zeros(p.shape, bool)
    p_fdr = np.full(p.shape, np.nan)
    for sl in hemi_slices(p.size, hemi_sizes).values():
        block = p[sl]
        ok = np.isfinite(block)
        if ok.any():
            rej, pc = fdr_correction(block[ok], alpha=alpha)
            idx = np.arange(sl.start, sl.stop)[ok]
            reject[idx], p_fdr[idx] = rej, pc
    return reject, p_fdr


def signflip_pvalues(data: np.ndarray, *, n_permutations: int = 1000,
                     random_state: int | np.random.Generator | None = 0
                     ) -> np.ndarray:
    """Two-sided sign-flip permutation p-values of the mean, per target.

    Parameters
    ----------
    data : array of shape (n_subjects, n_targets)
        Per-subject effects (NaN targets give NaN p-values).
    n_permutations : int, default=1000
        Number of random sign patterns; all ``2 ** n_subjects`` patterns are used
        (exact test) when that is not larger.
    random_state : int, Generator or None, default=0

    Returns
    -------
    p_values : array of shape (n_targets,)
        ``(1 + #{|mean_perm| >= |mean_obs|}) / (1 + n_perm)`` (the identity pattern
        counts once when the enumeration is exhaustive).
    """
    x = _check_stack(data)
    n_sub = x.shape[0]
    rng = check_random_state(random_state)
    if 2 ** n_sub <= n_permutations:
        # exhaustive: every sign pattern, identity included, so p >= 1 / 2**n
        codes = np.arange(2 ** n_sub)
        signs = 1 - 2 * ((codes[:, None] >> np.arange(n_sub)) & 1)
        exhaustive = True
    else:
        signs = rng.choice([-1, 1], size=(n_permutations, n_sub))
        exhaustive = False
    obs = np.abs(x.mean(axis=0))
    count = np.zeros(x.shape[1])
    for chunk in np.array_split(signs, max(1, len(signs) // 256)):
        perm = np.abs(chunk @ np.nan_to_num(x) / n_sub)  # (n_chunk, n_targets)
        count += (perm >= obs - 1e-12).sum(axis=0)
    if exhaustive:
        p = count / len(signs)
    else:
        p = (1 + count) / (1 + len(signs))
    p[~np.all(np.isfinite(x), axis=0)] = np.nan
    return p


def mesh_adjacency(faces: np.ndarray):
    """Vertex adjacency (scipy sparse, COO) of a triangle mesh.

    Parameters
    ----------
    faces : array of shape (n_faces, 3) of int

    Returns
    -------
    scipy.sparse matrix of shape (n_vertices, n_vertices)
    """
    import mne

    faces = np.asarray(faces)
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"'faces' must have shape (n_faces, 3), got {faces.shape}.")
    return mne.spatial_tris_adjacency(faces, verbose="error")


def cluster_test(data: np.ndarray, adjacency: Mapping[str, Any] | Any, *,
                 hemi_sizes: Mapping[str, int] | None = None,
                 n_permutations: int = 1000, threshold: float | None = None,
                 alpha: float = 0.05,
                 random_state: int | np.random.Generator | None = 0,
                 flipped: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Cluster-based sign-flip permutation test on a mesh, both hemispheres at once.

    The hemispheres' adjacencies are joined block-diagonally and tested in one
    call of :func:`mne.stats.permutation_cluster_1samp_test`, so every permutation
    contributes one maximum cluster statistic over *both* hemispheres and the
    family-wise error is controlled over the whole map (testing each hemisphere
    on its own would allow about ``1 - (1 - alpha) ** 2`` for two).

    Parameters
    ----------
    data : array of shape (n_subjects, n_targets)
        Per-subject values whose sign is exchangeable under the null (e.g. brain
        scores of a layer chosen independently of them, or paired differences).
    adjacency : sparse matrix or dict of str to sparse matrix
        One adjacency per hemisphere (keys of ``hemi_sizes``), or one matrix when
        ``hemi_sizes`` is None (e.g. from :func:`mesh_adjacency`).
    hemi_sizes : dict of str to int, optional
    n_permutations : int, default=1000
    threshold : float, optional
        Cluster-forming t threshold; default the two-sided t quantile at p = 0.05
        with ``n_subjects - 1`` degrees of freedom.
    alpha : float, default=0.05
    random_state : int, Generator or None, default=0
    flipped : array of shape (n_subjects, n_targets), optional
        What each subject's value would be had its raw scores (every layer and
        fold) the opposite sign, *with the layer selection repeated* (e.g.
        :func:`~brainscore_speech.analysis.reduce_layer_scores` of the negated
        scores). A permutation then gives each subject either ``data`` (sign +)
        or ``flipped`` (sign -), so the selection is redone inside every
        permutation and the test is exact when each subject's raw scores are
        symmetric about 0 under the null, however the values were selected. Without
        it ``flipped = -data`` (the usual sign flip, run by MNE).

    Returns
    -------
    mask : array of shape (n_targets,) of bool
        Targets inside a cluster with p < alpha.
    p_values : array of shape (n_targets,)
        p-value of the cluster each target belongs to (1 outside clusters).
    info : dict
        ``n_clusters``, the list of cluster p-values per hemisphere
        (``cluster_p``), ``threshold_t`` and ``familywise`` (what the error rate
        is controlled over).
    """
    from mne.stats import permutation_cluster_1samp_test
    from scipy import sparse, stats

    x = _check_stack(data)
    n_sub, n_targets = x.shape
    slices = hemi_slices(n_targets, hemi_sizes)
    if not isinstance(adjacency, Mapping):
        if len(slices) != 1:
            raise ValueError(
                "'adjacency' must be a dict with one matrix per hemisphere "
                f"{list(slices)} when 'hemi_sizes' is given."
            )
        adjacency = {next(iter(slices)): adjacency}
    if threshold is None:
        threshold = float(stats.t.ppf(1 - 0.025, n_sub - 1))
    rng = check_random_state(random_state)
    blocks = []
    for hemi, sl in slices.items():
        if hemi not in adjacency:
            raise ValueError(
                f"No adjacency for hemisphere {hemi!r}; got {list(adjacency)}."
            )
        adj = adjacency[hemi]
        n_h = sl.stop - sl.start
        if adj.shape != (n_h, n_h):
            raise ValueError(
                f"Adjacency of hemisphere {hemi!r} has shape {adj.shape} but the data "
                f"have {n_h} targets there: the data and the mesh do not match."
            )
        blocks.append(sparse.coo_matrix(adj))
    joint = sparse.block_diag(blocks, format="coo") if len(blocks) > 1 else blocks[0]
    seed = int(rng.integers(2 ** 31 - 1))
    if flipped is None:
        _, clusters, cluster_p, _ = permutation_cluster_1samp_test(
            np.nan_to_num(x), threshold=threshold, n_permutations=n_permutations,
            tail=0, adjacency=joint, out_type="indices",
            rng=np.random.default_rng(seed), verbose="error")
    else:
        fl = np.asarray(flipped, dtype=float)
        if fl.shape != x.shape:
            raise ValueError(f"'flipped' must have the shape of 'data' {x.shape}, got "
                             f"{fl.shape}.")
        clusters, cluster_p = _cluster_perm_selected(
            np.nan_to_num(x), np.nan_to_num(fl), joint, threshold, n_permutations,
            np.random.default_rng(seed))
    mask = np.zeros(n_targets, bool)
    p_out = np.ones(n_targets)
    info: dict[str, Any] = {"threshold_t": threshold,
                            "cluster_p": {h: [] for h in slices},
                            "familywise": "all hemispheres together (one maximum "
                                          "cluster statistic per permutation)"}
    starts = {h: sl.start for h, sl in slices.items()}
    for cl, p in zip(clusters, cluster_p):
        idx = np.asarray(cl[0])
        hemi = max((h for h in slices if starts[h] <= idx[0]), key=starts.get)
        info["cluster_p"][hemi].append(float(p))
        p_out[idx] = np.minimum(p_out[idx], p)
        if p < alpha:
            mask[idx] = True
    info["n_clusters"] = int(len(clusters))
    return mask, p_out, info


def _tstat(x: np.ndarray) -> np.ndarray:
    n = x.shape[0]
    sd = x.std(axis=0, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sd > 0, x.mean(axis=0) / (sd / np.sqrt(n)), 0.0)


def _clusters(t: np.ndarray, adj, threshold: float) -> list[tuple[np.ndarray, float]]:
    """Connected supra-threshold clusters (positive and negative) and their t sums."""
    from scipy.sparse.csgraph import connected_components

    out = []
    for sign in (1, -1):
        idx = np.flatnonzero(sign * t > threshold)
        if idx.size == 0:
            continue
        n_comp, lab = connected_components(adj[idx][:, idx], directed=False)
        sums = np.bincount(lab, weights=t[idx], minlength=n_comp)
        order = np.argsort(lab, kind="stable")
        bounds = np.searchsorted(lab[order], np.arange(n_comp + 1))
        out += [(idx[order[bounds[c]:bounds[c + 1]]], float(sums[c]))
                for c in range(n_comp)]
    return out


def _cluster_perm_selected(x: np.ndarray, flipped: np.ndarray, adjacency,
                           threshold: float, n_permutations: int,
                           rng: np.random.Generator) -> tuple[list, np.ndarray]:
    """Cluster-mass permutation test whose sign flips pick ``flipped`` rows.

    Same statistic as :func:`mne.stats.permutation_cluster_1samp_test` (t, two
    tails, sum of t per cluster, maximum |sum| per permutation, the observed data
    counted once; exhaustive when ``2 ** n_subjects <= n_permutations``).
    """
    from scipy import sparse

    adj = sparse.csr_matrix(adjacency)
    n_sub = x.shape[0]
    observed = _clusters(_tstat(x), adj, threshold)
    if 2 ** n_sub <= n_permutations:
        codes = np.arange(1, 2 ** n_sub)  # identity (0) counted below
        flips = ((codes[:, None] >> np.arange(n_sub)) & 1).astype(bool)
    else:
        flips = rng.random((n_permutations - 1, n_sub)) < 0.5
    null = np.empty(len(flips) + 1)
    null[0] = max((abs(m) for _, m in observed), default=0.0)
    for i, f in enumerate(flips, start=1):
        xp = np.where(f[:, None], flipped, x)
        null[i] = max((abs(m) for _, m in _clusters(_tstat(xp), adj, threshold)),
                      default=0.0)
    clusters = [(idx,) for idx, _ in observed]
    p = np.array([(null >= abs(m) - 1e-12).mean() for _, m in observed])
    return clusters, p


def _select_correct(p: np.ndarray, n_selected: int) -> np.ndarray:
    return np.minimum(1.0, p * int(n_selected)) if n_selected > 1 else p


def min_attainable_p(test: str, n_subjects: int, n_permutations: int = 1000) -> float:
    """Smallest two-sided p-value ``test`` can give with ``n_subjects`` (0 if none).

    Wilcoxon (exact) and an exhaustive sign-flip test cannot go below
    ``2 / 2 ** n_subjects`` (the observed sign pattern and its mirror); a
    sign-flip test with random patterns (``2 ** n_subjects > n_permutations``)
    cannot go below ``1 / (n_permutations + 1)``.
    """
    if test == "wilcoxon":
        return min(1.0, 2.0 / 2 ** n_subjects)
    if test == "signflip":
        if 2 ** n_subjects <= n_permutations:
            return min(1.0, 2.0 / 2 ** n_subjects)
        return 1.0 / (n_permutations + 1)
    return 0.0


def _warn_underpowered(test: str, n_subjects: int, alpha: float,
                       n_permutations: int) -> None:
    floor = min_attainable_p(test, n_subjects, n_permutations)
    if floor > alpha:
        import warnings

        from ..exceptions import BrainscoreWarning

        hint = ("more permutations or " if test == "signflip"
                and 2 ** n_subjects > n_permutations else "")
        warnings.warn(
            f"With n_subjects={n_subjects}, the smallest p-value a {test} test can "
            f"reach is {floor:.3g} > alpha={alpha}: nothing can be significant. Use "
            f"{hint}test='ttest' (parametric one-sample t-test) or more subjects.",
            BrainscoreWarning, stacklevel=3)


def group_test(data: np.ndarray, *, test: Literal["wilcoxon", "signflip", "ttest",
                                                  "cluster"]
               = "wilcoxon", hemi_sizes: Mapping[str, int] | None = None,
               alpha: float = 0.05, n_permutations: int = 1000, adjacency=None,
               name: str = "", space: str | None = None,
               random_state: int | np.random.Generator | None = 0,
               extra: Mapping[str, Any] | None = None,
               n_selected: int = 1, flipped: np.ndarray | None = None) -> GroupMap:
    """Test per target whether the subjects' values differ from 0.

    Parameters
    ----------
    data : array of shape (n_subjects, n_targets)
        Brain scores (Pearson r) or paired differences, one row per subject.
    test : {"wilcoxon", "signflip", "ttest", "cluster"}, default="wilcoxon"
        See the module docstring. ``"cluster"`` needs ``adjacency``. ``"ttest"``
        is a parametric one-sample t-test (scipy), the only choice that can reach
        significance with very few subjects (a warning says when the others
        cannot).
    hemi_sizes : dict of str to int, optional
        Hemispheres are corrected separately.
    alpha : float, default=0.05
        Significance level after correction.
    n_permutations : int, default=1000
    adjacency : sparse matrix or dict of str to sparse matrix, optional
    name : str
        What the map shows.
    space : str, optional
    random_state : int, Generator or None, default=0
    extra : dict, optional
        Stored in ``GroupMap.extra``.
    n_selected : int, default=1
        When each target's values were *selected* as the best of ``n_selected``
        candidates (e.g. the best layer of the subject-averaged scores), testing them
        is biased upwards; the p-values are then Bonferroni-multiplied by
        ``n_selected`` (a valid bound on selecting the maximum) before FDR.
    flipped : array of shape (n_subjects, n_targets), optional
        ``test="cluster"`` only: each subject's value recomputed, selection
        included, from its negated raw scores; see :func:`cluster_test`.

    Returns
    -------
    GroupMap
        ``statistic`` is the mean over subjects; ``mask`` the corrected significance
        (for ``"cluster"``, ``p_values`` and ``p_fdr`` hold the cluster p-value).
    """
    from scipy import stats

    check_option("test", test, TESTS)
    x = _check_stack(data)
    check_scalar("alpha", alpha, low=0, high=1, inclusive="neither",
                 expected="in (0, 1)")
    finite = np.all(np.isfinite(x), axis=0)
    check_int("n_selected", n_selected, low=1, expected=">= 1")
    info: dict[str, Any] = dict(extra or {})
    _warn_underpowered(test, x.shape[0], alpha, n_permutations)
    if test == "ttest":
        p = np.full(x.shape[1], np.nan)
        varying = finite & (np.nanstd(x, axis=0) > 0)
        if varying.any():
            p[varying] = stats.ttest_1samp(x[:, varying], 0.0, axis=0).pvalue
        p[finite & ~varying] = 1.0
        p = _select_correct(p, n_selected)
        mask, p_fdr = fdr_by_hemi(p, hemi_sizes, alpha=alpha)
    elif test == "wilcoxon":
        p = np.full(x.shape[1], np.nan)
        # all-zero targets (e.g. two identical models) cannot be ranked: p = 1
        nonzero = finite & np.any(x != 0, axis=0)
        if nonzero.any():
            p[nonzero] = stats.wilcoxon(x[:, nonzero], axis=0).pvalue
        p[finite & ~nonzero] = 1.0
        p = _select_correct(p, n_selected)
        mask, p_fdr = fdr_by_hemi(p, hemi_sizes, alpha=alpha)
    elif test == "signflip":
        p = signflip_pvalues(x, n_permutations=n_permutations,
                             random_state=random_state)
        p = _select_correct(p, n_selected)
        mask, p_fdr = fdr_by_hemi(p, hemi_sizes, alpha=alpha)
        info["n_permutations"] = min(n_permutations, 2 ** x.shape[0])
    else:
        if adjacency is None:
            raise ValueError(
                "test='cluster' needs 'adjacency' (one sparse matrix per hemisphere; "
                "see brainscore_speech.analysis.mesh_adjacency)."
            )
        mask, p, cinfo = cluster_test(x, adjacency, hemi_sizes=hemi_sizes,
                                      n_permutations=n_permutations, alpha=alpha,
                                      random_state=random_state, flipped=flipped)
        cinfo["selection_in_permutations"] = flipped is not None
        p_fdr = p.copy()
        mask &= finite
        info.update(cinfo)
    stat = np.where(finite, np.nan_to_num(x).mean(axis=0), np.nan)
    if n_selected > 1:
        info["n_selected"] = int(n_selected)
    info["n_significant"] = {h: int(mask[sl].sum())
                             for h, sl in hemi_slices(x.shape[1], hemi_sizes).items()}
    return GroupMap(statistic=stat, p_values=p, p_fdr=p_fdr, mask=mask,
                    n_subjects=int(x.shape[0]), test=test, name=name, alpha=alpha,
                    space=space, hemi_sizes=hemi_sizes, extra=info)
