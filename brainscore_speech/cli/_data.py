"""``brainscore-speech data list | verify | fetch``: the dataset manifest."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app

data_app = typer.Typer(
    help="External datasets of the manifest (data_manifest.yaml): list, verify, fetch.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")

_MANIFEST_OPT = typer.Option(None, "--manifest", help="Manifest YAML (default: the "
                             "one shipped with the package).")
_INCLUDE_OPT = typer.Option(None, "--include", help="Only manifest paths matching this "
                            "shell pattern (repeatable), e.g. 'annotation/EN/*'.")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover


@data_app.command("list")
def data_list(manifest: Path = _MANIFEST_OPT) -> None:
    """List the datasets: name, kind, version, licence, number and size of files."""
    from ..data.manifest import load_manifest

    specs = load_manifest(manifest).datasets.values()
    typer.echo(f"{'name':<14} {'kind':<7} {'files':>5} {'size':>9}  "
               f"{'version':<26} licence")
    for s in specs:
        size = _size(s.total_size)
        typer.echo(f"{s.name:<14} {s.kind:<7} {len(s.files):>5} {size:>9}  "
                   f"{s.version[:26]:<26} {s.licence}")


@data_app.command("verify")
def data_verify(
    name: str = typer.Argument(..., help="Dataset name (see `data list`)."),
    root: Path = typer.Option(..., "--root", help="Local root folder of the dataset."),
    include: list[str] = _INCLUDE_OPT,
    strict: bool = typer.Option(False, "--strict", help="Also exit 1 when files are "
                                "missing (default: only on corrupt files)."),
    show_missing: bool = typer.Option(False, "--show-missing", help="List missing "
                                      "files in the table too."),
    manifest: Path = _MANIFEST_OPT,
) -> None:
    """Check size + checksum of every file present; exit 1 on a corrupt file."""
    from ..data.manifest import verify_dataset

    table = verify_dataset(name, root, include=include or None, manifest=manifest)
    shown = table if show_missing else table[table["status"] != "missing"]
    if len(shown):
        shown = shown.astype(object).where(shown.notna(), "-")
        typer.echo(shown.to_string(index=False))
    counts = table["status"].value_counts()
    n_ok, n_missing, n_corrupt = (int(counts.get(k, 0))
                                  for k in ("ok", "missing", "corrupt"))
    typer.echo(f"{name}: {n_ok} ok, {n_missing} missing, {n_corrupt} corrupt "
               f"(of {len(table)} files under {root}).")
    if n_corrupt or (strict and n_missing):
        raise typer.Exit(1)


@data_app.command("fetch")
def data_fetch(
    name: str = typer.Argument(..., help="Dataset name (see `data list`)."),
    root: Path = typer.Option(..., "--root", help="Local folder to download into."),
    base_url: str = typer.Option(None, "--base-url", help="Mirror URL to use instead "
                                 "of the manifest's url_template."),
    include: list[str] = _INCLUDE_OPT,
    manifest: Path = _MANIFEST_OPT,
) -> None:
    """Download missing/corrupt files (checksum-checked, resumable, atomic)."""
    from ..data.manifest import fetch_dataset

    paths = fetch_dataset(name, root, base_url=base_url, include=include or None,
                          manifest=manifest)
    typer.echo(f"{name}: {len(paths)} file(s) verified under {root}.")
