"""``brainscore-speech simulate``: a BIDS + fMRIPrep study with planted features."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app
from ._choices import Generator, SimLanguage, SimMode, SimSpace


@app.command("simulate")
def simulate(
    out: Path = typer.Argument(...,
                               help="Output folder (bids/, activations/, truth/)."),
    subjects: int = typer.Option(3, "--subjects", min=1, help="Number of subjects."),
    runs: int = typer.Option(4, "--runs", min=2, help="Runs per subject."),
    tr: float = typer.Option(2.0, "--tr", help="Repetition time in seconds."),
    space: SimSpace = typer.Option("fsaverage5", "--space", help="Surface space."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    scans_per_run: int = typer.Option(100, "--scans-per-run", min=1,
                                      help="Scans per run."),
    language: SimLanguage = typer.Option("en", "--language", help="en, fr or cmn."),
    task: str = typer.Option("listen", "--task", help="BIDS task label."),
    from_model: str = typer.Option(None, "--from-model",
                                   help="Plant BOLD from this model's layers (a "
                                   "checkpoint directory, hub id or registry name)."),
    generator: Generator = typer.Option("realistic", "--generator",
                                  help="'realistic' (inverse-logit HRF with jitter, "
                                       "smooth AR noise, slice timing) or 'legacy' "
                                       "(the analysis' own Glover assumptions)."),
    mode: SimMode = typer.Option("hierarchy", "--mode",
                             help="'hierarchy', 'null' (nothing driven) or "
                                  "'contrast' (a region where 'stages' beats "
                                  "'partial')."),
    repeat_story: bool = typer.Option(False, "--repeat-story",
                                      help="The last run replays the first story."),
    story_locked: float = typer.Option(0.0, "--story-locked",
                                       help="Fraction of the planted signal locked to "
                                            "each story but not in the features."),
) -> None:
    """Simulate a study whose BOLD is planted from known features (with the truth)."""
    from ..workflows.simulate import simulate_study

    study = simulate_study(out, n_subjects=subjects, n_runs=runs, tr_s=tr, space=space,
                           seed=seed, scans_per_run=scans_per_run, language=language,
                           task=task, from_model=from_model, generator=generator,
                           mode=mode, repeat_story=repeat_story,
                           story_locked=story_locked)
    typer.echo(f"Simulated {len(study.subjects)} subjects x {runs} runs in "
               f"{study.bids_root}; activations in {study.activations}; truth in "
               f"{study.truth}")
