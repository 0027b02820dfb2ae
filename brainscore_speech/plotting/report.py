"""All figures of a group folder, and one offline HTML report embedding them."""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path
from typing import Any  # noqa: F401

from .. import layout as L
from .._logging import verbose

__all__ = ["make_figures", "make_report", "shared_scale"]


class _FigureWriter:
    """Where figures go: saves and records them; finds a group's volume mask."""

    def __init__(self, gdir: Path, out: Path, dpi: int):
        self.gdir, self.out, self.dpi = gdir, out, dpi
        self.written: list[Path] = []

    def keep(self, fig, stem: str) -> None:
        import matplotlib.pyplot as plt

        from .surface import _save

        path = L.figure_file(self.out, stem)
        _save(fig, path, self.dpi)
        plt.close(fig)
        self.written.append(path)

    def vol_mask(self, c):
        """Volume maps: the mask copy in this group folder (robust to moves);
        None lets the plotting functions use the recorded path."""
        rec = c.extra.get("mask_img") if c.hemi_sizes is None else None
        local = self.gdir / Path(rec).name if rec else None
        return local if local is not None and local.is_file() else None


def _brainscore_figures(fw: _FigureWriter, m: str, gm, bs_scale: dict,
                        html_views: bool) -> None:
    """Brain-score map of one model (PNG, and the interactive HTML view)."""
    from .surface import plot_brain_score, view_surface_html

    keep, vol_mask, out, written = fw.keep, fw.vol_mask, fw.out, fw.written
    keep(plot_brain_score(gm, mask_img=vol_mask(gm), positive_only=True,
                          **bs_scale),
         f"model-{m}_desc-brainscore")
    if html_views:
        p = L.figure_view(out, f"model-{m}_desc-brainscore")
        view_surface_html(gm.statistic, gm.hemi_sizes, title=f"brain score {m}",
                          output_file=p, mask_img=vol_mask(gm),
                          cmap=bs_scale["cmap"], vmax=bs_scale["vmax"],
                          symmetric=bs_scale["symmetric_cbar"])
        written.append(p)


def _hierarchy_figures(fw: _FigureWriter, m: str, hm, html_views: bool) -> None:
    """Best-layer and preference maps, layer / ROI profiles of one model."""
    import numpy as np
    import pandas as pd

    from .profiles import plot_best_layer_distribution, plot_layer_profiles
    from .surface import layer_groups, plot_hierarchy, view_surface_html

    keep, vol_mask, out, written = fw.keep, fw.vol_mask, fw.out, fw.written
    gdir = fw.gdir
    keep(plot_hierarchy(hm, mask_img=vol_mask(hm)), f"model-{m}_desc-bestlayer")
    if html_views and len(layer_groups(hm.layer_names)[1]) < len(hm.layer_names):
        # the PNG groups the layers; every layer in the interactive view
        p = L.figure_view(out, f"model-{m}_desc-bestlayer")
        best = np.asarray(hm.best_layer, dtype=float)
        view_surface_html(np.where(best >= 0, best + 1, 0), hm.hemi_sizes,
                          title=f"best layer {m} (1 = {hm.layer_names[0]}, "
                          f"{len(hm.layer_names)} = {hm.layer_names[-1]})",
                          cmap="viridis", threshold=0.5, output_file=p,
                          mask_img=vol_mask(hm))
        written.append(p)
    keep(plot_hierarchy(hm, kind="preference", mask_img=vol_mask(hm)),
         f"model-{m}_desc-preference")
    prof = L.group_layerprofile(gdir, m)
    if prof.is_file():
        table = pd.read_csv(prof, sep="\t")
        keep(plot_layer_profiles(table, hue="model",
                                 title=f"Layer profile, model {m} "
                                 f"({_profile_vertices(table)})"),
             f"model-{m}_desc-layerprofile")
    roi = L.group_roiprofile(gdir, m)
    if roi.is_file():
        keep(_plot_roi_summary(pd.read_csv(roi, sep="\t"), m),
             f"model-{m}_desc-roiprofile")
    dist = L.group_roibestlayer(gdir, m)
    if dist.is_file():
        keep(plot_best_layer_distribution(pd.read_csv(dist, sep="\t"),
                                          title=f"Best layer per ROI, model {m}"),
             f"model-{m}_desc-roibestlayer")


