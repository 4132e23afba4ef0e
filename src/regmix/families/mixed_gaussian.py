"""Gaussian linear mixed-model components (a latent-class linear mixed model).

Given class k, subject i's responses are ``y_i = X_i beta_k + Z_i b_i + e_i`` with
``b_i ~ N(0, D_k)`` and ``e_i ~ N(0, sigma_k^2 I)``, so that
``y_i ~ N(X_i beta_k, Z_i D_k Z_i' + sigma_k^2 I)``. The density of a subject is not a
sum of row densities: the family gives per-group log-densities
(:meth:`MixedGaussian.group_log_density`) from per-group blocks (``Z'Z``, ``Z'X``,
``X'X``, ``Z'r``, ``r'r``) by the matrix determinant lemma and the Woodbury identity,
never forming an ``n_i x n_i`` matrix. With ``D = L L'`` and
``A_i = sigma^2 I + L' Z_i'Z_i L``::

    log det V_i = (n_i - q) log sigma^2 + log det A_i
    r_i' V_i^-1 r_i = (r_i'r_i - r_i'Z_i H_i Z_i'r_i) / sigma^2,  H_i = L A_i^-1 L'

and ``E[b_i | y_i, k] = H_i Z_i'r_i``, ``Var[b_i | y_i, k] = sigma^2 H_i``.

The M-step is an ECM step of the class-label augmentation: the coefficients by
generalised least squares given the current ``D`` and ``sigma`` (from additive sums of
``X'V^-1X`` and ``X'V^-1 r``), then ``D`` and ``sigma`` by one EM step of the
random-effect augmentation at the new coefficients, whose sums are polynomials in the
coefficient change and so come from the same pass. Each step raises the observed
log-likelihood.

Covariance structures (``cov``, ``cov_classes``; lcmm's ``idiag`` and ``nwg``): ``D_k``
diagonal or full, and of its own per class, common to all classes, or proportional,
``D_k = w_k^2 D`` with ``w_K = 1``; a common sigma is the estimator's
``equal_variance``. Their M-steps are closed-form conditional maximisations of the same
expected complete-data log-likelihood (:meth:`MixedGaussian._covariance_step`); the
parameters are stored per class as in the unrestricted model, and
:meth:`MixedGaussian.free_extra_map` maps the free ones to them for the inference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from regmix.core.choices import RANDOM_COV_CLASSES, RANDOM_COVS
from regmix.core.chunk import Chunk
from regmix.core.linalg import linear_predictor, solve_normal_equations_batch

_LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class MixedGaussianParams:
    """Parameters of K linear mixed-model components (internal units).

    Attributes
    ----------
    coef : ndarray of shape (K, p)
    sigma : ndarray of shape (K,)
    cov : ndarray of shape (K, q, q)
        Covariance matrices of the random effects.
    """

    coef: np.ndarray
    sigma: np.ndarray
    cov: np.ndarray
    diagonal: bool = False

    @property
    def n_components(self) -> int:
        return self.coef.shape[0]

    @property
    def extra(self) -> np.ndarray:
        """``sigma`` and the lower triangle of each covariance (its diagonal when the
        covariances are diagonal), shape (K, 1 + q(q+1)/2) or (K, 1 + q)."""
        rows, cols = covariance_entries(self.cov.shape[1], self.diagonal)
        return np.column_stack([self.sigma, self.cov[:, rows, cols]])

    def take(self, order: np.ndarray) -> MixedGaussianParams:
        return MixedGaussianParams(self.coef[order].copy(), self.sigma[order].copy(),
                                   self.cov[order].copy(), self.diagonal)


def covariance_entries(q: int, diagonal: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the free entries of a (q, q) random-effect covariance: the
    lower triangle row by row, or the diagonal."""
    if diagonal:
        return np.arange(q), np.arange(q)
    return np.tril_indices(q)


