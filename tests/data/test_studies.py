"""Study presets, checked against the real LPP and Narratives metadata."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from brainscore_speech.data.bold import (
    describe_runs,
    read_events,
    read_participant_language,
)
from brainscore_speech.data.studies import StudyPreset, list_studies, load_study
from brainscore_speech.exceptions import DataError


def _lpp(shared_data):
    return shared_data / "lpp" / "openneuro_ds003643_sidecars"


def _narr(shared_data):
    return shared_data / "narratives" / "openneuro_ds002345"


def _readme_table(readme: str) -> dict[str, dict[str, list[float]]]:
    """Parse the scans/audio table of the ds003643 README."""
    # Each block is: audio row (no label), labelled scan_raw row, scan_preproc row.
    out, lang, audio = {}, None, None
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 11 or cells[1] not in ("audio (s)", "scan_raw",
                                                "scan_preproc"):
            continue
        values = [float(c) for c in cells[2:]]
        if cells[1] == "audio (s)":
            audio = values
            continue
        if cells[0].strip("*"):
            lang = cells[0].strip("*")
            out[lang] = {"audio (s)": audio}
        out[lang][cells[1]] = values
    return out


def test_list_studies_bundled_presets():
    assert set(list_studies()) >= {"lpp-en", "lpp-fr", "lpp-cn", "narratives",
                                   "simulated"}
    for name in list_studies():
        assert load_study(name).name == name


def test_load_study_unknown_name_suggests():
    with pytest.raises(ValueError, match=r"'study' must be one of .*got 'lpp-em'.*"
                                         r"Did you mean 'lpp-en'"):
        load_study("lpp-em")


def test_load_study_unknown_key_suggests(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\ntr_S: 2.0\n")
    with pytest.raises(ValueError, match=r"Unknown key 'tr_S' in study preset .*"
                                         r"Did you mean 'tr_s'"):
        load_study(path)


def test_load_study_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="Study preset file not found"):
        load_study(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ValueError, match="Malformed YAML in study preset"):
        load_study(bad)
    notmap = tmp_path / "list.yaml"
    notmap.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="must be a mapping with at least a 'name'"):
        load_study(notmap)


def test_study_preset_validation():
    with pytest.raises(ValueError, match="'tr_s' must be positive"):
        StudyPreset(name="x", tr_s=0)
    with pytest.raises(ValueError, match="'scans_per_run' must have one entry per run"):
        StudyPreset(name="x", run_stimuli=("a", "b"), scans_per_run=(1,))
    with pytest.raises(ValueError, match="'run_stimuli' lists 2 stimuli but 'n_runs'"):
        StudyPreset(name="x", n_runs=3, run_stimuli=("a", "b"))
    with pytest.raises(ValueError, match="'duration_tolerance_s' must be >= 0"):
        StudyPreset(name="x", duration_tolerance_s=-1)


def test_study_onset_for():
    narr = load_study("narratives")
    assert narr.onset_for("black_audio", "black", 1.5) == pytest.approx(12.0)
    assert narr.onset_for("milkywayvodka_audio", "milkyway", 1.5) == 0.0
    assert narr.onset_for("unknown_audio", "unknown", 1.5) is None
    assert load_study("lpp-en").onset_for("lppEN_section1", "lppEN", 2.0) == 0.0
    assert load_study("lpp-en").expected_scans(8) == 368
    assert load_study("lpp-en").expected_scans(9) is None


@pytest.mark.parametrize("name,lang", [("lpp-en", "EN"), ("lpp-cn", "CN"),
                                       ("lpp-fr", "FR")])
def test_lpp_presets_match_readme_table(shared_data, name, lang):
    table = _readme_table((_lpp(shared_data) / "README").read_text())
    preset = load_study(name)
    np.testing.assert_allclose(preset.scans_per_run, table[lang]["scan_preproc"],
                               rtol=0, atol=0)
    np.testing.assert_allclose(preset.stimulus_durations_s, table[lang]["audio (s)"],
                               rtol=0, atol=1e-9)
    # The README's padding statement, checked on the table itself: preprocessed
    # scans cover the audio plus the preset's end padding, within one TR.
    covered = np.asarray(preset.scans_per_run) * preset.tr_s
    needed = np.asarray(preset.stimulus_durations_s) + preset.padding_end_s
    assert np.all(np.abs(covered - needed) <= preset.duration_tolerance_s + preset.tr_s)


@pytest.mark.parametrize("sub,name,first_run", [("EN057", "lpp-en", "15"),
                                                 ("CN001", "lpp-cn", "04"),
                                                 ("FR001", "lpp-fr", "01")])
def test_describe_runs_real_lpp_sidecars(shared_data, sub, name, first_run):
    preset = load_study(name)
    specs = describe_runs(_lpp(shared_data), sub, study=name)
    assert len(specs) == 9  # multi-echo sidecars collapse to one run each
    assert [s.run for s in specs][0] == first_run
    assert {s.tr_s for s in specs} == {2.0}
    assert {s.task for s in specs} == {preset.task}
    assert [s.stimulus for s in specs] == list(preset.run_stimuli)
    assert [s.expected_scans for s in specs] == list(preset.scans_per_run)
    assert all(s.onset_s == 0.0 for s in specs)
    # The sidecar itself says TR 2 s
    assert json.loads(specs[0].sidecar.read_text())["RepetitionTime"] == 2


def test_lpp_participants_counts_and_language(shared_data):
    import pandas as pd

    df = pd.read_csv(_lpp(shared_data) / "participants.tsv", sep="\t")
    ids = df.iloc[:, 0].astype(str)
    counts = {k: int(ids.str.startswith(f"sub-{k}").sum()) for k in ("EN", "CN", "FR")}
    assert counts == {"EN": 49, "CN": 35, "FR": 28}  # README: 49 / 35 / 28
    # No language column in ds003643: the preset supplies participant_language.
    assert read_participant_language(_lpp(shared_data), "EN057") is None
    assert load_study("lpp-en").language == "en"


NARRATIVE_SUBJECTS = ["001", "016", "022", "023", "034", "049", "075", "127"]


@pytest.mark.parametrize("sub", NARRATIVE_SUBJECTS)
def test_describe_runs_real_narratives(shared_data, sub):
    preset = load_study("narratives")
    root = _narr(shared_data)
    try:
        specs = describe_runs(root, sub, study="narratives")
    except FileNotFoundError:
        # sub-034 heard only an excluded task
        assert sub == "034"
        return
    assert {s.tr_s for s in specs} == {1.5}
    for spec in specs:
        assert spec.task not in preset.exclude_tasks
        stim, onset, _ = read_events(spec.events)
        # The onset in events.tsv equals the preset's TR offset (METHODS 2.1).
        assert spec.onset_s == pytest.approx(onset, abs=1e-9), spec.key
        assert spec.onset_s / 1.5 == pytest.approx(
            preset.onset_trs[stim.removesuffix("_audio")], abs=1e-9)


def test_narratives_exclusions(shared_data):
    root = _narr(shared_data)
    tasks = {s.task for s in describe_runs(root, "016", study="narratives")}
    assert tasks == {"notthefallintact", "slumlordreach"}
    tasks = {s.task for s in describe_runs(root, "049", study="narratives")}
    assert tasks == {"shapesphysical", "shapessocial"}


def test_read_events_real_narratives(shared_data):
    root = _narr(shared_data)
    stim, onset, duration = read_events(
        root / "sub-001" / "func" / "sub-001_task-pieman_run-1_events.tsv")
    assert (stim, onset, duration) == ("pieman_audio", 0.0, 437.0)
    stim, onset, duration = read_events(
        root / "sub-127" / "func" / "sub-127_task-black_events.tsv")
    assert (stim, onset, duration) == ("black_audio", 12.0, 800.0)


def test_read_events_no_stim_file(tmp_path):
    path = tmp_path / "sub-01_task-x_events.tsv"
    path.write_text("onset\tduration\ttrial_type\tstim_file\n5\t189\tmovie\tn/a\n")
    with pytest.raises(DataError, match="has no row with a 'stim_file'"):
        read_events(path)


def test_read_events_missing_columns(tmp_path):
    path = tmp_path / "sub-01_task-x_events.tsv"
    path.write_text("onset\tduration\n0\t1\n")
    with pytest.raises(DataError, match=r"must have columns onset, duration and "
                                        r"stim_file; missing \['stim_file'\]"):
        read_events(path)


def test_describe_runs_tr_mismatch_with_preset(shared_data, tmp_path):
    src = _lpp(shared_data) / "sub-EN057" / "func"
    dst = tmp_path / "sub-EN057" / "func"
    dst.mkdir(parents=True)
    for f in sorted(src.glob("*echo-1_bold.json")):
        meta = json.loads(f.read_text())
        if "run-17" in f.name:
            meta["RepetitionTime"] = 2.5
        (dst / f.name).write_text(json.dumps(meta))
    with pytest.raises(DataError, match=re.escape("run-17_echo-1_bold.json has "
                                                  "RepetitionTime 2.5 s but study "
                                                  "'lpp-en' expects 2.0 s")):
        describe_runs(tmp_path, "EN057", study="lpp-en")


def test_describe_runs_missing_runs_with_preset(shared_data, tmp_path):
    src = _lpp(shared_data) / "sub-EN057" / "func"
    dst = tmp_path / "sub-EN057" / "func"
    dst.mkdir(parents=True)
    for f in sorted(src.glob("*echo-1_bold.json"))[:8]:
        shutil.copy(f, dst / f.name)
    with pytest.raises(DataError, match=r"sub-EN057 task-lppEN: expected 9 runs "
                                        r"\(study 'lpp-en'\), found 8"):
        describe_runs(tmp_path, "EN057", study="lpp-en")


def test_describe_runs_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No BOLD sidecar .* found for sub-09"):
        describe_runs(tmp_path, "09")
    func = tmp_path / "sub-01" / "func"
    func.mkdir(parents=True)
    (func / "sub-01_task-a_bold.json").write_text(json.dumps({"TaskName": "a"}))
    with pytest.raises(DataError, match="has no 'RepetitionTime'"):
        describe_runs(tmp_path, "01")
    (func / "sub-01_task-a_bold.json").write_text(json.dumps({"RepetitionTime": 2}))
    with pytest.raises(DataError, match="no events.tsv next to .* and no study preset"):
        describe_runs(tmp_path, "01")
