"""Layer profiles (seaborn): brain score along the layers, per ROI or overall."""

from __future__ import annotations

import os

import numpy as np

__all__ = ["plot_layer_profiles", "plot_best_layer_distribution"]


def plot_layer_profiles(profiles, *, hue: str = "roi", title: str = "",
                        output_file: str | os.PathLike | None = None, dpi: int = 300):
    """Mean brain score per layer with 95% confidence intervals across subjects.

    Parameters
    ----------
    profiles : pandas.DataFrame
        Tidy table with columns ``subject, layer, layer_index, mean_r`` and the
        ``hue`` column (e.g. :func:`brainscore_speech.analysis.roi_layer_profiles`,
        or ``model-<M>_layerprofile.tsv`` with ``hue="model"``).
    hue : str, default="roi"
    title : str
    output_file : path, optional
    dpi : int, default=300

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    need = {"subject", "layer", "layer_index", "mean_r", hue}
    missing = sorted(need - set(profiles.columns))
    if missing:
        raise ValueError(f"'profiles' lacks columns {missing}; it has "
                         f"{list(profiles.columns)}.")
    order = (profiles[["layer", "layer_index"]].drop_duplicates()
             .sort_values("layer_index"))
    fig, ax = plt.subplots(figsize=(max(4.5, 0.45 * len(order) + 2), 3.6))
    n_sub = profiles["subject"].nunique()
    sns.lineplot(data=profiles, x="layer_index", y="mean_r", hue=hue,
                 errorbar=("ci", 95), n_boot=500, seed=0, marker="o", ax=ax)
    ax.set_xticks(order["layer_index"].to_numpy())
    ax.set_xticklabels(order["layer"].tolist(), rotation=45, ha="right", fontsize=8)
    ax.set_xlabel("layer")
    ax.set_ylabel("brain score (mean Pearson r)")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_title(title or f"Layer profiles (mean, 95% CI over {n_sub} subjects)",
                 fontsize=10)
    sns.despine(ax=ax)
    fig.tight_layout()
    if output_file is not None:
        from .surface import _save

        _save(fig, output_file, dpi)
    return fig


def plot_best_layer_distribution(table, *, title: str = "",
                                 output_file: str | os.PathLike | None = None,
                                 dpi: int = 300):
    """Proportion of each ROI's significant vertices whose best layer is each layer.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`brainscore_speech.analysis.best_layer_by_roi`.
    title : str
    output_file : path, optional
    dpi : int, default=300

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from .surface import _layer_cmap

    need = {"roi", "layer", "layer_index", "proportion"}
    if need - set(table.columns):
        raise ValueError(f"'table' lacks columns {sorted(need - set(table.columns))}.")
    piv = table.pivot_table(index="roi", columns="layer_index", values="proportion",
                            sort=False).fillna(0)
    names = (table[["layer", "layer_index"]].drop_duplicates()
             .sort_values("layer_index")["layer"].tolist())
    cmap = _layer_cmap(len(names))
    fig, ax = plt.subplots(figsize=(5.5, 0.5 * len(piv) + 1.6))
    left = np.zeros(len(piv))
    for j in piv.columns:
        ax.barh(piv.index, piv[j], left=left, color=cmap(int(j)), label=names[int(j)])
        left += piv[j].to_numpy()
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("proportion of significant vertices")
    if len(piv.columns):
        ax.legend(title="best layer", bbox_to_anchor=(1.02, 1), loc="upper left",
                  fontsize=8)
    else:
        ax.text(0.5, 0.5, "no significant vertex", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_title(title or "Best layer per ROI", fontsize=10)
    fig.tight_layout()
    if output_file is not None:
        from .surface import _save

        _save(fig, output_file, dpi)
    return fig
