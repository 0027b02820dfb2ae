"""CLI commands of this stage: group, figures, report."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app
from ._choices import GroupTest, LayerAxis


@app.command("group")
def group_cmd(
    deriv: Path = typer.Argument(
        ..., help="Score derivatives folder (sub-*/*_layerscores.npz)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output group folder."),
    model: list[str] = typer.Option(
        None, "--model", help="Model id(s) to analyse (default all)."),
    layer: list[str] = typer.Option(
        None, "--layer",
        help="Layer(s) entering every map (default all but encoder_input: the "
             "paper's conv0-6 + transf0-11; name encoder_input to include it)."),
    alpha: float = typer.Option(0.05, help="Significance level (FDR / cluster)."),
    test: GroupTest = typer.Option(
        "auto",
        help="Vertex-wise test: auto (t-test for the maps of cross-validated "
             "best-layer scores, which are skewed under the null; Wilcoxon for the "
             "hierarchy), wilcoxon, signflip or ttest."),
    cluster: bool = typer.Option(False, help="Also run the cluster permutation test."),
    n_permutations: int = typer.Option(
        1000, help="Permutations (sign-flip / cluster)."),
    atlas: list[Path] = typer.Option(
        None, "--atlas",
        help="lh and rh atlas files (.annot or .label.gii), give twice."),
    seed: int = typer.Option(0, help="Random seed."),
    overwrite: bool = typer.Option(False, help="Recompute even when up to date."),
    layer_axis: LayerAxis = typer.Option(
        "name", "--layer-axis",
        help="name | depth: depth also puts every model on one hierarchy map by "
             "relative layer depth (model-bydepth)."),
    reduce: str = typer.Option(
        "cv",
        help="One score per subject from the layers: cv (each fold's layer chosen "
             "on its training runs by inner CV, scored on its held-out run; "
             "unbiased), mean, a layer name, or max (biased by selection; warns)."),
    mesh: list[Path] = typer.Option(
        None, "--mesh",
        help="lh and rh GIFTI surfaces of the scores' mesh for --cluster (default "
             "fsaverage5), give twice."),
) -> None:
    """Group statistics, hierarchy and regime maps from per-subject scores."""
    from ..analysis import run_group

    if atlas and len(atlas) != 2:
        raise typer.BadParameter(
            f"--atlas needs exactly 2 files (lh, rh), got {len(atlas)}.")
    if mesh and len(mesh) != 2:
        raise typer.BadParameter(
            f"--mesh needs exactly 2 files (lh, rh), got {len(mesh)}.")
    res = run_group(deriv, out, models=model or None, layers=layer or None, alpha=alpha,
                    test=test, cluster=cluster, n_permutations=n_permutations,
                    atlas=tuple(str(a) for a in atlas) if atlas else None,
                    random_state=seed, overwrite=overwrite, reduce=reduce,
                    mesh=tuple(str(m) for m in mesh) if mesh else None,
                    layer_axis=layer_axis)
    state = "up to date" if res["skipped"] else "written"
    typer.echo(f"Group outputs for {len(res['models'])} model(s) {state} in {out}")


@app.command("figures")
def figures_cmd(
    group: Path = typer.Argument(..., help="Group folder written by 'group'."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder for figures."),
    dpi: int = typer.Option(300, help="PNG resolution."),
    html: bool = typer.Option(True, help="Also write interactive offline HTML views."),
) -> None:
    """Surface maps (PNG + offline HTML) and layer profiles."""
    from ..plotting import make_figures

    files = make_figures(group, out, dpi=dpi, html_views=html)
    typer.echo(f"Wrote {len(files)} figure file(s) to {out}")


@app.command("report")
def report_cmd(
    group: Path = typer.Argument(..., help="Group folder written by 'group'."),
    out: Path = typer.Option(..., "--out", "-o", help="Output .html file."),
    dpi: int = typer.Option(120, help="Resolution of the embedded figures."),
) -> None:
    """One offline HTML report with every figure, table and the provenance."""
    from ..plotting import make_report

    path = make_report(group, out, dpi=dpi)
    typer.echo(f"Wrote report {path}")
