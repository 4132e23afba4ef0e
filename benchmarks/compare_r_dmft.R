# R side of benchmarks/compare_r_dmft.py: flexmix's zero-inflated Poisson mixtures of its
# dmft example (FLXMRziglm), best of several starts; prints "RESULT {json}" lines.
#
# Usage:
#   Rscript benchmarks/compare_r_dmft.R CSV_OUT NREP
#
# Writes flexmix's dmft data to CSV_OUT, then for K = 2 and 3 (a zero component and one
# or two Poisson components) fits End ~ log(Begin + 0.5) + Gender + Ethnic + Treatment
# with stepFlexmix(nrep = NREP), minprior 0.01 and a tight tolerance, and reports the
# log-likelihood, its degrees of freedom, the priors and the Poisson coefficients (the
# zero component's are -Inf and 0 in flexmix's parameters and left out).

local({
  args <- commandArgs(trailingOnly = FALSE)
  here <- dirname(sub("^--file=", "", args[grep("^--file=", args)][1]))
  source(file.path(here, "compare_r_common.R"))
})

suppressMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
data("dmft", package = "flexmix")
write.csv(dmft, args[1], row.names = FALSE)
emit(list(kind = "versions", flexmix = as.character(packageVersion("flexmix")),
          R = paste(R.version$major, R.version$minor, sep = ".")))
set.seed(1)
formula <- End ~ log(Begin + 0.5) + Gender + Ethnic + Treatment
for (k in 2:3) {
  run <- timed(function() stepFlexmix(
    formula, model = FLXMRziglm(family = "poisson"), k = k, data = dmft,
    nrep = as.integer(args[2]), verbose = FALSE,
    control = list(minprior = 0.01, tolerance = 1e-10, iter.max = 10000)), 1)
  fit <- run$result
  ll <- logLik(fit)
  coef <- parameters(fit)[, -1, drop = FALSE]
  emit(list(kind = "fit", k = k, loglik = as.numeric(ll), df = attr(ll, "df"),
            prior = prior(fit), coef = as.numeric(coef), seconds = run$time))
}
