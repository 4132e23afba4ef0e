# R side of benchmarks/compare_r_mixed.py: latent-class linear mixed models on mixtools'
# RanEffdata, by mixtools' regmixEM.mixed and flexmix's FLXMRlmm; prints "RESULT {json}"
# lines.
#
# Usage:
#   Rscript benchmarks/compare_r_mixed.R CSV_OUT NREP ITER_MAX
#
# Writes the 200 subjects of RanEffdata (25 rows each: y, an intercept column, x) to
# CSV_OUT in long form, then fits two classes with a random intercept and slope on x and
# a residual standard deviation and random-effect covariance per class:
# regmixEM.mixed from its example's start (lambda 0.45/0.55, mu = (0, 100) and (4, 12),
# identity R) with arb.sigma = TRUE, arb.R = TRUE and its default epsilon 1e-8; and
# flexmix(y ~ x | id, model = FLXMRlmm(random = ~ x)) by stepFlexmix(nrep = NREP) with
# tolerance 1e-10 and at most ITER_MAX iterations (its EM gains slowly: a tight
# tolerance would take hours; NREP = 0 skips it). Each reports its log-likelihood,
# parameters and wall time. Then regmixEM.mixed again, from the same start, with a
# covariance common to both classes (arb.R = FALSE), a common residual standard
# deviation (arb.sigma = FALSE), or both.

local({
  args <- commandArgs(trailingOnly = FALSE)
  here <- dirname(sub("^--file=", "", args[grep("^--file=", args)][1]))
  source(file.path(here, "compare_r_common.R"))
})

suppressMessages(library(mixtools))
suppressMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
data(RanEffdata)
long <- do.call(rbind, lapply(seq_along(RanEffdata), function(i)
  data.frame(id = i, y = RanEffdata[[i]][, 1], x = RanEffdata[[i]][, 3])))
write.csv(long, args[1], row.names = FALSE)
emit(list(kind = "versions", mixtools = as.character(packageVersion("mixtools")),
          flexmix = as.character(packageVersion("flexmix")),
          R = paste(R.version$major, R.version$minor, sep = ".")))

x <- lapply(RanEffdata, function(m) matrix(m[, 2:3], ncol = 2))
y <- lapply(RanEffdata, function(m) matrix(m[, 1], ncol = 1))
mixtools_fit <- function(kind, arb.sigma, arb.R) {
  run <- timed(function() regmixEM.mixed(
    y, x, sigma = if (arb.sigma) c(2, 2) else 2, arb.sigma = arb.sigma,
    lambda = c(0.45, 0.55), mu = matrix(c(0, 4, 100, 12), 2, 2),
    R = if (arb.R) list(diag(1, 2), diag(1, 2)) else diag(1, 2), arb.R = arb.R,
    addintercept.random = FALSE, epsilon = 1e-8, maxit = 10000), 1)
  fit <- run$result
  emit(list(kind = kind, loglik = fit$loglik, lambda = fit$lambda,
            mu = as.numeric(fit$mu), sigma = as.numeric(fit$sigma),
            R = as.numeric(unlist(fit$R)), iterations = length(fit$all.loglik),
            seconds = run$time))
}
mixtools_fit("mixtools", TRUE, TRUE)

for (arb in list(c(TRUE, FALSE), c(FALSE, TRUE), c(FALSE, FALSE)))
  mixtools_fit(sprintf("mixtools_sigma%s_R%s", arb[1], arb[2]), arb[1], arb[2])

if (as.integer(args[2]) > 0) {
  set.seed(1)
  run <- timed(function() stepFlexmix(
    y ~ x | id, data = long, k = 2, model = FLXMRlmm(random = ~ x),
    nrep = as.integer(args[2]), verbose = FALSE,
    control = list(tolerance = 1e-10, iter.max = as.integer(args[3]))), 1)
  fit <- run$result
  ll <- logLik(fit)
  par <- lapply(fit@components, function(comp) comp[[1]]@parameters)
  emit(list(kind = "flexmix", loglik = as.numeric(ll), df = attr(ll, "df"),
            prior = prior(fit),
            coef = as.numeric(sapply(par, function(p) p$coef)),
            sigma2 = as.numeric(sapply(par, function(p) p$sigma2$Residual)),
            psi = as.numeric(sapply(par, function(p) p$sigma2$Random)),
            iterations = fit@iter, converged = fit@converged, seconds = run$time))
}
