"""Group statistics: null calibration across seeds, planted effects, errors."""

import numpy as np
import pytest
from scipy import stats

from brainscore_speech.analysis import (
    cluster_test,
    fdr_by_hemi,
    group_test,
    hemi_slices,
    make_synthetic_mesh,
    mesh_adjacency,
    signflip_pvalues,
)

N_SEEDS = 50
ALPHA = 0.05
# Rejection-rate bound: under the global null, FDR (BH) and the cluster test both
# control the family-wise error at alpha, so the fraction of seeds with any
# rejection is a binomial proportion with mean <= alpha; we allow 3 standard
# errors of that proportion over N_SEEDS seeds (0.05 + 3 * 0.0308 = 0.142).
BOUND = ALPHA + 3 * np.sqrt(ALPHA * (1 - ALPHA) / N_SEEDS)


N_SUB = 20  # Wilcoxon/sign-flip floor 2 / 2**20: BH can reject (10 subjects: never)
HEMI = {"L": 50, "R": 50}
N_TARGETS = sum(HEMI.values())
# BH over 50 targets per hemisphere rejects only if some p <= 0.05 / 50 = 0.001;
# with 2000 random sign patterns the sign-flip p-value can reach 1/2001.
N_PERM = 2000


def _null(seed, n_sub=N_SUB, n_targets=N_TARGETS):
    return np.random.default_rng(seed).normal(size=(n_sub, n_targets))


@pytest.mark.parametrize("test", ["wilcoxon", "signflip", "ttest"])
def test_group_test_null_calibration_vertexwise(test):
    from brainscore_speech.analysis.stats import min_attainable_p

    floor = 1 / (N_PERM + 1) if test == "signflip" else min_attainable_p(test, N_SUB)
    assert floor < ALPHA / max(HEMI.values())  # the calibration is not vacuous
    rejected, power, false_pos = [], [], []
    planted = np.zeros(N_TARGETS, bool)
    planted[:10] = planted[50:60] = True
    for s in range(N_SEEDS):
        gm = group_test(_null(s), test=test, hemi_sizes=HEMI, n_permutations=N_PERM,
                        random_state=s)
        assert gm.n_subjects == N_SUB
        rejected.append(gm.mask.any())  # family-wise: any rejection under the null
        false_pos.append(gm.mask.mean())
        # the same data with a planted effect (d = 1) on 20 of the 100 targets
        x = _null(s)
        x[:, planted] += 1.0
        gm = group_test(x, test=test, hemi_sizes=HEMI, n_permutations=N_PERM,
                        random_state=s)
        power.append(gm.mask[planted].mean())
        false_pos.append(gm.mask[~planted].mean())
    rate = np.mean(rejected)
    print(f"\n[calibration] {test}+FDR, {N_SUB} subjects, {N_TARGETS} targets, "
          f"{N_SEEDS} seeds: null rejection rate {rate:.3f} (bound {BOUND:.3f}); "
          f"planted-effect power {np.mean(power):.3f}; mean false-positive rate "
          f"{np.mean(false_pos):.4f}")
    assert rate <= BOUND
    assert np.mean(power) > 0.9
    assert np.mean(false_pos) < 0.01


def test_cluster_test_null_calibration():
    _, faces = make_synthetic_mesh(12)  # 144 vertices per hemisphere
    adj = mesh_adjacency(faces)
    rejected = []
    for s in range(N_SEEDS):
        x = _null(s, n_sub=10, n_targets=288)
        gm = group_test(x, test="cluster", adjacency={"L": adj, "R": adj},
                        hemi_sizes={"L": 144, "R": 144}, n_permutations=128,
                        random_state=s)
        rejected.append(gm.mask.any())
    # 128 permutations: the smallest cluster p-value is 1/128 < 0.05, so the
    # test can reject (planted clusters are found in the test below)
    print(f"\n[calibration] cluster, 10 subjects, {N_SEEDS} seeds: null rejection "
          f"rate {np.mean(rejected):.3f} (bound {BOUND:.3f})")
    assert np.mean(rejected) <= BOUND


def test_planted_effect_detected_by_every_test():
    rng = np.random.default_rng(0)
    _, faces = make_synthetic_mesh(12)
    adj = mesh_adjacency(faces)
    x = rng.normal(size=(12, 288))
    effect = np.zeros(288, bool)
    effect[:40] = True  # a contiguous block of rows 0-3 of the left grid
    x[:, effect] += 1.5
    for test in ("wilcoxon", "signflip", "cluster"):
        gm = group_test(x, test=test, hemi_sizes={"L": 144, "R": 144},
                        adjacency={"L": adj, "R": adj}, n_permutations=256)
        assert gm.n_subjects == 12
        # power: most planted vertices found, few false positives
        assert gm.mask[effect].mean() > 0.8, test
        assert gm.mask[~effect].mean() < 0.1, test
        assert gm.extra["n_significant"]["L"] >= 32


def test_wilcoxon_matches_scipy_and_fdr_is_per_hemisphere():
    x = np.random.default_rng(1).normal(0.3, 1, size=(9, 40))
    gm = group_test(x, test="wilcoxon", hemi_sizes={"L": 20, "R": 20})
    np.testing.assert_allclose(gm.p_values, stats.wilcoxon(x, axis=0).pvalue,
                               rtol=1e-12)
    from mne.stats import fdr_correction

    _, left = fdr_correction(gm.p_values[:20])
    np.testing.assert_allclose(gm.p_fdr[:20], left, rtol=1e-12)
    np.testing.assert_allclose(gm.statistic, x.mean(0), rtol=1e-12)


