"""Group analysis of a score derivatives tree: maps, statistics, tables, provenance.

``run_group(DERIV, GROUP)`` discovers ``DERIV/sub-*/*_layerscores.npz``
(:class:`~brainscore_speech.containers.LayerScores`), groups them by model and
writes into ``GROUP``:

- ``model-<M>_desc-brainscore_groupmap.npz`` (GroupMap: subject-mean of each
  subject's cross-validated best-layer score, ``reduce="cv"``: each fold's layer is
  chosen on its training runs (inner CV) and scored on its held-out run, so the map
  is not biased by the selection; t-test + FDR within hemisphere), optionally
  ``model-<M>_desc-brainscorecluster_groupmap.npz`` (cluster permutation test of
  the same scores, family-wise error over both hemispheres together);
- ``model-<M>_hierarchymap.npz`` (HierarchyMap);
- ``contrast-<name>_groupmap.npz`` for the regime contrasts available and
  ``desc-bestregime_groupmap.npz`` (Fig. 4D) when a random and trained models exist;
- ``space-<S>_hemi-<H>_<...>_statmap.func.gii`` for every map (surface spaces),
  or ``space-<S>_<...>_statmap.nii.gz`` plus a copy of the subjects' common
  brain mask ``space-<S>_desc-brain_mask.nii.gz`` (volume spaces; the maps'
  ``extra["mask_img"]`` points to it, for figures);
- ``model-<M>_layerprofile.tsv`` (per subject, the layer's r averaged over
  vertices: Fig. 3B), ``model-<M>_roiprofile.tsv``, ``model-<M>_roibestlayer.tsv``,
  ``model-<M>_roiorder.json`` when an atlas is given;
- ``group_summary.tsv`` (one row per map and hemisphere, with n_subjects) and
  ``group_provenance.json`` (inputs + hashes, parameters, versions).

A re-run with the same inputs and parameters finds ``group_provenance.json``
and skips the work (``overwrite=True`` forces it).
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import layout as L
from .._io import (
    atomic_path,
    file_hash,
    make_provenance,
    read_json,
    remove_stale_temps,
    write_json,
)
from .._logging import logger, verbose
from .._validation import check_option
from ..containers import GroupMap, HierarchyMap, LayerScores
from ..exceptions import BrainscoreWarning
from ..integrity import record_outputs
from ..spaces import FSAVERAGE5_N_VERTICES, is_surface
from ._group_checks import check_group_layers, check_group_params
from .collect import stack_layer_scores
from .depth import LAYER_AXES, compute_depth_hierarchy
from .hierarchy import best_layer_by_roi, compute_hierarchy, roi_order_correlation
from .regimes import best_regime_map, regime_contrasts
from .roi import (
    SurfaceAtlas,
    check_atlas_matches,
    load_surface_atlas,
    roi_layer_profiles,
    speech_rois,
    summarize_profiles,
)
from .selection import brain_score_map, check_reduce, default_layers
from .stats import hemi_slices, mesh_adjacency

__all__ = ["run_group", "discover_layer_scores", "write_surface_map",
           "write_volume_map", "common_volume_mask", "fsaverage_adjacency",
           "load_mesh_adjacency", "check_shared_layers"]



def _check_job_manifest(path: Path, ls: LayerScores) -> None:
    """A ``score`` job's LayerScores must match its manifest (written last).

    ``score`` removes the manifest (``*_provenance.json``) before rewriting any
    output and writes it last; a LayerScores without it, or with another run's,
    comes from an interrupted job (e.g. a re-score with fewer ``--layers``).
    """
    from ..exceptions import DataError

    key = (ls.provenance or {}).get("cache_key")
    if (ls.provenance or {}).get("step") != "score" or key is None:
        return  # not written by the score workflow
    manifest = path.with_name(path.name.replace("_layerscores.npz", "_provenance.json"))
    recorded = read_json(manifest).get("cache_key") if manifest.is_file() else None
    if recorded != key:
        raise DataError(
            f"{path.name} comes from an unfinished score job: its manifest "
            f"{manifest.name} is "
            f"{'missing' if recorded is None else 'from another run'}."
            f" Re-run 'brainscore-speech score' for sub-{ls.subject} and model "
            f"{ls.model_id!r} (finished layers are cached).")


def discover_layer_scores(deriv_dir: str | os.PathLike, *,
                          models: Sequence[str] | None = None
                          ) -> dict[str, list[LayerScores]]:
    """Read every ``sub-*/*_layerscores.npz`` under a derivatives folder.

    Parameters
    ----------
    deriv_dir : path
    models : sequence of str, optional
        Keep only these model ids (each must be found).

    Returns
    -------
    dict of str to list of LayerScores
        Model id -> per-subject scores, sorted by subject.
    """
    deriv = Path(deriv_dir)
    if not deriv.is_dir():
        raise FileNotFoundError(f"Derivatives folder not found: {deriv}")
    files = sorted(p for p in deriv.glob("sub-*/*_layerscores.npz")
                   if ".tmp-" not in p.name)
    if not files:
        raise FileNotFoundError(
            f"No LayerScores files (sub-*/*_layerscores.npz) under {deriv}; run "
            "'brainscore-speech score' first.")
    out: dict[str, list[LayerScores]] = {}
    for path in files:
        ls = LayerScores.load(path)
        _check_job_manifest(path, ls)
        sub_dir = path.parent.name[len("sub-"):]
        if ls.subject is None:
            ls = LayerScores(**{**{f: getattr(ls, f) for f in ls.__dataclass_fields__},
                                "subject": sub_dir})
        model = ls.model_id or re.sub(r".*model-([^_]+)_.*", r"\1", path.name)
        out.setdefault(model, []).append(ls)
    if models is not None:
        missing = [m for m in models if m not in out]
        if missing:
            raise ValueError(f"Model(s) {missing} not found under {deriv}; found "
                             f"{sorted(out)}.")
        out = {m: out[m] for m in models}
    for m in out:
        out[m].sort(key=lambda ls: str(ls.subject))
    return out


