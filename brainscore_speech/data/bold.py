"""Load preprocessed BOLD from a BIDS dataset with fMRIPrep derivatives.

The raw BIDS tree gives the timing of each run (``*_bold.json`` sidecars:
``RepetitionTime``; ``*_events.tsv``: which stimulus played and when); the
fMRIPrep derivatives give the data: surface GIFTI
(``*_space-fsaverage5_hemi-{L,R}_bold.func.gii``, either entity order) or volume
NIfTI (``*_space-MNI..._desc-preproc_bold.nii.gz`` with its brain mask), and
the confounds table read with :func:`nilearn.interfaces.fmriprep.load_confounds`.
Each run is cleaned with :func:`nilearn.signal.clean` (detrend, confounds,
optional high-pass) and z-scored over time.

Files are found with :func:`nilearn.interfaces.bids.get_bids_files`; nothing
here parses BIDS names by hand.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import layout
from .._io import read_json, read_tsv
from .._logging import logger, verbose
from .._validation import check_option
from ..containers import BoldRuns
from ..exceptions import BrainscoreWarning, DataError
from ..spaces import concat_hemis, is_surface
from .studies import StudyPreset, load_study

__all__ = [
    "RunSpec",
    "describe_runs",
    "find_bold_files",
    "read_gifti_timeseries",
    "read_events",
    "read_participant_language",
    "load_bold",
    "slice_time_reference",
    "CONFOUND_STRATEGIES",
]

#: Confound strategies of ``load_confounds`` that keep every scan (no censoring).
CONFOUND_STRATEGIES = ("motion", "high_pass", "wm_csf", "global_signal", "compcor",
                       "non_steady_state")


@dataclass(frozen=True)
class RunSpec:
    """Timing of one run, derived from the raw BIDS tree (and a study preset).

    Parameters
    ----------
    key : str
        Unique run key within the subject: ``task-<T>_run-<r>`` or ``task-<T>``.
    task : str
        BIDS task label.
    run : str or None
        BIDS run label (None when the run entity is absent).
    stimulus : str
        Stimulus identifier (audio stem) played in the run.
    onset_s : float
        Audio onset relative to the first scan, in seconds.
    tr_s : float
        Repetition time from the sidecar, in seconds.
    sidecar : Path
        The ``*_bold.json`` the TR came from.
    events : Path or None
        The ``*_events.tsv`` (None when the preset gives the stimulus).
    stimulus_duration_s : float or None
        Audio duration in seconds (preset or events), None when unknown.
    expected_scans : int or None
        Scans per run from the preset, None when unknown.
    padding_end_s : float
        Scans kept after the audio offset, in seconds.
    """

    key: str
    task: str
    run: str | None
    stimulus: str
    onset_s: float
    tr_s: float
    sidecar: Path
    events: Path | None = None
    stimulus_duration_s: float | None = None
    expected_scans: int | None = None
    padding_end_s: float = 0.0


def _sub(subject: str) -> str:
    subject = str(subject)
    return subject[4:] if subject.startswith("sub-") else subject


def _run_sort_key(entities: Mapping[str, str]) -> tuple:
    run = entities.get("run")
    num = int(run) if run is not None and run.isdigit() else -1
    return (entities.get("task", ""), num, run or "")


def read_events(path: str | os.PathLike) -> tuple[str, float, float | None]:
    """Read a BIDS ``events.tsv``: the stimulus played, its onset and duration.

    The stimulus is the stem of the first ``stim_file`` that is not ``n/a``; its
    onset is the earliest onset of the rows naming that file and its duration
    runs to the end of the last such row (Narratives plays a music clip and
    the story from one audio file).

    Parameters
    ----------
    path : path
        The events file.

    Returns
    -------
    stimulus : str
        Audio file stem, e.g. ``"pieman_audio"``.
    onset_s : float
        Onset of the audio relative to the first scan, in seconds.
    duration_s : float or None
        Duration covered by the events of that stimulus, in seconds.

    Raises
    ------
    DataError
        Missing columns, or no row with a ``stim_file``.
    """
    import pandas as pd

    path = Path(path)
    try:
        df = pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=True)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise DataError(f"Cannot read events file {path}: {err}") from None
    missing = [c for c in ("onset", "duration", "stim_file") if c not in df.columns]
    if missing:
        raise DataError(
            f"Events file {path} must have columns onset, duration and stim_file; "
            f"missing {missing} (found {list(df.columns)})."
        )
    rows = df[df["stim_file"].notna()]
    if rows.empty:
        raise DataError(f"Events file {path} has no row with a 'stim_file'.")
    stim_file = str(rows["stim_file"].iloc[0])
    rows = rows[rows["stim_file"] == stim_file]
    onset = float(rows["onset"].min())
    ends = rows["onset"] + rows["duration"]
    duration = float(ends.max() - onset) if np.isfinite(ends.max()) else None
    stem = Path(stim_file).name
    for ext in (".wav", ".flac", ".mp3", ".ogg", ".aiff", ".aif"):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
    return stem, onset, duration


def read_participant_language(bids_root: str | os.PathLike, subject: str) -> str | None:
    """The ``language`` column of ``participants.tsv`` for ``subject``, if any."""

    path = layout.bids_participants(bids_root)
    if not path.is_file():
        return None
    df = read_tsv(path, what="participants file", dtype=str, na_values=["n/a"])
    df.columns = [c.strip().lstrip("\ufeff") for c in df.columns]
    if "language" not in df.columns or "participant_id" not in df.columns:
        return None
    hit = df[df["participant_id"].str.strip() == f"sub-{_sub(subject)}"]
    if hit.empty or hit["language"].isna().all():
        return None
    return str(hit["language"].iloc[0]).strip()


def _sidecar_tr(paths, sub: str, t: str, r, preset) -> float:
    """The run's RepetitionTime (its sidecars agree, the study preset too)."""
    trs = set()
    for p in paths:
        meta = read_json(p)
        if "RepetitionTime" not in meta:
            raise DataError(f"Sidecar {p} has no 'RepetitionTime'.")
        trs.add(float(meta["RepetitionTime"]))
    if len(trs) != 1:
        raise DataError(f"Sidecars of sub-{sub} task-{t} run-{r} disagree on "
                        f"RepetitionTime: {sorted(trs)} ({paths}).")
    tr_s = trs.pop()
    if preset and preset.tr_s is not None and not math.isclose(
            tr_s, preset.tr_s, rel_tol=1e-3):
        raise DataError(
            f"Sidecar {paths[0]} has RepetitionTime {tr_s} s but study "
            f"{preset.name!r} expects {preset.tr_s} s."
        )
    return tr_s


