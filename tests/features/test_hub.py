"""Hub ids, registry names and the Hugging Face cache (offline); safe weight loading."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from brainscore_speech.exceptions import DataError
from brainscore_speech.features import extract_activations, load_speech_model
from brainscore_speech.features.hub import (
    hub_cache_dir,
    hub_offline,
    list_cached_models,
    load_registry,
    parse_model_spec,
    resolve_model,
)
from brainscore_speech.features.models import check_pickle_weights

from ..conftest import run_cli
from .conftest import write_wav

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def publish_to_hf_cache(src: Path, cache: Path, repo_id: str, commit: str = COMMIT,
                        refs: tuple[str, ...] = ("main",)) -> Path:
    """Lay ``src``'s files out as huggingface_hub's cache does (blobs + symlinks)."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snap.mkdir(parents=True)
    for f in sorted(src.iterdir()):
        if not f.is_file():
            continue
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        blob = repo / "blobs" / digest
        if not blob.exists():
            shutil.copyfile(f, blob)
        (snap / f.name).symlink_to(os.path.relpath(blob, snap))
    (repo / "refs").mkdir(exist_ok=True)
    for ref in refs:
        (repo / "refs" / ref).write_text(commit)
    return snap


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hf_home" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    return cache


@pytest.fixture
def stimuli(tmp_path, noise):
    stim = tmp_path / "stim"
    stim.mkdir()
    write_wav(stim / "s1.wav", noise[:40000])
    write_wav(stim / "s2.wav", noise[40000:72000])
    return stim


def _read_all(act_dir: Path) -> dict:
    from brainscore_speech.containers import StimulusActivations

    return {p.stem: StimulusActivations.load(p) for p in sorted(act_dir.glob("*.h5"))}


def test_cache_dir_and_offline_follow_the_environment(hf_cache, monkeypatch):
    assert hub_cache_dir() == hf_cache
    monkeypatch.setenv("HF_HUB_CACHE", str(hf_cache / "elsewhere"))
    assert hub_cache_dir() == hf_cache / "elsewhere"
    assert hub_offline()  # the autouse fixture sets HF_HUB_OFFLINE=1
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert not hub_offline()


def test_parse_model_spec(tmp_path):
    assert parse_model_spec(tmp_path) == {"kind": "local", "path": tmp_path}
    assert parse_model_spec(str(tmp_path))["kind"] == "local"
    assert parse_model_spec("./not/there")["kind"] == "local"
    assert parse_model_spec("org/tiny") == {"kind": "hub", "repo_id": "org/tiny",
                                            "revision": "main", "registry_name": None}
    assert parse_model_spec(f"org/tiny@{COMMIT}")["revision"] == COMMIT
    reg = parse_model_spec("wav2vec2-base@v1")
    assert reg == {"kind": "registry", "repo_id": "facebook/wav2vec2-base",
                   "revision": "v1", "registry_name": "wav2vec2-base"}
    assert parse_model_spec("hubert-large-ll60k")["revision"] == "main"
    with pytest.raises(FileNotFoundError, match=r"Checkpoint directory not found: "
                       r"wav2vec2-bse; --model takes .*Did you mean 'wav2vec2-base'"):
        parse_model_spec("wav2vec2-bse")
    with pytest.raises(ValueError, match="ends with '@' but names no revision"):
        parse_model_spec("org/tiny@")
    with pytest.raises(TypeError, match="'model' must be a path or a string"):
        parse_model_spec(3)


def test_registry_entries_are_complete():
    reg = load_registry()
    assert {"wav2vec2-base", "wav2vec2-large-lv60", "wav2vec2-xls-r-300m",
            "wav2vec2-xlsr-53", "hubert-base-ls960", "hubert-large-ll60k",
            "wavlm-base-plus", "wavlm-large"} <= set(reg)
    for name, e in reg.items():
        for key in ("repo_id", "revision", "architecture", "n_layers", "training_data",
                    "training_hours", "language", "licence", "citation"):
            assert e.get(key) not in (None, ""), (name, key)
        assert e["architecture"] in ("wav2vec2", "hubert", "wavlm")
        assert e["n_layers"] == {"BASE": 12, "LARGE": 24}[e["size"]], name
        assert parse_model_spec(name)["repo_id"] == e["repo_id"]
    assert reg["wav2vec2-base"]["training_hours"] == 960
    assert reg["wavlm-large"]["training_hours"] == 94000


