"""Volume-space maps: projection onto fsaverage5 (planted fields), group maps and
figures of MNI-space studies scored in one group mask."""

from __future__ import annotations

import dataclasses

import nibabel as nib
import numpy as np
import pytest
from matplotlib.figure import Figure

from brainscore_speech.analysis import load_group_outputs, run_group
from brainscore_speech.analysis.group import common_volume_mask
from brainscore_speech.analysis.synthetic import make_synthetic_layer_scores
from brainscore_speech.plotting import make_figures
from brainscore_speech.plotting.surface import (
    plot_brain_score,
    project_volume,
    to_fsaverage5,
)

SPACE = "MNI152NLin2009cAsym"


def _mni_mask(voxel_mm: float = 4.0):
    """An ellipsoid 'brain' on an MNI grid: (mask image, voxel xyz in mm)."""
    aff = np.diag([voxel_mm] * 3 + [1.0])
    aff[:3, 3] = [-92, -128, -74]
    shape = tuple(int(np.ceil(e / voxel_mm)) for e in (188, 224, 188))
    ijk = np.indices(shape).reshape(3, -1).T
    xyz = ijk @ aff[:3, :3].T + aff[:3, 3]
    inside = (((xyz[:, 0] / 75) ** 2 + ((xyz[:, 1] + 18) / 105) ** 2
               + ((xyz[:, 2] - 10) / 85) ** 2) <= 1)
    mask = inside.reshape(shape).astype(np.uint8)
    return nib.Nifti1Image(mask, aff), xyz[inside]


def _mid_thickness():
    from nilearn import datasets

    fsa = datasets.load_fsaverage("fsaverage5")
    return {h: (fsa["pial"].parts[p].coordinates
                + fsa["white_matter"].parts[p].coordinates) / 2
            for h, p in (("L", "left"), ("R", "right"))}


def test_project_volume_recovers_a_planted_field():
    mask, xyz = _mni_mask()
    mid = _mid_thickness()
    # continuous: value = x coordinate (mm); each vertex must read its own x
    proj = project_volume(xyz[:, 0], mask)
    for hemi in "LR":
        assert proj[hemi].shape == (10242,)
        ok = np.isfinite(proj[hemi])
        assert ok.mean() > 0.99
        assert np.corrcoef(proj[hemi][ok], mid[hemi][ok, 0])[0, 1] > 0.999
        assert np.median(np.abs(proj[hemi][ok] - mid[hemi][ok, 0])) < 1.0
    # labels: 4 slabs along x; nearest-voxel sampling keeps labels intact
    labels = np.digitize(xyz[:, 0], [-40, 0, 40]).astype(float)
    proj = project_volume(labels, mask, categorical=True)
    for hemi in "LR":
        truth = np.digitize(mid[hemi][:, 0], [-40, 0, 40])
        ok = np.isfinite(proj[hemi])
        assert set(np.unique(proj[hemi][ok])) <= {0, 1, 2, 3}
        assert (proj[hemi][ok] == truth[ok]).mean() > 0.9


def test_project_volume_leaves_unknown_voxels_out():
    mask, xyz = _mni_mask()
    vals = np.where(xyz[:, 0] < -10, 1.0, np.nan)  # only x < -10 mm has values
    proj = project_volume(vals, mask)
    # the right hemisphere (x > 0) has no sample with a value: not shown (NaN)
    # or 0, never a value leaking from the left
    right = proj["R"]
    assert not np.any(np.isfinite(right) & (right != 0))
    left = proj["L"][np.isfinite(proj["L"])]
    assert np.mean(left == 1.0) > 0.95


def test_volume_errors():
    mask, xyz = _mni_mask(8.0)
    with pytest.raises(ValueError, match=r"'values' has shape \(3,\) but the mask"):
        project_volume(np.zeros(3), mask)
    with pytest.raises(ValueError, match="or, for volume data, the brain mask the "
                                         "values were scored in"):
        to_fsaverage5(np.zeros(len(xyz)), None)


