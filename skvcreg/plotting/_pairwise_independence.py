"""Heat map of the pairwise (in)dependence of the columns of a representation."""

from numbers import Real

import numpy as np

from ..metrics import pairwise_hsic
from ..metrics._validation import check_bool


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


# Default figure geometry, in inches: a cell of the heat map, the smallest side of
# the map (room for the title and the colour-bar label at 2 columns), the colour
# bar's width and gap, and the margin left around everything once drawn.
_CELL_INCHES = 0.45
_MIN_SIDE_INCHES = 2.2
_COLORBAR_INCHES = 0.15
_COLORBAR_GAP_INCHES = 0.12
_MARGIN_INCHES = 0.08
# Symmetry is checked to this relative tolerance (rounding of a computed matrix).
_SYMMETRY_RTOL = 1e-8


def _check_matrix(matrix):
    """The matrix as a finite, square, symmetric float array."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(
            "matrix must be square, of shape (n_columns, n_columns), got shape "
            f"{matrix.shape}."
        )
    if matrix.size == 0:
        raise ValueError("matrix is empty (shape (0, 0)).")
    if not np.all(np.isfinite(matrix)):
        raise ValueError("matrix contains NaN or infinity.")
    asymmetry = np.abs(matrix - matrix.T).max()
    if asymmetry > _SYMMETRY_RTOL * np.abs(matrix).max():
        raise ValueError(
            "matrix must be symmetric (a pairwise dependence matrix); "
            f"|matrix - matrix.T| reaches {asymmetry:.3g}."
        )
    return matrix


def _check_feature_names(feature_names, d):
    """One name per column, as a list of str: ``None`` gives ``z0, z1, ...``;
    any sequence of names (a list, or the numpy array that
    ``get_feature_names_out`` returns) is accepted, a single string is not."""
    if feature_names is None:
        return [f"z{i}" for i in range(d)]
    if isinstance(feature_names, str) or np.ndim(feature_names) != 1:
        raise ValueError(
            "feature_names must be a sequence of names, one per column, got "
            f"{feature_names!r}."
        )
    names = [str(name) for name in feature_names]
    if len(names) != d:
        raise ValueError(
            f"matrix has {d} columns but {len(names)} feature_names were given."
        )
    return names


def _colour_range(off_diagonal, vmax):
    """(vmin, vmax): from 0 (or a negative unbiased value) to the largest
    off-diagonal value, unless ``vmax`` is given."""
    low = min(0.0, off_diagonal.min()) if off_diagonal.size else 0.0
    if vmax is None:
        high = max(0.0, off_diagonal.max()) if off_diagonal.size else 0.0
        vmax = high if high > low else low + 1.0
    elif isinstance(vmax, bool) or not isinstance(vmax, Real) or not vmax > low:
        raise ValueError(
            f"vmax must be a number above the bottom of the colour scale, {low:.3g} "
            f"(0, or the smallest off-diagonal value if negative), got {vmax!r}."
        )
    elif not np.isfinite(vmax):
        raise ValueError(f"vmax must be finite, got {vmax!r}.")
    return low, float(vmax)


def _new_figure(plt, d):
    """A figure whose heat map has cells of ``_CELL_INCHES``; the margins are
    set by :func:`_fit_figure` once the labels are drawn."""
    side = max(_MIN_SIDE_INCHES, _CELL_INCHES * d)
    fig = plt.figure(figsize=(side + 1.0, side + 1.0))
    ax = fig.add_axes((0.0, 0.0, side / (side + 1.0), side / (side + 1.0)))
    return fig, ax


def _fit_figure(fig, axes):
    """Resize ``fig`` to the extent of its drawn content plus a margin, and move
    ``axes`` so that nothing is clipped. Text sizes are in points, so one
    measurement is enough."""
    renderer = fig.canvas.get_renderer()
    content = fig.get_tightbbox(renderer)  # inches
    width = content.width + 2 * _MARGIN_INCHES
    height = content.height + 2 * _MARGIN_INCHES
    dx, dy = _MARGIN_INCHES - content.x0, _MARGIN_INCHES - content.y0
    boxes = [ax.get_position() for ax in axes]
    old_width, old_height = fig.get_size_inches()
    fig.set_size_inches(width, height)
    for ax, box in zip(axes, boxes, strict=True):
        ax.set_position(
            (
                (box.x0 * old_width + dx) / width,
                (box.y0 * old_height + dy) / height,
                box.width * old_width / width,
                box.height * old_height / height,
            )
        )


class PairwiseIndependenceDisplay:
    """Heat map of the pairwise HSIC (or CKA) matrix of a representation.

    Build it with :meth:`from_estimator` (columns of ``estimator.transform(X)``)
    or :meth:`from_data` (columns of ``X``), or directly from a matrix, then call
    :meth:`plot`. matplotlib is imported only when plotting.

    The diagonal (a column's dependence on itself: 1 for CKA) is drawn in grey
    and left out of the colour scale, which spans the off-diagonal values, so a
    dependence of 0.1 is as visible as one of 0.9; the colour-bar label says so.
    Pass ``vmax`` to :meth:`plot` for a fixed scale (to compare displays).

    Parameters
    ----------
    matrix : array-like of shape (n_columns, n_columns)
        Symmetric dependence matrix, e.g. from
        :func:`~skvcreg.metrics.pairwise_hsic`; checked when plotting.
    feature_names : array-like of str or None, default=None
        Tick labels, one per column (a list, or the array that
        ``get_feature_names_out()`` returns); ``None`` uses ``z0, z1, ...``.
    normalize : bool, default=True
        Whether ``matrix`` holds CKA values (in ``[0, 1]``); sets the colour-bar
        label and the number format.

    Attributes
    ----------
    ax_ : matplotlib Axes
        Axes holding the heat map.
    figure_ : matplotlib Figure
        Figure holding ``ax_``.
    im_ : matplotlib AxesImage
        The heat map; its array is ``matrix`` with the diagonal masked.
    colorbar_ : matplotlib Colorbar or None
        The colour bar, if drawn.
    text_ : ndarray of matplotlib Text or None
        The printed off-diagonal values, if ``annotate`` (``None`` on the
        diagonal).

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
        self,
        ax=None,
        *,
        cmap="viridis",
        annotate=None,
        colorbar=True,
        title=None,
        vmax=None,
    ):
        """Draw the heat map.

        Parameters
        ----------
        ax : matplotlib Axes or None, default=None
            Where to draw; ``None`` makes a new figure sized to its content
            (cells of about 0.45 inch, room for the title and every label).
        cmap : str or matplotlib Colormap, default="viridis"
            Colour map.
        annotate : bool or None, default=None
            Print the values in the cells; ``None`` does so up to 12 columns.
        colorbar : bool, default=True
            Add a colour bar.
        title : str or None, default=None
            Axes title; ``None`` names the measure shown, ``""`` draws none.
        vmax : float or None, default=None
            Top of the colour scale. ``None`` uses the largest off-diagonal
            value, so that weak dependences are visible; a fixed value (1.0 for
            CKA) makes several displays comparable.

        Returns
        -------
        display : PairwiseIndependenceDisplay
            ``self``, with ``ax_``, ``figure_``, ``im_`` set.

        Raises
        ------
        ValueError
            If the matrix is not square, not symmetric, empty or not finite,
            ``feature_names`` does not have one name per column, or ``vmax`` is
            not above the bottom of the colour scale; or if ``normalize``,
            ``colorbar`` or ``annotate`` is not a bool.
        """
        plt = _import_pyplot()
        matrix = _check_matrix(self.matrix)
        d = matrix.shape[0]
        names = _check_feature_names(self.feature_names, d)
        normalize = check_bool(self.normalize, "normalize")
        colorbar = check_bool(colorbar, "colorbar")
        if annotate is not None:
            annotate = check_bool(annotate, "annotate")
        diagonal = np.eye(d, dtype=bool)
        low, high = _colour_range(matrix[~diagonal], vmax)
        new_figure = ax is None
        if new_figure:
            _, ax = _new_figure(plt, d)
        colours = plt.get_cmap(cmap).with_extremes(bad="0.85")
        shown = np.ma.masked_array(matrix, mask=diagonal)
        self.im_ = ax.imshow(shown, cmap=colours, vmin=low, vmax=high)
        ax.set_xticks(range(d), labels=names, rotation=90)
        ax.set_yticks(range(d), labels=names)
        measure = "CKA (normalised HSIC)" if normalize else "HSIC"
        ax.set_title(f"Pairwise dependence ({measure})" if title is None else title)
        self.text_ = None
        if annotate or (annotate is None and d <= 12):
            self.text_ = self._annotate(ax, matrix, normalize)
        self.colorbar_ = None
        if colorbar:
            label = measure if vmax is not None else f"{measure}\noff-diagonal range"
            self.colorbar_ = self._colorbar(ax, label, new_figure)
        if new_figure:
            _fit_figure(ax.figure, ax.figure.axes)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    def _annotate(self, ax, matrix, normalize):
        """Off-diagonal values, in black or white for contrast with the cell."""
        d = matrix.shape[0]
        text = np.empty((d, d), dtype=object)
        fmt = ".2f" if normalize else ".2g"
        for i in range(d):
            for j in range(d):
                if i == j:
                    continue
                r, g, b, _ = self.im_.to_rgba(matrix[i, j])
                light = 0.299 * r + 0.587 * g + 0.114 * b > 0.5
                text[i, j] = ax.text(
                    j,
                    i,
                    format(matrix[i, j], fmt),
                    ha="center",
                    va="center",
                    color="black" if light else "white",
                    fontsize=8,
                )
        return text

    def _colorbar(self, ax, label, new_figure):
        fig = ax.figure
        if not new_figure:
            return fig.colorbar(self.im_, ax=ax, label=label)
        box = ax.get_position()
        width, _ = fig.get_size_inches()
        cax = fig.add_axes(
            (
                box.x1 + _COLORBAR_GAP_INCHES / width,
                box.y0,
                _COLORBAR_INCHES / width,
                box.height,
            )
        )
        return fig.colorbar(self.im_, cax=cax, label=label)

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
        vmax=None,
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
        ax, cmap, annotate, colorbar, title, vmax
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
            ax=ax,
            cmap=cmap,
            annotate=annotate,
            colorbar=colorbar,
            title=title,
            vmax=vmax,
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
        vmax=None,
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
        normalize, feature_names, ax, cmap, annotate, colorbar, title, vmax, \
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
            vmax=vmax,
            **hsic_params,
        )