def _run_stimulus(preset, k: int, events_path, sub: str, t: str, r, paths, tr_s):
    """Stimulus, onset (s), audio duration and expected scans of a run.

    From the study preset when it names the run's stimulus, else from events.tsv.
    """
    duration = None
    expected = None
    if preset and preset.run_stimuli:
        stimulus = preset.run_stimuli[k]
        onset = 0.0
        if preset.stimulus_durations_s:
            duration = float(preset.stimulus_durations_s[k])
        expected = preset.expected_scans(k)
    elif events_path is not None:
        stimulus, onset, duration = read_events(events_path)
    else:
        raise DataError(
            f"sub-{sub} task-{t}" + (f" run-{r}" if r else "") + ": no events.tsv "
            f"next to {paths[0]} and no study preset naming the stimulus."
        )
    if preset is not None:
        prescribed = preset.onset_for(stimulus, t, tr_s)
        if prescribed is not None:
            if events_path is not None and not preset.run_stimuli and \
                    abs(prescribed - onset) > 1e-6:
                logger.info("sub-%s task-%s: events onset %.2f s, study %r onset "
                            "%.2f s (using the study's).", sub, t, onset,
                            preset.name, prescribed)
            onset = prescribed
    return stimulus, onset, duration, expected


def describe_runs(bids_root: str | os.PathLike, subject: str, *,
                  task: str | None = None,
                  study: str | os.PathLike | StudyPreset | None = None
                  ) -> list[RunSpec]:
    """Runs of a subject with their TR, stimulus and onset, from the raw BIDS tree.

    Parameters
    ----------
    bids_root : path
        Root of the BIDS dataset (holds ``sub-<label>/func``).
    subject : str
        Subject label, with or without ``sub-``.
    task : str, optional
        Only this task (default: the preset's task, else every task).
    study : str, path or StudyPreset, optional
        Study preset giving run -> stimulus tables, onsets and exclusions.

    Returns
    -------
    list of RunSpec
        Sorted by task, then run number.

    Raises
    ------
    FileNotFoundError
        No ``*_bold.json`` sidecar for the subject (and task).
    DataError
        Missing ``RepetitionTime``, TR different from the preset, runs missing
        with respect to the preset, or a run without events and no preset table.
    """
    from nilearn.interfaces.bids import get_bids_files, parse_bids_filename

    preset = load_study(study) if study is not None else None
    sub = _sub(subject)
    task = task if task is not None else (preset.task if preset else None)
    root = Path(bids_root)
    filters = [("task", task)] if task else None
    sidecars = get_bids_files(root, file_tag="bold", file_type="json", sub_label=sub,
                              modality_folder="func", filters=filters)
    groups: dict[tuple[str, str | None], list[str]] = {}
    for path in sidecars:
        ent = parse_bids_filename(path)["entities"]
        if preset and ent.get("task") in preset.exclude_tasks:
            continue
        groups.setdefault((ent.get("task", ""), ent.get("run")), []).append(path)
    if not groups:
        what = f" task-{task}" if task else ""
        raise FileNotFoundError(
            f"No BOLD sidecar (sub-{sub}_*{what}*_bold.json) found for sub-{sub} under "
            f"{root / f'sub-{sub}'}."
        )
    ordered = sorted(groups, key=lambda k: _run_sort_key({"task": k[0], "run": k[1]}))
    if preset and preset.n_runs is not None:
        tasks = {k[0] for k in ordered}
        for t in sorted(tasks):
            found = [r for (tt, r) in ordered if tt == t]
            if len(found) != preset.n_runs:
                raise DataError(
                    f"sub-{sub} task-{t}: expected {preset.n_runs} runs (study "
                    f"{preset.name!r}), found {len(found)}: "
                    f"{[f'run-{r}' for r in found]}."
                )
    specs = []
    index_in_task: dict[str, int] = {}
    for t, r in ordered:
        paths = sorted(groups[(t, r)])
        tr_s = _sidecar_tr(paths, sub, t, r, preset)
        k = index_in_task.get(t, 0)
        index_in_task[t] = k + 1
        ev_filters = [("task", t)] + ([("run", r)] if r is not None else [])
        events = [e for e in get_bids_files(root, file_tag="events", file_type="tsv",
                                            sub_label=sub, modality_folder="func",
                                            filters=ev_filters)
                  if (parse_bids_filename(e)["entities"].get("run") == r)]
        events_path = Path(events[0]) if events else None
        stimulus, onset, duration, expected = _run_stimulus(
            preset, k, events_path, sub, t, r, paths, tr_s)
        key = f"task-{t}" + (f"_run-{r}" if r is not None else "")
        specs.append(RunSpec(key=key, task=t, run=r, stimulus=stimulus,
                             onset_s=float(onset), tr_s=tr_s, sidecar=Path(paths[0]),
                             events=events_path, stimulus_duration_s=duration,
                             expected_scans=expected,
                             padding_end_s=preset.padding_end_s if preset else 0.0))
    return specs