def write_surface_map(values: np.ndarray, hemi_sizes: dict[str, int],
                      template: str) -> list[Path]:
    """Write one GIFTI ``.func.gii`` per hemisphere.

    Parameters
    ----------
    values : array of shape (n_targets,)
    hemi_sizes : dict of str to int
    template : str
        Output path with ``{hemi}`` (e.g. ``".../space-fsaverage5_hemi-{hemi}_..."``).

    Returns
    -------
    list of Path
    """
    values = np.asarray(values, dtype=np.float32)
    return [L.write_gifti(Path(template.format(hemi=hemi)), values[sl],
                          intent="NIFTI_INTENT_ESTIMATE")
            for hemi, sl in hemi_slices(values.size, hemi_sizes).items()]


def write_volume_map(values: np.ndarray, mask_img, path: str | os.PathLike) -> Path:
    """Write a masked map as a NIfTI image (NaN and out-of-mask voxels are 0).

    Parameters
    ----------
    values : array of shape (n_voxels,)
        One value per voxel of ``mask_img``.
    mask_img : path or Nifti1Image
    path : path-like
        Output ``.nii.gz`` (written atomically).

    Returns
    -------
    Path
    """
    import nibabel as nib
    from nilearn.masking import unmask

    img = unmask(np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0),
                 str(mask_img) if isinstance(mask_img, (str,
                                                        os.PathLike)) else mask_img)
    path = Path(path)
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))
    return path


def _recorded_mask(ls: LayerScores) -> str | None:
    return ls.provenance.get("inputs", {}).get("bold_runs", {}).get("mask")


def common_volume_mask(by_model: dict[str, list[LayerScores]]) -> Path | None:
    """The one brain mask all volume-space subjects were scored in (None if unknown).

    Raises
    ------
    ValueError
        When subjects were scored in different masks (their voxels do not line up).
    """
    first_user: dict[str, str] = {}  # mask path -> first subject using it
    for lst in by_model.values():
        for ls in lst:
            path = _recorded_mask(ls)
            if path is None:
                logger.warning("sub-%s (model %s) has no recorded brain mask: no NIfTI "
                               "group maps.", ls.subject, ls.model_id)
                return None
            if not Path(path).is_file():
                logger.warning("The brain mask of sub-%s, %s, is not found: no NIfTI "
                               "group maps.", ls.subject, path)
                return None
            first_user.setdefault(path, f"sub-{ls.subject}")
    found: dict[str, tuple[str, str]] = {}  # sha256 -> (who, path); one hash per file
    for path, who in first_user.items():
        found.setdefault(file_hash(path), (who, path))
    if len(found) > 1:
        (a, pa), (b, pb) = list(found.values())[:2]
        raise ValueError(
            f"Subjects were scored in different brain masks ({a}: {pa}; {b}: {pb}), so "
            "their voxels do not line up. Score every subject with the same group mask "
            "(brainscore-speech score --mask MASK).")
    return Path(next(iter(found.values()))[1]) if found else None


