"""Helpers shared by the estimators to move between numpy and torch.

These sit in the estimator layer: they choose devices and dtypes and turn a
scikit-learn ``random_state`` into a seeded :class:`torch.Generator`. They never
touch the global numpy or torch random number generators.

One device policy serves every estimator and function that takes ``device``:
:data:`DEVICE_CONSTRAINT` declares the accepted values to scikit-learn's parameter
validation and :func:`resolve_device` turns one of them into a
:class:`torch.device`, checking that torch can use it.
"""

import functools
import numbers
import re

import torch
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions

_DEVICE_NAME = re.compile(r"auto|cpu|cuda(:[0-9]+)?")
_DEVICE_VALUES = "'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device of type cpu or cuda"


class _DeviceNames(StrOptions):
    """``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``, as a scikit-learn constraint.

    A subclass of ``StrOptions`` (which scikit-learn's ``make_constraint`` accepts
    as it is) whose options also take an explicit CUDA index, which a finite set of
    strings cannot express.
    """

    def __init__(self):
        super().__init__({"auto", "cpu", "cuda"})

    def is_satisfied_by(self, val):
        return isinstance(val, str) and _DEVICE_NAME.fullmatch(val) is not None

    def __str__(self):
        return "a str among {'auto', 'cpu', 'cuda', 'cuda:N'}"


#: The ``_parameter_constraints`` entry of a ``device`` parameter: one of the
#: strings ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``, or a
#: :class:`torch.device`. Whether torch can use the device is checked by
#: :func:`resolve_device` at fit time.
DEVICE_CONSTRAINT = [_DeviceNames(), torch.device]


def resolve_device(device):
    """Return the :class:`torch.device` that ``device`` names, once checked.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"`` (CUDA when torch sees a GPU, the CPU otherwise), ``"cpu"``,
        ``"cuda"``, ``"cuda:N"``, or a :class:`torch.device` of type ``cpu`` or
        ``cuda``.

    Returns
    -------
    torch.device
        The device to compute on.

    Raises
    ------
    ValueError
        For any other value, for a CUDA device when torch sees no CUDA GPU, and
        for a CUDA index beyond the GPUs torch sees.

    Examples
    --------
    >>> import torch
    >>> from skvcreg._torch_utils import resolve_device
    >>> resolve_device("cpu"), resolve_device(torch.device("cpu"))
    (device(type='cpu'), device(type='cpu'))
    >>> resolve_device("gpu")
    Traceback (most recent call last):
    ...
    ValueError: device='gpu' is not a device skvcreg accepts; use 'auto', ...
    """
    if isinstance(device, str) and _DEVICE_NAME.fullmatch(device):
        if device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        device = torch.device(device)
    elif not isinstance(device, torch.device) or device.type not in ("cpu", "cuda"):
        raise ValueError(
            f"device={device!r} is not a device skvcreg accepts; use {_DEVICE_VALUES}."
        )
    if device.type == "cuda":
        _check_cuda(device)
    return device


def _check_cuda(device):
    if not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} was requested but torch sees no CUDA GPU; "
            "use device='cpu' or device='auto'."
        )
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise ValueError(
            f"device={str(device)!r} was requested but torch sees {count} CUDA "
            f"GPU(s), numbered 0 to {count - 1}."
        )


def _draw_seed(random_state):
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


# An integer's seed never changes, and seeding numpy's RandomState to draw it
# costs about as much as the rest of a small fit's set-up.
_seed_of_integer = functools.lru_cache(maxsize=256)(_draw_seed)


def make_generator(random_state):
    """A :class:`torch.Generator` seeded from a scikit-learn ``random_state``.

    The seed is drawn from ``check_random_state(random_state)``, so an integer gives
    the same generator every time and a ``RandomState`` instance advances. The
    generator lives on the CPU: random numbers are drawn there and moved, so a seed
    gives the same draws whatever device computes.
    """
    if isinstance(random_state, numbers.Integral):
        seed = _seed_of_integer(int(random_state))
    else:
        seed = _draw_seed(random_state)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
