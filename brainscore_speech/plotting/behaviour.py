"""Figures of the behaviour stage: ABX layer profiles and model vs human contrasts."""

from __future__ import annotations

import os

import numpy as np

__all__ = ["plot_abx_profile", "plot_model_vs_humans", "plot_human_agreement"]


def _save(fig, output_file, dpi):
    if output_file is not None:
        from .._io import atomic_path

        with atomic_path(output_file) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight",
                        format=str(output_file).rsplit(".", 1)[-1])
    return fig


def plot_abx_profile(scores, *, metric: str = "error", baselines=None,
                     title: str = "", output_file: str | os.PathLike | None = None,
                     dpi: int = 150):
    """ABX error (or accuracy) along the layers, one line per model.

    Parameters
    ----------
    scores : pandas.DataFrame
        ``abx_scores.tsv`` rows (columns ``model``, ``layer``, ``error``,
        ``accuracy``, ``convention``); several models may be concatenated. Layers
        keep their order of first appearance (the hierarchy order).
    metric : {"error", "accuracy"}, default="error"
    baselines : dict of str to float, optional
        Horizontal reference lines (e.g. ``{"MFCC": 0.21}``).
    title : str
    output_file : path, optional
    dpi : int, default=150

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    need = {"model", "layer", metric}
    missing = sorted(need - set(scores.columns))
    if missing:
        raise ValueError(f"'scores' lacks columns {missing}; it has "
                         f"{list(scores.columns)}.")
    layers = list(dict.fromkeys(scores["layer"]))
    pos = {name: k for k, name in enumerate(layers)}
    fig, ax = plt.subplots(figsize=(max(4.5, 0.42 * len(layers) + 2), 3.4))
    for model, g in scores.groupby("model", sort=False):
        x = [pos[name] for name in g["layer"]]
        ax.plot(x, 100 * g[metric].to_numpy(), marker="o", label=str(model))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (name, value) in enumerate((baselines or {}).items()):
        ax.axhline(100 * value, ls="--", lw=1, color=colors[(k + 5) % len(colors)],
                   label=name)
    if metric == "error":
        ax.axhline(50, color="0.6", lw=0.8, ls=":")
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels(layers, rotation=45, ha="right", fontsize=8)
    ax.set_xlabel("layer")
    conv = ", ".join(sorted(set(scores.get("convention", ["?"]).astype(str))))
    ax.set_ylabel(f"ABX {metric} (%)")
    ax.set_title(title or f"ABX {metric} per layer ({conv})", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return _save(fig, output_file, dpi)


def plot_model_vs_humans(contrasts, models, *, output_file=None, dpi: int = 150):
    """Mean delta against mean human answer per phone contrast, one panel per model.

    Parameters
    ----------
    contrasts : pandas.DataFrame
        From :func:`brainscore_speech.behaviour.humans.contrast_means`
        (``answer``, ``stimulus_language`` and one column per model).
    models : sequence of str
    output_file : path, optional
    dpi : int, default=150

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from scipy.stats import spearmanr

    models = list(models)
    n = len(models)
    ncol = min(n, 4)
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.1 * ncol, 2.9 * nrow),
                             squeeze=False)
    for ax, model in zip(axes.ravel(), models, strict=False):
        for lang, g in contrasts.groupby("stimulus_language"):
            ax.scatter(g[model], g["answer"], s=9, alpha=0.7, label=f"{lang} stimuli")
        rho = spearmanr(contrasts["answer"], contrasts[model]).statistic
        ax.set_title(f"{model} (|rho| = {abs(rho):.2f})", fontsize=9)
        ax.set_xlabel("mean model delta", fontsize=8)
        ax.set_ylabel("mean human answer", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    axes.ravel()[0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return _save(fig, output_file, dpi)


def plot_human_agreement(summary, *, output_file=None, dpi: int = 150):
    """Accuracy, probit log-likelihood and Spearman per model with 95 % intervals.

    Parameters
    ----------
    summary : pandas.DataFrame
        From :func:`brainscore_speech.behaviour.humans.compare_humans`.
    output_file : str or Path, optional
        Write a PNG there.
    dpi : int, default=150

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    metrics = [m for m in ("accuracy", "loglik", "spearman")
               if m in set(summary["metric"])]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.3 * len(metrics), 3.0),
                             squeeze=False)
    for ax, metric in zip(axes.ravel(), metrics, strict=True):
        g = summary[summary["metric"] == metric].sort_values("value")
        y = np.arange(len(g))
        ax.barh(y, g["value"], color="0.7")
        if g["ci_low"].notna().any():
            err = np.vstack([g["value"] - g["ci_low"], g["ci_high"] - g["value"]])
            ax.errorbar(g["value"], y, xerr=np.clip(err, 0, None), fmt="none",
                        ecolor="k", lw=1)
        ax.set_yticks(y)
        ax.set_yticklabels(g["model"], fontsize=8)
        lo, hi = g["value"].min(), g["value"].max()
        span = (hi - lo) or abs(hi) or 1.0
        ax.set_xlim(lo - 0.3 * span, hi + 0.3 * span)
        ax.set_title(metric, fontsize=9)
    fig.tight_layout()
    return _save(fig, output_file, dpi)
