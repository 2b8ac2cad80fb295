# Regenerate power_reference.json: power by simulation as simr computes it, written as a plain R loop
# (simr is not in Debian): simulate() from a specified growth model, refit, test, count, binom.test.
#   cd tests/reference && Rscript make_power.R        (several minutes: 2 x 1000 refits + 20 KR tests)
#   cd tests/reference && Rscript make_power.R ftest  (only power_reference_f.json: F tests of a factor)
suppressMessages({library(lme4); library(lmerTest); library(pbkrtest); library(jsonlite)})
ftest_only <- identical(commandArgs(trailingOnly = TRUE), "ftest")
n_units <- 30; waves <- 0:4
d <- expand.grid(time = waves, id = sprintf("u%02d", seq_len(n_units)))[, c("id", "time")]
d$id <- factor(d$id)
beta <- c(50, 1.2)                 # (Intercept), time
theta <- c(1, 0.05, 0.4)           # lme4's relative Cholesky factor (lower triangle, by column)
sigma <- 5
seed <- 20261204
nsim <- 1000
form <- y ~ time + (1 + time | id)
Y <- simulate(~ time + (1 + time | id), newdata = d, family = gaussian,
              newparams = list(beta = beta, theta = theta, sigma = sigma), nsim = nsim, seed = seed)
tight <- lmerControl(optimizer = "nloptwrap",
                     optCtrl = list(xtol_abs = 1e-12, xtol_rel = 1e-12, ftol_abs = 1e-12,
                                    ftol_rel = 1e-14, maxeval = 1e5))
one <- function(y, ctrl = lmerControl()) {
  d$y <- y
  msgs <- character(0)
  m <- withCallingHandlers(lmerTest::lmer(form, data = d, control = ctrl),
                           warning = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleWarning") })
  p_sat <- summary(m)$coefficients["time", "Pr(>|t|)"]
  df_sat <- summary(m)$coefficients["time", "df"]
  m1 <- suppressMessages(lme4::lmer(form, data = d, REML = FALSE, control = ctrl))
  m0 <- suppressMessages(lme4::lmer(y ~ 1 + (1 + time | id), data = d, REML = FALSE, control = ctrl))
  p_lrt <- anova(m0, m1)[2, "Pr(>Chisq)"]
  list(m = m, p_sat = p_sat, df_sat = df_sat, p_lrt = p_lrt, warned = length(msgs) > 0,
       singular = isSingular(m))
}
if (!ftest_only) {
t0 <- Sys.time()
res <- lapply(seq_len(nsim), function(i) { r <- one(Y[[i]]); r$m <- NULL; r })
elapsed <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
p_sat <- sapply(res, `[[`, "p_sat"); p_lrt <- sapply(res, `[[`, "p_lrt")
power_of <- function(p) {
  k <- sum(p < 0.05); bt <- binom.test(k, length(p))
  list(successes = k, nsim = length(p), power = k / length(p), lower = bt$conf.int[1], upper = bt$conf.int[2])
}
# the exact check: 20 simulated responses, fitted with tight tolerances (both optimizers at the optimum)
n_exact <- 20
exact <- lapply(seq_len(n_exact), function(i) {
  r <- one(Y[[i]], tight)
  kr <- summary(r$m, ddf = "Kenward-Roger")$coefficients["time", ]
  list(y = Y[[i]], p_sat = r$p_sat, df_sat = r$df_sat, t = unname(summary(r$m)$coefficients["time", "t value"]),
       p_kr = unname(kr["Pr(>|t|)"]), df_kr = unname(kr["df"]), p_lrt = r$p_lrt,
       theta = unname(getME(r$m, "theta")), reml_crit = unname(REMLcrit(r$m)))
})
out <- list(
  note = "make_power.R: R loop of simulate() from the specified model, lmerTest refits, binom.test",
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                  lmerTest = as.character(packageVersion("lmerTest")),
                  pbkrtest = as.character(packageVersion("pbkrtest"))),
  formula = "y ~ time + (1 + time | id)", n_units = n_units, waves = waves,
  data = list(id = as.character(d$id), time = d$time),
  params = list(beta = beta, theta = theta, sigma = sigma), seed = seed, nsim = nsim, alpha = 0.05,
  elapsed_s = elapsed,
  satterthwaite = power_of(p_sat), lrt = power_of(p_lrt),
  warned = sum(sapply(res, `[[`, "warned")), singular = sum(sapply(res, `[[`, "singular")),
  exact = exact)
write.csv(d[, c("id", "time")], "data/power_design.csv", row.names = FALSE)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = FALSE), "power_reference.json")
cat(sprintf("Satterthwaite power %.3f, LRT power %.3f, %.0f s\n", out$satterthwaite$power, out$lrt$power, elapsed))
}

# F tests of a three-level factor (lmerTest's anova, Satterthwaite and Kenward-Roger), on 10 responses
# simulated from y ~ time + g + (1 + time | id); fits with tight tolerances
d$g <- factor(c("a", "b", "c")[(seq_len(n_units) - 1) %% 3 + 1][as.integer(d$id)])
beta_f <- c(50, 1.2, 1, 2.5)
Yf <- simulate(~ time + g + (1 + time | id), newdata = d, family = gaussian,
               newparams = list(beta = beta_f, theta = theta, sigma = sigma), nsim = 10, seed = seed + 1)
ftests <- lapply(seq_len(10), function(i) {
  d$y <- Yf[[i]]
  m <- suppressMessages(lmerTest::lmer(y ~ time + g + (1 + time | id), data = d, control = tight))
  list(y = Yf[[i]], p_sat = anova(m)["g", "Pr(>F)"], p_kr = anova(m, ddf = "Kenward-Roger")["g", "Pr(>F)"],
       f_sat = anova(m)["g", "F value"], df_sat = anova(m)["g", "DenDF"])
})
writeLines(toJSON(list(formula = "y ~ time + g + (1 + time | id)", data = list(id = as.character(d$id),
                       time = d$time, g = as.character(d$g)), params = list(beta = beta_f, theta = theta,
                       sigma = sigma), seed = seed + 1, cases = ftests), auto_unbox = TRUE, digits = NA),
           "power_reference_f.json")