def fsaverage_adjacency(space: str, hemi_sizes: dict[str, int]) -> dict[str, Any]:
    """Mesh adjacency per hemisphere for a surface space (offline: fsaverage5).

    Higher-resolution fsaverage data whose vertex count is not 10242 cannot use
    the bundled mesh; the error says so.

    Parameters
    ----------
    space : str
        Surface space of the scores (``fsaverage5``).
    hemi_sizes : dict of str to int
        Vertices per hemisphere (``{"L": 10242, "R": 10242}``).

    Returns
    -------
    dict
        Per hemisphere (``"L"``, ``"R"``) the sparse vertex adjacency of the mesh.
    """
    from nilearn import datasets

    n5 = FSAVERAGE5_N_VERTICES
    if any(n != n5 for n in hemi_sizes.values()):
        raise ValueError(
            f"Cluster tests need the mesh of space {space!r}; only fsaverage5 "
            f"({n5} vertices per hemisphere) is bundled, the data have {hemi_sizes}.")
    mesh = datasets.load_fsaverage("fsaverage5")["pial"]
    parts = {"L": mesh.parts["left"], "R": mesh.parts["right"]}
    return {h: mesh_adjacency(parts[h].faces) for h in hemi_sizes}


def load_mesh_adjacency(lh: str | os.PathLike, rh: str | os.PathLike,
                        hemi_sizes: dict[str, int] | None = None) -> dict[str, Any]:
    """Mesh adjacency per hemisphere from two GIFTI surface files.

    Parameters
    ----------
    lh, rh : path
        ``.surf.gii`` (or any GIFTI with a ``NIFTI_INTENT_TRIANGLE`` array).
    hemi_sizes : dict of str to int, optional
        When given, each mesh must have that many vertices.

    Returns
    -------
    dict of str to scipy sparse matrix
        ``{"L": ..., "R": ...}``.
    """
    import nibabel as nib

    out = {}
    for hemi, path in (("L", Path(lh)), ("R", Path(rh))):
        if not path.is_file():
            raise FileNotFoundError(f"Mesh file not found: {path}")
        try:
            img = nib.load(str(path))
            tri = [d.data for d in img.darrays
                   if d.intent == nib.nifti1.intent_codes["NIFTI_INTENT_TRIANGLE"]]
            pts = [d.data for d in img.darrays
                   if d.intent == nib.nifti1.intent_codes["NIFTI_INTENT_POINTSET"]]
        except Exception as err:  # nibabel raises many types on bad files
            raise ValueError(f"Cannot read the mesh {path}: {err}") from None
        if not tri or not pts:
            raise ValueError(f"{path} is not a GIFTI surface (needs a pointset and a "
                             "triangle array).")
        n = len(pts[0])
        if hemi_sizes is not None and hemi_sizes.get(hemi) != n:
            raise ValueError(f"The mesh {path} has {n} vertices but the scores have "
                             f"{hemi_sizes.get(hemi)} in hemisphere {hemi}.")
        adj = mesh_adjacency(np.asarray(tri[0], dtype=int))
        if adj.shape[0] != n:  # trailing vertices without faces
            from scipy import sparse

            adj = sparse.coo_matrix((adj.data, (adj.row, adj.col)), shape=(n, n))
        out[hemi] = adj
    return out


def _summary_rows(gm: GroupMap, kind: str, model: str | None) -> list[dict]:
    rows = []
    for hemi, sl in hemi_slices(gm.statistic.size, gm.hemi_sizes).items():
        rows.append({"map": gm.name, "kind": kind, "model": model or "", "hemi": hemi,
                     "test": gm.test, "n_subjects": gm.n_subjects,
                     "n_targets": sl.stop - sl.start,
                     "n_significant": int(gm.mask[sl].sum()), "alpha": gm.alpha,
                     "mean_statistic": float(np.nanmean(gm.statistic[sl]))
                     if np.isfinite(gm.statistic[sl]).any() else np.nan})
    return rows