def test_extract_hub_id_offline_equals_directory(tiny_ckpt, hf_cache, stimuli,
                                                 tmp_path):
    publish_to_hf_cache(tiny_ckpt, hf_cache, "org/tiny")
    args = ["--stimuli", stimuli, "--window-s", "1", "--stride-s", "0.5"]
    code, _, err = run_cli(["extract", "--model", tiny_ckpt, "--out", tmp_path / "dir",
                            *args])
    assert code == 0, err
    for spec, out in ((f"org/tiny@{COMMIT}", "hub"), ("org/tiny", "hubmain")):
        code, _, err = run_cli(["extract", "--model", spec, "--out", tmp_path / out,
                                "--model-id", "tiny", *args])
        assert code == 0, err
        want, got = _read_all(tmp_path / "dir"), _read_all(tmp_path / out)
        assert set(got) == {"s1", "s2"}
        for stim in want:
            assert got[stim].layer_order == want[stim].layer_order
            for name in want[stim].layer_order:
                np.testing.assert_array_equal(got[stim].layers[name],
                                              want[stim].layers[name])
        prov = got["s1"].provenance["inputs"]["model"]
        assert prov["source"]["repo_id"] == "org/tiny"
        assert prov["source"]["commit"] == COMMIT
        assert prov["sha256"] == want["s1"].provenance["inputs"]["model"]["sha256"]
        assert prov["sha256"] == hashlib.sha256(
            (tiny_ckpt / "model.safetensors").read_bytes()).hexdigest()
        assert got["s1"].model_meta["repo_id"] == "org/tiny"
        assert got["s1"].model_meta["commit"] == COMMIT
    assert want["s1"].provenance["inputs"]["model"]["source"]["kind"] == "local"


def test_hub_model_id_defaults_to_repo_name(tiny_ckpt, hf_cache):
    publish_to_hf_cache(tiny_ckpt, hf_cache, "org/tiny-w2v", refs=("main", "v1.0"))
    sm = load_speech_model("org/tiny-w2v@v1.0")
    assert sm.model_id == "tiny-w2v"
    assert sm.source["revision"] == "v1.0" and sm.source["commit"] == COMMIT
    assert sm.path == hf_cache / "models--org--tiny-w2v" / "snapshots" / COMMIT


def test_registry_name_loads_from_cache_with_its_facts(tiny_ckpt, hf_cache, tmp_path):
    plain = tmp_path / "plain"
    shutil.copytree(tiny_ckpt, plain)
    (plain / "brainscore_speech.json").unlink()  # a public checkpoint has none
    publish_to_hf_cache(plain, hf_cache, "facebook/wav2vec2-base")
    sm = load_speech_model("wav2vec2-base")
    assert sm.model_id == "wav2vec2-base"
    assert sm.model_meta["regime"] == "pretrained"
    assert sm.model_meta["language"] == "en"
    assert sm.model_meta["training_hours"] == 960
    assert sm.model_meta["repo_id"] == "facebook/wav2vec2-base"
    rows = list_cached_models()
    assert [(r["repo_id"], r["commit"], r["registry_name"]) for r in rows] == [
        ("facebook/wav2vec2-base", COMMIT, "wav2vec2-base")]
    assert rows[0]["refs"] == ["main"] and "model.safetensors" in rows[0]["files"]


def test_missing_repo_offline_fails_in_one_line(hf_cache, stimuli, tmp_path):
    code, _, err = run_cli(["extract", "--model", "org/missing@v2", "--stimuli",
                            stimuli,
                            "--out", tmp_path / "o"])
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Model org/missing@v2 is not in the Hugging Face cache" in lines[0]
    assert str(hf_cache) in lines[0] and "HF_HUB_OFFLINE=1" in lines[0]
    assert "hf download org/missing --revision v2" in lines[0]
    assert "no local directory 'org/missing@v2'" in lines[0]
    with pytest.raises(FileNotFoundError, match=r"Model org/missing@main is not in "):
        resolve_model("org/missing")
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").glob("*.h5"))