def find_bold_files(derivatives: str | os.PathLike, subject: str, spec: RunSpec, *,
                    space: str = "fsaverage5") -> dict[str, Path]:
    """Locate the fMRIPrep BOLD of one run.

    Parameters
    ----------
    derivatives : path
        fMRIPrep derivatives root (holds ``sub-<label>/func``).
    subject : str
        Subject label.
    spec : RunSpec
        The run (from :func:`describe_runs`).
    space : str
        ``fsaverage*`` (GIFTI, both hemispheres) or a volume space.

    Returns
    -------
    dict
        ``{"L": path, "R": path}`` for surfaces; ``{"bold": path, "mask": path}``
        for volumes (``mask`` absent when fMRIPrep wrote none).

    Raises
    ------
    FileNotFoundError
        The run or one hemisphere is missing (the message names what was
        looked for and where).
    """
    from nilearn.interfaces.bids import get_bids_files, parse_bids_filename

    sub = _sub(subject)
    filters = [("task", spec.task), ("space", space)]
    if spec.run is not None:
        filters.append(("run", spec.run))
    where = f"sub-{sub} {spec.key} space-{space}"
    folder = Path(derivatives) / f"sub-{sub}"

    def _same_run(p: str) -> bool:
        return parse_bids_filename(p)["entities"].get("run") == spec.run

    if is_surface(space):
        files = [p for p in get_bids_files(derivatives, file_tag="bold",
                                           file_type="func.gii", sub_label=sub,
                                           modality_folder="func", filters=filters)
                 if _same_run(p) and ".tmp-" not in p]
        by_hemi = {parse_bids_filename(p)["entities"].get("hemi"): Path(p)
                   for p in files}
        if not by_hemi:
            raise FileNotFoundError(
                f"Missing run: no fMRIPrep BOLD for {where} "
                f"(*_hemi-{{L,R}}_bold.func.gii) under {folder}."
            )
        for hemi in ("L", "R"):
            if hemi not in by_hemi:
                raise FileNotFoundError(
                    f"Missing hemisphere {hemi} for {where}: found only "
                    f"{[str(p.name) for p in by_hemi.values()]} in "
                    f"{next(iter(by_hemi.values())).parent}."
                )
        return {"L": by_hemi["L"], "R": by_hemi["R"]}
    files = [p for p in get_bids_files(derivatives, file_tag="bold", file_type="nii*",
                                       sub_label=sub, modality_folder="func",
                                       filters=filters + [("desc", "preproc")])
             if _same_run(p) and ".tmp-" not in p]
    if not files:
        raise FileNotFoundError(
            f"Missing run: no fMRIPrep BOLD for {where} (*_desc-preproc_bold.nii.gz) "
            f"under {folder}."
        )
    out = {"bold": Path(files[0])}
    masks = [p for p in get_bids_files(derivatives, file_tag="mask", file_type="nii*",
                                       sub_label=sub, modality_folder="func",
                                       filters=filters + [("desc", "brain")])
             if _same_run(p)]
    if masks:
        out["mask"] = Path(masks[0])
    return out