def check_shared_layers(by_model: dict[str, list[LayerScores]],
                        layers: Sequence[str] | None = None) -> None:
    """Refuse subjects of one model scored on different layers; warn across models.

    Parameters
    ----------
    by_model : dict of str to list of LayerScores
        Model id -> one LayerScores per subject.
    layers : sequence of str, optional
        The layers asked for (then only their presence matters, checked when
        stacking).

    Raises
    ------
    DataError
        Without ``layers``, when the subjects of a model do not all have the same
        layers (e.g. one was re-scored with fewer ``--layers``): the group maps
        would silently use the first subject's layers.

    Notes
    -----
    Models of different architectures legitimately differ in layers; when models
    entering the regime contrasts differ in their number of layers, a WARNING is
    logged, since the best-of-layers comparison favours the model with more layers.
    """
    from ..exceptions import DataError
    from .regimes import _TRAINED, regime_of

    if layers is None:
        for m, lst in by_model.items():
            sets = {}
            for ls in lst:
                sets.setdefault(tuple(ls.layer_names), []).append(f"sub-{ls.subject}")
            if len(sets) > 1:
                shared = [n for n in lst[0].layer_names
                          if all(n in ls.layer_names for ls in lst)]
                desc = "; ".join(
                    f"{', '.join(subs[:3])}{'...' if len(subs) > 3 else ''} have "
                    f"{len(names)} layers {list(names)[:6]}"
                    f"{'...' if len(names) > 6 else ''}"
                    for names, subs in sets.items())
                raise DataError(
                    f"Subjects of model {m!r} were scored on different layers "
                    f"({desc}); re-score them with the same --layers, or pass --layer "
                    f"for the {len(shared)} shared ones.")
    counts = {m: len(lst[0].layer_names) for m, lst in by_model.items()
              if regime_of(lst[0]) in ("random", "native", "nonnative", *_TRAINED)}
    if len(set(counts.values())) > 1:
        logger.warning(
            "Models compared across regimes have different numbers of layers (%s): "
            "their best-layer brain scores are not comparable on equal terms (the "
            "maximum over more layers is biased upwards).",
            ", ".join(f"{m}: {n}" for m, n in sorted(counts.items())))


def _responsive_targets(gm: GroupMap) -> tuple[np.ndarray, str]:
    """Targets a layer profile averages: the responsive ones, not the noise.

    The targets with a significant brain score (``gm.mask``); when none is
    significant, the 10% with the highest unthresholded group brain score
    (``gm.statistic``, the cross-validated selected layer's mean score; said so in
    the label). Averaging all targets (mostly noise) flattens the profile.
    """
    what = "voxels" if gm.hemi_sizes is None else "vertices"
    mask = np.asarray(gm.mask, bool)
    if mask.any():
        return mask, (f"{int(mask.sum())} responsive {what}: significant brain score "
                      f"at FDR {gm.alpha:g}")
    mean = np.asarray(gm.statistic, dtype=float)
    finite = np.isfinite(mean)
    if not finite.any():
        return finite | True, f"all {what}"
    cols = finite & (mean >= np.nanpercentile(mean[finite], 90))
    return cols, (f"top 10% of {what} by group-mean score ({int(cols.sum())}); none "
                  f"significant at FDR {gm.alpha:g}")


def _write_tsv(df, path: Path) -> Path:
    return L.write_tsv(path, df)


