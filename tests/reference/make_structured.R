# Regenerate structured.json: structured random-effects covariances (us, diag, cs, ar1) fitted by glmmTMB,
# REML and ML, for tests/design/test_structured.py.
#   cd tests/reference && Rscript make_structured.R
# glmmTMB 1.1.5: cs = heterogeneous SDs with one common correlation; ar1 = one SD, correlation rho^|i-j|.
suppressMessages({library(glmmTMB); library(jsonlite); library(Matrix)})

# growth-shaped data with an autoregressive random effect per wave: 80 units x 5 waves x 2 measurements
set.seed(20261204)
n_id <- 80; waves <- 5; reps <- 2
d <- expand.grid(rep = 1:reps, wave = 1:waves, id = 1:n_id)
rho <- 0.6; s_b <- 2.0
R <- rho^abs(outer(1:waves, 1:waves, "-"))
b <- matrix(rnorm(n_id * waves), n_id) %*% chol(s_b^2 * R)
d$time <- d$wave - 1
d$y <- round(10 + 0.5 * d$time + b[cbind(d$id, d$wave)] + rnorm(nrow(d), 0, 1.5), 4)
# a second level (units nested in 8 sites), drawn last so that y is unchanged: y2 = y + site effect
d$site <- sprintf("s%d", (d$id - 1) %/% 10 + 1)
u_site <- rnorm(8, 0, 1.5)
d$y2 <- round(d$y + u_site[(d$id - 1) %/% 10 + 1], 4)
d$wave <- paste0("w", d$wave)
d$id <- sprintf("u%02d", d$id)
write.csv(d[, c("id", "site", "wave", "time", "y", "y2")], "data/waves.csv", row.names = FALSE)
waves_d <- read.csv("data/waves.csv"); waves_d$wave <- factor(waves_d$wave); waves_d$id <- factor(waves_d$id)
waves_d$site <- factor(waves_d$site)

growth <- read.csv("data/growth.csv"); growth$id <- factor(growth$id)
sleep <- read.csv("data/sleepstudy.csv"); sleep$Subject <- factor(sleep$Subject)

ctrl <- glmmTMBControl(optCtrl = list(iter.max = 1e4, eval.max = 1e4))

one <- function(name, formula, data, data_file, group, reml) {
  m <- glmmTMB(as.formula(formula), data = data, REML = reml, control = ctrl)
  vc <- VarCorr(m)$cond[[group]]
  sds <- unname(attr(vc, "stddev"))
  cors <- attr(vc, "correlation")
  re <- ranef(m)$cond[[group]]
  cf <- summary(m)$coefficients$cond
  # lme4's standard errors, sigma^2 (X'V^-1 X)^-1 at the estimates (glmmTMB's own come from the joint
  # Hessian in (beta, theta), which for ML is not block diagonal at the observed data)
  Z <- getME(m, "Z"); X <- getME(m, "X")
  vcs <- VarCorr(m)$cond  # one block per term, in the formula's order (Z's column order)
  G <- bdiag(lapply(names(vcs), function(g) kronecker(Diagonal(nlevels(data[[g]])),
                                                      Matrix(unclass(vcs[[g]])[, , drop = FALSE]))))
  V <- Z %*% G %*% t(Z) + Diagonal(nrow(X)) * sigma(m)^2
  se_gls <- sqrt(diag(solve(t(X) %*% solve(V, X))))
  list(name = name, formula = formula, data = data_file, reml = reml, group = group,
       objective = 2 * m$fit$objective,           # -2 log L (ML) or the REML criterion, as lme4's
       loglik = as.numeric(logLik(m)),
       fixef = as.list(fixef(m)$cond), se = as.list(cf[, "Std. Error"]),
       se_lme4 = I(unname(se_gls)), grad_max = max(abs(m$sdr$gradient.fixed)),
       sigma = sigma(m), sd = I(sds), cor = I(unname(cors[lower.tri(cors)])),
       cor_matrix = unname(cors),
       ranef_levels = rownames(re)[1:3], ranef = unname(as.matrix(re[1:3, , drop = FALSE])),
       converged = m$fit$convergence == 0, pdHess = m$sdr$pdHess)
}

cases <- list()
for (reml in c(TRUE, FALSE)) {
  tag <- if (reml) "reml" else "ml"
  cases[[length(cases) + 1]] <- one(paste0("growth_us_", tag), "y ~ time + us(time | id)", growth,
                                    "growth.csv", "id", reml)
  cases[[length(cases) + 1]] <- one(paste0("growth_diag_", tag), "y ~ time + diag(time | id)", growth,
                                    "growth.csv", "id", reml)
  cases[[length(cases) + 1]] <- one(paste0("sleep_cs_", tag), "Reaction ~ Days + cs(Days | Subject)", sleep,
                                    "sleepstudy.csv", "Subject", reml)
  cases[[length(cases) + 1]] <- one(paste0("waves_ar1_", tag), "y ~ time + ar1(0 + wave | id)", waves_d,
                                    "waves.csv", "id", reml)
  cases[[length(cases) + 1]] <- one(paste0("waves_cs_", tag), "y ~ time + cs(0 + wave | id)", waves_d,
                                    "waves.csv", "id", reml)
  cases[[length(cases) + 1]] <- one(paste0("waves_ar1site_", tag), "y2 ~ time + ar1(0 + wave | id) + (1 | site)",
                                    waves_d, "waves.csv", "id", reml)
}
out <- list(generated_by = "tests/reference/make_structured.R",
            glmmTMB = as.character(packageVersion("glmmTMB")), R = R.version.string, cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "structured.json")
