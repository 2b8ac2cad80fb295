# Regenerate lme4_reference.json: R's results for the reference cases the tests compare with
# (tests/conftest.py's `reference` fixture; format described in tests/reference/README.md).
#   cd tests/reference && Rscript make_lme4_reference.R [out.json]      (default out: lme4_reference.json)
#
# The committed lme4_reference.json is the project's shared reference file (../shared/reference), made with
# R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5-2, performance 0.10.2 (its `generator`), with the fits
# polished a little further than any lme4 optimizer setting reproduces exactly. This script, run with the
# same versions here (2026-12-04), reproduces it within (relative; differences under 1e-7 absolute ignored):
# objective, loglik, AIC, BIC, fixef, R2 exactly; sigma, fitted, Wald bounds 6e-8; theta, ICC, SEs, KR 2e-7;
# Satterthwaite df/t/p 6e-7; vcov 2e-6; variance components 4e-6; profile bounds 2e-6; ranef and residuals
# 3e-5 (values near zero). The committed values are kept as they were (all well inside the tests'
# tolerances); regenerate only if lme4 itself changes, and say which versions made the file.
suppressMessages({
  library(lme4); library(lmerTest); library(pbkrtest); library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) >= 1) args[[1]] else "lme4_reference.json"

read_case_data <- function(file, factors) {
  d <- read.csv(file)
  for (f in factors) d[[f]] <- factor(as.character(d[[f]]))   # levels sorted as text, first is the reference
  d
}

named <- function(x, nm) as.list(setNames(unname(x), nm))
# tight tolerances, so the reference sits at the optimum rather than where lme4's defaults stop
# (lme4 1.1-31's nloptwrap ignores tighter xtol/ftol settings; bobyqa's rhoend takes effect)
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10, maxfun = 1e5))

one <- function(name, file, formula, reml, factors = character(), profile = FALSE) {
  d <- read_case_data(file, factors)
  m <- lmerTest::lmer(as.formula(formula), data = d, REML = reml, control = ctrl)
  s <- summary(m)                                   # lmerTest: Satterthwaite
  co <- s$coefficients
  vc <- as.data.frame(VarCorr(m))
  re <- as.data.frame(ranef(m, condVar = TRUE))
  ll <- logLik(m)
  res <- list(
    name = name, data = file, formula = formula, reml = reml, factors = I(factors),
    nobs = nobs(m), ngroups = as.list(ngrps(m)),
    objective = if (reml) unname(REMLcrit(m)) else unname(deviance(m)),
    loglik = as.numeric(ll), df = attr(ll, "df"), aic = AIC(m), bic = BIC(m),
    sigma = sigma(m), theta = I(unname(getME(m, "theta"))),
    fixef = as.list(fixef(m)), fixef_se = if (nrow(co) == 1) I(unname(co[, "Std. Error"])) else named(co[, "Std. Error"], rownames(co)),
    vcov = unname(as.matrix(vcov(m))),
    varcorr = lapply(seq_len(nrow(vc)), function(i) list(
      group = vc$grp[i], var1 = if (is.na(vc$var1[i])) NULL else vc$var1[i],
      var2 = if (is.na(vc$var2[i])) NULL else vc$var2[i], vcov = vc$vcov[i], sdcor = vc$sdcor[i])),
    ranef = list(group = as.character(re$grpvar), term = as.character(re$term),
                 level = as.character(re$grp), condval = re$condval, condsd = re$condsd),
    fitted = unname(fitted(m)), residuals = unname(residuals(m)),
    singular = isSingular(m),
    satterthwaite = list(df = named(co[, "df"], rownames(co)), p = named(co[, "Pr(>|t|)"], rownames(co)), t = named(co[, "t value"], rownames(co)))
  )
  if (reml) {
    kr <- summary(m, ddf = "Kenward-Roger")$coefficients
    res$kenward_roger <- list(df = named(kr[, "df"], rownames(kr)), se = named(kr[, "Std. Error"], rownames(kr)), p = named(kr[, "Pr(>|t|)"], rownames(kr)))
  }
  # Nakagawa et al. 2017 (Johnson 2014 for random slopes), as performance 0.10.2 computes them; written out
  # so a singular fit gives 0 (performance returns NA there)
  var_f <- var(as.vector(getME(m, "X") %*% fixef(m)))
  mf <- model.frame(m)
  var_r <- sum(sapply(names(VarCorr(m)), function(g) {
    S <- VarCorr(m)[[g]]
    Zg <- model.matrix(as.formula(paste("~", paste(c(if ("(Intercept)" %in% colnames(S)) "1" else "0",
                                                     setdiff(colnames(S), "(Intercept)")), collapse = "+"))), mf)
    mean(rowSums((Zg[, colnames(S), drop = FALSE] %*% S) * Zg[, colnames(S), drop = FALSE]))
  }))
  var_e <- sigma(m)^2
  tot <- var_f + var_r + var_e
  res$r2 <- list(marginal = var_f / tot, conditional = (var_f + var_r) / tot)
  res$icc <- list(adjusted = var_r / (var_r + var_e), unadjusted = var_r / tot)
  w <- confint(m, method = "Wald", parm = "beta_")
  res$confint_wald <- lapply(seq_len(nrow(w)), function(i) list(term = rownames(w)[i], lower = w[i, 1], upper = w[i, 2]))
  if (profile) {
    p <- suppressWarnings(confint(m, method = "profile", oldNames = FALSE))
    res$confint_profile <- lapply(seq_len(nrow(p)), function(i) list(term = rownames(p)[i], lower = p[i, 1], upper = p[i, 2]))
  }
  res
}

