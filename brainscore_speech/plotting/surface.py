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
from ..spaces import FSAVERAGE5_N_VERTICES, HEMIS, MESH_SIZES, hemi_slices

__all__ = ["to_fsaverage5", "project_volume", "plot_surface_map", "plot_brain_score",
           "plot_hierarchy", "plot_regime_map", "view_surface_html", "layer_groups",
           "empty_map_note"]

N_FSAVERAGE5 = FSAVERAGE5_N_VERTICES
_ICO_SIZES = {MESH_SIZES[m]: m for m in ("fsaverage5", "fsaverage6", "fsaverage7")}


def to_fsaverage5(values: np.ndarray, hemi_sizes: Mapping[str, int] | None, *,
                  mask_img=None, categorical: bool = False) -> dict[str, np.ndarray]:
    """Split a map into hemispheres and bring it to fsaverage5 for display.

    Parameters
    ----------
    values : array of shape (n_targets,)
        Left hemisphere then right, or (volume data) one value per voxel of
        ``mask_img``.
    hemi_sizes : dict of str to int or None
        ``{"L": n, "R": n}`` with n in {10242, 40962, 163842}; None for volume
        data, which is then projected with :func:`project_volume`.
    mask_img : path or Nifti1Image, optional
        Volume data only: the brain mask the values were computed in.
    categorical : bool, default=False
        Volume data only: the values are labels (nearest-voxel sampling).

    Returns
    -------
    dict of str to array of shape (10242,)
    """
    values = np.asarray(values, dtype=float)
    if hemi_sizes is None:
        if mask_img is None:
            raise ValueError(
                "Surface figures need 'hemi_sizes' ({'L': n, 'R': n}) or, for volume "
                "data, the brain mask the values were scored in ('mask_img').")
        return project_volume(values, mask_img, categorical=categorical)
    for hemi in HEMIS:
        if hemi not in hemi_sizes:
            raise ValueError(f"Surface figures need both hemispheres; 'hemi_sizes' is "
                             f"{dict(hemi_sizes)}.")
    for hemi, n in hemi_sizes.items():
        if n not in _ICO_SIZES:
            raise ValueError(
                f"Hemisphere {hemi!r} has {n} vertices; surface figures support "
                f"fsaverage5/6/7 ({sorted(_ICO_SIZES)} vertices per hemisphere).")
    slices = hemi_slices(hemi_sizes)
    # the first fsaverage5-many vertices of an icosahedral mesh are fsaverage5's
    out = {h: values[sl.start:sl.start + N_FSAVERAGE5] for h, sl in slices.items()}
    start = sum(int(n) for n in hemi_sizes.values())
    if start != values.size:
        raise ValueError(f"'values' has {values.size} entries but 'hemi_sizes' "
                         f"{dict(hemi_sizes)} adds up to {start}.")
    return out


def project_volume(values: np.ndarray, mask_img, *, categorical: bool = False
                   ) -> dict[str, np.ndarray]:
    """Project a masked volume map (MNI space) onto both fsaverage5 hemispheres.

    Each vertex takes the values sampled along the segment from the white-matter
    to the pial surface (nilearn ``vol_to_surf``, samples outside ``mask_img``
    ignored): their mean for continuous maps, with trilinear interpolation
    normalised by that of the mask so that the mask's edge (close to the pial
    surface) does not pull values towards 0, the most frequent nearest-voxel
    label for label maps (``categorical``). Vertices with no sample inside the
    mask are NaN (not shown).

    Parameters
    ----------
    values : array of shape (n_voxels,)
        One value per voxel of ``mask_img`` (NaN = no value).
    mask_img : path or Nifti1Image
        The brain mask (MNI152 space, as the fsaverage meshes).
    categorical : bool, default=False

    Returns
    -------
    dict of str to array of shape (10242,)
        ``{"L": ..., "R": ...}``.
    """
    import warnings

    import nibabel as nib
    from nilearn import datasets, image, masking, surface

    mask = image.load_img(str(mask_img) if isinstance(mask_img, (str, os.PathLike))
                          else mask_img)
    n_vox = int(np.count_nonzero(np.asarray(mask.dataobj)))
    values = np.asarray(values, dtype=np.float32)
    if values.shape != (n_vox,):
        shown = mask_img if isinstance(mask_img, (str, os.PathLike)) else ""
        raise ValueError(f"'values' has shape {values.shape} but the mask "
                         f"{shown} has {n_vox} voxels.")
    finite = np.isfinite(values)
    img = masking.unmask(np.where(finite, values, 0), mask)
    keep = masking.unmask(finite.astype(np.float32), mask)
    keep = nib.Nifti1Image((np.asarray(keep.dataobj) > 0).astype(np.uint8), keep.affine)
    weight = nib.Nifti1Image(np.asarray(keep.dataobj, dtype=np.float32), keep.affine)
    fsa = datasets.load_fsaverage("fsaverage5")
    out = {}
    for hemi, part in (("L", "left"), ("R", "right")):
        mesh = fsa["pial"].parts[part]
        kw = dict(mask_img=keep, inner_mesh=fsa["white_matter"].parts[part])
        with warnings.catch_warnings():  # vertices with no sample in the mask
            warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
            if categorical:
                proj = surface.vol_to_surf(img, mesh,
                                           interpolation="nearest_most_frequent",
                                           **kw)
            else:
                # trilinear samples next to the mask's edge mix in out-of-mask
                # zeros; dividing by the same interpolation of the mask
                # (normalised interpolation) keeps a constant field constant
                num = surface.vol_to_surf(img, mesh, **kw)
                den = surface.vol_to_surf(weight, mesh, **kw)
                with np.errstate(invalid="ignore", divide="ignore"):
                    proj = np.where(den > 1e-3, num / den, np.nan)
        out[hemi] = np.asarray(proj, dtype=float).reshape(-1)
    return out