def _derivative_sidecar(path: Path) -> Path:
    name = path.name
    for ext in (".func.gii", ".nii.gz", ".nii"):
        if name.endswith(ext):
            return path.with_name(name[: -len(ext)] + ".json")
    return path.with_suffix(".json")


def slice_time_reference(raw_sidecar: str | os.PathLike,
                         bold_files: Sequence[str | os.PathLike], tr_s: float
                         ) -> tuple[float, str]:
    """Time within each TR that a preprocessed scan represents, as a TR fraction.

    Read, in order of precedence:

    1. the fMRIPrep sidecar of the preprocessed BOLD (``*_bold.json`` beside
       the ``.func.gii``/``.nii.gz``): ``StartTime`` (seconds) when
       ``SliceTimingCorrected`` is true (fMRIPrep writes the slice-timing
       reference ``tzero`` there); when it is false, the data were not
       corrected and the middle of the slice acquisition is used;
    2. the raw sidecar's ``SliceTiming``: fMRIPrep corrects to
       ``first + 0.5 * (last - first)`` by default (``--slice-time-ref 0.5``);
    3. otherwise the middle of the acquisition, 0.5 (fMRIPrep's default).

    Parameters
    ----------
    raw_sidecar : path
        The raw BIDS ``*_bold.json``.
    bold_files : sequence of path
        The preprocessed BOLD file(s) of the run (both hemispheres for surfaces).
    tr_s : float
        Repetition time in seconds.

    Returns
    -------
    slice_time_ref : float
        Fraction of the TR in [0, 1] (nilearn's ``slice_time_ref`` convention:
        scan ``j`` is at ``(j + slice_time_ref) * tr_s`` seconds).
    source : str
        Where the value came from (for provenance).

    Raises
    ------
    DataError
        ``StartTime`` or ``SliceTiming`` outside [0, TR], or the sidecars of
        the two hemispheres disagree.
    """
    found: dict[str, tuple[float, str]] = {}
    raw = read_json(raw_sidecar) if Path(raw_sidecar).is_file() else {}
    times = raw.get("SliceTiming")
    middle = None
    if times:
        t = np.asarray(times, dtype=np.float64)
        if t.min() < 0 or t.max() > tr_s + 1e-6:
            raise DataError(
                f"Sidecar {raw_sidecar} has SliceTiming in [{t.min():g}, {t.max():g}] "
                f"s, outside the TR [0, {tr_s:g}] s.")
        middle = float(np.round(t.min() + 0.5 * (t.max() - t.min()), 3))
    for bold in bold_files:
        side = _derivative_sidecar(Path(bold))
        if not side.is_file():
            continue
        meta = read_json(side)
        corrected = meta.get("SliceTimingCorrected")
        if corrected is False:
            value = 0.5 if middle is None else middle / tr_s
            found[side.name] = (value, f"{side.name}: SliceTimingCorrected false, "
                                       "middle of the slice acquisition")
        elif "StartTime" in meta:
            start = float(meta["StartTime"])
            if not 0.0 <= start <= tr_s + 1e-6:
                raise DataError(f"Sidecar {side} has StartTime {start:g} s, outside "
                                f"the TR [0, {tr_s:g}] s.")
            found[side.name] = (start / tr_s, f"{side.name}: StartTime {start:g} s")
    if found:
        values = {round(v, 6) for v, _ in found.values()}
        if len(values) != 1:
            raise DataError(f"Preprocessed BOLD sidecars disagree on the slice-timing "
                            f"reference: { {k: v for k, (v, _) in found.items()} }.")
        return next(iter(found.values()))
    if middle is not None:
        return middle / tr_s, (f"{Path(raw_sidecar).name}: SliceTiming, fMRIPrep's "
                               f"default reference {middle:g} s (middle)")
    return 0.5, "default: middle of the acquisition (no slice-timing metadata)"


