# R side of benchmarks/compare_r_glm.py: flexmix fits of mixtures of GLMs on data written
# by the Python script; prints one line per result, "RESULT {json}", for it to parse.
#
# Usage:
#   Rscript benchmarks/compare_r_glm.R versions
#   Rscript benchmarks/compare_r_glm.R fit FAMILY DATA N REPEATS PARAMS_IN
#
# FAMILY is poisson, binomial, gamma or poisson_experts (the Poisson model with the
# weights multinomial-logit in a concomitant variable z). DATA is a file of
# little-endian float64 in column order: the response (y; for the binomial s and f), x1,
# x2, for the Poisson the exposure t, for poisson_experts z, then two columns of starting
# memberships (one-hot). PARAMS_IN holds a parameter set as whitespace-separated
# numbers: K weights, for the Gamma K shapes, then K * 3 coefficients component by
# component (intercept first), for poisson_experts then K * 2 gating coefficients
# component by component (intercept, z; the first component's zero). With REPEATS > 1 a
# fit that takes less than a second is repeated and the best time is reported.

n_features <- 2L
n_components <- 2L

# The shared helpers (num, str_json, emit, timed), next to this script.
local({
  args <- commandArgs(trailingOnly = FALSE)
  here <- dirname(sub("^--file=", "", args[grep("^--file=", args)][1]))
  source(file.path(here, "compare_r_common.R"))
})

response_names <- function(family) if (family == "binomial") c("s", "f") else "y"

experts <- function(family) family == "poisson_experts"

# the family of the components
base_family <- function(family) if (experts(family)) "poisson" else family

read_data <- function(path, n, family) {
  names <- c(response_names(family), paste0("x", seq_len(n_features)),
             if (base_family(family) == "poisson") "t", if (experts(family)) "z",
             paste0("r", seq_len(n_components)))
  con <- file(path, "rb")
  on.exit(close(con))
  v <- readBin(con, "double", n = n * length(names), size = 8L, endian = "little")
  if (length(v) != n * length(names)) stop("data file has the wrong length")
  m <- matrix(v, nrow = n, ncol = length(names), dimnames = list(NULL, names))
  resp <- m[, paste0("r", seq_len(n_components)), drop = FALSE]
  list(df = as.data.frame(m[, setdiff(names, colnames(resp)), drop = FALSE]),
       resp = unname(resp))
}

read_params <- function(path, family) {
  v <- scan(path, quiet = TRUE)
  K <- n_components
  p <- n_features + 1L
  shape <- if (family == "gamma") v[K + 1:K] else NULL
  first <- if (family == "gamma") 2L * K else K
  gating <- if (experts(family)) matrix(v[first + K * p + seq_len(2L * K)], nrow = 2L,
                                        ncol = K) else NULL
  list(weights = v[1:K], shape = shape,
       coef = matrix(v[first + seq_len(K * p)], nrow = p, ncol = K), gating = gating)
}

# Per row and component the log mixing weight: log pi_k, or with gating coefficients
# (columns: components; rows: intercept, z) the multinomial logit in z.
log_weights <- function(df, par) {
  if (is.null(par$gating))
    return(matrix(log(par$weights), nrow(df), n_components, byrow = TRUE))
  eta <- cbind(1, df$z) %*% par$gating
  m <- apply(eta, 1L, max)
  eta - (m + log(rowSums(exp(eta - m))))
}

# Observed-data log-likelihood sum_i log sum_k pi_k f_k(y_i), in log space, with the
# densities of R's stats package: dpois (log link, offset log t), dbinom (logit link),
# dgamma (inverse link, shape nu, scale mu / nu).
direct_loglik <- function(df, family, par, offset = TRUE) {
  Xd <- cbind(1, as.matrix(df[, paste0("x", seq_len(n_features))]))
  family <- base_family(family)
  lw <- log_weights(df, par)
  logd <- sapply(seq_len(n_components), function(k) {
    eta <- drop(Xd %*% par$coef[, k])
    lf <- switch(family,
      poisson = dpois(df$y, exp(eta + if (offset) log(df$t) else 0), log = TRUE),
      binomial = dbinom(df$s, df$s + df$f, plogis(eta), log = TRUE),
      gamma = dgamma(df$y, shape = par$shape[k], scale = 1 / eta / par$shape[k], log = TRUE))
    lw[, k] + lf
  })
  m <- apply(logd, 1L, max)
  sum(m + log(rowSums(exp(logd - m))))
}

task_versions <- function() {
  ver <- function(pkg) if (requireNamespace(pkg, quietly = TRUE))
    as.character(utils::packageVersion(pkg)) else "missing"
  blas <- tryCatch(sessionInfo()$BLAS, error = function(e) "")
  emit(list(task = "versions", r = R.version.string, flexmix = ver("flexmix"),
            blas = if (is.null(blas)) "" else blas))
}

