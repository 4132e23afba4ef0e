# flexmix's restricted model of its regression vignette on its data set NregFix:
# x2 common to the three components, x1 in components 2 and 3 only (one coefficient
# shared by the two), one sigma, gating on w. Writes the data (CSV) and the best
# log-likelihood of NSTARTS flexmix fits (JSON) to the paths given, with flexmix's
# default tolerance and with tolerance = 1e-10.
# Usage: Rscript compare_r_nested.R DATA.csv RESULT.json [NSTARTS]
suppressMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
n_starts <- if (length(args) >= 3) as.integer(args[3]) else 20
data(NregFix)
write.csv(NregFix, args[1], row.names = FALSE)
fits <- function(control) {
  set.seed(1)
  best <- -Inf
  lls <- c()
  for (i in seq_len(n_starts)) {
    m <- flexmix(y ~ 1, data = NregFix, k = 3,
                 model = FLXMRglmfix(fixed = ~ x2,
                                     nested = list(k = c(1, 2), formula = c(~0, ~x1)),
                                     varFix = TRUE),
                 concomitant = FLXPmultinom(~ w), control = control)
    if (length(m@size) != 3) next
    ll <- as.numeric(logLik(m))
    lls <- c(lls, ll)
    if (ll > best) { best <- ll; df <- attr(logLik(m), "df") }
  }
  sprintf('{"loglik": %.10f, "df": %d, "n_fits": %d, "n_at_best": %d}', best, df,
          length(lls), sum(abs(lls - best) < 1e-3))
}
cat(sprintf('{"default": %s, "tight": %s}\n', fits(list()),
            fits(list(tolerance = 1e-10, iter.max = 100000))), file = args[2])
