"""Checks of ``score`` that catch a wrong-but-successful run before it is written.

Called with one line each from :func:`~brainscore_speech.workflows.score.score_subject`:

- :func:`check_score_inputs` (before any BOLD is read): the output folder is
  usable, and every activation file was extracted from the study's own audio (the
  sha256 of the audio in the file's provenance against the file under
  ``BIDS_ROOT/stimuli``), so activations of *other* audio saved under the same
  stimulus names are refused instead of scored.
- :func:`check_bold_coverage` (after the BOLD is loaded): the NaN policy.
  Vertices with NaN/inf in any run are excluded from scoring (``load_bold`` warns
  once per run with their count; their maps hold NaN). A hemisphere with no usable
  vertex left (e.g. a whole hemisphere NaN in one run) is refused: scoring the
  other half of the brain silently would bias every group map.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._io import check_output_dir, file_hash
from .._logging import logger
from .._validation import check_device
from ..data.audio import AUDIO_EXTENSIONS
from ..exceptions import DataError
from ..spaces import hemi_slices

__all__ = ["check_score_inputs", "check_bold_coverage", "study_stimuli"]


def study_stimuli(bids_root: str | os.PathLike) -> dict[str, Path]:
    """Audio files under ``BIDS_ROOT/stimuli`` by stem (empty when absent)."""
    root = Path(bids_root) / "stimuli"
    if not root.is_dir():
        return {}
    return {p.stem: p for p in sorted(root.rglob("*"))
            if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()
            and ".tmp-" not in p.name}


def check_score_inputs(bids_root: str | os.PathLike, out: str | os.PathLike,
                       act_files: Mapping[str, Path],
                       metas: Mapping[str, Mapping[str, Any]], *,
                       device: str = "cpu") -> dict[str, str]:
    """Check the output folder and that activations match the study's audio.

    Parameters
    ----------
    bids_root : path-like
    out : path-like
        The derivatives folder ``score`` will write.
    act_files : mapping of str to Path
        Stimulus -> activation file.
    metas : mapping of str to dict
        Stimulus -> :func:`~brainscore_speech.containers.read_activation_meta`.
    device : str
        ``cpu``, ``cuda`` or ``cuda:<index>``.

    Returns
    -------
    dict of str to str
        Stimulus -> ``"ok"``, ``"no study audio"`` or ``"no audio hash"``.

    Raises
    ------
    UsageError
        ``out`` is a file (or under one), or ``device`` is not a device.
    PermissionError
        ``out`` is not writable.
    DataError
        An activation file was extracted from audio whose sha256 differs from the
        study's stimulus of the same name.
    """
    check_device("device", device)
    check_output_dir(out, what="--out")
    stimuli = study_stimuli(bids_root)
    status: dict[str, str] = {}
    for stim, meta in metas.items():
        audio = ((meta.get("provenance") or {}).get("inputs") or {}).get("audio")
        want = audio.get("sha256") if isinstance(audio, Mapping) else None
        if stim not in stimuli:
            status[stim] = "no study audio"
        elif not want:
            status[stim] = "no audio hash"
        else:
            got = file_hash(stimuli[stim])
            if got != want:
                raise DataError(
                    f"{act_files[stim]} was extracted from other audio than the "
                    f"study's stimulus {stimuli[stim]} (sha256 {want[:12]}... vs "
                    f"{got[:12]}...); re-run `extract` on the study's stimuli.")
            status[stim] = "ok"
    no_audio = sorted(s for s, v in status.items() if v == "no study audio")
    if no_audio:  # say it: the check needs BIDS_ROOT/stimuli
        logger.info("Could not check that %d of %d activation file(s) come from the "
                    "study's audio: no %s under %s.", len(no_audio), len(status),
                    "file" if len(no_audio) == 1 else "files",
                    Path(bids_root) / "stimuli")
    n_nohash = sum(v == "no audio hash" for v in status.values())
    if n_nohash:  # simulated stage features: not extracted from audio
        logger.debug("%d activation file(s) record no audio hash (not extracted "
                     "from audio); not checked against the study's stimuli.", n_nohash)
    return status


def check_bold_coverage(bold, subject: str) -> None:
    """Refuse a hemisphere (or a whole target set) with no usable target left.

    Parameters
    ----------
    bold : BoldRuns
        With ``valid`` (False for targets NaN/inf or constant in some run).
    subject : str

    Raises
    ------
    DataError
        ``sub-01: no usable vertex left in hemisphere L (10242 NaN/inf or constant
        in run(s) ['task-listen_run-2'])...``
    """
    if bold.valid is None:
        return
    valid = np.asarray(bold.valid, dtype=bool)
    runs = (bold.provenance or {}).get("runs", {})
    bad_runs = sorted(k for k, r in runs.items()
                      if r.get("n_nonfinite_targets") or r.get("n_constant_targets"))
    for hemi, sl in hemi_slices(bold.hemi_sizes, valid.size).items():
        block, size = valid[sl], sl.stop - sl.start
        if size and not block.any():
            label = f"hemisphere {hemi}" if hemi != "all" else "the data"
            raise DataError(
                f"sub-{subject}: no usable vertex left in {label} ({size} NaN/inf or "
                f"constant in run(s) {bad_runs}); refusing to score part of the "
                "brain. Fix or leave out that run.")


def record_score(prov_path: Path, outputs, act_files: Mapping[str, Path], bold,
                 specs) -> Path:
    """Write ``<prefix>_checksums.json`` beside ``prov_path`` (see ``integrity``).

    Inputs: the activation files, each run's BOLD (and mask/confounds) files, BOLD
    sidecars and events files; outputs: the maps, scores, table and provenance.
    """
    from ..integrity import record_outputs

    inputs = [*act_files.values()]
    for run in ((bold.provenance or {}).get("runs") or {}).values():
        inputs += [Path(p) for p in run.get("files", [])]
    for spec in specs:
        inputs += [p for p in (spec.sidecar, spec.events) if p is not None]
    record = prov_path.with_name(prov_path.name.replace("_provenance.json",
                                                       "_checksums.json"))
    return record_outputs(record, step="score", outputs=[*outputs, prov_path],
                          inputs=dict.fromkeys(inputs))