flexmix_params <- function(fit, family) {
  par <- flexmix::parameters(fit)  # rows coef.(Intercept), coef.x1, coef.x2 (, shape)
  p <- n_features + 1L
  list(weights = flexmix::prior(fit),
       shape = if (family == "gamma") par["shape", ] else NULL,
       coef = par[seq_len(p), , drop = FALSE],
       gating = if (experts(family))
         unname(flexmix::parameters(fit, which = "concomitant")) else NULL)
}

# The models compared. The Poisson offset goes to FLXMRglm(offset = ): flexmix 2.3-18
# drops an offset() term of the formula without a word (model.matrix ignores it), which
# the extra setting "offset() in the formula" shows.
model_settings <- function(family, df) {
  rhs <- paste(paste0("x", seq_len(n_features)), collapse = " + ")
  switch(family,
    poisson = list(
      list(name = "FLXMRglm(offset = log(t))", formula = paste("y ~", rhs),
           model = FLXMRglm(family = "poisson", offset = log(df$t))),
      list(name = "offset(log(t)) in the formula", formula = paste("y ~", rhs,
           "+ offset(log(t))"), model = FLXMRglm(family = "poisson"), only_default = TRUE)),
    binomial = list(list(name = "cbind(s, f)", formula = paste("cbind(s, f) ~", rhs),
                         model = FLXMRglm(family = "binomial"))),
    gamma = list(list(name = "Gamma (inverse link)", formula = paste("y ~", rhs),
                      model = FLXMRglm(family = "Gamma"))),
    poisson_experts = list(
      list(name = "FLXMRglm(offset = log(t)), FLXPmultinom(~ z)",
           formula = paste("y ~", rhs),
           model = FLXMRglm(family = "poisson", offset = log(df$t)),
           concomitant = FLXPmultinom(~ z))))
}

task_fit <- function(family, path, n, repeats, params_in) {
  suppressPackageStartupMessages(library(flexmix))
  d <- read_data(path, n, family)
  controls <- list(
    list(name = "default", control = list()),
    list(name = "tolerance 1e-10", control = list(tolerance = 1e-10, iter.max = 100000L)))
  for (m in model_settings(family, d$df)) {
    for (ctl in controls) {
      if (isTRUE(m$only_default) && ctl$name != "default") next
      setting <- paste0(m$name, ", ", ctl$name)
      # A matrix 'cluster' is taken as the starting posteriors as is (an integer vector
      # would be softened to 0.9 / 0.1), so the first M-step sees the same hard assignment.
      out <- tryCatch(
        timed(function() flexmix(as.formula(m$formula), data = d$df, k = n_components,
                                 model = m$model, cluster = d$resp, control = ctl$control,
                                 concomitant = if (is.null(m$concomitant)) FLXPconstant()
                                   else m$concomitant),
              repeats),
        error = function(e) e)
      if (inherits(out, "error")) {
        emit(list(task = "flexmix", setting = setting, error = conditionMessage(out)))
        next
      }
      fit <- out$result
      k_left <- length(flexmix::prior(fit))
      fields <- list(task = "flexmix", setting = setting, time = out$time, cpu = out$cpu,
                     iter = fit@iter, converged = fit@converged,
                     loglik = as.numeric(logLik(fit)), k = k_left,
                     same_model = !isTRUE(m$only_default))
      if (k_left == n_components) {
        par <- flexmix_params(fit, family)
        fields$weights <- par$weights
        if (family == "gamma") fields$shape <- par$shape
        if (experts(family)) fields$gating <- as.vector(par$gating)
        fields$coef <- as.vector(par$coef)
        fields$direct_loglik <- direct_loglik(d$df, family, par)
        if (base_family(family) == "poisson")
          fields$direct_loglik_no_offset <- direct_loglik(d$df, family, par, offset = FALSE)
      }
      emit(fields)
    }
  }
  if (!is.na(params_in) && file.exists(params_in)) {
    emit(list(task = "evaluate", source = "regmix",
              loglik = direct_loglik(d$df, family, read_params(params_in, family))))
  }
}

args <- commandArgs(trailingOnly = TRUE)
task <- if (length(args)) args[[1L]] else "versions"
if (task == "versions") {
  task_versions()
} else if (task == "fit") {
  task_fit(args[[2L]], args[[3L]], as.integer(args[[4L]]), as.integer(args[[5L]]),
           if (length(args) >= 6L) args[[6L]] else NA)
} else {
  stop("unknown task: ", task)
}
