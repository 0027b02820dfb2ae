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
    with pytest.raises(TypeError, match="'n' must be an instance of int or float, got str"):
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
    with pytest.raises(ValueError, match=r"'X' must have at least 3 sample\(s\), got shape \(2, 2\)"):
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