@verbose
def make_figures(group_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
                 dpi: int = 300, html_views: bool = True,
                 verbose: bool | int | str | None = None) -> list[Path]:
    """Write every figure of a ``run_group`` output folder.

    Per model: brain-score map (significant vertices), best-layer map (categorical
    layer colours), preference-index map, layer profile (and ROI profile / best
    layer per ROI when the group folder has ROI tables), plus an offline
    interactive HTML of the brain-score map; per regime contrast a map; the
    best-regime map when present.

    Parameters
    ----------
    group_dir : path
        Output of :func:`brainscore_speech.analysis.run_group`.
    out_dir : path
    dpi : int, default=300
    html_views : bool, default=True
        Also write ``view_surf`` HTML pages (about 3 MB each).
    verbose : bool, int, str or None

    Returns
    -------
    list of Path
        The files written (PNG and HTML).
    """
    from .._io import check_output_dir, remove_stale_temps
    from .._logging import logger
    from ..analysis import load_group_outputs
    from .surface import plot_brain_score, plot_regime_map

    check_output_dir(out_dir, what="--out")
    g = load_group_outputs(group_dir)
    gdir, out = Path(group_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)  # left by an interrupted run
    fw = _FigureWriter(gdir=gdir, out=out, dpi=dpi)
    keep, vol_mask = fw.keep, fw.vol_mask
    written = fw.written

    # one colour scale per kind of map, shared by every model / contrast, so that
    # panels can be compared; signed maps are symmetric around 0
    bs_scale = shared_scale(g["brainscore"].values(), signed=False)
    for m, gm in g["brainscore"].items():
        _brainscore_figures(fw, m, gm, bs_scale, html_views)
    for m, hm in g["hierarchy"].items():
        _hierarchy_figures(fw, m, hm, html_views)
    c_scale = shared_scale(g["contrasts"].values(), signed=True)
    for name, cm in g["contrasts"].items():
        keep(plot_brain_score(cm, colorbar_label="mean paired difference in r",
                              mask_img=vol_mask(cm), **c_scale), f"contrast-{name}")
    if g["bestregime"] is not None:
        keep(plot_regime_map(g["bestregime"], mask_img=vol_mask(g["bestregime"])),
             "desc-bestregime")
    logger.info("Wrote %d figure files to %s.", len(written), out)
    return written


def shared_scale(maps, *, signed: bool | None = None) -> dict[str, Any]:
    """One colour scale for several group maps of one kind.

    The upper end is the 99th percentile of ``|statistic|`` over the significant
    targets of every map (positive ones only when ``signed=False``; all targets
    when none is significant). Signed maps (``signed=True``, or by default any
    significant value below 0) get a symmetric diverging scale around 0
    (``RdBu_r``), others ``hot`` from 0.

    Parameters
    ----------
    maps : iterable of GroupMap
    signed : bool, optional
        Force (True) or forbid (False) the diverging scale; default: from the data.

    Returns
    -------
    dict
        ``cmap``, ``vmin``, ``vmax``, ``symmetric_cbar`` (keyword arguments of
        :func:`~brainscore_speech.plotting.plot_brain_score`).
    """
    import numpy as np

    maps = list(maps)
    sig = [np.asarray(m.statistic, float)[np.asarray(m.mask, bool)] for m in maps]
    if signed is False:
        sig = [s[s > 0] for s in sig]
    vals = np.concatenate(sig) if sig else np.zeros(0)
    vals = vals[np.isfinite(vals)]
    if not vals.size:
        allv = [np.asarray(m.statistic, float) for m in maps]
        vals = np.concatenate(allv) if allv else np.zeros(0)
        vals = vals[np.isfinite(vals)]
    vmax = float(np.percentile(np.abs(vals), 99)) if vals.size else 1.0
    vmax = vmax if vmax > 0 else 1.0
    if signed is None:
        signed = bool(any((s[np.isfinite(s)] < 0).any() for s in sig))
    if signed:
        return {"cmap": "RdBu_r", "vmin": -vmax, "vmax": vmax, "symmetric_cbar": True}
    return {"cmap": "hot", "vmin": 0.0, "vmax": vmax, "symmetric_cbar": False}


