"""scikit-learn estimators over the one descent loop: regression and classification.

All share :class:`~gradstep.models.base.GradientDescentModel` (hyper-parameters,
``fit``, ``partial_fit``, early stopping, averaging, warm start); each says only
how it encodes the target and which loss it minimises.
"""

from .base import GradientDescentModel
from .classifiers import LogisticRegression, SoftmaxRegression
from .linear import LinearRegression

__all__ = ["GradientDescentModel", "LinearRegression", "LogisticRegression", "SoftmaxRegression"]
