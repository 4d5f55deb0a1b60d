"""The one door to upstream private APIs.

skforensics follows scikit-learn's estimator conventions, and some of the
machinery behind them is private in scikit-learn (parameter validation, the
``fit`` context, safe indexing, sample-weight checks). Every such import lives
here, under a public name, so that a scikit-learn release that moves one of
them breaks a single file. ``pyproject.toml`` bounds scikit-learn to the
releases this file was checked against (``scikit-learn>=1.6,<1.11``); raise
the bound after running the test suite against a new release.

No other module imports a private name of scikit-learn, skorch or skforensics
(``tests/test_private_boundary.py`` checks it).
"""

import sklearn
from sklearn.base import _fit_context as fit_context
from sklearn.utils import _safe_indexing as safe_indexing
from sklearn.utils._param_validation import (
    HasMethods,
    Hidden,
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    validate_params,
)
from sklearn.utils.validation import _check_sample_weight as check_sample_weight

__all__ = [
    "SKLEARN_VERSION",
    "HasMethods",
    "Hidden",
    "Interval",
    "InvalidParameterError",
    "Options",
    "StrOptions",
    "check_matplotlib",
    "check_sample_weight",
    "fit_context",
    "safe_indexing",
    "validate_params",
]

SKLEARN_VERSION = tuple(int(p) for p in sklearn.__version__.split(".")[:2] if p.isdigit())


def check_matplotlib(caller):
    """Import matplotlib for ``caller`` or raise an ImportError that says how to get it.

    Parameters
    ----------
    caller : str
        Name of the plotting function or Display, used in the message.

    Returns
    -------
    pyplot : module
        ``matplotlib.pyplot``.
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"{caller} needs matplotlib: pip install matplotlib "
            "(or pip install 'skforensics[plot]')"
        ) from exc
    return plt