def _profile_vertices(table) -> str:
    """Which vertices a layer-profile table averages (its ``vertices`` column)."""
    if "vertices" in table.columns and table["vertices"].notna().any():
        return str(table["vertices"].dropna().iloc[0])
    return "all vertices"


def _plot_roi_summary(summary, model: str):
    """ROI layer profiles from the summarized table (mean and t-based CI)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for roi, d in summary.groupby("roi", sort=False):
        d = d.sort_values("layer_index")
        ax.plot(d["layer_index"], d["mean_r"], marker="o", label=roi)
        ax.fill_between(d["layer_index"], d["ci_low"], d["ci_high"], alpha=0.2)
    d = summary.drop_duplicates("layer_index").sort_values("layer_index")
    ax.set_xticks(d["layer_index"])
    ax.set_xticklabels(d["layer"], rotation=45, ha="right", fontsize=8)
    ax.set_xlabel("layer")
    ax.set_ylabel("brain score (mean Pearson r)")
    n = int(summary["n_subjects"].max())
    ax.set_title(f"ROI layer profiles, model {model} (95% CI, n={n})", fontsize=10)
    ax.legend(fontsize=8, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    return fig


_SECTIONS = (
    ("brainscore", "Brain scores",
     "Group-mean cross-validated Pearson r between held-out BOLD and each model's "
     "ridge prediction, at each vertex's best layer (significant vertices only), "
     "and the layer profile over the responsive vertices (significant brain score)."),
    ("hierarchy", "Hierarchy: which layer predicts each vertex best",
     "Best layer of the subject-averaged scores where significant, the continuous "
     "layer-preference index (0 = first layer, 1 = last) and, with an atlas, the "
     "distribution of best layers per ROI."),
    ("regimes", "Regime comparison",
     "Paired differences between training regimes (trained - random, speech - sound, "
     "native - non-native), tested across subjects, and the regime that predicts each "
     "vertex best where a trained model beats the random one."),
    ("other", "Other figures", ""),
)


def _section_of(stem: str) -> tuple[str, str]:
    """Section key and a human caption for a figure file made by make_figures."""
    if stem.startswith("contrast-"):
        a, _, b = stem[len("contrast-"):].partition("-")
        return "regimes", f"Contrast {a} - {b}: mean paired difference of brain scores"
    if stem == "desc-bestregime":
        return "regimes", "Best regime per vertex (where trained beats random)"
    model, _, desc = stem.partition("_desc-")
    model = model.removeprefix("model-")
    captions = {
        "brainscore": ("brainscore", f"Model {model}: brain-score map"),
        "layerprofile": ("brainscore", f"Model {model}: brain score along the layers"),
        "bestlayer": ("hierarchy", f"Model {model}: best layer per vertex"),
        "preference": ("hierarchy", f"Model {model}: layer-preference index"),
        "roiprofile": ("hierarchy", f"Model {model}: layer profiles per ROI"),
        "roibestlayer": ("hierarchy", f"Model {model}: best layer per ROI"),
    }
    return captions.get(desc, ("other", stem))


# embedded figures are re-encoded at most this wide (pixels); the full-resolution
# PNG stays beside the report and is linked
THUMB_WIDTH = 1000


def _png_bytes(path: Path, max_width: int = THUMB_WIDTH) -> bytes:
    """The PNG's bytes for embedding, downscaled to ``max_width`` pixels when wider.

    Full colour (a 256-colour palette bands the colour bars: seen on the demo).
    """
    data = path.read_bytes()
    try:
        import io

        from PIL import Image
    except ImportError:  # pragma: no cover - pillow comes with matplotlib
        return data
    with Image.open(io.BytesIO(data)) as img:
        if img.width <= max_width:
            return data
        small = img.convert("RGB").resize(
            (max_width, round(img.height * max_width / img.width)), Image.LANCZOS)
    buf = io.BytesIO()
    small.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _img_tag(path: Path, caption: str | None = None, *, link: str | None = None,
             view: str | None = None) -> str:
    data = base64.b64encode(_png_bytes(path)).decode()
    caption = html.escape(caption or path.stem)
    links = []
    if link:
        links.append(f'<a href="{html.escape(link)}">full resolution</a>')
    if view:
        links.append(f'<a href="{html.escape(view)}">interactive view</a>')
    if links:
        caption += " (" + ", ".join(links) + ")"
    return (f'<figure><img src="data:image/png;base64,{data}" '
            f'alt="{html.escape(path.name)}" style="max-width:100%"/>'
            f"<figcaption>{caption}</figcaption></figure>")


def _rel(path: Path, start: Path) -> str | None:
    """``path`` relative to the report's folder (a link), None when not below it."""
    try:
        return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()
    except ValueError:  # another drive
        return None


