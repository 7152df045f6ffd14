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
    assert_allclose(display.im_.get_array(), display.matrix)
    assert display.text_.shape == (3, 3) and display.colorbar_ is not None
    assert display.im_.get_clim() == (0.0, 1.0)


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