def test_cached_snapshot_without_weights_is_reported(tiny_ckpt, hf_cache, tmp_path):
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(tiny_ckpt / "config.json", partial / "config.json")
    publish_to_hf_cache(partial, hf_cache, "org/partial")
    with pytest.raises(FileNotFoundError, match=r"Model org/partial@main in the "
                                                r"Hugging "
                       r"Face cache .* has no weights"):
        resolve_model("org/partial")


def test_cli_models_lists_registry_and_cache(tiny_ckpt, hf_cache):
    code, out, err = run_cli(["models"])
    assert code == 0, err
    assert "wav2vec2-base" in out and "facebook/hubert-large-ll60k" in out
    assert "cache " + str(hf_cache) in out and "(empty)" in out
    publish_to_hf_cache(tiny_ckpt, hf_cache, "org/tiny")
    code, out, err = run_cli(["models", "--json"])
    assert code == 0, err
    data = json.loads(out)
    assert data["cache_dir"] == str(hf_cache)
    assert [r["repo_id"] for r in data["cached"]] == ["org/tiny"]
    assert data["registry"]["wavlm-large"]["n_layers"] == 24


# --------------------------------------------------------------------------- #
# safe weight loading
# --------------------------------------------------------------------------- #
def _bin_checkpoint(tiny_model, d: Path) -> Path:
    """The model as an old-style ``pytorch_model.bin`` directory (no safetensors)."""
    import torch
    from safetensors.torch import load_file

    tiny_model.wav2vec2.save_pretrained(d)
    torch.save(load_file(d / "model.safetensors"), d / "pytorch_model.bin")
    (d / "model.safetensors").unlink()
    assert (d / "pytorch_model.bin").is_file()
    assert not (d / "model.safetensors").exists()
    return d


def test_pickle_bin_of_tensors_loads_identically(tiny_model, tmp_path, noise):
    d = _bin_checkpoint(tiny_model, tmp_path / "bin")
    assert check_pickle_weights(d) == [d / "pytorch_model.bin"]
    st = tmp_path / "st"
    tiny_model.wav2vec2.save_pretrained(st)
    ma, mb = load_speech_model(d), load_speech_model(st)
    sa, sb = ma.model.state_dict(), mb.model.state_dict()
    assert set(sa) == set(sb)
    for key in sa:  # the very same parameters
        np.testing.assert_array_equal(sa[key].numpy(), sb[key].numpy())
    a = extract_activations(ma, noise[:32000], window_s=1.0, stride_s=0.5)
    b = extract_activations(mb, noise[:32000], window_s=1.0, stride_s=0.5)
    for name in a.layer_order:
        # equal weights, but torch.load and safetensors' mmap give differently
        # aligned buffers, so oneDNN may pick other kernels: float32 round-off
        np.testing.assert_allclose(a.layers[name], b.layers[name], rtol=1e-5,
                                   atol=1e-5)