# Best-layer maps with more layers than this show layer groups (conv blocks, then
# thirds of the transformer); the full map goes to the interactive HTML view.
MAX_LAYER_COLOURS = 12


def _layer_cmap(n: int):
    """n colours of a perceptually ordered scale (viridis), evenly spaced.

    With at most :data:`MAX_LAYER_COLOURS` categories, neighbouring layers are at
    least 1/12 of the scale apart, enough to tell them apart on the cortex.
    """
    import matplotlib
    from matplotlib.colors import ListedColormap

    base = matplotlib.colormaps["viridis"]
    return ListedColormap(base(np.linspace(0.0, 1.0, max(n, 2))[:n] if n > 1
                               else [0.5]))


def layer_groups(names: Sequence[str], *, max_groups: int = MAX_LAYER_COLOURS
                 ) -> tuple[np.ndarray, list[str]]:
    """Group many layers for display: conv blocks, then transformer thirds.

    Parameters
    ----------
    names : sequence of str
        Layer names in hierarchy order (``conv0 .. conv6, encoder_input,
        transf0 ..`` for wav2vec 2.0).
    max_groups : int, default=MAX_LAYER_COLOURS
        At most this many layers: one group per layer.

    Returns
    -------
    group : array of shape (n_layers,) of int
        Group index of each layer (ordered like the layers).
    labels : list of str
        One label per group, e.g. ``"conv0-conv6"``, ``"encoder_input-transf3"``.
    """
    names = [str(n) for n in names]
    n = len(names)
    if n <= max_groups:
        return np.arange(n), names
    conv = [i for i, name in enumerate(names) if name.startswith("conv")]
    rest = [i for i in range(n) if i not in set(conv)]
    chunks: list[list[int]] = []
    if conv:
        chunks.append(conv)
    n_rest = min(3, len(rest)) if rest else 0
    for part in (np.array_split(np.asarray(rest), n_rest) if n_rest else []):
        if part.size:
            chunks.append(part.tolist())
    group = np.empty(n, dtype=int)
    labels = []
    for g, idx in enumerate(chunks):
        group[idx] = g
        a, b = names[idx[0]], names[idx[-1]]
        labels.append(a if a == b else f"{a}-{b}")
    return group, labels


