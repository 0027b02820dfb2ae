"""`brainscore-speech corpus build` and `brainscore-speech train`."""

from __future__ import annotations

import json

import pytest

from brainscore_speech.training import Checkpoint, read_manifest

from ..conftest import run_cli


def test_corpus_build(chirp_manifest, tmp_path):
    audio = chirp_manifest.parent / "audio"
    code, out, err = run_cli(["corpus", "build", audio, "--out", tmp_path / "m.tsv"])
    assert code == 0, err
    assert "6 files" in out
    assert len(read_manifest(tmp_path / "m.tsv")) == 6


def test_corpus_build_missing_dir(tmp_path):
    code, _, err = run_cli(["corpus", "build", tmp_path / "nope", "--out",
                            tmp_path / "m.tsv"])
    assert code == 1 and "Corpus directory not found" in err


def test_train_cli_tiny_and_resume(chirp_manifest, tmp_path):
    ck = tmp_path / "ck"
    args = ["-q", "train", "--regime", "speech-fr", "--preset", "tiny", "--corpus",
            chirp_manifest, "--out", ck, "--max-steps", "2", "--batch-seconds", "4",
            "--seed", "3", "--lr", "1e-3", "--checkpoint-every", "1"]
    code, out, err = run_cli(args)
    assert code == 0, err
    assert "step 2" in out
    meta = json.loads((ck / "brainscore_speech.json").read_text())
    assert (meta["regime"], meta["language"], meta["seed"]) == ("speech", "fr", 3)
    assert meta["config"]["lr"] == 1e-3
    # resume needs only --out; it keeps the saved options, here extending nothing
    code, out, err = run_cli(["-q", "train", "--out", ck, "--resume"])
    assert code == 0, err
    assert Checkpoint.load(ck).step == 2
    code, _, err = run_cli(["-q", "train", "--out", ck, "--resume", "--lr", "5e-3"])
    assert code == 1
    assert ("configuration differs from the checkpoint's in ['lr'] "
            "(lr: 0.001 -> 0.005)") in err


def test_train_cli_random(tmp_path):
    code, _, err = run_cli(["-q", "train", "--regime", "random", "--preset", "tiny",
                            "--out", tmp_path / "r", "--seed", "4"])
    assert code == 0, err
    assert Checkpoint.load(tmp_path / "r").config.seed == 4


@pytest.mark.parametrize("args,match", [
    (["--regime", "speech-xx"], "'regime' must be one of ['random', 'sound', "),
    (["--preset", "huge"], "'preset' must be one of ['tiny', 'base', 'large'], got "
                           "'huge'"),
])
def test_train_cli_unknown_names(tmp_path, args, match):
    code, _, err = run_cli(["train", "--out", tmp_path / "o", *args])
    assert code == 2 and match in err, err


def test_train_cli_manifest_errors(chirp_manifest, tmp_path):
    bad = tmp_path / "bad.tsv"
    lines = chirp_manifest.read_text().splitlines()
    bad.write_text("\n".join([*lines[:3], "gone.wav\t48000", *lines[3:]]) + "\n")
    code, _, err = run_cli(["train", "--regime", "speech-en", "--preset", "tiny",
                            "--corpus", bad, "--out", tmp_path / "o"])
    assert code == 1 and "bad.tsv line 4: audio file 'gone.wav' not found" in err, err
    # every file shorter than the tiny preset's 2 s crop
    short = tmp_path / "short.tsv"
    short.write_text(lines[0] + "\n" + "\n".join(
        f"{line.split(chr(9))[0]}\t16000" for line in lines[1:]) + "\n")
    code, _, err = run_cli(["train", "--regime", "sound", "--preset", "tiny",
                            "--corpus", short, "--out", tmp_path / "o3"])
    assert code == 1 and "is shorter than one crop" in err, err


def test_targets_cli_and_train_hubert(chirp_manifest, tmp_path):
    tg = tmp_path / "tg"
    code, out, err = run_cli(["targets", "--corpus", chirp_manifest, "--valid",
                              chirp_manifest, "--out", tg, "--n-clusters", "6",
                              "--fraction", "1.0"])
    assert code == 0, err
    assert "K=6" in out and "unused clusters" in out
    meta = json.loads((tg / "targets.json").read_text())
    assert (meta["kind"], meta["kmeans"]["n_init"],
            meta["fraction"]) == ("mfcc", 20, 1.0)
    ck = tmp_path / "ck"
    code, out, err = run_cli(["-q", "train", "--objective", "wavlm", "--targets", tg,
                              "--regime", "speech-en", "--preset", "tiny", "--corpus",
                              chirp_manifest, "--out", ck, "--max-steps", "1",
                              "--batch-seconds", "4"])
    assert code == 0, err
    assert Checkpoint.load(ck).config.objective == "wavlm"
    # iteration 2 from that (iteration-1) model, one layer
    code, out, err = run_cli(["targets", "--corpus", chirp_manifest, "--out",
                              tmp_path / "tg2", "--iteration", "2", "--from-model", ck,
                              "--layer", "transf1", "--n-clusters", "5",
                              "--fraction", "1.0"])
    assert code == 0, err
    meta = json.loads((tmp_path / "tg2" / "targets.json").read_text())
    assert (meta["kind"], meta["iteration"], meta["feature"]["layer"],
            meta["feature_dim"]) == ("layer", 2, "transf1", 96)
    # the iteration-1 k-means file does not fit layer features
    code, _, err = run_cli(["targets", "--corpus", chirp_manifest, "--out",
                            tmp_path / "tg3", "--iteration", "2", "--from-model", ck,
                            "--kmeans", tg / "kmeans.npz"])
    assert code == 1
    assert "kmeans.npz is for 39-dimensional features, but layer transf0 of" in err


@pytest.mark.parametrize("args,code,match", [
    (["--iteration", "2"], 2, "iteration 2 clusters a layer of the iteration-1 model"),
    (["--iteration", "3"], 2, "must be 1 or 2, got 3"),
    (["--iteration", "2", "--from-model", "NOPE"], 1,
     "Iteration 2 needs an iteration-1 model: NOPE is not a checkpoint directory"),
])
def test_targets_cli_iteration_errors(chirp_manifest, tmp_path, args, code, match):
    args = [str(tmp_path / a) if a == "NOPE" else a for a in args]
    got, _, err = run_cli(["targets", "--corpus", chirp_manifest, "--out",
                           tmp_path / "t", *args])
    assert got == code, err
    assert match.replace("NOPE", str(tmp_path / "NOPE")) in " ".join(err.split())


def test_targets_cli_wav2vec2_checkpoint_is_not_iteration1(chirp_manifest, tmp_path):
    run_cli(["-q", "train", "--regime", "random", "--preset", "tiny", "--out",
             tmp_path / "w2v"])
    code, _, err = run_cli(["targets", "--corpus", chirp_manifest, "--out",
                            tmp_path / "t", "--iteration", "2", "--from-model",
                            tmp_path / "w2v"])
    assert code == 1
    assert "needs an iteration-1 HuBERT/WavLM model, but" in err
    assert "records objective 'wav2vec2'" in err