@verbose
def run_group(deriv_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
              models: Sequence[str] | None = None, layers: Sequence[str] | None = None,
              alpha: float = 0.05, test: str = "auto", cluster: bool = False,
              n_permutations: int = 1000, n_bootstrap: int = 200,
              atlas: SurfaceAtlas | tuple[str, str] | None = None,
              random_state: int = 0, overwrite: bool = False,
              layer_axis: str = "name",
              reduce: str = "cv", mesh: tuple[str, str] | None = None,
              verbose: bool | int | str | None = None) -> dict[str, Any]:
    """Run the group analysis of a derivatives tree and write its outputs.

    Parameters
    ----------
    deriv_dir : path
        Output of ``brainscore-speech score`` (``sub-*/*_layerscores.npz``).
    out_dir : path
        Where the maps, tables and provenance go (created).
    models : sequence of str, optional
        Model ids to analyse (default all found).
    layers : sequence of str, optional
        Layers entering every map (hierarchy, brain score, contrasts); each must
        exist for every subject. Default: every layer but ``encoder_input``, i.e.
        the paper's ``conv0-6 + transf0-11`` for wav2vec 2.0 BASE (METHODS.md
        section 9); name ``encoder_input`` here to include it.
    alpha : float, default=0.05
    test : {"auto", "wilcoxon", "signflip", "ttest"}, default="auto"
        Vertex-wise test (FDR-corrected within hemisphere). ``"auto"``: the
        t-test for the maps of selected scores (brain score, contrasts,
        best-regime with ``reduce="cv"``/``"max"``: mean-zero but skewed under the
        null, where the signed-rank test over-rejects as subjects grow) and the
        Wilcoxon test otherwise (the hierarchy's per-layer scores).
    cluster : bool, default=False
        Also run the cluster permutation test of the brain-score map on the mesh
        (fsaverage5, or ``mesh``); one maximum statistic over both hemispheres.
    n_permutations : int, default=1000
    n_bootstrap : int, default=200
        Subject bootstrap resamples for the hierarchy stability.
    atlas : SurfaceAtlas or (lh_path, rh_path), optional
        Enables ROI tables (speech ROIs of the atlas's default mapping).
    random_state : int, default=0
    overwrite : bool, default=False
    layer_axis : {"name", "depth"}, default="name"
        ``"depth"`` also writes ``model-bydepth_hierarchymap.npz``: every model on
        one hierarchy map by relative layer depth (:mod:`.depth`).
    reduce : {"cv", "mean", "max"} or str, default="cv"
        How each subject's layers become one score per vertex for the brain-score
        map, its cluster test, the regime contrasts and the best-regime map (see
        :mod:`~brainscore_speech.analysis.selection`): ``"cv"`` chooses each
        fold's layer on its training runs (inner CV) and scores it on the held-out
        run (unbiased); ``"mean"`` averages layers; a layer name picks one;
        ``"max"`` (biased: false positives under the null; warns) takes each
        subject's best layer on the same data.
    mesh : (lh_path, rh_path), optional
        GIFTI surfaces giving the mesh of the scores for the cluster test
        (needed unless the space is fsaverage5).
    verbose : bool, int, str or None

    Returns
    -------
    dict
        ``outputs`` (list of written paths), ``models``, ``skipped`` (True when
        the previous run was reused), ``provenance``.
    """
    check_option("test", test, ("auto", "wilcoxon", "signflip", "ttest"))
    check_option("layer_axis", layer_axis, LAYER_AXES)
    check_reduce(reduce)
    check_group_params(out_dir, alpha=alpha, n_permutations=n_permutations,
                       n_bootstrap=n_bootstrap)
    job = _GroupJob(**{k: v for k, v in locals().items() if k in _GROUP_ARGS})
    out = Path(out_dir)
    by_model = discover_layer_scores(deriv_dir, models=models)
    check_group_layers(by_model, layers)
    check_shared_layers(by_model, layers)
    deriv = Path(deriv_dir)
    input_hashes = {str(p.relative_to(deriv)): file_hash(p)
                    for p in sorted(deriv.glob("sub-*/*_layerscores.npz"))
                    if ".tmp-" not in p.name}
    if isinstance(atlas, tuple):
        atlas = load_surface_atlas(*atlas)
    params = {"models": sorted(by_model), "layers": list(layers) if layers else None,
              "alpha": alpha, "test": test, "cluster": cluster,
              "n_permutations": n_permutations, "n_bootstrap": n_bootstrap,
              "atlas": atlas.name if atlas is not None else None,
              "random_state": random_state, "reduce": reduce,
              "mesh": [str(m) for m in mesh] if mesh else None}
    if layer_axis != "name":
        params["layer_axis"] = layer_axis
    prov_path = L.group_file(out, L.GROUP_PROVENANCE)
    done = L.cached("group", params, input_hashes, record=prov_path, key_field="key",
                  strict=True)
    key = done.key
    job.out = out
    job.by_model = by_model
    job.deriv = deriv
    job.input_hashes = input_hashes
    job.atlas = atlas
    job.params = params
    job.prov_path = prov_path
    job.done = done
    job.key = key
    prev = done.read() if not overwrite else None
    # the checksums are written after the manifest: a job stopped between the two
    # is not finished
    listed = [out / p for p in (prev or {}).get("outputs", [])]
    if not overwrite and done.fresh([*listed, L.group_file(out, L.GROUP_CHECKSUMS)]):
        logger.info("Group outputs in %s are up to date; skipping.", out)
        return {"outputs": [out / p for p in prev["outputs"]],
                "models": sorted(by_model), "skipped": True, "provenance": prev}
    _group_space(job)
    for m, lst in by_model.items():
        _group_model(job, m, lst)
    if layer_axis == "depth":  # one map of all models by relative depth (depth.py)
        _group_depth(job)
    if len(by_model) > 1:
        _group_regimes(job)
    return _group_finish(job)


