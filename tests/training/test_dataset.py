"""Manifests, corpora, crops and bucketed batches."""

from __future__ import annotations

import numpy as np
import pytest

from brainscore_speech.exceptions import DataError, ManifestError
from brainscore_speech.training import (
    build_manifest,
    load_corpus,
    read_manifest,
    sample_update,
    write_manifest,
)


def test_build_and_read_manifest(chirp_manifest):
    entries = read_manifest(chirp_manifest)
    assert len(entries) == 6
    assert all(e.n_samples == 48000 for e in entries)
    assert entries[0].line == 2 and entries[0].path.name == "chirp00.wav"


def test_build_manifest_resamples_count_to_16k(tmp_path):
    import soundfile as sf

    (tmp_path / "a").mkdir()
    sf.write(tmp_path / "a" / "x.wav", np.zeros(44100, np.float32), 44100)
    out = build_manifest(tmp_path / "a", tmp_path / "m.tsv")
    assert read_manifest(out)[0].n_samples == 16000


def test_build_manifest_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="Corpus directory not found"):
        build_manifest(tmp_path / "nope", tmp_path / "m.tsv")
    import soundfile as sf

    (tmp_path / "a").mkdir()
    sf.write(tmp_path / "a" / "x.wav", np.zeros(1600, np.float32), 16000)
    with pytest.raises(FileNotFoundError, match=r"No audio of at least 1.0 s in"):
        build_manifest(tmp_path / "a", tmp_path / "m.tsv", min_seconds=1.0)


def _manifest(tmp_path, body, root=None):
    p = tmp_path / "m.tsv"
    p.write_text(f"{root or tmp_path}\n{body}")
    return p


@pytest.mark.parametrize("body,match", [
    ("a.wav\t100\nmissing.wav\t100\n", r"line 3: audio file 'missing.wav' not found"),
    ("a.wav 100\n", r"line 2: expected 'relative/path<TAB>n_samples'"),
    ("a.wav\tabc\n", r"line 2: n_samples must be a positive integer, got 'abc'"),
    ("a.wav\t0\n", r"line 2: n_samples must be a positive integer, got '0'"),
    ("../a.wav\t100\n", r"line 2: path '../a.wav' must stay inside the root"),
    ("/etc/passwd\t100\n", r"line 2: path '/etc/passwd' must be relative"),
    ("", r"lists no audio files"),
])
def test_read_manifest_errors(tmp_path, body, match):
    (tmp_path / "a.wav").write_bytes(b"")
    with pytest.raises(ManifestError, match=match):
        read_manifest(_manifest(tmp_path, body))


def test_read_manifest_bad_root_and_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="Manifest not found"):
        read_manifest(tmp_path / "none.tsv")
    with pytest.raises(ManifestError,
                       match=r"line 1: root directory .* does not exist"):
        read_manifest(_manifest(tmp_path, "a.wav\t1\n", root=tmp_path / "nope"))
    (tmp_path / "e.tsv").write_text("")
    with pytest.raises(ManifestError, match="is empty; expected a root directory"):
        read_manifest(tmp_path / "e.tsv")


def test_unreadable_file_names_manifest_line(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"this is not audio" * 100)
    corpus = load_corpus([_manifest(tmp_path, "bad.wav\t40000\n")], crop_min_s=2.0)
    with pytest.raises(DataError, match=r"m.tsv line 2: cannot read .*bad.wav"):
        corpus.crop(0, 0, 100)


def test_corpus_shorter_than_one_crop(chirp_manifest):
    with pytest.raises(DataError, match=r"shorter than one crop: all 6 utterance\(s\) "
                                        r"are shorter than crop_min_s=5.0 s \(the "
                                        r"longest is 3.00 s\)"):
        load_corpus([chirp_manifest], crop_min_s=5.0)


def test_load_corpus_needs_manifest():
    with pytest.raises(ValueError, match="At least one manifest is needed"):
        load_corpus([], crop_min_s=1.0)


def test_write_manifest_roundtrip(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "x.wav").write_bytes(b"")
    p = write_manifest(tmp_path, [("s/x.wav", 123)], tmp_path / "o.tsv")
    assert [e.n_samples for e in read_manifest(p)] == [123]


def test_sample_update_deterministic_bucketed(chirp_manifest):
    corpus = load_corpus([chirp_manifest], crop_min_s=1.0)
    kw = dict(batch_seconds=20.0, micro_batch_seconds=6.0, crop_max_s=2.5)
    a = sample_update(corpus, seed=0, step=3, **kw)
    b = sample_update(corpus, seed=0, step=3, **kw)
    c = sample_update(corpus, seed=0, step=4, **kw)
    assert a == b and a != c
    total = sum(len(mb.items) * mb.n_samples for mb in a)
    assert total >= 20.0 * 16000  # the update holds the requested audio
    for mb in a:
        assert len(mb.items) * mb.n_samples <= 6.0 * 16000
        x = mb.load(corpus, normalize=True)
        assert x.shape == (len(mb.items), mb.n_samples) and x.dtype == np.float32
        np.testing.assert_allclose(x.mean(1), 0.0, atol=1e-5)
        np.testing.assert_allclose(x.std(1), 1.0, rtol=1e-3)


def test_sample_update_world_size_multiple(chirp_manifest):
    corpus = load_corpus([chirp_manifest], crop_min_s=1.0)
    kw = dict(seed=1, step=0, micro_batch_seconds=4.0, crop_max_s=2.0)
    odd = sample_update(corpus, batch_seconds=10.0, world_size=2, **kw)
    assert len(odd) % 2 == 0  # 3 buckets of 2 crops -> split to 4
    # when the buckets already divide evenly, every world size sees the same batch
    assert sample_update(corpus, batch_seconds=8.0, world_size=2, **kw) == \
        sample_update(corpus, batch_seconds=8.0, world_size=1, **kw)


def test_unreadable_permission_names_line(tmp_path, monkeypatch):
    import brainscore_speech.training.dataset as ds

    (tmp_path / "a.wav").write_bytes(b"")
    monkeypatch.setattr(ds.os, "access", lambda *a, **k: False)  # tests run as root
    with pytest.raises(ManifestError, match=r"line 2: audio file .*a.wav is not "
                                            r"readable \(permission denied\)"):
        read_manifest(_manifest(tmp_path, "a.wav\t100\n"))


def test_sample_update_cannot_split_for_world_size(chirp_manifest):
    corpus = load_corpus([chirp_manifest], crop_min_s=1.0)
    with pytest.raises(ValueError, match=r"Cannot split 3 crops into a multiple of 2 "
                                         r"processes; raise batch_seconds"):
        sample_update(corpus, seed=0, step=0, batch_seconds=6.0,
                      micro_batch_seconds=2.0, crop_max_s=2.0, world_size=2)
