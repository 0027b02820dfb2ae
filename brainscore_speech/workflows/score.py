"""Score one subject end to end: BOLD + activations -> brain-score maps.

:func:`score_subject` loads the subject's cleaned BOLD
(:func:`brainscore_speech.data.bold.load_bold`), reads every layer's
activations for the stimulus of each run, HRF-aligns them
(:func:`brainscore_speech.align.run_regressors`), fits cross-validated ridge
models (:func:`brainscore_speech.encoding.score_layers`) and writes, in a
BIDS-derivatives layout (ARCHITECTURE.md "Score outputs"): per-layer r maps per
hemisphere, a hierarchy (best-layer) map, the LayerScores, a tidy TSV and a
provenance JSON.

Each layer's scores are cached under ``DERIV/sub-<label>/.cache`` with a key
hashing the BOLD, that layer's activations and every parameter, so an
interrupted run resumes at the first unfinished layer and a run whose inputs
and parameters are unchanged does no fitting at all. Every file is written
atomically.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import layout
from .._io import (
    TMP_MARK,
    array_hash,
    file_hash,
    make_provenance,
    params_hash,
    read_json,
    write_json,
)
from .._logging import logger, verbose
from .._validation import check_option
from ..analysis.group import write_volume_map
from ..containers import LayerScores, read_activation_layer, read_activation_meta
from ..exceptions import BrainscoreWarning, DataError
from ..spaces import hemi_slices, is_surface
from ._score_checks import check_bold_coverage, check_score_inputs, record_score

__all__ = ["ScoreResult", "score_subject", "output_prefix", "REPEATED_STIMULI"]

#: How runs that replay a stimulus are handled: ``"group"`` keeps every
#: presentation and cross-validates over stimuli (never one on both sides of a
#: split); ``"first"`` keeps only the first presentation (the paper's choice).
REPEATED_STIMULI = ("group", "first")


@dataclass(frozen=True)
class ScoreResult:
    """What :func:`score_subject` wrote.

    Parameters
    ----------
    layerscores : Path
        The LayerScores ``.npz`` (with its JSON sidecar).
    maps : dict of str to Path
        ``"<layer>/<hemi>"`` -> per-layer r map; ``"hierarchy/<hemi>"`` -> best-layer
        map.
    table : Path
        Tidy TSV.
    provenance : Path
        Provenance JSON.
    n_fitted : int
        Layers fitted in this call (0 when everything was up to date or cached).
    skipped : bool
        True when nothing had to be recomputed or rewritten.
    """

    layerscores: Path
    maps: dict[str, Path]
    table: Path
    provenance: Path
    n_fitted: int
    skipped: bool = False
    files: list[Path] = field(default_factory=list)


#: Version of the per-layer score caches (2: with the inner-CV validation scores
#: the layer selection uses); part of every layer's cache key.
SCORES_FORMAT = 2


def output_prefix(subject: str, task: str | None, space: str, model_id: str) -> str:
    """``sub-<S>[_task-<T>]_space-<space>`` (the model is added per file)."""
    return layout.score_prefix(subject, task, space)


_safe_entity = layout.safe_entity


def _write_gifti_map(path: Path, values: np.ndarray, name: str) -> Path:
    return layout.write_gifti(path, values, array_meta={"Name": name})


@verbose
def score_subject(bids_root: str | os.PathLike, subject: str,
                  activations: str | os.PathLike, out: str | os.PathLike, *,
                  space: str = "fsaverage5", task: str | None = None,
                  study: str | os.PathLike | None = None,
                  derivatives: str | os.PathLike | None = None,
                  layers: Sequence[str] | None = None, language: str | None = None,
                  alphas: Sequence[float] = tuple(np.logspace(-1, 8, 10)),
                  cv: str | int = "leave-one-run-out",
                  alpha_selection: str = "inner-cv",
                  repeated: str = "group", gap_s: float = 10.0,
                  slice_time_ref: float | str = "auto",
                  confounds_strategy: Sequence[str] = ("motion", "high_pass", "wm_csf"),
                  hrf_model: str = "glover", scaling: str = "minmax",
                  device: str = "cpu", force: bool = False,
                  mask_img: str | os.PathLike | None = None, solver: str = "fast",
                  search_dtype: str = "auto",
                  verbose: bool | int | str | None = None) -> ScoreResult:
    """Brain scores of every layer of one model for one subject, written to disk.

    Parameters
    ----------
    bids_root : path
        BIDS dataset root.
    subject : str
        Subject label (``"01"`` or ``"sub-01"``).
    activations : path
        Folder of ``<stimulus>.h5`` activation files (one model).
    out : path
        Derivatives output folder (``DERIV``).
    space : str, default="fsaverage5"
        fMRIPrep space; surfaces give GIFTI maps, volumes NIfTI maps.
    task : str, optional
        BIDS task (default: the preset's, else every task of the subject).
    study : str or path, optional
        Study preset (:func:`brainscore_speech.data.studies.load_study`).
    derivatives : path, optional
        fMRIPrep folder (default ``bids_root/derivatives/fmriprep``).
    layers : sequence of str, optional
        Layers to score (default: every layer, in the files' ``layer_order``).
    language : str, optional
        Participant's native language (``participant_language``); default from
        ``participants.tsv`` (column ``language``), then the study preset.
    alphas : sequence of float, default=logspace(-1, 8, 10)
        Ridge penalties.
    cv : "leave-one-run-out" or int, default="leave-one-run-out"
        Outer cross-validation: whole stimuli held out (every run that plays
        the held-out stimulus), or K contiguous groups of stimuli; with one run,
        K contiguous blocks of scans.
    alpha_selection : {"inner-cv", "gcv"}, default="inner-cv"
    repeated : {"group", "first"}, default="group"
        Runs that replay a stimulus (detected from each run's stimulus, not its
        run label): ``"group"`` keeps them and cross-validates over stimuli, so
        a stimulus is never in training and test at once; ``"first"`` keeps only
        the first presentation of each stimulus (the paper's choice).
    gap_s : float, default=10.0
        Seconds removed from training on each side of a held-out block of the
        same run (``ceil(gap_s / TR)`` scans; only matters for contiguous blocks
        of one run, where neighbouring scans leak through autocorrelation).
    slice_time_ref : float or "auto", default="auto"
        Time within each TR that a scan represents, as a fraction of the TR.
        ``"auto"`` reads it per run from the fMRIPrep sidecar (``StartTime``
        when ``SliceTimingCorrected``), else the raw ``SliceTiming``, else
        0.5 (fMRIPrep's default, the middle of the acquisition); see
        :func:`brainscore_speech.data.bold.slice_time_reference`. Recorded in
        the provenance.
    confounds_strategy : sequence of str, default=("motion", "high_pass", "wm_csf")
        fMRIPrep confounds regressed out (nilearn ``load_confounds``).
    hrf_model : str, default="glover"
    scaling : str, default="minmax"
        Per-dimension activation scaling before HRF convolution.
    device : str, default="cpu"
        ``"cuda"`` to fit on a GPU.
    force : bool, default=False
        Refit every layer even when cached.
    mask_img : path, optional
        Volume spaces only: a brain mask (NIfTI in the BOLD's space) used instead
        of the subject's fMRIPrep mask. Pass the same group mask for every subject
        so that their voxels line up for ``group`` (and its figures).
    solver : {"fast", "fast-local", "exact"}, default="fast"
        Ridge solver of :func:`~brainscore_speech.encoding.score_layers`.
    search_dtype : {"auto", "float32", "bfloat16"}, default="auto"
        Inputs of the fast solvers' alpha-search products (``score_layers``):
        "auto" is bfloat16 on CPUs with AMX (wide layers), with the candidate
        alphas re-checked in float32; the held-out scores are always float32.
    verbose : bool, int, str or None

    Returns
    -------
    ScoreResult

    Raises
    ------
    FileNotFoundError
        Activation folder or a run's activation file missing, BOLD missing.
    DataError
        Activation files of different models or layers, or any BOLD check.
    ValueError
        Unknown layer names, bad ``repeated``, ``gap_s``, ``slice_time_ref``,
        ``solver`` or ``search_dtype``.

    Warns
    -----
    BrainscoreWarning
        Once per call, when the predicted vertices of all layers together crowd
        an end of the ``alphas`` grid (see
        :func:`~brainscore_speech.encoding.scoring.warn_edge_alphas`).
    """
    _check_score_args(repeated, gap_s, slice_time_ref, solver, search_dtype)
    job = _ScoreJob(**{k: v for k, v in locals().items() if k in _SCORE_ARGS})
    job.preset = _load_study(study)
    job.sub = str(subject)[4:] if str(subject).startswith("sub-") else str(subject)
    _find_activations(job)
    _load_subject_bold(job)
    _select_runs(job)
    _prepare_targets(job)
    _layer_keys(job)
    if _plan_outputs(job):
        logger.info("sub-%s model %s: up to date, nothing to do.", job.sub,
                    job.model_id)
        return ScoreResult(job.ls_path, job.maps, job.table_path, job.prov_path,
                           n_fitted=0, skipped=True,
                           files=[*job.outputs, job.prov_path])
    _fit_layers(job)
    ls = _assemble_scores(job)
    _write_score_outputs(job, ls)
    names = job.names
    logger.info("sub-%s model %s: %d layers scored (%d fitted, %d cached) -> %s",
                job.sub, job.model_id, len(names), job.n_fitted,
                len(names) - job.n_fitted, job.sub_dir)
    return ScoreResult(job.ls_path, job.maps, job.table_path, job.prov_path,
                       n_fitted=job.n_fitted, skipped=False,
                       files=[*job.outputs, job.prov_path])


_SCORE_ARGS = (
    "bids_root", "subject", "activations", "out", "space", "task", "study",
    "derivatives", "layers", "language", "alphas", "cv", "alpha_selection",
    "repeated", "gap_s", "slice_time_ref", "confounds_strategy", "hrf_model",
    "scaling", "device", "force", "mask_img", "solver", "search_dtype")


@dataclass
class _ScoreJob:
    """One score job's state: the arguments, then what each step adds."""

    bids_root: Any = None
    subject: Any = None
    activations: Any = None
    out: Any = None
    space: Any = None
    task: Any = None
    study: Any = None
    derivatives: Any = None
    layers: Any = None
    language: Any = None
    alphas: Any = None
    cv: Any = None
    alpha_selection: Any = None
    repeated: Any = None
    gap_s: Any = None
    slice_time_ref: Any = None
    confounds_strategy: Any = None
    hrf_model: Any = None
    scaling: Any = None
    device: Any = None
    force: Any = None
    mask_img: Any = None
    solver: Any = None
    search_dtype: Any = None
    preset: Any = None
    sub: Any = None
    act_dir: Any = None
    specs: Any = None
    act_files: Any = None
    metas: Any = None
    first: Any = None
    model_id: Any = None
    layer_order: Any = None
    names: Any = None
    bold: Any = None
    run_keys: Any = None
    dropped: Any = None
    st_ref: Any = None
    st_source: Any = None
    valid: Any = None
    Y: Any = None
    run_vec: Any = None
    stim_vec: Any = None
    gap: Any = None
    n_scans: Any = None
    participant_language: Any = None
    task_label: Any = None
    prefix: Any = None
    model_ent: Any = None
    sub_dir: Any = None
    cache_dir: Any = None
    params: Any = None
    bold_hash: Any = None
    layer_keys: Any = None
    layer_data: Any = None
    per_layer: Any = None
    n_fitted: Any = None
    model_meta: Any = None
    provenance: Any = None
    ls_path: Any = None
    table_path: Any = None
    prov_path: Any = None
    maps: Any = None
    outputs: Any = None
    done: Any = None


def _load_study(study):
    from ..data.studies import load_study

    return load_study(study) if study is not None else None


def _check_score_args(repeated, gap_s, slice_time_ref, solver, search_dtype) -> None:
    from ..encoding.scoring import SEARCH_DTYPES, SOLVERS

    check_option("repeated", repeated, REPEATED_STIMULI)
    check_option("solver", solver, SOLVERS)
    check_option("search_dtype", search_dtype, SEARCH_DTYPES)
    if not (isinstance(gap_s, (int, float)) and math.isfinite(gap_s) and gap_s >= 0):
        raise ValueError(f"'gap_s' must be a non-negative number of seconds, got "
                         f"{gap_s!r}.")
    if slice_time_ref != "auto" and not (
            isinstance(slice_time_ref, (int, float)) and 0.0 <= slice_time_ref <= 1.0):
        raise ValueError(f"'slice_time_ref' must be 'auto' or a fraction of the TR in "
                         f"[0, 1], got {slice_time_ref!r}.")


def _find_activations(job: _ScoreJob) -> None:
    """The activation file of every run's stimulus; one model, the layers to score."""
    from ..data.bold import describe_runs

    (bids_root, activations, out, task, layers, device, preset, sub) = (
        job.bids_root, job.activations, job.out, job.task, job.layers, job.device,
        job.preset, job.sub)
    act_dir = Path(activations)
    if not act_dir.is_dir():
        raise FileNotFoundError(f"Activation folder not found: {act_dir}")
    out = job.out = Path(out)
    specs = describe_runs(bids_root, sub, task=task, study=preset)
    available = sorted(p.stem for p in act_dir.glob("*.h5") if ".tmp-" not in p.name)
    act_files, metas = {}, {}
    for spec in specs:
        path = layout.activation_file(act_dir, spec.stimulus)
        if not path.is_file():
            raise FileNotFoundError(
                f"No activations for stimulus {spec.stimulus!r} (sub-{sub} "
                f"{spec.key}): "
                f"expected {path}; the folder has {available[:10]}"
                + ("..." if len(available) > 10 else "") + "."
            )
        act_files[spec.stimulus] = path
        metas[spec.stimulus] = read_activation_meta(path)
    check_score_inputs(bids_root, out, act_files, metas, device=device)  # same audio
    first = next(iter(metas.values()))
    model_id, layer_order = first["model_id"], list(first["layer_order"])
    for stim, meta in metas.items():
        if meta["model_id"] != model_id or list(meta["layer_order"]) != layer_order:
            raise DataError(
                f"Activation files in {act_dir} come from different models or layer "
                f"sets: {act_files[stim].name} has model {meta['model_id']!r} with "
                f"{len(meta['layer_order'])} layers, expected {model_id!r} with "
                f"{len(layer_order)}."
            )
    names = list(layers) if layers else layer_order
    for name in names:
        check_option("layers", name, layer_order)
    names = [n for n in layer_order if n in set(names)]

    job.act_dir = act_dir
    job.specs = specs
    job.act_files = act_files
    job.metas = metas
    job.first = first
    job.model_id = model_id
    job.layer_order = layer_order
    job.names = names


def _load_subject_bold(job: _ScoreJob) -> None:
    """The subject's cleaned BOLD (checked for usable targets)."""
    from ..data.bold import load_bold

    (bids_root, space, task, derivatives, confounds_strategy, mask_img, preset, sub,
     metas) = (
        job.bids_root, job.space, job.task, job.derivatives, job.confounds_strategy,
        job.mask_img, job.preset, job.sub, job.metas)
    if mask_img is not None:
        mask_img = Path(mask_img)
        if not mask_img.is_file():
            raise FileNotFoundError(f"Brain mask not found: {mask_img}")
        if is_surface(space):
            raise ValueError(f"'mask_img' is for volume spaces; space {space!r} is a "
                             "surface.")
    bold = load_bold(bids_root, sub, task=task, space=space, derivatives=derivatives,
                     study=preset, confounds_strategy=confounds_strategy,
                     mask_img=mask_img,
                     stimulus_durations_s={s: m["duration_s"] for s,
                                           m in metas.items()})
    check_bold_coverage(bold, sub)  # NaN policy: see workflows/_score_checks.py
    job.mask_img = mask_img
    job.bold = bold


def _select_runs(job: _ScoreJob) -> None:
    """Runs to score (``repeated``) and each run's slice-timing reference."""
    (repeated, slice_time_ref, sub, bold) = (
        job.repeated, job.slice_time_ref, job.sub, job.bold)
    run_keys = list(bold.runs)
    dropped: list[str] = []
    if repeated == "first":
        seen: set[str] = set()
        for k in list(run_keys):
            if bold.stimuli[k] in seen:
                run_keys.remove(k)
                dropped.append(k)
            seen.add(bold.stimuli[k])
        if dropped:
            logger.info("sub-%s: dropping repeated presentations %s (repeated='first')",
                        sub, dropped)
    played = [bold.stimuli[k] for k in run_keys]
    repeats = sorted({s for s in played if played.count(s) > 1})
    if repeats:
        logger.info("sub-%s: stimuli played in several runs %s; cross-validating over "
                    "stimuli (repeated='group')", sub, repeats)
    if slice_time_ref == "auto":
        st_ref = {k: float(bold.provenance["runs"][k]["slice_time_ref"])
                  for k in run_keys}
        st_source = {k: bold.provenance["runs"][k]["slice_time_source"]
                     for k in run_keys}
    else:
        st_ref = {k: float(slice_time_ref) for k in run_keys}
        st_source = {k: "score(slice_time_ref=...)" for k in run_keys}
    job.run_keys = run_keys
    job.dropped = dropped
    job.st_ref = st_ref
    job.st_source = st_source


def _prepare_targets(job: _ScoreJob) -> None:
    """Targets, CV groups, the output names' entities and the parameters' record."""
    from ..data.bold import read_participant_language

    (bids_root, out, space, task, language, alphas, cv, alpha_selection, repeated,
     gap_s, confounds_strategy, hrf_model, scaling, mask_img, solver, preset, sub,
     model_id, bold, run_keys, dropped, st_ref, st_source) = (
        job.bids_root, job.out, job.space, job.task, job.language, job.alphas,
        job.cv, job.alpha_selection, job.repeated, job.gap_s,
        job.confounds_strategy, job.hrf_model, job.scaling, job.mask_img,
        job.solver, job.preset, job.sub, job.model_id, job.bold, job.run_keys,
        job.dropped, job.st_ref, job.st_source)
    valid = np.asarray(bold.valid, dtype=bool)
    Y = np.concatenate([bold.runs[k][:, valid] for k in run_keys]).astype(np.float32)
    run_vec = np.concatenate([np.full(bold.runs[k].shape[0], i)
                              for i, k in enumerate(run_keys)])
    stim_vec = np.concatenate([np.full(bold.runs[k].shape[0], bold.stimuli[k],
                                       dtype=object) for k in run_keys])
    gap = int(math.ceil(gap_s / bold.tr_s - 1e-9))
    n_scans = {k: bold.runs[k].shape[0] for k in run_keys}
    participant_language = language or read_participant_language(bids_root, sub) or \
        (preset.language if preset else None)
    task_label = task or bold.task
    prefix = output_prefix(sub, task_label, space, model_id)
    model_ent = _safe_entity(model_id)
    sub_dir = out / f"sub-{sub}"
    cache_dir = layout.cache_dir(sub_dir)
    params = {"alphas": [float(a) for a in alphas], "cv": cv,
              "alpha_selection": alpha_selection, "hrf_model": hrf_model,
              "scaling": scaling, "confounds_strategy": list(confounds_strategy),
              "space": space, "task": task_label,
              "study": preset.name if preset else None,
              "runs": run_keys, "onsets_s": {k: bold.onsets_s[k] for k in run_keys},
              "stimuli": {k: bold.stimuli[k] for k in run_keys},
              "repeated": repeated, "dropped_runs": dropped, "gap_s": float(gap_s),
              "gap_scans": gap, "slice_time_ref": st_ref,
              "slice_time_source": st_source,
              "mask_sha256": file_hash(mask_img) if mask_img is not None else None,
              "solver": solver, "search_dtype": job.search_dtype}
    job.valid = valid
    job.Y = Y
    job.run_vec = run_vec
    job.stim_vec = stim_vec
    job.gap = gap
    job.n_scans = n_scans
    job.participant_language = participant_language
    job.task_label = task_label
    job.prefix = prefix
    job.model_ent = model_ent
    job.sub_dir = sub_dir
    job.cache_dir = cache_dir
    job.params = params


def _layer_keys(job: _ScoreJob) -> None:
    """Each layer's activations per run and its cache key."""
    (act_files, model_id, names, bold, run_keys, valid, Y, params) = (
        job.act_files, job.model_id, job.names, job.bold, job.run_keys, job.valid,
        job.Y, job.params)
    bold_hash = array_hash(Y) + array_hash(valid)

    layer_keys, layer_data = {}, {}
    for name in names:
        per_run = {k: read_activation_layer(act_files[bold.stimuli[k]], name)
                   for k in run_keys}
        layer_data[name] = per_run
        layer_keys[name] = params_hash({
            "format": SCORES_FORMAT, "bold": bold_hash, "layer": name,
            "model_id": model_id, "params": params,
            "acts": {k: array_hash(x) + array_hash(t) for k, (x, t) in per_run.items()},
        })

    job.bold_hash = bold_hash
    job.layer_keys = layer_keys
    job.layer_data = layer_data


def _plan_outputs(job: _ScoreJob) -> bool:
    """The job's output paths; True when they are up to date (nothing to do)."""
    (out, space, force, sub, model_id, names, bold, participant_language,
     task_label, prefix, model_ent, sub_dir, cache_dir, layer_keys) = (
        job.out, job.space, job.force, job.sub, job.model_id, job.names, job.bold,
        job.participant_language, job.task_label, job.prefix, job.model_ent,
        job.sub_dir, job.cache_dir, job.layer_keys)
    ents = (out, sub, task_label, space, model_id)
    ls_path = layout.score_layerscores(*ents)
    table_path = layout.score_table(*ents)
    prov_path = layout.score_provenance(*ents)
    maps = layout.score_maps(*ents, names, list(bold.hemi_sizes or []))
    outputs = [ls_path, table_path, *maps.values()]
    _remove_stale_temps([sub_dir, cache_dir], prefix, model_ent)
    done = layout.cached("score", {"layers": layer_keys, "subject": sub,
                                   "participant_language": participant_language},
                         record=prov_path, key_field="cache_key")
    job.ls_path = ls_path
    job.table_path = table_path
    job.prov_path = prov_path
    job.maps = maps
    job.outputs = outputs
    job.done = done
    # the checksums are written after the manifest: a job stopped between the two
    # is not finished
    return not force and done.fresh([*outputs, layout.score_checksums(*ents)])


def _fit_layers(job: _ScoreJob) -> None:
    """Fit every layer not cached yet (each cached as it finishes)."""
    from ..align import run_regressors
    from ..encoding import score_layers

    (out, space, alphas, cv, alpha_selection, hrf_model, scaling, device, force,
     solver, sub, model_id, names, bold, run_keys, st_ref, Y, run_vec, stim_vec,
     gap, n_scans, task_label, layer_keys, layer_data) = (
        job.out, job.space, job.alphas, job.cv, job.alpha_selection, job.hrf_model,
        job.scaling, job.device, job.force, job.solver, job.sub, job.model_id,
        job.names, job.bold, job.run_keys, job.st_ref, job.Y, job.run_vec,
        job.stim_vec, job.gap, job.n_scans, job.task_label, job.layer_keys,
        job.layer_data)
    ents = (out, sub, task_label, space, model_id)
    per_layer: dict[str, LayerScores] = {}
    caches, todo = {}, {}
    for name in names:
        caches[name] = layout.score_layer_cache(*ents, name, layer_keys[name])
        if caches[name].is_file() and not force:
            per_layer[name] = LayerScores.load(caches[name])
            logger.debug("Layer %s: cached (%s)", name, caches[name].name)
            continue
        regs = {}
        for k in run_keys:  # each run at its own slice-timing reference
            regs.update(run_regressors({k: layer_data[name][k]}, n_scans, bold.tr_s,
                                       onsets_s=bold.onsets_s, hrf_model=hrf_model,
                                       scaling=scaling, slice_time_ref=st_ref[k]))
        todo[name] = np.concatenate([regs[k] for k in run_keys]).astype(np.float32)

    def _cache_layer(name: str, result: LayerScores) -> None:
        result.save(caches[name])  # each layer as it finishes: resumable
        per_layer[name] = result

    if todo:  # one call: Y is prepared once for all layers, one progress bar
        with warnings.catch_warnings():  # one warning per job, below
            warnings.filterwarnings("ignore", _EDGE_WARNING, BrainscoreWarning)
            score_layers(todo, Y, run_vec, alphas=np.asarray(alphas), cv=cv,
                         groups=stim_vec, gap=gap,
                         alpha_selection=alpha_selection, device=device,
                         solver=solver, search_dtype=job.search_dtype,
                         on_layer=_cache_layer, model_id=model_id,
                         subject=sub)
    n_fitted = len(todo)

    job.per_layer = per_layer
    job.n_fitted = n_fitted


def _assemble_scores(job: _ScoreJob) -> LayerScores:
    """All layers in one :class:`LayerScores` (NaN at unusable targets)."""
    (bids_root, space, alphas, device, sub, act_dir, first, model_id, names, bold,
     valid, Y, participant_language, cache_dir, params, bold_hash, layer_keys,
     per_layer, done) = (
        job.bids_root, job.space, job.alphas, job.device, job.sub, job.act_dir,
        job.first, job.model_id, job.names, job.bold, job.valid, job.Y,
        job.participant_language, job.cache_dir, job.params, job.bold_hash,
        job.layer_keys, job.per_layer, job.done)
    _warn_edge_alphas_once(per_layer, alphas, Y.shape[0], f"sub-{sub} model {model_id}")
    n_targets = valid.size
    n_folds = {np.shape(s.scores)[1] for s in per_layer.values()}
    if len(n_folds) != 1:
        raise DataError(f"Cached layer scores in {cache_dir} disagree on the number of "
                        f"folds {sorted(n_folds)}; re-run with force=True.")
    n_f = n_folds.pop()
    scores = np.full((len(names), n_f, n_targets), np.nan, dtype=np.float32)
    alpha_arr = np.full((len(names), n_f, n_targets), np.nan, dtype=np.float32)
    inner = np.full((len(names), n_f, n_targets), np.nan, dtype=np.float32)
    for i, name in enumerate(names):
        scores[i][:, valid] = per_layer[name].scores[0]
        alpha_arr[i][:, valid] = per_layer[name].best_alphas[0]
        if per_layer[name].inner_scores is not None:
            inner[i][:, valid] = per_layer[name].inner_scores[0]
    model_meta = dict(first["model_meta"])
    model_meta["participant_language"] = participant_language
    provenance = make_provenance(
        "score",
        params={**params, "layers": names, "subject": sub, "device": device},
        inputs={"bids_root": str(bids_root), "activations": str(act_dir),
                "bold_hash": bold_hash, "layer_keys": layer_keys,
                "bold_runs": bold.provenance})
    provenance["cache_key"] = done.key
    ls = LayerScores(scores=scores, best_alphas=alpha_arr, layer_names=tuple(names),
                     inner_scores=inner, cv=dict(next(iter(per_layer.values())).cv),
                     subject=sub,
                     model_id=model_id, space=space, model_meta=model_meta,
                     hemi_sizes=bold.hemi_sizes, provenance=provenance,
                     layer_info={n: first["layer_info"][n] for n in names
                                 if n in first.get("layer_info", {})})
    job.model_meta = model_meta
    job.provenance = provenance
    return ls


def _write_score_outputs(job: _ScoreJob, ls: LayerScores) -> None:
    """LayerScores, maps, table, then the provenance manifest (last) and checksums."""
    (out, sub, specs, act_files, model_id, names, bold, valid, model_meta,
     provenance, ls_path, table_path, prov_path, maps, outputs) = (
        job.out, job.sub, job.specs, job.act_files, job.model_id, job.names,
        job.bold, job.valid, job.model_meta, job.provenance, job.ls_path,
        job.table_path, job.prov_path, job.maps, job.outputs)
    n_targets = job.valid.size
    # the provenance JSON is the job's manifest, written last. Before the first output
    # changes it is replaced (atomically, never deleted) by an in-progress version
    # without a cache key, so an interrupted job never looks finished
    if prov_path.is_file():
        try:
            previous = read_json(prov_path)
        except DataError:
            previous = {}
        write_json(prov_path, {**(previous if isinstance(previous, dict) else {}),
                               "cache_key": None, "status": "in progress"})
    ls.save(ls_path)

    mean = ls.mean_scores  # (n_layers, n_targets)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(mean).any(0)
        best = np.where(finite, np.argmax(np.where(np.isfinite(mean), mean, -np.inf),
                                          0),
                        -1)
    hier = np.where(best >= 0, best.astype(np.float32), np.nan)
    slices = hemi_slices(bold.hemi_sizes, n_targets)
    mask = (bold.provenance.get("mask") if not bold.hemi_sizes else None)
    for key, path in maps.items():
        name, hemi = key.split("/")
        values = hier if name == "hierarchy" else mean[names.index(name)]
        values = values[slices[hemi]]
        if bold.hemi_sizes:
            _write_gifti_map(path, values, key)
        else:
            if mask is None:
                raise DataError("Volume maps need the brain mask used to load the "
                                "BOLD; "
                                "none was recorded.")
            write_volume_map(values, mask, path)
    _write_table(table_path, ls, valid, slices, sub, model_id, model_meta)
    write_json(layout.derivatives_description(out),
               {"Name": "brainscore_speech brain scores", "BIDSVersion": "1.8.0",
                "DatasetType": "derivative",
                "GeneratedBy": [{"Name": "brainscore_speech score"}]})
    write_json(prov_path, {**provenance, "outputs": [str(p.relative_to(out))
                                                     for p in outputs]})
    record_score(prov_path, outputs, act_files, bold, specs)  # for `verify`


_EDGE_WARNING = r".*lie at an edge of the grid"


def _warn_edge_alphas_once(per_layer: dict[str, LayerScores], alphas: Sequence[float],
                           n_samples: int, what: str) -> None:
    """One grid-edge warning for the whole job (all layers, cached ones too)."""
    from ..encoding.scoring import edge_alpha_summary, warn_edge_alphas

    grid = np.asarray(alphas, dtype=np.float64)
    total: dict[str, Any] = {"n_low": 0, "n_high": 0, "n_chosen": 0, "n_predicted": 0,
                             "r_threshold": np.nan}
    for ls in per_layer.values():
        s = edge_alpha_summary(ls.best_alphas, ls.scores, grid, n_samples=n_samples)
        for k in ("n_low", "n_high", "n_chosen", "n_predicted"):
            total[k] += s[k]
        total["r_threshold"] = s["r_threshold"]
    warn_edge_alphas(total, grid, what=what, stacklevel=4)


def _remove_stale_temps(folders: Sequence[Path], prefix: str, model_ent: str) -> None:
    """Delete temp files a killed run of this subject and model left behind.

    :func:`~brainscore_speech._io.atomic_path` cleans up on exceptions, but a
    process killed (SIGKILL, power loss) while writing leaves its ``.tmp-`` file.
    Only files of this subject/task/space and model are touched.
    """
    for folder in folders:
        if not folder.is_dir():
            continue
        for p in folder.glob(f"{prefix}*{TMP_MARK}*"):
            if f"_model-{model_ent}_" in p.name and p.is_file():
                logger.info("Removing %s, left by an interrupted run.", p)
                p.unlink(missing_ok=True)


def _write_table(path: Path, ls: LayerScores, valid: np.ndarray,
                 slices: dict[str, slice], subject: str, model_id: str,
                 model_meta: dict[str, Any]) -> None:
    import pandas as pd

    mean = ls.mean_scores
    rows = []
    for i, layer in enumerate(ls.layer_names):
        for hemi, sl in slices.items():
            v = mean[i, sl][valid[sl]]
            v = v[np.isfinite(v)]
            rows.append({
                "subject": f"sub-{subject}", "model": model_id, "layer": layer,
                "layer_index": i, "hemi": hemi, "roi": "all",
                "mean_r": float(v.mean()) if v.size else np.nan,
                "median_r": float(np.median(v)) if v.size else np.nan,
                "max_r": float(v.max()) if v.size else np.nan,
                "n_targets": int(v.size),
                "regime": model_meta.get("regime"),
                "language": model_meta.get("language"),
                "objective": model_meta.get("objective"),
                "participant_language": model_meta.get("participant_language"),
            })
    layout.write_tsv(path, pd.DataFrame(rows), float_format="%.6g")
