# R side of benchmarks/compare_r.py: fits with flexmix and mixtools on data written by the
# Python script, and prints one line per result, "RESULT {json}", for it to parse.
#
# Usage:
#   Rscript benchmarks/compare_r.R versions
#   Rscript benchmarks/compare_r.R flexmix  DATA N REPEATS PARAMS_IN
#   Rscript benchmarks/compare_r.R mixtools DATA N REPEATS START MAXIT SEED
#
# DATA is a file of little-endian float64 in column order: y, x1..x5, then three columns
# of starting memberships (one-hot). PARAMS_IN and START hold a parameter set as
# whitespace-separated numbers: K weights, K sigmas, then K * 6 coefficients component
# by component (intercept first). With REPEATS > 1 a fit that takes less than a second is
# repeated and the best time is reported.

n_features <- 5L
n_components <- 3L

# The shared helpers (num, str_json, emit, timed), next to this script.
local({
  args <- commandArgs(trailingOnly = FALSE)
  here <- dirname(sub("^--file=", "", args[grep("^--file=", args)][1]))
  source(file.path(here, "compare_r_common.R"))
})

read_data <- function(path, n) {
  n_cols <- 1L + n_features + n_components
  con <- file(path, "rb")
  on.exit(close(con))
  v <- readBin(con, "double", n = n * n_cols, size = 8L, endian = "little")
  if (length(v) != n * n_cols) stop("data file has the wrong length")
  m <- matrix(v, nrow = n, ncol = n_cols)
  list(y = m[, 1L], X = m[, 1L + seq_len(n_features), drop = FALSE],
       resp = m[, 1L + n_features + seq_len(n_components), drop = FALSE])
}

read_params <- function(path) {
  v <- scan(path, quiet = TRUE)
  K <- n_components
  p <- n_features + 1L
  list(weights = v[1:K], sigma = v[K + 1:K],
       coef = matrix(v[2 * K + seq_len(K * p)], nrow = p, ncol = K))
}

# Observed-data log-likelihood sum_i log sum_k pi_k N(y_i; x_i' b_k, s_k^2), in log space.
direct_loglik <- function(y, X, par) {
  Xd <- cbind(1, X)
  logd <- sapply(seq_len(n_components), function(k)
    log(par$weights[k]) + dnorm(y, drop(Xd %*% par$coef[, k]), par$sigma[k], log = TRUE))
  m <- apply(logd, 1L, max)
  sum(m + log(rowSums(exp(logd - m))))
}

task_versions <- function() {
  ver <- function(pkg) if (requireNamespace(pkg, quietly = TRUE))
    as.character(utils::packageVersion(pkg)) else "missing"
  blas <- tryCatch(sessionInfo()$BLAS, error = function(e) "")
  emit(list(task = "versions", r = R.version.string, flexmix = ver("flexmix"),
            mixtools = ver("mixtools"), blas = if (is.null(blas)) "" else blas))
}

flexmix_params <- function(fit) {
  par <- flexmix::parameters(fit)  # rows: coef.(Intercept), coef.x1.., sigma
  p <- n_features + 1L
  list(weights = flexmix::prior(fit), sigma = par[p + 1L, ],
       coef = par[seq_len(p), , drop = FALSE])
}

task_flexmix <- function(path, n, repeats, params_in) {
  suppressPackageStartupMessages(library(flexmix))
  d <- read_data(path, n)
  df <- data.frame(y = d$y, d$X)
  names(df) <- c("y", paste0("x", seq_len(n_features)))
  form <- as.formula(paste("y ~", paste(names(df)[-1L], collapse = " + ")))
  # A matrix 'cluster' is taken as the starting posteriors as is (an integer vector
  # would be softened to 0.9 / 0.1), so the first M-step sees the same hard assignment.
  settings <- list(
    list(name = "default", control = list()),
    list(name = "tolerance 1e-10", control = list(tolerance = 1e-10, iter.max = 100000L)))
  for (s in settings) {
    out <- timed(function() flexmix(form, data = df, k = n_components, cluster = d$resp,
                                     control = s$control), repeats)
    fit <- out$result
    par <- flexmix_params(fit)
    k_left <- length(flexmix::prior(fit))
    fields <- list(task = "flexmix", setting = s$name, time = out$time, cpu = out$cpu,
                   iter = fit@iter,
                   converged = fit@converged, loglik = as.numeric(logLik(fit)),
                   k = k_left)
    if (k_left == n_components) {
      fields$weights <- par$weights
      fields$sigma <- par$sigma
      fields$coef <- as.vector(par$coef)
      fields$direct_loglik <- direct_loglik(d$y, d$X, par)
    }
    emit(fields)
  }
  if (!is.na(params_in) && file.exists(params_in)) {
    emit(list(task = "evaluate", source = "regmix",
              loglik = direct_loglik(d$y, d$X, read_params(params_in))))
  }
}

task_mixtools <- function(path, n, repeats, start, maxit, seed) {
  suppressPackageStartupMessages(library(mixtools))
  d <- read_data(path, n)
  par <- read_params(start)
  fit_once <- function() {
    set.seed(seed)  # regmixEM restarts from random values after a singular step
    capture.output(fit <- regmixEM(d$y, d$X, lambda = par$weights, beta = par$coef,
                                   sigma = par$sigma, k = n_components, maxit = maxit))
    fit
  }
  out <- timed(fit_once, repeats)
  fit <- out$result
  iter <- length(fit$all.loglik) - 1L
  emit(list(task = "mixtools", setting = sprintf("maxit %d", maxit), time = out$time,
            cpu = out$cpu, iter = iter, restarts = fit$restarts,
            converged = iter < maxit, loglik = fit$loglik, weights = fit$lambda,
            sigma = fit$sigma, coef = as.vector(fit$beta),
            direct_loglik = direct_loglik(d$y, d$X,
                                          list(weights = fit$lambda, sigma = fit$sigma,
                                               coef = fit$beta))))
}

args <- commandArgs(trailingOnly = TRUE)
task <- if (length(args)) args[[1L]] else "versions"
if (task == "versions") {
  task_versions()
} else if (task == "flexmix") {
  task_flexmix(args[[2L]], as.integer(args[[3L]]), as.integer(args[[4L]]),
               if (length(args) >= 5L) args[[5L]] else NA)
} else if (task == "mixtools") {
  task_mixtools(args[[2L]], as.integer(args[[3L]]), as.integer(args[[4L]]), args[[5L]],
                as.integer(args[[6L]]), as.integer(args[[7L]]))
} else {
  stop("unknown task: ", task)
}
