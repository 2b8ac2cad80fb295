# Exports the small data sets lme4's and lmerTest's tests use (and lmmflow does not ship) into tests/ported/data/.
# Run from tests/ported: Rscript export_data.R
suppressMessages({library(lme4); library(lmerTest)})
w <- function(x, name) write.csv(x, file.path("data", paste0(name, ".csv")), row.names = FALSE)
w(lme4::Dyestuff2, "dyestuff2")
w(lme4::cake, "cake")
w(lme4::cbpp, "cbpp")
w(lmerTest::ham, "ham")
w(lmerTest::carrots, "carrots")
w(lmerTest::TVbo, "tvbo")
w(as.data.frame(nlme::Orthodont), "orthodont")
w(as.data.frame(nlme::Pixel), "pixel")
w(datasets::iris, "iris")
