"""``brainscore-speech score``: brain-score maps of every layer for one subject."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app
from ._choices import Repeated, SearchDtype, Solver


def parse_alphas(text: str) -> tuple[float, ...]:
    """``"1e-1:1e8:10"`` (log-spaced, ends included) or ``"0.1,1,10"``.

    Raises
    ------
    typer.BadParameter
        Anything else, or values that are not positive and increasing (exit 2).
    """
    import numpy as np

    text = str(text).strip()
    try:
        if ":" in text:
            lo, hi, n = text.split(":")
            lo_f, hi_f, n_i = float(lo), float(hi), int(n)
            if not (0 < lo_f < hi_f and n_i >= 2):
                raise ValueError
            values = tuple(float(v) for v in np.logspace(np.log10(lo_f), np.log10(hi_f),
                                                         n_i))
        else:
            values = tuple(float(v) for v in text.split(","))
        if not values or any(not np.isfinite(v) or v <= 0 for v in values) or any(
                b <= a for a, b in zip(values, values[1:])):
            raise ValueError
    except ValueError:
        raise typer.BadParameter(
            f"expected 'LOW:HIGH:N' with 0 < LOW < HIGH and N >= 2 (e.g. 1e-1:1e8:10) "
            f"or increasing positive values separated by commas, got {text!r}.",
            param_hint="'--alphas'") from None
    return values


@app.command("score")
def score(
    bids_root: Path = typer.Argument(..., help="BIDS dataset root."),
    subject: str = typer.Option(..., "--subject", help="Subject label, e.g. 01."),
    activations: Path = typer.Option(..., "--activations",
                                     help="Folder of <stimulus>.h5 activation files."),
    out: Path = typer.Option(..., "--out", help="Derivatives output folder."),
    space: str = typer.Option("fsaverage5", "--space", help="fMRIPrep output space."),
    task: str = typer.Option(None, "--task", help="BIDS task label."),
    study: str = typer.Option(None, "--study",
                              help="Study preset (lpp-en, lpp-fr, lpp-cn, narratives, "
                                   "simulated) or a YAML file."),
    derivatives: Path = typer.Option(None, "--derivatives",
                                     help="fMRIPrep folder (default "
                                          "BIDS_ROOT/derivatives/fmriprep)."),
    layers: list[str] = typer.Option(None, "--layers", help="Layers to score "
                                     "(repeat the option; default all)."),
    language: str = typer.Option(None, "--language",
                                 help="Participant's native language."),
    cv: str = typer.Option("leave-one-run-out", "--cv",
                           help="'leave-one-run-out' or a number of folds."),
    repeated: Repeated = typer.Option("group", "--repeated",
                                 help="Runs replaying a stimulus: 'group' (cross-"
                                      "validate over stimuli) or 'first' (keep the "
                                      "first presentation only, as the paper)."),
    gap_s: float = typer.Option(10.0, "--gap-s", help="Seconds removed from training "
                                "on each side of a held-out block of one run."),
    slice_time_ref: str = typer.Option("auto", "--slice-time-ref",
                                       help="'auto' (fMRIPrep sidecar StartTime, raw "
                                            "SliceTiming, else 0.5) or a TR fraction "
                                            "in [0, 1]."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    force: bool = typer.Option(False, "--force", help="Refit even when cached."),
    mask: Path = typer.Option(None, "--mask", help="Volume spaces: one brain mask "
                              "(NIfTI) for every subject, so that group maps line up."),
    solver: Solver = typer.Option("fast", "--solver", help="Ridge solver: 'fast' "
                               "(default), 'fast-local' (local alpha search) or "
                               "'exact' (the direct solve)."),
    search_dtype: SearchDtype = typer.Option(
        "auto", "--search-dtype", help="Alpha-search products of the fast solvers: "
        "'auto' (bfloat16 on CPUs with AMX, the candidate alphas "
        "re-checked in float32), 'float32' or 'bfloat16'. Scores stay float32."),
    alphas: str = typer.Option("1e-1:1e8:10", "--alphas",
                               help="Ridge penalties: 'LOW:HIGH:N' (N log-spaced "
                                    "values) or a comma-separated list."),
) -> None:
    """Score every layer of one model against one subject's BOLD."""
    from ..workflows.score import score_subject

    cv_value: str | int = int(cv) if cv.isdigit() else cv
    try:
        st_ref: str | float = slice_time_ref if slice_time_ref == "auto" else \
            float(slice_time_ref)
    except ValueError:
        raise typer.BadParameter(f"expected 'auto' or a number in [0, 1], got "
                                 f"{slice_time_ref!r}.",
                                 param_hint="'--slice-time-ref'") from None
    result = score_subject(bids_root, subject, activations, out, space=space, task=task,
                           study=study, derivatives=derivatives, layers=layers or None,
                           language=language, cv=cv_value, device=device, force=force,
                           mask_img=mask, repeated=repeated, gap_s=gap_s,
                           slice_time_ref=st_ref, solver=solver,
                           search_dtype=search_dtype,
                           alphas=parse_alphas(alphas))
    state = "up to date" if result.skipped else f"{result.n_fitted} layer(s) fitted"
    typer.echo(f"{result.layerscores.parent}: {state}; scores in {result.table.name}")
