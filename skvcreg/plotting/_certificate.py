"""Bar chart of a separation certificate: each component's interference and
flags."""

import numpy as np

from ..metrics import SeparationCertificate, separation_certificate

# Colours of a component's bar: separated, in a non-identifiable pair, in a
# dependent pair (the last wins); the hatch of a bar whose interference is
# infinite (two Gaussians: drawn to the top of the axes).
_COLOURS = {"ok": "#4c72b0", "non_identifiable": "#dd8452", "dependent": "#c44e52"}
_INFINITE_HATCH = "//"
# The drift ticks, on the chart and in its legend.
_DRIFT_STYLE = {
    "linestyle": "none",
    "marker": "_",
    "markeredgewidth": 2.0,
    "color": "black",
}
_BAR_INCHES = 0.28  # width per bar of a new figure, between the two bounds
_WIDTH_INCHES = (4.0, 12.0)
_MAX_LABELS = 32  # beyond this many components, every k-th tick is labelled


def _import_pyplot():
    try:
        import matplotlib.pyplot as plt  # noqa: PLC0415 - optional dependency
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "SeparationCertificateDisplay needs matplotlib; install it with "
            "`pip install matplotlib` or `pip install skvcreg[plot]`."
        ) from exc
    return plt


class SeparationCertificateDisplay:
    """Each component's predicted interference, with its flags, as a bar chart.

    One bar per component: its expected leak from the other sources in dB
    (``interference_db`` of the certificate; lower is better). Orange bars are
    components in a pair too close to two Gaussians to separate
    (``non_identifiable``), red bars components still dependent on another
    (``dependent``, a separation that did not finish: the colour wins over
    orange). A hatched bar reaching the top has infinite interference (two
    Gaussians). A black tick on each bar marks the component's ``drift`` (how
    far it would move between fits of the first and second half of the rows
    read, in the same dB). On stationary, independent rows a tick stands about
    ``10 log10(n_samples / n_rows)`` dB above its bar (near it when every row
    is read); a tick far above the others marks a component that changes over
    the recording (``drift_ratio`` says how far beyond sampling noise).
    Legible from 2 to 128 components: beyond 32 only every k-th component is
    labelled. Build it with :meth:`from_certificate` or
    :meth:`from_estimator`; matplotlib is imported only when plotting.

    Parameters
    ----------
    certificate : SeparationCertificate
        From :func:`~skvcreg.metrics.separation_certificate` or
        ``VCRegICA.certificate_``.
    component_names : list of str or None, default=None
        Tick labels, one per component; ``None`` uses ``0, 1, ...``.

    Attributes
    ----------
    ax_ : matplotlib Axes
        Axes holding the chart.
    figure_ : matplotlib Figure
        Figure holding ``ax_``.
    bars_ : matplotlib BarContainer
        The bars, one per component.
    colors_ : list of str
        The status of each bar: ``"ok"``, ``"non_identifiable"`` or
        ``"dependent"``.
    drift_ : matplotlib Line2D or None
        The drift ticks, at ``drift_db`` (those with a finite value); ``None``
        when not drawn.

    See Also
    --------
    skvcreg.metrics.separation_certificate : The certificate drawn.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skvcreg.metrics import separation_certificate
    >>> from skvcreg.plotting import SeparationCertificateDisplay
    >>> S = np.random.default_rng(0).laplace(size=(2000, 3))
    >>> cert = separation_certificate(S, np.eye(3))
    >>> display = SeparationCertificateDisplay.from_certificate(cert)
    >>> len(display.bars_), display.colors_
    (3, ['ok', 'ok', 'ok'])
    """

    def __init__(self, certificate, *, component_names=None):
        self.certificate = certificate
        self.component_names = component_names

    def _status(self):
        cert = self.certificate
        status = np.where(cert.non_identifiable_components, "non_identifiable", "ok")
        if cert.dependent is not None:
            status = np.where(cert.dependent_components, "dependent", status)
        return status.tolist()

    def plot(self, ax=None, *, title=None, legend=True, drift=True):
        """Draw the chart.

        Parameters
        ----------
        ax : matplotlib Axes or None, default=None
            Where to draw; ``None`` makes a new figure, wider with more
            components.
        title : str or None, default=None
            Axes title; ``None`` says what is shown, ``""`` draws none.
        legend : bool, default=True
            Add a legend of the colours present.
        drift : bool, default=True
            Mark each component's ``drift_db`` with a tick (a certificate
            without ``drift`` has none).

        Returns
        -------
        display : SeparationCertificateDisplay
            ``self``, with ``ax_``, ``figure_``, ``bars_``, ``colors_`` and
            ``drift_`` set.

        Raises
        ------
        TypeError
            If ``certificate`` is not a :class:`SeparationCertificate`.
        ValueError
            If ``component_names`` does not have one name per component.
        """
        cert = self.certificate
        if not isinstance(cert, SeparationCertificate):
            raise TypeError(
                "certificate must be a SeparationCertificate (from "
                f"skvcreg.metrics.separation_certificate), got {type(cert).__name__}."
            )
        m = cert.interference_db.shape[0]
        names = self.component_names
        if names is not None and len(names) != m:
            raise ValueError(
                f"The certificate has {m} components but {len(names)} "
                "component_names were given."
            )
        names = [str(i) for i in range(m)] if names is None else list(names)
        plt = _import_pyplot()
        if ax is None:
            low, high = _WIDTH_INCHES
            width = min(high, max(low, 1.2 + _BAR_INCHES * m)) + 2.0  # the legend
            _, ax = plt.subplots(
                figsize=(width, 3.2),
                layout="constrained",
            )
        values = np.asarray(cert.interference_db, dtype=np.float64)
        finite = np.isfinite(values)
        infinite = values == np.inf  # -inf: no other component to leak
        drift_db = None
        if drift and cert.drift_db is not None:
            drift_db = np.asarray(cert.drift_db, dtype=np.float64)
        marked = np.zeros(m, dtype=bool) if drift_db is None else np.isfinite(drift_db)
        levels = np.concatenate(
            [values[finite], drift_db[marked] if marked.any() else []]
        )
        # Bars hang from a baseline 5 dB below the lowest value drawn.
        bottom = (levels.min() if levels.size else -40.0) - 5.0
        top = (levels.max() if levels.size else bottom + 10.0) + 5.0
        if infinite.any():
            top += 5.0
        shown = np.where(infinite, top, np.where(finite, values, bottom))
        self.colors_ = self._status()
        self.bars_ = ax.bar(
            np.arange(m),
            shown - bottom,
            bottom=bottom,
            color=[_COLOURS[s] for s in self.colors_],
            width=0.8,
        )
        for bar, is_infinite in zip(self.bars_, infinite, strict=True):
            if is_infinite:
                bar.set_hatch(_INFINITE_HATCH)
        self.drift_ = None
        if marked.any():
            (self.drift_,) = ax.plot(
                np.flatnonzero(marked),
                drift_db[marked],
                markersize=min(12.0, 400.0 / m),
                **_DRIFT_STYLE,
            )
        ax.set_ylim(bottom, top)
        step = max(1, int(np.ceil(m / _MAX_LABELS)))
        ticks = np.arange(0, m, step)
        ax.set_xticks(ticks, labels=[names[i] for i in ticks], rotation=90)
        ax.set_xlim(-0.6, m - 0.4)
        ax.set_xlabel("component")
        ax.set_ylabel("interference (dB)\nexpected leak of the others")
        if title is None:
            title = f"Separation certificate ({cert.n_samples} samples)"
        ax.set_title(title)
        if legend:
            self._legend(ax, infinite.any(), self.drift_)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    def _legend(self, ax, any_infinite, drift):
        from matplotlib.lines import Line2D  # noqa: PLC0415 - optional dependency
        from matplotlib.patches import Patch  # noqa: PLC0415 - optional dependency

        labels = {
            "ok": "separated",
            "non_identifiable": "non-identifiable pair",
            "dependent": "still dependent (unfinished)",
        }
        handles = [
            Patch(color=_COLOURS[key], label=label)
            for key, label in labels.items()
            if key in self.colors_
        ]
        if any_infinite:
            handles.append(
                Patch(
                    facecolor="white",
                    edgecolor="black",
                    hatch=_INFINITE_HATCH,
                    label="infinite (two Gaussians)",
                )
            )
        if drift is not None:
            handles.append(
                Line2D(
                    [],
                    [],
                    markersize=10.0,
                    label="drift (first vs second half)",
                    **_DRIFT_STYLE,
                )
            )
        ax.legend(
            handles=handles,
            fontsize=8,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            borderaxespad=0.0,
        )

    @classmethod
    def from_certificate(cls, certificate, *, component_names=None, ax=None, **kwargs):
        """Draw a certificate.

        Parameters
        ----------
        certificate : SeparationCertificate
            From :func:`~skvcreg.metrics.separation_certificate` or
            ``VCRegICA.certificate_``.
        component_names : list of str or None, default=None
            Tick labels, one per component.
        ax : matplotlib Axes or None, default=None
            Where to draw.
        **kwargs
            Passed to :meth:`plot` (``title``, ``legend``, ``drift``).

        Returns
        -------
        display : SeparationCertificateDisplay
            The drawn display.
        """
        display = cls(certificate, component_names=component_names)
        return display.plot(ax=ax, **kwargs)

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        *,
        test=True,
        n_rows=20_000,
        random_state=None,
        ax=None,
        **kwargs,
    ):
        """Certify a fitted ICA estimator on ``X`` and draw it.

        Parameters
        ----------
        estimator : fitted estimator with ``components_``
            :class:`~skvcreg.VCRegICA`,
            :class:`~sklearn.decomposition.FastICA` or any estimator whose
            ``components_`` unmixes ``X``.
        X : {array-like, dask array} of shape (n_samples, n_features)
            The data.
        test : bool, default=True
            Run the dependence test (see
            :func:`~skvcreg.metrics.separation_certificate`).
        n_rows : int, default=20_000
            Rows read for the estimates and the test.
        random_state : int, RandomState instance or None, default=None
            Draws the rows.
        ax : matplotlib Axes or None, default=None
            Where to draw.
        **kwargs
            Passed to :meth:`plot` (``title``, ``legend``, ``drift``).

        Returns
        -------
        display : SeparationCertificateDisplay
            The drawn display; component names from the estimator's
            ``get_feature_names_out`` when it has one.
        """
        certificate = separation_certificate(
            X,
            estimator.components_,
            test=test,
            n_rows=n_rows,
            random_state=random_state,
        )
        names = None
        if hasattr(estimator, "get_feature_names_out"):
            names = [str(name) for name in estimator.get_feature_names_out()]
        display = cls(certificate, component_names=names)
        return display.plot(ax=ax, **kwargs)
