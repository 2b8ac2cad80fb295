# Regenerate lme4_extra.json: lme4 results for features the shared reference set does not cover.
#   cd tests/reference && Rscript make_extra.R
suppressMessages({library(lme4); library(jsonlite)})
set.seed(20261122)
# a three-level design crossed with items
n_a <- 8; n_b <- 4; n_item <- 10
d3 <- expand.grid(rep = 1:2, item = 1:n_item, b = 1:n_b, a = 1:n_a)
ua <- rnorm(n_a, 0, 1.0); ub <- rnorm(n_a * n_b, 0, 0.7); ui <- rnorm(n_item, 0, 0.5)
d3$x <- round(rnorm(nrow(d3)), 3)
d3$y <- round(3 + 0.5 * d3$x + ua[d3$a] + ub[(d3$a - 1) * n_b + d3$b] + ui[d3$item] + rnorm(nrow(d3)), 4)
d3$a <- paste0("A", d3$a); d3$b <- paste0("B", d3$b); d3$item <- sprintf("I%02d", d3$item)
write.csv(d3[, c("a", "b", "item", "x", "y")], "data/threelevel.csv", row.names = FALSE)

ss <- read.csv("data/sleepstudy.csv"); ss$Subject <- factor(ss$Subject)
ss$w <- 1 + (ss$Days %% 3) / 2
ss$off <- 2 * ss$Days
ss$f <- factor(c("lo", "mid", "hi")[1 + ss$Days %% 3], levels = c("hi", "lo", "mid"))
ss$Days2 <- 2 * ss$Days
ss_na <- ss; ss_na$Reaction[c(1, 6, 18)] <- NA; ss_na$Days[41] <- NA
write.csv(ss_na[, c("Reaction", "Days", "Subject")], "data/sleepstudy_na.csv", row.names = FALSE)

one <- function(name, formula_r, formula_py, data, data_file, reml = TRUE, ...) {
  # tight tolerances, so the reference sits at the optimum rather than where lme4's defaults stop
  ctrl <- lmerControl(optimizer = "nloptwrap",
                      optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-12, ftol_rel = 1e-14, maxeval = 1e5))
  m <- lmer(as.formula(formula_r), data = data, REML = reml, control = ctrl, ...)
  vc <- as.data.frame(VarCorr(m))
  re <- as.data.frame(ranef(m, condVar = TRUE))
  list(name = name, formula = formula_py, data = data_file, reml = reml,
       objective = if (reml) unname(REMLcrit(m)) else unname(deviance(m)),
       sigma = sigma(m), theta = unname(getME(m, "theta")), fixef = as.list(fixef(m)),
       varcorr = lapply(seq_len(nrow(vc)), function(i) list(group = vc$grp[i], var1 = vc$var1[i],
                                                             var2 = vc$var2[i], sdcor = vc$sdcor[i])),
       ranef = list(group = as.character(re$grpvar), term = as.character(re$term),
                    level = as.character(re$grp), condval = re$condval, condsd = re$condsd),
       fitted = unname(fitted(m)), nobs = nobs(m))
}
cases <- list(
  one("weights", "Reaction ~ Days + (Days | Subject)", "Reaction ~ Days + (Days | Subject)", ss,
      "sleepstudy.csv", weights = ss$w),
  one("weights_ml", "Reaction ~ Days + (1 | Subject)", "Reaction ~ Days + (1 | Subject)", ss,
      "sleepstudy.csv", reml = FALSE, weights = ss$w),
  one("offset", "Reaction ~ Days + (Days | Subject)", "Reaction ~ Days + (Days | Subject)", ss,
      "sleepstudy.csv", offset = ss$off),
  one("slope_only", "Reaction ~ Days + (0 + Days | Subject)", "Reaction ~ Days + (0 + Days | Subject)",
      ss, "sleepstudy.csv"),
  one("manual_uncorrelated", "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)",
      "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", ss, "sleepstudy.csv"),
  one("factor_slope", "Reaction ~ f + (1 + f | Subject)", "Reaction ~ f + (1 + f | Subject)", ss,
      "sleepstudy.csv"),
  one("quadratic_ml", "Reaction ~ Days + I(Days^2) + (Days | Subject)",
      "Reaction ~ Days + I(Days**2) + (Days | Subject)", ss, "sleepstudy.csv", reml = FALSE),
  one("rank_deficient", "Reaction ~ Days + Days2 + (1 | Subject)", "Reaction ~ Days + Days2 + (1 | Subject)",
      ss, "sleepstudy.csv"),
  one("missing_rows", "Reaction ~ Days + (Days | Subject)", "Reaction ~ Days + (Days | Subject)", ss_na,
      "sleepstudy_na.csv"),
  one("three_level_crossed", "y ~ x + (1 | a/b) + (1 | item)", "y ~ x + (1 | a/b) + (1 | item)", d3,
      "threelevel.csv"),
  one("three_level_ml", "y ~ x + (1 + x | a) + (1 | item)", "y ~ x + (1 + x | a) + (1 | item)", d3,
      "threelevel.csv", reml = FALSE)
)
meta <- list(generator = paste("lme4", packageVersion("lme4"), R.version.string),
             note = "sleepstudy.csv gains columns in the tests: w = 1 + (Days %% 3)/2, off = 2*Days, f, Days2")
writeLines(toJSON(list(meta = meta, cases = cases), auto_unbox = TRUE, digits = NA, na = "null", null = "null"),
           "lme4_extra.json")
cat("wrote", length(cases), "cases\n")
