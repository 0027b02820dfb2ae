"""``brainscore-speech verify DIR``: outputs against their checksum records."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app


@app.command("verify")
def verify(
    folder: Path = typer.Argument(..., help="Derivatives, group or activation folder."),
    strict: bool = typer.Option(False, "--strict", help="Also exit 1 on untracked "
                                "files (not covered by any record)."),
    show_ok: bool = typer.Option(False, "--show-ok", help="List files that are ok."),
) -> None:
    """Check every output against its record: missing, corrupt or stale (exit 1)."""
    from ..integrity import verify_outputs

    table = verify_outputs(folder)
    shown = table if show_ok else table[table["status"] != "ok"]
    shown = shown.drop(columns="record")
    if len(shown):
        typer.echo(shown.to_string(index=False))
    outs = table[table["role"] != "input"]["status"].value_counts()
    n = {k: int(outs.get(k, 0)) for k in ("ok", "missing", "corrupt", "stale",
                                           "untracked")}
    n_inputs = int(((table["role"] == "input") & (table["status"] != "ok")).sum())
    n_records = table.loc[table["record"] != "-", "record"].nunique()
    typer.echo(f"{folder}: {n['ok']} ok, {n['missing']} missing, {n['corrupt']} "
               f"corrupt, {n['stale']} stale ({n_inputs} input(s) changed), "
               f"{n['untracked']} untracked; {n_records} record(s).")
    if n["missing"] or n["corrupt"] or n["stale"] or (strict and n["untracked"]):
        raise typer.Exit(1)
