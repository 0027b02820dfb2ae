"""Study presets: the timing conventions of real fMRI datasets, as YAML files.

A preset records what a BIDS tree does not say explicitly: which audiobook
section each run played (Le Petit Prince), how many leading TRs precede the
audio (Narratives), how much padding the preprocessed runs keep after the
audio, the expected scans per run, and excluded tasks and subjects
(METHODS.md sections 2.1 and 2.2). Presets live in
``brainscore_speech/data/studies/<name>.yaml`` and are read with
``yaml.safe_load``; a user may pass the path of their own YAML file instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .._io import load_yaml
from .._validation import check_unknown_keys, suggest

__all__ = ["StudyPreset", "list_studies", "load_study"]

_PRESET_DIR = Path(__file__).with_name("studies")


@dataclass(frozen=True)
class StudyPreset:
    """Timing conventions of one fMRI study.

    Parameters
    ----------
    name : str
        Preset name (``lpp-en``, ``narratives``...).
    description : str
        One line describing the study.
    dataset : str
        Dataset identifier (OpenNeuro accession or ``simulated``).
    task : str or None
        BIDS task label to load by default (None: every task not excluded).
    language : str or None
        ISO code of the participants' native language (``participant_language``).
    tr_s : float or None
        Expected repetition time in seconds; None takes it from the sidecars.
    space : str or None
        Default fMRIPrep output space.
    n_runs : int or None
        Number of runs each subject must have (None: no check).
    run_stimuli : tuple of str
        Stimulus played by the k-th run of a subject (runs sorted by label).
        Empty: the stimulus comes from the run's ``events.tsv``.
    stimulus_durations_s : tuple of float
        Audio duration of each entry of ``run_stimuli`` in seconds.
    scans_per_run : tuple of int
        Expected number of preprocessed scans of the k-th run.
    padding_end_s : float
        Scans kept after the audio offset, in seconds (LPP EN 8 s, FR 4 s).
    onset_s : float or None
        Audio onset relative to the first scan for every run (LPP: 0).
    onset_trs : dict of str to int
        Leading TRs before the audio onset per story (Narratives), keyed by the
        stimulus stem without ``_audio`` or by the task label.
    duration_tolerance_s : float
        Allowed mismatch between the BOLD length and onset + audio + padding.
    exclude_tasks : tuple of str
        Tasks never loaded.
    exclude_subjects : tuple of str
        Subject labels (without ``sub-``) excluded from group analyses.
    """

    name: str
    description: str = ""
    dataset: str = ""
    task: str | None = None
    language: str | None = None
    tr_s: float | None = None
    space: str | None = None
    n_runs: int | None = None
    run_stimuli: tuple[str, ...] = ()
    stimulus_durations_s: tuple[float, ...] = ()
    scans_per_run: tuple[int, ...] = ()
    padding_end_s: float = 0.0
    onset_s: float | None = None
    onset_trs: dict[str, int] = field(default_factory=dict)
    duration_tolerance_s: float = 4.0
    exclude_tasks: tuple[str, ...] = ()
    exclude_subjects: tuple[str, ...] = ()

    def __post_init__(self):
        for name in ("run_stimuli", "stimulus_durations_s", "scans_per_run",
                     "exclude_tasks", "exclude_subjects"):
            object.__setattr__(self, name, tuple(getattr(self, name) or ()))
        object.__setattr__(self, "onset_trs", dict(self.onset_trs or {}))
        where = f"study preset {self.name!r}"
        if self.tr_s is not None and not float(self.tr_s) > 0:
            raise ValueError(f"{where}: 'tr_s' must be positive, got {self.tr_s}.")
        for name in ("stimulus_durations_s", "scans_per_run"):
            value = getattr(self, name)
            if value and len(value) != len(self.run_stimuli):
                raise ValueError(
                    f"{where}: {name!r} must have one entry per run stimulus "
                    f"({len(self.run_stimuli)}), got {len(value)}."
                )
        if self.n_runs is not None and self.run_stimuli and \
                len(self.run_stimuli) != self.n_runs:
            raise ValueError(
                f"{where}: 'run_stimuli' lists {len(self.run_stimuli)} stimuli but "
                f"'n_runs' is {self.n_runs}."
            )
        if self.duration_tolerance_s < 0:
            raise ValueError(f"{where}: 'duration_tolerance_s' must be >= 0, got "
                             f"{self.duration_tolerance_s}.")

    def onset_for(self, stimulus: str, task: str | None, tr_s: float) -> float | None:
        """Audio onset (s) the preset prescribes for a run, or None if it is silent.

        Parameters
        ----------
        stimulus : str
            Stimulus stem (e.g. ``"pieman_audio"``).
        task : str or None
            BIDS task label of the run.
        tr_s : float
            Repetition time in seconds (converts ``onset_trs``).
        """
        if self.onset_trs:
            stem = (stimulus[:-len("_audio")] if stimulus.endswith("_audio")
                    else stimulus)
            for key in (stem, task):
                if key is not None and key in self.onset_trs:
                    return float(self.onset_trs[key]) * float(tr_s)
            return None
        return None if self.onset_s is None else float(self.onset_s)

    def expected_scans(self, index: int) -> int | None:
        """Expected scans of the ``index``-th run (0-based), or None."""
        if self.scans_per_run and 0 <= index < len(self.scans_per_run):
            return int(self.scans_per_run[index])
        return None


def list_studies() -> list[str]:
    """Names of the bundled study presets."""
    return sorted(p.stem for p in _PRESET_DIR.glob("*.yaml"))


def load_study(study: str | os.PathLike | StudyPreset) -> StudyPreset:
    """Load a bundled preset by name, or a preset YAML file by path.

    Parameters
    ----------
    study : str, path or StudyPreset
        ``"lpp-en"``, ``"lpp-fr"``, ``"lpp-cn"``, ``"narratives"``,
        ``"simulated"``, or the path of a YAML file with the same keys.

    Returns
    -------
    StudyPreset

    Raises
    ------
    ValueError
        Unknown preset name (with the nearest name) or unknown YAML key.
    FileNotFoundError
        A path that does not exist.
    """
    if isinstance(study, StudyPreset):
        return study
    text = str(study)
    if text.endswith((".yaml", ".yml")) or os.sep in text:
        path = Path(text)
        if not path.is_file():
            raise FileNotFoundError(f"Study preset file not found: {path}")
    else:
        names = list_studies()
        if text not in names:
            raise ValueError(
                f"'study' must be one of {names} or a path to a .yaml file, got "
                f"{text!r}." + suggest(text, names)
            )
        path = _PRESET_DIR / f"{text}.yaml"
    raw: Any = load_yaml(path, what="study preset")
    if not isinstance(raw, dict) or "name" not in raw:
        raise ValueError(
            f"Study preset {path} must be a mapping with at least a 'name' key, got "
            f"{type(raw).__name__}."
        )
    check_unknown_keys(f"study preset {path}", raw,
                       [f.name for f in fields(StudyPreset)])
    return StudyPreset(**raw)
