# lme4's GLMM deviance function (glmer(..., devFunOnly = TRUE)) at fixed parameter points, for
# tests/core/test_pirls.py.  Run from tests/reference:  Rscript make_glmm_devfun.R  (writes glmm_devfun.json)
# Cases, formulas and the optimum come from glmm_reference.json (copied from the shared reference); the data
# from data/glmm_*.csv.  PIRLS is run with tolPwrss = 1e-14 (1e-12 where PIRLS cannot reach it) so that the modes
# are tight (lme4's default 1e-7 leaves the deviance up to 1e-3 high; 1e-12 still 3e-5 on binary growth).  For nAGQ > 1 lme4 1.1-31 omits the saturated model's term; the JSON
# keeps lme4's value and that term (`saturated`, -2 sum log f(y | mu = y)) separately.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
ref <- fromJSON(if (file.exists("glmm_reference.json")) "glmm_reference.json" else
                "/work/shared/reference/glmm_reference.json", simplifyVector = FALSE)
pick <- list(cbpp_logit = c(0, 1, 25), cbpp_probit = c(0, 1, 25), grouseticks_poisson = c(0, 1),
             contraception_cloglog = c(0, 1, 25), verbagg_crossed = c(0, 1), binary_growth_rs = c(0, 1))
out <- list()
for (cs in ref$cases) {
  if (!(cs$name %in% names(pick))) next
  df <- read.csv(file.path("data", basename(cs$data)), stringsAsFactors = FALSE)
  for (f in unlist(cs$factors)) df[[f]] <- factor(df[[f]])
  fam <- get(cs$family)(link = cs$link)
  theta <- unlist(cs$theta); beta <- unlist(cs$fixef); se <- unlist(cs$fixef_se)
  sgn <- rep(c(1, -1), length.out = length(beta))
  thetas <- list(theta, theta * 1.3 + 0.05, theta * 0.6)
  betas <- list(beta, beta + 0.3 * se * sgn, beta - 0.5 * se * sgn)
  for (k in pick[[cs$name]]) {
    mk <- function(tol) glmer(as.formula(cs$formula), data = df, family = fam, nAGQ = k, devFunOnly = TRUE,
                              control = glmerControl(tolPwrss = tol))
    dfun <- tryCatch({d <- mk(1e-14); d(c(theta, if (k > 0) beta)); mk(1e-14)}, error = function(e) mk(1e-12))
    rho <- environment(dfun)
    sat <- if (k > 1) {
      r <- rho$resp
      r$family$aic(r$y, r$n, r$y, r$weights, 0)
    } else 0
    vals <- vector("list", 3)
    for (i in 1:3) {
      v <- if (k == 0) dfun(thetas[[i]]) else dfun(c(thetas[[i]], betas[[i]]))
      vals[[i]] <- list(theta = thetas[[i]], beta = unname(if (k == 0) rho$pp$beta(1) else betas[[i]]),
                        devfun = v, objective = v + sat)
    }
    out[[length(out) + 1]] <- list(case = cs$name, nagq = k, saturated = sat, points = vals)
    cat(cs$name, k, sapply(vals, `[[`, "objective"), "\n")
  }
}
writeLines(toJSON(list(generator = paste("make_glmm_devfun.R, R", getRversion(), "lme4", packageVersion("lme4")),
                       cases = out), digits = NA, auto_unbox = TRUE, pretty = TRUE), "glmm_devfun.json")
