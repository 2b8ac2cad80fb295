# Fits one benchmark problem with glmmTMB and writes tab-separated "key<TAB>value..." lines to OUT
# (the same protocol as lme4_fit.R, read back by the same Python code).
#
#   Rscript --vanilla glmmtmb_fit.R CSV FORMULA REML CATEGORICAL KIND REPEATS OUT
#
# CSV          data file, read with read.csv (timed separately from the fit)
# FORMULA      lme4 formula; glmmTMB also reads its structured terms (ar1(), cs(), diag(), us())
# REML         TRUE or FALSE (glmmTMB's REML = argument)
# CATEGORICAL  comma-separated columns turned into factors ("" for none)
# KIND         "fit": one timed glmmTMB() call; "warm": one warm-up call, then REPEATS timed calls
# OUT          output file
#
# The objective is on lme4's scale: 2 * m$fit$objective, glmmTMB's minimised negative log-likelihood, which is
# -2 logLik (lme4's deviance) for ML and the REML criterion (lme4's REMLcrit) for REML - the restricted
# likelihood with the fixed effects integrated out; on sleepstudy both agree with lme4 to 1e-9
# (benchmarks/tests/test_glmmtmb_adapter.py).  Fit times are wall seconds of the default glmmTMB() call
# alone, which includes its sdreport (standard errors).  Memory as in lme4_fit.R.

script_dir <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1]))
source(file.path(script_dir, "harness.R"))
suppressPackageStartupMessages(library(glmmTMB))
emit("glmmtmb_version", as.character(packageVersion("glmmTMB")))
emit("tmb_version", as.character(packageVersion("TMB")))
d <- load_data()

# lme4's theta (the relative covariance factor: lower triangle of chol(Sigma / sigma^2), column by column,
# term by term) where every term is unstructured (glmmTMB's "us", block code 1); empty otherwise, since
# lme4 has no parametrisation of ar1 or cs terms to compare with
lme4_theta <- function(m) {
  codes <- vapply(m$modelInfo$reStruc$condReStruc, function(s) s$blockCode, numeric(1))
  if (length(codes) == 0 || any(codes != 1)) return(numeric(0))
  s2 <- sigma(m)^2
  unlist(lapply(VarCorr(m)$cond, function(v) {
    L <- t(chol(matrix(v, nrow(v)) / s2))
    L[lower.tri(L, diag = TRUE)]
  }))
}

m <- timed_fit(function() glmmTMB(form, data = d, REML = reml))
emit("objective", 2 * m$fit$objective)
emit("nobs", nobs(m))
fe <- fixef(m)$cond
emit("fixef_names", names(fe))
emit("fixef", unname(fe))
emit("sigma", sigma(m))
emit("theta", lme4_theta(m))
emit("theta_native", unname(getME(m, "theta")))
pd_hess <- isTRUE(m$sdr$pdHess)
emit("converged", m$fit$convergence == 0 && pd_hess)
# glmmTMB's own warnings usually say it; add the optimizer's message / the Hessian only where they do not
said <- function(pattern) any(grepl(pattern, caught, fixed = TRUE))
emit("warnings", unique(c(caught, if (m$fit$convergence != 0 && !said(m$fit$message)) m$fit$message,
                          if (!pd_hess && !said("Hessian")) "non-positive-definite Hessian")))
emit("optimizer", "nlminb")
emit("evaluations", m$fit$evaluations[["function"]])
emit("done", "1")
close(out)