def test_signflip_exact_for_few_subjects():
    x = np.ones((5, 3))
    x[:, 2] = [1, -1, 1, -1, 0.5]
    p = signflip_pvalues(x, n_permutations=1000)
    # 2**5 = 32 patterns; all-positive column: only +-all-ones reach |mean| = 1
    np.testing.assert_allclose(p[:2], 2 / 32, rtol=1e-12)
    assert p[2] > 0.5


def test_constant_and_nan_targets():
    x = np.zeros((6, 3))
    x[:, 1] = np.nan
    x[:, 2] = np.arange(1, 7)
    gm = group_test(x)
    assert gm.p_values[0] == 1.0 and np.isnan(gm.p_values[1])
    assert not gm.mask[1]
    rej, p_fdr = fdr_by_hemi(np.array([0.001, np.nan]))
    assert rej[0] and np.isnan(p_fdr[1])


def test_ttest_matches_scipy_and_works_with_three_subjects():
    from scipy import stats

    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 1.0, (3, 200))
    x[:, :50] += 5.0  # a strong planted effect on the first 50 targets
    gm = group_test(x, test="ttest", hemi_sizes={"L": 100, "R": 100})
    np.testing.assert_allclose(gm.p_values, stats.ttest_1samp(x, 0, axis=0).pvalue,
                               rtol=1e-10)
    assert gm.n_subjects == 3 and gm.mask[:50].mean() > 0.5
    # the null targets: FDR keeps false positives rare
    assert gm.mask[50:].mean() < 0.05


def test_underpowered_nonparametric_test_warns():
    from brainscore_speech.analysis.stats import min_attainable_p
    from brainscore_speech.exceptions import BrainscoreWarning

    assert min_attainable_p("wilcoxon", 3) == 0.25 and min_attainable_p("ttest", 3) == 0
    # sign-flip: exhaustive below 2**n <= n_permutations, else 1 / (n_perm + 1)
    assert min_attainable_p("signflip", 3, n_permutations=1000) == 0.25
    assert min_attainable_p("signflip", 20, n_permutations=10) == pytest.approx(1 / 11)
    with pytest.warns(BrainscoreWarning, match=r"signflip test can reach is 0.0909 > "
                      r"alpha=0.05: nothing can be significant. Use more permutations"):
        group_test(np.ones((20, 4)), test="signflip", n_permutations=10)
    with pytest.warns(BrainscoreWarning, match=r"With n_subjects=3, the smallest "
                      r"p-value a wilcoxon test can reach is 0.25 > alpha=0.05"):
        gm = group_test(np.ones((3, 4)) + np.arange(4), test="wilcoxon")
    assert not gm.mask.any()


@pytest.mark.filterwarnings("ignore:With n_subjects")
def test_errors():
    with pytest.raises(ValueError, match=r"'test' must be one of"):
        group_test(np.zeros((3, 2)), test="tukey")
    with pytest.raises(ValueError, match="needs at least 2 subjects"):
        group_test(np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"must have shape \(n_subjects, n_targets\)"):
        group_test(np.zeros(3))
    with pytest.raises(ValueError, match=r"'alpha' must be in \(0, 1\)"):
        group_test(np.ones((3, 2)), alpha=2)
    with pytest.raises(ValueError, match="needs 'adjacency'"):
        group_test(np.ones((3, 2)), test="cluster")
    with pytest.raises(ValueError, match="add up to 5 targets, but the data have 4"):
        hemi_slices(4, {"L": 2, "R": 3})
    with pytest.raises(ValueError, match=r"'faces' must have shape \(n_faces, 3\)"):
        mesh_adjacency(np.zeros((3, 2)))
    _, faces = make_synthetic_mesh(3)
    adj = mesh_adjacency(faces)
    with pytest.raises(ValueError, match="data and the mesh do not match"):
        cluster_test(np.ones((4, 10)), adj)
    with pytest.raises(ValueError, match="one matrix per hemisphere"):
        cluster_test(np.ones((4, 18)), adj, hemi_sizes={"L": 9, "R": 9})
    with pytest.raises(ValueError, match="No adjacency for hemisphere 'R'"):
        cluster_test(np.ones((4, 18)), {"L": adj}, hemi_sizes={"L": 9, "R": 9})
    with pytest.raises(ValueError, match="'n_side' must be >= 2"):
        make_synthetic_mesh(1)


def test_selection_correction_controls_best_of_layers_bias():
    """Testing the best of 5 null layers is biased; n_selected=5 restores the level."""
    rng = np.random.default_rng(3)
    x = rng.normal(0.0, 1.0, (12, 5, 4000))  # subjects x layers x targets, all null
    best = x.mean(axis=0).argmax(axis=0)
    at_best = x[:, best, np.arange(x.shape[2])]
    naive = group_test(at_best, test="ttest")
    fixed = group_test(at_best, test="ttest", n_selected=5)
    # uncorrected p < 0.05 rate: inflated by selection, bounded after correction
    assert (naive.p_values < 0.05).mean() > 0.08  # nominal 0.05; ~0.11 measured
    assert (fixed.p_values < 0.05).mean() <= 0.05
    assert fixed.extra["n_selected"] == 5
    with pytest.raises(ValueError, match="'n_selected' must be >= 1, got 0"):
        group_test(at_best, n_selected=0)
