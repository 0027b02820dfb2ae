"""Regions of interest from surface atlases, and layer profiles per ROI.

Atlases are read from FreeSurfer ``.annot`` files or GIFTI label files
(``.label.gii``), one per hemisphere. Default speech-ROI mappings (A1, belt, STG,
STS, IFG) exist for HCP-MMP1 (Glasser 2016), Desikan-Killiany (``aparc``) and
Destrieux (``aparc.a2009s``; METHODS.md section 10). Destrieux is only available
through nilearn's fetcher, i.e. online.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_option, check_path
from ..containers import LayerScores
from ..spaces import concat_hemis
from .collect import stack_layer_scores

__all__ = ["SurfaceAtlas", "load_surface_atlas", "fetch_destrieux_atlas",
           "speech_rois", "SPEECH_ROI_MAPPINGS", "roi_layer_profiles",
           "summarize_profiles", "check_atlas_matches"]

#: Paper ROI -> atlas label names (hemisphere prefixes/suffixes are stripped).
SPEECH_ROI_MAPPINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "hcp-mmp1": {
        "A1": ("A1",),
        "belt": ("LBelt", "MBelt", "PBelt", "RI"),
        "STG": ("A4", "A5", "STGa", "TA2"),
        "STS": ("STSda", "STSdp", "STSva", "STSvp"),
        "IFG": ("44", "45"),
    },
    # Desikan-Killiany has no belt label (Heschl's gyrus = transversetemporal).
    "desikan": {
        "A1": ("transversetemporal",),
        "STG": ("superiortemporal",),
        "STS": ("bankssts",),
        "IFG": ("parsopercularis", "parstriangularis"),
    },
    "destrieux": {
        "A1": ("G_temp_sup-G_T_transv",),
        "belt": ("S_temporal_transverse", "G_temp_sup-Plan_tempo"),
        "STG": ("G_temp_sup-Lateral",),
        "STS": ("S_temporal_sup",),
        "IFG": ("G_front_inf-Opercular", "G_front_inf-Triangul"),
    },
}


@dataclass(frozen=True)
class SurfaceAtlas:
    """A surface parcellation of both hemispheres.

    Parameters
    ----------
    labels : array of shape (n_targets,) of int
        Label id per vertex, left hemisphere then right (-1 or 0 = unknown).
    names : dict of int to str
        Label id -> name, hemisphere prefix/suffix removed (``L_A1_ROI`` -> ``A1``).
    hemi_sizes : dict of str to int
    name : str
        Atlas name (``hcp-mmp1``, ``desikan``, ``destrieux`` or free text).
    """

    labels: np.ndarray
    names: dict[int, str]
    hemi_sizes: dict[str, int]
    name: str = ""

    def __repr__(self) -> str:
        return (f"<SurfaceAtlas {self.name!r}, {len(set(self.names.values()))} labels, "
                f"hemi_sizes {self.hemi_sizes}>")


def _clean_name(name: str) -> str:
    name = re.sub(r"^(L|R|lh|rh)[_.]", "", name)
    name = re.sub(r"_ROI$", "", name)
    return name


def _read_one(path: Path) -> tuple[np.ndarray, dict[int, str]]:
    import nibabel as nib

    path = check_path(path, "atlas", what="Atlas file")
    if path.name.endswith(".annot"):
        try:
            labels, _, names = nib.freesurfer.read_annot(str(path))
        except Exception as err:  # nibabel raises bare ValueError/struct errors
            raise ValueError(
                f"Cannot read FreeSurfer annotation {path}: {err}") from None
        return np.asarray(labels, int), {i: _clean_name(n.decode() if isinstance(
            n, bytes) else str(n)) for i, n in enumerate(names)}
    if path.name.endswith(".gii"):
        try:
            img = nib.load(str(path))
        except Exception as err:
            raise ValueError(f"Cannot read GIFTI label file {path}: {err}") from None
        if not getattr(img, "darrays", None):
            raise ValueError(f"GIFTI file {path} has no data array.")
        labels = np.asarray(img.darrays[0].data).astype(int).ravel()
        names = {int(k): _clean_name(str(v)) for k, v in
                 img.labeltable.get_labels_as_dict().items()}
        return labels, names
    raise ValueError(f"Atlas file {path} must be a FreeSurfer '.annot' or a GIFTI "
                     f"'.label.gii' file.")


def load_surface_atlas(lh: str | os.PathLike, rh: str | os.PathLike, *,
                       name: str | None = None) -> SurfaceAtlas:
    """Read a parcellation from one file per hemisphere.

    Parameters
    ----------
    lh, rh : path
        FreeSurfer ``.annot`` or GIFTI ``.label.gii`` files.
    name : str, optional
        Atlas name used to choose the default ROI mapping; guessed from the file
        name (``mmp1``/``glasser`` -> ``hcp-mmp1``, ``a2009s``/``destrieux`` ->
        ``destrieux``, ``aparc``/``desikan`` -> ``desikan``).

    Returns
    -------
    SurfaceAtlas
    """
    lab_l, names_l = _read_one(Path(lh))
    lab_r, names_r = _read_one(Path(rh))
    # right-hemisphere ids are shifted so both hemispheres share one id space
    shift = max(names_l, default=0) + 1
    lab_r_s = np.where(lab_r >= 0, lab_r + shift, -1)
    names = dict(names_l)
    names.update({k + shift: v for k, v in names_r.items()})
    if name is None:
        low = Path(lh).name.lower()
        name = ("hcp-mmp1" if ("mmp1" in low or "glasser" in low or "hcp" in low)
                else "destrieux" if ("a2009s" in low or "destrieux" in low)
                else "desikan" if ("aparc" in low or "desikan" in low) else low)
    labels, sizes = concat_hemis({"L": lab_l, "R": lab_r_s})
    return SurfaceAtlas(labels=labels, names=names, hemi_sizes=sizes, name=name)


def fetch_destrieux_atlas() -> SurfaceAtlas:
    """Destrieux (aparc.a2009s) on fsaverage5 through nilearn's fetcher (online).

    Returns
    -------
    SurfaceAtlas
        The Destrieux labels of both hemispheres (``name="destrieux"``).

    Raises
    ------
    OSError
        When the atlas cannot be downloaded (offline).
    """
    from nilearn import datasets

    try:
        d = datasets.fetch_atlas_surf_destrieux(verbose=0)
    except Exception as err:
        raise OSError(f"Cannot fetch the Destrieux atlas with nilearn (needs network "
                      f"access): {err}") from None
    names = {i: (n.decode() if isinstance(n, bytes) else str(n))
             for i, n in enumerate(d["labels"])}
    lab_l, lab_r = np.asarray(d["map_left"], int), np.asarray(d["map_right"], int)
    shift = max(names) + 1
    all_names = dict(names)
    all_names.update({k + shift: v for k, v in names.items()})
    labels, sizes = concat_hemis({"L": lab_l, "R": lab_r + shift})
    return SurfaceAtlas(labels=labels, names=all_names, hemi_sizes=sizes,
                        name="destrieux")


def check_atlas_matches(atlas: SurfaceAtlas, hemi_sizes: Mapping[str, int] | None,
                        *, where: str = "the data") -> None:
    """Raise a ValueError when the atlas and the data meshes differ.

    Parameters
    ----------
    atlas : SurfaceAtlas
    hemi_sizes : dict of str to int or None
        Vertices per hemisphere of the data.
    where : str
        Names the data in the message.
    """
    if hemi_sizes is None or dict(hemi_sizes) != dict(atlas.hemi_sizes):
        raise ValueError(
            f"Atlas {atlas.name!r} does not match the mesh of {where}: the atlas has "
            f"{dict(atlas.hemi_sizes)} vertices per hemisphere, the data have "
            f"{None if hemi_sizes is None else dict(hemi_sizes)}. Use an atlas on the "
            f"same fsaverage resolution as the data.")


def speech_rois(atlas: SurfaceAtlas, *,
                mapping: Mapping[str, Sequence[str]] | None = None,
                hemi: str = "both") -> dict[str, np.ndarray]:
    """Vertex indices of the speech ROIs (A1, belt, STG, STS, IFG).

    Parameters
    ----------
    atlas : SurfaceAtlas
    mapping : dict of str to sequence of str, optional
        ROI -> atlas label names; default ``SPEECH_ROI_MAPPINGS[atlas.name]``.
    hemi : {"both", "L", "R", "separate"}, default="both"
        ``"separate"`` gives keys like ``"A1_L"``.

    Returns
    -------
    dict of str to array of int
        Indices into the concatenated L-then-R target axis.
    """
    check_option("hemi", hemi, ("both", "L", "R", "separate"))
    if mapping is None:
        if atlas.name not in SPEECH_ROI_MAPPINGS:
            raise ValueError(
                f"No default speech-ROI mapping for atlas {atlas.name!r}; known "
                f"atlases are {sorted(SPEECH_ROI_MAPPINGS)}. Pass 'mapping'.")
        mapping = SPEECH_ROI_MAPPINGS[atlas.name]
    n_l = atlas.hemi_sizes.get("L", 0)
    is_left = np.arange(atlas.labels.size) < n_l
    available = set(atlas.names.values())
    out: dict[str, np.ndarray] = {}
    for roi, label_names in mapping.items():
        missing = [n for n in label_names if n not in available]
        if missing:
            raise ValueError(f"ROI {roi!r}: labels {missing} are not in atlas "
                             f"{atlas.name!r}.")
        ids = [k for k, v in atlas.names.items() if v in set(label_names)]
        m = np.isin(atlas.labels, ids)
        if hemi == "separate":
            out[f"{roi}_L"] = np.flatnonzero(m & is_left)
            out[f"{roi}_R"] = np.flatnonzero(m & ~is_left)
        elif hemi == "L":
            out[roi] = np.flatnonzero(m & is_left)
        elif hemi == "R":
            out[roi] = np.flatnonzero(m & ~is_left)
        else:
            out[roi] = np.flatnonzero(m)
    return out


def roi_layer_profiles(scores: Sequence[LayerScores], rois: Mapping[str, Any], *,
                       layers: Sequence[str] | None = None):
    """ROI-averaged brain score of every layer and subject (tidy table).

    Parameters
    ----------
    scores : sequence of LayerScores
        One per subject, one model.
    rois : dict of str to array of int
        Vertex indices per ROI (e.g. from :func:`speech_rois`).
    layers : sequence of str, optional

    Returns
    -------
    pandas.DataFrame
        Columns ``subject, model, roi, layer, layer_index, mean_r``.
    """
    import pandas as pd

    stack = stack_layer_scores(scores, layers=layers)
    n_targets = stack.data.shape[2]
    rows = []
    for roi, idx in rois.items():
        idx = np.asarray(idx, int)
        if idx.size and idx.max() >= n_targets:
            raise ValueError(
                f"ROI {roi!r} has vertex indices up to {idx.max()} but the scores have "
                f"{n_targets} targets: the atlas does not match the mesh.")
        if idx.size == 0:
            continue
        vals = np.nanmean(stack.data[:, :, idx], axis=2)
        for s, sub in enumerate(stack.subjects):
            for j, layer in enumerate(stack.layer_names):
                rows.append({"subject": sub, "model": stack.model_id, "roi": roi,
                             "layer": layer, "layer_index": j,
                             "mean_r": float(vals[s, j])})
    return pd.DataFrame(rows)


def summarize_profiles(profiles, *, ci: float = 0.95):
    """Across-subject mean and t-based confidence interval of ROI layer profiles.

    Parameters
    ----------
    profiles : pandas.DataFrame
        Output of :func:`roi_layer_profiles` (several models may be concatenated).
    ci : float, default=0.95

    Returns
    -------
    pandas.DataFrame
        Columns ``model, roi, layer, layer_index, mean_r, ci_low, ci_high,
        n_subjects``.
    """
    from scipy import stats

    if not 0 < ci < 1:
        raise ValueError(f"'ci' must be in (0, 1), got {ci}.")
    g = profiles.groupby(["model", "roi", "layer", "layer_index"], sort=False)["mean_r"]
    out = g.agg(["mean", "std", "count"]).reset_index()
    tq = stats.t.ppf(0.5 + ci / 2, np.maximum(out["count"] - 1, 1))
    half = tq * out["std"] / np.sqrt(out["count"])
    out = out.rename(columns={"mean": "mean_r", "count": "n_subjects"})
    out["ci_low"], out["ci_high"] = out["mean_r"] - half, out["mean_r"] + half
    return out[["model", "roi", "layer", "layer_index", "mean_r", "ci_low", "ci_high",
                "n_subjects"]]
