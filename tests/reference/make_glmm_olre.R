# An observation-level random effect (one level per row) in a Poisson GLMM, for tests/design/test_term_sizes.py.
# lme4's glFormula allows as many levels as observations (checkNlevels/checkZdims with allow.n = TRUE), lFormula
# does not.  Run from tests/reference:  Rscript make_glmm_olre.R  (writes glmm_olre.json).
# Data: data/glmm_olre.csv (400 rows, 20 sites; y ~ Poisson(exp(0.5 + 0.3 x + site + obs)), written by numpy).
# PIRLS with tolPwrss = 1e-13: lme4's default 1e-7 leaves this deviance 0.02 high (1421.8253 against 1421.8038
# at the same parameters), since the 420 modes are solved loosely.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
d <- read.csv("data/glmm_olre.csv")
d$site <- factor(d$site); d$obs <- factor(d$obs)
f <- y ~ x + (1 | site) + (1 | obs)
ctl <- glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5), tolPwrss = 1e-13)
g <- glmer(f, d, family = poisson, control = ctl)
dd <- glmer(f, d, family = poisson, devFunOnly = TRUE, control = glmerControl(tolPwrss = 1e-13))
th <- unname(getME(g, "theta")); be <- unname(fixef(g))
points <- list(c(th, be), c(th * 1.2 + 0.05, be + 0.1), c(th * 0.7, be - 0.1))
out <- list(
  formula = deparse(f), theta_names = names(getME(g, "theta")), fixef_names = names(fixef(g)),
  theta = th, fixef = be, loglik = as.numeric(logLik(g)), deviance_default_tol = NULL,
  points = lapply(points, function(p) list(theta = p[seq_along(th)], beta = p[-seq_along(th)], devfun = dd(p))),
  lmer_error = tryCatch({lmer(f, d); ""}, error = function(e) conditionMessage(e)),
  lme4 = as.character(packageVersion("lme4")))
dd7 <- glmer(f, d, family = poisson, devFunOnly = TRUE)
out$deviance_default_tol <- dd7(points[[1]])
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "glmm_olre.json")
