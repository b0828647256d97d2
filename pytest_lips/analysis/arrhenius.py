"""Arrhenius fit of diffusion coefficients: ln D = ln D0 − Ea / (k_B T).

Units: temperatures in K, D and D0 in cm²/s, Ea in eV, k_B in eV/K (CODATA via scipy.constants).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import constants

__all__ = ["BOLTZMANN_eV_K", "ArrheniusFit", "fit_arrhenius"]

#: Boltzmann constant in eV/K (CODATA exact: k / e).
BOLTZMANN_eV_K: float = constants.k / constants.e


def inverse_thermal_energy(temperatures_K: np.ndarray | float) -> np.ndarray:
    """1 / (k_B T) in 1/eV."""
    T = np.asarray(temperatures_K, dtype=float)
    if np.any(~np.isfinite(T)) or np.any(T <= 0):
        raise ValueError(f"temperatures must be finite and > 0 K, got {T}")
    return 1.0 / (BOLTZMANN_eV_K * T)


@dataclass(frozen=True)
class ArrheniusFit:
    """Straight line ln D = ln D0 − Ea · 1/(k_B T).

    Attributes:
        activation_energy_eV: Ea, eV.
        prefactor_cm2_s: D0, cm²/s.
        activation_energy_err_eV: standard error of Ea, eV (NaN if not estimable, e.g. 2 points
            without ``D_err``).
        ln_prefactor: ln(D0 / (cm²/s)).
        ln_prefactor_err: standard error of ln D0.
        covariance: 2×2 covariance of (Ea [eV], ln D0); NaN-filled if not estimable.
        temperatures_K: temperatures used in the fit, K.
        D_cm2_s: diffusion coefficients used in the fit, cm²/s.
        weighted: True if ``D_err`` was given (weights 1/σ_lnD with σ_lnD = D_err/D, covariance from
            those absolute errors); False for an unweighted fit (covariance scaled by the residuals).
    """

    activation_energy_eV: float
    prefactor_cm2_s: float
    activation_energy_err_eV: float
    ln_prefactor: float
    ln_prefactor_err: float
    covariance: np.ndarray
    temperatures_K: np.ndarray
    D_cm2_s: np.ndarray
    weighted: bool

    @property
    def dof(self) -> int:
        """Residual degrees of freedom (n_points − 2)."""
        return int(self.temperatures_K.size - 2)

    def predict(self, T_K: np.ndarray | float) -> np.ndarray | float:
        """D(T) in cm²/s from the fitted line."""
        d = np.exp(self.ln_prefactor - self.activation_energy_eV * inverse_thermal_energy(T_K))
        return float(d) if np.ndim(d) == 0 else d

    def ln_D_stderr(self, T_K: np.ndarray | float) -> np.ndarray | float:
        """Standard error of ln D(T) from the fit covariance (delta method); dimensionless.

        ln D(T) = ln D0 − Ea x with x = 1/(k_B T), so var = var(lnD0) + x² var(Ea) − 2 x cov(Ea, lnD0).
        """
        x = inverse_thermal_energy(T_K)
        c = self.covariance
        var = c[1, 1] + x**2 * c[0, 0] - 2.0 * x * c[0, 1]
        se = np.sqrt(np.maximum(var, 0.0))
        return float(se) if np.ndim(se) == 0 else se

    def extrapolate_to(self, T_K: float = 298.15) -> float:
        """D at temperature ``T_K`` (default 298.15 K), cm²/s."""
        return float(self.predict(float(T_K)))


def fit_lines(inv_kT: np.ndarray, ln_D: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised unweighted fits of many data sets sharing the same x = 1/(k_B T).

    Args:
        inv_kT: shape ``(n_T,)``, 1/eV.
        ln_D: shape ``(n_T, n_sets)``, ln(D / cm²/s).

    Returns:
        (Ea_eV, ln_D0), each shape ``(n_sets,)``.
    """
    coef = np.polyfit(np.asarray(inv_kT, dtype=float), np.asarray(ln_D, dtype=float), 1)
    return -coef[0], coef[1]


def fit_arrhenius(
    temperatures_K: np.ndarray,
    D_cm2_s: np.ndarray,
    D_err: np.ndarray | None = None,
) -> ArrheniusFit:
    """Least-squares Arrhenius fit of ln D against 1/(k_B T).

    Args:
        temperatures_K: temperatures, K (at least 2 distinct).
        D_cm2_s: diffusion coefficients, cm²/s (all > 0).
        D_err: optional 1-σ uncertainties of D, cm²/s; propagated as σ_lnD = D_err / D and used as
            weights with absolute-sigma covariance.

    Returns:
        :class:`ArrheniusFit`.
    """
    T = np.asarray(temperatures_K, dtype=float).ravel()
    D = np.asarray(D_cm2_s, dtype=float).ravel()
    if T.shape != D.shape:
        raise ValueError(f"temperatures_K and D_cm2_s differ in length: {T.size} vs {D.size}")
    if np.unique(T).size < 2:
        raise ValueError("an Arrhenius fit needs at least 2 distinct temperatures")
    if np.any(~np.isfinite(D)) or np.any(D <= 0):
        raise ValueError(f"all D must be finite and > 0 cm^2/s for a log fit, got {D}")
    x = inverse_thermal_energy(T)
    y = np.log(D)
    weighted = D_err is not None
    if weighted:
        err = np.asarray(D_err, dtype=float).ravel()
        if err.shape != D.shape or np.any(~np.isfinite(err)) or np.any(err <= 0):
            raise ValueError("D_err must be finite, > 0 and the same length as D_cm2_s")
        coef, cov = np.polyfit(x, y, 1, w=D / err, cov="unscaled")
    elif T.size > 2:
        coef, cov = np.polyfit(x, y, 1, cov=True)
    else:
        coef, cov = np.polyfit(x, y, 1), np.full((2, 2), np.nan)
    # (slope, intercept) = (−Ea, ln D0): flip the sign of the cross term.
    cov_e = np.array([[cov[0, 0], -cov[0, 1]], [-cov[1, 0], cov[1, 1]]])
    return ArrheniusFit(
        activation_energy_eV=float(-coef[0]),
        prefactor_cm2_s=float(np.exp(coef[1])),
        activation_energy_err_eV=float(np.sqrt(cov_e[0, 0])),
        ln_prefactor=float(coef[1]),
        ln_prefactor_err=float(np.sqrt(cov_e[1, 1])),
        covariance=cov_e,
        temperatures_K=T,
        D_cm2_s=D,
        weighted=weighted,
    )
