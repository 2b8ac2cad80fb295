# R's binomial() and poisson() families at chosen points, for tests/core/test_family.py.
# Run from tests/reference:  Rscript make_glmm_family.R  (writes glmm_family.json)
suppressPackageStartupMessages(library(jsonlite))
eta <- c(-800, -40, -30.5, -29, -8, -1.5, 0, 0.3, 2, 7.9, 29, 30.5, 40, 800)
mu <- c(1e-12, 0.01, 0.2, 0.5, 0.77, 0.99, 1 - 1e-9)
y <- c(0, 0.25, 0.5, 1, 1, 0, 0.4); wt <- c(1, 4, 2, 3, 1, 5, 10); m <- c(0.1, 0.3, 0.5, 0.9, 0.6, 0.2, 0.45)
cy <- c(0, 1, 2, 7, 3, 0, 12); cm <- c(0.5, 1.2, 2, 6.5, 3.3, 0.01, 10)
fams <- list(binomial("logit"), binomial("probit"), binomial("cloglog"), poisson("log"))
out <- lapply(fams, function(f) {
  e <- if (f$family == "poisson") eta[abs(eta) < 700] else eta
  yy <- if (f$family == "poisson") cy else y; mm <- if (f$family == "poisson") cm else m
  ww <- if (f$family == "poisson") rep(1, length(cy)) else wt
  mu_in <- if (f$family == "poisson") c(1e-12, 0.01, 0.2, 0.5, 3, 70, 1e5) else mu
  list(family = f$family, link = f$link, eta = e, linkinv = f$linkinv(e), mu_eta = f$mu.eta(e),
       mu = mu_in, linkfun = f$linkfun(mu_in), variance = f$variance(mu_in),
       y = yy, wt = ww, m = mm, dev_resids = f$dev.resids(yy, mm, ww),
       aic = f$aic(yy, if (f$family == "binomial") ww else 1, mm, ww, 0),
       mustart = if (f$family == "binomial") (ww * yy + 0.5) / (ww + 1) else yy + 0.1)
})
writeLines(toJSON(list(generator = paste("make_glmm_family.R, R", getRversion()), families = out), digits = NA,
                  auto_unbox = TRUE, pretty = TRUE), "glmm_family.json")
