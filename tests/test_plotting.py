import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.decomposition import FastICA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skvcreg.metrics import pairwise_hsic
from skvcreg.plotting import PairwiseIndependenceDisplay

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")


@pytest.fixture
def X():
    rng = np.random.default_rng(0)
    return rng.laplace(size=(200, 3)) @ rng.normal(size=(3, 3))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_from_data_stores_matplotlib_objects(X):
    display = PairwiseIndependenceDisplay.from_data(X)
    assert_allclose(display.matrix, pairwise_hsic(X, normalize=True))
    assert display.feature_names == ["x0", "x1", "x2"]
    assert display.ax_.figure is display.figure_
    assert_allclose(display.im_.get_array().data, display.matrix)
    assert display.text_.shape == (3, 3) and display.colorbar_ is not None
    off_diagonal = display.matrix[~np.eye(3, dtype=bool)]
    assert display.im_.get_clim() == (0.0, off_diagonal.max())


def test_from_estimator_on_pipeline_uses_given_axes(X):
    pipe = make_pipeline(StandardScaler(), FastICA(random_state=0)).fit(X)
    fig, ax = plt.subplots()
    display = PairwiseIndependenceDisplay.from_estimator(
        pipe, X, ax=ax, annotate=False, colorbar=False, normalize=False
    )
    assert display.ax_ is ax and display.figure_ is fig
    assert display.text_ is None and display.colorbar_ is None
    assert display.feature_names == ["fastica0", "fastica1", "fastica2"]
    assert_allclose(display.matrix, pairwise_hsic(pipe.transform(X)))
    assert [t.get_text() for t in ax.get_xticklabels()] == display.feature_names


def test_dataframe_names_and_replot(X):
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    display = PairwiseIndependenceDisplay.from_data(frame, method="exact")
    assert display.feature_names == ["a", "b", "c"]
    first_ax = display.ax_
    display.plot(cmap="magma")
    assert display.ax_ is not first_ax


@pytest.mark.parametrize(
    ("title", "expected"),
    [(None, "Pairwise dependence (CKA (normalised HSIC))"), ("", ""), ("mine", "mine")],
)
def test_title(X, title, expected):
    pipe = make_pipeline(StandardScaler(), FastICA(random_state=0)).fit(X)
    display = PairwiseIndependenceDisplay.from_estimator(pipe, X, title=title)
    assert display.ax_.get_title() == expected


def test_constructor_then_plot():
    display = PairwiseIndependenceDisplay(np.eye(2)).plot()
    assert display.feature_names is None
    assert [t.get_text() for t in display.ax_.get_yticklabels()] == ["z0", "z1"]


def test_matplotlib_imported_lazily():
    code = (
        "import sys, skvcreg.plotting, skvcreg.metrics; "
        "assert 'matplotlib' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("matrix", "kwargs", "match"),
    [
        (np.ones((2, 3)), {}, r"square.*\(2, 3\)"),
        (np.ones(3), {}, r"square.*\(3,\)"),
        (np.zeros((0, 0)), {}, "empty"),
        (np.array([[1.0, 0.2], [0.5, 1.0]]), {}, "symmetric"),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), {}, "NaN or infinity"),
        (np.eye(3), {"feature_names": ["a", "b"]}, "3 columns but 2 feature_names"),
        (np.eye(3), {"feature_names": np.array(["a", "b"])}, "3 columns but 2"),
        (np.eye(2), {"feature_names": "ab"}, "a sequence of names, one per column"),
        (np.eye(2), {"normalize": "False"}, "normalize must be True or False"),
    ],
)
def test_bad_matrix_is_refused(matrix, kwargs, match):
    with pytest.raises(ValueError, match=match):
        PairwiseIndependenceDisplay(matrix, **kwargs).plot()


def _four_columns():
    matrix = np.eye(4)
    matrix[0, 3] = matrix[3, 0] = 0.12  # a real dependence, small next to 1
    matrix[1, 2] = matrix[2, 1] = 0.03
    return matrix