def class_map(base: np.ndarray, jac: np.ndarray, curv: np.ndarray, classes: str,
              n_components: int, scale: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The covariance entries of every class from the free parameters of a structure.

    ``base`` (G, u) are the entries of the free covariances (one per class, G = K, for
    ``classes="specific"``; one, G = 1, for ``"common"`` and ``"proportional"``) as
    functions ``f(l)`` of some coordinates ``l`` (n per covariance) with derivatives
    ``jac`` (G, u, n) and ``curv`` (G, u, n, n). For ``"proportional"`` class k has
    ``w_k^2 f(l)`` with ``w_K = 1`` and ``scale`` the K - 1 free ``w_k``.

    Returns
    -------
    entries : ndarray of shape (K, u)
    J : ndarray of shape (K * u, G * n + n_w)
        Derivatives of the entries (class by class) in ``(l, w)``.
    S : ndarray of shape (K * u, G * n + n_w, G * n + n_w)
        Their second derivatives.
    """
    K = n_components
    G, u, n = jac.shape
    n_w = K - 1 if classes == "proportional" else 0
    c = np.ones(K) if n_w == 0 else np.append(np.asarray(scale, dtype=np.float64) ** 2, 1.0)
    group = np.arange(K) if classes == "specific" else np.zeros(K, dtype=np.intp)
    dim = G * n + n_w
    entries = c[:, None] * base[group]
    J = np.zeros((K, u, dim))
    S = np.zeros((K, u, dim, dim))
    for k in range(K):
        sl = slice(group[k] * n, group[k] * n + n)
        J[k, :, sl] = c[k] * jac[group[k]]
        S[k, :, sl, sl] = c[k] * curv[group[k]]
        if n_w and k < K - 1:
            w, col = float(np.sqrt(c[k])), G * n + k
            J[k, :, col] = 2.0 * w * base[0]
            S[k, :, sl, col] = S[k, :, col, sl] = 2.0 * w * jac[0]
            S[k, :, col, col] = 2.0 * base[0]
    return entries, J.reshape(K * u, dim), S.reshape(K * u, dim, dim)


def _group_products(AT: np.ndarray, BT: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per group ``A_g' B_g`` from transposed blocks ``AT`` (a, n), ``BT`` (b, n): (G, a, b)."""
    prod = AT[:, None, :] * BT[None, :, :]
    return np.moveaxis(np.add.reduceat(prod, starts, axis=2), 2, 0)


def _square_root(cov: np.ndarray) -> np.ndarray:
    """A square root ``L`` of each (q, q) covariance, ``L L' = D`` (PSD allowed)."""
    lam, V = np.linalg.eigh(cov)
    return V * np.sqrt(np.maximum(lam, 0.0))[:, None, :]


def random_terms(spec: str) -> tuple[str, ...]:
    """The random-effect columns of a term list such as lme4's left of ``|``.

    ``"1 + time"`` and ``"time"`` are a random intercept and a random slope on
    ``time`` (the intercept is implied, as in lme4), ``"0 + time"`` or ``"time - 1"``
    the slope alone, ``"1"`` the intercept alone.

    Returns
    -------
    tuple of str
        Column names, ``"intercept"`` first when there is one.
    """
    terms = [t.replace(" ", "") for t in spec.replace("-", "+-").split("+") if t.strip()]
    intercept = not any(t in ("0", "-1") for t in terms)
    names = [t for t in terms if t not in ("0", "1", "-1")]
    bad = [t for t in names if not t.isidentifier() and not t.replace(".", "_").isidentifier()]
    if bad or any(t.startswith("-") for t in names):
        raise ValueError(f"random={spec!r}: terms are column names joined by '+', with "
                         f"'1' or '0' for an intercept or none; got {bad or names}")
    if len(set(names)) != len(names):
        raise ValueError(f"random={spec!r} names a column twice")
    out = (["intercept"] if intercept else []) + names
    if not out:
        raise ValueError(f"random={spec!r} has no random effect")
    return tuple(out)


class MixedGaussian:
    """Gaussian components with random effects on design columns ``z_rows``.

    Parameters
    ----------
    z_rows : sequence of int or str, or str
        The random-effect columns: rows of the chunk's transposed design ``XT`` (row 0
        is the intercept when the design has one), or names of the design's columns
        (``"intercept"`` for the intercept, the features' names, or ``x0, x1, ...``
        for unnamed ones), resolved when the model is fitted; a string is a term list
        as :func:`random_terms` reads it (``"1 + time"``).
    cov : {"full", "diagonal"}, default="full"
        The random-effect covariance ``D_k``: any positive semi-definite matrix, or a
        diagonal one (independent random effects).
    cov_classes : {"specific", "common", "proportional"}, default="specific"
        ``D_k`` of its own in each class, one ``D`` common to all classes, or
        ``D_k = w_k^2 D`` with ``w_K = 1`` (lcmm's ``nwg=TRUE``).

    A common residual standard deviation is the estimator's ``equal_variance=True``.
    """

    name = "gaussian_mixed"
    label = "Gaussian linear mixed model"
    link_name = "identity"
    location_scale = True
    exact_m_step = True
    # A start's first ECM step is taken from the reference point of zero_params (D_k =
    # 0.25 I and sigma_k = 1 in internal units): its coefficients are the GLS fit at
    # those variance components, and D_k and sigma_k move one EM step from them. The
    # further steps with the same memberships bring each component near the weighted
    # mixed-model fit of its members, so that a start, and a split-and-merge move, is
    # judged with variance components of its own (see "Starts and the global optimum"
    # in docs/mixed-models.md).
    init_steps = 10
    constraints = None

    def __init__(self, z_rows, names=None, cov: str = "full",
                 cov_classes: str = "specific") -> None:
        if cov not in RANDOM_COVS:
            raise ValueError(f"cov must be one of {list(RANDOM_COVS)}; got {cov!r}")
        if cov_classes not in RANDOM_COV_CLASSES:
            raise ValueError(f"cov_classes must be one of {list(RANDOM_COV_CLASSES)}; got "
                             f"{cov_classes!r}")
        self.cov, self.cov_classes = cov, cov_classes
        if isinstance(z_rows, str):
            z_rows = random_terms(z_rows)
        z_rows = tuple(z_rows)
        if not z_rows:
            raise ValueError("z_rows must name at least one random-effect column")
        if all(isinstance(j, str) for j in z_rows):
            names, rows = z_rows, None
        elif any(isinstance(j, str) for j in z_rows):
            raise ValueError(f"z_rows must be all design rows or all column names; got "
                             f"{z_rows!r}")
        else:
            rows = tuple(int(j) for j in z_rows)
        self._rows = rows
        self.names = None if names is None else tuple(str(n) for n in names)
        labels = self.names or tuple(str(j) for j in z_rows)
        self.extra_names = ("sigma",) + tuple(
            f"var_{labels[a]}" if a == b else f"cov_{labels[a]}_{labels[b]}"
            for a, b in zip(*covariance_entries(len(z_rows), cov == "diagonal"),
                            strict=True))

    def __repr__(self) -> str:
        terms = self.names if self._rows is None else self._rows
        options = "".join(f", {k}={v!r}" for k, v, d in (
            ("cov", self.cov, "full"), ("cov_classes", self.cov_classes, "specific"))
            if v != d)
        return f"MixedGaussian({terms!r}{options})"

    def warm_start_change(self, fitted: MixedGaussian) -> str | None:
        """What a warm start from the fitted family ``fitted`` cannot take: another
        covariance structure (``cov``, ``cov_classes``) or other random effects, said
        with the argument; None when there is no such change."""
        for argument in ("cov", "cov_classes"):
            old, new = getattr(fitted, argument), getattr(self, argument)
            if old != new:
                return (f"the random-effect covariance changed to {argument}={new!r} from "
                        f"the fit's {argument}={old!r}")
        by_name = self.names is not None
        mine = self.names if by_name else self._rows
        theirs = fitted.names if by_name else fitted._rows
        if mine != theirs:
            return f"the random effects changed to {mine} from the fit's {theirs}"
        return None

    @property
    def diagonal(self) -> bool:
        """Whether the random-effect covariances are diagonal."""
        return self.cov == "diagonal"

    @property
    def _equal_sigma(self) -> bool:
        return self.constraints is not None and bool(self.constraints.equal_scale)

    @property
    def needs_uncentred(self) -> bool:
        """Whether the fit's features must not be centred: a diagonal covariance of
        random slopes is diagonal in user units only when the features are merely
        scaled."""
        return self.diagonal

    @property
    def common_extra_names(self) -> tuple[str, ...]:
        """The extras one parameter of all classes (a common ``D``)."""
        return self.extra_names[1:] if self.cov_classes == "common" else ()

    @property
    def z_rows(self) -> tuple[int, ...]:
        """The design rows of the random effects."""
        if self._rows is None:
            raise ValueError(f"the random-effect columns {self.names} are resolved when "
                             "the model is fitted")
        return self._rows

    def bind(self, design_names: list[str]) -> MixedGaussian:
        """This family with its named random-effect columns resolved against the
        design's column names (``"intercept"`` first when fitted); itself when it was
        given design rows."""
        if self._rows is not None:
            return self
        assert self.names is not None
        missing = [n for n in self.names if n not in design_names]
        if missing:
            raise ValueError(f"random-effect column(s) {missing} are not columns of the "
                             f"design {list(design_names)}")
        return MixedGaussian([design_names.index(n) for n in self.names], names=self.names,
                             cov=self.cov, cov_classes=self.cov_classes)

    @property
    def n_random(self) -> int:
        return len(self._rows if self._rows is not None else self.names or ())

    def n_parameters(self, n_components: int, n_design: int) -> int:
        """Coefficients, the sigmas (one with ``equal_variance``) and the covariances'
        free entries: per class, once (common), or once and K - 1 ratios
        (proportional)."""
        K, u = n_components, len(self.extra_names) - 1
        n_cov = {"specific": K * u, "common": u, "proportional": u + K - 1}[self.cov_classes]
        return K * n_design + (1 if self._equal_sigma else K) + n_cov

    def _params(self, coef, sigma, cov) -> MixedGaussianParams:
        return MixedGaussianParams(coef, sigma, cov, self.diagonal)

    def make_params(self, coef: np.ndarray, extra: np.ndarray) -> MixedGaussianParams:
        extra = np.asarray(extra, dtype=np.float64)
        K, q = extra.shape[0], self.n_random
        cov = np.zeros((K, q, q))
        rows, cols = covariance_entries(q, self.diagonal)
        cov[:, rows, cols] = extra[:, 1:]
        cov[:, cols, rows] = extra[:, 1:]
        return self._params(np.asarray(coef, dtype=np.float64), extra[:, 0].copy(), cov)

    def zero_params(self, n_components: int, n_design: int) -> MixedGaussianParams:
        q = self.n_random
        return self._params(np.zeros((n_components, n_design)), np.ones(n_components),
                            np.tile(0.25 * np.eye(q), (n_components, 1, 1)))

    def proportions(self, cov: np.ndarray) -> np.ndarray:
        """The ratios ``w_k`` of proportional covariances ``D_k = w_k^2 D_K``, (K,)."""
        tr = np.trace(cov, axis1=1, axis2=2)
        return np.sqrt(tr / max(float(tr[-1]), 1e-300))

    def free_extra_map(self, extra: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray] | None:
        """How the components' extras in the information's coordinates (``log sigma_k``
        and the covariance entries, (K, m) row by row) follow from the free ones: their
        Jacobian (K * m, f) and second derivatives (K * m, f, f). The free extras are
        the sigmas' logarithms (one with ``equal_variance``), the covariance entries
        per class or once, and for proportional covariances ``w_1 .. w_{K-1}``. None
        when every component's extras are its own free parameters."""
        if self.cov_classes == "specific" and not self._equal_sigma:
            return None
        extra = np.asarray(extra, dtype=np.float64)
        K, m = extra.shape
        u = m - 1
        G = K if self.cov_classes == "specific" else 1
        base = extra[:G, 1:] if self.cov_classes != "proportional" else extra[-1:, 1:]
        jac = np.tile(np.eye(u), (G, 1, 1))
        ww = self.proportions(self.make_params(np.zeros((K, 1)), extra).cov)[:-1]
        _, Jd, Sd = class_map(base, jac, np.zeros((G, u, u, u)), self.cov_classes, K, ww)
        n_s = 1 if self._equal_sigma else K
        f = n_s + Jd.shape[1]
        J = np.zeros((K, m, f))
        S = np.zeros((K, m, f, f))
        J[np.arange(K), 0, 0 if n_s == 1 else np.arange(K)] = 1.0
        J[:, 1:, n_s:] = Jd.reshape(K, u, -1)
        S[:, 1:, n_s:, n_s:] = Sd.reshape(K, u, *Sd.shape[1:])
        return J.reshape(K * m, f), S.reshape(K * m, f, f)

    def mean(self, params: MixedGaussianParams, XT: np.ndarray, offset=None) -> np.ndarray:
        """The marginal component means ``X beta_k``, shape (K, n)."""
        return linear_predictor(params.coef, XT, offset)

    def _blocks(self, params: MixedGaussianParams, chunk: Chunk) -> dict:
        starts = chunk.group_starts
        if starts is None:
            raise ValueError("a MixedGaussian family needs grouped rows (groups=)")
        if chunk.w is not None:
            raise ValueError("sample_weight is not supported with a MixedGaussian family")
        XT, ZT = chunk.XT, chunk.XT[list(self.z_rows)]
        n = XT.shape[1]
        sizes = np.diff(np.append(starts, n)).astype(np.float64)
        r = chunk.y - self.mean(params, XT, chunk.offset)
        rr = np.add.reduceat(r * r, starts, axis=1)
        Zr = np.moveaxis(np.add.reduceat(ZT[None] * r[:, None], starts, axis=2), 1, 2)
        ZZ = _group_products(ZT, ZT, starts)
        L = _square_root(params.cov)
        s2 = params.sigma ** 2
        q = self.n_random
        A = np.einsum("kba,gbc,kcd->kgad", L, ZZ, L) + s2[:, None, None, None] * np.eye(q)
        cA = np.linalg.cholesky(A)
        logdet = 2.0 * np.log(np.diagonal(cA, axis1=2, axis2=3)).sum(axis=2)
        AinvLt = np.linalg.solve(A, np.swapaxes(L, 1, 2)[:, None])
        H = np.einsum("kab,kgbc->kgac", L, AinvLt)
        H = 0.5 * (H + np.swapaxes(H, 2, 3))
        m = np.einsum("kgab,kgb->kga", H, Zr)
        quad = (rr - np.einsum("kga,kga->kg", Zr, m)) / s2[:, None]
        ll = -0.5 * (sizes * _LOG_2PI + (sizes - q) * np.log(s2)[:, None] + logdet + quad)
        return dict(starts=starts, sizes=sizes, r=r, rr=rr, Zr=Zr, ZZ=ZZ, H=H, m=m, ll=ll)

    def group_log_density(self, params: MixedGaussianParams, chunk: Chunk):
        """Per-group marginal log-densities (K, G) and a cache for :meth:`statistics`."""
        blocks = self._blocks(params, chunk)
        return blocks["ll"], blocks

    def log_density(self, params, chunk, log_weights=0.0):
        raise ValueError("a MixedGaussian family has per-group densities only "
                         "(group_log_density); pass groups=")

    def statistics(self, chunk: Chunk, wr: np.ndarray, params: MixedGaussianParams,
                   cache=None) -> tuple[np.ndarray, ...]:
        """Additive sums for the ECM step; a group's membership is its first row's."""
        b = self._blocks(params, chunk) if cache is None else cache
        starts = b["starts"]
        R = wr[:, starts]
        XT, ZT = chunk.XT, chunk.XT[list(self.z_rows)]
        XX = _group_products(XT, XT, starts)
        ZX = _group_products(ZT, XT, starts)
        ZZ, H, m, Zr, rr, r = b["ZZ"], b["H"], b["m"], b["Zr"], b["rr"], b["r"]
        s2 = (params.sigma ** 2)[:, None]
        Xr = np.moveaxis(np.add.reduceat(XT[None] * r[:, None], starts, axis=2), 1, 2)
        C = np.einsum("kgab,gbp->kgap", H, ZX)
        P = np.einsum("kg,gpq->kpq", R, XX) - np.einsum("kg,gap,kgaq->kpq", R, ZX, C)
        Xe = Xr - np.einsum("gap,kga->kgp", ZX, m)
        Ze = Zr - np.einsum("gab,kgb->kga", ZZ, m)
        g = np.einsum("kg,kgp->kp", R, Xe)
        We = g - np.einsum("kg,kgap,kga->kp", R, C, Ze)
        WW = (P - np.einsum("kg,kgap,gaq->kpq", R, C, ZX)
              + np.einsum("kg,kgap,gab,kgbq->kpq", R, C, ZZ, C, optimize=True))
        ee_g = (rr - 2.0 * np.einsum("kga,kga->kg", Zr, m)
                + np.einsum("kga,gab,kgb->kg", m, ZZ, m)
                + s2 * np.einsum("gab,kgba->kg", ZZ, H))
        ee = np.einsum("kg,kg->k", R, ee_g)
        Smm = np.einsum("kg,kga,kgb->kab", R, m, m) + np.einsum("kg,kgab->kab", R * s2, H)
        Smc = np.einsum("kg,kga,kgbj->kabj", R, m, C)
        Scc = np.einsum("kg,kgaj,kgbl->kajbl", R, C, C, optimize=True)
        return (P, g, WW, We, ee, Smm, Smc, Scc, R.sum(axis=1), R @ b["sizes"])

    def m_step(self, stats, resp_sum, params: MixedGaussianParams):
        P, g, WW, We, ee, Smm, Smc, Scc, Ng, Nr = stats
        coef, sigma, cov = params.coef.copy(), params.sigma.copy(), params.cov.copy()
        live = Nr > 1e-12 * max(float(Nr.sum()), 1e-300)
        deficient = np.zeros(coef.shape[0], dtype=bool)
        if not live.any():
            return params, deficient
        delta, deficient[live] = solve_normal_equations_batch(P[live], g[live])
        coef[live] += delta
        rss = (ee[live] - 2.0 * np.einsum("kp,kp->k", delta, We[live])
               + np.einsum("kp,kpq,kq->k", delta, WW[live], delta))
        if self._equal_sigma:  # the pooled residual sums
            sigma[:] = np.sqrt(max(float(rss.sum() / Nr[live].sum()), 1e-300))
        else:
            sigma[live] = np.sqrt(np.maximum(rss / Nr[live], 1e-300))
        M = np.einsum("kabj,kj->kab", Smc[live], delta)
        S = (Smm[live] - M - np.swapaxes(M, 1, 2)
             + np.einsum("kajbl,kj,kl->kab", Scc[live], delta, delta))
        if self.diagonal:
            S = S * np.eye(S.shape[1])
        cov = self._covariance_step(S, Ng[live], live, cov)
        return self._params(coef, sigma, cov), deficient

    def _covariance_step(self, S: np.ndarray, Ng: np.ndarray, live: np.ndarray,
                         cov: np.ndarray) -> np.ndarray:
        """The covariances maximising the expected complete-data log-likelihood of the
        random effects, ``sum_k [-Ng_k / 2 log det D_k - tr(D_k^-1 S_k) / 2]`` with
        ``S_k`` the live classes' weighted sums of ``E[b b' | y, k]`` (diagonal for a
        diagonal ``D``): ``S_k / Ng_k``, the pooled ``sum S_k / sum Ng_k`` (common), or
        for ``D_k = w_k^2 D`` two conditional maximisations, ``D = sum_k S_k / w_k^2 /
        sum_k Ng_k`` at the current ratios, then ``w_k^2 = tr(D^-1 S_k) / (q Ng_k)``
        (k < K) at that ``D``, each raising it (an ECM step)."""
        cov = cov.copy()
        if self.cov_classes == "specific":
            D = S / Ng[:, None, None]
            cov[live] = 0.5 * (D + np.swapaxes(D, 1, 2))
            return cov
        S = 0.5 * (S + np.swapaxes(S, 1, 2))
        if self.cov_classes == "common":
            cov[:] = S.sum(axis=0) / Ng.sum()
            return cov
        q = S.shape[1]
        w2 = self.proportions(cov) ** 2
        free = live.copy()
        free[-1] = False  # w_K = 1
        D = np.einsum("kab,k->ab", S, 1.0 / w2[live]) / Ng.sum()
        Dinv = np.linalg.pinv(D, hermitian=True)
        S_free = S[free[live]]
        w2[free] = np.maximum(np.einsum("ab,kba->k", Dinv, S_free)
                              / (q * Ng[free[live]]), 1e-300)
        return w2[:, None, None] * D

    # ------------------------------------------------------------------ the rest of Family
    def check_response(self, y, trials=None, *, start: int = 0, complete: bool = True) -> None:
        """Any finite response is valid."""
        if trials is not None:
            raise ValueError("trials= applies to the binomial family only")

    def with_unit_scale(self, params: MixedGaussianParams) -> MixedGaussianParams:
        start = self.zero_params(params.n_components, params.coef.shape[1])
        return self._params(params.coef, start.sigma, start.cov)

    def to_vector(self, params: MixedGaussianParams) -> np.ndarray:
        """``(coef, log sigma, the covariances' free parameters)``: the log-Cholesky
        factor of each free covariance (per class, or of the common ``D`` or ``D_K``;
        the logarithms of the standard deviations when diagonal), then ``log w_k``
        (k < K) when proportional."""
        K = params.n_components
        free = params.cov if self.cov_classes == "specific" else params.cov[-1:]
        parts = [params.coef.ravel(), np.log(params.sigma), self._log_cholesky(free).ravel()]
        if self.cov_classes == "proportional":
            parts.append(np.log(np.maximum(self.proportions(params.cov)[: K - 1], 1e-300)))
        return np.concatenate(parts)

    def from_vector(self, vec: np.ndarray, like: MixedGaussianParams) -> MixedGaussianParams:
        K, p = like.coef.shape
        q = self.n_random
        u = len(self.extra_names) - 1
        G = K if self.cov_classes == "specific" else 1
        tri = vec[K * p + K : K * p + K + G * u].reshape(G, u).copy()
        rows, cols = covariance_entries(q, self.diagonal)
        diag = rows == cols
        tri[:, diag] = np.exp(tri[:, diag])
        L = np.zeros((G, q, q))
        L[:, rows, cols] = tri
        cov = np.broadcast_to(L @ np.swapaxes(L, 1, 2), (K, q, q)).copy()
        if self.cov_classes == "proportional":
            w2 = np.exp(2.0 * np.append(vec[K * p + K + u :], 0.0))
            cov = w2[:, None, None] * cov
        return self._params(vec[: K * p].reshape(K, p).copy(),
                            np.exp(vec[K * p : K * p + K]), cov)

    def _log_cholesky(self, cov: np.ndarray) -> np.ndarray:
        """The free entries of a Cholesky factor of each covariance (G, q, q), with the
        logarithm of its diagonal, (G, u)."""
        q = self.n_random
        jitter = 1e-12 * np.maximum(np.trace(cov, axis1=1, axis2=2), 1e-300)
        L = np.linalg.cholesky(cov + jitter[:, None, None] * np.eye(q))
        rows, cols = covariance_entries(q, self.diagonal)
        tri = L[:, rows, cols].copy()
        diag = rows == cols
        tri[:, diag] = np.log(tri[:, diag])
        return tri

    def _effect_map(self, st) -> np.ndarray:
        """``T`` with user effects ``b = y_scale * T b*`` of internal ones ``b*``."""
        q = self.n_random
        T = np.eye(q)
        icpt = [a for a, j in enumerate(self.z_rows) if st.fit_intercept and j == 0]
        for a, j in enumerate(self.z_rows):
            if st.fit_intercept and j == 0:
                continue
            f = j - int(st.fit_intercept)
            T[a, a] = 1.0 / st.x_scale[f]
            if st.x_loc[f] != 0.0:
                if self.diagonal:
                    raise ValueError("a diagonal random-effect covariance needs uncentred "
                                     "features")
                if not icpt:
                    raise ValueError("random slopes without a random intercept need "
                                     "uncentred features")
                T[icpt[0], a] = -st.x_loc[f] / st.x_scale[f]
        return T

    def to_user(self, params: MixedGaussianParams, standardization) -> MixedGaussianParams:
        T = standardization.y_scale * self._effect_map(standardization)
        return self._params(standardization.to_user(params.coef),
                            params.sigma * standardization.y_scale, T @ params.cov @ T.T)

    def to_internal(self, params: MixedGaussianParams, standardization) -> MixedGaussianParams:
        Ti = np.linalg.inv(standardization.y_scale * self._effect_map(standardization))
        return self._params(standardization.to_internal(params.coef),
                            params.sigma / standardization.y_scale, Ti @ params.cov @ Ti.T)

    def free_extra(self) -> np.ndarray:
        return np.ones(len(self.extra_names), dtype=bool)

    def row_derivatives(self, params, chunk):
        raise ValueError("a MixedGaussian family has per-group derivatives only "
                         "(group_derivatives); pass groups=")

    def linear_extra(self) -> np.ndarray:
        """Which free extras enter the information's coordinates as they are (the
        covariance entries) rather than by their logarithm (``sigma``)."""
        return np.arange(len(self.extra_names)) > 0

    def group_derivatives(self, params: MixedGaussianParams, chunk: Chunk):
        """Per-group log-densities with their gradients and Hessians.

        The coordinates of component k are ``phi_k = (beta_k, log sigma_k, vech D_k)``
        (the lower triangle of ``D_k`` in the order of ``extra_names``). With
        ``W = V^-1`` and ``V_a = dV / d phi_a = c_a I + Z E_a Z'`` (``c = 2 sigma^2``
        for ``log sigma``, ``E_a`` the symmetric unit matrix of a covariance entry)::

            dl/dbeta = X'W r,  dl/da = (r'W V_a W r - tr W V_a) / 2
            d2l/dbeta2 = -X'WX,  d2l/dbeta da = -X'W V_a W r
            d2l/da db = tr(W V_a W V_b) / 2 - r'W V_a W V_b W r  (+ the terms of
                        d2V / d(log sigma)^2 = 4 sigma^2 I)

        All of it comes from the blocks ``T'W^j T`` (``T = [X, r]``, j = 1, 2, 3) and
        ``tr W^j`` (j = 1, 2), with ``W^j = sigma^-2j (I + Z F_j Z')``, ``F_1 = -H``,
        ``F_{j+1} = F_j + F_1 + F_j Z'Z F_1``: no ``n_i x n_i`` matrix.

        Returns
        -------
        logf : ndarray of shape (K, G)
        grad : ndarray of shape (K, G, d)
        hess : ndarray of shape (K, G, d, d)
            ``d = p + 1 + u`` with ``u`` the covariance entries, ``q (q + 1) / 2``, or
            ``q`` when the covariances are diagonal.
        """
        b = self._blocks(params, chunk)
        starts, sizes, ZZ, H = b["starts"], b["sizes"], b["ZZ"], b["H"]
        XT, r = chunk.XT, b["r"]
        K, p = params.coef.shape
        q = self.n_random
        z = list(self.z_rows)
        # Gram matrices of T = [X, r_k] per group: (K, G, p + 1, p + 1)
        XX = _group_products(XT, XT, starts)
        Xr = np.moveaxis(np.add.reduceat(XT[None] * r[:, None], starts, axis=2), 1, 2)
        G = XX.shape[0]
        T = np.empty((K, G, p + 1, p + 1))
        T[:, :, :p, :p] = XX
        T[:, :, :p, p] = Xr
        T[:, :, p, :p] = Xr
        T[:, :, p, p] = b["rr"]
        S = T[:, :, z, :]  # Z'T, (K, G, q, p + 1)
        F1 = -H
        F2 = 2.0 * F1 + F1 @ ZZ @ F1
        F3 = F2 + F1 + F2 @ ZZ @ F1
        s2 = (params.sigma ** 2)[:, None, None, None]
        B1, B2, B3 = ((T + np.swapaxes(S, 2, 3) @ F @ S) / s2 ** j
                      for j, F in ((1, F1), (2, F2), (3, F3)))
        t1 = (sizes + np.einsum("kgab,gba->kg", F1, ZZ)) / s2[..., 0, 0]
        t2 = (sizes + np.einsum("kgab,gba->kg", F2, ZZ)) / s2[..., 0, 0] ** 2
        # the V coordinates: log sigma, then the covariance entries
        rows, cols = covariance_entries(q, self.diagonal)
        nv = 1 + rows.size
        E = np.zeros((nv, q, q))
        E[1 + np.arange(rows.size), rows, cols] = 1.0
        E[1 + np.arange(rows.size), cols, rows] = 1.0
        c = np.zeros((K, nv))
        c[:, 0] = 2.0 * params.sigma ** 2
        u = B1[:, :, z, p]  # Z'W r
        B1zz, B2zz = B1[:, :, z][:, :, :, z], B2[:, :, z][:, :, :, z]
        Eu = np.einsum("aij,kgj->kgai", E, u)  # E_a Z'W r
        d = p + nv
        grad = np.empty((K, G, d))
        hess = np.empty((K, G, d, d))
        grad[:, :, :p] = B1[:, :, :p, p]
        tr_WV = c[:, None] * t1[:, :, None] + np.einsum("aij,kgji->kga", E, B1zz)
        rWVWr = c[:, None] * B2[:, :, p, p][:, :, None] + np.einsum("kgai,kgi->kga", Eu, u)
        grad[:, :, p:] = 0.5 * (rWVWr - tr_WV)
        hess[:, :, :p, :p] = -B1[:, :, :p, :p]
        hx = -(c[:, None, None] * B2[:, :, :p, p][:, :, :, None]
               + np.einsum("kgxi,kgai->kgxa", B1[:, :, :p, z], Eu))
        hess[:, :, :p, p:] = hx
        hess[:, :, p:, :p] = np.swapaxes(hx, 2, 3)
        EB1 = np.einsum("aij,kgjl->kgail", E, B1zz)  # E_a Z'WZ
        EB2 = np.einsum("aij,kgjl->kgail", E, B2zz)
        trWVWV = (c[:, None, :, None] * c[:, None, None, :] * t2[:, :, None, None]
                  + c[:, None, :, None] * np.einsum("kgbii->kgb", EB2)[:, :, None, :]
                  + c[:, None, None, :] * np.einsum("kgaii->kga", EB2)[:, :, :, None]
                  + np.einsum("kgaij,kgbji->kgab", EB1, EB1))
        B2zr = B2[:, :, z, p]
        rWVWVWr = (c[:, None, :, None] * c[:, None, None, :] * B3[:, :, p, p][:, :, None, None]
                   + c[:, None, :, None] * np.einsum("kgi,kgbi->kgb", B2zr, Eu)[:, :, None, :]
                   + c[:, None, None, :] * np.einsum("kgai,kgi->kga", Eu, B2zr)[:, :, :, None]
                   + np.einsum("kgai,kgij,kgbj->kgab", Eu, B1zz, Eu))
        hv = 0.5 * trWVWV - rWVWVWr
        # d2V / d(log sigma)^2 = 4 sigma^2 I: (r'W r'' W r - tr W V'') / 2
        hv[:, :, 0, 0] += 2.0 * params.sigma[:, None] ** 2 * (B2[:, :, p, p] - t1)
        hess[:, :, p:, p:] = hv
        return b["ll"], grad, hess

    def random_effects(self, params: MixedGaussianParams, chunk: Chunk
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Each group's random effects given its responses and class k: the conditional
        means ``E[b_i | y_i, k] = H_ik Z_i'r_ik`` (K, G, q) (the BLUPs) and covariances
        ``Var[b_i | y_i, k] = sigma_k^2 H_ik`` (K, G, q, q)."""
        b = self._blocks(params, chunk)
        return b["m"], (params.sigma ** 2)[:, None, None, None] * b["H"]

    def sample(self, params: MixedGaussianParams, X: np.ndarray, labels: np.ndarray,
               rng: np.random.Generator, offset: np.ndarray | None = None,
               trials: np.ndarray | None = None, *,
               group_starts: np.ndarray | None = None) -> np.ndarray:
        """Draw responses at design rows ``X`` (n, n_design), sorted by group with
        ``group_starts`` the first row of each group: per group ``b_i ~ N(0, D_k)`` of
        its class ``k = labels[first row]``, then ``y = X beta_k + Z b_i + e``."""
        if group_starts is None:
            raise ValueError("sampling a MixedGaussian fit needs the groups of the rows "
                             "(groups=)")
        n = X.shape[0]
        sizes = np.diff(np.append(group_starts, n))
        k = labels[group_starts]
        L = _square_root(params.cov)[k]  # (G, q, q)
        effects = np.einsum("gab,gb->ga", L, rng.standard_normal((k.size, self.n_random)))
        mu = np.einsum("ij,ij->i", X, params.coef[labels])
        mu += np.einsum("ia,ia->i", X[:, list(self.z_rows)], np.repeat(effects, sizes, axis=0))
        if offset is not None:
            mu = mu + offset
        return mu + params.sigma[labels] * rng.standard_normal(n)