def plot_surface_map(values: np.ndarray, hemi_sizes: Mapping[str, int], *,
                     title: str = "", cmap=None, vmin: float | None = None,
                     vmax: float | None = None, threshold: float | None = None,
                     symmetric_cbar: bool = False, colorbar_label: str = "",
                     categories: Sequence[str] | None = None,
                     output_file: str | os.PathLike | None = None, dpi: int = 300,
                     mask_img=None, note: str | None = None):
    """Lateral and medial views of both hemispheres on inflated fsaverage5.

    Parameters
    ----------
    values : array of shape (n_targets,)
        Left then right hemisphere (fsaverage5/6/7), or one value per voxel of
        ``mask_img`` (volume data, projected with :func:`project_volume`); NaN
        is not shown.
    hemi_sizes : dict of str to int or None
        None for volume data.
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
    mask_img : path or Nifti1Image, optional
        Volume data only: the brain mask of ``values``.
    note : str, optional
        Text written across the middle of the figure (e.g. why a map is empty).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm, Normalize
    from nilearn import datasets, plotting

    hemis = to_fsaverage5(values, hemi_sizes, mask_img=mask_img,
                          categorical=categories is not None)
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
    if note:
        fig.text(0.45, 0.06, note, ha="center", va="center", fontsize=13,
                 color="0.15", bbox={"boxstyle": "round", "fc": "white", "ec": "0.6",
                                     "alpha": 0.9})
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


def _volume_mask(container, mask_img):
    """The brain mask of a volume-space map (explicit, else its ``extra``)."""
    if container.hemi_sizes is not None:
        return None
    if mask_img is not None:
        return mask_img
    recorded = container.extra.get("mask_img")
    if recorded is None or not Path(recorded).is_file():
        raise ValueError(
            f"{type(container).__name__} {getattr(container, 'name', '')!r} is in "
            f"volume space ({container.space}); its brain mask "
            f"{'is not recorded' if recorded is None else f'{recorded!r} is not found'}"
            ": pass 'mask_img' (make_figures finds the copy in the group folder).")
    return recorded


def plot_brain_score(gmap: GroupMap, *, masked: bool = True, title: str | None = None,
                     output_file: str | os.PathLike | None = None, dpi: int = 300,
                     positive_only: bool = False, **kwargs):
    """Group brain-score (or contrast) map, significant vertices only by default.

    Parameters
    ----------
    gmap : GroupMap
    masked : bool, default=True
        Hide vertices that are not significant after correction.
    title : str, optional
    positive_only : bool, default=False
        Also hide values <= 0: for brain scores, a significantly negative r is
        not a prediction (the hierarchy map ignores those vertices too).
    output_file : path, optional
    dpi : int, default=300
    **kwargs
        Passed to :func:`plot_surface_map` (``mask_img`` for volume maps whose
        recorded mask has moved).

    Returns
    -------
    matplotlib.figure.Figure
    """
    vals = np.asarray(gmap.statistic, float)
    shown = np.asarray(gmap.mask, bool) if masked else np.isfinite(vals)
    if positive_only:
        shown = shown & (np.nan_to_num(vals) > 0)
    vals = np.where(shown, vals, np.nan)
    symmetric = kwargs.pop("symmetric_cbar", bool(np.nanmin(
        np.where(np.isfinite(vals), vals, 0)) < 0))
    ttl = title or (f"{gmap.name} ({gmap.test}, "
                    f"{'FDR' if gmap.test != 'cluster' else 'cluster'} "
                    f"p<{gmap.alpha}, n={gmap.n_subjects})")
    mask_img = _volume_mask(gmap, kwargs.pop("mask_img", None))
    note = kwargs.pop("note", empty_map_note(gmap) if masked else None)
    if note is None and masked and not shown.any():
        note = (f"no significant {'voxel' if gmap.hemi_sizes is None else 'vertex'} "
                f"with r > 0 at FDR {gmap.alpha:g}, n = {gmap.n_subjects}")
    return plot_surface_map(vals, gmap.hemi_sizes, title=ttl, mask_img=mask_img,
                            symmetric_cbar=symmetric, colorbar_label=kwargs.pop(
                                "colorbar_label", "mean Pearson r"),
                            output_file=output_file, dpi=dpi, note=note, **kwargs)


def empty_map_note(gmap: GroupMap) -> str | None:
    """``"no significant vertex at FDR 0.05, n = 6"`` when nothing survives, else None.

    Parameters
    ----------
    gmap : GroupMap

    Returns
    -------
    str or None
    """
    if np.asarray(gmap.mask, bool).any():
        return None
    where = "voxel" if gmap.hemi_sizes is None else "vertex"
    corr = "cluster-level" if gmap.test == "cluster" else "FDR"
    return f"no significant {where} at {corr} {gmap.alpha:g}, n = {gmap.n_subjects}"


def plot_hierarchy(hmap: HierarchyMap, *, kind: str = "best_layer",
                   title: str | None = None,
                   output_file: str | os.PathLike | None = None, dpi: int = 300,
                   mask_img=None):
    """Hierarchy map: best layer (categorical colours) or preference index.

    Parameters
    ----------
    hmap : HierarchyMap
    kind : {"best_layer", "preference", "stability"}, default="best_layer"
    title : str, optional
    output_file : path, optional
    dpi : int, default=300
    mask_img : path or Nifti1Image, optional
        Volume maps only: overrides the mask recorded in ``hmap.extra``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from .._validation import check_option

    check_option("kind", kind, ("best_layer", "preference", "stability"))
    mask_img = _volume_mask(hmap, mask_img)
    sig = hmap.best_layer >= 0
    who = f"model {hmap.model_id}, n={hmap.n_subjects}"
    note = None if sig.any() else (
        f"no significant {'voxel' if hmap.hemi_sizes is None else 'vertex'} at FDR "
        f"{hmap.extra.get('alpha', 0.05):g}, n = {hmap.n_subjects}")
    if kind == "best_layer":
        group, labels = layer_groups(hmap.layer_names)
        best = np.asarray(hmap.best_layer)
        shown = np.where(best >= 0, group[np.maximum(best, 0)], -1)
        grouped = len(labels) < len(hmap.layer_names)
        return plot_surface_map(shown, hmap.hemi_sizes, categories=labels,
                                title=title or f"Best layer ({who}; significant only"
                                f"{'; layers grouped' if grouped else ''})",
                                colorbar_label="layer group" if grouped else
                                hmap.extra.get("layer_axis_label", "layer"),
                                output_file=output_file, dpi=dpi, mask_img=mask_img,
                                note=note)
    vals = hmap.preference_index if kind == "preference" else hmap.stability
    what = ("Layer preference index" if kind == "preference"
            else "Best-layer bootstrap stability")
    return plot_surface_map(np.where(sig, vals, np.nan), hmap.hemi_sizes,
                            cmap="viridis", vmin=0, vmax=1,
                            title=title or f"{what} ({who})",
                            colorbar_label="0 = first layer, 1 = last" if
                            kind == "preference" else "fraction of resamples",
                            output_file=output_file, dpi=dpi, mask_img=mask_img,
                            note=note)


