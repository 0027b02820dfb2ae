"""Fast cross-validated ridge for many layers against one BOLD matrix.

The same model as the exact path of :func:`~brainscore_speech.encoding.score_layers`
(per outer fold: X and Y standardised with the outer training statistics, one
alpha per target minimising the mean inner-fold validation MSE, refit on the
outer training rows, Pearson r on the held-out rows), computed with fewer and
cheaper products:

- **Atoms.** Rows are partitioned by their membership of every training,
  validation and test set (for leave-one-run-out: the runs). Each layer's
  Gram matrix, column sums and cross-products ``X'Y`` are computed once per
  atom; the statistics of any training set (outer or inner, whichever outer
  fold it belongs to) are sums of atoms, and its standardisation is applied
  afterwards by rank-one corrections. Training sets that are the same rows in
  several outer folds (leave-one-run-out: "all runs but j and k") therefore
  share their products; their eigendecompositions are not shared, because each
  outer fold standardises with its own statistics (a different model).
- **Validation operators.** For each inner fold the ``n_val x d`` operator
  ``W(alpha) = X_val (X'X + alpha I)^-1`` is formed once (float64
  eigendecomposition, float32 products), so a validation prediction is one
  ``W @ (X'Y)`` product of the targets that need that alpha.
- **Local alpha search** (``local=True``, ``solver="fast-local"``; the default
  evaluates the whole grid). In the first outer fold every alpha is
  evaluated; in the others a target's mean inner-fold error is evaluated only
  around the alpha chosen in the previous fold, walking downhill (the
  neighbours of the best alpha so far) until both neighbours are worse,
  unless its first-fold curve had several local minima (then the whole
  grid). On a curve with one minimum over the grid this is the grid argmin
  (exact ties go to the larger alpha, as in the exact path). The error is
  computed without the alpha-independent ``|y|^2`` term, so float32 rounding
  does not decide near-ties of flat curves. Each round's products are one per
  inner fold and alpha over the targets that need it, ordered so that those
  are a few contiguous runs (no per-target gathers).
- **bfloat16 alpha search** (``search_dtype="bfloat16"``; ``score_layers``'
  ``search_dtype="auto"`` picks it on AMX CPUs). The validation products,
  which only choose alphas, take bfloat16 inputs (float32 accumulation, by
  torch/oneDNN); the cross-products are centred in float32 first, so rounding
  is relative to the centred values. The alphas of each target's two lowest
  bfloat16 errors, and any other within :data:`REFINE_MARGIN` times the
  bfloat16 error measured on them, are evaluated again in float32 and the
  choice is made among those. The refit and the held-out scores stay float32.
- **Eigendecompositions** of one outer fold (its own and its inner folds')
  run two at a time on one BLAS thread each when BLAS has two or more threads
  (LAPACK's eigensolver scales poorly with threads).
- **Once per subject.** Y is standardised, checked and summed per atom once
  for all layers; the held-out scores are float32 predictions, correlated in
  float64.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .ridge import _Ops, partial_r2, r_from_sums

__all__ = ["SharedCV"]

# a layer's per-atom cross-products (n_atoms x d x n_targets float32) beyond this
# are computed for blocks of targets (the eigendecompositions are then repeated)
CROSS_BUDGET_BYTES = 1 << 30


def _atoms(sets: list[np.ndarray], n: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Label rows by their membership of ``sets``; return labels and atom rows."""
    member = np.zeros((n, len(sets)), dtype=bool)
    for j, rows in enumerate(sets):
        member[rows, j] = True
    _, labels = np.unique(np.packbits(member, axis=1), axis=0, return_inverse=True)
    labels = labels.ravel()
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels)
    return labels, np.split(order, np.cumsum(counts)[:-1])


def _atom_list(labels: np.ndarray, rows: np.ndarray) -> list[int]:
    return sorted(set(labels[rows].tolist()))


def _rows_slice(rows: np.ndarray):
    """A slice when ``rows`` are consecutive (a view instead of a copy)."""
    if rows.size and rows[-1] - rows[0] + 1 == rows.size and np.all(np.diff(rows) == 1):
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


# bfloat16 search: each target's alphas of this many lowest bfloat16 errors
# are evaluated again in float32 (1 agreed with the exact path on 99.94 % of
# LPP-size target-folds, max abs dr 0.057; 2 on 99.997 %, 4.8e-5)
REFINE = 2
# an alpha outside the refined ones is evaluated in float32
# when its bfloat16 error is within this many times the target's largest
# measured bfloat16 discrepancy of the float32 minimum
REFINE_MARGIN = 4.0


@dataclass
class _Fold:
    """One outer fold: its training/test rows and inner folds, as atoms."""

    train: np.ndarray
    test: np.ndarray
    train_atoms: list[int]
    inner: list[tuple[np.ndarray, np.ndarray, list[int]]]  # (S rows, V rows, removed)
    y_const: np.ndarray = field(default=None)
    y_test_const: np.ndarray = field(default=None)
    # sum over inner folds of the mean |y_val|^2 (the constant the validation
    # errors leave out), to turn them into a validation R^2
    y2_inner: np.ndarray = field(default=None)


