"""train(): checkpoints, metrics, resume, collapse, plain-transformers loading."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from brainscore_speech.exceptions import CollapseError
from brainscore_speech.training import (
    Checkpoint,
    CollapseWarning,
    get_gumbel_temperature,
    get_lr,
    load_train_state,
    make_config,
    read_metrics,
    train,
)

FAST = dict(batch_seconds=4.0, micro_batch_seconds=4.0, eval_seconds=4.0)


def test_get_lr_warmup_and_decay():
    cfg = make_config(regime="speech-en", preset="base", corpus=["a.tsv"],
                      max_steps=100, lr=1e-3)
    lrs = [get_lr(s, cfg) for s in range(100)]
    warm = int(0.08 * 100)
    np.testing.assert_allclose(lrs[warm - 1], 1e-3, rtol=1e-12)  # peak after warm-up
    np.testing.assert_allclose(lrs[0], 1e-3 / warm, rtol=1e-12)
    assert all(a >= b for a, b in zip(lrs[warm:], lrs[warm + 1:]))  # linear decay
    np.testing.assert_allclose(lrs[-1], 1e-3 / (100 - warm), rtol=1e-9)
    tiny = make_config(regime="speech-en", preset="tiny", corpus=["a.tsv"])
    assert {get_lr(s, tiny) for s in (0, 50, 299)} == {2e-3}


def test_gumbel_temperature_recipe():
    tiny = make_config(regime="speech-en", preset="tiny", corpus=["a.tsv"])
    for step in (0, 10, 68, 69, 200):
        assert get_gumbel_temperature(step, tiny) == pytest.approx(
            max(2 * 0.98 ** step, 0.5), rel=1e-12)


def test_random_regime_checkpoint_loads_in_plain_transformers(tmp_path):
    from transformers import (
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForPreTraining,
        Wav2Vec2Model,
    )

    cfg = make_config(regime="random", preset="tiny", out=str(tmp_path / "ck"), seed=7)
    ckpt = train(cfg)
    assert ckpt.step == 0 and ckpt.config.seed == 7
    files = sorted(p.name for p in ckpt.path.iterdir())
    assert "model.safetensors" in files and not any(f.endswith(".bin") for f in files)
    meta = json.loads((ckpt.path / "brainscore_speech.json").read_text())
    assert (meta["regime"], meta["language"], meta["preset"], meta["seed"],
            meta["step"]) == ("random", None, "tiny", 7, 0)
    assert meta["config"]["seed"] == 7 and meta["provenance"]["step"] == "train"
    fe = Wav2Vec2FeatureExtractor.from_pretrained(ckpt.path)
    assert fe.do_normalize is True  # tiny trains on z-scored crops
    plain = Wav2Vec2Model.from_pretrained(ckpt.path).eval()
    full = Wav2Vec2ForPreTraining.from_pretrained(ckpt.path).eval()
    x = torch.randn(1, 16000)
    with torch.no_grad():
        a = plain(x, output_hidden_states=True).hidden_states
        b = full.wav2vec2(x, output_hidden_states=True).hidden_states
    assert len(a) == 4
    for u, v in zip(a, b):
        np.testing.assert_allclose(u.numpy(), v.numpy(), rtol=1e-6, atol=1e-6)
    # the same seed gives the same random model
    again = train(dataclasses.replace(cfg, out=str(tmp_path / "ck2")))
    from safetensors.torch import load_file

    w1, w2 = (load_file(p / "model.safetensors") for p in (ckpt.path, again.path))
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def test_train_tiny_writes_checkpoint_metrics_and_best(chirp_manifest, tmp_path):
    cfg = make_config(regime="speech-en", preset="tiny", corpus=[str(chirp_manifest)],
                      out=str(tmp_path / "ck"), max_steps=4, checkpoint_every=2, **FAST)
    ckpt = train(cfg)
    assert isinstance(ckpt, Checkpoint) and ckpt.step == 4
    recs = read_metrics(ckpt.path)
    assert [r["step"] for r in recs] == [1, 2, 3, 4]
    for key in ("loss", "accuracy", "prob_perplexity", "code_perplexity", "temperature",
                "lr", "grad_norm", "audio_hours"):
        assert np.isfinite(recs[-1][key]), key
    np.testing.assert_allclose(recs[-1]["audio_hours"], 4 * 4.0 / 3600, rtol=1e-9)
    assert ckpt.best["step"] in (2, 4) and ckpt.best["held_out"] is False
    assert (ckpt.path / "best" / "model.safetensors").is_file()
    state = load_train_state(ckpt.path)  # weights_only=True
    assert state["step"] == 4 and state["data_position"]["step"] == 4
    assert not list(tmp_path.glob(".ck.*"))  # no temp dirs left behind
    with pytest.raises(FileExistsError, match=r"already holds a checkpoint; pass "
                                              r"--resume"):
        train(cfg)
    assert train(cfg, resume=True).step == 4  # already done: nothing to do


def test_resume_with_different_config_names_keys(chirp_manifest, tmp_path):
    cfg = make_config(regime="speech-en", preset="tiny", corpus=[str(chirp_manifest)],
                      out=str(tmp_path / "ck"), max_steps=1, **FAST)
    train(cfg)
    other = dataclasses.replace(cfg, lr=1e-3, seed=5, checkpoint_every=7)
    with pytest.raises(ValueError, match=r"configuration differs from the checkpoint's "
                                         r"in \['lr', 'seed'\] \(lr: 0.002 -> 0.001, "
                                         r"seed: 0 -> 5\)"):
        train(other, resume=True)


def test_resume_without_train_state(tmp_path):
    from brainscore_speech.training import load_train_state

    with pytest.raises(FileNotFoundError,
                       match=r"Cannot resume: .*state.pt is missing"):
        load_train_state(tmp_path)


def test_collapse_stops_the_run(chirp_manifest, tmp_path):
    # a threshold no healthy codebook can meet plants a "collapse" at every update
    cfg = make_config(regime="speech-en", preset="tiny", corpus=[str(chirp_manifest)],
                      out=str(tmp_path / "ck"), max_steps=5, collapse_perplexity=1e6,
                      collapse_patience=2, **FAST)
    with pytest.warns(CollapseWarning, match="code perplexity"):
        with pytest.raises(CollapseError, match=r"Training collapsed at step 2: code "
                                                r"perplexity .* for 2 consecutive "
                                                r"updates\. The last checkpoint is"):
            train(cfg)


def _cli_env():
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               BRAINSCORE_SPEECH_PROGRESS="off", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


def _train_args(manifest, out, steps):
    return [sys.executable, "-m", "brainscore_speech", "-q", "train", "--regime",
            "speech-en", "--preset", "tiny", "--corpus", str(manifest), "--out",
            str(out),
            "--max-steps", str(steps), "--checkpoint-every", "10", "--batch-seconds",
            "4"]


def _strip(recs):
    return [{k: v for k, v in r.items() if k != "seconds_per_step"} for r in recs]


def test_sigkill_and_resume_equals_uninterrupted(chirp_manifest, tmp_path):
    from safetensors.torch import load_file

    env, steps = _cli_env(), 30
    ref = tmp_path / "ref"
    subprocess.run(_train_args(chirp_manifest, ref, steps), env=env, check=True,
                   capture_output=True, timeout=600)
    out = tmp_path / "killed"
    proc = subprocess.Popen(_train_args(chirp_manifest, out, steps), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline:  # kill once past the step-10 checkpoint
        if len(read_metrics(out)) >= 14 if (out / "metrics.jsonl").exists() else False:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = Checkpoint.load(out).step
    assert 10 <= killed_at < steps, killed_at
    subprocess.run([sys.executable, "-m", "brainscore_speech", "-q", "train", "--out",
                    str(out), "--resume"], env=env, check=True, capture_output=True,
                   timeout=600)
    assert Checkpoint.load(out).step == steps
    # bitwise on CPU: the loss trajectory and the final weights and optimizer state
    assert _strip(read_metrics(out)) == _strip(read_metrics(ref))
    w_ref = load_file(ref / "model.safetensors")
    w_out = load_file(out / "model.safetensors")
    assert w_ref.keys() == w_out.keys()
    assert all(torch.equal(w_ref[k], w_out[k]) for k in w_ref)
    s_ref, s_out = load_train_state(ref), load_train_state(out)
    for pid, st in s_ref["optimizer"]["state"].items():
        assert torch.equal(st["exp_avg_sq"],
                           s_out["optimizer"]["state"][pid]["exp_avg_sq"])


def test_checkpoint_loads_in_extract(chirp_manifest, tmp_path):
    from brainscore_speech.features import models
    cfg = make_config(regime="speech-fr", preset="tiny", corpus=[str(chirp_manifest)],
                      out=str(tmp_path / "ck"), max_steps=1, **FAST)
    train(cfg)
    sm = models.load_speech_model(tmp_path / "ck")
    assert sm.do_normalize is True
    assert (sm.model_meta["regime"], sm.model_meta["language"]) == ("speech", "fr")
    assert sm.model_meta["step"] == 1


def test_cuda_requested_without_cuda(chirp_manifest, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    from brainscore_speech.exceptions import BrainscoreError

    cfg = make_config(regime="random", preset="tiny", out=str(tmp_path / "c"),
                      device="cuda")
    with pytest.raises(BrainscoreError, match=r"device='cuda' was requested but CUDA "
                                              r"is not available; use --device cpu"):
        train(cfg)


def test_checkpoint_load_not_a_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Not a brainscore_speech checkpoint: "
                                                r".*brainscore_speech.json is missing"):
        Checkpoint.load(tmp_path)
