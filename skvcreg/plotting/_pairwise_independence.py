"""Heat map of the pairwise (in)dependence of the columns of a representation."""

import numpy as np

from ..metrics import pairwise_hsic


def _import_pyplot():
    try:
        import matplotlib.pyplot as plt  # noqa: PLC0415 - optional dependency
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "PairwiseIndependenceDisplay needs matplotlib; install it with "
            "`pip install matplotlib` or `pip install skvcreg[plot]`."
        ) from exc
    return plt


def _column_names(X, n_columns, prefix):
    columns = getattr(X, "columns", None)
    if columns is not None and len(columns) == n_columns:
        return [str(c) for c in columns]
    return [f"{prefix}{i}" for i in range(n_columns)]


class PairwiseIndependenceDisplay:
    """Heat map of the pairwise HSIC (or CKA) matrix of a representation.

    Build it with :meth:`from_estimator` (columns of ``estimator.transform(X)``)
    or :meth:`from_data` (columns of ``X``), or directly from a matrix, then call
    :meth:`plot`. matplotlib is imported only when plotting.

    Parameters
    ----------
    matrix : ndarray of shape (n_columns, n_columns)
        Symmetric dependence matrix, e.g. from
        :func:`~skvcreg.metrics.pairwise_hsic`.
    feature_names : list of str or None, default=None
        Tick labels; ``None`` uses ``z0, z1, ...``.
    normalize : bool, default=True
        Whether ``matrix`` holds CKA values (in ``[0, 1]``); sets the colour
        scale and the colour-bar label.

    Attributes
    ----------
    ax_ : matplotlib Axes
        Axes holding the heat map.
    figure_ : matplotlib Figure
        Figure holding ``ax_``.
    im_ : matplotlib AxesImage
        The heat map.
    colorbar_ : matplotlib Colorbar or None
        The colour bar, if drawn.
    text_ : ndarray of matplotlib Text or None
        The printed values, if ``annotate``.

    See Also
    --------
    skvcreg.metrics.pairwise_hsic : the matrix shown.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn.decomposition import FastICA
    >>> from skvcreg.plotting import PairwiseIndependenceDisplay
    >>> rng = np.random.default_rng(0)
    >>> X = rng.laplace(size=(300, 3)) @ rng.normal(size=(3, 3))
    >>> ica = FastICA(random_state=0).fit(X)
    >>> display = PairwiseIndependenceDisplay.from_estimator(ica, X)
    >>> display.matrix.shape, display.feature_names
    ((3, 3), ['fastica0', 'fastica1', 'fastica2'])
    >>> display.im_.get_array().shape
    (3, 3)
    """

    def __init__(self, matrix, *, feature_names=None, normalize=True):
        self.matrix = matrix
        self.feature_names = feature_names
        self.normalize = normalize

    def plot(
        self, ax=None, *, cmap="viridis", annotate=None, colorbar=True, title=None
    ):
        """Draw the heat map.

        Parameters
        ----------
        ax : matplotlib Axes or None, default=None
            Where to draw; ``None`` makes a new figure.
        cmap : str or matplotlib Colormap, default="viridis"
            Colour map.
        annotate : bool or None, default=None
            Print the values in the cells; ``None`` does so up to 12 columns.
        colorbar : bool, default=True
            Add a colour bar.
        title : str or None, default=None
            Axes title; ``None`` names the measure shown, ``""`` draws none.

        Returns
        -------
        display : PairwiseIndependenceDisplay
            ``self``, with ``ax_``, ``figure_``, ``im_`` set.
        """
        plt = _import_pyplot()
        matrix = np.asarray(self.matrix, dtype=float)
        d = matrix.shape[0]
        names = self.feature_names or [f"z{i}" for i in range(d)]
        if ax is None:
            _, ax = plt.subplots(figsize=(1.0 + 0.45 * d, 0.6 + 0.4 * d))
        vmax = 1.0 if self.normalize else None
        self.im_ = ax.imshow(matrix, cmap=cmap, vmin=0.0, vmax=vmax)
        ax.set_xticks(range(d), labels=names, rotation=90)
        ax.set_yticks(range(d), labels=names)
        label = "CKA (normalised HSIC)" if self.normalize else "HSIC"
        ax.set_title(f"Pairwise dependence ({label})" if title is None else title)
        self.text_ = None
        if annotate or (annotate is None and d <= 12):
            self.text_ = np.empty((d, d), dtype=object)
            threshold = 0.5 * (matrix.max() + matrix.min())
            for i in range(d):
                for j in range(d):
                    colour = "black" if matrix[i, j] > threshold else "white"
                    self.text_[i, j] = ax.text(
                        j,
                        i,
                        f"{matrix[i, j]:.2f}",
                        ha="center",
                        va="center",
                        color=colour,
                        fontsize=8,
                    )
        self.colorbar_ = (
            ax.figure.colorbar(self.im_, ax=ax, label=label) if (colorbar) else None
        )
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_data(
        cls,
        X,
        *,
        normalize=True,
        feature_names=None,
        ax=None,
        cmap="viridis",
        annotate=None,
        colorbar=True,
        title=None,
        **hsic_params,
    ):
        """Heat map of :func:`~skvcreg.metrics.pairwise_hsic` of the columns of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_columns)
            Data; a DataFrame's column names become the labels.
        normalize : bool, default=True
            Show CKA (True) or raw HSIC.
        feature_names : list of str or None, default=None
            Labels; default from ``X`` or ``x0, x1, ...``.
        ax, cmap, annotate, colorbar, title
            Passed to :meth:`plot`.
        **hsic_params
            Passed to :func:`~skvcreg.metrics.pairwise_hsic` (``bandwidth``,
            ``method``...).

        Returns
        -------
        display : PairwiseIndependenceDisplay
        """
        matrix = pairwise_hsic(X, normalize=normalize, **hsic_params)
        if feature_names is None:
            feature_names = _column_names(X, matrix.shape[0], "x")
        display = cls(matrix, feature_names=feature_names, normalize=normalize)
        return display.plot(
            ax=ax, cmap=cmap, annotate=annotate, colorbar=colorbar, title=title
        )

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        *,
        normalize=True,
        feature_names=None,
        ax=None,
        cmap="viridis",
        annotate=None,
        colorbar=True,
        title=None,
        **hsic_params,
    ):
        """Heat map of the dependence between the columns of
        ``estimator.transform(X)``.

        Parameters
        ----------
        estimator : fitted transformer or Pipeline
            Anything with ``transform``; its ``get_feature_names_out()`` gives
            the labels when available.
        X : array-like of shape (n_samples, n_features)
            Input of ``transform``.
        normalize, feature_names, ax, cmap, annotate, colorbar, title, \
**hsic_params
            As in :meth:`from_data`.

        Returns
        -------
        display : PairwiseIndependenceDisplay
        """
        Z = estimator.transform(X)
        if feature_names is None and hasattr(estimator, "get_feature_names_out"):
            try:
                feature_names = [str(c) for c in estimator.get_feature_names_out()]
            except (AttributeError, ValueError, TypeError):
                feature_names = None
        if feature_names is None:
            feature_names = _column_names(Z, np.shape(Z)[1], "z")
        return cls.from_data(
            Z,
            normalize=normalize,
            feature_names=feature_names,
            ax=ax,
            cmap=cmap,
            annotate=annotate,
            colorbar=colorbar,
            title=title,
            **hsic_params,
        )