@dataclass
class CostCounter:
    """Multiply-accumulates of the large products, and eigendecompositions."""

    macs: float = 0.0
    eighs: int = 0
    evals: float = 0.0  # (target, alpha) validation evaluations per outer fold
    refined: float = 0.0  # of which evaluated again in float32 (bfloat16 search)
    n_fold_targets: float = 0.0

    low_macs: float = 0.0  # of which bfloat16 products

    def add(self, m: int, k: int, n: int, low: bool = False) -> None:
        self.macs += float(m) * k * n
        if low:
            self.low_macs += float(m) * k * n


def _best(mse: np.ndarray) -> np.ndarray:
    """Argmin over axis 0, exact ties to the larger index (NaN/inf = unevaluated)."""
    n = mse.shape[0]
    return (n - 1) - np.argmin(mse[::-1], axis=0)


class SharedCV:
    """Cross-validated ridge of many layers against one prepared BOLD matrix.

    Parameters
    ----------
    Y : ndarray of shape (n_samples, n_targets)
    splits : list of (train, test) index arrays
        Outer folds.
    inner : list (one per outer fold) of lists of (train, val) index arrays
        Inner folds as indices into that fold's training rows (``None`` or an
        empty list when there is a single alpha).
    alphas : ndarray of shape (n_alphas,)
        Strictly increasing.
    ops : _Ops
    target_batch_size : int
        Targets per product (bounds the work arrays).
    local : bool, default=False
        Local alpha search after the first fold (exact only where the error
        curves have one minimum over the grid; see the module docstring).
    search_dtype : {"float32", "bfloat16"}, default="float32"
        Inputs of the validation products ("float32": ``ops``' dtype).
    refine : int, default=2
        bfloat16 search: the alphas of this many lowest bfloat16 errors of each
        target are evaluated again in float32 and the choice made among them
        (0: the bfloat16 argmin).
    """

    def __init__(self, Y, splits, inner, alphas, ops: _Ops, target_batch_size=4096,
                 local: bool = False, search_dtype: str = "float32",
                 refine: int = REFINE):
        self.ops = ops
        self.local = bool(local)
        self.lowp = _LowPrecision(ops) if search_dtype == "bfloat16" else None
        self.refine = int(refine)
        self.alphas = np.asarray(alphas, dtype=np.float64)
        self.batch = int(target_batch_size)
        self.eigh_workers = _blas_threads()
        Y = np.asarray(Y)
        n, t = Y.shape
        self.n, self.t = n, t
        self.cost = CostCounter()
        sets, folds = [], []
        for k, (train, test) in enumerate(splits):
            train, test = np.asarray(train), np.asarray(test)
            sets += [train, test]
            ins = []
            for tr, va in (inner[k] or []):
                s, v = train[np.asarray(tr)], train[np.asarray(va)]
                sets += [s, v]
                ins.append((s, v))
            folds.append((train, test, ins))
        self.labels, self.atom_rows = _atoms(sets, n)
        self.atom_slices = [_rows_slice(r) for r in self.atom_rows]
        self.n_atoms = len(self.atom_rows)
        self.atom_n = np.array([len(r) for r in self.atom_rows], dtype=np.float64)
        self.folds: list[_Fold] = []
        for train, test, ins in folds:
            ta = _atom_list(self.labels, train)
            inner_atoms = []
            for s, v in ins:
                sa = _atom_list(self.labels, s)
                removed = sorted(set(ta) - set(sa))
                inner_atoms.append((s, v, removed))
            self.folds.append(_Fold(train, test, ta, inner_atoms))
        # one pass over Y per subject: global standardisation (undone exactly by
        # the per-fold centring; it only conditions the float32 products), the
        # constant-target masks of each fold, and per-atom column sums
        Yt = np.empty((t, n), dtype=ops.np_dtype)  # target-major: row gathers
        self.y_atom_sum = np.zeros((self.n_atoms, t), dtype=np.float64)
        for start in range(0, t, self.batch):
            stop = min(t, start + self.batch)
            blk = np.asarray(Y[:, start:stop], dtype=np.float64)
            m, s = blk.mean(0), blk.std(0)
            s[~(s > 0)] = 1.0
            z = (blk - m) / s
            Yt[start:stop] = z.T
            for a, sl in enumerate(self.atom_slices):
                self.y_atom_sum[a, start:stop] = z[sl].sum(0)
            for f in self.folds:
                tr = blk[f.train]
                mean, sd = tr.mean(0), tr.std(0)
                const = ~(sd > 1e-12 * np.maximum(np.abs(mean), 1.0))
                tconst = ~(blk[f.test].std(0) > 0)
                if f.y_const is None:
                    f.y_const = np.zeros(t, dtype=bool)
                    f.y_test_const = np.zeros(t, dtype=bool)
                f.y_const[start:stop] = const
                f.y_test_const[start:stop] = tconst
                if f.y2_inner is None:
                    f.y2_inner = np.zeros(t)
                eps = z[f.train].mean(0)
                for _, v, _ in f.inner:
                    f.y2_inner[start:stop] += ((z[v] - eps) ** 2).mean(0)
        self.Y_host = Yt
        self.Y = ops.asarray(Yt)
        self.y_total = self.y_atom_sum.sum(0)

    # ------------------------------------------------------------------ layers
    def score_layer(self, X, warm: np.ndarray | None = None, on_fold=None):
        """Scores and chosen alpha indices of one layer.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        warm : ndarray of shape (n_folds, n_targets) of int, optional
            Alpha indices to start the search from (e.g. the previous layer's).
        on_fold : callable, optional
            Called with no argument after each outer fold (progress).

        Returns
        -------
        scores : ndarray of shape (n_folds, n_targets), float32
            NaN for constant targets.
        best : ndarray of shape (n_folds, n_targets) of int
        inner : ndarray of shape (n_folds, n_targets), float32
            Inner-CV validation R^2 at the chosen alpha (NaN without inner folds
            or with a single alpha).
        """
        ops = self.ops
        X = np.asarray(X, dtype=np.float64)
        d = X.shape[1]
        m_all, s_all = X.mean(0), X.std(0)
        s_all[~(s_all > 0)] = 1.0
        Xg = (X - m_all) / s_all
        X32 = ops.asarray(Xg.astype(ops.np_dtype))
        # per-atom Gram (float64), sums, min/max of the raw columns
        gram = np.empty((self.n_atoms, d, d))
        xsum = np.empty((self.n_atoms, d))
        xmin = np.empty((self.n_atoms, d))
        xmax = np.empty((self.n_atoms, d))
        for a, sl in enumerate(self.atom_slices):
            xa = Xg[sl]
            gram[a] = xa.T @ xa
            xsum[a] = xa.sum(0)
            xmin[a], xmax[a] = X[sl].min(0), X[sl].max(0)
        self.cost.add(self.n, d, d)
        n_folds = len(self.folds)
        scores = np.full((n_folds, self.t), np.nan, dtype=np.float32)
        best = np.zeros((n_folds, self.t), dtype=np.int64)
        inner = np.full((n_folds, self.t), np.nan, dtype=np.float32)
        per_target = max(1, self.n_atoms * d * ops.np_dtype.itemsize)
        block = max(1, min(self.t, int(CROSS_BUDGET_BYTES // per_target)))
        for start in range(0, self.t, block):
            cols = slice(start, min(self.t, start + block))
            # per-atom cross-products of this block of targets: (targets x d)
            cross = [None] * self.n_atoms
            for a, sl in enumerate(self.atom_slices):
                cross[a] = _rows(ops, self.Y, cols, sl) @ X32[sl]
            self.cost.add(self.n, d, cols.stop - cols.start)
            total = cross[0]
            for a in range(1, self.n_atoms):
                total = total + cross[a]
            ctx = _LayerCtx(self, Xg, X, m_all, s_all, gram, xsum, xmin, xmax, cross,
                            total, cols)
            minima = None  # local minima of the first fold's full error curves
            for k, fold in enumerate(self.folds):
                w = None
                if k > 0:
                    w = best[k - 1, cols]
                elif warm is not None:
                    w = np.asarray(warm)[0, cols]
                s_k, b_k, m_k, v_k = ctx.fold(k, fold, w, minima)
                if minima is None:
                    minima = m_k
                scores[k, cols] = s_k
                best[k, cols] = b_k
                inner[k, cols] = v_k
                if on_fold is not None and cols.stop == self.t:
                    on_fold()
        return scores, best, inner


class _LayerCtx:
    """Work arrays of one layer and one block of targets."""

    def __init__(self, cv: SharedCV, Xg, X, m_all, s_all, gram, xsum, xmin, xmax,
                 cross, total, cols):
        self.cv, self.ops = cv, cv.ops
        self.Xg, self.X, self.m_all, self.s_all = Xg, X, m_all, s_all
        self.gram, self.xsum, self.xmin, self.xmax = gram, xsum, xmin, xmax
        self.cross, self.total, self.cols = cross, total, cols
        self.n_cols = cols.stop - cols.start
        self.y_sum = cv.y_atom_sum[:, cols]

    # statistics of a set of atoms --------------------------------------------
    def _sum(self, arr, atoms):
        keep = set(atoms)
        out_atoms = [a for a in range(self.cv.n_atoms) if a not in keep]
        if len(atoms) <= len(out_atoms) + 1:
            return sum(arr[a] for a in atoms)
        return arr.sum(0) - sum(arr[a] for a in out_atoms) if out_atoms else arr.sum(0)

    def fold(self, k: int, fold: _Fold, warm, minima=None):
        cv, ops = self.cv, self.ops
        ta = fold.train_atoms
        n_k = float(cv.atom_n[ta].sum())
        g_k = self._sum(self.gram, ta)
        sx_k = self._sum(self.xsum, ta)
        mu = sx_k / n_k
        var = np.clip(np.diagonal(g_k) / n_k - mu ** 2, 0.0, None)
        sd = np.sqrt(var)
        raw_mean = mu * self.s_all + self.m_all
        const = ~(sd * self.s_all > 1e-12 * np.maximum(np.abs(raw_mean), 1.0))
        const |= np.min(self.xmin[ta], 0) == np.max(self.xmax[ta], 0)
        sd[const] = 1.0
        sy_k = self.y_sum[ta].sum(0)
        eps = sy_k / n_k  # mean of the (globally standardised) Y over train_k
        c_k = self._sum_cross(ta)  # raw sums over train_k: d x n_cols
        n_alphas = len(cv.alphas)
        n_cols = self.n_cols
        m_k = None
        val = np.full(n_cols, np.nan)
        search = n_alphas > 1 and bool(fold.inner)
        gstd = (g_k - n_k * np.outer(mu, mu)) / np.outer(sd, sd)
        grams = [gstd] + (self._inner_grams(fold, g_k, sx_k, mu, sd) if search else [])
        decs = [_Dec(lam, q, cv.alphas) for lam, q in _eighs(grams, cv.eigh_workers)]
        cv.cost.eighs += len(decs)
        dec = decs[0]
        if not search:
            best = np.zeros(n_cols, dtype=np.int64)
        else:
            best, m_k, err = self._search(fold, decs[1:], sx_k, sy_k, c_k, mu, sd,
                                          eps, warm, minima)
            val = partial_r2(err, fold.y2_inner[self.cols])
        # refit on train_k, predict the test rows
        xt = (self.Xg[fold.test] - mu) / sd
        wt = _Operator(ops, dec, xt, sd, mu, cv.cost)
        pred = ops.zeros((n_cols, len(fold.test)), ops.f32)
        for a in np.unique(best):
            sel = _cols(np.flatnonzero(best == a))
            w, u = wt.get(int(a))
            # c_std = D^-1 (c_k - n_k mu eps'): prediction W c_k - n_k (W mu) eps'
            p = _take(ops, c_k, sel) @ w.T
            cv.cost.add(p.shape[0], w.shape[1], p.shape[1])
            p -= ops.asarray(n_k * np.outer(eps[sel], u))
            _put(ops, pred, sel, p)
        pred = ops.numpy(pred)
        y_test = _rows(None, cv.Y_host, self.cols, _rows_slice(fold.test))
        r = row_pearson(y_test, pred).astype(np.float32)
        r[fold.y_const[self.cols] | fold.y_test_const[self.cols]] = np.nan
        return r, best, m_k, val

    def _sum_cross(self, atoms):
        keep = set(atoms)
        out_atoms = [a for a in range(self.cv.n_atoms) if a not in keep]
        if len(atoms) <= len(out_atoms) + 1:
            c = self.cross[atoms[0]]
            for a in atoms[1:]:
                c = c + self.cross[a]
            return c
        c = self.total
        for a in out_atoms:
            c = c - self.cross[a]
        return c

    def _evaluate(self, inner, c_k, eps, sub, mask, mse, lowp=None):
        """Mean inner-fold validation error (up to a constant) of targets ``sub``
        at the alphas ``mask`` (n_alphas x sub.size) asks for, into ``mse``.

        Each alpha's product covers the contiguous runs of ``sub`` that need
        it (callers order ``sub`` so that these are few).
        """
        cv, ops = self.cv, self.ops
        sel = _cols(sub)
        gsel = _shift(sel, self.cols.start)
        ck = _take(ops, c_k, sel)
        e = eps[sel]
        e_col = ops.asarray(e[:, None])
        acc = np.zeros(mask.shape)
        runs = {int(a): _runs(mask[a]) for a in np.flatnonzero(mask.any(1))}
        d = ck.shape[1]
        c_s = ops.zeros((sub.size, d if lowp else d + 2), ops.f32)
        for v_rows, removed, n_s, sx_s, sy_s, op in inner:
            c_s[:, :d] = ck
            for r in removed:
                c_s[:, :d] -= _take(ops, self.cross[r], sel)
            if lowp:
                # centred in float32 before rounding: c_S - sy mu' - eps (sx - n_S mu)'
                lhs = np.stack([sy_s[sel], e], axis=1)
                rhs = np.stack([op.mu, sx_s - n_s * op.mu])
                c_s -= ops.asarray(lhs) @ ops.asarray(rhs)
                c_in = lowp.cast(c_s)
            else:
                # [c_S | sy | eps]: the centring terms ride in the same product
                c_s[:, d] = ops.asarray(sy_s[sel])
                c_s[:, d + 1] = ops.asarray(e)
                c_in = c_s
            y2 = _rows(ops, cv.Y, gsel, _rows_slice(v_rows)) - e_col
            y2 *= 2.0
            n_v = float(y2.shape[1])
            for a, spans in runs.items():
                w = op.low(a, lowp) if lowp else op.augmented(a, sx_s, n_s)
                for lo, hi in spans:
                    cv.cost.add(hi - lo, w.shape[1], w.shape[0], low=lowp is not None)
                    acc[a, lo:hi] += _pred_error(ops, c_in[lo:hi], w, y2[lo:hi],
                                                 lowp) / n_v
        for a in runs:
            mse[a, sub[mask[a]]] = acc[a, mask[a]]

    def _inner_grams(self, fold, g_k, sx_k, mu, sd) -> list[np.ndarray]:
        """Each inner training set's Gram matrix, standardised with the OUTER
        statistics (``mu``, ``sd``): the same model as the exact path."""
        out = []
        for s_rows, _, removed in fold.inner:
            n_s = float(len(s_rows))
            g_s = g_k - sum(self.gram[a] for a in removed)
            sx_s = sx_k - sum(self.xsum[a] for a in removed)
            # sum_S (x - mu)(x - mu)' = G - mu sx' - sx mu' + n mu mu'
            gc = g_s - np.outer(mu, sx_s) - np.outer(sx_s, mu) + n_s * np.outer(mu, mu)
            out.append(gc / np.outer(sd, sd))
        return out

    def _search(self, fold, decs, sx_k, sy_k, c_k, mu, sd, eps, warm, minima):
        cv, ops = self.cv, self.ops
        n_alphas, n_cols = len(cv.alphas), self.n_cols
        inner = []
        for (s_rows, v_rows, removed), dec in zip(fold.inner, decs):
            n_s = float(len(s_rows))
            sx_s = sx_k - sum(self.xsum[a] for a in removed)
            xv = (self.Xg[v_rows] - mu) / sd
            op = _Operator(ops, dec, xv, sd, mu, cv.cost)
            sy_s = sy_k - sum(self.y_sum[a] for a in removed)
            inner.append((v_rows, removed, n_s, sx_s, sy_s, op))
        mse = np.full((n_alphas, n_cols), np.inf)
        done = np.zeros((n_alphas, n_cols), dtype=bool)
        need = np.zeros((n_alphas, n_cols), dtype=bool)
        if not cv.local or warm is None:
            # the whole grid (and, for the local search's first fold, the error
            # curves whose local minima are counted: a coarse grid there missed
            # narrow minima at small alphas on noisy simulated data, 94 % of
            # alphas equal to the exact path's)
            need[:] = True
        else:
            w = np.asarray(warm, dtype=np.int64)
            ar = np.arange(n_cols)
            for off in (-1, 0, 1):
                j = np.clip(w + off, 0, n_alphas - 1)
                need[j, ar] = True
            if minima is not None:
                need[:, minima] = True
        while need.any():
            self._evaluate_all(inner, c_k, eps, need, mse, cv.lowp)
            cv.cost.evals += float(need.sum())
            done |= need
            need[:] = False
            cur = _best(np.where(done, mse, np.inf))
            ar = np.arange(n_cols)
            lower = cur - 1
            ok = lower >= 0
            need[lower[ok], ar[ok]] |= ~done[lower[ok], ar[ok]]
            upper = cur + 1
            ok = upper < n_alphas
            need[upper[ok], ar[ok]] |= ~done[upper[ok], ar[ok]]
        cv.cost.n_fold_targets += n_cols
        full = np.where(done, mse, np.inf)
        if cv.local and warm is None:
            minima = _several_minima(full)
        if cv.lowp is not None and cv.refine:
            full = self._refine(inner, c_k, eps, full)
        best = _best(full)
        # the chosen alpha's validation error, less the constant mean |y|^2
        return best, minima, full[best, np.arange(n_cols)]

    def _refine(self, inner, c_k, eps, low):
        """float32 errors (inf elsewhere) of the alphas that can be the float32
        argmin, given the bfloat16 errors ``low`` (n_alphas x n_cols).

        The alphas of the ``refine`` lowest bfloat16 errors of each target are
        evaluated in float32; their discrepancy measures that target's bfloat16
        error, and every other alpha whose bfloat16 error lies within
        :data:`REFINE_MARGIN` times it of the float32 minimum is evaluated too.
        """
        n_cols = low.shape[1]
        ar = np.arange(n_cols)
        finite = np.isfinite(low)
        need = np.zeros(low.shape, dtype=bool)
        for row in np.argsort(low, axis=0, kind="stable")[:self.cv.refine]:
            need[row, ar] = finite[row, ar]
        exact = np.full(low.shape, np.inf)
        done = np.zeros_like(need)
        while need.any():
            self._evaluate_all(inner, c_k, eps, need, exact, None)
            self.cv.cost.refined += float(need.sum())
            done |= need
            gap = np.where(done, np.abs(exact - low), 0.0).max(0)
            m32 = np.where(done, exact, np.inf).min(0)
            need = finite & ~done & (low - REFINE_MARGIN * gap <= m32)
        return np.where(done, exact, np.inf)

    def _evaluate_all(self, inner, c_k, eps, need, mse, lowp):
        """:meth:`_evaluate` of every (alpha, target) that ``need`` marks."""
        todo = np.flatnonzero(need.any(0))
        # ordered by first needed alpha, then by the set of alphas, so that
        # each alpha's targets are a few contiguous runs
        _, code = _patterns(need[:, todo])
        todo = todo[np.lexsort((code, need[:, todo].argmax(0)))]
        for lo in range(0, todo.size, self.cv.batch):
            sub = todo[lo:lo + self.cv.batch]
            self._evaluate(inner, c_k, eps, sub, need[:, sub], mse, lowp)



# targets per product in the validation error: the (targets x n_val) product
# and its error terms stay in cache (measured ~1.3x faster than one product
# of 4096 targets followed by whole-array elementwise passes)
ERROR_CHUNK = 1024


def _pred_error(ops, c, w, y2, lowp: _LowPrecision | None = None) -> np.ndarray:
    """Row sums of ``p * (p - y2)`` with ``p = c @ w.T`` (float64, one per row).

    ``|y - p|^2 - |y|^2 = p.(p - 2y)``: the same argmin over alphas without the
    constant ``|y|^2``, whose float32 rounding would swamp flat error curves.
    The product is taken in chunks of :data:`ERROR_CHUNK` rows into reused
    buffers, so it and its elementwise terms stay in cache. With ``lowp``,
    ``c`` and ``w`` are bfloat16 tensors: the product is bfloat16 (torch) and
    its error terms float32.
    """
    n, m = c.shape[0], w.shape[0]
    out = np.empty(n)
    chunk = min(n, ERROR_CHUNK)
    torch = lowp.torch if lowp is not None else (
        ops.torch if ops.backend == "torch" else None)
    low = None
    if torch is not None:
        dev, f32 = (lowp.device, torch.float32) if lowp else (ops.device, ops.f32)
        buf = torch.empty((chunk, m), dtype=f32, device=dev)
        tmp = torch.empty((chunk, m), dtype=f32, device=dev)
        if lowp is not None:
            low = torch.empty((chunk, m), dtype=torch.bfloat16, device=dev)
            y2 = lowp.tensor(y2)
    else:
        buf, tmp = np.empty((2, chunk, m), dtype=ops.f32)
    wt = w.T
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        b, t = buf[:hi - lo], tmp[:hi - lo]
        if torch is not None:
            if low is not None:
                torch.matmul(c[lo:hi], wt, out=low[:hi - lo])
                b.copy_(low[:hi - lo])
            else:
                torch.matmul(c[lo:hi], wt, out=b)
            torch.sub(b, y2[lo:hi], out=t)
            t.mul_(b)
            out[lo:hi] = t.sum(1).double().cpu().numpy()
        else:
            np.matmul(c[lo:hi], wt, out=b)
            np.subtract(b, y2[lo:hi], out=t)
            t *= b
            out[lo:hi] = t.sum(1)
    return out


class _LowPrecision:
    """bfloat16 validation products through torch (oneDNN: bfloat16 inputs,
    float32 accumulation), for either backend (see :func:`_pred_error`)."""

    def __init__(self, ops: _Ops):
        import torch

        self.torch, self.ops = torch, ops
        self.device = ops.device if ops.backend == "torch" else "cpu"

    def tensor(self, x):
        if isinstance(x, self.torch.Tensor):
            return x
        return self.torch.from_numpy(np.ascontiguousarray(x))

    def cast(self, x):
        """``x`` (float32, numpy or torch) as a bfloat16 tensor."""
        return self.tensor(x).to(self.torch.bfloat16)


def bf16_isa(cpuinfo: str = "/proc/cpuinfo") -> str | None:
    """This CPU's native bfloat16 matrix ISA that oneDNN may use: ``"amx"``
    (AMX-BF16), ``"avx512_bf16"`` or None (none, or ``ONEDNN_MAX_CPU_ISA`` caps
    oneDNN below it). Linux only (None elsewhere)."""
    import os

    cap = os.environ.get("ONEDNN_MAX_CPU_ISA",
                         os.environ.get("DNNL_MAX_CPU_ISA", "")).upper()
    flags: set[str] = set()
    try:
        with open(cpuinfo) as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        return None
    amx = "amx_bf16" in flags and (not cap or "AMX" in cap or cap == "ALL")
    if amx:
        return "amx"
    if "avx512_bf16" in flags and (not cap or any(k in cap for k in ("BF16", "AMX",
                                                                     "ALL"))):
        return "avx512_bf16"
    return None


def row_pearson(a: np.ndarray, b: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Row-wise Pearson r of two (n_targets x n_samples) arrays, in float64.

    The same values and NaN rule as :func:`~brainscore_speech.encoding.pearson_r`
    (which is column-wise) on the transposes, computed on contiguous rows in
    chunks (no float64 copy of the whole arrays; ~6x faster at LPP size).
    """
    out = np.empty(a.shape[0])
    for lo in range(0, a.shape[0], chunk):
        x = np.array(a[lo:lo + chunk], dtype=np.float64)
        y = np.array(b[lo:lo + chunk], dtype=np.float64)
        x -= x.mean(1, keepdims=True)
        y -= y.mean(1, keepdims=True)
        out[lo:lo + chunk] = r_from_sums(np.einsum("ij,ij->i", x, y),
                                         np.einsum("ij,ij->i", x, x),
                                         np.einsum("ij,ij->i", y, y))
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of the runs of True in a boolean vector."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1).tolist(),
                    np.flatnonzero(edges == -1).tolist()))


def _several_minima(curves: np.ndarray) -> np.ndarray:
    """Columns of (n_alphas x n) error curves with more than one local minimum
    (``<=`` the previous point and ``<`` the next; ties as in :func:`_best`)."""
    pad = np.pad(curves, ((1, 1), (0, 0)), constant_values=np.inf)
    return ((curves <= pad[:-2]) & (curves < pad[2:])).sum(0) > 1


def _patterns(need: np.ndarray) -> tuple[list[list[int]], np.ndarray]:
    """Distinct columns of a boolean (n_alphas x n) matrix and each column's code."""
    if need.shape[0] <= 62:
        bits = (np.int64(1) << np.arange(need.shape[0], dtype=np.int64))
        codes = bits @ need.astype(np.int64)
        uniq, inv = np.unique(codes, return_inverse=True)
        keys = [[a for a in range(need.shape[0]) if (int(u) >> a) & 1] for u in uniq]
        return keys, inv.ravel()
    uniq, inv = np.unique(need.T, axis=0, return_inverse=True)
    return [np.flatnonzero(u).tolist() for u in uniq], inv.ravel()


def _cols(idx: np.ndarray):
    """A slice when the column indices are consecutive (no gather needed)."""
    if idx.size and idx[-1] - idx[0] + 1 == idx.size and np.all(np.diff(idx) == 1):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def _shift(sel, offset: int):
    if isinstance(sel, slice):
        return slice(sel.start + offset, sel.stop + offset)
    return sel + offset


def _take(ops, arr, sel):
    """Rows ``sel`` (targets) of a target-major array: a view for a slice."""
    if isinstance(sel, slice):
        return arr[sel]
    return arr[ops.index(sel)]


def _put(ops, arr, sel, val):
    if isinstance(sel, slice):
        arr[sel] = val
    else:
        arr[ops.index(sel)] = val


def _rows(ops, arr, tsel, ssel):
    """Targets ``tsel`` x samples ``ssel`` of the target-major Y."""
    if isinstance(tsel, slice) or isinstance(ssel, slice):
        t = tsel if isinstance(tsel, slice) or ops is None else ops.index(tsel)
        s = ssel if isinstance(ssel, slice) or ops is None else ops.index(ssel)
        return arr[t, s]
    t = tsel if ops is None else ops.index(tsel)
    s = ssel if ops is None else ops.index(ssel)
    return arr[t][:, s]


class _Dec:
    """Eigendecomposition (float64) of a standardised Gram matrix."""

    def __init__(self, lam, q, alphas):
        self.lam = np.clip(lam, 0.0, None)
        self.q = q
        self.alphas = alphas


def _eighs(mats: list[np.ndarray], workers: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``numpy.linalg.eigh`` of several matrices, ``workers`` at a time.

    LAPACK's symmetric eigensolver scales poorly with BLAS threads (its
    tridiagonal reduction is memory-bound): two of them side by side on one
    BLAS thread each took 68-74 ms per 768 x 768 matrix against 85-93 ms one
    after the other on two threads (2-core AMD EPYC).
    """
    if workers < 2 or len(mats) < 2:
        return [np.linalg.eigh(m) for m in mats]
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"), \
            ThreadPoolExecutor(min(workers, len(mats))) as ex:
        return list(ex.map(np.linalg.eigh, mats))


def _blas_threads() -> int:
    """Threads of the loaded BLAS pools (1 when unknown)."""
    from threadpoolctl import threadpool_info

    sizes = [int(p.get("num_threads") or 1) for p in threadpool_info()
             if p.get("user_api") == "blas"]
    return max(sizes, default=1)


class _Operator:
    """``W(alpha) = X_eval_std (G_std + alpha I)^-1 D^-1`` (float32), lazily per alpha.

    Applied to raw cross-products ``c`` (sums of globally standardised X times Y),
    ``W c`` is the prediction up to the rank-one centring terms, which use
    ``u = W mu`` (and ``W sx`` for inner folds).
    """

    def __init__(self, ops: _Ops, dec: _Dec, x_eval, sd, mu, cost: CostCounter):
        self.ops, self.dec, self.cost = ops, dec, cost
        dt = ops.np_dtype
        q32 = dec.q.astype(dt)
        self.a = ops.asarray(x_eval.astype(dt) @ q32)
        self.qt = ops.asarray(q32.T / sd.astype(dt)[None, :])
        self.mu = mu
        cost.add(x_eval.shape[0], q32.shape[0], q32.shape[1])
        self._w: dict[int, Any] = {}

    def get(self, a: int):
        if a not in self._w:
            g = (1.0 / (self.dec.lam + self.dec.alphas[a])).astype(self.ops.np_dtype)
            w = (self.a * self.ops.asarray(g)[None, :]) @ self.qt
            self.cost.add(self.a.shape[0], self.a.shape[1], self.qt.shape[1])
            u = self.ops.numpy(w @ self.ops.asarray(self.mu))
            self._w[a] = (w, u.astype(np.float64))
        return self._w[a]

    def low(self, a: int, lowp: _LowPrecision):
        """``W(alpha)`` as a bfloat16 tensor (for centred cross-products)."""
        key = ("low", a)
        if key not in self._w:
            self._w[key] = lowp.cast(self.get(a)[0])
        return self._w[key]

    def augmented(self, a: int, sx, n_s: float):
        """``[W, -u, -(W sx - n_S u)]``: applied to ``[c_S, sy, eps]`` it gives
        ``W D^-1 (c_S - mu sy' - sx eps' + n_S mu eps')``, the prediction from
        raw sums centred on the outer mean ``mu``/``eps``."""
        key = ("aug", a)
        if key not in self._w:
            w, u = self.get(a)
            wx = self.ops.numpy(w @ self.ops.asarray(sx)).astype(np.float64)
            extra = np.stack([-u, -(wx - n_s * u)], axis=1)
            if self.ops.backend == "torch":
                aug = self.ops.torch.cat([w, self.ops.asarray(extra)], dim=1)
            else:
                aug = np.concatenate([w, extra.astype(w.dtype)], axis=1)
            self._w[key] = aug
        return self._w[key]


# ---------------------------------------------------------------------------
# cost model (for the pre-fit estimate and the benchmark's floor)

_RATES: dict[tuple, tuple[float, float]] = {}


def measure_rates(ops: _Ops, d: int = 768) -> tuple[float, float]:
    """Measured GEMM rate (MAC/s, ``ops``' dtype) and seconds per d x d eigh.

    About 0.1-0.3 s the first time for each backend, device, dtype and d.
    """
    key = (ops.backend, ops.device, str(ops.np_dtype), int(d))
    if key in _RATES:
        return _RATES[key]
    rng = np.random.default_rng(0)
    m, k, n = 256, 768, 1024
    a = ops.asarray(rng.standard_normal((m, k)))
    b = ops.asarray(rng.standard_normal((k, n)))
    rate = _product_rate(a, b, lambda c: ops.numpy(c[:1, :1]))
    g = rng.standard_normal((max(d, 2), max(d, 2)))
    g = g @ g.T
    t0 = time.perf_counter()
    np.linalg.eigh(g)
    t_eigh = time.perf_counter() - t0
    _RATES[key] = (rate, t_eigh)
    return _RATES[key]


def measure_bf16_rate(device: str = "cpu", *, cached: bool = True) -> float:
    """Measured bfloat16 GEMM rate (MAC/s) of torch on ``device`` (cached unless
    ``cached=False``)."""
    key = ("bf16", device)
    if key not in _RATES or not cached:
        import torch

        a = torch.randn(1024, 768, device=device).to(torch.bfloat16)
        b = torch.randn(320, 768, device=device).to(torch.bfloat16).T
        _RATES[key] = (_product_rate(a, b, lambda c: float(c[0, 0])), 0.0)
    return _RATES[key][0]


def _product_rate(a, b, sync) -> float:
    """MAC/s of ``a @ b`` (repeated for >= 50 ms after a warm-up; ``sync(c)``
    waits for a result)."""
    sync(a @ b)
    reps, t0 = 0, time.perf_counter()
    while True:
        c = a @ b
        reps += 1
        if time.perf_counter() - t0 > 0.05 and reps >= 2:
            break
    sync(c)
    return reps * a.shape[0] * a.shape[1] * b.shape[1] / max(
        time.perf_counter() - t0, 1e-9)


def estimate_job(*, n_samples, n_features, n_targets, splits, inner, n_alphas,
                 solver, ops, target_batch_size=4096, evals_first=10.0,
                 evals_warm=3.2, search_dtype="float32", refine=REFINE) -> dict:
    """Multiply-accumulates, time and peak memory of a ``score_layers`` job.

    Parameters
    ----------
    n_samples, n_targets : int
    n_features : list of int
        One per layer.
    splits, inner : the outer folds and each fold's inner folds (index arrays)
    n_alphas : int
    solver : {"fast", "fast-local", "exact"}
    ops : _Ops
    evals_first, evals_warm : float
        Fast solvers: alphas evaluated per target in a fold on the whole grid
        and in the local search's later folds (typical values measured on the
        benchmark data).
    search_dtype : {"float32", "float64", "bfloat16"}
        The validation products' inputs; bfloat16 ones are timed at the
        measured bfloat16 rate, plus ``refine`` alphas per target in ``ops``'
        dtype.

    Returns
    -------
    dict with ``gmac`` (of which ``bf16_gmac`` in bfloat16), ``eighs``,
    ``seconds``, ``peak_gb`` and the measured ``gemm_gmac_per_s``,
    ``bf16_gmac_per_s`` (None without a bfloat16 search) and ``eigh_s``.
    """
    d_max = max(n_features)
    rate, t_eigh = measure_rates(ops, d_max)
    itemsize = np.dtype(ops.np_dtype).itemsize
    low = solver.startswith("fast") and search_dtype == "bfloat16"
    low_rate = measure_bf16_rate(ops.device if ops.backend == "torch" else "cpu") \
        if low else rate
    macs, low_macs, eighs = 0.0, 0.0, 0
    sets = [np.asarray(s) for tr, te in splits for s in (tr, te)]
    n_atoms = len(_atoms(sets, n_samples)[1])
    for d in n_features:
        for f, (train, test) in enumerate(splits):
            n_tr, n_te = len(train), len(test)
            ins = inner[f] or []
            val = sum(len(v) for _, v in ins)
            if solver.startswith("fast"):
                e = evals_warm if (solver == "fast-local" and f > 0) else evals_first
                e = min(e, n_alphas) if ins else 0
                if low and ins:  # bfloat16 products, then the refined alphas
                    low_macs += e * val * d * n_targets
                    e = min(refine, e)
                macs += e * val * d * n_targets  # validation predictions
                macs += (val + n_te) * d * d * (1 + min(n_alphas, 10))  # operators
                macs += n_te * d * n_targets
            else:
                macs += n_tr * d * n_targets + d * d * n_targets + n_te * d * n_targets
                for _tr, v in ins:
                    macs += len(v) * d * n_targets * (1 + n_alphas) + d * d * n_targets
                    macs += len(v) * d * d
            eighs += 1 + len(ins)
        if solver.startswith("fast"):
            macs += n_samples * d * n_targets  # per-atom cross-products
    seconds = macs / rate + low_macs / low_rate + eighs * t_eigh
    # resident work arrays (the caller's X and Y not included)
    d = d_max
    if solver.startswith("fast"):
        n_val = max((sum(len(v) for _, v in (ins or [])) for ins in inner), default=0)
        words = (n_samples * n_targets + (n_atoms + 2) * d * min(
            n_targets, CROSS_BUDGET_BYTES // max(1, n_atoms * d * itemsize))
            + n_val * d * min(n_alphas, 10) + 4 * d * target_batch_size)
    else:
        words = n_samples * n_targets + 2 * n_samples * d + 4 * n_samples * min(
            n_targets, target_batch_size) + 2 * d * d * (1 + len(inner[0] or []))
    peak = words * itemsize + len(n_features) * len(splits) * n_targets * 12
    return {"gmac": (macs + low_macs) / 1e9, "bf16_gmac": low_macs / 1e9,
            "eighs": eighs, "seconds": float(seconds), "peak_gb": peak / 1e9,
            "gemm_gmac_per_s": rate / 1e9, "bf16_gmac_per_s": low_rate / 1e9 if low
            else None, "eigh_s": t_eigh}
