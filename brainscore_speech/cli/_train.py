"""CLI commands of the training stage: ``train``, ``targets`` and ``corpus build``."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from ._app import app
from ._choices import Objective, Preset

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
    """Scan DIRECTORY into a fairseq manifest (root, then path<TAB>n_samples@16kHz)."""
    from ..training.dataset import build_manifest, read_manifest

    path = build_manifest(directory, out, min_seconds=min_seconds)
    entries = read_manifest(path)
    hours = sum(e.n_samples for e in entries) / 16000 / 3600
    typer.echo(f"Wrote {path}: {len(entries)} files, {hours:.3f} h.")


@app.command("train")
def train_cmd(
    regime: str = typer.Option(None, "--regime", help="random, sound, speech-en, "
                               "speech-fr, speech-zh, speech-nl, or a regime YAML."),
    preset: Preset | None = typer.Option(None, "--preset", help="tiny, base or large."),
    corpus: list[Path] = typer.Option(None, "--corpus", help="Manifest(s) "
                                                             "(repeatable)."),
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
                                         help="Checkpoint (and validate) every N "
                                              "updates."),
    device: str = typer.Option(None, "--device", help="auto, cpu or cuda."),
    objective: Objective | None = typer.Option(None, "--objective",
                                  help="wav2vec2 (default), hubert or wavlm."),
    targets: Path = typer.Option(None, "--targets", help="Hidden-unit targets "
                                 "directory (`targets`) for hubert / wavlm."),
) -> None:
    """Pretrain wav2vec 2.0, HuBERT or WavLM under a regime (HF-format checkpoint)."""
    from .. import layout
    from ..training import Checkpoint, make_config, train

    given = {"max_steps": max_steps, "seed": seed, "lr": lr, "device": device,
             "batch_seconds": batch_seconds, "checkpoint_every": checkpoint_every,
             "micro_batch_seconds": micro_batch_seconds, "objective": objective,
             "targets": str(targets) if targets else None,
             "valid_corpus": tuple(str(v) for v in valid) if valid else None}
    if resume and layout.checkpoint_meta(out).is_file():
        saved = Checkpoint.load(out).config  # resume: saved values unless given
        base = {k: v for k, v in saved.to_dict().items()
                if k not in ("regime", "regime_kind", "language", "preset", "corpus",
                             "out")}
        base.update({k: v for k, v in given.items() if v is not None})
        regime, preset = regime or saved.regime, preset or saved.preset
        corpus = corpus or [Path(c) for c in saved.corpus]
        given = base
    cfg = make_config(regime=regime or "speech-en", preset=preset or "base",
                      corpus=[str(c) for c in corpus or []], out=str(out), **given)
    ckpt = train(cfg, resume=resume)
    if os.environ.get("RANK", "0") == "0":  # one line per run under torchrun
        typer.echo(f"Wrote {ckpt.path} (step {ckpt.step}; best: {ckpt.best or 'n/a'}).")


@app.command("targets")
def targets_cmd(
    corpus: list[Path] = typer.Option(..., "--corpus", help="Training manifest(s): "
                                      "the codebook is fitted on these."),
    out: Path = typer.Option(..., "--out", "-o", help="Targets directory."),
    valid: list[Path] = typer.Option(None, "--valid", help="Validation manifest(s), "
                                     "labelled with the training codebook."),
    iteration: int = typer.Option(1, "--iteration", help="1: MFCC + deltas; 2: a "
                                  "layer of the iteration-1 model (--from-model)."),
    from_model: Path = typer.Option(None, "--from-model",
                                    help="Iteration-1 checkpoint (iteration 2)."),
    layer: str = typer.Option(None, "--layer", help="Layer of --from-model, e.g. "
                              "transf5 (default: the middle block)."),
    n_clusters: int = typer.Option(None, "--n-clusters",
                                   help="Default 100 (MFCC) or 500 (layer)."),
    fraction: float = typer.Option(0.1, "--fraction",
                                   help="Fraction of training utterances to fit on."),
    kmeans_file: Path = typer.Option(None, "--kmeans", help="Reuse this kmeans.npz "
                                     "instead of fitting a codebook."),
    seed: int = typer.Option(0, "--seed", help="Seed of the draw and the k-means."),
) -> None:
    """Build HuBERT / WavLM hidden-unit targets (k-means of MFCC or of a layer)."""
    from ..training.targets import build_targets

    if iteration not in (1, 2):
        raise typer.BadParameter(f"must be 1 or 2, got {iteration}.",
                                 param_hint="--iteration")
    if iteration == 2 and from_model is None:
        raise typer.BadParameter("iteration 2 clusters a layer of the iteration-1 "
                                 "model: pass --from-model CKPT.",
                                 param_hint="--from-model")
    if iteration == 1 and from_model is not None:
        raise typer.BadParameter("iteration 1 clusters MFCC features; use "
                                 "--iteration 2 with --from-model.",
                                 param_hint="--from-model")
    t = build_targets(corpus, out, valid_corpus=valid or (), from_model=from_model,
                      layer=layer, n_clusters=n_clusters, fraction=fraction,
                      kmeans_file=kmeans_file, seed=seed)
    use = t.meta["usage"].get("train", {})
    typer.echo(f"Wrote {out}: {len(t.labels)} utterances, K={t.n_clusters}, train "
               f"perplexity {use.get('perplexity', 0):.1f}, "
               f"{use.get('n_unused', 0)} unused clusters.")
