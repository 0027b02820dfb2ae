"""integrity: checksum records and `brainscore-speech verify`."""

from __future__ import annotations

import json

import pytest

from brainscore_speech.exceptions import DataError
from brainscore_speech.integrity import find_records, record_outputs, verify_outputs
from tests.conftest import run_cli


@pytest.fixture
def job(tmp_path):
    inp = tmp_path / "inputs"
    inp.mkdir()
    (inp / "a.wav").write_bytes(b"audio-a")
    (inp / "b.wav").write_bytes(b"audio-b")
    out = tmp_path / "deriv"
    (out / "sub-01").mkdir(parents=True)
    files = [out / "sub-01" / "x.tsv", out / "sub-01" / "y.npz"]
    for f in files:
        f.write_bytes(f.name.encode())
    (out / "sub-01" / "y.json").write_text("{}")  # a container's sidecar
    rec = record_outputs(out / "sub-01" / "job_checksums.json", step="score",
                         outputs=files, inputs=[inp / "a.wav", inp / "b.wav",
                                                inp / "not-a-file"])
    return out, inp, rec


def _status(table):
    return dict(zip(table["file"], table["status"]))


def test_record_layout(job):
    out, inp, rec = job
    data = json.loads(rec.read_text())
    assert data["step"] == "score"
    assert sorted(data["outputs"]) == ["x.tsv", "y.json", "y.npz"]
    assert sorted(data["inputs"]) == [str((inp / n).resolve()) for n in ("a.wav",
                                                                          "b.wav")]
    assert find_records(out) == [rec]


def test_verify_ok_corrupt_missing_stale_untracked(job):
    out, inp, rec = job
    table = verify_outputs(out)
    assert set(table["status"]) == {"ok"}
    (out / "sub-01" / "x.tsv").write_bytes(b"x.tsX")  # same size, other bytes
    (out / "sub-01" / "y.json").unlink()
    (out / "sub-01" / "new.txt").write_text("?")
    st = _status(verify_outputs(out))
    assert st["sub-01/x.tsv"] == "corrupt"
    assert st["sub-01/y.json"] == "missing"
    assert st["sub-01/y.npz"] == "ok"
    assert st["sub-01/new.txt"] == "untracked"
    (inp / "b.wav").write_bytes(b"audio-B!")
    table = verify_outputs(out)
    st = _status(table)
    assert st["sub-01/y.npz"] == "stale"
    assert st[str((inp / "b.wav").resolve())] == "stale"
    detail = table.set_index("file").loc["sub-01/y.npz", "detail"]
    assert detail == "input(s) changed: b.wav"


def test_record_merge_keeps_existing(tmp_path):
    (tmp_path / "a.h5").write_bytes(b"a")
    (tmp_path / "b.h5").write_bytes(b"b")
    rec = tmp_path / "activations_checksums.json"
    record_outputs(rec, step="extract", outputs=[tmp_path / "a.h5"])
    record_outputs(rec, step="extract", outputs=[tmp_path / "b.h5"], merge=True)
    assert sorted(json.loads(rec.read_text())["outputs"]) == ["a.h5", "b.h5"]
    with pytest.raises(ValueError, match=r"'record' must end with '_checksums.json'"):
        record_outputs(tmp_path / "x.json", step="x", outputs=[])


def test_verify_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="Folder to verify not found"):
        verify_outputs(tmp_path / "none")
    with pytest.raises(DataError, match=r"No checksum records \(\*_checksums.json\)"):
        verify_outputs(tmp_path)
    (tmp_path / "x_checksums.json").write_text("[1]")
    with pytest.raises(DataError, match=r"Malformed checksum record .*no 'outputs'"):
        verify_outputs(tmp_path)


def test_cli_verify(job):
    out, inp, _ = job
    code, stdout, err = run_cli(["verify", out])
    assert code == 0, err
    assert "3 ok, 0 missing, 0 corrupt, 0 stale (0 input(s) changed), 0 untracked; " \
           "1 record(s)." in stdout
    (out / "extra.txt").write_text("?")
    code, stdout, _ = run_cli(["verify", out])
    assert code == 0 and "1 untracked" in stdout
    code, _, _ = run_cli(["verify", out, "--strict"])
    assert code == 1
    (inp / "a.wav").write_bytes(b"changed")
    code, stdout, _ = run_cli(["verify", out, "--show-ok"])
    assert code == 1 and "0 ok" in stdout and "3 stale (1 input(s) changed)" in stdout
