"""
=====================================================
Removing blinks from EEG with VCRegICA inside MNE
=====================================================

EEG researchers fit ICA in MNE-Python: :class:`mne.preprocessing.ICA` whitens
the channels, reduces them by PCA, unmixes, and then finds and removes artefact
components. :func:`skvcreg.mne.fit_ica` runs MNE's own fit with
:class:`~skvcreg.VCRegICA` as the unmixing step and returns MNE's ICA object, so
the rest of the usual recipe is MNE's: ``find_bads_eog`` picks the blink
component, ``plot_components`` and ``plot_sources`` show it, ``apply`` removes
it.

The recording is the 31-channel EEG shipped in the ``alice-ml`` wheel (10-20
montage, 120 s at 500 Hz, band-passed 3-40 Hz), with blinks on the frontal
pole (Fp1, Fpz, Fp2) and no EOG channel, so Fp1 and Fp2 stand in for one.
"""

# %%
# The recording, with its one artefact that is not a blink marked bad
# --------------------------------------------------------------------
# A 700 µV transient hits every channel 23 s in; marked ``BAD_``, it is left
# out of the fit (``reject_by_annotation=True``, as in MNE) and of the blink
# measurements below.
from importlib.resources import files

import matplotlib.pyplot as plt
import mne
import numpy as np

from skvcreg.mne import fit_ica

mne.set_log_level("warning")
raw = mne.io.read_raw_fif(files("alice_ml") / "data" / "test_raw.fif", preload=True)
raw.annotations.append(onset=22.5, duration=1.5, description="BAD_transient")
print(raw.info["nchan"], "channels,", raw.times[-1], "s at", raw.info["sfreq"], "Hz")

# %%
# Fit VCRegICA through MNE
# ------------------------
# Fifteen components, on every fourth sample (125 Hz still holds the 40 Hz
# band), as MNE's ``decim`` does. The result is a plain
# :class:`mne.preprocessing.ICA`: its pre-whitening and PCA are MNE's, its
# unmixing VCRegICA's, its components sorted by explained variance.
ica = fit_ica(raw, n_components=15, decim=4, random_state=0)
print(ica)

# %%
# Find the blink component with MNE
# ---------------------------------
# ``find_bads_eog`` correlates each component with the frontal channels
# (band-passed 1-10 Hz) and flags the outliers.
blink_components, scores = ica.find_bads_eog(raw, ch_name=["Fp1", "Fp2"])
print("blink component(s):", [int(i) for i in blink_components])
scores_figure = ica.plot_scores(scores, exclude=blink_components, show=False)

# %%
# MNE's topomaps and source plots
# -------------------------------
# The blink component's scalp map peaks on the frontal pole and falls off toward
# the back of the head; its time course shows the blinks.
topomaps = ica.plot_components(picks=range(6), show=False)
browser = ica.plot_sources(raw, picks=range(4), start=80.0, stop=100.0, show=False)

# %%
# Remove it, and measure what went
# --------------------------------
# The blink power is that of the average blink (MNE's blink detector on Fp1,
# 0.3 s either side), before and after ``apply``; what else was removed is the
# variance lost on the channels away from the forehead.
ica.exclude = blink_components
clean = ica.apply(raw.copy())

blinks = mne.preprocessing.find_eog_events(raw, ch_name="Fp1")
shown = ["Fp1", "Fp2", "Fz", "Cz", "Pz"]


def blink_power(inst):
    epochs = mne.Epochs(
        inst, blinks, tmin=-0.3, tmax=0.3, baseline=None, picks=shown, preload=True
    )
    return np.mean(epochs.average().data ** 2, axis=1)


left = blink_power(clean) / blink_power(raw)
for name, fraction in zip(shown, left, strict=True):
    print(f"{name}: {100 * fraction:5.1f}% of the average blink's power left")
frontal = {"Fp1", "Fpz", "Fp2", "AF3", "AF4", "F7", "F3", "Fz", "F4", "F8"}
away = [name for name in raw.ch_names if name not in frontal]
before = raw.get_data(picks=away, reject_by_annotation="omit").var(axis=1).sum()
after = clean.get_data(picks=away, reject_by_annotation="omit").var(axis=1).sum()
print(f"variance lost away from the forehead: {100 * (1 - after / before):.1f}%")

# The claim: the blink power on Fp1 and Fp2 drops by more than 95%.
assert left[0] < 0.05 and left[1] < 0.05, left

# %%
# Before and after, on Fp1
# ------------------------
window = raw.time_as_index([80.0, 100.0])
times = raw.times[window[0] : window[1]]
fp1 = raw.ch_names.index("Fp1")
fig, ax = plt.subplots(figsize=(8, 3))
ax.plot(times, 1e6 * raw.get_data()[fp1, window[0] : window[1]], label="recording")
ax.plot(times, 1e6 * clean.get_data()[fp1, window[0] : window[1]], label="cleaned")
ax.set(xlabel="time (s)", ylabel="Fp1 (µV)", title="Blinks removed by VCRegICA")
ax.legend(loc="upper right")
fig.tight_layout()
plt.show()
