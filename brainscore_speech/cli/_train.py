"""CLI commands of the training stage: ``train`` and ``corpus build``."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from ._app import app

corpus_app = typer.Typer(help="Build audio corpora (manifests) for `train`.",
                         no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")


@corpus_app.command("build")
def corpus_build(
    directory: Path = typer.Argument(..., help="Folder scanned recursively for audio."),
    out: Path = typer.Option(..., "--out", "-o", help="Manifest to write (.tsv)."),
    min_seconds: float = typer.Option(0.0, "--min-seconds",
                                      help="Skip files shorter than this (s)."),
) -> None:
    """Scan DIRECTORY into a fairseq manifest (root line, then path<TAB>n_samples@16kHz)."""
    from ..training.dataset import build_manifest, read_manifest

    path = build_manifest(directory, out, min_seconds=min_seconds)
    entries = read_manifest(path)
    hours = sum(e.n_samples for e in entries) / 16000 / 3600
    typer.echo(f"Wrote {path}: {len(entries)} files, {hours:.3f} h.")


@app.command("train")
def train_cmd(
    regime: str = typer.Option(None, "--regime", help="random, sound, speech-en, "
                               "speech-fr, speech-zh, speech-nl, or a regime YAML."),
    preset: str = typer.Option(None, "--preset", help="tiny, base or large."),
    corpus: list[Path] = typer.Option(None, "--corpus", help="Manifest(s) (repeatable)."),
    valid: list[Path] = typer.Option(None, "--valid", help="Validation manifest(s)."),
    out: Path = typer.Option(..., "--out", "-o", help="Checkpoint directory."),
    max_steps: int = typer.Option(None, "--max-steps", help="Number of updates."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out."),
    seed: int = typer.Option(None, "--seed", help="Random seed (default 0)."),
    lr: float = typer.Option(None, "--lr", help="Peak learning rate."),
    batch_seconds: float = typer.Option(None, "--batch-seconds",
                                        help="Audio (s) per update, all processes."),
    micro_batch_seconds: float = typer.Option(
        None, "--micro-batch-seconds", help="Max audio (s) per forward pass."),
    checkpoint_every: int = typer.Option(None, "--checkpoint-every",
                                         help="Checkpoint (and validate) every N updates."),
    device: str = typer.Option(None, "--device", help="auto, cpu or cuda."),
) -> None:
    """Pretrain wav2vec 2.0 under a regime and write an HF-format checkpoint."""
    from ..training import Checkpoint, make_config, train

    given = {"max_steps": max_steps, "seed": seed, "lr": lr, "device": device,
             "batch_seconds": batch_seconds, "checkpoint_every": checkpoint_every,
             "micro_batch_seconds": micro_batch_seconds,
             "valid_corpus": tuple(str(v) for v in valid) if valid else None}
    if resume and (out / "brainscore_speech.json").is_file():
        saved = Checkpoint.load(out).config  # resume: saved values unless given
        base = {k: v for k, v in saved.to_dict().items()
                if k not in ("regime", "regime_kind", "language", "preset", "corpus", "out")}
        base.update({k: v for k, v in given.items() if v is not None})
        regime, preset = regime or saved.regime, preset or saved.preset
        corpus = corpus or [Path(c) for c in saved.corpus]
        given = base
    cfg = make_config(regime=regime or "speech-en", preset=preset or "base",
                      corpus=[str(c) for c in corpus or []], out=str(out), **given)
    ckpt = train(cfg, resume=resume)
    if os.environ.get("RANK", "0") == "0":  # one line per run under torchrun
        typer.echo(f"Wrote {ckpt.path} (step {ckpt.step}; best: {ckpt.best or 'n/a'}).")
