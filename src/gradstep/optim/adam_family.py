r"""The scalings of Adam's relatives: Adamax, NAdam and RAdam, as ``torch.optim`` computes them.

Each function returns a :class:`~gradstep.optim.base.GradientTransformation` that turns a gradient
:math:`g_t` into a *direction* :math:`d_t`; the named optimisers of :mod:`.alias` multiply it by
:math:`-\eta_t` (:func:`~gradstep.optim.transforms.scale_by_lr`), so a learning-rate schedule and the
recorded lr work as for every other optimiser. ``t`` counts updates from 1; :math:`m_t` and
:math:`v_t` are the moments of :func:`~gradstep.optim.transforms.scale_by_adam`,

.. math::
    m_t = m_{t-1} + (1-\beta_1)(g_t - m_{t-1}),\qquad v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 .

Weight decay is not part of these scalings. torch's two kinds are both
:func:`~gradstep.optim.transforms.add_decayed_weights` (:math:`g + \lambda\theta`), placed differently:
*before* the scaling it is the L2 penalty's gradient (``Adam``, ``NAdam``, ``RAdam`` with
``weight_decay``); *after* it, just before :math:`-\eta_t`, it is the decoupled decay of AdamW
(Loshchilov & Hutter 2019; ``decoupled_weight_decay=True``), since
:math:`\theta - \eta(d + \lambda\theta) = (1 - \eta\lambda)\,\theta - \eta d`, torch's
``param.mul_(1 - lr * weight_decay)`` followed by its step.

The order of the floating-point operations follows torch's single-tensor code
(``torch/optim/{adamax,nadam,radam}.py``), so the iterates agree with torch's to rounding
(``tests/test_optim_adam_family.py``: 1e-12 relative in float64 over 100 steps).

Examples
--------
>>> import numpy as np
>>> from gradstep.optim import chain, scale_by_lr
>>> opt = chain(scale_by_adamax(), scale_by_lr(0.1))
>>> updates, state = opt.update(np.array([3.0, -4.0]), opt.init(np.zeros(2)), np.zeros(2))
>>> np.round(updates, 6)     # the first step of Adamax: -lr * sign(g), to within eps
array([-0.1,  0.1])
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import Array, namespace
from .base import GradientTransformation
from .transforms import _check, _check_betas


# --------------------------------------------------------------------- Adamax
class ScaleByAdamaxState(NamedTuple):
    r"""``count``: :math:`t`; ``mu``: :math:`m_t`; ``inf_norm``: :math:`u_t`, the decayed infinity norm."""

    count: int  # type: ignore[assignment]  # shadows tuple.count, as optax's states do
    mu: Array
    inf_norm: Array


def scale_by_adamax(betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> GradientTransformation:
    r"""Adamax's scaling (Kingma & Ba 2015, §7) as ``torch.optim.Adamax`` computes it.

    .. math::
        u_t = \max(\beta_2 u_{t-1},\ |g_t| + \epsilon),\qquad
        d_t = \frac{m_t}{u_t} \Big/ (1 - \beta_1^t).

    Examples
    --------
    >>> import numpy as np
    >>> t = scale_by_adamax(betas=(0.5, 0.5), eps=0.0)
    >>> d, s = t.update(np.array([2.0]), t.init(np.zeros(1)))
    >>> d, s.inf_norm
    (array([1.]), array([2.]))
    """
    b1, b2 = _check_betas(betas)
    eps = _check("eps", eps)

    def init(params: Array) -> ScaleByAdamaxState:
        xp = namespace(params)
        return ScaleByAdamaxState(0, xp.zeros_like(params), xp.zeros_like(params))

    def update(grads: Array, state: ScaleByAdamaxState,
               params: Array | None = None) -> tuple[Array, ScaleByAdamaxState]:
        xp = namespace(grads)
        t = state.count + 1
        mu = state.mu + (1 - b1) * (grads - state.mu)  # torch's lerp
        inf_norm = xp.maximum(b2 * state.inf_norm, xp.abs(grads) + eps)
        return mu / inf_norm / (1 - b1**t), ScaleByAdamaxState(t, mu, inf_norm)

    return GradientTransformation(init, update)


# --------------------------------------------------------------------- NAdam
class ScaleByNadamState(NamedTuple):
    r"""``count``: :math:`t`; ``mu_product``: :math:`\prod_{i \le t} \mu_i`; ``mu``, ``nu``: :math:`m_t, v_t`."""

    count: int  # type: ignore[assignment]  # shadows tuple.count, as optax's states do
    mu_product: float
    mu: Array
    nu: Array


def scale_by_nadam(betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                   momentum_decay: float = 4e-3) -> GradientTransformation:
    r"""NAdam's scaling (Dozat 2016) with torch's momentum schedule, as ``torch.optim.NAdam`` computes it.

    .. math::
        \mu_t = \beta_1\big(1 - \tfrac12\, 0.96^{t\psi}\big),\qquad
        \Pi_t = \prod_{i \le t} \mu_i,\qquad
        \sigma_t = \sqrt{v_t / (1-\beta_2^t)} + \epsilon,

        d_t = \frac{1-\mu_t}{1-\Pi_t}\,\frac{g_t}{\sigma_t}
            + \frac{\mu_{t+1}}{1-\Pi_t\,\mu_{t+1}}\,\frac{m_t}{\sigma_t}

    with :math:`\psi` the ``momentum_decay``. (torch keeps :math:`\Pi_t` in its default dtype:
    float32 unless ``torch.set_default_dtype(torch.float64)``; here it is a Python float.)

    Examples
    --------
    >>> import numpy as np
    >>> t = scale_by_nadam()
    >>> d, s = t.update(np.array([0.5]), t.init(np.zeros(1)))
    >>> s.count, round(s.mu_product, 6)
    (1, 0.450073)
    """
    b1, b2 = _check_betas(betas)
    eps = _check("eps", eps)
    momentum_decay = _check("momentum_decay", momentum_decay)

    def momentum(t: int) -> float:
        return b1 * (1.0 - 0.5 * (0.96 ** (t * momentum_decay)))

    def init(params: Array) -> ScaleByNadamState:
        xp = namespace(params)
        return ScaleByNadamState(0, 1.0, xp.zeros_like(params), xp.zeros_like(params))

    def update(grads: Array, state: ScaleByNadamState,
               params: Array | None = None) -> tuple[Array, ScaleByNadamState]:
        xp = namespace(grads)
        t = state.count + 1
        mu_t, mu_next = momentum(t), momentum(t + 1)
        product = state.mu_product * mu_t
        mu = state.mu + (1 - b1) * (grads - state.mu)  # torch's lerp
        nu = b2 * state.nu + (1 - b2) * (grads * grads)
        denom = xp.sqrt(nu / (1 - b2**t)) + eps
        direction = ((1.0 - mu_t) / (1.0 - product)) * grads / denom \
            + (mu_next / (1.0 - product * mu_next)) * mu / denom
        return direction, ScaleByNadamState(t, product, mu, nu)

    return GradientTransformation(init, update)


# --------------------------------------------------------------------- RAdam
class ScaleByRadamState(NamedTuple):
    """``count``: :math:`t`; ``mu``, ``nu``: the moments :math:`m_t, v_t`."""

    count: int  # type: ignore[assignment]  # shadows tuple.count, as optax's states do
    mu: Array
    nu: Array


def radam_rectification(t: int, beta2: float) -> float | None:
    r"""RAdam's variance rectification :math:`r_t` at update ``t`` (None while :math:`\rho_t \le 5`).

    .. math::
        \rho_\infty = \frac{2}{1-\beta_2} - 1,\qquad
        \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1-\beta_2^t},\qquad
        r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\,\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\,\rho_t}}.

    Examples
    --------
    >>> radam_rectification(5, 0.999) is None, round(radam_rectification(6, 0.999), 6)
    (True, 0.025821)
    """
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * t * (beta2**t) / (1 - beta2**t)
    if not rho_t > 5.0:
        return None
    return float(((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5)


def scale_by_radam(betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> GradientTransformation:
    r"""RAdam's scaling (Liu et al. 2020) as ``torch.optim.RAdam`` computes it.

    .. math::
        \hat m_t = \frac{m_t}{1-\beta_1^t},\qquad
        d_t = \begin{cases}
            \hat m_t\, \dfrac{\sqrt{1-\beta_2^t}}{\sqrt{v_t} + \epsilon}\, r_t & \rho_t > 5,\\[1ex]
            \hat m_t & \text{otherwise (momentum without adaptation),}
        \end{cases}

    with :math:`\rho_t` and :math:`r_t` those of :func:`radam_rectification`.

    Examples
    --------
    >>> import numpy as np
    >>> t = scale_by_radam()
    >>> t.update(np.array([0.5]), t.init(np.zeros(1)))[0]   # the first steps are plain momentum
    array([0.5])
    """
    b1, b2 = _check_betas(betas)
    eps = _check("eps", eps)

    def init(params: Array) -> ScaleByRadamState:
        xp = namespace(params)
        return ScaleByRadamState(0, xp.zeros_like(params), xp.zeros_like(params))

    def update(grads: Array, state: ScaleByRadamState,
               params: Array | None = None) -> tuple[Array, ScaleByRadamState]:
        xp = namespace(grads)
        t = state.count + 1
        mu = state.mu + (1 - b1) * (grads - state.mu)  # torch's lerp
        nu = b2 * state.nu + (1 - b2) * (grads * grads)
        m_hat = mu / (1 - b1**t)
        rect = radam_rectification(t, b2)
        if rect is None:
            return m_hat, ScaleByRadamState(t, mu, nu)
        adaptive = ((1 - b2**t) ** 0.5) / (xp.sqrt(nu) + eps)
        return m_hat * adaptive * rect, ScaleByRadamState(t, mu, nu)

    return GradientTransformation(init, update)


__all__ = [
    "ScaleByAdamaxState",
    "ScaleByNadamState",
    "ScaleByRadamState",
    "radam_rectification",
    "scale_by_adamax",
    "scale_by_nadam",
    "scale_by_radam",
]
