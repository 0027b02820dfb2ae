"""``brainscore-speech abx`` and ``abx-humans``: the behaviour stage."""

from __future__ import annotations

from pathlib import Path

import typer

from ..layout import abx_file, figure_file, humans_file
from ._app import app
from ._choices import AbxContext, Baseline, Distance, DtwNorm


@app.command("abx")
def abx_cmd(
    items: Path = typer.Option(..., "--items", help="Item file (.item/.tsv/.csv: file, "
                               "onset, offset, label columns)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    model: Path = typer.Option(None, "--model", help="Checkpoint directory."),
    audio: Path = typer.Option(None, "--audio", help="Folder of the items' audio."),
    activations: Path = typer.Option(None, "--activations",
                                     help="Existing 'extract' folder (no --model)."),
    baseline: Baseline | None = typer.Option(None, "--baseline", help="'mfcc' instead "
                                                                      "of a model."),
    triplets: Path = typer.Option(None, "--triplets", help="Fixed triplets (TGT_item, "
                                  "OTH_item, X_item); default every triplet."),
    layers: list[str] = typer.Option(None, "--layers", help="Layer names (repeat)."),
    distance: Distance = typer.Option("cosine", "--distance",
                                 help="cosine (Millet & Dunbar) | angular "
                                      "(ZeroSpeech) | kl | euclidean."),
    dtw_norm: DtwNorm | None = typer.Option(None, "--dtw-norm", help="max_len | "
                                                                     "path_len | none; "
                                 "default the distance's published convention."),
    on: str = typer.Option("phone", "--on", help="Label to discriminate."),
    by: list[str] = typer.Option(None, "--by", help="Labels held constant (repeat); "
                                 "default 'context' (prev-phone_next-phone)."),
    across: str = typer.Option("speaker", "--across", help="Label differing between X "
                               "and A/B; 'none' for no constraint."),
    context: AbxContext = typer.Option("file", "--context", help="file: run on the "
                                                                 "whole file "
                                "and slice; item: run on the item alone."),
    max_triplets: int = typer.Option(None, "--max-triplets", help="Random subset."),
    seed: int = typer.Option(0, "--seed", help="Random seed (subset)."),
    device: str = typer.Option("cpu", "--device", help="Torch device for extraction."),
    figure: bool = typer.Option(True, "--figure/--no-figure",
                                help="Write abx_profile.png."),
) -> None:
    """ABX error per layer and per-triplet deltas (tidy TSV) of a model on items."""
    from ..behaviour import run_abx

    scores = run_abx(items, out, model=model, audio=audio, activations=activations,
                     baseline=baseline, triplets=triplets, layers=layers or None,
                     on=on, by=by or ["context"],
                     across=None if across.lower() == "none" else across,
                     distance=distance, normalization=dtw_norm, context=context,
                     max_triplets=max_triplets, random_state=seed, device=device)
    if figure:
        from ..plotting import plot_abx_profile

        plot_abx_profile(scores, output_file=abx_file(out, "profile.png"))
    best = scores.loc[scores["error"].idxmin()]
    typer.echo(f"ABX on {len(scores)} layer(s) x {int(best['n_triplets'])} triplets "
               f"({best['convention']}): best {best['layer']} error "
               f"{100 * best['error']:.1f} %{_held_out_note(out, len(scores))}; "
               f"wrote {out}")


def _held_out_note(out: Path, n_layers: int) -> str:
    """The best layer's error when chosen on other ``by`` cells than it is scored on
    (empty for one layer or one cell)."""
    from ..behaviour import held_out_best_layer, load_abx_deltas

    if n_layers < 2:
        return ""
    deltas = load_abx_deltas(abx_file(out, "deltas.tsv"))
    if deltas["by"].nunique() < 2:
        return ""
    summary = held_out_best_layer(deltas)[0].iloc[0]
    return (f" (chosen on the other 'by' cells and scored on the held-out one: "
            f"{100 * summary['error']:.1f} %)")


@app.command("abx-humans")
def abx_humans_cmd(
    humans: Path = typer.Option(..., "--humans", help="Per-trial human answers (CSV)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    deltas: Path = typer.Option(None, "--deltas", help="'abx' output folder."),
    models: list[str] = typer.Option(None, "--models", help="Delta columns of the "
                                     "human table (repeat), or <model>:<layer>."),
    layers: list[str] = typer.Option(None, "--layers", help="Only these layers."),
    n_boot: int = typer.Option(100, "--n-boot", help="Bootstrap resamples."),
    per_triplet: int = typer.Option(3, "--per-triplet",
                                    help="Responses drawn per triplet (3: CogSci "
                                         "2020; 5: ACL 2022)."),
    probit_stimuli: str = typer.Option(None, "--probit-stimuli",
                                       help="Probit on EN or FR triplets only."),
    native: list[str] = typer.Option(None, "--native", help="FR_COL:EN_COL delta "
                                     "columns of French- and English-trained models: "
                                     "their native-language effect (repeat)."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    figure: bool = typer.Option(True, "--figure/--no-figure", help="Write figures."),
) -> None:
    """Agreement of model deltas with human listeners (accuracy, probit, Spearman)."""
    from ..behaviour import run_abx_humans

    pairs = []
    for spec in native or []:
        fr, sep, en = spec.partition(":")
        if not sep or not fr or not en:
            raise typer.BadParameter(f"--native needs FR_COL:EN_COL, got {spec!r}.")
        pairs.append((fr, en))
    summary = run_abx_humans(humans, out, deltas=deltas, models=models or None,
                             layers=layers or None, n_boot=n_boot,
                             per_triplet=per_triplet, probit_stimuli=probit_stimuli,
                             native=pairs, random_state=seed)
    main = summary[summary["metric"].isin(["accuracy", "loglik", "spearman"])]
    if figure and len(main):
        import pandas as pd

        from ..plotting import plot_human_agreement, plot_model_vs_humans

        plot_human_agreement(main, output_file=humans_file(out, "agreement.png"))
        contrasts = pd.read_csv(humans_file(out, "contrasts.tsv"), sep="\t")
        plot_model_vs_humans(contrasts, list(dict.fromkeys(main["model"])),
                             output_file=figure_file(out, "model_vs_humans"))
    ll = summary[summary["metric"] == "loglik"].sort_values("value", ascending=False)
    best = (f"; best log-likelihood: {ll['model'].iloc[0]} ({ll['value'].iloc[0]:.1f})"
            if len(ll) else "")
    typer.echo(f"Compared {summary['model'].nunique()} model(s) with the human "
               f"answers{best}; wrote {out}")
