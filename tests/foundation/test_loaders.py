"""_io loaders (one-line DataError per library failure), output checks, file modes."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from brainscore_speech._io import (
    atomic_path,
    check_output_dir,
    check_output_file,
    check_safetensors,
    load_image,
    load_yaml,
    open_h5,
    read_json,
    read_npz,
    read_tsv,
    umask_mode,
    write_json,
)
from brainscore_speech.exceptions import DataError, UsageError


def _one_line(err) -> None:
    assert "\n" not in str(err.value), str(err.value)


# ------------------------------------------------------------------------ YAML
def test_load_yaml_ok_and_missing(tmp_path):
    p = tmp_path / "a.yaml"
    p.write_text("a: 1\nb: [x, y]\n")
    assert load_yaml(p) == {"a": 1, "b": ["x", "y"]}
    with pytest.raises(FileNotFoundError, match=r"regime file not found: .*nope.yaml"):
        load_yaml(tmp_path / "nope.yaml", what="regime file")
    with pytest.raises(IsADirectoryError, match=r"is a folder, expected a file"):
        load_yaml(tmp_path)


def test_load_yaml_syntax_error_one_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("a: 1\nb: [x, y\n")
    with pytest.raises(DataError, match=r"Malformed YAML in YAML file .*bad.yaml: "
                                        r"line 3, column 1: ") as err:
        load_yaml(p)
    _one_line(err)


def test_load_yaml_python_tag_refused(tmp_path):
    p = tmp_path / "evil.yaml"
    p.write_text("x: !!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(DataError, match=r"python/object/apply:os.system.*only plain "
                                        r"YAML is accepted") as err:
        load_yaml(p)
    _one_line(err)
    assert not (tmp_path / "pwned").exists()


def test_load_yaml_not_utf8(tmp_path):
    p = tmp_path / "latin.yaml"
    p.write_bytes(b"a: \xe9t\xe9\n")
    with pytest.raises(DataError, match=r"not UTF-8 text"):
        load_yaml(p)


# ------------------------------------------------------------------------- npz
def test_read_npz_ok_truncated_garbage_npy(tmp_path):
    p = tmp_path / "a.npz"
    np.savez_compressed(p, x=np.arange(1000.0), y=np.ones((3, 4)))
    data = read_npz(p)
    np.testing.assert_array_equal(data["x"], np.arange(1000.0))
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(DataError, match=r"Cannot read \.npz file .*a.npz: truncated or "
                                        r"corrupt archive") as err:
        read_npz(p)
    _one_line(err)
    p.write_bytes(b"garbage" * 20)
    with pytest.raises(DataError, match=r"Cannot read scores .*a.npz"):
        read_npz(p, what="scores")
    q = tmp_path / "b.npy"
    np.save(q, np.zeros(3))
    with pytest.raises(DataError, match=r"not an \.npz archive"):
        read_npz(q)
    with pytest.raises(FileNotFoundError, match=r"\.npz file not found"):
        read_npz(tmp_path / "none.npz")


def test_read_npz_refuses_pickles(tmp_path):
    p = tmp_path / "obj.npz"
    np.savez(p, x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match=r"allow_pickle"):
        read_npz(p)


# ------------------------------------------------------------- h5 / images
def test_open_h5_truncated(tmp_path):
    import h5py

    p = tmp_path / "a.h5"
    with h5py.File(p, "w") as f:
        f["x"] = np.arange(10000.0)
    with open_h5(p) as f:
        assert f["x"].shape == (10000,)
    p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(DataError, match=r"Cannot read activation file .*a.h5: ") as err:
        open_h5(p, what="activation file")
    _one_line(err)


def test_load_image_truncated_nifti_and_gifti(tmp_path):
    import nibabel as nib

    p = tmp_path / "a.nii.gz"
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random((8, 8, 8, 5),
                                                             ).astype(np.float32),
                             np.eye(4)), p)
    assert load_image(p).shape == (8, 8, 8, 5)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(DataError, match=r"Cannot read mask .*a.nii.gz") as err:
        load_image(p, what="mask")
    _one_line(err)
    g = tmp_path / "a.func.gii"
    g.write_text("<GIFTI><DataArray")
    with pytest.raises(DataError, match=r"Cannot read image .*a.func.gii"):
        load_image(g)


# ---------------------------------------------------------------- safetensors
def test_check_safetensors(tmp_path):
    import torch
    from safetensors.torch import save_file

    p = tmp_path / "model.safetensors"
    save_file({"w": torch.zeros(64, 64)}, p)
    check_safetensors(p)
    full = p.read_bytes()
    p.write_bytes(full[:-10])
    with pytest.raises(DataError, match=r"truncated safetensors file \(\d+ bytes, the "
                                        r"header describes \d+\)"):
        check_safetensors(p)
    p.write_bytes(full[:4])
    with pytest.raises(DataError, match=r"malformed safetensors file .*too short"):
        check_safetensors(p)
    p.write_bytes((10**9).to_bytes(8, "little") + b"{}")
    with pytest.raises(DataError, match=r"header of 1000000000 bytes does not fit"):
        check_safetensors(p)
    p.write_bytes((4).to_bytes(8, "little") + b"{x:1")
    with pytest.raises(DataError, match=r"malformed safetensors file"):
        check_safetensors(p)


# ------------------------------------------------------------------ tsv / json
def test_read_tsv_and_json(tmp_path):
    p = tmp_path / "a.tsv"
    p.write_text("a\tb\n1\t2\n")
    assert read_tsv(p).shape == (1, 2)
    p.write_text("")
    with pytest.raises(DataError, match=r"Cannot read events .*a.tsv: No columns"):
        read_tsv(p, what="events")
    j = tmp_path / "a.json"
    j.write_bytes(b"\xff\xfe{")
    with pytest.raises(DataError, match=r"Malformed JSON in .*a.json"):
        read_json(j)


# ------------------------------------------------------------ output locations
def test_check_output_dir(tmp_path, monkeypatch):
    assert check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # nothing is created
    f = tmp_path / "f.txt"
    f.write_text("x")
    with pytest.raises(UsageError, match=r"--out .*f.txt is a file, expected a folder"):
        check_output_dir(f)
    with pytest.raises(UsageError, match=r"is under .*f.txt, which is a file"):
        check_output_dir(f / "sub")
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m, *a, **k: False if str(p) == str(
        tmp_path) else real(p, m, *a, **k))
    with pytest.raises(PermissionError, match=r"is not writable"):
        check_output_dir(tmp_path / "x")


def test_check_output_file(tmp_path):
    assert check_output_file(tmp_path / "r.html") == tmp_path / "r.html"
    with pytest.raises(UsageError, match=r"is a folder, expected a file name"):
        check_output_file(tmp_path)
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(UsageError, match=r"parent folder .*is a file"):
        check_output_file(f / "r.html")


# ---------------------------------------------------------------- file modes
@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_files_respect_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        assert umask_mode() == mode
        p = write_json(tmp_path / "a.json", {"a": 1})
        with atomic_path(tmp_path / "b.npz") as tmp:
            np.savez(tmp, x=np.zeros(2))
    finally:
        os.umask(old)
    for f in (p, tmp_path / "b.npz"):
        assert stat.S_IMODE(f.stat().st_mode) == mode, oct(f.stat().st_mode)
    assert json.loads(p.read_text()) == {"a": 1}
