# Helpers shared by compare_r.R and compare_r_glm.R (sourced by both): JSON output lines
# for the Python side, and the timing of a fit.

num <- function(x) {
  x <- as.numeric(x)
  s <- ifelse(is.finite(x), sprintf("%.17g", x), "null")
  if (length(s) == 1L) s else paste0("[", paste(s, collapse = ","), "]")
}
str_json <- function(x) paste0("\"", gsub("\"", "'", x, fixed = TRUE), "\"")

emit <- function(fields) {
  body <- vapply(names(fields), function(nm) {
    v <- fields[[nm]]
    val <- if (is.character(v)) str_json(v) else if (is.logical(v)) tolower(as.character(v))
           else num(v)
    paste0(str_json(nm), ":", val)
  }, character(1))
  cat("RESULT {", paste(body, collapse = ","), "}\n", sep = "")
  flush(stdout())
}

# Run fit() once, or up to `repeats` times while it takes under a second; the wall and
# CPU seconds of the fastest run, and the result.
timed <- function(fit, repeats) {
  best <- Inf
  cpu <- NA
  result <- NULL
  for (r in seq_len(repeats)) {
    gc()
    t0 <- proc.time()
    result <- fit()
    used <- proc.time() - t0
    if (used[["elapsed"]] < best) {
      best <- used[["elapsed"]]
      cpu <- used[["user.self"]] + used[["sys.self"]]
    }
    if (best >= 1) break
  }
  list(time = best, cpu = cpu, result = result)
}
