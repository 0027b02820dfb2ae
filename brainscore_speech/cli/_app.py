"""The typer application that every CLI module registers its commands on."""

from __future__ import annotations

import typer

from .. import __version__

app = typer.Typer(
    name="brainscore-speech",
    help=(
        "Train wav2vec 2.0 under controlled regimes, extract layerwise activations, "
        "and score them against fMRI (brain-score maps, hierarchy maps, regime "
        "contrasts, group statistics, surface figures)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"brainscore-speech {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback,
                                 is_eager=True, help="Print the version and exit."),
    verbose: bool = typer.Option(False, "--verbose", "-v",
                                 help="Debug logging and full tracebacks on errors."),
    quiet: bool = typer.Option(False, "--quiet", "-q",
                               help="Only warnings and errors; no progress bars."),
    threads: int = typer.Option(None, "--threads", help="Threads of every pool "
                                "(torch, BLAS, OpenMP); default OMP_NUM_THREADS, else "
                                "the CPUs this process may use (affinity, cgroup "
                                "quota)."),
) -> None:
    """brainscore-speech: speech models vs. the brain."""
    from .._logging import set_log_level
    from .._threads import set_threads

    set_threads(threads)

    if verbose:
        set_log_level("DEBUG")
    elif quiet:
        set_log_level("WARNING")
