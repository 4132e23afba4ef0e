"""Component families: the density of one component and its M-step from statistics.

A family object answers four questions for the EM machinery:

* ``log_density(params, XT, y)``: the (K, n) component log-densities of a chunk;
* ``statistics(XT, y, wr, params, cache)``: additive per-component statistics of a
  chunk, given the (K, n) weighted responsibilities ``wr`` (sample weight times
  responsibility);
* ``m_step(stats, resp_sum, params)``: new parameters from the summed statistics;
* ``n_parameters(K, p)``: free parameters of the component models.

Blocks are laid out component-major: ``XT`` is the transposed design (n_design, n) and
per-row quantities are (K, n), so that every operation runs over long contiguous rows.
Statistics are tuples of arrays, summed element-wise across chunks. The Gaussian family
accumulates them around the current fit (residuals ``e = y - X beta_old``), so the
closed-form update is a correction ``delta = A^-1 X'R e`` and the new variance
``(e'R e - delta' X'R e) / N_k`` is computed without cancellation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

_LOG_2PI = float(np.log(2.0 * np.pi))
# Relative threshold below which a (scaled) normal-equation pivot counts as zero.
_RANK_RTOL = 1e-10


@dataclass(frozen=True)
class GaussianParams:
    """Parameters of K Gaussian linear-regression components (internal units).

    Attributes
    ----------
    coef : ndarray of shape (K, n_design)
        Coefficients on the design, intercept first when there is one.
    sigma : ndarray of shape (K,)
        Noise standard deviations.
    """

    coef: np.ndarray
    sigma: np.ndarray

    @property
    def n_components(self) -> int:
        return self.coef.shape[0]

    @property
    def extra(self) -> np.ndarray:
        """The per-component parameters beyond the coefficients, shape (K, 1)."""
        return self.sigma[:, None]

    def take(self, order: np.ndarray) -> GaussianParams:
        """The components in the given order (or a subset)."""
        return GaussianParams(self.coef[order].copy(), self.sigma[order].copy())


@dataclass(frozen=True)
class ComponentParams:
    """Parameters of K regression components of any family (internal units).

    Attributes
    ----------
    coef : ndarray of shape (K, n_design) or None
        Coefficients of the linear predictor, intercept first when there is one. None
        only in the reference point of a first M-step, which then starts from the data
        (as R's ``glm.fit`` starts from ``mustart``).
    extra : ndarray of shape (K, m)
        The family's other parameters, natural scale, in the order of the family's
        ``extra_names`` (for example the Gamma shape).
    """

    coef: np.ndarray | None
    extra: np.ndarray

    @property
    def n_components(self) -> int:
        return self.extra.shape[0]

    def take(self, order: np.ndarray) -> ComponentParams:
        """The components in the given order (or a subset)."""
        coef = None if self.coef is None else self.coef[order].copy()
        return ComponentParams(coef, self.extra[order].copy())


def solve_normal_equations(A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, bool]:
    """Solve ``A x = b`` for a symmetric positive semi-definite ``A``.

    The system is scaled to unit diagonal and solved by Cholesky; when a pivot falls
    below ``1e-10`` of its diagonal (exact or numerical rank deficiency) the
    minimum-norm solution of the scaled system is returned instead.

    Returns
    -------
    x : ndarray
        The solution.
    rank_deficient : bool
        Whether the minimum-norm fallback was used.
    """
    d = np.sqrt(np.diag(A).copy())
    d[~(d > 0)] = 1.0
    As = A / np.outer(d, d)
    bs = b / d
    try:
        L = linalg.cholesky(As, lower=True, check_finite=False)
        if np.all(np.diag(L) ** 2 > _RANK_RTOL):
            x = linalg.cho_solve((L, True), bs, check_finite=False)
            return x / d, False
    except linalg.LinAlgError:
        pass
    lam, V = linalg.eigh(As, check_finite=False)
    keep = lam > _RANK_RTOL * max(float(lam.max()), 1.0)
    x = V[:, keep] @ ((V[:, keep].T @ bs) / lam[keep])
    return x / d, True


def solve_normal_equations_batch(A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`solve_normal_equations` for a stack of K systems at once.

    The common case (every system well conditioned) is one batched Cholesky check and
    one batched solve; any system that fails the check is solved on its own.

    Returns
    -------
    x : ndarray of shape (K, p)
    rank_deficient : ndarray of bool, shape (K,)
    """
    K, p, _ = A.shape
    d = np.sqrt(np.diagonal(A, axis1=1, axis2=2).copy())
    d[~(d > 0)] = 1.0
    As = A / (d[:, :, None] * d[:, None, :])
    bs = b / d
    try:
        L = np.linalg.cholesky(As)
        good = np.all(np.diagonal(L, axis1=1, axis2=2) ** 2 > _RANK_RTOL, axis=1)
    except np.linalg.LinAlgError:
        good = np.zeros(K, dtype=bool)
    if good.all():
        return np.linalg.solve(As, bs[:, :, None])[:, :, 0] / d, np.zeros(K, dtype=bool)
    x = np.empty((K, p))
    if good.any():
        x[good] = np.linalg.solve(As[good], bs[good][:, :, None])[:, :, 0] / d[good]
    deficient = np.zeros(K, dtype=bool)
    for k in np.flatnonzero(~good):
        x[k], deficient[k] = solve_normal_equations(A[k], b[k])
    return x, deficient


def collinear_columns(A: np.ndarray) -> list[int]:
    """Indices of columns that are (numerically) linear combinations of earlier ones.

    Greedy pivoted Cholesky on the unit-diagonal scaling of ``A = X'WX``, in column
    order: column j is reported when its residual variance after regressing on the kept
    columns is below ``1e-10`` of its own variance (or it is identically zero).
    """
    p = A.shape[0]
    d = np.sqrt(np.diag(A).copy())
    zero = ~(d > 0)
    d[zero] = 1.0
    As = A / np.outer(d, d)
    kept: list[int] = []
    bad: list[int] = []
    for j in range(p):
        if zero[j]:
            bad.append(j)
            continue
        if kept:
            S = As[np.ix_(kept, kept)]
            s = As[kept, j]
            resid = As[j, j] - s @ linalg.solve(S, s, assume_a="pos")
        else:
            resid = As[j, j]
        if resid > _RANK_RTOL:
            kept.append(j)
        else:
            bad.append(j)
    return bad


def scale_update(A, b, c, delta, resp_sum, live, constraints, var_floor) -> np.ndarray:
    """New sigmas of the live components from the weighted residual sums after the
    coefficient step; one pooled sigma under an equal-scale constraint."""
    if constraints is None or not constraints.has_coefficient_constraints:
        rss = c[live] - np.einsum("kp,kp->k", b[live], delta[live])
    else:
        from .constraints import residual_sums

        rss = residual_sums(A, b, c, delta)[live]
    if constraints is not None and constraints.equal_scale:
        var = np.full(rss.shape, rss.sum() / resp_sum[live].sum())
    else:
        var = rss / resp_sum[live]
    return np.sqrt(np.maximum(var, var_floor))


def linear_predictor(coef: np.ndarray, XT: np.ndarray, offset=None) -> np.ndarray:
    """``eta = coef @ XT + offset``, shape (K, n): every family's linear predictor."""
    eta = coef @ XT
    if offset is not None:
        eta += offset
    return eta


def weighted_moments(XT: np.ndarray, wr: np.ndarray, resid: np.ndarray):
    """``(X'R_kX, X'R_k e_k, e_k'R_k e_k)`` for weights ``wr`` and residuals ``resid``
    (both (K, n)): the statistics of a weighted least-squares step per component."""
    p, n = XT.shape
    K = wr.shape[0]
    weighted = np.empty((K * p, n))
    for k in range(K):
        np.multiply(XT, wr[k], out=weighted[k * p : (k + 1) * p])
    A = (weighted @ XT.T).reshape(K, p, p)
    resid_w = resid * wr
    b = resid_w @ XT.T
    c = np.einsum("ki,ki->k", resid_w, resid)
    return A, b, c


class Gaussian:
    """Gaussian linear-regression components, ``y | x, k ~ N(x' beta_k, sigma_k^2)``.

    Parameters
    ----------
    var_floor : float, default=1e-8
        Lower bound on every ``sigma_k^2`` in internal units, where the response has
        unit variance; in user units the floor is ``var_floor * var(y)``. It keeps the
        likelihood bounded when a component collapses onto a few points.
    """

    name = "gaussian"
    label = "Gaussian"
    link_name = "identity"
    location_scale = True
    exact_m_step = True
    init_steps = 0
    extra_names: tuple[str, ...] = ("sigma",)

    constraints = None

    def __init__(self, var_floor: float = 1e-8) -> None:
        self.var_floor = float(var_floor)

    def __repr__(self) -> str:
        return f"Gaussian(var_floor={self.var_floor!r})"

    def n_parameters(self, n_components: int, n_design: int) -> int:
        """Coefficients and one standard deviation per component (or one in all, with
        an equal-scale constraint)."""
        cons = self.constraints
        if cons is None:
            return n_components * (n_design + 1)
        return cons.n_coefficients(n_components) + (1 if cons.equal_scale else n_components)

    def make_params(self, coef: np.ndarray, extra: np.ndarray) -> GaussianParams:
        """Parameters from coefficients (K, p) and the extras (K, 1): the sigmas."""
        return GaussianParams(np.asarray(coef, dtype=np.float64),
                              np.asarray(extra, dtype=np.float64).reshape(-1))

    def check_response(self, y: np.ndarray, trials: np.ndarray | None = None, *,
                       start: int = 0, complete: bool = True) -> None:
        """Any finite response is valid."""
        if trials is not None:
            raise ValueError("trials= applies to the binomial family only")

    def zero_params(self, n_components: int, n_design: int) -> GaussianParams:
        """The reference point around which statistics are taken for a first M-step
        (zero coefficients but the fixed ones)."""
        coef = np.zeros((n_components, n_design))
        if self.constraints is not None:
            coef = self.constraints.with_fixed(coef)
        return GaussianParams(coef, np.ones(n_components))

    def with_unit_scale(self, params: GaussianParams) -> GaussianParams:
        """The same lines with every sigma set to the response's spread (1 internally)."""
        return GaussianParams(params.coef, np.ones_like(params.sigma))

    def linear_predictor(self, params, XT: np.ndarray, offset=None) -> np.ndarray:
        """``eta = coef @ XT + offset``, shape (K, n)."""
        return linear_predictor(params.coef, XT, offset)

    def mean(self, params: GaussianParams, XT: np.ndarray, offset=None) -> np.ndarray:
        """Component means, shape (K, n)."""
        return self.linear_predictor(params, XT, offset)

    def log_density(self, params: GaussianParams, chunk, log_weights=0.0):
        """Component log-densities plus ``log_weights`` (K, n), and the residuals.

        ``log_weights`` (a (K, 1) column, the log mixing weights) is added for free.
        """
        resid = self.linear_predictor(params, chunk.XT, chunk.offset)
        np.subtract(chunk.y, resid, out=resid)
        logd = resid * (np.sqrt(0.5) / params.sigma)[:, None]
        np.square(logd, out=logd)
        const = log_weights - (np.log(params.sigma) + 0.5 * _LOG_2PI)[:, None]
        np.subtract(const, logd, out=logd)
        return logd, resid

    def statistics(self, chunk, wr: np.ndarray, params: GaussianParams,
                   cache: np.ndarray | None = None):
        """``(X'R_kX, X'R_k e_k, e_k'R_k e_k)`` per component, with ``e_k`` the residuals."""
        XT = chunk.XT
        if cache is None:
            cache = chunk.y - self.linear_predictor(params, XT, chunk.offset)
        return weighted_moments(XT, wr, cache)

    def m_step(
        self,
        stats: tuple[np.ndarray, np.ndarray, np.ndarray],
        resp_sum: np.ndarray,
        params: GaussianParams,
    ) -> tuple[GaussianParams, np.ndarray]:
        """Closed-form weighted least squares per component.

        Returns
        -------
        params : GaussianParams
            Updated parameters. A component with no weight keeps its old parameters.
        rank_deficient : ndarray of bool, shape (K,)
            Components whose weighted design was rank deficient (minimum-norm update).
        """
        from .constraints import coefficient_update

        A, b, c = stats
        sigma = params.sigma.copy()
        live = resp_sum > 1e-12 * max(float(resp_sum.sum()), 1e-300)
        coef, delta, deficient = coefficient_update(
            A, b, params.coef, live, self.constraints, 1.0 / params.sigma**2)
        if live.any():
            sigma[live] = scale_update(A, b, c, delta, resp_sum, live, self.constraints,
                                       self.var_floor)
        return GaussianParams(coef, sigma), deficient

    def to_vector(self, params: GaussianParams) -> np.ndarray:
        """Unconstrained coordinates ``(coef, log sigma)`` for EM acceleration."""
        return np.concatenate([params.coef.ravel(), np.log(params.sigma)])

    def from_vector(self, vec: np.ndarray, like: GaussianParams) -> GaussianParams:
        """Inverse of :meth:`to_vector`; sigmas are kept above the variance floor."""
        K, p = like.coef.shape
        sigma = np.maximum(np.exp(vec[K * p :]), np.sqrt(self.var_floor))
        return GaussianParams(vec[: K * p].reshape(K, p).copy(), sigma)

    def to_user(self, params: GaussianParams, standardization) -> GaussianParams:
        """Parameters in user units."""
        return GaussianParams(
            standardization.to_user(params.coef), params.sigma * standardization.y_scale
        )

    def to_internal(self, params: GaussianParams, standardization) -> GaussianParams:
        """Parameters in internal (standardised) units."""
        return GaussianParams(
            standardization.to_internal(params.coef), params.sigma / standardization.y_scale
        )

    def free_extra(self) -> np.ndarray:
        """Which extras are estimated (the others are fixed, known values)."""
        return np.ones(1, dtype=bool)

    def row_derivatives(self, params: GaussianParams, chunk):
        """Per-row log-density and its derivatives, for the observed information.

        Returns ``(logf, d1, d2, e1, e2, ce)``: the (K, n) log-densities, the first
        and second derivatives with respect to the linear predictor, and with respect
        to the free extras in their unconstrained coordinates (here ``log sigma``):
        ``e1`` (K, m, n), ``e2`` (K, m, m, n) and the cross derivatives ``ce``
        (K, m, n).
        """
        e = chunk.y - self.linear_predictor(params, chunk.XT, chunk.offset)
        s = params.sigma[:, None]
        z = e / s
        logf = -np.log(s) - 0.5 * _LOG_2PI - 0.5 * z * z
        d2 = np.broadcast_to(-1.0 / (s * s), e.shape)
        return (logf, z / s, d2, (z * z - 1.0)[:, None], (-2.0 * z * z)[:, None, None],
                (-2.0 * z / s)[:, None])

    def sample(self, params: GaussianParams, X: np.ndarray, labels: np.ndarray,
               rng: np.random.Generator, offset=None, trials=None) -> np.ndarray:
        """Draw responses for design rows ``X`` (n, n_design) from components ``labels``."""
        mu = np.einsum("ij,ij->i", X, params.coef[labels])
        if offset is not None:
            mu = mu + offset
        return mu + params.sigma[labels] * rng.standard_normal(X.shape[0])


def get_family(family, *, link: str | None = None, var_floor: float = 1e-8):
    """The family object for a name (or the object itself), with the given link.

    Names: ``"gaussian"``, ``"poisson"``, ``"binomial"``, ``"gamma"``,
    ``"negative_binomial"`` and ``"student_t"``.
    """
    from .glm import Binomial, GammaFamily, NegativeBinomial, Poisson
    from .student_t import StudentT

    if not isinstance(family, str):
        if not all(hasattr(family, a) for a in ("log_density", "statistics", "m_step")):
            raise ValueError(f"family must be a family name or a family object; got {family!r}")
        if link is not None and link != getattr(family, "link_name", None):
            raise ValueError("pass the link to the family object, not to link=")
        return family
    names = {"gaussian": Gaussian, "poisson": Poisson, "binomial": Binomial,
             "gamma": GammaFamily, "negative_binomial": NegativeBinomial,
             "student_t": StudentT}
    if family not in names:
        raise ValueError(f"family must be one of {sorted(names)} or a family object; got "
                         f"{family!r}")
    cls = names[family]
    kwargs = {}
    if link is not None:
        if family in ("gaussian", "student_t"):
            if link != "identity":
                raise ValueError(f"the {family} family has the identity link only; got "
                                 f"link={link!r}")
        else:
            kwargs["link"] = link
    if family in ("gaussian", "student_t"):
        kwargs["var_floor"] = var_floor
    return cls(**kwargs)


def family_to_dict(family) -> dict:
    """A JSON-safe description of a family object (see :func:`family_from_dict`)."""
    d = {"name": family.name, "link": family.link_name}
    for option in ("df", "size", "shape", "var_floor"):
        if hasattr(family, option):
            d[option] = getattr(family, option)
    return d


def family_from_dict(d) -> object:
    """Rebuild a family object from :func:`family_to_dict` output."""
    from .glm import Binomial, GammaFamily, NegativeBinomial, Poisson
    from .student_t import StudentT

    name, link = d["name"], d.get("link")
    if name == "gaussian":
        return Gaussian(var_floor=d.get("var_floor", 1e-8))
    if name == "student_t":
        return StudentT(df=d.get("df"), var_floor=d.get("var_floor", 1e-8))
    if name == "negative_binomial":
        return NegativeBinomial(size=d.get("size"), link=link)
    if name == "gamma":
        return GammaFamily(link=link, shape=d.get("shape"))
    classes = {"poisson": Poisson, "binomial": Binomial}
    if name not in classes:
        raise ValueError(f"unknown family {name!r}")
    return classes[name](link=link)
