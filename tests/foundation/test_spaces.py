"""brainscore_speech.spaces: the one definition of surfaces, meshes, hemispheres."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from brainscore_speech import spaces
from brainscore_speech.spaces import (
    FSAVERAGE5_N_VERTICES,
    MESH_SIZES,
    concat_hemis,
    hemi_slices,
    ico_vertices,
    is_surface,
    mesh_of_size,
    split_hemis,
)

PKG = Path(spaces.__file__).parent


@pytest.mark.parametrize("space,expected", [
    ("fsaverage5", True), ("fsaverage", True), ("fsaverage6", True),
    ("fsaverage7", True), ("fsnative", True), ("MNI152NLin2009cAsym", False),
    ("T1w", False), ("", False), (None, False)])
def test_is_surface(space, expected):
    assert is_surface(space) is expected


def test_mesh_sizes_are_icosahedral_and_match_nilearn():
    assert FSAVERAGE5_N_VERTICES == 10242 == ico_vertices(5)
    assert [ico_vertices(k) for k in (3, 4, 6, 7)] == [642, 2562, 40962, 163842]
    assert MESH_SIZES["fsaverage"] == MESH_SIZES["fsaverage7"] == 163842
    assert mesh_of_size(10242) == "fsaverage5"
    assert mesh_of_size(40962) == "fsaverage6"
    assert mesh_of_size(163842) == "fsaverage7"
    assert mesh_of_size(1000) is None
    from nilearn import datasets

    mesh = datasets.load_fsaverage("fsaverage5")["pial"]
    assert mesh.parts["left"].coordinates.shape[0] == FSAVERAGE5_N_VERTICES
    assert mesh.parts["right"].coordinates.shape[0] == FSAVERAGE5_N_VERTICES


def test_hemi_slices():
    assert hemi_slices({"L": 3, "R": 5}) == {"L": slice(0, 3), "R": slice(3, 8)}
    assert hemi_slices({"R": 4}, 4) == {"R": slice(0, 4)}
    assert hemi_slices(None, 7) == {"all": slice(0, 7)}
    with pytest.raises(ValueError, match=r"add up to 8 targets, but the data have 9"):
        hemi_slices({"L": 3, "R": 5}, 9)
    with pytest.raises(ValueError, match="need 'n_targets'"):
        hemi_slices(None)


def test_split_and_concat_round_trip():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 11))
    parts = split_hemis(x, {"L": 5, "R": 6}, axis=1)
    assert list(parts) == ["L", "R"]
    np.testing.assert_array_equal(parts["L"], x[:, :5])
    np.testing.assert_array_equal(parts["R"], x[:, 5:])
    back, sizes = concat_hemis(parts, axis=1)
    assert sizes == {"L": 5, "R": 6}
    np.testing.assert_array_equal(back, x)
    assert list(split_hemis(x[0], None)) == ["all"]
    with pytest.raises(ValueError, match="add up to 10 targets"):
        split_hemis(x, {"L": 5, "R": 5}, axis=1)


def test_stats_hemi_slices_is_the_same_definition():
    from brainscore_speech.analysis import hemi_slices as stats_slices

    assert stats_slices(8, {"L": 3, "R": 5}) == hemi_slices({"L": 3, "R": 5}, 8)
    assert stats_slices(4, None) == {"all": slice(0, 4)}


def _literals(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            yield node.value


def test_no_duplicate_definitions_in_the_package():
    """The mesh size and the surface test live only in spaces.py."""
    offenders = []
    for path in sorted(PKG.rglob("*.py")):
        if path.name == "spaces.py":
            continue
        tree = ast.parse(path.read_text())
        for value in _literals(tree):
            if isinstance(value, int) and not isinstance(value, bool) and \
                    value in (10242, 20484, 40962, 163842):
                offenders.append(f"{path.relative_to(PKG)}: {value}")
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "startswith" and node.args
                    and "fsaverage" in ast.dump(node.args[0])):
                offenders.append(f"{path.relative_to(PKG)}: startswith fsaverage")
    assert not offenders, offenders
