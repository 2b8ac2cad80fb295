# Reference for tests/reporting/test_design.py::test_reference_t_interval_from_lmertest:
# fixed-effect confidence intervals on Satterthwaite's df (lmerTest's contest with confint = TRUE).
# Run: Rscript tests/reference/make_report_ci.R  (writes tests/reference/report_ci.json)
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(jsonlite)})
m <- lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy)
out <- list()
for (i in seq_along(fixef(m))) {
  L <- rep(0, length(fixef(m))); L[i] <- 1
  ct <- contest(m, L, joint = FALSE, confint = TRUE, level = 0.95)
  out[[names(fixef(m))[i]]] <- list(estimate = ct$Estimate, df = ct$df, lower = ct$lower, upper = ct$upper)
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/report_ci.json")
