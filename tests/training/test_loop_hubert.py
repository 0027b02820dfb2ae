"""train(objective=hubert|wavlm): checkpoints, metadata, loading, resume, errors."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from brainscore_speech.exceptions import BrainscoreError, DataError
from brainscore_speech.training import (
    Checkpoint,
    load_corpus,
    make_config,
    read_metrics,
    sample_update,
    train,
)

from .test_loop import _cli_env, _strip

FAST = dict(batch_seconds=4.0, micro_batch_seconds=4.0, eval_seconds=4.0)


def _cfg(manifest, targets, out, objective="hubert", **kw):
    return make_config(regime="speech-en", preset="tiny", corpus=[str(manifest)],
                       out=str(out), objective=objective, targets=str(targets),
                       **{**FAST, **kw})


@pytest.mark.parametrize("objective", ["hubert", "wavlm"])
def test_train_masked_prediction_checkpoint(objective, chirp_manifest, chirp_targets,
                                            tmp_path):
    from transformers import AutoModel

    from brainscore_speech.features import models

    cfg = _cfg(chirp_manifest, chirp_targets, tmp_path / "ck", objective,
               max_steps=3, checkpoint_every=3, mix_prob=1.0)
    ckpt = train(cfg)
    assert ckpt.step == 3 and ckpt.config.objective == objective
    recs = read_metrics(ckpt.path)
    assert [r["step"] for r in recs] == [1, 2, 3]
    for key in ("loss", "loss_unmasked", "accuracy", "accuracy_unmasked", "chance",
                "pred_perplexity", "target_perplexity", "lr", "grad_norm"):
        assert np.isfinite(recs[-1][key]), key
    assert 0.0 <= recs[-1]["accuracy"] <= 1.0
    # 8 clusters: every loss starts near ln 8 (random init, cosine logits / 0.1)
    assert abs(recs[0]["loss"] - np.log(8)) < 1.5
    assert recs[-1]["mixed_fraction"] == (1.0 if objective == "wavlm" else 0.0)
    meta = json.loads((ckpt.path / "brainscore_speech.json").read_text())
    assert meta["objective"] == objective
    assert meta["targets"]["kind"] == "mfcc" and meta["targets"]["n_clusters"] == 8
    files = {p.name for p in ckpt.path.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= files
    plain = AutoModel.from_pretrained(ckpt.path).eval()
    assert plain.config.model_type == objective
    sm = models.load_speech_model(ckpt.path)
    assert sm.model_meta["objective"] == objective and sm.model_meta["step"] == 3
    x = torch.randn(1, 20000)
    with torch.no_grad():
        a = plain(x, output_hidden_states=True).hidden_states
        b = sm.model(x, output_hidden_states=True).hidden_states
    for u, v in zip(a, b):
        np.testing.assert_allclose(u.numpy(), v.numpy(), rtol=1e-6, atol=1e-6)


def test_masked_batches_labels_are_the_mfcc_units_of_the_crop(chirp_manifest,
                                                              chirp_targets, tmp_path):
    from brainscore_speech.training.hubert import MaskedPredictionObjective
    from brainscore_speech.training.targets import compute_mfcc, predict_units

    cfg = _cfg(chirp_manifest, chirp_targets, tmp_path / "x", max_steps=1)
    corpus = load_corpus(cfg.corpus, crop_min_s=cfg.crop_min_s)
    obj = MaskedPredictionObjective(cfg, corpus, corpus)
    model = obj.build_model()
    centers = np.load(chirp_targets / "kmeans.npz")["cluster_centers"]
    for step in range(3):
        mb = sample_update(corpus, seed=0, step=step, batch_seconds=4.0,
                           micro_batch_seconds=4.0, crop_max_s=2.0)[0]
        plan = obj.plan(mb, model)
        assert all(o % 320 == 0 for _, o in plan[0].items)  # snapped to the frame grid
        x = plan[0].load(corpus, normalize=False)
        for b in range(len(x)):
            np.testing.assert_array_equal(plan[2][b],
                                          predict_units(compute_mfcc(x[b]), centers))


def test_masked_resume_equals_uninterrupted(chirp_manifest, chirp_targets, tmp_path):
    ref = train(_cfg(chirp_manifest, chirp_targets, tmp_path / "ref", "wavlm",
                     max_steps=4, checkpoint_every=2, mix_prob=0.5))
    cut = _cfg(chirp_manifest, chirp_targets, tmp_path / "cut", "wavlm",
               max_steps=4, checkpoint_every=2, mix_prob=0.5)
    # stop after the step-2 checkpoint by planting a collapse at step 3
    from brainscore_speech.training import hubert

    orig = hubert.MaskedHealthMonitor.update

    def crash(self, step, metrics, **kw):
        if step == 3:
            raise KeyboardInterrupt
        return orig(self, step, metrics, **kw)

    hubert.MaskedHealthMonitor.update = crash
    try:
        with pytest.raises(KeyboardInterrupt):
            train(cut)
    finally:
        hubert.MaskedHealthMonitor.update = orig
    assert Checkpoint.load(cut.out).step == 2
    done = train(cut, resume=True)
    assert done.step == 4
    assert _strip(read_metrics(done.path)) == _strip(read_metrics(ref.path))
    from safetensors.torch import load_file

    w1, w2 = (load_file(p / "model.safetensors") for p in (ref.path, done.path))
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def test_masked_resume_with_changed_targets(chirp_manifest, chirp_targets, tmp_path):
    import shutil

    cfg = _cfg(chirp_manifest, chirp_targets, tmp_path / "ck", max_steps=1)
    train(cfg)
    moved = tmp_path / "tg"
    shutil.copytree(chirp_targets, moved)
    meta = json.loads((moved / "targets.json").read_text())
    meta["labels_hash"] = "0" * 64
    (moved / "targets.json").write_text(json.dumps(meta))
    meta = json.loads((tmp_path / "ck" / "brainscore_speech.json").read_text())
    meta["config"]["targets"] = str(moved)
    (tmp_path / "ck" / "brainscore_speech.json").write_text(json.dumps(meta))
    with pytest.raises(BrainscoreError,
                       match=r"Cannot resume .*ck: its targets changed"):
        train(dataclasses.replace(cfg, targets=str(moved)), resume=True)


def test_masked_objective_needs_targets_and_the_right_corpus(chirp_manifest,
                                                             noise_manifest,
                                                             chirp_targets, tmp_path):
    with pytest.raises(ValueError, match=r"Objective 'hubert' needs hidden-unit "
                                         r"targets: pass --targets DIR"):
        make_config(regime="speech-en", preset="tiny", corpus=[str(chirp_manifest)],
                    objective="hubert")
    with pytest.raises(ValueError, match=r"'objective' must be one of \['wav2vec2', "
                                         r"'hubert', 'wavlm'\], got 'hubrt'"):
        make_config(regime="speech-en", preset="tiny", corpus=[str(chirp_manifest)],
                    objective="hubrt")
    cfg = _cfg(noise_manifest, chirp_targets, tmp_path / "n", max_steps=1)
    with pytest.raises(DataError,
                       match=r"labels\.npz have no labels for .*noise0\.wav"):
        train(cfg)


def test_random_regime_hubert_needs_no_targets(tmp_path):
    from transformers import HubertModel

    cfg = make_config(regime="random", preset="tiny", out=str(tmp_path / "r"),
                      objective="hubert", seed=2)
    ckpt = train(cfg)
    assert ckpt.step == 0
    assert HubertModel.from_pretrained(ckpt.path).config.model_type == "hubert"
    meta = json.loads((ckpt.path / "brainscore_speech.json").read_text())
    assert (meta["objective"], meta["regime"], meta["targets"]) == ("hubert", "random",
                                                                    None)


@pytest.mark.slow
def test_masked_sigkill_and_resume_equals_uninterrupted(chirp_manifest, chirp_targets,
                                                         tmp_path):
    from safetensors.torch import load_file

    def args(out):
        return [sys.executable, "-m", "brainscore_speech", "-q", "train", "--regime",
                "speech-en", "--preset", "tiny", "--objective", "hubert", "--targets",
                str(chirp_targets), "--corpus", str(chirp_manifest), "--out", str(out),
                "--max-steps", "20", "--checkpoint-every", "5", "--batch-seconds", "4"]

    env = _cli_env()
    subprocess.run(args(tmp_path / "ref"), env=env, check=True, capture_output=True,
                   timeout=600)
    out = tmp_path / "killed"
    proc = subprocess.Popen(args(out), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline:
        if (out / "metrics.jsonl").exists() and len(read_metrics(out)) >= 7:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = Checkpoint.load(out).step
    assert 5 <= killed_at < 20, killed_at
    subprocess.run([sys.executable, "-m", "brainscore_speech", "-q", "train", "--out",
                    str(out), "--resume"], env=env, check=True, capture_output=True,
                   timeout=600)
    assert _strip(read_metrics(out)) == _strip(read_metrics(tmp_path / "ref"))
    w1 = load_file(tmp_path / "ref" / "model.safetensors")
    w2 = load_file(out / "model.safetensors")
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


@pytest.mark.slow
def test_masked_ddp_two_processes_match_one(chirp_manifest, chirp_targets, tmp_path):
    steps = 4
    cfg = _cfg(chirp_manifest, chirp_targets, tmp_path / "one", "wavlm",
               max_steps=steps, checkpoint_every=steps, batch_seconds=8.0,
               micro_batch_seconds=4.0, eval_seconds=8.0)
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = train(cfg)
    finally:
        torch.set_num_threads(n_threads)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc_per_node", "2", "-m", "brainscore_speech", "-q", "train",
           "--regime", "speech-en", "--preset", "tiny", "--objective", "wavlm",
           "--targets", str(chirp_targets), "--corpus", str(chirp_manifest),
           "--out", str(tmp_path / "two"), "--max-steps", str(steps),
           "--checkpoint-every", str(steps), "--batch-seconds", "8",
           "--micro-batch-seconds", "4", "--device", "cpu"]
    res = subprocess.run(cmd, env=_cli_env(), capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    a, b = _strip(read_metrics(one.path)), _strip(read_metrics(tmp_path / "two"))
    assert [r["step"] for r in b] == list(range(1, steps + 1))
    # same tolerance and reasoning as the wav2vec2 DDP test (test_ddp.py)
    for key in ("loss", "accuracy", "accuracy_unmasked", "pred_perplexity",
                "target_perplexity", "mixed_fraction", "grad_norm"):
        np.testing.assert_allclose([r[key] for r in b], [r[key] for r in a],
                                   rtol=1e-4, atol=1e-6, err_msg=key)
    from safetensors.torch import load_file

    w1 = load_file(one.path / "model.safetensors")
    w2 = load_file(tmp_path / "two" / "model.safetensors")
    for k in w1:
        np.testing.assert_allclose(w2[k].numpy(), w1[k].numpy(), rtol=1e-3, atol=1e-5,
                                   err_msg=k)
