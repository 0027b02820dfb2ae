"""``brainscore-speech data list | verify | fetch``."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import yaml

from brainscore_speech.data.manifest import get_dataset
from tests.conftest import run_cli

# The local HTTP server of the manifest tests (127.0.0.1 only).
from tests.data.test_manifest import _Server


def _lpp_en_layout(shared_data: Path, root: Path) -> list[str]:
    manifest_paths = {Path(f.path).name: f.path for f in get_dataset("lpp").files}
    rels = []
    for src in sorted((shared_data / "lpp/EN_official_annotation_chrplr/annotation")
                      .glob("lppEN_*")):
        rel = manifest_paths[src.name]
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, root / rel)
        rels.append(rel)
    return rels


def test_cli_data_list():
    code, out, err = run_cli(["data", "list"])
    assert code == 0, err
    for name in ("lpp", "narratives", "common_voice", "audioset", "librispeech"):
        assert name in out
    assert "CC0-1.0" in out and "CC-BY-4.0" in out


def test_cli_data_verify_real_lpp_ok(shared_data, tmp_path):
    rels = _lpp_en_layout(shared_data, tmp_path)
    code, out, err = run_cli(["data", "verify", "lpp", "--root", tmp_path])
    assert code == 0, err
    for rel in rels:
        assert rel in out
    assert f"lpp: {len(rels)} ok, {80 - len(rels)} missing, 0 corrupt" in out
    assert " missing " not in out.splitlines()[0]  # missing rows hidden by default
    code, out, _ = run_cli(["data", "verify", "lpp", "--root", tmp_path, "--strict"])
    assert code == 1  # --strict: missing files fail too
    code, out, _ = run_cli(["data", "verify", "lpp", "--root", tmp_path,
                            "--include", "annotation/EN/*", "--show-missing"])
    assert code == 0, err
    assert "lppEN_prosody.csv" in out and "missing" in out
    assert "lppFR" not in out


def test_cli_data_verify_corrupt_exits_nonzero(shared_data, tmp_path):
    rels = _lpp_en_layout(shared_data, tmp_path)
    target = tmp_path / rels[0]
    data = bytearray(target.read_bytes())
    data[0] ^= 0xFF
    target.write_bytes(bytes(data))
    expected = next(f.md5 for f in get_dataset("lpp").files if f.path == rels[0])
    code, out, err = run_cli(["data", "verify", "lpp", "--root", tmp_path])
    assert code == 1
    line = next(ln for ln in out.splitlines() if rels[0] in ln)
    assert "corrupt" in line
    assert expected in line and hashlib.md5(bytes(data)).hexdigest() in line
    assert "1 corrupt" in out


def test_cli_data_verify_errors(tmp_path):
    code, _, err = run_cli(["data", "verify", "lppp", "--root", tmp_path])
    assert code == 1
    assert "Error: Dataset 'lppp' is not in the manifest" in err
    assert "Did you mean 'lpp'?" in err
    code, _, err = run_cli(["data", "verify", "lpp", "--root", tmp_path / "none"])
    assert code == 1 and "Dataset root for 'lpp' is not a directory" in err
    code, _, err = run_cli(["data", "verify", "lpp"])
    assert code == 2  # usage error: --root is required
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"datasets": {"x": {
        "description": "d", "source": "https://x.org", "version": "1", "licence": "l",
        "citation": "c", "files": [{"path": "../up", "size": 1, "md5": "0" * 32}]}}}))
    code, _, err = run_cli(["data", "list", "--manifest", bad])
    assert code == 1 and "'..' is not allowed" in err


def test_cli_data_fetch_local_server(tmp_path):
    served = tmp_path / "served"
    (served / "sub").mkdir(parents=True)
    payload = b"0123456789" * 100
    (served / "sub/file.bin").write_bytes(payload)
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump({"datasets": {"toy": {
        "description": "d", "source": "https://x.org", "version": "1", "licence": "l",
        "citation": "c", "files": [{"path": "sub/file.bin", "size": len(payload),
                                    "sha256": hashlib.sha256(payload).hexdigest()}]}}}))
    server = _Server(served)
    try:
        root = tmp_path / "root"
        code, out, err = run_cli(["data", "fetch", "toy", "--root", root,
                                  "--base-url", server.url, "--manifest", manifest])
        assert code == 0, err
        assert "toy: 1 file(s) verified" in out
        assert (root / "sub/file.bin").read_bytes() == payload
        code, out, err = run_cli(["data", "fetch", "toy", "--root", root,
                                  "--manifest", manifest])  # present: no URL needed
        assert code == 0, err
        (root / "sub/file.bin").unlink()
        code, _, err = run_cli(["data", "fetch", "toy", "--root", root,
                                "--manifest", manifest])
        assert code == 1 and "Dataset 'toy' has no 'url_template'" in err
    finally:
        server.close()