_GROUP_ARGS = (
    "deriv_dir", "out_dir", "models", "layers", "alpha", "test", "cluster",
    "n_permutations", "n_bootstrap", "atlas", "random_state", "overwrite",
    "layer_axis", "reduce", "mesh")


@dataclass
class _GroupJob:
    """One group job's state: the arguments, then what each step adds."""

    deriv_dir: Any = None
    out_dir: Any = None
    models: Any = None
    layers: Any = None
    alpha: Any = None
    test: Any = None
    cluster: Any = None
    n_permutations: Any = None
    n_bootstrap: Any = None
    atlas: Any = None
    random_state: Any = None
    overwrite: Any = None
    layer_axis: Any = None
    reduce: Any = None
    mesh: Any = None
    out: Any = None
    by_model: Any = None
    deriv: Any = None
    input_hashes: Any = None
    params: Any = None
    prov_path: Any = None
    done: Any = None
    key: Any = None
    written: Any = None
    summary: Any = None
    first: Any = None
    space: Any = None
    hemi_sizes: Any = None
    surface: Any = None
    mask_copy: Any = None
    vol_extra: Any = None
    adjacency: Any = None
    rois: Any = None
    rng: Any = None


def _gii(job: _GroupJob, values, stem: str) -> None:
    """Write one map: GIFTI per hemisphere (surface) or NIfTI in the common mask."""
    if job.surface:
        job.written.extend(write_surface_map(
            values, job.hemi_sizes, str(L.group_statmap(job.out, job.space, stem,
                                                         "{hemi}"))))
    elif job.mask_copy is not None:
        job.written.append(write_volume_map(
            values, job.mask_copy, L.group_statmap(job.out, job.space, stem)))


def _group_space(job: _GroupJob) -> None:
    """The shared space/mesh, the volume mask copy, cluster adjacency and ROIs."""
    (cluster, atlas, random_state, mesh, out, by_model) = (
        job.cluster, job.atlas, job.random_state, job.mesh, job.out, job.by_model)
    out.mkdir(parents=True, exist_ok=True)
    for p in remove_stale_temps(out):
        logger.info("Removed %s, left by an interrupted group run.", p.name)
    written: list[Path] = []
    summary: list[dict] = []
    first = next(iter(by_model.values()))[0]
    space, hemi_sizes = first.space, first.hemi_sizes
    for m, lst in by_model.items():
        if lst[0].space != space or lst[0].hemi_sizes != hemi_sizes:
            raise ValueError(
                f"Models do not share a space/mesh: {first.model_id!r} is in "
                f"{space!r} {hemi_sizes}, {m!r} in {lst[0].space!r} "
                f"{lst[0].hemi_sizes}.")
    surface = is_surface(space) and hemi_sizes is not None
    mask_copy = None
    if hemi_sizes is None:  # volume: the maps need the subjects' common mask
        mask_src = common_volume_mask(by_model)
        if mask_src is not None:
            import shutil

            mask_copy = L.group_mask(out, space)
            with atomic_path(mask_copy) as tmp:
                shutil.copyfile(mask_src, tmp)
            written.append(mask_copy)
    vol_extra = {"mask_img": str(mask_copy.resolve())} if mask_copy else {}
    adjacency = None
    if cluster:
        adjacency = (load_mesh_adjacency(*mesh, hemi_sizes=hemi_sizes) if mesh
                     else fsaverage_adjacency(space, hemi_sizes))
    rois = None
    if atlas is not None:
        check_atlas_matches(atlas, hemi_sizes, where=f"the scores ({space})")
        rois = speech_rois(atlas)
    rng = np.random.default_rng(random_state)

    job.written = written
    job.summary = summary
    job.first = first
    job.space = space
    job.hemi_sizes = hemi_sizes
    job.surface = surface
    job.mask_copy = mask_copy
    job.vol_extra = vol_extra
    job.adjacency = adjacency
    job.rois = rois
    job.rng = rng


