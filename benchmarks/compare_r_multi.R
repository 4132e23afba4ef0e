# R side of benchmarks/compare_r_multi.py: flexmix's intro-vignette model of its NPreg
# data, a Gaussian and a Poisson response sharing the latent class (a list of drivers in
# model=), best of several starts; prints "RESULT {json}" lines.
#
# Usage:
#   Rscript benchmarks/compare_r_multi.R CSV NREP REPEATS [simulated]
#
# Writes flexmix's NPreg data to CSV (or, with "simulated", reads the rows of CSV: x,
# yn, yp), then fits K = 2 with
#   flexmix(yn ~ x + I(x^2), model = list(FLXMRglm(family = "gaussian"),
#                                         FLXMRglm(yp ~ . - I(x^2), family = "poisson")))
# by stepFlexmix(nrep = NREP) with a tight tolerance (timed over up to REPEATS runs), and
# reports the log-likelihood, its degrees of freedom, the priors, each response's
# coefficients per component and the Gaussian sigmas.

local({
  args <- commandArgs(trailingOnly = FALSE)
  here <- dirname(sub("^--file=", "", args[grep("^--file=", args)][1]))
  source(file.path(here, "compare_r_common.R"))
})

suppressMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
if (length(args) >= 4 && args[4] == "simulated") {
  NPreg <- read.csv(args[1])
} else {
  data("NPreg", package = "flexmix")
  write.csv(NPreg[, c("x", "yn", "yp", "class")], args[1], row.names = FALSE)
}
emit(list(kind = "versions", flexmix = as.character(packageVersion("flexmix")),
          R = paste(R.version$major, R.version$minor, sep = ".")))
set.seed(1)
run <- timed(function() stepFlexmix(
  yn ~ x + I(x^2), data = NPreg, k = 2, nrep = as.integer(args[2]), verbose = FALSE,
  model = list(FLXMRglm(family = "gaussian"), FLXMRglm(yp ~ . - I(x^2), family = "poisson")),
  control = list(tolerance = 1e-10, iter.max = 10000)), as.integer(args[3]))
fit <- run$result
ll <- logLik(fit)
gauss <- parameters(fit, which = "model", model = 1)  # rows coef.(Intercept), ..., sigma
pois <- parameters(fit, which = "model", model = 2)
emit(list(kind = "fit", k = 2, loglik = as.numeric(ll), df = attr(ll, "df"),
          prior = prior(fit), gauss = as.numeric(gauss[1:3, ]),
          sigma = as.numeric(gauss[4, ]), pois = as.numeric(pois),
          seconds = run$time, cpu = run$cpu))
