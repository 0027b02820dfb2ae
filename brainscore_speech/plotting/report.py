"""All figures of a group folder, and one offline HTML report embedding them."""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path
from typing import Any  # noqa: F401

from .._logging import verbose

__all__ = ["make_figures", "make_report"]


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
    import matplotlib.pyplot as plt
    import pandas as pd

    from .._io import check_output_dir
    from .._logging import logger
    from ..analysis import load_group_outputs

    check_output_dir(out_dir, what="--out")
    from .profiles import plot_best_layer_distribution, plot_layer_profiles
    from .surface import (
        plot_brain_score,
        plot_hierarchy,
        plot_regime_map,
        view_surface_html,
    )

    g = load_group_outputs(group_dir)
    gdir, out = Path(group_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def keep(fig, name):
        path = out / name
        from .surface import _save

        _save(fig, path, dpi)
        plt.close(fig)
        written.append(path)

    def vol_mask(c):
        """Volume maps: the mask copy in this group folder (robust to moves);
        None lets the plotting functions use the recorded path."""
        rec = c.extra.get("mask_img") if c.hemi_sizes is None else None
        local = gdir / Path(rec).name if rec else None
        return local if local is not None and local.is_file() else None

    for m, gm in g["brainscore"].items():
        keep(plot_brain_score(gm, mask_img=vol_mask(gm)), f"model-{m}_desc-brainscore.png")
        if html_views:
            p = out / f"model-{m}_desc-brainscore_view.html"
            view_surface_html(gm.statistic, gm.hemi_sizes, title=f"brain score {m}",
                              output_file=p, mask_img=vol_mask(gm))
            written.append(p)
    for m, hm in g["hierarchy"].items():
        keep(plot_hierarchy(hm, mask_img=vol_mask(hm)), f"model-{m}_desc-bestlayer.png")
        keep(plot_hierarchy(hm, kind="preference", mask_img=vol_mask(hm)),
             f"model-{m}_desc-preference.png")
        prof = gdir / f"model-{m}_layerprofile.tsv"
        if prof.is_file():
            keep(plot_layer_profiles(pd.read_csv(prof, sep="\t"), hue="model",
                                     title=f"Layer profile, model {m} (all vertices)"),
                 f"model-{m}_desc-layerprofile.png")
        roi = gdir / f"model-{m}_roiprofile.tsv"
        if roi.is_file():
            keep(_plot_roi_summary(pd.read_csv(roi, sep="\t"), m),
                 f"model-{m}_desc-roiprofile.png")
        dist = gdir / f"model-{m}_roibestlayer.tsv"
        if dist.is_file():
            keep(plot_best_layer_distribution(pd.read_csv(dist, sep="\t"),
                                              title=f"Best layer per ROI, model {m}"),
                 f"model-{m}_desc-roibestlayer.png")
    for name, cm in g["contrasts"].items():
        keep(plot_brain_score(cm, colorbar_label="mean paired difference in r",
                              mask_img=vol_mask(cm)), f"contrast-{name}.png")
    if g["bestregime"] is not None:
        keep(plot_regime_map(g["bestregime"], mask_img=vol_mask(g["bestregime"])),
             "desc-bestregime.png")
    logger.info("Wrote %d figure files to %s.", len(written), out)
    return written


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
     "and the layer profile across vertices."),
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


def _img_tag(path: Path, caption: str | None = None) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    caption = caption or path.stem
    return (f'<figure><img src="data:image/png;base64,{data}" '
            f'alt="{html.escape(path.name)}" style="max-width:100%"/>'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def make_report(group_dir: str | os.PathLike, output_file: str | os.PathLike, *,
                dpi: int = 120, figures_dir: str | os.PathLike | None = None,
                figures: list[str | os.PathLike] | None = None) -> Path:
    """One self-contained HTML page: figures (embedded), tables and provenance.

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
        PNGs already made by :func:`make_figures` to embed as they are (nothing
        is re-rendered; ``dpi`` and ``figures_dir`` are then unused).

    Returns
    -------
    Path
    """
    import tempfile

    import pandas as pd

    from .._io import atomic_path, check_output_file, read_json

    check_output_file(output_file, what="--out")
    gdir = Path(group_dir)
    prov = read_json(gdir / "group_provenance.json") if (
        gdir / "group_provenance.json").is_file() else None
    if prov is None:
        raise FileNotFoundError(f"{gdir} is not a group folder (no "
                                "group_provenance.json); run 'brainscore-speech "
                                "group' first.")
    with tempfile.TemporaryDirectory() as tmp:
        fdir = Path(figures_dir) if figures_dir is not None else Path(tmp)
        if figures is not None:
            figs = [Path(p) for p in figures if Path(p).suffix == ".png"]
            missing = [str(p) for p in figs if not p.is_file()]
            if missing:
                raise FileNotFoundError(f"Figure(s) to embed not found: {missing}")
        else:
            figs = [p for p in make_figures(gdir, fdir, dpi=dpi, html_views=False)
                    if p.suffix == ".png"]
        parts: list[str] = [
            "<!DOCTYPE html><html><head><meta charset='utf-8'>",
            "<title>brainscore_speech group report</title><style>",
            "body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}",
            "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;"
            "padding:2px 6px}figure{margin:1em 0}pre{background:#f4f4f4;padding:1em;"
            "overflow:auto;font-size:11px}</style></head><body>",
            "<h1>brainscore_speech group report</h1>",
            f"<p>Group folder: <code>{html.escape(str(gdir))}</code>; space "
            f"<code>{html.escape(str(prov.get('space')))}</code>; subjects per model: "
            f"<code>{html.escape(json.dumps(prov.get('n_subjects')))}</code>.</p>",
        ]
        summary = gdir / "group_summary.tsv"
        if summary.is_file():
            parts.append("<h2>Statistics (one row per map and hemisphere)</h2>")
            parts.append(pd.read_csv(summary, sep="\t").to_html(index=False,
                                                                float_format="%.4g"))
        by_section: dict[str, list[str]] = {key: [] for key, _, _ in _SECTIONS}
        for p in figs:
            key, caption = _section_of(p.stem)
            by_section[key].append(_img_tag(p, caption))
        for key, title, intro in _SECTIONS:
            if by_section[key]:
                parts.append(f"<h2>{html.escape(title)}</h2>")
                if intro:
                    parts.append(f"<p>{html.escape(intro)}</p>")
                parts += by_section[key]
        for p in sorted(gdir.glob("model-*_roiorder.json")):
            parts.append(f"<h3>{html.escape(p.stem)}</h3><pre>"
                         f"{html.escape(p.read_text())}</pre>")
        parts.append("<h2>Provenance</h2><pre>"
                     f"{html.escape(json.dumps(prov, indent=2))}</pre></body></html>")
    out = Path(output_file)
    with atomic_path(out) as tmp_file:
        tmp_file.write_text("\n".join(parts))
    return out
