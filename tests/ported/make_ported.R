# Makes the R-generated data and R-computed values that tests/ported/*.py compare with.
# The data sets of lme4's tests that are drawn with R's RNG are written to data/ (so the Python tests use the very
# same rows); values that lme4's tests compute in R (rather than hard-code) are written to ported.json.
# Run from tests/ported:  Rscript make_ported.R   (R 4.2, lme4 1.1-31, lmerTest 3.1-3 when made)
suppressMessages({library(lme4); library(lmerTest); library(jsonlite)})
if ("sample.kind" %in% names(formals(RNGkind))) suppressWarnings(RNGkind("Mersenne-Twister", "Inversion", "Rounding"))
out <- list()
w <- function(x, name) write.csv(x, file.path("data", paste0(name, ".csv")), row.names = FALSE)

## lme4 tests/testthat/test-lmer.R:16-18 (data d of test "lmer")
set.seed(101)
d <- data.frame(z = rnorm(200), f = factor(sample(1:10, 200, replace = TRUE)))
w(d, "lmer_d")
## test-lmer.R:229 fm1 <- lmer(z ~ as.numeric(f) + 1|f, d): singular
d$fn <- as.numeric(d$f)
fm <- suppressMessages(lmer(z ~ (fn + 1 | f), d))
out$lmer_d_singular <- list(isSingular = isSingular(fm), theta = unname(getME(fm, "theta")))

## lme4 tests/testthat/test-lmer.R:287-291 (test "coef_lmer")
set.seed(101)
d <- data.frame(resp = runif(100), var1 = factor(sample(1:5, size = 100, replace = TRUE)),
                var2 = runif(100), var3 = factor(sample(1:5, size = 100, replace = TRUE)))
w(d, "coef_lmer")
mix1 <- lmer(resp ~ 0 + var1 + var1:var2 + (1|var3), data = d)
out$coef_lmer <- list(fixef = unname(fixef(mix1)), names = names(fixef(mix1)),
                      coef_var3 = unname(as.matrix(coef(mix1)$var3)), coef_names = names(coef(mix1)$var3))

## lme4 tests/testthat/test-lmer.R:464-469 (singular fit, derivative checks skipped)
set.seed(1)
group <- factor(rep(1:3, each = 20)); b <- rnorm(3, mean = 0, sd = 0.01); x <- rnorm(60)
y <- x + b[group] + rnorm(60, sd = 1)
w(data.frame(y, x, group), "singular_group3")
fm <- suppressMessages(lmer(y ~ x + (1 | group), data = data.frame(y, x, group)))
out$singular_group3 <- list(isSingular = isSingular(fm), fixef = unname(fixef(fm)))

## lme4 tests/testthat/test-methods.R:48 fmPix <- lmer(pixel ~ day + I(day^2) + (day | Dog) + (1 | Side/Dog), Pixel)
data("Pixel", package = "nlme")
## (bobyqa: lme4's default nloptwrap stops at REML 825.134246, 1.4e-6 above the optimum lmmflow and bobyqa reach)
fmPix <- lmer(pixel ~ day + I(day^2) + (day | Dog) + (1 | Side/Dog), data = Pixel,
              control = lmerControl(optimizer = "bobyqa"))
out$fmPix <- list(fixef = unname(fixef(fmPix)), sigma = sigma(fmPix), REMLcrit = REMLcrit(fmPix))

## lme4 tests/testthat/test-predict.R:231-237 (GH 457) data
set.seed(101)
n <- 200
dd <- data.frame(x = 1:n, f = factor(rep(1:10, n/10)), g = factor(rep(1:20, each = n/20)),
                 h = factor(rep(1:5, n/5)), y = rnorm(n))
w(dd, "predict_gh457")
## lme4 tests/testthat/test-predict.R:494-498 data
set.seed(101)
df2 <- data.frame(yield = rnorm(100), lc = factor(rep(1:2, 50)), g1 = factor(rep(1:10, 10)),
                  g3 = factor(rep(1:10, each = 10)))
w(df2, "predict_leftout")
## lme4 tests/testthat/test-predict.R:411-419 (". in formula") data and split
set.seed(101)
mydata <- data.frame(groups = rep(1:3, each = 100), x = rnorm(300), dv = rnorm(300))
train_subset <- sample(1:300, 300 * .8)
w(mydata, "predict_dot")
out$predict_dot_train <- train_subset  # R row numbers (1-based) of the training rows, in R's order

write_json(out, "ported.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