def _gifti_tr(img) -> float | None:
    """TR stored in GIFTI metadata (``TimeStep``; ms when >= 50, else s)."""
    for meta in [img.meta] + [d.meta for d in img.darrays[:1]]:
        value = dict(meta or {}).get("TimeStep")
        if value is not None:
            try:
                step = float(value)
            except ValueError:
                return None
            return step / 1000.0 if step >= 50 else step
    return None


def read_gifti_timeseries(path: str | os.PathLike) -> tuple[np.ndarray, float | None]:
    """Read a GIFTI time series.

    Parameters
    ----------
    path : path
        A ``*.func.gii`` with one data array per scan (fMRIPrep) or one 2-D array.

    Returns
    -------
    data : array of shape (n_scans, n_vertices), float32
    tr_s : float or None
        ``TimeStep`` from the metadata in seconds, when present.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    DataError
        Truncated, unreadable or ragged file (the message names it).
    """
    import nibabel as nib

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"GIFTI file not found: {path}")
    try:
        img = nib.load(str(path))
        arrays = [np.asarray(d.data) for d in img.darrays]
    except Exception as err:  # nibabel raises many types on corrupt XML/base64
        raise DataError(f"Cannot read GIFTI file {path} (truncated or corrupt?): "
                        f"{type(err).__name__}: {err}") from None
    if not arrays:
        raise DataError(f"GIFTI file {path} holds no data arrays.")
    if len(arrays) == 1 and arrays[0].ndim == 2:
        data = arrays[0].T if arrays[0].shape[0] > arrays[0].shape[1] else arrays[0]
    else:
        sizes = {a.size for a in arrays}
        if len(sizes) != 1:
            raise DataError(f"GIFTI file {path} has data arrays of different sizes "
                            f"{sorted(sizes)}.")
        data = np.stack([a.ravel() for a in arrays], axis=0)
    return np.asarray(data, dtype=np.float32), _gifti_tr(img)


def _read_volume(files: Mapping[str, Path], mask_img: Any) -> tuple[np.ndarray,
                                                                    float | None]:
    import nibabel as nib
    from nilearn.maskers import NiftiMasker

    path = files["bold"]
    try:
        img = nib.load(str(path))
        img.get_fdata(dtype=np.float32)  # force a full read: catches truncation
    except Exception as err:
        raise DataError(f"Cannot read NIfTI file {path} (truncated or corrupt?): "
                        f"{type(err).__name__}: {err}") from None
    if img.ndim != 4:
        raise DataError(f"NIfTI file {path} must be 4-D (x, y, z, time), got shape "
                        f"{img.shape}.")
    mask = mask_img if mask_img is not None else files.get("mask")
    if mask is None:
        raise FileNotFoundError(
            f"No brain mask for {path}: expected a *_desc-brain_mask.nii.gz next to "
            f"it, "
            "or pass 'mask_img'."
        )
    data = NiftiMasker(mask_img=str(mask) if isinstance(mask, Path) else mask,
                       standardize=None).fit_transform(img)
    zooms = img.header.get_zooms()
    tr = float(zooms[3]) if len(zooms) > 3 and zooms[3] > 0 else None
    if tr is not None:
        unit = img.header.get_xyzt_units()[1]
        if unit == "msec":
            tr /= 1000.0
        elif unit == "usec":
            tr /= 1e6
    return np.asarray(data, dtype=np.float32), tr