_PLURAL = {"vertex": "vertices", "voxel": "voxels"}


def _count(n: int, what: str) -> str:
    return f"{n:,} {what if n == 1 else _PLURAL.get(what, what + 's')}"


def _section_summaries(summary, g: dict[str, Any]) -> dict[str, str]:
    """One paragraph per section: what is significant and what is not."""
    import numpy as np

    out: dict[str, str] = {}
    if summary is None or summary.empty:
        return out
    tot = (summary.groupby(["kind", "map", "model"], dropna=False, sort=False)
           .agg(n_sig=("n_significant", "sum"), n=("n_targets", "sum"),
                test=("test", "first"), alpha=("alpha", "first"),
                n_subjects=("n_subjects", "first"))
           .reset_index())
    unit = "vertex" if g["provenance"].get("hemi_sizes") else "voxel"

    def split(rows):
        sig = [r for r in rows if r.n_sig > 0]
        none = [r for r in rows if r.n_sig == 0]
        return sig, none

    bs = [r for r in tot.itertuples() if r.kind == "brainscore"]
    if bs:
        sig, none = split(bs)
        r0 = bs[0]
        text = (f"Vertex-wise {r0.test} across {r0.n_subjects} subjects, FDR "
                f"{r0.alpha:g} within each hemisphere. ")
        if sig:
            text += "Significant brain scores: " + "; ".join(
                f"{r.model} {_count(int(r.n_sig), unit)} of {int(r.n):,} "
                f"({100 * r.n_sig / r.n:.1f}%)" for r in sig) + ". "
        text += ("No significant " + unit + " for " + ", ".join(r.model for r in none)
                 + "." if none else "")
        out["brainscore"] = text.strip()
    hier = []
    for m, hm in g.get("hierarchy", {}).items():
        best = np.asarray(hm.best_layer)
        best = best[best >= 0]
        if best.size:
            counts = np.bincount(best, minlength=len(hm.layer_names))
            top = int(np.argmax(counts))
            hier.append(f"{m}: most significant {_PLURAL[unit]} prefer "
                        f"{hm.layer_names[top]} ({100 * counts[top] / best.size:.0f}%"
                        f" of {best.size:,})")
        else:
            hier.append(f"{m}: no significant {unit}, so no best layer")
    if hier:
        out["hierarchy"] = ("Best layers are shown only where the brain score is "
                            "significant. " + "; ".join(hier) + ".")
    cons = [r for r in tot.itertuples() if r.kind == "contrast"]
    if cons:
        sig, none = split(cons)
        text = ""
        if sig:
            text += "Significant contrasts: " + "; ".join(
                f"{r.map} in {_count(int(r.n_sig), unit)}" for r in sig) + ". "
        if none:
            text += ("Not significant anywhere (FDR "
                     f"{none[0].alpha:g}): " + ", ".join(r.map for r in none) + ".")
        br = [r for r in tot.itertuples() if r.kind == "bestregime"]
        if br:
            text += (f" The best-regime map covers {_count(int(br[0].n_sig), unit)} "
                     "where a trained model beats the random one.")
        out["regimes"] = text.strip()
    return out


def _subject_table(n_subjects) -> str:
    if not isinstance(n_subjects, dict):
        return f"<p>Subjects: {html.escape(str(n_subjects))}</p>"
    rows = "".join(f"<tr><td>{html.escape(str(m))}</td><td>{int(n)}</td></tr>"
                   for m, n in n_subjects.items())
    return ("<table><tr><th>model</th><th>subjects</th></tr>" + rows + "</table>")