def test_off_diagonal_entries_take_the_colour_scale():
    display = PairwiseIndependenceDisplay(_four_columns()).plot()
    # The diagonal (1 by construction) no longer sets the scale: 0.12 is the top.
    assert display.im_.get_clim() == (0.0, pytest.approx(0.12))
    data = display.im_.get_array()
    off = ~np.eye(4, dtype=bool)
    assert np.all(np.ma.getmaskarray(data) == ~off)
    assert_allclose(data[off], _four_columns()[off])
    top = display.im_.cmap(1.0)
    assert display.im_.to_rgba(0.12) == pytest.approx(top)
    label = display.colorbar_.ax.get_ylabel()
    assert "CKA" in label and "off-diagonal" in label
    assert display.text_[0, 0] is None and display.text_[0, 3].get_text() == "0.12"


def test_fixed_colour_scale_on_request():
    display = PairwiseIndependenceDisplay(_four_columns()).plot(vmax=1.0)
    assert display.im_.get_clim() == (0.0, 1.0)
    assert "off-diagonal" not in display.colorbar_.ax.get_ylabel()


@pytest.mark.parametrize("d", [2, 3, 4, 16])
@pytest.mark.parametrize("normalize", [True, False])
def test_default_figure_fits_its_content(d, normalize):
    rng = np.random.default_rng(d)
    X = rng.laplace(size=(200, d))
    names = [f"component_{i}" for i in range(d)]
    display = PairwiseIndependenceDisplay.from_data(
        X, feature_names=names, normalize=normalize
    )
    fig = display.figure_
    fig.canvas.draw()
    content = fig.get_tightbbox(fig.canvas.get_renderer())  # inches
    width, height = fig.get_size_inches()
    # Title, tick labels and colour-bar label all inside the figure.
    assert content.x0 >= 0 and content.y0 >= 0
    assert content.x1 <= width and content.y1 <= height
    # ... and no more than a small margin around them.
    assert width - content.width < 0.5 and height - content.height < 0.5
    # The heat map is not squeezed: cells of at least a quarter inch.
    cell = display.ax_.get_window_extent().width / fig.dpi / d
    assert cell >= 0.25


def test_feature_names_as_a_numpy_array(X):
    """The natural call, with the array ``get_feature_names_out()`` returns,
    was "the truth value of an array is ambiguous"."""
    est = FastICA(n_components=3, random_state=0, whiten="unit-variance").fit(X)
    names = est.get_feature_names_out()
    assert isinstance(names, np.ndarray)
    display = PairwiseIndependenceDisplay(np.eye(3), feature_names=names).plot()
    labels = [t.get_text() for t in display.ax_.get_xticklabels()]
    assert labels == ["fastica0", "fastica1", "fastica2"]


@pytest.mark.parametrize(
    "vmax, match",
    [
        # Before: matplotlib's "minvalue must be less than or equal to maxvalue".
        (-1, r"vmax must be a number above the bottom of the colour scale, 0 "),
        (0.0, "above the bottom of the colour scale"),
        ("1", "above the bottom of the colour scale"),
        (np.inf, "vmax must be finite"),
    ],
)
def test_bad_vmax_is_named(vmax, match):
    display = PairwiseIndependenceDisplay(_four_columns())
    with pytest.raises(ValueError, match=match):
        display.plot(vmax=vmax)
    assert display.plot(vmax=0.5).im_.get_clim() == (0.0, 0.5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"annotate": "False"}, "annotate must be True or False, got 'False'"),
        ({"colorbar": "no"}, "colorbar must be True or False, got 'no'"),
    ],
)
def test_switches_must_be_bools(kwargs, match):
    # A non-empty string is true: it would silently switch the option on.
    with pytest.raises(ValueError, match=match):
        PairwiseIndependenceDisplay(_four_columns()).plot(**kwargs)
