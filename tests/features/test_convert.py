"""fairseq checkpoints -> HF format: inverse key map round trip, errors, safe load."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch

from brainscore_speech.exceptions import DataError
from brainscore_speech.features import (
    extract_activations,
    load_speech_model,
    make_random_model,
    make_tiny_config,
    save_hf_checkpoint,
)
from brainscore_speech.features.convert import (
    convert_fairseq_checkpoint,
    fairseq_to_hf,
    hf_to_fairseq_state_dict,
    load_fairseq_checkpoint,
    parse_conv_feature_layers,
)

from ..conftest import run_cli

CONV = "[(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32,2,2)] * 2"


def _fairseq_cfg(name="wav2vec2", **model):
    return {"model": {"_name": name, "conv_feature_layers": CONV,
                      "encoder_attention_heads": 4, "latent_groups": 2,
                      "extractor_mode": "default", "layer_norm_first": False, **model},
            "task": {"_name": "audio_pretraining", "normalize": False}}


def _save_fairseq(path: Path, state, cfg=None, args=None, extra=None) -> Path:
    torch.save({"cfg": cfg, "args": args, "model": state,
                "optimizer_history": [{"criterion_name": "Wav2vecCriterion",
                                       "num_updates": 10}],
                "extra_state": {"previous_best": np.float64(1.5), **(extra or {})}},
               path)
    return path


def _same_activations(a_dir, b_dir, wave):
    a = extract_activations(load_speech_model(a_dir), wave, window_s=1.0, stride_s=0.5)
    b = extract_activations(load_speech_model(b_dir), wave, window_s=1.0, stride_s=0.5)
    assert a.layer_order == b.layer_order
    for name in a.layer_order:
        np.testing.assert_array_equal(a.layers[name], b.layers[name])


def test_wav2vec2_round_trip_gives_identical_activations(tiny_model, tiny_ckpt,
                                                         tmp_path,
                                                         noise):
    state = hf_to_fairseq_state_dict(tiny_model)
    # fairseq's own names (fairseq/models/wav2vec/wav2vec2.py)
    for key in ("feature_extractor.conv_layers.0.0.weight",
                "feature_extractor.conv_layers.0.2.weight", "post_extract_proj.weight",
                "layer_norm.weight", "mask_emb", "encoder.pos_conv.0.weight_g",
                "encoder.pos_conv.0.weight_v", "encoder.layers.1.self_attn.k_proj.bias",
                "encoder.layers.1.self_attn_layer_norm.weight",
                "encoder.layers.1.fc1.weight",
                "encoder.layers.1.final_layer_norm.bias", "encoder.layer_norm.weight",
                "quantizer.vars", "quantizer.weight_proj.weight", "project_q.weight",
                "final_proj.weight"):
        assert key in state, key
    assert len(state) == len(tiny_model.state_dict())
    pt = _save_fairseq(tmp_path / "checkpoint_best.pt", state, _fairseq_cfg())
    code, out, err = run_cli(["convert", pt, "--out", tmp_path / "conv", "--regime",
                              "speech", "--language", "en"])
    assert code == 0, err
    assert "Converted" in out
    sm = load_speech_model(tmp_path / "conv")
    assert sm.model_meta["regime"] == "speech" and sm.model_meta["language"] == "en"
    assert sm.model_meta["converted_from"]["architecture"] == "wav2vec2"
    assert sm.do_normalize is False  # the task's normalize: false
    _same_activations(tiny_ckpt, tmp_path / "conv", noise[:32000])


@pytest.mark.parametrize("arch", ["hubert", "wav2vec2-layernorm"])
def test_hubert_and_layernorm_models_with_namespace_args(arch, tmp_path, noise):
    import transformers

    kw = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
              intermediate_size=64, conv_dim=(32,) * 7, num_conv_pos_embeddings=16,
              num_conv_pos_embedding_groups=4)
    torch.manual_seed(0)
    if arch == "hubert":
        model = transformers.HubertModel(transformers.HubertConfig(**kw)).eval()
    else:
        model = make_random_model(make_tiny_config(
            feat_extract_norm="layer", do_stable_layer_norm=True), seed=4)
    state = hf_to_fairseq_state_dict(model)
    if arch == "hubert":  # the pretraining head fairseq HuBERT also stores
        state["label_embs_concat"] = torch.zeros(504, 16)
        state["final_proj.weight"] = torch.zeros(16, 32)
        state["final_proj.bias"] = torch.zeros(16)
        name = "hubert"
    else:
        name = "wav2vec2"
        assert "feature_extractor.conv_layers.3.2.1.weight" in state  # LayerNorm mode
    # an old fairseq checkpoint: the configuration is an argparse.Namespace
    args = argparse.Namespace(arch=name, conv_feature_layers=CONV,
                              encoder_attention_heads=4, latent_groups=2,
                              extractor_mode="default" if arch == "hubert" else
                              "layer_norm", layer_norm_first=arch != "hubert",
                              normalize=arch != "hubert")
    pt = _save_fairseq(tmp_path / "old.pt", state, None, args)
    ckpt = load_fairseq_checkpoint(pt)
    assert "argparse.Namespace" in ckpt["inert_globals"]
    assert ckpt["cfg"]["model"]["arch"] == name
    out = convert_fairseq_checkpoint(pt, tmp_path / "conv")
    ref = tmp_path / "ref"
    (model.save_pretrained(ref) if arch == "hubert" else save_hf_checkpoint(model, ref))
    if arch == "hubert":
        assert sorted(load_speech_model(out).model_meta["converted_from"][
            "dropped_keys"]) == ["final_proj.bias", "final_proj.weight",
                                 "label_embs_concat"]
    assert load_speech_model(out).do_normalize is (arch != "hubert")
    _same_activations(ref, out, noise[:32000])


def test_unknown_key_and_architecture_are_refused(tiny_model, tmp_path):
    state = hf_to_fairseq_state_dict(tiny_model)
    state["encoder.layers.0.adapter.weight"] = torch.zeros(3)
    with pytest.raises(DataError, match=r"Unknown key "
                                        r"'encoder.layers.0.adapter.weight' "
                       r"in the fairseq wav2vec2 checkpoint"):
        fairseq_to_hf(state, _fairseq_cfg())
    pt = _save_fairseq(tmp_path / "d2v.pt", hf_to_fairseq_state_dict(tiny_model),
                       _fairseq_cfg("data2vec_audio"))
    code, _, err = run_cli(["convert", pt, "--out", tmp_path / "x"])
    assert code == 1
    assert "Unsupported fairseq architecture 'data2vec_audio'" in err
    state = hf_to_fairseq_state_dict(tiny_model)
    del state["encoder.layers.1.fc2.bias"]
    with pytest.raises(DataError, match=r"lacks 1 parameter\(s\) "
                                        r".*layers.1.feed_forward"
                       r".output_dense.bias"):
        fairseq_to_hf(state, _fairseq_cfg())
    state = hf_to_fairseq_state_dict(tiny_model)
    with pytest.raises(DataError, match=r"Parameter 'wav2vec2.feature_extractor.conv_"
                       r"layers.0.conv.weight': the checkpoint has shape \(32, 1, "
                       r"10\), "
                       r"the config implies \(32, 1, 12\)"):
        fairseq_to_hf(state, _fairseq_cfg(conv_feature_layers=CONV.replace("10", "12")))


def test_convert_runs_no_pickled_code(tiny_model, tmp_path):
    class WritesAFile:
        def __init__(self, target):
            self.target = target

        def __reduce__(self):
            return (Path.write_text, (self.target, "code ran"))

    target = tmp_path / "pwned.txt"
    pt = _save_fairseq(tmp_path / "evil.pt", hf_to_fairseq_state_dict(tiny_model),
                       _fairseq_cfg(), extra={"hook": WritesAFile(target)})
    with pytest.raises(DataError, match=r"Refusing to load .*evil.pt: its pickle names "
                       r"\[.*'pathlib.*nothing from it was run"):
        load_fairseq_checkpoint(pt)
    code, _, err = run_cli(["convert", pt, "--out", tmp_path / "conv"])
    assert code == 1 and "Refusing to load" in err
    assert not target.exists() and not (tmp_path / "conv").exists()
    torch.load(pt, weights_only=False)  # the payload is real
    assert target.read_text() == "code ran"


def test_load_errors(tmp_path, tiny_model):
    with pytest.raises(FileNotFoundError, match="fairseq checkpoint not found"):
        load_fairseq_checkpoint(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(DataError, match="Cannot read .*junk.pt"):
        load_fairseq_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": {}}, tmp_path / "nomodel.pt")
    with pytest.raises(DataError, match="is not a fairseq checkpoint: expected a dict "
                       "with a 'model' state dict"):
        load_fairseq_checkpoint(tmp_path / "nomodel.pt")
    torch.save({"model": {"w": [1, 2]}}, tmp_path / "notensor.pt")
    with pytest.raises(DataError, match="'model' entry 'w' is not a tensor"):
        load_fairseq_checkpoint(tmp_path / "notensor.pt")


def test_parse_conv_feature_layers():
    assert parse_conv_feature_layers(
        "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] * 2") == (
        [(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2)
    for bad in ("__import__('os').system('true')", "[(1, 2)]", "[]", "[(1,2,3)] - 1"):
        with pytest.raises(ValueError, match="'conv_feature_layers' must be a list"):
            parse_conv_feature_layers(bad)


def test_ctc_finetuned_checkpoint_converts_to_its_encoder(tiny_model, tmp_path, noise):
    base = tiny_model.wav2vec2
    state = {"w2v_encoder.w2v_model." + k: v
             for k, v in hf_to_fairseq_state_dict(base).items()}
    state["w2v_encoder.proj.weight"] = torch.zeros(30, 32)  # the CTC output layer
    state["w2v_encoder.proj.bias"] = torch.zeros(30)
    cfg = {"model": {"_name": "wav2vec_ctc",
                     "w2v_args": _fairseq_cfg()},
           "task": {"normalize": False}}
    model, info = fairseq_to_hf(state, cfg)
    assert type(model).__name__ == "Wav2Vec2Model" and info["finetuned"]
    assert sorted(info["dropped"]) == ["w2v_encoder.proj.bias",
                                       "w2v_encoder.proj.weight"]
    ref, out = tmp_path / "ref", tmp_path / "out"
    base.save_pretrained(ref)
    model.save_pretrained(out)
    _same_activations(ref, out, noise[:32000])
    state["w2v_encoder.w2v_model.quantizer.vars"] = torch.zeros(1, 32, 16)
    with pytest.raises(DataError, match="Unknown key 'quantizer.vars'"):
        fairseq_to_hf(state, cfg)