comparison <- function(file, formulas, factors = character()) {
  d <- read_case_data(file, factors)
  m0 <- lme4::lmer(as.formula(formulas[1]), data = d, REML = TRUE, control = ctrl)
  m1 <- lme4::lmer(as.formula(formulas[2]), data = d, REML = TRUE, control = ctrl)
  a <- suppressMessages(anova(m0, m1))              # both refit by ML
  list(data = file, formulas = formulas, npar = unname(a$npar), aic = unname(a$AIC), bic = unname(a$BIC),
       loglik = unname(a$logLik), deviance = unname(a$deviance), chisq = a$Chisq[2], df = a$Df[2],
       p = a[["Pr(>Chisq)"]][2])
}

ss <- "data/sleepstudy.csv"
cases <- list(
  one("sleepstudy_rs_reml", ss, "Reaction ~ Days + (Days | Subject)", TRUE, profile = TRUE),
  one("sleepstudy_rs_ml", ss, "Reaction ~ Days + (Days | Subject)", FALSE),
  one("sleepstudy_ri_reml", ss, "Reaction ~ Days + (1 | Subject)", TRUE),
  one("sleepstudy_uncorr_reml", ss, "Reaction ~ Days + (Days || Subject)", TRUE),
  one("dyestuff_reml", "data/dyestuff.csv", "Yield ~ 1 + (1 | Batch)", TRUE, "Batch", profile = TRUE),
  one("dyestuff_ml", "data/dyestuff.csv", "Yield ~ 1 + (1 | Batch)", FALSE, "Batch"),
  one("dyestuff2_singular", "data/dyestuff2.csv", "Yield ~ 1 + (1 | Batch)", TRUE, "Batch"),
  one("penicillin_crossed", "data/penicillin.csv", "diameter ~ 1 + (1 | plate) + (1 | sample)", TRUE,
      c("plate", "sample"), profile = TRUE),
  one("pastes_nested_slash", "data/pastes.csv", "strength ~ 1 + (1 | batch/cask)", TRUE, c("batch", "cask")),
  one("pastes_nested_colon", "data/pastes.csv", "strength ~ 1 + (1 | batch) + (1 | batch:cask)", TRUE,
      c("batch", "cask")),
  one("growth_ri_reml", "data/growth.csv", "y ~ time + (1 | id)", TRUE, "id"),
  one("growth_rs_reml", "data/growth.csv", "y ~ time + (1 + time | id)", TRUE, "id", profile = TRUE),
  one("growth_unbalanced_rs_reml", "data/growth_unbalanced.csv", "y ~ time + (1 + time | id)", TRUE, "id"),
  one("cake_factorial", "data/cake.csv", "angle ~ recipe * temp + (1 | recipe:replicate)", TRUE,
      c("recipe", "replicate"))
)
comparisons <- list(
  sleepstudy_ri_vs_rs = comparison(ss, c("Reaction ~ Days + (1 | Subject)", "Reaction ~ Days + (Days | Subject)")),
  growth_ri_vs_rs = comparison("data/growth.csv", c("y ~ time + (1 | id)", "y ~ time + (1 + time | id)"), "id")
)
gen <- sapply(c("lme4", "lmerTest", "pbkrtest", "performance"), function(p) as.character(packageVersion(p)))
writeLines(toJSON(list(generator = as.list(gen), cases = cases, comparisons = comparisons),
                  auto_unbox = TRUE, digits = NA, null = "null", pretty = FALSE), out)
