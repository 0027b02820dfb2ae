"""Every fixed-choice option of every command: an invalid value is a usage error.

typer checks the ``Literal`` choices of ``brainscore_speech/cli/_choices.py`` while
parsing, so a wrong value exits 2 with one ``Error`` line and no traceback, before
any file is read. The lists are spelled out in the CLI (no torch import for
``--help``); the second test pins each one to the library's own list.
"""

from __future__ import annotations

import re
import typing

import pytest

from brainscore_speech.cli import _choices
from tests.conftest import run_cli

# (command words, the option, an invalid value, required arguments)
CASES = [
    (["score", "B"], "--repeated", "all",
     ["--subject", "01", "--activations", "A", "--out", "O"]),
    (["score", "B"], "--solver", "cholesky",
     ["--subject", "01", "--activations", "A", "--out", "O"]),
    (["group", "D"], "--test", "wilcox", ["--out", "O"]),
    (["group", "D"], "--layer-axis", "width", ["--out", "O"]),
    (["extract"], "--mode", "rolling", ["--model", "M", "--stimuli", "S", "--out",
                                        "O"]),
    (["extract"], "--dtype", "float8", ["--model", "M", "--stimuli", "S", "--out",
                                        "O"]),
    (["train"], "--preset", "huge", ["--out", "O"]),
    (["train"], "--objective", "data2vec", ["--out", "O"]),
    (["simulate", "O"], "--space", "fsaverage6", []),
    (["simulate", "O"], "--language", "de", []),
    (["simulate", "O"], "--generator", "toy", []),
    (["simulate", "O"], "--mode", "planted", []),
    (["abx"], "--distance", "manhattan", ["--items", "I", "--out", "O"]),
    (["abx"], "--dtw-norm", "mean", ["--items", "I", "--out", "O"]),
    (["abx"], "--context", "utterance", ["--items", "I", "--out", "O"]),
    (["abx"], "--baseline", "fbank", ["--items", "I", "--out", "O"]),
    (["corpus", "synth", "O"], "--kind", "music", []),
]


@pytest.mark.parametrize("words, option, bad, required", CASES,
                         ids=[f"{c[0][0]}{c[1]}" for c in CASES])
def test_invalid_choice_is_a_usage_error(words, option, bad, required, tmp_path,
                                         monkeypatch):
    monkeypatch.chdir(tmp_path)  # the dummy paths are never created
    code, out, err = run_cli([*words, option, bad, *required])
    assert code == 2, err
    assert "Traceback" not in out + err
    assert len([ln for ln in err.splitlines() if "Error" in ln]) == 1, err
    name = option[2:].replace("-", "_")
    assert re.fullmatch(rf"Error: '{name}' must be one of \[.*\], got '{bad}'\.( Did "
                        r"you mean '.*'\?)?", err.strip().splitlines()[-1]), err
    assert not list(tmp_path.iterdir())  # refused before any work


# free-form options whose invalid values the library refuses (still exit 2)
LIBRARY_CASES = [
    (["group", "D", "--out", "O", "--reduce", ""],
     r"'reduce' must be one of \['cv', 'mean', 'max'\] or a layer name, got ''"),
    (["demo", "O", "--objectives", "wav2vec2,hubrt"],
     r"'--objectives' must be one of \['wav2vec2', 'hubert', 'wavlm'\], got 'hubrt'"),
]


@pytest.mark.parametrize("args, message", LIBRARY_CASES,
                         ids=[c[0][0] + "-" + c[0][-2] for c in LIBRARY_CASES])
def test_free_form_option_refused_with_exit_2(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "D").mkdir()
    code, out, err = run_cli(args)
    assert code == 2, err
    assert "Traceback" not in out + err
    assert re.search(message, err), err
    assert err.strip().splitlines()[-1].startswith("Error: ")


def test_choice_message_is_the_library_one():
    code, _, err = run_cli(["group", "D", "--out", "O", "--test", "wilcox"])
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        "Error: 'test' must be one of ['auto', 'wilcoxon', 'signflip', 'ttest'], got "
        "'wilcox'. Did you mean 'wilcoxon'?")
    assert err.startswith("Usage: brainscore-speech group")
    from brainscore_speech.cli._choices import choice_error

    other = ValueError("something else")
    assert choice_error(other) is other


def test_choices_match_the_library():
    from brainscore_speech.analysis.depth import LAYER_AXES
    from brainscore_speech.behaviour.dtw import DISTANCES, NORMALIZATIONS
    from brainscore_speech.behaviour.run import CONTEXTS
    from brainscore_speech.data import simulate
    from brainscore_speech.encoding.scoring import SEARCH_DTYPES, SOLVERS
    from brainscore_speech.features.extract import DTYPES, MODES
    from brainscore_speech.training.config import OBJECTIVES, PRESETS
    from brainscore_speech.workflows.score import REPEATED_STIMULI

    want = {
        "Repeated": REPEATED_STIMULI, "Solver": SOLVERS, "SearchDtype": SEARCH_DTYPES,
        "GroupTest": ("auto", "wilcoxon", "signflip", "ttest"),
        "LayerAxis": LAYER_AXES, "ExtractMode": MODES, "ExtractDtype": tuple(DTYPES),
        "Preset": PRESETS, "Objective": OBJECTIVES,
        "Generator": simulate.GENERATORS, "SimMode": simulate.MODES,
        "Distance": DISTANCES, "DtwNorm": NORMALIZATIONS, "AbxContext": CONTEXTS,
    }
    for name, values in want.items():
        assert set(typing.get_args(getattr(_choices, name))) == set(values), name
    from brainscore_speech.analysis.group import run_group  # the library refuses too
    from brainscore_speech.exceptions import UsageError

    with pytest.raises(UsageError, match=r"'test' must be one of \['auto', "):
        run_group(".", ".", test="anova")