_FSPACE_HEMI_FIRST = re.compile(r"_hemi-[LR](_space-.*)?_bold\.func\.gii$")


def _load_run_confounds(files: Mapping[str, Path], strategy: Sequence[str],
                        where: str) -> np.ndarray | None:
    """fMRIPrep confounds of a run via nilearn's ``load_confounds``."""
    from nilearn.interfaces.fmriprep import load_confounds

    if not strategy:
        return None
    if "L" in files:
        imgs = [str(files["L"]), str(files["R"])]
        # nilearn expects fMRIPrep >= 20.2 names (hemi before space); the older
        # order (space before hemi, Narratives, ARCHITECTURE.md) names the same run.
        fixed = []
        for p in imgs:
            if not _FSPACE_HEMI_FIRST.search(p):
                m = re.search(r"(_space-[^_]+)(_hemi-[LR])", p)
                if m:
                    p = p[:m.start()] + m.group(2) + m.group(1) + p[m.end():]
            fixed.append(p)
        imgs_arg: Any = fixed
    else:
        imgs_arg = str(files["bold"])
    try:
        conf, sample_mask = load_confounds(imgs_arg, strategy=tuple(strategy),
                                           motion="basic", wm_csf="basic",
                                           global_signal="basic")
    except (ValueError, FileNotFoundError, KeyError) as err:
        raise DataError(f"Cannot load fMRIPrep confounds for {where}: {err}") from None
    if sample_mask is not None:
        raise DataError(f"Confound strategy {list(strategy)} censors scans of {where}; "
                        "censoring breaks the stimulus alignment, drop 'scrub'.")
    if conf is None or conf.shape[1] == 0:
        return None
    return np.asarray(conf.values, dtype=np.float64)


def _read_run_bold(files: dict, spec, where: str, mask_img):
    """One run's BOLD (hemispheres concatenated, or masked volume), TR-checked.

    Returns
    -------
    data : array of shape (n_scans, n_targets)
    sizes : dict of str to int or None
    mask : str or None
        Volume data: the mask used.
    """
    mask_here = None
    if "L" in files:
        left, tr_l = read_gifti_timeseries(files["L"])
        right, tr_r = read_gifti_timeseries(files["R"])
        if left.shape[0] != right.shape[0]:
            raise DataError(
                f"{where}: hemispheres have different numbers of scans "
                f"(L {left.shape[0]} in {files['L'].name}, R {right.shape[0]} in "
                f"{files['R'].name})."
            )
        data, sizes = concat_hemis({"L": left, "R": right}, axis=1)
        file_trs = [(files["L"], tr_l), (files["R"], tr_r)]
    else:
        data, tr_v = _read_volume(files, mask_img)
        sizes = None
        file_trs = [(files["bold"], tr_v)]
        mask_here = str(mask_img) if isinstance(mask_img, (str, os.PathLike)) \
            else (str(files["mask"]) if "mask" in files else None)
    for path, tr_file in file_trs:
        if tr_file is not None and not math.isclose(tr_file, spec.tr_s, rel_tol=1e-2):
            raise DataError(
                f"TR mismatch for {where}: sidecar {spec.sidecar.name} says "
                f"RepetitionTime {spec.tr_s} s but {path.name} says {tr_file} s."
            )
    return data, sizes, mask_here


def _check_run_duration(spec, n_scans: int, stimulus_durations_s, preset, tol: float,
                        where: str) -> None:
    """The run covers onset + audio + end padding (within the tolerance)."""
    duration = (stimulus_durations_s or {}).get(spec.stimulus, spec.stimulus_duration_s)
    if duration is not None:
        needed = spec.onset_s + float(duration) + spec.padding_end_s
        have = n_scans * spec.tr_s
        # Without a preset the end padding is unknown: allow up to 16 s (the
        # HRF tail) on top of the tolerance.
        extra = 0.0 if preset is not None else 16.0
        if have < needed - tol - spec.tr_s or have > needed + extra + tol + spec.tr_s:
            raise DataError(
                f"{where}: BOLD has {n_scans} scans ({have:.1f} s at TR "
                f"{spec.tr_s} s) but stimulus {spec.stimulus!r} needs {needed:.1f} s "
                f"(onset {spec.onset_s:.1f} + audio {float(duration):.1f} + padding "
                f"{spec.padding_end_s:.1f} s); tolerance {tol + spec.tr_s:.1f} s"
                + (f" (+{extra:.0f} s end padding)." if extra else ".")
            )
    if spec.expected_scans is not None and spec.expected_scans != n_scans:
        warnings.warn(f"{where}: {n_scans} scans, study {preset.name!r} lists "
                      f"{spec.expected_scans}.", BrainscoreWarning, stacklevel=3)


