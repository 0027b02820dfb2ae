"""Cortical-surface figures on nilearn's bundled fsaverage5 (offline).

Every figure shows the inflated fsaverage5 surface, lateral and medial views of
both hemispheres, over the sulcal depth. Data on fsaverage6/7 (40962 / 163842
vertices per hemisphere) are decimated for display: the first 10242 vertices of
a higher-order icosahedron are exactly the fsaverage5 vertices. Functions return
a matplotlib Figure and write a PNG only when given ``output_file``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .._io import atomic_path
from ..containers import GroupMap, HierarchyMap

__all__ = ["to_fsaverage5", "plot_surface_map", "plot_brain_score",
           "plot_hierarchy", "plot_regime_map", "view_surface_html"]

N_FSAVERAGE5 = 10242
_ICO_SIZES = {10242: "fsaverage5", 40962: "fsaverage6", 163842: "fsaverage7"}


def to_fsaverage5(values: np.ndarray, hemi_sizes: Mapping[str, int] | None
                  ) -> dict[str, np.ndarray]:
    """Split a map into hemispheres and bring it to fsaverage5 for display.

    Parameters
    ----------
    values : array of shape (n_targets,)
        Left hemisphere then right.
    hemi_sizes : dict of str to int
        ``{"L": n, "R": n}`` with n in {10242, 40962, 163842}.

    Returns
    -------
    dict of str to array of shape (10242,)
    """
    values = np.asarray(values, dtype=float)
    if hemi_sizes is None:
        raise ValueError("Surface figures need 'hemi_sizes' ({'L': n, 'R': n}); the "
                         "map has none (volume data must be projected first).")
    out, start = {}, 0
    for hemi in ("L", "R"):
        if hemi not in hemi_sizes:
            raise ValueError(f"Surface figures need both hemispheres; 'hemi_sizes' is "
                             f"{dict(hemi_sizes)}.")
    for hemi, n in hemi_sizes.items():
        if n not in _ICO_SIZES:
            raise ValueError(
                f"Hemisphere {hemi!r} has {n} vertices; surface figures support "
                f"fsaverage5/6/7 ({sorted(_ICO_SIZES)} vertices per hemisphere).")
        out[hemi] = values[start:start + N_FSAVERAGE5]
        start += n
    if start != values.size:
        raise ValueError(f"'values' has {values.size} entries but 'hemi_sizes' "
                         f"{dict(hemi_sizes)} adds up to {start}.")
    return out


def _layer_cmap(n: int):
    from matplotlib.colors import ListedColormap

    import matplotlib

    base = matplotlib.colormaps["viridis" if n > 10 else "turbo"]
    return ListedColormap(base(np.linspace(0.05, 0.95, n)))


def plot_surface_map(values: np.ndarray, hemi_sizes: Mapping[str, int], *,
                     title: str = "", cmap=None, vmin: float | None = None,
                     vmax: float | None = None, threshold: float | None = None,
                     symmetric_cbar: bool = False, colorbar_label: str = "",
                     categories: Sequence[str] | None = None,
                     output_file: str | os.PathLike | None = None, dpi: int = 300):
    """Lateral and medial views of both hemispheres on inflated fsaverage5.

    Parameters
    ----------
    values : array of shape (n_targets,)
        Left then right hemisphere (fsaverage5/6/7); NaN is not shown.
    hemi_sizes : dict of str to int
    title : str
    cmap : str or Colormap, optional
    vmin, vmax : float, optional
    threshold : float, optional
        Values with ``|v| < threshold`` are not shown.
    symmetric_cbar : bool, default=False
    colorbar_label : str
    categories : sequence of str, optional
        Categorical map: values are integer indices into ``categories`` (-1 / NaN =
        hidden); a discrete colour scale with one tick per category is drawn.
    output_file : path, optional
        Write a PNG at ``dpi``.
    dpi : int, default=300

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm, Normalize
    from nilearn import datasets, plotting

    hemis = to_fsaverage5(values, hemi_sizes)
    mesh = datasets.load_fsaverage("fsaverage5")["inflated"]
    sulc = datasets.load_fsaverage_data(mesh="fsaverage5", data_type="sulcal")
    parts = {"L": "left", "R": "right"}
    if categories is not None:
        n_cat = len(categories)
        cmap = _layer_cmap(n_cat)
        for h in hemis:
            v = hemis[h].copy()
            v[~(v >= 0)] = np.nan
            hemis[h] = v + 1  # 1..n so 0 (hidden) stays below the threshold
        vmin, vmax, threshold, symmetric_cbar = 0.5, n_cat + 0.5, 0.5, False
    else:
        finite = np.concatenate([v[np.isfinite(v)] for v in hemis.values()])
        if vmax is None:
            vmax = float(np.nanpercentile(np.abs(finite), 99)) if finite.size else 1.0
            vmax = vmax if vmax > 0 else 1.0
        if vmin is None:
            vmin = -vmax if symmetric_cbar else float(min(0.0, finite.min())) \
                if finite.size else 0.0
        cmap = cmap or ("RdBu_r" if symmetric_cbar else "hot")
    cmap_obj = matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap
    fig = plt.figure(figsize=(9, 6.2))
    views = [("L", "lateral"), ("R", "lateral"), ("L", "medial"), ("R", "medial")]
    for i, (h, view) in enumerate(views):
        ax = fig.add_axes([(i % 2) * 0.45, 0.5 - (i // 2) * 0.44 + 0.06, 0.45, 0.42],
                          projection="3d")
        data = np.nan_to_num(hemis[h], nan=0.0)
        plotting.plot_surf_stat_map(
            mesh.parts[parts[h]], data, hemi=parts[h], view=view,
            bg_map=sulc.data.parts[parts[h]], axes=ax, figure=fig, cmap=cmap_obj,
            # a tiny threshold hides exact zeros (NaN / masked) so the sulcal
            # background shows there
            colorbar=False, threshold=threshold if threshold else 1e-9,
            vmin=vmin, vmax=vmax, symmetric_cbar=symmetric_cbar,
            engine="matplotlib")
        ax.set_title(f"{'left' if h == 'L' else 'right'} {view}", fontsize=10, y=0.95)
    cax = fig.add_axes([0.91, 0.2, 0.018, 0.6])
    if categories is not None:
        bounds = np.arange(0.5, len(categories) + 1.5)
        sm = ScalarMappable(norm=BoundaryNorm(bounds, cmap_obj.N), cmap=cmap_obj)
        cb = fig.colorbar(sm, cax=cax, ticks=np.arange(1, len(categories) + 1))
        cb.ax.set_yticklabels(list(categories), fontsize=8)
    else:
        sm = ScalarMappable(norm=Normalize(vmin, vmax), cmap=cmap_obj)
        cb = fig.colorbar(sm, cax=cax)
        cb.ax.tick_params(labelsize=8)
    cb.set_label(colorbar_label, fontsize=10)
    if title:
        fig.suptitle(title, fontsize=13, y=1.02)
    if output_file is not None:
        _save(fig, output_file, dpi)
    return fig


def _save(fig, output_file, dpi):
    path = Path(output_file)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png",
                    bbox_inches="tight")


def plot_brain_score(gmap: GroupMap, *, masked: bool = True, title: str | None = None,
                     output_file: str | os.PathLike | None = None, dpi: int = 300,
                     **kwargs):
    """Group brain-score (or contrast) map, significant vertices only by default.

    Parameters
    ----------
    gmap : GroupMap
    masked : bool, default=True
        Hide vertices that are not significant after correction.
    title : str, optional
    output_file : path, optional
    dpi : int, default=300
    **kwargs
        Passed to :func:`plot_surface_map`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    vals = np.asarray(gmap.statistic, float)
    if masked:
        vals = np.where(gmap.mask, vals, np.nan)
    symmetric = kwargs.pop("symmetric_cbar", bool(np.nanmin(
        np.where(np.isfinite(vals), vals, 0)) < 0))
    ttl = title or (f"{gmap.name} ({gmap.test}, "
                    f"{'FDR' if gmap.test != 'cluster' else 'cluster'} "
                    f"p<{gmap.alpha}, n={gmap.n_subjects})")
    return plot_surface_map(vals, gmap.hemi_sizes, title=ttl,
                            symmetric_cbar=symmetric, colorbar_label=kwargs.pop(
                                "colorbar_label", "mean Pearson r"),
                            output_file=output_file, dpi=dpi, **kwargs)


def plot_hierarchy(hmap: HierarchyMap, *, kind: str = "best_layer",
                   title: str | None = None,
                   output_file: str | os.PathLike | None = None, dpi: int = 300):
    """Hierarchy map: best layer (categorical colours) or preference index.

    Parameters
    ----------
    hmap : HierarchyMap
    kind : {"best_layer", "preference", "stability"}, default="best_layer"
    title : str, optional
    output_file : path, optional
    dpi : int, default=300

    Returns
    -------
    matplotlib.figure.Figure
    """
    from .._validation import check_option

    check_option("kind", kind, ("best_layer", "preference", "stability"))
    sig = hmap.best_layer >= 0
    who = f"model {hmap.model_id}, n={hmap.n_subjects}"
    if kind == "best_layer":
        return plot_surface_map(hmap.best_layer, hmap.hemi_sizes,
                                categories=hmap.layer_names,
                                title=title or f"Best layer ({who}; significant only)",
                                colorbar_label="layer", output_file=output_file,
                                dpi=dpi)
    vals = hmap.preference_index if kind == "preference" else hmap.stability
    return plot_surface_map(np.where(sig, vals, np.nan), hmap.hemi_sizes,
                            cmap="viridis", vmin=0, vmax=1,
                            title=title or f"{'Layer preference index' if kind == 'preference' else 'Best-layer bootstrap stability'} ({who})",
                            colorbar_label="0 = first layer, 1 = last" if
                            kind == "preference" else "fraction of resamples",
                            output_file=output_file, dpi=dpi)


def plot_regime_map(gmap: GroupMap, *, title: str | None = None,
                    output_file: str | os.PathLike | None = None, dpi: int = 300):
    """"Which regime predicts best" map (categorical; Fig. 4D).

    Parameters
    ----------
    gmap : GroupMap
        Output of :func:`brainscore_speech.analysis.best_regime_map`.
    title : str, optional
    output_file : path, optional
    dpi : int, default=300

    Returns
    -------
    matplotlib.figure.Figure
    """
    labels = gmap.extra.get("labels")
    if not labels:
        raise ValueError(f"GroupMap {gmap.name!r} is not a best-regime map (no "
                         "'labels' in its extra).")
    vals = np.where(gmap.mask, gmap.statistic, np.nan)
    return plot_surface_map(vals, gmap.hemi_sizes, categories=labels,
                            title=title or f"Best regime where trained > random "
                            f"(n={gmap.n_subjects})", colorbar_label="regime",
                            output_file=output_file, dpi=dpi)


def view_surface_html(values: np.ndarray, hemi_sizes: Mapping[str, int], *,
                      hemi: str = "L", title: str = "", cmap: str = "hot",
                      threshold: float | None = None,
                      output_file: str | os.PathLike | None = None):
    """Interactive offline HTML view (nilearn ``view_surf``, JS embedded).

    Parameters
    ----------
    values : array of shape (n_targets,)
    hemi_sizes : dict of str to int
    hemi : {"L", "R"}, default="L"
    title : str
    cmap : str, default="hot"
    threshold : float, optional
    output_file : path, optional
        Write the standalone HTML page.

    Returns
    -------
    nilearn SurfaceView
        Has ``get_standalone()`` (HTML text) and ``save_as_html``.
    """
    from nilearn import datasets, plotting

    from .._validation import check_option

    check_option("hemi", hemi, ("L", "R"))
    hemis = to_fsaverage5(values, hemi_sizes)
    part = {"L": "left", "R": "right"}[hemi]
    mesh = datasets.load_fsaverage("fsaverage5")["inflated"]
    sulc = datasets.load_fsaverage_data(mesh="fsaverage5", data_type="sulcal")
    view = plotting.view_surf(mesh.parts[part], np.nan_to_num(hemis[hemi]),
                              bg_map=sulc.data.parts[part], cmap=cmap,
                              threshold=threshold, title=title or None,
                              symmetric_cmap=False, engine="niivue")
    if output_file is not None:
        path = Path(output_file)
        with atomic_path(path) as tmp:
            tmp.write_text(view.get_standalone())
    return view
