# Standard errors and confidence intervals of glmer predictions, for tests/results/test_glmm_predict.py.
# Run from tests/reference:  Rscript make_glmm_predict.R  (writes glmm_predict.json)
#
# lme4 1.1-31's predict.merMod ignores se.fit for glmer ("unused arguments ignored"), so the references are what
# R users get elsewhere, computed here from the fit's pieces:
#   * re.form = NA (population level): se = sqrt(x' V x), V = vcov(m) (lme4's Hessian-based vcov); the interval
#     eta +- z se on the link scale, back-transformed for type = "response"; the response-scale SE by the delta
#     method, |dmu/deta| se (what emmeans(..., type = "response") and insight::get_predicted give; both are
#     recorded for the first case as a cross-check).
#   * conditional (random effects included): the joint covariance of (b_hat - b, beta_hat) from the PIRLS system
#     at the modes, as lmmflow's LMM predict (lme4 >= 1.1-35's se.fit): with W the working weights,
#     A = Lambda'Z'WZ Lambda + I, B = Lambda'Z'WX, z~ = Lambda'z,
#         var = z~' A^-1 z~ + (x - B'A^-1 z~)' V (x - B'A^-1 z~)
#     with V = vcov(m).  lme4 >= 1.1-35 (vcov(m, full = TRUE)) uses the RX-based (X'WX - B'A^-1 B)^-1 in place of V;
#     that variant is stored as `se_cond_rx` for the record.
#   * a level not in the fit (allow.new.levels = TRUE): its random effect is predicted as 0 and its variance
#     z' Sigma z is added (as lmmflow's LMM predict).
# Fits start at the reference optimum (glmm_reference.json) with tight optimizer settings, so their estimates are
# that optimum (lme4's defaults stop ~1e-3 off; a tight fit from lme4's start still ~1e-6).
suppressPackageStartupMessages({library(lme4); library(jsonlite); library(emmeans); library(insight)})
ref <- fromJSON("glmm_reference.json", simplifyVector = FALSE)
pick <- c("cbpp_logit", "contraception_cloglog", "grouseticks_poisson", "binary_growth_rs", "owls_offset")
ctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-14, optCtrl = list(rhoend = 1e-9, maxfun = 1e5))
num <- function(x) unname(as.numeric(x))
z975 <- qnorm(0.975)
out <- list()
for (cs in ref$cases) {
  if (!(cs$name %in% pick)) next
  df <- read.csv(file.path("data", basename(cs$data)), stringsAsFactors = FALSE)
  for (f in unlist(cs$factors)) df[[f]] <- factor(df[[f]])
  fam <- get(cs$family)(link = cs$link)
  args <- list(formula = as.formula(cs$formula), data = df, family = fam, control = ctrl)
  if (!is.null(cs$offset)) args$offset <- df[[cs$offset]]
  if (!is.null(cs$weights)) args$weights <- df[[cs$weights]]
  args$start <- list(theta = unlist(cs$theta), fixef = unlist(cs$fixef))  # at the reference optimum
  m <- do.call(glmer, args)
  rows <- unique(round(seq(1, nrow(df), length.out = 12)))
  X <- getME(m, "X"); Z <- as.matrix(getME(m, "Z")); Lam <- as.matrix(getME(m, "Lambda"))
  w <- weights(m, type = "working")
  V <- as.matrix(vcov(m))
  A <- t(Z %*% Lam) %*% (w * Z %*% Lam) + diag(ncol(Z))
  B <- t(Z %*% Lam) %*% (w * X)
  Ainv <- solve(A)
  Zt <- (Z %*% Lam)[rows, , drop = FALSE]; Xr <- X[rows, , drop = FALSE]
  D <- Xr - Zt %*% Ainv %*% B
  var_cond <- rowSums((Zt %*% Ainv) * Zt) + rowSums((D %*% V) * D)
  RXinv <- solve(t(X) %*% (w * X) - t(B) %*% Ainv %*% B)
  var_rx <- rowSums((Zt %*% Ainv) * Zt) + rowSums((D %*% RXinv) * D)
  eta_pop <- num(predict(m, newdata = df[rows, ], re.form = NA))
  eta_cond <- num(predict(m, newdata = df[rows, ]))
  se_pop <- sqrt(rowSums((Xr %*% V) * Xr))
  se_cond <- sqrt(var_cond)
  mk <- function(eta, se) list(
    link = eta, se_link = num(se), lower_link = num(eta - z975 * se), upper_link = num(eta + z975 * se),
    response = fam$linkinv(eta), se_response = num(se * abs(fam$mu.eta(eta))),
    lower_response = fam$linkinv(num(eta - z975 * se)), upper_response = fam$linkinv(num(eta + z975 * se)))
  rec <- list(name = cs$name, rows = rows - 1L, objective = -2 * as.numeric(logLik(m)),
              objective_best = cs$objective_best,
              population = mk(eta_pop, se_pop), conditional = mk(eta_cond, se_cond), se_cond_rx = num(sqrt(var_rx)),
              level90_lower_link = num(eta_pop - qnorm(0.95) * se_pop))
  if (cs$name == "cbpp_logit") {
    # emmeans and insight agree with the population-level formulas (recorded, checked here)
    em <- summary(emmeans(m, ~ period, type = "response"))
    rec$emmeans <- list(period = as.character(em$period), prob = num(em$prob), se = num(em$SE),
                        lower = num(em$asymp.LCL), upper = num(em$asymp.UCL))
    gp <- as.data.frame(get_predicted(m, data = df[rows, ], include_random = FALSE, predict = "expectation",
                                      ci = 0.95))
    rec$insight <- list(predicted = num(gp$Predicted), se = num(gp$SE), lower = num(gp$CI_low),
                        upper = num(gp$CI_high))
    stopifnot(max(abs(rec$insight$lower - rec$population$lower_response)) < 1e-8)
    # a herd the fit has not seen: its random effect is 0 and its variance z' Sigma z is added
    nd <- data.frame(herd = factor("new"), period = factor("2", levels = levels(df$period)), incidence = 0,
                     size = 10)
    xn <- model.matrix(~ period, nd)
    sig2 <- as.data.frame(VarCorr(m))$vcov[1]
    se_new <- sqrt(num(xn %*% V %*% t(xn)) + sig2)
    rec$new_level <- list(link = num(predict(m, nd, allow.new.levels = TRUE)), se_link = se_new)
  }
  out[[cs$name]] <- rec
  cat(cs$name, "objective", rec$objective, "vs best", cs$objective_best,
      " max rel |se_cond - se_cond_rx| =", max(abs(se_cond / sqrt(var_rx) - 1)), "\n")
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = FALSE), "glmm_predict.json")