class _WritesAFile:
    """Unpickling this calls ``Path.write_text`` (any code could run instead)."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (Path.write_text, (self.target, "code ran"))


def test_pickle_bin_with_code_is_refused_without_running_it(tiny_model, tmp_path,
                                                            stimuli):
    import torch

    d = _bin_checkpoint(tiny_model, tmp_path / "evil")
    target = tmp_path / "written_by_pickle.txt"
    sd = torch.load(d / "pytorch_model.bin", weights_only=True)
    sd["payload"] = _WritesAFile(target)
    torch.save(sd, d / "pytorch_model.bin")
    with pytest.raises(DataError, match=r"Refusing to load .*pytorch_model.bin: it "
                                        r"holds "
                       r"pickled objects other than tensors .*convert it once to "
                       r"safetensors"):
        load_speech_model(d)
    code, _, err = run_cli(["extract", "--model", d, "--stimuli", stimuli,
                            "--out", tmp_path / "o"])
    assert code == 1 and "Error: Refusing to load" in err
    assert not target.exists()
    # the payload is real: an unrestricted unpickler does write the file
    torch.load(d / "pytorch_model.bin", weights_only=False)
    assert target.read_text() == "code ran"


def test_pickle_bin_refused_without_weights_only_support(tiny_model, tmp_path,
                                                         monkeypatch):
    from brainscore_speech.features import models

    d = _bin_checkpoint(tiny_model, tmp_path / "old")
    monkeypatch.setattr(models, "_torch_load_supports_weights_only", lambda: False)
    with pytest.raises(DataError, match=r"cannot load pickle weights with "
                       r"weights_only=True"):
        load_speech_model(d)


def test_pickle_bin_that_is_not_a_state_dict_is_refused(tiny_model, tmp_path):
    import torch

    d = _bin_checkpoint(tiny_model, tmp_path / "list")
    torch.save([torch.zeros(2)], d / "pytorch_model.bin")
    with pytest.raises(DataError, match="does not hold a mapping of parameter names"):
        check_pickle_weights(d)
    (d / "pytorch_model.bin").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="Cannot read weight file|Refusing to load"):
        check_pickle_weights(d)


@pytest.mark.slow  # simulates a small study (~20 s)
def test_simulate_from_model_accepts_a_hub_id(tiny_ckpt, hf_cache, tmp_path):
    from brainscore_speech.containers import read_activation_meta
    from brainscore_speech.data.simulate import simulate_study

    publish_to_hf_cache(tiny_ckpt, hf_cache, "org/tiny")
    study = simulate_study(tmp_path / "sim", n_subjects=1, n_runs=2, scans_per_run=14,
                           from_model=f"org/tiny@{COMMIT}")
    meta = read_activation_meta(study.activations / "story01.h5")
    assert meta["model_id"] == "tiny" and meta["model_meta"]["commit"] == COMMIT
    assert "_layer_info" not in meta["model_meta"]
    assert meta["layer_info"]["transf1"]["relative_depth"] == 1.0  # 2 blocks
    assert meta["layer_info"]["conv6"]["rate_hz"] == 50
    truth = json.loads((study.truth / "truth.json").read_text())
    assert truth["provenance"]["params"]["from_model"] == f"org/tiny@{COMMIT}"


def _fake_hub(monkeypatch, repo_files: dict[str, Path], calls: list):
    """snapshot_download stand-in: 'downloads' the matching files of a repo folder."""
    import fnmatch

    import huggingface_hub

    def snapshot_download(repo_id, *, revision, cache_dir, allow_patterns,
                          local_files_only):
        calls.append((repo_id, revision, tuple(allow_patterns), local_files_only))
        src = repo_files[repo_id]
        snap = Path(cache_dir) / ("models--" + repo_id.replace("/", "--")) / \
            "snapshots" / COMMIT
        snap.mkdir(parents=True, exist_ok=True)
        for f in src.iterdir():
            if any(fnmatch.fnmatch(f.name, p) for p in allow_patterns):
                shutil.copyfile(f, snap / f.name)
        return str(snap)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)


def test_online_fetches_safetensors_first_then_pickle_weights(tiny_model, tiny_ckpt,
                                                              hf_cache, tmp_path,
                                                              monkeypatch):
    from brainscore_speech.features.hub import _BIN_PATTERNS

    bin_repo = _bin_checkpoint(tiny_model, tmp_path / "binrepo")
    (bin_repo / "vocab.json").write_text("{}")  # not needed: never fetched
    both = tmp_path / "both"
    shutil.copytree(tiny_ckpt, both)
    shutil.copy(bin_repo / "pytorch_model.bin", both / "pytorch_model.bin")
    calls: list = []
    _fake_hub(monkeypatch, {"org/both": both, "org/bin": bin_repo}, calls)
    src = resolve_model("org/both", offline=False)
    assert len(calls) == 1 and calls[0][3] is False  # one download, online
    assert (src.path / "model.safetensors").is_file()
    assert not (src.path / "pytorch_model.bin").exists()  # safetensors first
    calls.clear()
    src = resolve_model("org/bin@v1", offline=False)
    assert [c[2] == tuple(_BIN_PATTERNS) for c in calls] == [False, True]
    assert calls[0][1] == "v1" and (src.path / "pytorch_model.bin").is_file()
    assert not (src.path / "vocab.json").exists()
    sm = load_speech_model(src.path)  # checked with weights_only=True, then loaded
    assert sm.model_meta["regime"] == "pretrained"
