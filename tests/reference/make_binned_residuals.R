# performance::binned_residuals() on three lme4 GLMMs, for tests/plots/test_binned_residuals.py.
# Run from tests/reference:  Rscript make_binned_residuals.R  (writes binned_residuals.json)
# Stores each model's fitted values and 0/1 (or count) response with the bins, so the test checks the binning
# on R's own fitted values (and, separately, on lmmflow's fit where glmer is available).
suppressPackageStartupMessages({library(lme4); library(performance); library(jsonlite)})
cases <- list(
  list(name = "binary_growth_rs", data = "data/glmm_binary_growth.csv", formula = "y ~ time * group + (1 + time | id)",
       family = "binomial", n_bins = NULL),
  list(name = "binary_growth_rs_bins8", data = "data/glmm_binary_growth.csv",
       formula = "y ~ time * group + (1 + time | id)", family = "binomial", n_bins = 8),
  list(name = "contraception_logit", data = "data/glmm_contraception.csv",
       formula = "use ~ urban + age + I(age^2) + livch + (1 | district)", family = "binomial", n_bins = NULL),
  list(name = "grouseticks_poisson", data = "data/glmm_grouseticks.csv",
       formula = "TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | LOCATION)", family = "poisson", n_bins = NULL)
)
out <- lapply(cases, function(cs) {
  d <- read.csv(cs$data, stringsAsFactors = TRUE)
  for (v in c("YEAR", "BROOD", "LOCATION", "district", "livch", "id")) if (!is.null(d[[v]])) d[[v]] <- factor(d[[v]])
  m <- glmer(as.formula(cs$formula), data = d, family = cs$family)
  y <- model.response(model.frame(m))
  br <- binned_residuals(m, n_bins = cs$n_bins)
  b <- as.data.frame(br)
  list(name = cs$name, data = cs$data, formula = cs$formula, family = cs$family,
       n_bins = if (is.null(cs$n_bins)) NA else cs$n_bins,
       fitted = sprintf("%.17g", unname(fitted(m))), y = unname(as.numeric(y)),  # 17 digits: tied fitted values
       # that differ in the last bits fall into different bins, and JSON's 15 digits would merge them
       bins = list(xbar = b$xbar, ybar = b$ybar, n = b$n, x_lo = b$x.lo, x_hi = b$x.hi, se = b$se,
                   ci_low = b$CI_low, ci_high = b$CI_high, group = b$group),
       resid_ok = attr(br, "resid_ok"))
})
writeLines(toJSON(list(generator = paste0("make_binned_residuals.R, R ", getRversion(), ", lme4 ",
                                          packageVersion("lme4"), ", performance ", packageVersion("performance")),
                       cases = out), digits = NA, auto_unbox = TRUE, pretty = FALSE, na = "null"),
           "binned_residuals.json")
