"""A simulated multichannel recording: brain rhythms and artefacts seen through
a smooth, ill-conditioned head-like mixing (for the ICA benchmark).

Sources (one per channel, at 1000 samples per second):

- the artefacts people remove with ICA: eye blinks (large smooth pulses at
  random times), saccades (steps), the heartbeat (sharp periodic complexes),
  mains interference (a pure 50 Hz sine, sub-Gaussian), muscle (bursts of
  broadband noise) and epileptiform spikes; mains and saccades drift a little
  (the mains frequency and amplitude wander, saccades have 20 ms transitions and
  a slow drift), as they do in a recording;
- rhythms: alpha (10 Hz), beta (20 Hz), theta (6 Hz), each with a slowly
  wandering amplitude;
- every artefact and rhythm with 2% white noise of its own;
- background activity for the rest: autoregressive noise with Laplace,
  Student-t or uniform innovations, nearly Gaussian after the filter (the hard
  part of any real recording).

Mixing: electrodes on the upper unit hemisphere, each source a current dipole
at radius 0.5-0.8 with a random orientation; the potential of dipole ``j`` at
electrode ``i`` is ``o_j . (r_i - q_j) / |r_i - q_j|^3``. Nearby dipoles give
nearly collinear columns, so the mixing is smooth and ill-conditioned, as a
head's lead field is.
"""

import numpy as np
from scipy import signal

__all__ = ["make_recording"]

_RATE = 1000.0


def _pulses(n, rate, width, rng, shape="gauss"):
    """Pulses at Poisson times (``rate`` per second) of ``width`` seconds."""
    train = (rng.random(n) < rate / _RATE).astype(float)
    train *= rng.uniform(0.5, 1.5, size=n)
    half = int(4 * width * _RATE)
    t = np.arange(-half, half + 1) / _RATE
    if shape == "gauss":
        kernel = np.exp(-0.5 * (t / width) ** 2)
    else:  # a sharp biphasic complex
        kernel = -np.gradient(np.exp(-0.5 * (t / width) ** 2))
    return signal.fftconvolve(train, kernel, mode="same")


def _rhythm(n, frequency, rng):
    t = np.arange(n) / _RATE
    envelope = signal.lfilter([1.0], [1.0, -0.999], rng.standard_normal(n))
    envelope = 1.0 + 0.5 * envelope / np.abs(envelope).max()
    phase = 2 * np.pi * rng.random()
    wander = np.cumsum(rng.standard_normal(n)) * 1e-3
    return envelope * np.sin(2 * np.pi * frequency * t + phase + wander)


def _heartbeat(n, rng):
    period = _RATE / rng.uniform(1.0, 1.4)
    beats = np.arange(rng.uniform(0, period), n, period)
    beats = (beats + rng.normal(0, 0.03 * period, size=len(beats))).astype(int)
    train = np.zeros(n)
    train[beats[(beats >= 0) & (beats < n)]] = 1.0
    half = int(0.1 * _RATE)
    t = np.arange(-half, half + 1) / _RATE
    kernel = -np.gradient(np.exp(-0.5 * (t / 0.01) ** 2))
    return signal.fftconvolve(train, kernel, mode="same")


def _mains(n, rng):
    """50 Hz interference whose frequency and amplitude wander slowly."""
    drift = signal.lfilter([1.0], [1.0, -0.9999], rng.standard_normal(n))
    frequency = 50.0 + 0.05 * drift / np.abs(drift).max()
    phase = 2 * np.pi * np.cumsum(frequency) / _RATE + 2 * np.pi * rng.random()
    return (1.0 + 0.1 * drift / np.abs(drift).max()) * np.sin(phase)


def _saccades(n, rng):
    """Steps between gaze positions (20 ms transitions) on a slow drift."""
    positions = np.cumsum(rng.random(n) < 0.5 / _RATE) % 2 - 0.5
    half = int(0.02 * _RATE)
    steps = np.convolve(positions, np.ones(2 * half + 1) / (2 * half + 1), "same")
    drift = np.cumsum(rng.standard_normal(n)) / np.sqrt(n)
    return steps + 0.2 * drift


def _muscle(n, rng):
    bursts = _pulses(n, 0.5, 0.3, rng) > 0.3
    noise = signal.lfilter([1.0, -1.0], [1.0], rng.standard_normal(n))
    return noise * (0.1 + bursts)


def _background(n, rng, kind):
    innovations = {
        0: rng.laplace(size=n),
        1: rng.standard_t(5, size=n),
        2: rng.uniform(-1, 1, size=n),
    }[kind % 3]
    return signal.lfilter([1.0], [1.0, -rng.uniform(0.5, 0.95)], innovations)


def _sources(m, n, rng):
    makers = [
        lambda: _pulses(n, 0.3, 0.08, rng),  # blinks
        lambda: _rhythm(n, 10.0, rng),  # alpha
        lambda: _heartbeat(n, rng),
        lambda: _mains(n, rng),
        lambda: _muscle(n, rng),
        lambda: _saccades(n, rng),
        lambda: _pulses(n, 0.5, 0.01, rng, shape="spike"),  # spikes
        lambda: _rhythm(n, 20.0, rng),  # beta
        lambda: _rhythm(n, 6.0, rng),  # theta
    ]
    columns = [make() for make in makers[:m]]
    # Every artefact carries a little activity of its own (2% of its scale),
    # so none is exactly zero between events, as none is in a recording.
    columns = [c + 0.02 * c.std() * rng.standard_normal(n) for c in columns]
    columns += [_background(n, rng, k) for k in range(m - len(columns))]
    S = np.column_stack(columns)
    S -= S.mean(axis=0)
    return S / S.std(axis=0)


def _lead_field(m, rng):
    golden = np.pi * (3 - np.sqrt(5))
    k = np.arange(m) + 0.5
    z = k / m  # upper hemisphere
    radius = np.sqrt(1 - z**2)
    electrodes = np.column_stack(
        (radius * np.cos(golden * k), radius * np.sin(golden * k), z)
    )
    directions = rng.standard_normal((m, 3))
    directions[:, 2] = np.abs(directions[:, 2])
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    dipoles = directions * rng.uniform(0.5, 0.8, size=(m, 1))
    orientations = rng.standard_normal((m, 3))
    orientations /= np.linalg.norm(orientations, axis=1, keepdims=True)
    offset = electrodes[:, None, :] - dipoles[None, :, :]  # (channels, sources, 3)
    A = (
        np.einsum("ijk,jk->ij", offset, orientations)
        / np.linalg.norm(offset, axis=2) ** 3
    )
    return A / np.linalg.norm(A, axis=0)


def make_recording(n_channels, n_samples, *, random_state=None, dtype=np.float64):
    """``X = S @ A.T`` for a simulated recording; returns ``(X, S, A)``."""
    rng = np.random.default_rng(random_state)
    S = _sources(n_channels, n_samples, rng)
    A = _lead_field(n_channels, rng)
    return (S @ A.T).astype(dtype), S, A