def _clean_run(data, confounds, spec, where: str, n_targets: int, *, trim_onset: bool,
               detrend: bool, standardize: bool, high_pass_hz):
    """Mask non-finite targets, trim the onset, regress confounds, filter, z-score."""
    from nilearn.signal import clean

    bad = ~np.isfinite(data).all(axis=0)
    if bad.any():
        first = np.flatnonzero(bad)[:5].tolist()
        warnings.warn(
            f"{where}: {int(bad.sum())} of {n_targets} targets contain NaN/inf "
            f"(first indices {first}); they are masked (valid=False), not scored.",
            BrainscoreWarning, stacklevel=3)
        data = np.where(np.isfinite(data), data, 0.0).astype(np.float32)
    onset = spec.onset_s
    if trim_onset and onset >= spec.tr_s:
        drop = int(math.floor(onset / spec.tr_s + 1e-6))
        data = data[drop:]
        confounds = confounds[drop:] if confounds is not None else None
        onset -= drop * spec.tr_s
    constant = np.asarray(data.std(axis=0) == 0)
    cleaned = clean(data, detrend=detrend,
                    standardize="zscore_sample" if standardize else None,
                    confounds=confounds, high_pass=high_pass_hz,
                    t_r=spec.tr_s if high_pass_hz else None)
    cleaned = np.asarray(cleaned, dtype=np.float32)
    return data, confounds, onset, bad, constant, cleaned