def _group_model(job: _GroupJob, m: str, lst) -> None:
    """One model: hierarchy, brain-score (and cluster) maps, layer/ROI profiles."""
    import pandas as pd

    (layers, alpha, test, cluster, n_permutations, n_bootstrap, reduce, out,
     written, summary, vol_extra, adjacency, rois, rng) = (
        job.layers, job.alpha, job.test, job.cluster, job.n_permutations,
        job.n_bootstrap, job.reduce, job.out, job.written, job.summary,
        job.vol_extra, job.adjacency, job.rois, job.rng)
    use = list(layers) if layers else list(default_layers(lst[0].layer_names))
    stack = stack_layer_scores(lst, layers=use)
    logger.info("Model %s: %d subjects, %d layers, %d targets.", m,
                stack.n_subjects, len(stack.layer_names), stack.data.shape[2])
    hmap = compute_hierarchy(stack, alpha=alpha,
                             test="wilcoxon" if test == "auto" else test,
                             n_bootstrap=n_bootstrap, random_state=rng)
    hmap = dataclasses.replace(hmap, extra={**hmap.extra, **vol_extra})
    written.append(hmap.save(L.group_hierarchymap(out, m)))
    gm = brain_score_map(lst, reduce=reduce, layers=use, test=test, alpha=alpha,
                         n_permutations=n_permutations, name=f"brain score {m}",
                         random_state=rng, extra=dict(vol_extra), warn=False)
    written.append(gm.save(L.group_brainscore(out, m)))
    summary += _summary_rows(gm, "brainscore", m)
    _gii(job, gm.statistic, f"model-{m}_desc-brainscore")
    _gii(job, np.where(gm.mask, gm.statistic, 0), f"model-{m}_desc-brainscorethresh")
    _gii(job, hmap.best_layer, f"model-{m}_desc-bestlayer")
    _gii(job, np.where(hmap.best_layer >= 0, hmap.preference_index, np.nan),
        f"model-{m}_desc-preference")  # shown where the best layer is significant
    if cluster:
        gc = brain_score_map(lst, reduce=reduce, layers=use, test="cluster",
                             alpha=alpha, n_permutations=n_permutations,
                             adjacency=adjacency, random_state=rng,
                             name=f"brain score {m} (cluster)",
                             extra=dict(vol_extra), warn=False)
        written.append(gc.save(L.group_brainscore_cluster(out, m)))
        summary += _summary_rows(gc, "brainscore-cluster", m)
    cols, which = _responsive_targets(gm)
    meta = lst[0].model_meta or {}
    prof = pd.DataFrame([{"subject": s, "model": m, "layer": layer,
                          "layer_index": j,
                          "mean_r": float(np.nanmean(stack.data[i, j, cols])),
                          "vertices": which, "n_vertices": int(cols.sum()),
                          "regime": meta.get("regime"),
                          "objective": meta.get("objective")}
                         for i, s in enumerate(stack.subjects)
                         for j, layer in enumerate(stack.layer_names)])
    written.append(_write_tsv(prof, L.group_layerprofile(out, m)))
    if rois is not None:
        rp = roi_layer_profiles(lst, rois, layers=use)
        written.append(_write_tsv(summarize_profiles(rp),
                                  L.group_roiprofile(out, m)))
        written.append(_write_tsv(best_layer_by_roi(hmap, rois),
                                  L.group_roibestlayer(out, m)))
        try:
            corr = roi_order_correlation(hmap, rois)
        except ValueError as err:
            corr = {"error": str(err)}
        written.append(write_json(L.group_roiorder(out, m), corr))


def _group_depth(job: _GroupJob) -> None:
    """``layer_axis="depth"``: every model on one relative-depth axis."""
    (layers, alpha, test, n_bootstrap, out, by_model, written, vol_extra, rng) = (
        job.layers, job.alpha, job.test, job.n_bootstrap, job.out, job.by_model,
        job.written, job.vol_extra, job.rng)
    dmap = compute_depth_hierarchy(by_model, layers=layers, alpha=alpha,
                                   test="wilcoxon" if test == "auto" else test,
                                   n_bootstrap=n_bootstrap, random_state=rng)
    dmap = dataclasses.replace(dmap, extra={**dmap.extra, **vol_extra})
    written.append(dmap.save(L.group_bydepth(out)))
    _gii(job, dmap.best_layer, "model-bydepth_desc-bestlayer")


