"""Presets, regimes and TrainConfig."""

from __future__ import annotations

import dataclasses

import pytest

from brainscore_speech.training import (
    TrainConfig,
    list_regimes,
    load_regime,
    make_config,
)
from brainscore_speech.training.config import PRESET_DEFAULTS


def test_list_regimes_shipped():
    assert {"random", "sound", "speech-en", "speech-fr",
            "speech-zh"} <= set(list_regimes())


@pytest.mark.parametrize("name,kind,lang", [("random", "random", None),
                                            ("sound", "sound", None),
                                            ("speech-en", "speech", "en"),
                                            ("speech-fr", "speech", "fr"),
                                            ("speech-zh", "speech", "zh")])
def test_load_regime_kinds(name, kind, lang):
    reg = load_regime(name)
    assert (reg.kind, reg.language) == (kind, lang)


def test_load_regime_unknown_lists_valid():
    with pytest.raises(ValueError, match=r"'regime' must be one of .*speech-en.*"
                                         r"Did you mean 'speech-en'"):
        load_regime("speech-em")


def test_load_regime_yaml_file(tmp_path):
    (tmp_path / "c.tsv").write_text("x\n")
    p = tmp_path / "mine.yaml"
    p.write_text("name: mine\nkind: speech\nlanguage: de\ntarget_hours: 10\n"
                 "corpora: [c.tsv]\n")
    reg = load_regime(p)
    assert reg.language == "de" and reg.corpora == (str(tmp_path / "c.tsv"),)
    cfg = make_config(regime=str(p), preset="tiny", out=str(tmp_path / "o"))
    assert cfg.corpus == (str(tmp_path / "c.tsv"),) and cfg.regime == str(p)


@pytest.mark.parametrize("text,match", [
    ("name: x\nkind: speech\nlanguag: en\n", r"Unknown key 'languag'.*Did you mean"),
    ("name: x\nkind: speech\n", r"a 'speech' regime needs a 'language'"),
    ("name: x\nkind: noise\n", r"'kind' in .* must be one of"),
    ("- a\n- b\n", r"must hold a mapping, got list"),
])
def test_load_regime_yaml_errors(tmp_path, text, match):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_regime(p)


def test_load_regime_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="Regime file not found"):
        load_regime(tmp_path / "nope.yaml")


def test_make_config_unknown_preset_lists_valid():
    with pytest.raises(ValueError, match=r"'preset' must be one of \['tiny', "
                       r"'base', 'large'\], got 'tinny'. Did you mean 'tiny'"):
        make_config(regime="random", preset="tinny")


def test_make_config_unknown_option():
    with pytest.raises(ValueError, match=r"Unknown key 'lrr' in training options"):
        make_config(regime="random", preset="tiny", lrr=1.0)


def test_make_config_presets_and_overrides():
    tiny = make_config(regime="speech-fr", preset="tiny", corpus=["a.tsv"], lr=None,
                       seed=3)
    # the working tiny recipe of FINDINGS §1 / §10
    assert (tiny.lr, tiny.diversity_loss_weight, tiny.gumbel_decay, tiny.grad_clip,
            tiny.batch_seconds, tiny.crop_max_s) == (2e-3, 0.1, 0.98, 5.0, 16.0, 2.0)
    assert tiny.language == "fr" and tiny.seed == 3 and tiny.regime_kind == "speech"
    base = make_config(regime="speech-en", preset="base", corpus=["a.tsv"], lr=1e-3)
    assert base.lr == 1e-3 and base.feature_penalty_weight == 10.0
    assert base.feature_grad_mult == 0.1 and base.normalize is False
    assert base.crop_min_s == 2.0 and base.crop_max_s == pytest.approx(250000 / 16000)


def test_trainconfig_defaults_are_base_preset():
    # TrainConfig defaults == the base preset (make_config adds nothing for it)
    assert PRESET_DEFAULTS["base"] == {}
    default = TrainConfig(corpus=("a.tsv",))
    made = make_config(regime="speech-en", preset="base", corpus=["a.tsv"],
                       out="checkpoint")
    assert default == made


def test_random_regime_has_no_steps():
    cfg = make_config(regime="random", preset="tiny", max_steps=50)
    assert cfg.max_steps == 0 and cfg.language is None


def test_speech_regime_needs_corpus():
    with pytest.raises(ValueError, match=r"needs a training corpus: pass --corpus"):
        make_config(regime="speech-en", preset="tiny")


@pytest.mark.parametrize("kw,match", [
    ({"max_steps": -1}, r"'max_steps' must be a non-negative int, got -1"),
    ({"checkpoint_every": 0}, r"'checkpoint_every' must be a positive int"),
    ({"lr": 0.0}, r"'lr' must be a positive number, got 0.0"),
    ({"crop_min_s": 3.0, "crop_max_s": 2.0}, r"'crop_min_s' \(3.0\) must not exceed"),
    ({"micro_batch_seconds": 1.0}, r"'micro_batch_seconds' \(1.0\) must hold at least"),
    ({"warmup_frac": 1.0}, r"'warmup_frac' must be in \[0, 1\), got 1.0"),
    ({"lr_schedule": "cosine"}, r"'lr_schedule' must be one of"),
])
def test_trainconfig_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(corpus=("a.tsv",), **kw)


def test_trainconfig_roundtrip_and_diff():
    cfg = make_config(regime="speech-en", preset="tiny", corpus=["a.tsv"])
    back = TrainConfig.from_dict(cfg.to_dict())
    assert back == cfg
    other = dataclasses.replace(cfg, lr=1e-3, out="elsewhere")
    assert cfg.diff(other) == {"lr": (2e-3, 1e-3)}  # 'out' may change on resume
    with pytest.raises(ValueError, match="Unknown key 'bogus' in TrainConfig"):
        TrainConfig.from_dict({**cfg.to_dict(), "bogus": 1})


def test_gumbel_decay_resolved_reaches_floor_at_70_percent():
    cfg = TrainConfig(corpus=("a.tsv",), max_steps=1000)
    d = cfg.gumbel_decay_resolved
    assert cfg.gumbel_max * d ** 700 == pytest.approx(cfg.gumbel_min, rel=1e-9)
