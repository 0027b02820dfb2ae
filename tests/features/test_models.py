"""Loading checkpoints: our format, plain HF directories, HuBERT/WavLM, errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from brainscore_speech.exceptions import DataError
from brainscore_speech.features import (
    extract_activations,
    layer_names,
    load_speech_model,
    make_random_model,
    make_tiny_config,
    save_hf_checkpoint,
    wrap_model,
)


def test_layer_names_hierarchy_order(tiny_model):
    assert layer_names(tiny_model.config) == [
        "conv0", "conv1", "conv2", "conv3", "conv4", "conv5", "conv6",
        "encoder_input", "transf0", "transf1"]


def test_load_speech_model_reads_our_checkpoint(tiny_ckpt):
    sm = load_speech_model(tiny_ckpt)
    assert sm.model_meta["regime"] == "speech" and sm.model_meta["language"] == "en"
    assert sm.model_meta["step"] == 10 and "config" not in sm.model_meta
    assert sm.model_id == "tiny" and not sm.model.training
    assert sm.attn_implementation == "sdpa"
    assert sm.do_normalize is False  # GroupNorm encoder, as written by the trainer
    assert len(sm.weights_hash) == 64
    assert "tiny" in repr(sm)


def test_our_checkpoint_and_hf_dir_give_identical_activations(tiny_model, tiny_ckpt,
                                                              tmp_path, noise):
    hf_dir = tmp_path / "hf"
    tiny_model.wav2vec2.save_pretrained(hf_dir)  # plain Wav2Vec2Model directory
    ours = extract_activations(tiny_ckpt, noise, window_s=2.0, stride_s=1.0)
    plain = load_speech_model(hf_dir)
    assert plain.model_meta["regime"] == "pretrained"
    theirs = extract_activations(plain, noise, window_s=2.0, stride_s=1.0)
    assert ours.layer_order == theirs.layer_order
    for name in ours.layer_order:
        np.testing.assert_array_equal(ours.layers[name], theirs.layers[name])


def test_normalisation_rule(tmp_path):
    model = make_random_model(make_tiny_config(feat_extract_norm="layer"), seed=3)
    d = save_hf_checkpoint(model, tmp_path / "ln")
    assert load_speech_model(d).do_normalize is True  # from preprocessor_config.json
    (d / "preprocessor_config.json").unlink()
    assert load_speech_model(d).do_normalize is True  # rule: LayerNorm encoder
    prep = tmp_path / "ln2"
    save_hf_checkpoint(model, prep, do_normalize=False)
    assert load_speech_model(prep).do_normalize is False


def test_make_random_model_is_seeded(tiny_model):
    a = make_random_model(make_tiny_config(), seed=0)
    b = make_random_model(make_tiny_config(), seed=5)
    wa = a.wav2vec2.encoder.layers[0].attention.q_proj.weight
    np.testing.assert_array_equal(
        wa.detach().numpy(),
        tiny_model.wav2vec2.encoder.layers[0].attention.q_proj.weight.detach().numpy())
    assert not np.allclose(wa.detach().numpy(),
                           b.wav2vec2.encoder.layers[0].attention.q_proj.weight
                           .detach().numpy())
    c = make_random_model({"hidden_size": 32, "num_hidden_layers": 1,
                           "num_attention_heads": 2, "intermediate_size": 32,
                           "conv_dim": (16,) * 7, "num_conv_pos_embeddings": 8,
                           "num_conv_pos_embedding_groups": 2}, seed=0)
    assert c.config.num_hidden_layers == 1


@pytest.mark.parametrize("kind", ["hubert", "wavlm"])
def test_load_hubert_and_wavlm_dirs(kind, tmp_path, noise):
    import transformers

    kw = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
              intermediate_size=64, conv_dim=(32,) * 7, num_conv_pos_embeddings=16,
              num_conv_pos_embedding_groups=4)
    if kind == "hubert":
        cfg, cls = transformers.HubertConfig(**kw), transformers.HubertModel
    else:
        cfg, cls = transformers.WavLMConfig(**kw), transformers.WavLMModel
    cls(cfg).save_pretrained(tmp_path / kind)
    sm = load_speech_model(tmp_path / kind)
    # WavLM has no SDPA kernel in transformers: falls back to eager
    assert sm.attn_implementation == ("sdpa" if kind == "hubert" else "eager")
    act = extract_activations(sm, noise[:32000], window_s=1.0, stride_s=0.5)
    assert act.layers["transf1"].shape == (99, 32)
    assert act.layers["conv0"].shape == (6399 // 32, 32)


def test_load_errors(tiny_ckpt, tmp_path):
    with pytest.raises(FileNotFoundError, match="Checkpoint directory not found"):
        load_speech_model(tmp_path / "nope")
    d = tmp_path / "noconf"
    shutil.copytree(tiny_ckpt, d)
    (d / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        load_speech_model(d)
    d = tmp_path / "noweights"
    shutil.copytree(tiny_ckpt, d)
    (d / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"has no weights; expected one of"):
        load_speech_model(d)
    d = tmp_path / "bert"
    shutil.copytree(tiny_ckpt, d)
    (d / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match="Model type 'bert' .* is not supported"):
        load_speech_model(d)
    d = tmp_path / "mismatch"
    shutil.copytree(tiny_ckpt, d)
    conf = json.loads((d / "config.json").read_text())
    conf["num_hidden_layers"] = 3
    (d / "config.json").write_text(json.dumps(conf))
    with pytest.raises(DataError, match="do not match its config.json"):
        load_speech_model(d)
    d = tmp_path / "badmeta"
    shutil.copytree(tiny_ckpt, d)
    (d / "brainscore_speech.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="must hold a JSON object, got list"):
        load_speech_model(d)
    d = tmp_path / "badconf"
    shutil.copytree(tiny_ckpt, d)
    (d / "config.json").write_text("{not json")
    with pytest.raises(DataError, match="Cannot read .*config.json"):
        load_speech_model(d)


def test_save_hf_checkpoint_refuses_non_empty_dir(tiny_model, tiny_ckpt):
    with pytest.raises(FileExistsError, match="already exists and is not empty"):
        save_hf_checkpoint(tiny_model, tiny_ckpt)


def test_wrap_model_rejects_non_speech_model():
    import torch

    with pytest.raises(TypeError, match="must be a wav2vec2-style HF model"):
        wrap_model(torch.nn.Linear(2, 2))
