import json
import os

import numpy as np
import pytest

from brainscore_speech._io import (
    array_hash,
    atomic_path,
    file_hash,
    make_provenance,
    params_hash,
    read_json,
    remove_stale_temps,
    safe_join,
    write_json,
)
from brainscore_speech.exceptions import DataError


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.npz"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert not target.exists()
    assert os.listdir(tmp_path) == []
    with atomic_path(target) as tmp:
        assert tmp.name.endswith(".npz") and ".tmp-" in tmp.name
        tmp.write_bytes(b"full")
    assert target.read_bytes() == b"full"
    assert os.listdir(tmp_path) == ["out.npz"]


def test_remove_stale_temps_folder_names_and_recursive(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    top = [tmp_path / "a.tmp-x1.npz", tmp_path / "b.tmp-y2.json"]
    deep = sub / "c.tmp-z3.func.gii"
    keep = [tmp_path / "a.npz", tmp_path / "notes.txt", sub / "c.func.gii"]
    for p in [*top, deep, *keep]:
        p.write_bytes(b"x")
    (tmp_path / "d.tmp-dir").mkdir()  # folders are never removed
    assert remove_stale_temps(tmp_path, names=["a.npz"]) == [top[0]]
    assert top[1].exists() and deep.exists()
    assert remove_stale_temps(tmp_path) == [top[1]]
    assert deep.exists()  # not recursive by default
    assert remove_stale_temps(tmp_path, recursive=True) == [deep]
    assert all(p.exists() for p in keep) and (tmp_path / "d.tmp-dir").is_dir()
    assert remove_stale_temps(tmp_path / "missing") == []


def test_json_roundtrip_and_errors(tmp_path):
    p = write_json(tmp_path / "a.json", {"x": np.float32(1.5), "y": np.arange(3),
                                         "z": float("nan")})
    assert read_json(p) == {"x": 1.5, "y": [0, 1, 2], "z": None}
    with pytest.raises(FileNotFoundError, match="JSON file not found"):
        read_json(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="Malformed JSON in .*bad.json"):
        read_json(tmp_path / "bad.json")


def test_hashes(tmp_path):
    f = tmp_path / "f.bin"
    f.write_bytes(b"abc")
    assert file_hash(f) == ("ba7816bf8f01cfea414140de5dae2223"
                            "b00361a396177a9cb410ff61f20015ad")
    assert file_hash(f, "md5") == "900150983cd24fb0d6963f7d28e17f72"
    a = np.arange(6, dtype=np.float32)
    assert array_hash(a) == array_hash(a.copy())
    assert array_hash(a) != array_hash(a.reshape(2, 3))
    assert params_hash({"a": 1, "b": 2}) == params_hash({"b": 2, "a": 1})


def test_provenance_records_inputs(tmp_path):
    f = tmp_path / "x.txt"
    f.write_text("hi")
    prov = make_provenance("score", params={"alpha": np.float64(2)},
                           inputs={"x": f, "h": "abc"}, seed=3)
    assert prov["step"] == "score" and prov["seed"] == 3
    assert prov["inputs"]["x"]["sha256"] == file_hash(f)
    assert prov["inputs"]["h"] == "abc"
    assert "numpy" in prov["versions"]
    json.dumps(prov)


def test_safe_join_refuses_escapes(tmp_path):
    assert safe_join(tmp_path, "a/b.txt") == tmp_path.resolve() / "a" / "b.txt"
    with pytest.raises(ValueError, match="must stay inside the root; '..' is not "
                                         "allowed"):
        safe_join(tmp_path, "../etc/passwd", what="manifest path")
    with pytest.raises(ValueError, match="must be relative to the root, got an "
                                         "absolute"):
        safe_join(tmp_path, "/etc/passwd")
    (tmp_path / "link").symlink_to("/")
    with pytest.raises(ValueError, match="resolves outside the root"):
        safe_join(tmp_path, "link/etc")