def plot_regime_map(gmap: GroupMap, *, title: str | None = None,
                    output_file: str | os.PathLike | None = None, dpi: int = 300,
                    mask_img=None):
    """"Which regime predicts best" map (categorical; Fig. 4D).

    Parameters
    ----------
    gmap : GroupMap
        Output of :func:`brainscore_speech.analysis.best_regime_map`.
    title : str, optional
    output_file : path, optional
    dpi : int, default=300
    mask_img : path or Nifti1Image, optional
        Volume maps only: overrides the mask recorded in ``gmap.extra``.

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
                            output_file=output_file, dpi=dpi,
                            mask_img=_volume_mask(gmap, mask_img),
                            note=empty_map_note(gmap))


def view_surface_html(values: np.ndarray, hemi_sizes: Mapping[str, int], *,
                      hemi: str = "L", title: str = "", cmap: str = "hot",
                      threshold: float | None = None, vmax: float | None = None,
                      symmetric: bool = False,
                      output_file: str | os.PathLike | None = None, mask_img=None):
    """Interactive offline HTML view (nilearn ``view_surf``, JS embedded).

    Parameters
    ----------
    values : array of shape (n_targets,)
    hemi_sizes : dict of str to int or None
        None for volume data (then ``mask_img`` is needed).
    hemi : {"L", "R"}, default="L"
    title : str
    cmap : str, default="hot"
    threshold : float, optional
    vmax : float, optional
        Upper end of the colour scale (default: the data's maximum); share it
        between views of one kind of map.
    symmetric : bool, default=False
        Colour scale symmetric around 0 (signed maps).
    output_file : path, optional
        Write the standalone HTML page.
    mask_img : path or Nifti1Image, optional
        Volume data only: the brain mask of ``values``.

    Returns
    -------
    nilearn SurfaceView
        Has ``get_standalone()`` (HTML text) and ``save_as_html``.
    """
    from nilearn import datasets, plotting

    from .._validation import check_option

    check_option("hemi", hemi, ("L", "R"))
    hemis = to_fsaverage5(values, hemi_sizes, mask_img=mask_img)
    part = {"L": "left", "R": "right"}[hemi]
    mesh = datasets.load_fsaverage("fsaverage5")["inflated"]
    sulc = datasets.load_fsaverage_data(mesh="fsaverage5", data_type="sulcal")
    view = plotting.view_surf(mesh.parts[part], np.nan_to_num(hemis[hemi]),
                              bg_map=sulc.data.parts[part], cmap=cmap,
                              threshold=threshold, title=title or None,
                              symmetric_cmap=symmetric, vmax=vmax,
                              vmin=None if symmetric or vmax is None else 0.0,
                              engine="niivue")
    if output_file is not None:
        path = Path(output_file)
        with atomic_path(path) as tmp:
            tmp.write_text(view.get_standalone())
    return view
