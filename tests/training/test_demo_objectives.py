"""`demo --objectives`: the demo trains native-speech HuBERT / WavLM models too."""

from __future__ import annotations

import json

from brainscore_speech.workflows import demo as demo_mod
from brainscore_speech.workflows.demo import DemoConfig

from ..conftest import run_cli


def test_demo_cli_objectives(tmp_path, monkeypatch):
    seen = {}

    def fake_run_demo(out, cfg):
        seen["cfg"] = cfg
        return out / "report.html"

    monkeypatch.setattr(demo_mod, "run_demo", fake_run_demo)
    code, _, err = run_cli(["demo", tmp_path / "d", "--objectives",
                            "wav2vec2,hubert,wavlm"])
    assert code == 0, err
    assert seen["cfg"].objectives == ("wav2vec2", "hubert", "wavlm")
    code, _, err = run_cli(["demo", tmp_path / "d", "--objectives", "hubrt"])
    assert code == 2 and "'--objectives' must be one of" in err and "hubert" in err


def test_demo_trains_a_masked_model_and_resumes(chirp_manifest, tmp_path):
    cfg = DemoConfig(train_steps=2, objectives=("hubert",))
    ckpt = demo_mod._train_masked(tmp_path, chirp_manifest, "hubert", cfg)
    meta = json.loads((ckpt / "brainscore_speech.json").read_text())
    assert (meta["objective"], meta["step"], meta["language"]) == ("hubert", 2, "en")
    assert (tmp_path / "targets" / "speech-en" / "targets.json").is_file()
    mtime = (ckpt / "model.safetensors").stat().st_mtime_ns
    demo_mod._train_masked(tmp_path, chirp_manifest, "hubert", cfg)  # resumes: no-op
    assert (ckpt / "model.safetensors").stat().st_mtime_ns == mtime
