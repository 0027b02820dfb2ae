"""Spaces and surfaces: one answer to "is this a surface?", mesh sizes, hemispheres.

Surface data (fMRIPrep ``space-fsaverage*`` / ``space-fsnative``) keep the left
hemisphere's vertices first, then the right's, on one concatenated target axis;
``hemi_sizes = {"L": n_left, "R": n_right}`` says where the split is. Volume data
have ``hemi_sizes = None`` (one block, called ``"all"``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["SURFACE_PREFIXES", "HEMIS", "MESH_SIZES", "FSAVERAGE5_N_VERTICES",
           "is_surface", "ico_vertices", "mesh_of_size", "hemi_slices",
           "split_hemis", "concat_hemis"]

#: Space names that are surfaces (fMRIPrep ``--output-spaces``), by prefix.
SURFACE_PREFIXES = ("fsaverage", "fsnative")
#: Hemisphere labels in the order they are concatenated on the target axis.
HEMIS = ("L", "R")


def ico_vertices(order: int) -> int:
    """Vertices per hemisphere of an icosahedral mesh of subdivision ``order``.

    ``10 * 4 ** order + 2``: 3 -> 642, 4 -> 2562, 5 -> 10242 (fsaverage5), 6 -> 40962,
    7 -> 163842 (fsaverage).
    """
    return 10 * 4 ** int(order) + 2


#: Vertices per hemisphere of the fsaverage meshes.
MESH_SIZES = {"fsaverage5": ico_vertices(5), "fsaverage6": ico_vertices(6),
              "fsaverage7": ico_vertices(7), "fsaverage": ico_vertices(7)}
FSAVERAGE5_N_VERTICES = MESH_SIZES["fsaverage5"]


def is_surface(space: str | None) -> bool:
    """True for a surface space (``fsaverage``, ``fsaverage5/6/7``, ``fsnative``)."""
    return isinstance(space, str) and space.startswith(SURFACE_PREFIXES)


def mesh_of_size(n_vertices: int) -> str | None:
    """The fsaverage mesh (``"fsaverage5/6/7"``) with that many vertices per
    hemisphere, or None."""
    for name in ("fsaverage5", "fsaverage6", "fsaverage7"):
        if MESH_SIZES[name] == int(n_vertices):
            return name
    return None


def hemi_slices(hemi_sizes: Mapping[str, int] | None, n_targets: int | None = None
                ) -> dict[str, slice]:
    """Slices of the concatenated target axis for each hemisphere.

    Parameters
    ----------
    hemi_sizes : dict of str to int or None
        ``{"L": n_left, "R": n_right}`` (in axis order); None means one block called
        ``"all"`` of length ``n_targets``.
    n_targets : int, optional
        Length of the target axis; when given, the sizes must add up to it.

    Returns
    -------
    dict of str to slice
    """
    if hemi_sizes is None:
        if n_targets is None:
            raise ValueError("hemi_slices: volume data (hemi_sizes=None) need "
                             "'n_targets'.")
        return {"all": slice(0, int(n_targets))}
    out, start = {}, 0
    for hemi, size in hemi_sizes.items():
        out[hemi] = slice(start, start + int(size))
        start += int(size)
    if n_targets is not None and start != n_targets:
        raise ValueError(
            f"'hemi_sizes' {dict(hemi_sizes)} add up to {start} targets, but the data "
            f"have {n_targets}."
        )
    return out


def split_hemis(values: np.ndarray, hemi_sizes: Mapping[str, int] | None, *,
                axis: int = -1) -> dict[str, np.ndarray]:
    """Split ``values`` along its target ``axis`` into ``{hemi: part}`` (views).

    Parameters
    ----------
    values : array, target axis of length sum(hemi_sizes)
    hemi_sizes : dict of str to int or None
        None: one part called ``"all"``.
    axis : int, default=-1

    Returns
    -------
    dict of str to array
    """
    values = np.asarray(values)
    n = values.shape[axis]
    index = [slice(None)] * values.ndim
    out = {}
    for hemi, sl in hemi_slices(hemi_sizes, n).items():
        index[axis] = sl
        out[hemi] = values[tuple(index)]
    return out


def concat_hemis(parts: Mapping[str, np.ndarray], *, axis: int = -1
                 ) -> tuple[np.ndarray, dict[str, int]]:
    """Concatenate per-hemisphere arrays (in mapping order) along ``axis``.

    Returns
    -------
    values : array
    hemi_sizes : dict of str to int
    """
    arrays = [np.asarray(a) for a in parts.values()]
    sizes = {h: int(a.shape[axis]) for h, a in zip(parts, arrays, strict=True)}
    return np.concatenate(arrays, axis=axis), sizes
