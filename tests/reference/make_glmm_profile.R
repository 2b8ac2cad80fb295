# lme4's likelihood-profile confidence intervals for GLMMs (confint(m, method = "profile"), profile.merMod on the
# standard-deviation scale), for tests/inference/test_glmm_profile.py.
# Run from tests/reference:  Rscript make_glmm_profile.R  (writes glmm_profile.json)
# Each model is fitted with tight optimizer settings first (estimates at the reference optimum), then profiled with
# lme4's defaults; levels 0.95 and 0.80.  The zeta tables (signed square root of the deviance change) are kept too.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
ref <- fromJSON("glmm_reference.json", simplifyVector = FALSE)
pick <- c("cbpp_logit", "grouseticks_poisson")
ctrl <- glmerControl(optimizer = "nloptwrap", tolPwrss = 1e-12,
                     optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12, maxeval = 1e5))
out <- list()
for (cs in ref$cases) {
  if (!(cs$name %in% pick)) next
  df <- read.csv(file.path("data", basename(cs$data)), stringsAsFactors = FALSE)
  for (f in unlist(cs$factors)) df[[f]] <- factor(df[[f]])
  m <- glmer(as.formula(cs$formula), data = df, family = get(cs$family)(link = cs$link), control = ctrl)
  pr <- profile(m, signames = FALSE)
  rec <- list(name = cs$name, objective = -2 * as.numeric(logLik(m)))
  for (lev in c(0.95, 0.80)) {
    ci <- confint(pr, level = lev)
    rec[[sprintf("level_%02d", round(100 * lev))]] <- list(parameter = rownames(ci), lower = unname(ci[, 1]),
                                                           upper = unname(ci[, 2]))
  }
  tab <- as.data.frame(pr)
  rec$profile <- lapply(split(tab, tab$.par), function(t) {
    par <- as.character(t$.par[1]); list(zeta = t$.zeta, value = t[[par]])
  })
  out[[cs$name]] <- rec
  cat(cs$name, "\n"); print(confint(pr))
}
write(toJSON(list(generator = "tests/reference/make_glmm_profile.R", lme4 = as.character(packageVersion("lme4")),
                  cases = out), auto_unbox = TRUE, digits = NA, pretty = TRUE), "glmm_profile.json")
