"""data_manifest.yaml: schema, real checksums, verify (ok/missing/corrupt), fetch."""

from __future__ import annotations

import hashlib
import http.server
import re
import shutil
import threading
from pathlib import Path

import pytest
import yaml

from brainscore_speech.data.manifest import (
    PART_SUFFIX,
    DatasetSpec,
    Manifest,
    default_manifest_path,
    fetch_dataset,
    get_dataset,
    list_datasets,
    load_manifest,
    verify_dataset,
)
from brainscore_speech.exceptions import ManifestError

REPO_ROOT = Path(__file__).resolve().parents[2]
LPP_TSV = "lpp/openneuro_ds003643_sidecars/annex_keys_annotation_stimuli.tsv"
NARR_TSV = "narratives/openneuro_ds002345/annex_keys_stimuli.tsv"
KEY = re.compile(r"^MD5E-s(\d+)--([0-9a-f]{32})")


def _annex_entries(tsv: Path) -> dict[str, tuple[int, str]]:
    out = {}
    for line in tsv.read_text().splitlines():
        if line.strip():
            path, key = line.split("\t")
            m = KEY.match(key)
            out[path] = (int(m.group(1)), m.group(2))
    return out


def _lpp_layout(shared_data: Path, root: Path) -> list[str]:
    """Copy the real LPP annotation files to their manifest paths under ``root``."""
    spec = get_dataset("lpp")
    manifest_paths = {Path(f.path).name: f.path for f in spec.files}
    sources = sorted((shared_data / "lpp/EN_official_annotation_chrplr/annotation")
                     .glob("lppEN_*"))
    sources.append(shared_data / "lpp/FR_official_annotation_belcorentin/"
                   "lppFR_word_information.csv")
    copied = []
    for src in sources:
        rel = manifest_paths[src.name]
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        copied.append(rel)
    return copied


def _write_manifest(tmp_path: Path, datasets: dict) -> Path:
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump({"manifest_version": 1, "datasets": datasets}))
    return path


def _dataset(**overrides) -> dict:
    base = {
        "description": "toy", "source": ["https://example.org/toy"], "version": "1",
        "licence": "CC0-1.0", "citation": "Nobody (2024).",
        "url_template": "https://example.org/toy/{path}",
        "files": [{"path": "a/b.txt", "size": 3,
                   "md5": hashlib.md5(b"abc").hexdigest()}],
    }
    base.update(overrides)
    return base


# ------------------------------------------------------------------ the real manifest

def test_load_manifest_default_lists_datasets():
    manifest = load_manifest()
    assert isinstance(manifest, Manifest)
    assert manifest.path == default_manifest_path()
    names = list_datasets()
    for name in ("lpp", "narratives", "common_voice", "audioset", "librispeech"):
        assert name in names
    lpp = get_dataset("lpp")
    assert isinstance(lpp, DatasetSpec)
    assert lpp.extra["tr_s"] == 2.0 and lpp.extra["n_runs"] == 9
    assert sorted(lpp.extra["languages"]) == ["en", "fr", "zh"]
    assert get_dataset("narratives").extra["tr_s"] == 1.5
    assert get_dataset("common_voice").version == "cv-corpus-6.1-2020-12-11"
    for name in names:
        spec = get_dataset(name)
        assert spec.licence and spec.citation and spec.source and spec.version
    assert "lpp" in repr(lpp) and "80 files" in repr(lpp)
    assert "5 datasets" in repr(manifest)


def test_root_manifest_is_byte_identical_to_package_copy():
    root_copy = REPO_ROOT / "data_manifest.yaml"
    assert root_copy.read_bytes() == default_manifest_path().read_bytes()


def test_manifest_lpp_narratives_entries_match_openneuro_annex_keys(shared_data):
    for name, tsv in (("lpp", LPP_TSV), ("narratives", NARR_TSV)):
        expected = _annex_entries(shared_data / tsv)
        got = {f.path: (f.size, f.md5) for f in get_dataset(name).files}
        assert got == expected, name