@verbose
def load_bold(bids_root: str | os.PathLike, subject: str, *,
              task: str | None = None, space: str = "fsaverage5",
              derivatives: str | os.PathLike | None = None,
              study: str | os.PathLike | StudyPreset | None = None,
              confounds_strategy: Sequence[str] = ("motion", "high_pass", "wm_csf"),
              detrend: bool = True, standardize: bool = True,
              high_pass_hz: float | None = None,
              stimulus_durations_s: Mapping[str, float] | None = None,
              trim_onset: bool = True, mask_img: Any = None,
              verbose: bool | int | str | None = None) -> BoldRuns:
    """Load, check and clean one subject's preprocessed BOLD, one array per run.

    Parameters
    ----------
    bids_root : path
        BIDS root with raw sidecars and events.
    subject : str
        Subject label (``"01"`` or ``"sub-01"``).
    task : str, optional
        Task to load (default: the preset's, else every task).
    space : str, default="fsaverage5"
        fMRIPrep output space: ``fsaverage*`` loads both hemispheres' GIFTI
        (targets = left vertices then right vertices); anything else loads a
        volume NIfTI through a NiftiMasker with the run's brain mask.
    derivatives : path, optional
        fMRIPrep derivatives root (default ``bids_root/derivatives/fmriprep``).
    study : str, path or StudyPreset, optional
        Study preset (see :mod:`brainscore_speech.data.studies`).
    confounds_strategy : sequence of str, default=("motion", "high_pass", "wm_csf")
        Passed to :func:`nilearn.interfaces.fmriprep.load_confounds`; empty for none.
    detrend, standardize : bool, default=True
        Linear detrending, and z-scoring of each target over each run.
    high_pass_hz : float, optional
        Butterworth high-pass cut-off in Hz (on top of the cosine confounds).
    stimulus_durations_s : mapping of str to float, optional
        Audio duration per stimulus (e.g. from the activation files); overrides
        the preset/events durations in the length check.
    trim_onset : bool, default=True
        Drop the whole TRs before the audio onset (Narratives' offsets), so the
        stored onset is below one TR.
    mask_img : Niimg-like, optional
        Volume mask overriding the fMRIPrep brain mask.
    verbose : bool, int, str or None
        Logging level for this call.

    Returns
    -------
    BoldRuns
        ``runs[key]`` is an array of shape (n_scans, n_targets), float32, cleaned
        and z-scored per run; ``valid`` is False for targets with NaN/inf or
        constant values in any run (their values are set to 0 and they must
        not be scored).

    Raises
    ------
    FileNotFoundError
        Missing sidecars, runs, hemispheres or mask.
    DataError
        TR mismatch between sidecar and file, BOLD length incompatible with the
        stimulus, unreadable files, inconsistent vertex counts.

    Warns
    -----
    BrainscoreWarning
        When targets are masked because of NaN/inf values.
    """
    for s in confounds_strategy:
        check_option("confounds_strategy", s, CONFOUND_STRATEGIES)
    preset = load_study(study) if study is not None else None
    sub = _sub(subject)
    deriv = Path(derivatives) if derivatives is not None else \
        layout.fmriprep_dir(bids_root)
    if not deriv.is_dir():
        raise FileNotFoundError(f"fMRIPrep derivatives folder not found: {deriv}")
    specs = describe_runs(bids_root, sub, task=task, study=preset)
    trs = {s.tr_s for s in specs}
    if len(trs) != 1:
        raise DataError(f"sub-{sub}: runs have different TRs {sorted(trs)}; load one "
                        "task at a time with 'task'.")
    tr_s = trs.pop()
    tol = preset.duration_tolerance_s if preset else 4.0
    runs, stimuli, onsets, report = {}, {}, {}, {}
    valid: np.ndarray | None = None
    hemi_sizes = None
    n_targets = None
    mask_used = None
    for spec in specs:
        files = find_bold_files(deriv, sub, spec, space=space)
        where = f"sub-{sub} {spec.key}"
        data, sizes, mask_here = _read_run_bold(files, spec, where, mask_img)
        if mask_used is None:
            mask_used = mask_here
        if n_targets is None:
            n_targets, hemi_sizes = data.shape[1], sizes
        elif data.shape[1] != n_targets:
            raise DataError(f"{where}: {data.shape[1]} targets, but earlier runs have "
                            f"{n_targets}.")
        n_scans = data.shape[0]
        _check_run_duration(spec, n_scans, stimulus_durations_s, preset, tol, where)
        confounds = _load_run_confounds(files, confounds_strategy, where)
        if confounds is not None and confounds.shape[0] != n_scans:
            raise DataError(f"{where}: confounds have {confounds.shape[0]} rows but "
                            f"the "
                            f"BOLD has {n_scans} scans.")
        data, confounds, onset, bad, constant, cleaned = _clean_run(
            data, confounds, spec, where, n_targets, trim_onset=trim_onset,
            detrend=detrend, standardize=standardize, high_pass_hz=high_pass_hz)
        run_bad = bad | constant
        cleaned[:, run_bad] = 0.0
        valid = ~run_bad if valid is None else valid & ~run_bad
        runs[spec.key] = cleaned
        stimuli[spec.key] = spec.stimulus
        onsets[spec.key] = float(onset)
        stref, stsource = slice_time_reference(
            spec.sidecar, [p for k, p in files.items() if k != "mask"], spec.tr_s)
        report[spec.key] = {
            "files": [str(p) for p in files.values()], "n_scans": int(cleaned.shape[0]),
            "slice_time_ref": float(stref), "slice_time_source": stsource,
            "n_nonfinite_targets": int(bad.sum()),
            "n_constant_targets": int(constant.sum()),
            "trimmed_scans": int(n_scans - cleaned.shape[0]),
        }
        logger.debug("%s: %s scans x %s targets", where, *cleaned.shape)
    logger.info("Loaded sub-%s: %d runs, %d targets (%d valid), TR %.2f s", sub,
                len(runs), n_targets, int(valid.sum()), tr_s)
    return BoldRuns(subject=sub, runs=runs, tr_s=tr_s, space=space, stimuli=stimuli,
                    onsets_s=onsets, hemi_sizes=hemi_sizes, valid=valid,
                    task=task if task is not None else (
                        specs[0].task if len({s.task for s in specs}) == 1 else None),
                    provenance={"runs": report,
                                "confounds_strategy": list(confounds_strategy),
                                "study": preset.name if preset else None,
                                "mask": mask_used,
                                "derivatives": str(deriv)})
