import numpy as np
import pytest

from brainscore_speech._validation import (
    check_finite,
    check_n_samples,
    check_option,
    check_random_state,
    check_shapes,
    check_type,
    check_unknown_keys,
    suggest,
)


def test_check_option_suggests_nearest():
    assert check_option("hrf_model", "spm", ["glover", "spm"]) == "spm"
    with pytest.raises(ValueError, match=r"'hrf_model' must be one of \['glover', "
                       r"'spm'\], got 'spn'. Did you mean 'spm'\?"):
        check_option("hrf_model", "spn", ["glover", "spm"])


def test_check_option_without_close_match_has_no_suggestion():
    with pytest.raises(ValueError, match=r"got 'zzzz'\.$"):
        check_option("hrf_model", "zzzz", ["glover", "spm"])
    assert suggest("zzzz", ["glover"]) == ""


def test_check_type():
    assert check_type("n", 3, int) == 3
    with pytest.raises(TypeError, match="'n' must be an instance of int or float, got "
                                        "str"):
        check_type("n", "3", (int, float))


def test_check_shapes_reports_every_shape():
    X, Y = np.zeros((300, 768)), np.zeros((298, 20))
    with pytest.raises(ValueError, match=r"X and Y must have the same number of "
                       r"samples \(TRs\); got X: \(300, 768\), Y: \(298, 20\)"):
        check_shapes(X=X, Y=Y, what="samples (TRs)")
    assert check_shapes(X=X, Y=np.zeros((300, 2))) == 300
    with pytest.raises(ValueError, match=r"'X' must be a 2-D array, got shape \(3,\)"):
        check_shapes(X=np.zeros(3), ndim=2)


def test_check_finite_locates_first_bad_value():
    a = np.ones((4, 3))
    a[2, 1] = np.nan
    a[3, 0] = np.inf
    with pytest.raises(ValueError, match=r"'Y' contains 2 non-finite value\(s\) "
                       r"\(NaN or inf\), first at index \(2, 1\); shape \(4, 3\)"):
        check_finite("Y", a)
    np.testing.assert_array_equal(check_finite("ok", np.arange(3)), np.arange(3))


def test_check_n_samples():
    check_n_samples("X", np.zeros((2, 2)), 2)
    with pytest.raises(ValueError, match=r"'X' must have at least 3 sample\(s\), got "
                                         r"shape \(2, 2\)"):
        check_n_samples("X", np.zeros((2, 2)), 3)


def test_check_random_state():
    g = np.random.default_rng(0)
    assert check_random_state(g) is g
    a = check_random_state(5).integers(0, 1000, 5)
    b = check_random_state(5).integers(0, 1000, 5)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="'random_state' must be an int, a numpy "
                       "Generator or None, got str"):
        check_random_state("0")


def test_check_unknown_keys():
    check_unknown_keys("config", {"lr": 1}, ["lr", "seed"])
    with pytest.raises(ValueError, match=r"Unknown key 'sed' in config; valid keys "
                       r"are \['lr', 'seed'\]. Did you mean 'seed'\?"):
        check_unknown_keys("config", {"sed": 1}, ["lr", "seed"])


# ---------------------------------------------------------------- check_scalar / int
from brainscore_speech._validation import check_int, check_path, check_scalar  # noqa: E402
from brainscore_speech.exceptions import UsageError  # noqa: E402


