"""wav2vec 2.0 pretraining objective (fairseq semantics) on top of HF outputs.

``L = L_m + alpha * L_d + beta * L_f`` summed over masked frames (METHODS §14.2):

- ``L_m``: InfoNCE, cosine similarity / kappa between the prediction at each
  masked frame and [its quantized target; K distractors drawn uniformly from the
  other masked frames of the same utterance]; a distractor identical to the
  target gets -inf (HF / fairseq ``neg_is_pos``).
- ``L_d``: diversity ``(G V - prob_perplexity) / (G V)`` per masked frame, the
  perplexity of the batch-mean softmax over **masked frames only**.
- ``L_f``: fairseq feature penalty, mean square of the conv-encoder output, per
  masked frame (HF lacks it).

Masks and negatives are drawn here with an explicit ``numpy.random.Generator`` (HF's
helpers use the global numpy RNG), so that a run is a pure function of its seed.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["sample_masks", "sample_negatives", "perplexity", "wav2vec2_loss"]


def sample_masks(batch_size: int, n_frames: int, *, mask_prob: float, mask_length: int,
                 rng: np.random.Generator, min_masks: int = 2) -> np.ndarray:
    """fairseq ``compute_mask_indices`` (static spans, same count in every row).

    The number of spans ``int(mask_prob * n_frames / mask_length + U[0, 1))`` is
    drawn once per batch; spans may overlap, and rows whose union came out larger
    are thinned at random to the smallest row's count (``require_same_masks``).

    Parameters
    ----------
    batch_size, n_frames : int
    mask_prob : float
        ``p * M`` (0.65 for BASE): expected fraction of frames covered before overlap.
    mask_length : int
        Span length ``M`` in frames.
    rng : numpy.random.Generator
    min_masks : int
        At least this many spans per row.

    Returns
    -------
    mask : ndarray of bool, shape (batch_size, n_frames)
        Every row has the same number of masked frames (fairseq
        ``require_same_masks``).
    """
    if n_frames <= mask_length:
        raise ValueError(f"Crops give {n_frames} frames, fewer than one mask span of "
                         f"{mask_length}; use longer crops.")
    # One span count for the whole batch (fairseq ``all_num_mask``: the crops of a
    # micro-batch have equal length, so the count is drawn once). Drawing it per row
    # makes rows differ by a whole span, and the equalisation below then punches
    # ~5 random holes per row: 46 % instead of 30 % of masked frames get an
    # unmasked neighbour, whose overlapping receptive field leaks the target. On
    # white noise that leak pushed the tiny recipe into codebook collapse.
    n_spans = int(mask_prob * n_frames / float(mask_length) + rng.random())
    n_spans = min(max(min_masks, n_spans), n_frames - mask_length)
    rows = []
    for _ in range(batch_size):
        starts = rng.choice(n_frames - mask_length, n_spans, replace=False)
        idx = np.unique((starts[:, None] + np.arange(mask_length)[None]).ravel())
        rows.append(idx[idx < n_frames])
    n_min = min(len(r) for r in rows)
    mask = np.zeros((batch_size, n_frames), dtype=bool)
    for b, idx in enumerate(rows):
        if len(idx) > n_min:
            idx = rng.choice(idx, n_min, replace=False)
        mask[b, idx] = True
    return mask


def sample_negatives(mask: np.ndarray, num_negatives: int,
                     rng: np.random.Generator) -> np.ndarray:
    """Distractors for every masked frame, from the other masked frames of its row.

    Parameters
    ----------
    mask : ndarray of bool, shape (batch_size, n_frames)
    num_negatives : int
        K.
    rng : numpy.random.Generator

    Returns
    -------
    negatives : ndarray of int64, shape (n_masked, K)
        Flat indices into ``batch_size * n_frames``; row ``i`` belongs to the i-th
        True entry of ``mask`` in C order. Never the frame itself (index shift).
    """
    batch_size, n_frames = mask.shape
    out = []
    for b in range(batch_size):
        idx = np.flatnonzero(mask[b])
        n = len(idx)
        if n < 2:
            raise ValueError(f"Row {b} has {n} masked frame(s); negatives need >= 2.")
        draw = rng.integers(0, n - 1, size=(n, num_negatives))
        draw[draw >= np.arange(n)[:, None]] += 1
        out.append(b * n_frames + idx[draw])
    return np.concatenate(out, axis=0).astype(np.int64)


def perplexity(probs: torch.Tensor) -> torch.Tensor:
    """Perplexity of the mean distribution, summed over groups.

    Parameters
    ----------
    probs : tensor, shape (n_frames, G, V)

    Returns
    -------
    tensor, scalar in [G, G*V]
    """
    marginal = probs.float().mean(dim=0)
    return torch.exp(-torch.xlogy(marginal, marginal).sum(-1)).sum()


def wav2vec2_loss(outputs, mask: torch.Tensor, negatives: torch.Tensor, *,
                  conv_features: torch.Tensor, code_logits: torch.Tensor,
                  num_groups: int, num_vars: int, logit_temperature: float = 0.1,
                  diversity_loss_weight: float = 0.1,
                  feature_penalty_weight: float = 0.0) -> tuple[torch.Tensor, dict]:
    """Loss of one forward pass, **summed** over masked frames, and its logs.

    Parameters
    ----------
    outputs : Wav2Vec2ForPreTrainingOutput
        From ``model(x, mask_time_indices=mask)`` (no negatives passed); its
        ``codevector_perplexity`` is the prob perplexity over masked frames.
    mask : bool tensor, shape (batch, n_frames)
    negatives : int64 tensor, shape (n_masked, K)
        From :func:`sample_negatives`.
    conv_features : tensor, shape (batch, C, n_frames)
        Conv-encoder output (``FeatureTap.conv_features``).
    code_logits : tensor, shape (batch, n_frames, G * V)
        Quantizer logits (``FeatureTap.code_logits``).
    num_groups, num_vars : int
        G and V.
    logit_temperature : float
        kappa.
    diversity_loss_weight, feature_penalty_weight : float

    Returns
    -------
    loss : scalar tensor
        ``sum_masked(L_m) + n_masked * (alpha L_d + beta L_f)``; divide by the
        number of masked frames of the whole update before ``backward``.
    logs : dict of float
        Sums (``contrastive_sum``, ``n_masked``, ``n_correct``, ``n_neg_is_pos``,
        ``n_negatives``) and per-pass values (``prob_perplexity``,
        ``code_perplexity``, ``feature_penalty``, ``diversity``).
    """
    pred = outputs.projected_states  # (B, T, D)
    quant = outputs.projected_quantized_states  # (B, T, D)
    dim = quant.shape[-1]
    flat_mask = mask.reshape(-1)
    pos = quant.reshape(-1, dim)[flat_mask]  # (N, D)
    negs = quant.reshape(-1, dim)[negatives.reshape(-1)].view(*negatives.shape, dim)
    p = pred.reshape(-1, dim)[flat_mask]
    targets = torch.cat([pos[:, None], negs], dim=1)  # (N, K+1, D)
    logits = F.cosine_similarity(p[:, None].float(), targets.float(), dim=-1)
    logits = logits / logit_temperature
    neg_is_pos = (negs == pos[:, None]).all(-1)
    if neg_is_pos.any():
        logits = torch.cat([logits[:, :1],
                            logits[:, 1:].masked_fill(neg_is_pos, float("-inf"))],
                            dim=1)
    zeros = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    contrastive = F.cross_entropy(logits, zeros, reduction="sum")
    n_masked = int(flat_mask.sum())

    gv = num_groups * num_vars
    prob_ppl = outputs.codevector_perplexity.float()
    diversity = (gv - prob_ppl) / gv
    feat_pen = conv_features.float().pow(2).mean()
    loss = contrastive + n_masked * (diversity_loss_weight * diversity
                                     + feature_penalty_weight * feat_pen)

    with torch.no_grad():
        codes = code_logits.view(-1, num_groups, num_vars)[flat_mask].argmax(-1)
        onehot = F.one_hot(codes, num_vars).float()
        code_ppl = perplexity(onehot)
        # strictly above every distractor: ties (degenerate) are not correct (fairseq)
        correct = logits[:, 0] > logits[:, 1:].max(-1).values
    logs = {
        "contrastive_sum": float(contrastive.detach()),
        "n_masked": n_masked,
        "n_correct": int(correct.sum()),
        "n_neg_is_pos": int(neg_is_pos.sum()),
        "n_negatives": int(neg_is_pos.numel()),
        "prob_perplexity": float(prob_ppl.detach()),
        "code_perplexity": float(code_ppl),
        "feature_penalty": float(feat_pen.detach()),
        "diversity": float(diversity.detach()),
    }
    if not math.isfinite(logs["contrastive_sum"]):
        logs["contrastive_sum"] = float("nan")
    return loss, logs