def test_manifest_audioset_labels_match_published_list(shared_data):
    import json

    labels = json.loads((shared_data / "perceptimatic/acl2022_selfsup_biases/"
                         "training_sets/labels_audioset.json").read_text())
    assert get_dataset("audioset").extra["labels"] == labels
    assert len(labels) == 182


def test_get_dataset_unknown_name_suggests():
    with pytest.raises(ValueError, match=r"Dataset 'lppp' is not in the manifest.*"
                                         r"Did you mean 'lpp'\?"):
        get_dataset("lppp")


# ------------------------------------------------------------------ verify (acceptance)

def test_verify_dataset_real_lpp_annotations_ok(shared_data, tmp_path):
    copied = _lpp_layout(shared_data, tmp_path)
    assert len(copied) == 14
    table = verify_dataset("lpp", tmp_path)
    by_path = table.set_index("path")
    assert (by_path.loc[copied, "status"] == "ok").all()
    assert (by_path.loc[copied, "expected_checksum"]
            == by_path.loc[copied, "found_checksum"]).all()
    assert set(table.loc[table.status != "missing", "path"]) == set(copied)
    assert (table.status == "missing").sum() == len(get_dataset("lpp").files) - 14
    assert list(table.columns) == ["path", "status", "expected_size", "found_size",
                                   "algorithm", "expected_checksum", "found_checksum"]


def test_verify_dataset_one_byte_corruption_reported(shared_data, tmp_path):
    copied = _lpp_layout(shared_data, tmp_path)
    target = tmp_path / copied[0]
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01  # flip one bit of one byte: same size
    target.write_bytes(bytes(data))
    expected_md5 = get_dataset("lpp").files[
        [f.path for f in get_dataset("lpp").files].index(copied[0])].md5
    table = verify_dataset("lpp", tmp_path).set_index("path")
    row = table.loc[copied[0]]
    assert row.status == "corrupt"
    assert row.expected_checksum == expected_md5
    assert row.found_checksum == hashlib.md5(bytes(data)).hexdigest()
    assert row.found_checksum != row.expected_checksum
    assert row.expected_size == row.found_size  # caught by the checksum alone
    assert (table.loc[copied[1:], "status"] == "ok").all()


def test_verify_dataset_truncated_file_corrupt(tmp_path):
    mpath = _write_manifest(tmp_path, {"toy": _dataset()})
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (root / "a/b.txt").write_bytes(b"ab")
    row = verify_dataset("toy", root, manifest=mpath).iloc[0]
    assert row.status == "corrupt" and row.found_size == 2 and row.expected_size == 3


def test_verify_dataset_sha256_and_include(tmp_path):
    files = [{"path": "x/one.bin", "size": 3,
              "sha256": hashlib.sha256(b"one").hexdigest(),
              "md5": hashlib.md5(b"one").hexdigest()},
             {"path": "y/two.bin", "size": 3,
              "sha256": hashlib.sha256(b"two").hexdigest()}]
    mpath = _write_manifest(tmp_path, {"toy": _dataset(files=files)})
    root = tmp_path / "root"
    for rel, data in (("x/one.bin", b"one"), ("y/two.bin", b"TWO")):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    table = verify_dataset("toy", root, manifest=mpath).set_index("path")
    assert table.loc["x/one.bin", "status"] == "ok"
    assert table.loc["x/one.bin", "algorithm"] == "md5"  # every digest was checked
    assert table.loc["y/two.bin", "status"] == "corrupt"
    assert table.loc["y/two.bin", "algorithm"] == "sha256"
    only = verify_dataset("toy", root, include=["x/*"], manifest=mpath)
    assert list(only.path) == ["x/one.bin"]
    with pytest.raises(ValueError, match=r"'include' patterns \['z/\*'\] match none"):
        verify_dataset("toy", root, include=["z/*"], manifest=mpath)


def test_verify_dataset_root_must_be_directory(tmp_path):
    with pytest.raises(NotADirectoryError, match="Dataset root for 'lpp' is not a dir"):
        verify_dataset("lpp", tmp_path / "nope")