def _behaviour_section(folder: Path) -> list[str]:
    """HTML of the behaviour (ABX) results in ``folder`` (empty when absent)."""
    import pandas as pd

    scores_file = L.abx_file(folder, "scores.tsv")
    if not scores_file.is_file():
        return []
    scores = pd.read_csv(scores_file, sep="\t")
    table = scores.pivot_table(index="layer", columns="model", values="error",
                               sort=False) * 100
    conv = ", ".join(sorted(set(scores["convention"].astype(str))))
    parts = ["<h2>Behaviour: ABX phone discrimination</h2>",
             f"<p>ABX error (%) of every layer of every model on the items in "
             f"<code>{html.escape(str(folder))}</code> ({html.escape(conv)} "
             f"convention: DTW over frame-wise distances; chance is 50 %). Lower is "
             f"better; per-triplet deltas are in each model's "
             f"<code>abx_deltas.tsv</code>.</p>",
             table.to_html(float_format="%.1f")]
    parts += _held_out_table(folder)
    profile = L.abx_file(folder, "profile.png")
    if profile.is_file():
        parts.append(_img_tag(profile, "ABX error along the layers, per model"))
    return parts


def _held_out_table(folder: Path) -> list[str]:
    """Per model (one ``abx_deltas.tsv`` per subfolder): the best layer in-sample
    and chosen on held-out ``by`` cells (empty when no model has two layers)."""
    import pandas as pd

    from ..behaviour import abx_error, held_out_best_layer, load_abx_deltas

    rows = []
    for path in sorted(folder.glob(f"*/{L.abx_file('.', 'deltas.tsv').name}")):
        deltas = load_abx_deltas(path)
        if deltas["layer"].nunique() < 2 or deltas["by"].nunique() < 2:
            continue
        for r in held_out_best_layer(deltas)[0].itertuples():
            mine = deltas[deltas["model"] == r.model]
            per_layer = {k: abx_error(g)[0] for k, g in mine.groupby("layer")}
            best = min(per_layer, key=per_layer.get)
            rows.append({"model": r.model, "best layer (in-sample)": best,
                         "its error (%)": 100 * per_layer[best],
                         "held-out error (%)": 100 * r.error,
                         "layers chosen": r.layers})
    if not rows:
        return []
    return ["<p>The best layer's error is optimistic when the same triplets choose "
            "and score it. The held-out error chooses the layer on all contexts "
            "(<code>by</code> cells) but one and scores it on that one, in turn: "
            "compare models with it.</p>",
            pd.DataFrame(rows).to_html(index=False, float_format="%.1f")]


def _report_head(gdir: Path, prov: dict) -> list[str]:
    """The report's HTML head, title, group folder and subjects table."""
    return [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        "<title>brainscore_speech group report</title><style>",
        "body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}",
        "table{border-collapse:collapse;font-size:12px;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:2px 6px}figure{margin:1em 0}"
        "pre{background:#f4f4f4;padding:1em;overflow:auto;font-size:11px}"
        "p.summary{background:#eef4fb;padding:.6em 1em;border-left:4px solid "
        "#4a7fb5}</style></head><body>",
        "<h1>brainscore_speech group report</h1>",
        f"<p>Group folder: <code>{html.escape(str(gdir))}</code>; space "
        f"<code>{html.escape(str(prov.get('space')))}</code>.</p>",
        _subject_table(prov.get("n_subjects")),
    ]


def _figure_sections(figs, views, texts, out: Path, keep_links: bool) -> list[str]:
    """The figures, grouped into the report's sections (with their summaries)."""
    parts: list[str] = []
    by_section: dict[str, list[str]] = {key: [] for key, _, _ in _SECTIONS}
    for p in figs:
        key, caption = _section_of(p.stem)
        view = views.get(p.stem + "_view.html")
        by_section[key].append(_img_tag(
            p, caption, link=_rel(p, out.parent) if keep_links else None,
            view=_rel(view, out.parent) if view is not None else None))
    for key, title, intro in _SECTIONS:
        if by_section[key]:
            parts.append(f"<h2>{html.escape(title)}</h2>")
            if key in texts:
                parts.append(f"<p class='summary'>{html.escape(texts[key])}</p>")
            if intro:
                parts.append(f"<p>{html.escape(intro)}</p>")
            parts += by_section[key]
    return parts


