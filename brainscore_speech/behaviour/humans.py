"""Agreement of model ABX deltas with human listeners' answers (Perceptimatic).

The human table has one row per (triplet, listener) trial, in the layout of the
released ``humans_and_model.csv`` (Millet & Dunbar, CogSci 2020):

=================  =======================================================
``filename``       triplet id (``EN...``/``FR...``: the stimulus language)
``individual``     listener id
``correct_answer`` answer on the -3..3 scale (> 0: chose TGT, the correct item)
``binarized_answer`` -1 / 1
``TGT_first_code`` 1 when TGT was played first
``nb_stimuli``     number of trials heard so far
``TGT``, ``OTH``   centre phones of TGT (= X) and OTH
``prev_phone``, ``next_phone``  context
=================  =======================================================

plus one column per model holding its delta for the row's triplet (the
released file has seven). The metrics follow the published scripts
(``JAMJU/Cogsci2020-Perceptimatic-English``, ``JAMJU/Sel_supervised_models_
perception_biases``; METHODS.md §12):

accuracy
    mean over trials of ``[delta > 0] == [answer > 0]`` (agreement with the
    listener's choice); ``abx_accuracy`` is the model's own mean of
    ``delta > 0`` over distinct triplets, per stimulus language.
log-likelihood
    statsmodels probit of the binarised answer on ``TGT_first_code +
    nb_stimuli + C(individual) + delta`` (the CogSci 2020 formula); the
    log-likelihood of the fit (higher: the model predicts humans better).
spearman
    answers (divided by 3: the -3..3 scale) and deltas averaged per triplet,
    then context, then phone contrast (TGT, OTH, stimulus language), symmetrised
    over TGT/OTH order; ``|rho|`` between the two.
native effect
    per contrast, French minus English listeners' mean answer against the
    French-trained model's delta on the French listeners' trials minus the
    English-trained model's on the English listeners' (each model's deltas
    divided by their standard deviation within its listener group); Pearson r
    across contrasts.

Bootstrap: ``per_triplet`` responses (default 3, as CogSci 2020; ACL 2022 used 5)
are drawn with replacement for every triplet, the metric is recomputed, and the
95 % interval is the 2.5 and 97.5 percentiles of the resamples.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from .._logging import progress
from .._validation import check_path, check_random_state, suggest
from ..exceptions import DataError

__all__ = [
    "HUMAN_COLUMNS",
    "read_humans",
    "attach_deltas",
    "agreement_accuracy",
    "abx_accuracy",
    "probit_loglik",
    "spearman_contrast",
    "contrast_means",
    "native_effect",
    "bootstrap_samples",
    "compare_humans",
]

HUMAN_COLUMNS = ("filename", "individual", "correct_answer", "binarized_answer",
                 "TGT_first_code", "nb_stimuli", "TGT", "OTH", "prev_phone",
                 "next_phone")
_NUMERIC = ("correct_answer", "binarized_answer", "TGT_first_code", "nb_stimuli")


def read_humans(path: str | os.PathLike, *, models: Sequence[str] = ()
                ) -> pd.DataFrame:
    """Read and validate a per-trial human table (see the module docstring).

    Parameters
    ----------
    path : path-like
        ``.csv`` (comma) or ``.tsv`` (tab).
    models : sequence of str, optional
        Model delta columns that must be present and numeric.

    Returns
    -------
    humans : DataFrame
        With an added ``stimulus_language`` column (``filename[:2]``, e.g. "EN",
        unless the file has one).

    Raises
    ------
    FileNotFoundError
    DataError
        Missing required columns (all are listed), a non-numeric value in a
        numeric column (the message names the file, line and column) or a
        binarised answer other than -1/1.
    """
    path = check_path(path, "path", what="Human answers file")
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        df = pd.read_csv(path, sep=sep, dtype={"filename": str, "individual": str})
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise DataError(f"Cannot parse {path}: {str(e).strip().splitlines()[0]}"
                        ) from None
    missing = [c for c in HUMAN_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing required column(s) {missing}; found "
                        f"{list(df.columns)}." + suggest(missing[0], list(df.columns)))
    absent = [m for m in models if m not in df.columns]
    if absent:
        raise DataError(f"{path}: no model column(s) {absent}; columns are "
                        f"{list(df.columns)}." + suggest(absent[0], list(df.columns)))
    for col in (*_NUMERIC, *models):
        values = pd.to_numeric(df[col], errors="coerce")
        bad = np.flatnonzero(~np.isfinite(values.to_numpy(dtype=float)))
        if bad.size:
            raise DataError(f"{path}, line {bad[0] + 2}: column {col!r} must be "
                            f"numeric, got {df[col].iloc[bad[0]]!r}.")
        df[col] = values
    bad = np.flatnonzero(~df["binarized_answer"].isin([-1, 1]).to_numpy())
    if bad.size:
        raise DataError(f"{path}, line {bad[0] + 2}: column 'binarized_answer' must "
                        f"be -1 or 1, got {df['binarized_answer'].iloc[bad[0]]:g}.")
    if "stimulus_language" not in df.columns:
        df["stimulus_language"] = df["filename"].str[:2]
    df.attrs["path"] = str(path)
    return df


def attach_deltas(humans: pd.DataFrame, deltas: pd.DataFrame, *,
                  column: str = "delta", name: str | None = None) -> pd.DataFrame:
    """Add a model's per-triplet deltas to the human table.

    Parameters
    ----------
    humans : DataFrame
        From :func:`read_humans`.
    deltas : DataFrame
        ``triplet_id`` and ``column`` (e.g. one layer of ``abx_deltas.tsv``).
    column : str, default="delta"
    name : str, optional
        Name of the new column (default ``column``).

    Returns
    -------
    DataFrame
        A copy of ``humans`` with the new delta column.

    Raises
    ------
    DataError
        A triplet of the human table has no delta (the message names one).
    """
    name = name or column
    lut = deltas.drop_duplicates("triplet_id").set_index("triplet_id")[column]
    values = humans["filename"].map(lut)
    if values.isna().any():
        miss = humans["filename"][values.isna()].iloc[0]
        raise DataError(f"Triplet {miss!r} of the human answers has no model delta "
                        f"(column {name!r}); {int(values.isna().sum())} trials lack "
                        f"one.")
    out = humans.copy()
    out[name] = values.to_numpy(dtype=float)
    return out


def agreement_accuracy(df: pd.DataFrame, model: str) -> float:
    """Fraction of trials where ``delta > 0`` matches the listener's choice.

    Parameters
    ----------
    df : DataFrame
        Human trials joined to the model's deltas (:func:`attach_deltas`).
    model : str
        Column of ``df`` holding the model's deltas.

    Returns
    -------
    float
        Fraction of trials, in [0, 1].
    """
    return float(np.mean((df[model].to_numpy() > 0)
                         == (df["binarized_answer"].to_numpy() > 0)))


def abx_accuracy(df: pd.DataFrame, model: str) -> dict[str, float]:
    """The model's mean of ``delta > 0`` over distinct triplets, per stimulus
    language and over all ("all").

    Parameters
    ----------
    df : DataFrame
        Human trials joined to the model's deltas (:func:`attach_deltas`).
    model : str
        Column of ``df`` holding the model's deltas.

    Returns
    -------
    dict of str to float
        Accuracy per stimulus language, and over all triplets under ``"all"``.
    """
    trip = df.drop_duplicates("filename")
    out = {"all": float(np.mean(trip[model] > 0))}
    for lang, g in trip.groupby("stimulus_language"):
        out[str(lang)] = float(np.mean(g[model] > 0))
    return out


def _probit_design(df: pd.DataFrame, model: str,
                   covariates: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    listeners = pd.Categorical(df["individual"])
    dummies = np.eye(len(listeners.categories))[listeners.codes][:, 1:]
    cols = [np.ones(len(df))] + [df[c].to_numpy(dtype=float) for c in covariates]
    X = np.column_stack(cols + [dummies, df[model].to_numpy(dtype=float)])
    y = (df["binarized_answer"].to_numpy(dtype=float) + 1.0) / 2.0
    return y, X


def probit_loglik(df: pd.DataFrame, model: str, *,
                  covariates: Sequence[str] = ("TGT_first_code", "nb_stimuli")
                  ) -> float:
    """Log-likelihood of the probit model of human answers given a model's delta.

    ``binarized_answer ~ covariates + C(individual) + delta`` (CogSci 2020),
    fitted by maximum likelihood with statsmodels (Newton).

    Parameters
    ----------
    df : DataFrame
        Human trials with the model's delta column.
    model : str
        Delta column.
    covariates : sequence of str, default=("TGT_first_code", "nb_stimuli")

    Returns
    -------
    loglik : float
    """
    import statsmodels.api as sm

    y, X = _probit_design(df, model, covariates)
    res = sm.Probit(y, X).fit(method="newton", disp=0, maxiter=100)
    return float(res.llf)


def _agg(df: pd.DataFrame, keys: list[str], value_cols: list[str]) -> pd.DataFrame:
    return df.groupby(keys, as_index=False, sort=True)[value_cols].mean()


def contrast_means(df: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """Mean human answer and mean deltas per phone contrast (symmetrised).

    Averages triplet -> context -> contrast ``(TGT, OTH, stimulus language)``,
    then over the two orders TGT/OTH (Millet & Dunbar,
    ``spearman_correlation_bootstrap.py``). The answer is ``correct_answer / 3``.

    Parameters
    ----------
    df : DataFrame
        Human trials joined to the models' deltas.
    models : sequence of str
        Delta columns of ``df``.

    Returns
    -------
    contrasts : DataFrame
        Columns ``TGT``, ``OTH``, ``stimulus_language``, ``answer`` and one per
        model; each unordered contrast appears under both orders.
    """
    models = list(models)
    d = df[["filename", "TGT", "OTH", "prev_phone", "next_phone", "stimulus_language",
            "correct_answer", *models]].copy()
    d["answer"] = d["correct_answer"] / 3.0
    vals = ["answer", *models]
    contrast = ["TGT", "OTH", "stimulus_language"]
    t = _agg(d, ["filename", *contrast, "prev_phone", "next_phone"], vals)
    t = _agg(t, [*contrast, "prev_phone", "next_phone"], vals)
    t = _agg(t, contrast, vals)
    swapped = t.rename(columns={"TGT": "OTH", "OTH": "TGT"})
    return _agg(pd.concat([t, swapped], ignore_index=True), contrast, vals)


def spearman_contrast(df: pd.DataFrame, model: str) -> float:
    """``|rho|`` between mean human answer and mean delta across phone contrasts.

    Parameters
    ----------
    df : DataFrame
        Human trials joined to the model's deltas.
    model : str
        Column of ``df`` holding the model's deltas.

    Returns
    -------
    float
        Absolute Spearman correlation across contrasts.
    """
    from scipy.stats import spearmanr

    c = contrast_means(df, [model])
    return float(abs(spearmanr(c["answer"], c[model]).statistic))


def native_effect(df: pd.DataFrame, model_fr: str, model_en: str, *,
                  listener_language: str = "language",
                  french: str = "french", english: str = "english") -> float:
    """Pearson r between the human and the model native-language effect.

    Parameters
    ----------
    df : DataFrame
        Trials of both listener groups, with both models' delta columns.
    model_fr, model_en : str
        Delta columns of the French-trained and English-trained models.
    listener_language : str, default="language"
        Column of the listener's language.
    french, english : str
        Its values for the two groups.

    Returns
    -------
    r : float
        Pearson correlation across the contrasts both groups heard.

    Raises
    ------
    DataError
        A missing column or listener group, or fewer than 3 shared contrasts.
    """
    from scipy.stats import pearsonr

    for col in (listener_language, model_fr, model_en):
        if col not in df.columns:
            raise DataError(f"native_effect: no column {col!r}; columns are "
                            f"{list(df.columns)}." + suggest(col, list(df.columns)))
    fr = df[df[listener_language] == french].copy()
    en = df[df[listener_language] == english].copy()
    if not len(fr) or not len(en):
        raise DataError(f"native_effect: needs trials of both {french!r} and "
                        f"{english!r} listeners in column {listener_language!r}; "
                        f"found {sorted(df[listener_language].astype(str).unique())}.")
    fr["model"] = fr[model_fr] / fr[model_fr].std()
    en["model"] = en[model_en] / en[model_en].std()
    cf = contrast_means(fr, ["model"]).set_index(["TGT", "OTH", "stimulus_language"])
    ce = contrast_means(en, ["model"]).set_index(["TGT", "OTH", "stimulus_language"])
    shared = cf.index.intersection(ce.index)
    if len(shared) < 3:
        raise DataError(f"native_effect: only {len(shared)} phone contrasts were "
                        f"heard by both listener groups; need at least 3.")
    h = cf.loc[shared, "answer"] - ce.loc[shared, "answer"]
    m = cf.loc[shared, "model"] - ce.loc[shared, "model"]
    return float(pearsonr(m.to_numpy(), h.to_numpy()).statistic)


def bootstrap_samples(df: pd.DataFrame, *, n_boot: int, per_triplet: int = 3,
                      random_state=None) -> list[np.ndarray]:
    """Row indices of bootstrap resamples: ``per_triplet`` trials drawn with
    replacement for every triplet (the published resampling), within each
    listener group (column ``language``) when there is one.

    Parameters
    ----------
    df : DataFrame
        Human trials (``filename`` = triplet id, optional ``language``).
    n_boot : int
        Number of resamples.
    per_triplet : int, default=3
        Trials drawn per triplet.
    random_state : int, numpy Generator or None

    Returns
    -------
    samples : list of n_boot arrays of int (positional row indices)
    """
    rng = check_random_state(random_state)
    key = df["filename"].astype(str)
    if "language" in df.columns:  # resample within each listener group
        key = key + "|" + df["language"].astype(str)
    codes, uniques = pd.factorize(key)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=len(uniques))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out = []
    for _ in range(n_boot):
        draw = rng.integers(0, np.repeat(counts, per_triplet))
        out.append(order[np.repeat(starts, per_triplet) + draw])
    return out


_METRICS: dict[str, Callable[[pd.DataFrame, str], float]] = {
    "accuracy": agreement_accuracy,
    "loglik": probit_loglik,
    "spearman": spearman_contrast,
}


def compare_humans(humans: pd.DataFrame, models: Sequence[str], *,
                   metrics: Sequence[str] = ("accuracy", "loglik", "spearman"),
                   n_boot: int = 100, per_triplet: int = 3,
                   probit_stimuli: str | None = None,
                   native: Sequence[tuple[str, str]] = (), random_state=0
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All agreement metrics of several models, with bootstrap intervals.

    Parameters
    ----------
    humans : DataFrame
        Human trials with one delta column per model (:func:`read_humans`).
    models : sequence of str
        Delta columns to evaluate.
    metrics : sequence of {"accuracy", "loglik", "spearman"}
    n_boot : int, default=100
        Bootstrap resamples (0: point estimates only).
    per_triplet : int, default=3
        Responses drawn per triplet in each resample.
    probit_stimuli : str, optional
        Restrict the probit to triplets of this stimulus language (the published
        CogSci 2020 bootstrap used "EN").
    native : sequence of (str, str), optional
        (French-trained, English-trained) delta column pairs whose native-language
        effect (:func:`native_effect`, listener groups in column ``language``) is
        reported as metric ``native_effect`` of model ``"<fr>-<en>"``.
    random_state : int, Generator or None, default=0

    Returns
    -------
    summary : DataFrame
        One row per (model, metric): ``value`` (full data), ``boot_mean``,
        ``ci_low``, ``ci_high`` (95 %), ``n_boot``, plus the models' ABX accuracy
        per stimulus language (metric ``abx_accuracy_<lang>``).
    resamples : DataFrame
        One row per (resample, model, metric) value.
    """
    from .._validation import check_option

    for m in metrics:
        check_option("metric", m, tuple(_METRICS))
    models = list(models)
    native = [tuple(p) for p in native]
    if not models and not native:
        raise ValueError("'models' must name at least one delta column.")
    missing = [m for m in models + [c for p in native for c in p]
               if m not in humans.columns]
    if missing:
        raise DataError(f"No delta column(s) {missing} in the human table; columns "
                        f"are {list(humans.columns)}.")

    def subset(df: pd.DataFrame, metric: str) -> pd.DataFrame:
        if metric == "loglik" and probit_stimuli:
            return df[df["stimulus_language"] == probit_stimuli]
        return df

    rows, boot_rows = [], []
    samples = (bootstrap_samples(humans, n_boot=n_boot, per_triplet=per_triplet,
                                 random_state=random_state) if n_boot else [])
    for metric in metrics:
        fn = _METRICS[metric]
        for model in models:
            value = fn(subset(humans, metric), model)
            rows.append({"model": model, "metric": metric, "value": value})
    for fr, en in native:
        rows.append({"model": f"{fr}-{en}", "metric": "native_effect",
                     "value": native_effect(humans, fr, en)})
    for b, idx in enumerate(progress(samples, desc="bootstrap", unit="resample")):
        sample = humans.iloc[idx]
        for metric in metrics:
            fn = _METRICS[metric]
            for model in models:
                boot_rows.append({"resample": b, "model": model, "metric": metric,
                                  "value": fn(subset(sample, metric), model)})
        for fr, en in native:
            boot_rows.append({"resample": b, "model": f"{fr}-{en}",
                              "metric": "native_effect",
                              "value": native_effect(sample, fr, en)})
    summary = pd.DataFrame(rows)
    resamples = pd.DataFrame(boot_rows,
                             columns=["resample", "model", "metric", "value"])
    if len(resamples):
        stats = resamples.groupby(["model", "metric"])["value"].agg(
            boot_mean="mean", ci_low=lambda v: np.percentile(v, 2.5),
            ci_high=lambda v: np.percentile(v, 97.5)).reset_index()
        summary = summary.merge(stats, on=["model", "metric"], how="left")
    else:
        summary[["boot_mean", "ci_low", "ci_high"]] = np.nan
    summary["n_boot"] = n_boot
    acc = []
    for model in models:
        for lang, v in abx_accuracy(humans, model).items():
            acc.append({"model": model, "metric": f"abx_accuracy_{lang}", "value": v,
                        "boot_mean": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                        "n_boot": 0})
    summary = pd.concat([summary, pd.DataFrame(acc)], ignore_index=True)
    return summary, resamples
