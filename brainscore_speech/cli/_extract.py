"""``brainscore-speech extract``: layerwise activations of a checkpoint to stimuli."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app
from ._choices import ExtractDtype, ExtractMode


@app.command("extract")
def extract(
    model: str = typer.Option(..., "--model", help="Checkpoint directory (ours or any "
                              "local HF wav2vec2 / HuBERT / WavLM), a Hugging Face "
                              "repo id org/name[@revision] or a registry name (see "
                              "'brainscore-speech models')."),
    stimuli: Path = typer.Option(..., "--stimuli", help="Audio folder, file or .txt "
                                                        "list."),
    out: Path = typer.Option(..., "--out", help="Output folder ACT (one .h5 per "
                                                "stimulus)."),
    window_s: float = typer.Option(10.0, "--window-s", help="Context window (s)."),
    stride_s: float = typer.Option(5.0, "--stride-s", help="Stride between windows "
                                                           "(s)."),
    mode: ExtractMode = typer.Option("window", "--mode",
                                     help="window | full | causal."),
    layers: list[str] = typer.Option(None, "--layers", help="Layer names (repeat); "
                                     "default all, e.g. conv0 .. conv6, encoder_input, "
                                     "transf0 .. transf11."),
    pool_hz: float = typer.Option(100.0, "--pool-hz", help="Pool faster layers to at "
                                  "most this rate (Hz); 0 keeps native rates."),
    batch_size: int = typer.Option(1, "--batch-size", help="Windows per forward pass."),
    device: str = typer.Option("cpu", "--device", help="Torch device, e.g. cpu, "
                                                       "cuda:0."),
    dtype: ExtractDtype = typer.Option(
        "float32", "--dtype",
        help="Compute precision: float32 | bfloat16 | float16. bfloat16 is ~1.5x "
             "faster on CPUs with AVX512-BF16/AMX (activations r > 0.999 with "
             "float32; see benchmarks/bench_extract.py)."),
    float16: bool = typer.Option(False, "--float16", help="Store activations as "
                                                          "float16."),
    model_id: str = typer.Option(None, "--model-id", help="Model name in outputs."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Re-extract stimuli that are up to date."),
) -> None:
    """Extract every layer's activations (with exact frame times) for each stimulus."""
    from ..features import extract_stimuli

    paths = extract_stimuli(
        model, stimuli, out, layers=layers or None, window_s=window_s,
        stride_s=stride_s,
        mode=mode, pool_hz=pool_hz or None, batch_size=batch_size, device=device,
        dtype=dtype, float16=float16, skip_existing=not overwrite, model_id=model_id)
    typer.echo(f"Wrote {len(paths)} activation file(s) to {out}")
