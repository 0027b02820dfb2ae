"""Checks run before any training work: the output folder, --resume, --max-steps.

Called with one line from :func:`~brainscore_speech.training.train` and
:func:`~brainscore_speech.training.build_manifest`, so that nothing of the user's is
moved or overwritten and nothing is silently skipped or started afresh.
"""

from __future__ import annotations

from pathlib import Path

from .. import layout
from .._io import TMP_MARK, check_output_dir
from .._logging import logger
from .._validation import check_number
from ..data.audio import TARGET_SFREQ
from ..exceptions import DataError, UsageError

__all__ = ["check_train_out", "min_manifest_samples", "report_skipped", "MIN_SAMPLES"]

#: Shortest audio a wav2vec 2.0 feature encoder turns into one frame (its receptive
#: field, 400 samples = 25 ms at 16 kHz); shorter files cannot be trained on.
MIN_SAMPLES = 400


def check_train_out(cfg, *, resume: bool) -> None:
    """Refuse an output path that is not ours, an empty resume, a step-less run.

    Parameters
    ----------
    cfg : TrainConfig
    resume : bool

    Raises
    ------
    UsageError
        ``--out`` is an existing file, or ``max_steps == 0`` for a regime that
        trains (only ``--regime random`` writes an untrained model).
    FileExistsError
        ``--out`` is a non-empty folder that is not a brainscore_speech checkpoint
        (nothing in it is moved or read).
    DataError
        ``--resume`` on a checkpoint without its weights or training state.
    """
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is an existing file, not a checkpoint folder; "
                         "choose a new folder (the file is left untouched).")
    check_output_dir(out, what="--out")
    if cfg.max_steps == 0 and cfg.regime_kind != "random":
        raise UsageError(f"'max_steps' is 0 for regime {cfg.regime!r}: that trains "
                         "nothing; give --max-steps >= 1 (or --regime random for an "
                         "untrained model).")
    entries = ([p for p in out.iterdir() if TMP_MARK not in p.name]
               if out.is_dir() else [])
    if entries and not layout.checkpoint_meta(out).is_file():
        foreign = sorted(p.name for p in entries
                         if p.name not in layout.CHECKPOINT_ENTRIES)
        if foreign or not resume:
            raise FileExistsError(
                f"--out {out} is a non-empty folder that is not a brainscore_speech "
                f"checkpoint (holds {sorted(p.name for p in entries)[:3]}); choose a "
                "new or empty folder (nothing in it was changed).")
    if not resume:
        return
    if not layout.checkpoint_meta(out).is_file():
        logger.info("--resume: %s holds no checkpoint yet; starting a new run "
                    "from step 0.", out)
        return
    missing = [str(p.relative_to(out)) for p in (layout.checkpoint_weights(out),
                                                  layout.checkpoint_state(out))
               if not p.is_file()]
    if missing:
        raise DataError(f"Cannot resume {out}: {' and '.join(missing)} missing (an "
                        "incomplete or untrained checkpoint); train into a new --out.")


def min_manifest_samples(min_seconds: float) -> int:
    """Samples (16 kHz) a file needs to enter a manifest: ``min_seconds`` or 25 ms.

    Raises
    ------
    UsageError
        For a negative or non-finite ``min_seconds``.
    """
    check_number("min_seconds", min_seconds, low=0, unit=" s")
    return max(MIN_SAMPLES, int(round(min_seconds * TARGET_SFREQ)))


def report_skipped(n_skipped: int, min_samples: int, directory) -> None:
    """Log how many files were too short for the manifest."""
    if n_skipped:
        logger.warning("Skipped %d audio file(s) in %s shorter than %.3f s (the "
                       "model's receptive field or --min-seconds).", n_skipped,
                       directory, min_samples / TARGET_SFREQ)

