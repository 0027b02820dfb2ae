"""``brainscore-speech models`` (registry + HF cache) and ``convert`` (fairseq)."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app


@app.command("models")
def models_cmd(
    as_json: bool = typer.Option(False, "--json",
                                 help="Print JSON instead of a table."),
) -> None:
    """List the registry of public checkpoints and the models in the local HF cache."""
    import json

    from ..features.hub import hub_cache_dir, list_cached_models, load_registry

    reg, cache = load_registry(), hub_cache_dir()
    cached = list_cached_models(cache)
    if as_json:
        typer.echo(json.dumps({"registry": reg, "cache_dir": str(cache),
                               "cached": cached}, indent=1))
        return
    have = {r["repo_id"] for r in cached}
    typer.echo(f"{'name':22} {'repo id':32} {'arch':8} {'layers':>6} {'hours':>7} "
               f"{'lang':4} {'licence':14} cached")
    for name, e in reg.items():
        typer.echo(f"{name:22} {e['repo_id']:32} {e['architecture']:8} "
                   f"{e['n_layers']:>6} {e['training_hours']:>7} {e['language']:4} "
                   f"{e['licence']:14} {'yes' if e['repo_id'] in have else 'no'}")
    typer.echo(f"\ncache {cache}:" + ("" if cached else " (empty)"))
    for r in cached:
        size = r["size_bytes"] / 1e6
        refs = ",".join(r["refs"]) or "-"
        typer.echo(f"  {r['repo_id']}@{r['commit'][:12]} refs={refs} {size:.1f} MB"
                   + (f" [{r['registry_name']}]" if r["registry_name"] else ""))


@app.command("convert")
def convert_cmd(
    src: Path = typer.Argument(...,
                               help="fairseq wav2vec 2.0 / HuBERT checkpoint (.pt)."),
    out: Path = typer.Option(..., "--out", "-o", help="New checkpoint directory."),
    regime: str = typer.Option("pretrained", "--regime",
                               help="Regime recorded in brainscore_speech.json "
                                    "(e.g. speech, sound, random, pretrained)."),
    language: str = typer.Option(None, "--language", help="Training language (ISO)."),
) -> None:
    """Convert a fairseq checkpoint to an HF-format one, running no pickled code."""
    from ..features.convert import convert_fairseq_checkpoint

    path = convert_fairseq_checkpoint(src, out, regime=regime, language=language)
    typer.echo(f"Converted {src} to {path}")
