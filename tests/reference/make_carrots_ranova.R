## ranova of the lmerTest paper's carrots model with the installed lme4 / lmerTest (the reference for
## tests/ported/test_lmertest_paper.py::test_carrots_ranova's row that the paper's saved table, made with the lme4
## of 2017, has at a local optimum).  Rscript tests/reference/make_carrots_ranova.R > tests/reference/carrots_ranova.json
suppressMessages(library(lmerTest))
data(carrots, package = "lmerTest")
m <- lmer(Preference ~ sens1 + sens2 + (1 + sens1 + sens2 | Consumer) + (1 | Product), data = carrots)
an <- as.data.frame(ranova(m))
tab <- unname(as.matrix(an[, c("npar", "logLik", "AIC", "LRT", "Df", "Pr(>Chisq)")]))
tab[is.na(tab)] <- NaN
cat(jsonlite::toJSON(list(lme4 = as.character(packageVersion("lme4")),
                          lmerTest = as.character(packageVersion("lmerTest")),
                          ran_C = tab), digits = NA, na = "string", pretty = TRUE), "\n")