def _group_regimes(job: _GroupJob) -> None:
    """Several models: paired contrasts and the best-regime map."""
    (layers, alpha, test, n_permutations, reduce, out, by_model, written, summary,
     vol_extra, rng) = (
        job.layers, job.alpha, job.test, job.n_permutations, job.reduce, job.out,
        job.by_model, job.written, job.summary, job.vol_extra, job.rng)
    with warnings.catch_warnings():  # reduce="max" was warned about above
        warnings.filterwarnings("ignore", message="reduce='max'",
                                category=BrainscoreWarning)
        contrasts = regime_contrasts(by_model, test=test, alpha=alpha,
                                     reduce=reduce, layers=layers, random_state=rng,
                                     n_permutations=n_permutations)
        try:
            br = best_regime_map(by_model, test=test, alpha=alpha, reduce=reduce,
                                 layers=layers, random_state=rng,
                                 n_permutations=n_permutations)
        except ValueError as err:
            br, br_err = None, err
    for name, cm in contrasts.items():
        cm = dataclasses.replace(cm, extra={**cm.extra, **vol_extra})
        written.append(cm.save(L.group_contrast(out, name)))
        summary += _summary_rows(cm, "contrast", None)
        _gii(job, cm.statistic, f"contrast-{name}")
    if br is None:
        logger.info("No best-regime map: %s", br_err)
    else:
        br = dataclasses.replace(br, extra={**br.extra, **vol_extra})
        written.append(br.save(L.group_bestregime(out)))
        summary += _summary_rows(br, "bestregime", None)
        _gii(job, np.nan_to_num(br.statistic, nan=-1), "desc-bestregime")


def _group_finish(job: _GroupJob) -> dict[str, Any]:
    """Summary table, provenance (the manifest) and checksums."""
    import pandas as pd

    (random_state, out, by_model, deriv, input_hashes, params, prov_path, key,
     written, summary, space, hemi_sizes) = (
        job.random_state, job.out, job.by_model, job.deriv, job.input_hashes,
        job.params, job.prov_path, job.key, job.written, job.summary, job.space,
        job.hemi_sizes)
    written.append(_write_tsv(pd.DataFrame(summary),
                              L.group_file(out, L.GROUP_SUMMARY)))
    rel = [str(p.relative_to(out)) for p in written]
    prov = make_provenance("group", params=params, inputs={
        k: {"sha256": v} for k, v in input_hashes.items()}, seed=random_state)
    prov.update({"key": key, "outputs": rel, "space": space, "hemi_sizes": hemi_sizes,
                 "n_subjects": {m: len(v) for m, v in by_model.items()},
                 "deriv_dir": str(deriv)})
    write_json(prov_path, prov)
    record_outputs(L.group_file(out, L.GROUP_CHECKSUMS), step="group",  # for `verify`
                   outputs=[*written, prov_path],
                   inputs=[deriv / p for p in input_hashes])
    logger.info("Group analysis of %d model(s) written to %s.", len(by_model), out)
    return {"outputs": written, "models": sorted(by_model), "skipped": False,
            "provenance": prov}



def load_group_outputs(group_dir: str | os.PathLike) -> dict[str, Any]:
    """Read the maps written by :func:`run_group`.

    Parameters
    ----------
    group_dir : str or os.PathLike
        The ``GROUP`` folder written by :func:`run_group`.

    Returns
    -------
    dict
        ``hierarchy`` (model -> HierarchyMap), ``brainscore`` (model -> GroupMap),
        ``contrasts`` (name -> GroupMap), ``bestregime`` (GroupMap or None),
        ``provenance`` (dict), ``group_dir`` (Path).
    """
    g = Path(group_dir)
    prov_path = L.group_file(g, L.GROUP_PROVENANCE)
    if not prov_path.is_file():
        raise FileNotFoundError(
            f"{g} is not a group folder (no group_provenance.json); run "
            "'brainscore-speech group' first.")
    out: dict[str, Any] = {"hierarchy": {}, "brainscore": {}, "contrasts": {},
                           "bestregime": None, "provenance": read_json(prov_path),
                           "group_dir": g}
    for kind, cls in (("hierarchy", HierarchyMap), ("brainscore", GroupMap),
                      ("contrasts", GroupMap)):
        for name, p in L.group_models(g, kind).items():
            out[kind][name] = cls.load(p)
    if L.group_bestregime(g).is_file():
        out["bestregime"] = GroupMap.load(L.group_bestregime(g))
    return out


__all__.append("load_group_outputs")