def make_report(group_dir: str | os.PathLike, output_file: str | os.PathLike, *,
                dpi: int = 120, figures_dir: str | os.PathLike | None = None,
                figures: list[str | os.PathLike] | None = None,
                behaviour: str | os.PathLike | None = None) -> Path:
    """One offline HTML page: figures, tables, a summary per section, provenance.

    Figures are embedded (re-encoded at most :data:`THUMB_WIDTH` pixels wide so
    the page stays small); full-resolution PNGs and interactive views that lie
    beside the report are linked, not embedded.

    Parameters
    ----------
    group_dir : path
        Output of :func:`brainscore_speech.analysis.run_group`.
    output_file : path
        The ``.html`` file to write (atomically).
    dpi : int, default=120
        Resolution of the embedded PNGs.
    figures_dir : path, optional
        Where to keep the PNGs (default a temporary folder).
    figures : list of path, optional
        Files already made by :func:`make_figures`: PNGs to embed as they are
        (nothing is re-rendered; ``dpi`` and ``figures_dir`` are then unused)
        and HTML views to link.
    behaviour : path, optional
        A folder with ``abx_scores.tsv`` (and optionally ``abx_profile.png``),
        e.g. the demo's ``behaviour/``: adds a behaviour (ABX) section.

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        ``output_file`` is an existing folder (checked before any rendering).
    FileNotFoundError
        ``group_dir`` is not a group folder, or a listed figure is missing.
    """
    import tempfile

    import pandas as pd

    from .._io import atomic_path, check_output_file, read_json

    out = Path(output_file)
    check_output_file(output_file, what="--out")  # a folder: usage error, exit 2
    gdir = Path(group_dir)
    prov_path = L.group_file(gdir, L.GROUP_PROVENANCE)
    prov = read_json(prov_path) if prov_path.is_file() else None
    if prov is None:
        raise FileNotFoundError(f"{gdir} is not a group folder (no "
                                "group_provenance.json); run 'brainscore-speech "
                                "group' first.")
    if figures is not None:
        missing = [str(p) for p in figures if not Path(p).is_file()]
        if missing:
            raise FileNotFoundError(f"Figure(s) to embed not found: {missing}")
    from ..analysis import load_group_outputs

    g = load_group_outputs(gdir)
    with tempfile.TemporaryDirectory() as tmp:
        fdir = Path(figures_dir) if figures_dir is not None else Path(tmp)
        keep_links = figures is not None or figures_dir is not None
        if figures is not None:
            listed = [Path(p) for p in figures]
        else:
            # rendered for the report only: no log line naming a temporary folder
            listed = make_figures(gdir, fdir, dpi=dpi, html_views=False,
                                  verbose="WARNING")
        figs = [p for p in listed if p.suffix == ".png"]
        views = {p.name: p for p in listed if p.suffix == ".html"}
        summary_path = L.group_file(gdir, L.GROUP_SUMMARY)
        summary = pd.read_csv(summary_path, sep="\t") if summary_path.is_file() \
            else None
        parts: list[str] = _report_head(gdir, prov)
        texts = _section_summaries(summary, g)
        if summary is not None:
            parts.append("<h2>Statistics (one row per map and hemisphere)</h2>")
            table = summary.copy()
            for col in table.columns:
                if table[col].dtype == object:
                    table[col] = table[col].fillna("")
            parts.append(table.to_html(index=False, float_format="%.4g", na_rep="–"))
        parts += _figure_sections(figs, views, texts, out, keep_links)
        for p in sorted(gdir.glob("model-*_roiorder.json")):
            parts.append(f"<h3>{html.escape(p.stem)}</h3><pre>"
                         f"{html.escape(p.read_text())}</pre>")
        if behaviour is not None:
            parts += _behaviour_section(Path(behaviour))
        parts.append("<h2>Provenance</h2><details><summary>Parameters, inputs, "
                     "versions (click to expand)</summary><pre>"
                     f"{html.escape(json.dumps(prov, indent=2))}</pre></details>"
                     "</body></html>")
    with atomic_path(out) as tmp_file:
        tmp_file.write_text("\n".join(parts))
    return out
