"""CLI command ``demo``: the whole pipeline on the embedded default."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app
from ._choices import CorpusKind
from ._train import corpus_app


@app.command("demo")
def demo(
    out: Path = typer.Argument(Path("demo_out"), help="Output folder (resumable)."),
    subjects: int = typer.Option(6, help="Simulated participants (>= 6 for "
                                         "significance)."),
    runs: int = typer.Option(4, help="Runs per participant."),
    train_steps: int = typer.Option(300, help="Updates per trained tiny model."),
    seed: int = typer.Option(0, help="Seed of everything."),
    objectives: str = typer.Option("wav2vec2", "--objectives", help="Comma-separated "
                                   "training objectives: wav2vec2, hubert, wavlm "
                                   "(hubert/wavlm add a native-speech model each)."),
) -> None:
    """Simulate a study, train four tiny regime models, score, analyse, report."""
    from .._validation import check_option
    from ..workflows.demo import DemoConfig, run_demo

    objs = tuple(check_option("--objectives", o.strip(),
                              ["wav2vec2", "hubert", "wavlm"])
                 for o in objectives.split(",") if o.strip())
    cfg = DemoConfig(n_subjects=subjects, n_runs=runs, train_steps=train_steps,
                     seed=seed, objectives=objs)
    report = run_demo(out, cfg)
    typer.echo(f"Report: {report}")


@corpus_app.command("synth")
def corpus_synth(
    out: Path = typer.Argument(..., help="Output folder (audio/ + manifest.tsv)."),
    kind: CorpusKind = typer.Option("speech", help="speech (espeak-ng voices) or "
                                                   "nonspeech."),
    language: str = typer.Option("en", help="Speech language: en, fr or cmn."),
    minutes: float = typer.Option(3.0, help="Minutes of audio to synthesise."),
    seed: int = typer.Option(0, help="Seed of the sentence/voice/sound choices."),
) -> None:
    """Synthesise a small offline training corpus (the demo's built-in audio)."""
    from .._io import check_output_dir
    from .._validation import check_option
    from ..workflows.demo import synth_corpus

    check_option("kind", kind, ["speech", "nonspeech"])
    check_output_dir(out, what="OUT")
    manifest = synth_corpus(out, kind, language, minutes, seed)
    typer.echo(f"Wrote {manifest}")