def test_verify_dataset_refuses_symlink_escape(tmp_path):
    mpath = _write_manifest(tmp_path, {"toy": _dataset()})
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "b.txt").write_bytes(b"abc")
    root = tmp_path / "root"
    root.mkdir()
    (root / "a").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match="resolves outside the root"):
        verify_dataset("toy", root, manifest=mpath)


# ------------------------------------------------------------------ schema errors

def test_manifest_refuses_parent_path(tmp_path):
    bad = _dataset(files=[{"path": "../escape.txt", "size": 1,
                           "md5": "0" * 32}])
    mpath = _write_manifest(tmp_path, {"toy": bad})
    with pytest.raises(ManifestError, match=r"Invalid manifest .*manifest.yaml.*"
                       r"files\[0\]\.path '\.\./escape\.txt' must stay inside "
                       r"the root"):
        load_manifest(mpath)


def test_manifest_refuses_absolute_path(tmp_path):
    bad = _dataset(files=[{"path": "/etc/passwd", "size": 1, "md5": "0" * 32}])
    with pytest.raises(ManifestError, match="got an absolute path"):
        load_manifest(_write_manifest(tmp_path, {"toy": bad}))


@pytest.mark.parametrize("overrides, match", [
    ({"licence": None}, r"dataset 'toy'\.licence: expected a non-empty string"),
    ({"licenze": "x"}, r"Unknown key 'licenze'.*Did you mean 'licence'\?"),
    ({"source": []}, r"source: expected a URL or a non-empty list of URLs"),
    ({"source": ["ftp://x.org/a"]}, r"source: expected an http\(s\) URL"),
    ({"kind": "fmrri"}, r"kind: expected one of \['fmri', 'corpus'\].*Did you mean"),
    ({"url_template": "https://x.org/{file}"},
     r"url_template: expected a '\{path\}' placeholder.*got fields \['file'\]"),
    ({"files": {"a": 1}}, r"files: expected a list of file entries, got dict"),
    ({"files": ["a.txt"]}, r"files\[0\]: expected a mapping with keys"),
    ({"files": [{"path": "a", "size": -1, "md5": "0" * 32}]},
     r"files\[0\]\.size: expected a non-negative integer \(bytes\), got -1"),
    ({"files": [{"path": "a", "size": 1, "md5": "XYZ"}]},
     r"files\[0\]\.md5: expected 32 lower-case hex digits, got 'XYZ'"),
    ({"files": [{"path": "a", "size": 1, "sha256": "0" * 32}]},
     r"files\[0\]\.sha256: expected 64 lower-case hex digits"),
    ({"files": [{"path": "a", "size": 1}]},
     r"file 'a' needs an 'md5' or a 'sha256' checksum"),
    ({"files": [{"path": "a", "size": 1, "md5": "0" * 32, "sha1": "0"}]},
     r"Unknown key 'sha1' in dataset 'toy'\.files\[0\]"),
    ({"files": [{"path": "a\\b", "size": 1, "md5": "0" * 32}]},
     r"use '/' as separator"),
    ({"files": [{"path": "a", "size": 1, "md5": "0" * 32},
                {"path": "a", "size": 1, "md5": "0" * 32}]},
     r"path 'a' is listed twice"),
])
def test_manifest_schema_errors(tmp_path, overrides, match):
    mpath = _write_manifest(tmp_path, {"toy": _dataset(**overrides)})
    with pytest.raises(ManifestError, match=match):
        load_manifest(mpath)


def test_manifest_missing_required_key(tmp_path):
    ds = _dataset()
    del ds["citation"]
    with pytest.raises(ManifestError,
                       match=r"missing required key\(s\) \['citation'\]"):
        load_manifest(_write_manifest(tmp_path, {"toy": ds}))


@pytest.mark.parametrize("text, match", [
    ("datasets: [unclosed", "Malformed YAML in manifest"),
    ("- a\n- b\n", "expected a mapping with a 'datasets' mapping"),
    ("datasets: {}\n", "no dataset is listed"),
    ("datasets: {toy: 3}\n", r"dataset 'toy': expected a mapping, got int"),
    ("datasets: {}\nextra: 1\n", r"Unknown key 'extra' in the manifest's top level"),
])
def test_manifest_malformed_files(tmp_path, text, match):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError, match=match):
        load_manifest(path)


