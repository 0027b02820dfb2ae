"""Human comparison on the released Perceptimatic answers (CogSci 2020 deltas)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from brainscore_speech.behaviour import (
    abx_accuracy,
    agreement_accuracy,
    attach_deltas,
    bootstrap_samples,
    compare_humans,
    contrast_means,
    native_effect,
    probit_loglik,
    read_humans,
    spearman_contrast,
)
from brainscore_speech.exceptions import DataError

MODELS = ["articulation", "babelmulti", "fishermono", "fishertri", "deepspeech",
          "dpgmm", "mfccs"]


@pytest.fixture(scope="module")
def released(shared_data_module):
    return read_humans(shared_data_module / "perceptimatic" / "cogsci2020_english" /
                       "humans_and_model.csv", models=MODELS)


@pytest.fixture(scope="module")
def shared_data_module():
    from tests.conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip(f"real third-party data not found at {SHARED_DATA}")
    return SHARED_DATA


def _published_spearman(df, model):
    """Literal transcription of the published averaging chain (ACL 2022 script)."""
    from scipy.stats import spearmanr

    d = df[["filename", "TGT", "OTH", "prev_phone", "next_phone", "stimulus_language",
            "correct_answer", model]].copy()
    d["user_ans"] = d["correct_answer"] / 3.0
    keys = ["TGT", "OTH", "stimulus_language"]
    g = d.groupby(["filename", *keys, "prev_phone", "next_phone"], as_index=False)
    a = g.user_ans.mean()
    a[model] = g[model].mean()[model]
    g = a.groupby([*keys, "prev_phone", "next_phone"], as_index=False)
    b = g.user_ans.mean()
    b[model] = g[model].mean()[model]
    g = b.groupby(keys, as_index=False)
    c = g.user_ans.mean()
    c[model] = g[model].mean()[model]
    r = c.copy()
    r["TGT"], r["OTH"] = c["OTH"], c["TGT"]
    t = pd.concat([c, r])
    g = t.groupby(keys, as_index=False)
    e = g.user_ans.mean()
    e[model] = g[model].mean()[model]
    return abs(spearmanr(e["user_ans"], e[model]).statistic)


def test_released_table_shape(released):
    assert len(released) == 16903 and released["individual"].nunique() == 91
    assert set(released["stimulus_language"]) == {"EN", "FR"}


@pytest.mark.parametrize("model", ["mfccs", "dpgmm"])
def test_probit_loglik_equals_published_formula(released, model):
    from statsmodels.formula.api import probit

    d = released.copy()
    d["y"] = (d["binarized_answer"] + 1.0) / 2.0
    ref = probit(f"y ~ TGT_first_code + nb_stimuli + C(individual) + {model}",
                 d).fit(disp=0).llf
    np.testing.assert_allclose(probit_loglik(released, model), ref, rtol=1e-9)


def test_spearman_and_accuracy_equal_published_computation(released):
    for model in MODELS:
        np.testing.assert_allclose(spearman_contrast(released, model),
                                   _published_spearman(released, model), rtol=1e-12)
        agree = np.mean([(d > 0) == (a > 0) for d, a in
                         zip(released[model], released["binarized_answer"],
                             strict=True)])
        np.testing.assert_allclose(agreement_accuracy(released, model), agree,
                                   rtol=1e-12)
        trip = released.drop_duplicates("filename")
        en = trip[trip["filename"].str.startswith("EN")]
        np.testing.assert_allclose(abx_accuracy(released, model)["EN"],
                                   np.mean(en[model] > 0), rtol=1e-12)


def test_published_claim_deepspeech_accurate_but_unhumanlike(released):
    """CogSci 2020 abstract: DeepSpeech "is poorly correlated with their
    behaviour, even though it yields a low error on the decision task"."""
    en_acc = {m: abx_accuracy(released, m)["EN"] for m in MODELS}
    rho = {m: spearman_contrast(released, m) for m in MODELS}
    assert en_acc["deepspeech"] >= np.median(list(en_acc.values()))
    assert sorted(rho, key=rho.get)[:2] == ["deepspeech", "articulation"]


def test_bootstrap_samples_per_triplet(released):
    sub = released[released["individual"].isin(released["individual"].unique()[:5])]
    samples = bootstrap_samples(sub, n_boot=3, per_triplet=3, random_state=0)
    n_trip = sub["filename"].nunique()
    for idx in samples:
        assert len(idx) == 3 * n_trip
        counts = sub["filename"].iloc[idx].value_counts()
        assert (counts == 3).all()
    again = bootstrap_samples(sub, n_boot=3, per_triplet=3, random_state=0)
    np.testing.assert_array_equal(samples[0], again[0])


def test_compare_humans_intervals_cover_estimate(released):
    sub = released[released["individual"].isin(released["individual"].unique()[:12])]
    summary, boot = compare_humans(sub, ["mfccs", "dpgmm"],
                                   metrics=("accuracy", "spearman"), n_boot=20,
                                   random_state=0)
    main = summary[summary["metric"].isin(["accuracy", "spearman"])]
    assert len(main) == 4 and len(boot) == 20 * 4
    assert (main["ci_low"] <= main["ci_high"]).all()
    assert set(summary["metric"]) >= {"abx_accuracy_EN", "abx_accuracy_FR"}
    with pytest.raises(ValueError, match="'metric' must be one of"):
        compare_humans(sub, ["mfccs"], metrics=("acc",), n_boot=0)
    with pytest.raises(DataError, match=r"No delta column\(s\) \['w2v'\]"):
        compare_humans(sub, ["w2v"], n_boot=0)