@pytest.mark.parametrize("kwargs, value, message", [
    ({"low": 0, "inclusive": "neither"}, 0, r"^'x' must be > 0, got 0\.$"),
    ({"low": 0}, -1, r"^'x' must be >= 0, got -1\.$"),
    ({"low": 0, "high": 1, "inclusive": "neither"}, 1.5,
     r"^'x' must be > 0 and < 1, got 1\.5\.$"),
    ({"low": 0, "high": 1, "inclusive": "left"}, 1, r"^'x' must be >= 0 and < 1, "
     r"got 1\.$"),
    ({"low": 0, "high": 1, "inclusive": "right"}, 0, r"^'x' must be > 0 and <= 1, "
     r"got 0\.$"),
    ({"high": 10, "unit": " s"}, 11, r"^'x' must be <= 10 s, got 11\.$"),
    ({"low": 0, "inclusive": "neither", "expected": "positive"}, -2,
     r"^'x' must be positive, got -2\.$"),
    ({}, "3", r"^'x' must be a finite number, got '3'\.$"),
    ({}, True, r"^'x' must be a finite number, got True\.$"),
    ({}, float("nan"), r"^'x' must be a finite number, got nan\.$"),
    ({}, None, r"^'x' must be a finite number, got None\.$"),
    ({"expected": "a positive number"}, "a", r"^'x' must be a positive number, "
     r"got 'a'\.$"),
])
def test_check_scalar_refuses(kwargs, value, message):
    with pytest.raises(UsageError, match=message):
        check_scalar("x", value, **kwargs)


def test_check_scalar_accepts_and_returns_unchanged():
    assert check_scalar("x", 0, low=0) == 0
    assert check_scalar("x", 1, low=0, high=1, inclusive="right") == 1
    assert check_scalar("x", np.float32(0.5), low=0, high=1) == np.float32(0.5)
    assert check_scalar("x", None, allow_none=True) is None
    with pytest.raises(UsageError, match=r"^'inclusive' must be one of \['both'"):
        check_scalar("x", 1, inclusive="open")


@pytest.mark.parametrize("kwargs, value, message", [
    ({"low": 1}, 0, r"^'n' must be an integer >= 1, got 0\.$"),
    ({"low": 1, "high": 3}, 4, r"^'n' must be an integer >= 1 and <= 3, got 4\.$"),
    ({}, 1.5, r"^'n' must be an integer, got 1\.5\.$"),
    ({}, "2", r"^'n' must be an integer, got '2'\.$"),
    ({}, False, r"^'n' must be an integer, got False\.$"),
    ({"low": 1, "expected": "a positive integer"}, -1,
     r"^'n' must be a positive integer, got -1\.$"),
])
def test_check_int_refuses(kwargs, value, message):
    with pytest.raises(UsageError, match=message):
        check_int("n", value, **kwargs)


def test_check_int_returns_int():
    assert check_int("n", np.int64(3), low=1) == 3
    assert type(check_int("n", 3.0)) is int
    assert check_int("n", None, allow_none=True) is None


# ---------------------------------------------------------------------- check_path
def test_check_path_existing(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("x")
    assert check_path(str(f), "atlas") == f
    assert check_path(tmp_path, "root", kind="dir") == tmp_path
    assert check_path(f, "p", kind="any") == f
    assert check_path(tmp_path / "new.txt", "out", must_exist=False) == \
        tmp_path / "new.txt"


def test_check_path_messages(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("x")
    with pytest.raises(FileNotFoundError, match=r"^'atlas' file not found: .*nope$"):
        check_path(tmp_path / "nope", "atlas")
    with pytest.raises(FileNotFoundError, match=r"^'root' folder not found: "):
        check_path(tmp_path / "nope", "root", kind="dir")
    with pytest.raises(FileNotFoundError, match=r"^'p' not found: "):
        check_path(tmp_path / "nope", "p", kind="any")
    with pytest.raises(FileNotFoundError, match=r"^Brain mask not found: .*nope$"):
        check_path(tmp_path / "nope", "mask_img", what="Brain mask")
    with pytest.raises(IsADirectoryError,
                       match=r"^'atlas' file .* is a folder, expected a file\.$"):
        check_path(tmp_path, "atlas")
    with pytest.raises(NotADirectoryError,
                       match=r"^'root' folder .*a.txt is a file, expected a folder\.$"):
        check_path(f, "root", kind="dir")
    with pytest.raises(NotADirectoryError, match=r"is a file, expected a folder"):
        check_path(f, "out", must_exist=False, kind="dir")
    with pytest.raises(TypeError, match=r"^'atlas' must be a path \(str or "
                       r"os.PathLike\), got int\.$"):
        check_path(3, "atlas")
    with pytest.raises(UsageError, match=r"^'kind' must be one of \['file', 'dir'"):
        check_path(f, "atlas", kind="folder")