def test_load_manifest_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="Dataset manifest not found"):
        load_manifest(tmp_path / "none.yaml")


# ------------------------------------------------------------------ fetch (local HTTP)

class _Server:
    """A static file server on 127.0.0.1 with optional Range support and failures."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.requests: list[tuple[str, str | None]] = []
        self.support_range = True
        self.truncate_once: set[str] = set()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                rel = self.path.lstrip("/").replace("%20", " ")
                path = server.directory / rel
                if not path.is_file():
                    self.send_error(404, "Not Found")
                    return
                data = path.read_bytes()
                start = 0
                if rng and server.support_range:
                    start = int(re.match(r"bytes=(\d+)-", rng).group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if rel in server.truncate_once:
                    server.truncate_once.discard(rel)
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(tmp_path):
    """Files served over HTTP on 127.0.0.1 and a manifest describing them."""
    srv_dir = tmp_path / "served"
    contents = {"annotation/EN/words.csv": b"word,onset\n" + b"hello,0.5\n" * 500,
                "stimuli/run 1.wav": bytes(range(256)) * 40,
                "small.txt": b"tiny"}
    files = []
    for i, (rel, data) in enumerate(contents.items()):
        (srv_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (srv_dir / rel).write_bytes(data)
        entry = {"path": rel, "size": len(data)}
        entry["md5" if i % 2 else "sha256"] = (hashlib.md5(data).hexdigest() if i % 2
                                               else hashlib.sha256(data).hexdigest())
        files.append(entry)
    server = _Server(srv_dir)
    mpath = _write_manifest(tmp_path, {
        "toy": _dataset(url_template=server.url + "/{path}", files=files),
        "mirror_only": _dataset(url_template=None, files=files),
        "corpus": _dataset(url_template=None, files=[], kind="corpus"),
    })
    yield server, mpath, contents
    server.close()


def test_fetch_dataset_downloads_and_verifies(served, tmp_path):
    server, mpath, contents = served
    root = tmp_path / "root"
    paths = fetch_dataset("toy", root, manifest=mpath)
    assert [p.relative_to(root.resolve()).as_posix() for p in paths] == list(contents)
    for rel, data in contents.items():
        assert (root / rel).read_bytes() == data
    assert not list(root.rglob(f"*{PART_SUFFIX}"))
    assert (verify_dataset("toy", root, manifest=mpath).status == "ok").all()
    n_requests = len(server.requests)
    fetch_dataset("toy", root, manifest=mpath)  # everything verifies: no download
    assert len(server.requests) == n_requests


def test_fetch_dataset_resumes_partial_download_with_range(served, tmp_path):
    server, mpath, contents = served
    root = tmp_path / "root"
    rel = "annotation/EN/words.csv"
    part = root / (rel + PART_SUFFIX)
    part.parent.mkdir(parents=True)
    part.write_bytes(contents[rel][:1000])
    fetch_dataset("toy", root, include=[rel], manifest=mpath)
    assert (root / rel).read_bytes() == contents[rel]
    assert ("/" + rel, "bytes=1000-") in server.requests
    assert not part.exists()


def test_fetch_dataset_restarts_when_server_ignores_range(served, tmp_path):
    server, mpath, contents = served
    server.support_range = False
    root = tmp_path / "root"
    rel = "annotation/EN/words.csv"
    part = root / (rel + PART_SUFFIX)
    part.parent.mkdir(parents=True)
    part.write_bytes(b"garbage-prefix")
    fetch_dataset("toy", root, include=[rel], manifest=mpath)
    assert (root / rel).read_bytes() == contents[rel]


def test_fetch_dataset_range_not_satisfiable_and_overlong_part(served, tmp_path):
    server, mpath, contents = served
    root = tmp_path / "root"
    rel = "small.txt"
    part = root / (rel + PART_SUFFIX)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"far too long for a 4-byte file")
    fetch_dataset("toy", root, include=[rel], manifest=mpath)
    assert (root / rel).read_bytes() == b"tiny"


def test_fetch_dataset_retries_interrupted_transfer(served, tmp_path):
    server, mpath, contents = served
    rel = "stimuli/run 1.wav"
    server.truncate_once.add(rel)
    root = tmp_path / "root"
    fetch_dataset("toy", root, include=["stimuli/*"], manifest=mpath)
    assert (root / rel).read_bytes() == contents[rel]
    ranges = [r for p, r in server.requests if p == "/stimuli/run%201.wav"]
    assert ranges[0] is None and ranges[1] == f"bytes={len(contents[rel]) // 2}-"


def test_fetch_dataset_replaces_corrupt_file(served, tmp_path):
    server, mpath, contents = served
    root = tmp_path / "root"
    (root / "small.txt").parent.mkdir(parents=True, exist_ok=True)
    (root / "small.txt").write_bytes(b"tinY")
    fetch_dataset("toy", root, include=["small.txt"], manifest=mpath)
    assert (root / "small.txt").read_bytes() == b"tiny"


def test_fetch_dataset_checksum_mismatch_raises(served, tmp_path):
    server, mpath, contents = served
    (server.directory / "small.txt").write_bytes(b"TINY")  # same size, other bytes
    root = tmp_path / "root"
    with pytest.raises(ManifestError, match=r"Downloaded file 'small.txt' of 'toy' .* "
                       r"fails its check: expected 4 bytes, sha256 [0-9a-f]{64}; "
                       r"found 4 "
                       r"bytes, [0-9a-f]{64}"):
        fetch_dataset("toy", root, include=["small.txt"], manifest=mpath)
    assert not (root / "small.txt").exists()
    assert not list(root.rglob(f"*{PART_SUFFIX}"))


def test_fetch_dataset_http_error_names_file_and_url(served, tmp_path):
    server, mpath, contents = served
    (server.directory / "small.txt").unlink()
    with pytest.raises(OSError, match=r"Could not download 'small.txt' of 'toy' from "
                       r"http://127\.0\.0\.1:\d+/small\.txt: HTTP 404"):
        fetch_dataset("toy", tmp_path / "root", include=["small.txt"], manifest=mpath)
    assert len(server.requests) == 1  # HTTP errors are not retried


def test_fetch_dataset_unreachable_server_retries_then_fails(served, tmp_path):
    server, mpath, contents = served
    url = server.url
    server.close()
    with pytest.raises(OSError, match=r"Could not download 'small.txt' of 'toy'"):
        fetch_dataset("toy", tmp_path / "root", include=["small.txt"], manifest=mpath,
                      retries=1, timeout_s=2)
    assert url.startswith("http://127.0.0.1")


def test_fetch_dataset_base_url_and_errors(served, tmp_path):
    server, mpath, contents = served
    root = tmp_path / "root"
    with pytest.raises(ValueError, match=r"Dataset 'mirror_only' has no 'url_template'"
                                         r".*or pass 'base_url'"):
        fetch_dataset("mirror_only", root, manifest=mpath)
    fetch_dataset("mirror_only", root, base_url=server.url + "/", manifest=mpath)
    assert (root / "small.txt").read_bytes() == b"tiny"
    with pytest.raises(ValueError, match=r"'base_url' must be an http\(s\) URL, got "
                                         r"'file:///tmp'"):
        fetch_dataset("mirror_only", tmp_path / "r2", base_url="file:///tmp",
                      manifest=mpath)
    with pytest.raises(ValueError, match=r"Dataset 'corpus' lists no files to fetch"):
        fetch_dataset("corpus", root, manifest=mpath)
    with pytest.raises(ValueError, match=r"Dataset 'corpus' lists no files, so "
                                         r"'include' cannot match any"):
        fetch_dataset("corpus", root, include=["*"], manifest=mpath)
    with pytest.raises(ValueError, match=r"'retries' must be a non-negative integer"):
        fetch_dataset("toy", root, retries=-1, manifest=mpath)