def _two_language_table(rng, effect):
    """Simulated FR and EN listeners on the same contrasts, with a planted
    native effect that a French- vs English-trained model shares or not."""
    rows = []
    contrasts = [(f"p{i}", f"q{i}") for i in range(25)]
    truth = rng.standard_normal(len(contrasts))
    for lang, sign in (("french", 1), ("english", -1)):
        for c, (tgt, oth) in enumerate(contrasts):
            for trip in range(4):
                for listener in range(6):
                    mean = 1.0 + 0.8 * sign * truth[c] / 2
                    rows.append({
                        "filename": f"EN{c}_{trip}", "individual": f"{lang}{listener}",
                        "correct_answer": np.clip(mean + rng.normal(0, 1.0), -3, 3),
                        "TGT": tgt, "OTH": oth, "prev_phone": "a",
                        "next_phone": "b", "stimulus_language": "EN",
                        "language": lang,
                        "model_fr": 1 + effect * truth[c] / 2 + rng.normal(0, 0.3),
                        "model_en": 1 - effect * truth[c] / 2 + rng.normal(0, 0.3)})
    return pd.DataFrame(rows)


def test_native_effect_planted_and_null(rng):
    planted = native_effect(_two_language_table(rng, effect=1.0), "model_fr",
                            "model_en")
    null = [native_effect(_two_language_table(np.random.default_rng(s), effect=0.0),
                          "model_fr", "model_en") for s in range(5)]
    # 25 contrasts: a planted shared effect gives r near 1; without it r is
    # centred on 0 (SD ~ 1/sqrt(24) = 0.2 per draw, 0.09 for the mean of 5)
    assert planted > 0.8
    assert abs(np.mean(null)) < 0.3, null
    with pytest.raises(DataError, match="needs trials of both 'french' and 'english'"):
        native_effect(_two_language_table(rng, 1.0).query("language == 'french'"),
                      "model_fr", "model_en")
    with pytest.raises(DataError, match="native_effect: no column 'model_de'"):
        native_effect(_two_language_table(rng, 1.0), "model_de", "model_en")


def test_contrast_means_symmetrised(released):
    c = contrast_means(released, ["mfccs"])
    pairs = set(zip(c["TGT"], c["OTH"], c["stimulus_language"], strict=True))
    assert all((o, t, lang) in pairs for t, o, lang in pairs)


def test_read_humans_errors(tmp_path, released):
    path = tmp_path / "h.csv"
    released.drop(columns=["nb_stimuli", "TGT_first_code"]).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"h.csv: missing required column\(s\) "
                                        r"\['TGT_first_code', 'nb_stimuli'\]"):
        read_humans(path)
    bad = released.head(5).copy()
    bad["binarized_answer"] = [1, -1, 0, 1, 1]
    bad.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"h.csv, line 4: column 'binarized_answer' "
                                        r"must be -1 or 1, got 0"):
        read_humans(path)
    bad = released.head(3).astype({"nb_stimuli": object})
    bad.loc[bad.index[1], "nb_stimuli"] = "many"
    bad.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"h.csv, line 3: column 'nb_stimuli' must be "
                                        r"numeric, got 'many'"):
        read_humans(path)
    with pytest.raises(DataError, match=r"no model column\(s\) \['w2v'\]"):
        released.head(3).to_csv(path, index=False)
        read_humans(path, models=["w2v"])
    with pytest.raises(FileNotFoundError, match="Human answers file not found"):
        read_humans(tmp_path / "none.csv")


def test_attach_deltas(released):
    trip = released.drop_duplicates("filename")[["filename", "mfccs"]]
    deltas = trip.rename(columns={"filename": "triplet_id", "mfccs": "delta"})
    out = attach_deltas(released, deltas, name="m")
    np.testing.assert_allclose(out["m"], released["mfccs"], rtol=0)
    with pytest.raises(DataError, match=r"Triplet '.*' of the human answers has no "
                                        r"model delta \(column 'm'\)"):
        attach_deltas(released, deltas.iloc[1:], name="m")


def test_native_effect_in_compare_and_cli(rng, tmp_path):
    from tests.conftest import run_cli

    table = _two_language_table(rng, effect=1.0)
    table["binarized_answer"] = np.where(table["correct_answer"] > 0, 1, -1)
    table["TGT_first_code"] = rng.integers(0, 2, len(table))
    table["nb_stimuli"] = rng.integers(1, 100, len(table))
    summary, boot = compare_humans(table, [], native=[("model_fr", "model_en")],
                                   n_boot=4, random_state=0)
    row = summary[summary["metric"] == "native_effect"].iloc[0]
    assert row["model"] == "model_fr-model_en" and row["value"] > 0.8
    assert row["ci_low"] <= row["ci_high"] and len(boot) == 4
    path = tmp_path / "two.csv"
    table.drop(columns="stimulus_language").to_csv(path, index=False)
    code, out, err = run_cli(["abx-humans", "--humans", path, "--out", tmp_path / "c",
                              "--native", "model_fr:model_en", "--n-boot", "2"])
    assert code == 0, err
    got = pd.read_csv(tmp_path / "c" / "humans_summary.tsv", sep="\t")
    assert list(got["metric"]) == ["native_effect"]
    np.testing.assert_allclose(got["value"], row["value"], rtol=1e-12)
    code, _, err = run_cli(["abx-humans", "--humans", path, "--out", tmp_path / "d",
                            "--native", "model_fr"])
    assert code == 2 and "--native needs FR_COL:EN_COL" in err
