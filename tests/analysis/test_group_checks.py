"""analysis/_group_checks.py: the group stage refuses bad parameters and missing
layers before writing anything."""

import numpy as np
import pytest

from brainscore_speech.analysis._group_checks import (
    check_group_layers,
    check_group_params,
)
from brainscore_speech.containers import LayerScores
from brainscore_speech.exceptions import UsageError


@pytest.mark.parametrize("kwargs, message", [
    ({"alpha": 0}, r"^'alpha' must be > 0 and < 1, got 0\.$"),
    ({"alpha": 1.0}, r"^'alpha' must be > 0 and < 1, got 1\.0\.$"),
    ({"n_permutations": 0}, r"^'n_permutations' must be >= 1, got 0\.$"),
    ({"n_permutations": 2.5}, r"^'n_permutations' must be an integer, got 2\.5\.$"),
    ({"n_bootstrap": -1}, r"^'n_bootstrap' must be >= 0, got -1\.$"),
])
def test_check_group_params_refuses(tmp_path, kwargs, message):
    params = {"alpha": 0.05, "n_permutations": 10, "n_bootstrap": 0, **kwargs}
    with pytest.raises(UsageError, match=message):
        check_group_params(tmp_path / "g", **params)
    assert not (tmp_path / "g").exists()


def test_check_group_params_accepts_and_refuses_a_file(tmp_path):
    check_group_params(tmp_path / "g", alpha=0.05, n_permutations=1, n_bootstrap=0)
    f = tmp_path / "afile"
    f.write_text("x")
    with pytest.raises(UsageError, match="is a file, expected a folder"):
        check_group_params(f, alpha=0.05, n_permutations=1, n_bootstrap=0)


def _ls(subject, layers):
    s = np.zeros((len(layers), 2, 3))
    return LayerScores(scores=s, best_alphas=np.ones_like(s), layer_names=layers,
                       subject=subject, model_id="m")


def test_check_group_layers():
    by_model = {"m": [_ls("01", ["stage1", "stage2"]), _ls("02", ["stage1"])]}
    check_group_layers(by_model, None)
    check_group_layers(by_model, ["stage1"])
    with pytest.raises(UsageError, match=r"^Layer 'stage2' is missing from sub-02 "
                       r"\(model 'm'\); it has \['stage1'\]\. Did you mean "
                       r"'stage1'\?$"):
        check_group_layers(by_model, ["stage1", "stage2"])
    with pytest.raises(UsageError, match=r"^Layer 'transf9' is missing from sub-01 "
                       r"\(model 'm'\); it has \['stage1', 'stage2'\]\.$"):
        check_group_layers(by_model, ["transf9"])