@pytest.fixture(scope="module")
def volume_group(tmp_path_factory):
    root = tmp_path_factory.mktemp("vol")
    mask, xyz = _mni_mask(8.0)
    mask_path = root / "group_mask.nii.gz"
    nib.save(mask, mask_path)
    n = len(xyz)
    scores, truth = make_synthetic_layer_scores(
        6, n_vertices_per_hemi=n, hemis=("L",), model_id="stages", random_state=0,
        noise_sd=0.02)
    for ls in scores:
        prov = {"inputs": {"bold_runs": {"mask": str(mask_path)}}}
        ls = dataclasses.replace(ls, hemi_sizes=None, space=SPACE, provenance=prov)
        ls.save(root / "deriv" / f"sub-{ls.subject}" /
                f"sub-{ls.subject}_task-t_space-{SPACE}_model-stages_layerscores.npz")
    res = run_group(root / "deriv", root / "group", test="ttest", n_bootstrap=10)
    return root, res, truth, mask_path


def test_run_group_writes_nifti_maps_and_the_mask(volume_group):
    root, res, truth, mask_path = volume_group
    g = root / "group"
    copy = g / f"space-{SPACE}_desc-brain_mask.nii.gz"
    assert copy in res["outputs"]
    assert copy.read_bytes() == mask_path.read_bytes()
    maps = sorted(g.glob(f"space-{SPACE}_model-stages_*_statmap.nii.gz"))
    assert len(maps) == 4
    best = nib.load(g / f"space-{SPACE}_model-stages_desc-bestlayer_statmap.nii.gz")
    assert best.shape == nib.load(mask_path).shape
    out = load_group_outputs(g)
    hm = out["hierarchy"]["stages"]
    assert hm.hemi_sizes is None and hm.extra["mask_img"] == str(copy.resolve())
    # the NIfTI map holds the hierarchy map's values in the mask's voxels
    from nilearn.masking import apply_mask

    vox = apply_mask(best, str(mask_path))
    np.testing.assert_allclose(vox, np.nan_to_num(hm.best_layer), atol=1e-6)
    planted = truth["planted_layer"]
    sig = hm.best_layer >= 0
    assert sig.sum() > 100 and (hm.best_layer[sig] == planted[sig]).mean() > 0.8


def test_volume_figures(volume_group, tmp_path):
    root, _, _, _ = volume_group
    files = make_figures(root / "group", tmp_path / "figs", dpi=40, html_views=False)
    names = {p.name for p in files}
    assert {"model-stages_desc-brainscore.png",
            "model-stages_desc-bestlayer.png"} <= names
    assert all(p.stat().st_size > 5000 for p in files if p.suffix == ".png")
    # a GroupMap whose recorded mask is gone needs an explicit one
    gm = load_group_outputs(root / "group")["brainscore"]["stages"]
    moved = dataclasses.replace(gm, extra={**gm.extra,
                                           "mask_img": "/nonexistent.nii.gz"})
    with pytest.raises(ValueError, match=r"is in volume space \(MNI152NLin2009cAsym\); "
                                         r"its brain mask '/nonexistent.nii.gz' is not "
                                         r"found: pass 'mask_img'"):
        plot_brain_score(moved)
    fig = plot_brain_score(moved, mask_img=root / "group_mask.nii.gz", dpi=40)
    assert isinstance(fig, Figure)


def test_subjects_in_different_masks_are_refused(tmp_path):
    mask, xyz = _mni_mask(8.0)
    other = nib.Nifti1Image(np.asarray(mask.dataobj).copy(), mask.affine)
    other.get_fdata()  # same voxels, but a different file content below
    other_data = np.asarray(other.dataobj)
    other_data[tuple(np.argwhere(other_data)[0])] = 0
    paths = [tmp_path / "m1.nii.gz", tmp_path / "m2.nii.gz"]
    nib.save(mask, paths[0])
    nib.save(nib.Nifti1Image(other_data, mask.affine), paths[1])
    scores, _ = make_synthetic_layer_scores(2, n_vertices_per_hemi=len(xyz),
                                            hemis=("L",), random_state=1)
    lst = [dataclasses.replace(ls, hemi_sizes=None, space=SPACE, provenance={
        "inputs": {"bold_runs": {"mask": str(p)}}}) for ls, p in zip(scores, paths)]
    with pytest.raises(ValueError, match=r"Subjects were scored in different brain "
                                         r"masks \(sub-01: .*m1.nii.gz; sub-02: "
                                         r".*m2.nii.gz\).*score --mask MASK"):
        common_volume_mask({"stages": lst})
    # no recorded mask: maps are skipped, not an error
    bare = [dataclasses.replace(ls, provenance={}) for ls in lst]
    assert common_volume_mask({"stages": bare}) is None
