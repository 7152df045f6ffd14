"""Exact Gram-matrix sums for many variables at once, in row blocks (torch).

For variables ``v = 1..V`` with Gaussian Gram matrices ``K_v`` (``n x n``, from
the engine's ``GaussianGrams``), the matrices are never stored: rows ``a`` in
``[start, stop)`` of all of them are built together as a ``(V, b, n)`` block,
flattened to ``(V, b n)`` and multiplied by their own transpose, so every pair of
variables comes from one matrix product per block and memory stays ``O(V b n)``
with ``b`` chosen from a byte budget.

Centring without ``n^3`` products: with row sums ``r_v = K_v 1`` and
``s_v = 1^T K_v 1``,

    tr(K_i H K_j H) = <K_i, K_j>_F - (2/n) r_i . r_j + s_i s_j / n^2,

and for the unbiased estimator (Song et al. 2012), with zero-diagonal Grams,

    n (n-3) HSIC_u = <K~_i, K~_j>_F + s~_i s~_j / ((n-1)(n-2)) - 2/(n-2) r~_i . r~_j.

Both estimators are unchanged when a constant is added to the off-diagonal kernel
values, so each Gram is shifted by its mean off-diagonal value (estimated on the
first block) before the sums, which keeps the cancellation in these formulas to a
few digits.
"""

import torch


def _zero_diagonal(block, start):
    b = block.shape[1]
    idx = torch.arange(b, device=block.device)
    block[:, idx, idx + start] = 0.0


def gram_statistics(grams, *, estimator):
    """Pairwise HSIC sums over all pairs of variables, one pass over the rows.

    Returns ``(S, row_sums)``: ``S[i, j] = tr(K_i H K_j H)`` (biased) or
    ``n (n-3) HSIC_u`` (unbiased); ``row_sums`` (V, n) of the raw Grams.
    """
    n, V = grams.n, grams.n_variables
    unbiased = estimator == "unbiased"
    dev = grams.device
    P = torch.zeros(V, V, dtype=torch.float64, device=dev)
    r = torch.zeros(V, n, dtype=torch.float64, device=dev)
    raw = torch.zeros(V, n, dtype=torch.float64, device=dev)
    shift = None
    for start, stop, block in grams.blocks():
        raw[:, start:stop] = block.sum(dim=2)
        if shift is None:  # mean off-diagonal value of the first block
            count = block.shape[1] * n - block.shape[1]
            shift = (block.sum(dim=(1, 2)) - block.shape[1]) / max(count, 1)
        block -= shift[:, None, None]
        if unbiased:
            _zero_diagonal(block, start)
        r[:, start:stop] = block.sum(dim=2)
        flat = block.reshape(V, -1)
        P += flat @ flat.T
    rr = r @ r.T
    s = r.sum(dim=1)
    if unbiased:
        S = P + torch.outer(s, s) / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * rr
    else:
        S = P - 2.0 / n * rr + torch.outer(s, s) / n**2
    return S.cpu().numpy(), raw.cpu().numpy()


def centred_square_sums(grams, row_sums):
    """``V[i, j] = sum_{a != b} (HK_iH)_ab^2 (HK_jH)_ab^2`` (second pass)."""
    n, V = grams.n, grams.n_variables
    dev = grams.device
    means = torch.as_tensor(row_sums / n, device=dev)
    grand = means.mean(dim=1)
    W = torch.zeros(V, V, dtype=torch.float64, device=dev)
    diag = torch.zeros(V, n, dtype=torch.float64, device=dev)
    for start, stop, block in grams.blocks(factor=2):
        block -= means[:, start:stop, None]
        block -= means[:, None, :]
        block += grand[:, None, None]
        block.square_()
        idx = torch.arange(stop - start, device=dev)
        diag[:, start:stop] = block[:, idx, idx + start]
        flat = block.reshape(V, -1)
        W += flat @ flat.T
    W -= diag @ diag.T
    return W.cpu().numpy()
