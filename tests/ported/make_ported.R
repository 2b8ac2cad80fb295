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

## lme4 tests/testthat/test-isSingular.R:45-80 data and results
set.seed(101)
n_groups <- 20; n_per_group <- 20; n <- n_groups * n_per_group
dat <- data.frame(group1 = rep(1:n_groups, each = n_per_group), group2 = rep(1:n_groups, each = n_per_group),
                  x1 = rnorm(n), x2 = rnorm(n))
form <- y ~ 1 + (1 + x1|group1) + (1 + x2|group2)
dat$y <- simulate(form[-2], newdata = dat, family = gaussian,
                  newparams = list(beta = c(-2), theta = c(2, 3, 4, 2, 3, 4), sigma = 2))[[1]]
mod <- lmer(form, data = dat)
dat$y2 <- simulate(form[-2], newdata = dat, family = gaussian,
                   newparams = list(beta = c(-2), theta = c(0, 0, 0, 2.5, 1.5, 0.8), sigma = 2))[[1]]
mod2 <- suppressMessages(suppressWarnings(lmer(y2 ~ 1 + (1 + x1|group1) + (1 + x2|group2), data = dat)))
w(dat, "issingular")
out$issingular <- list(mod = isSingular(mod), mod2 = isSingular(mod2, tol = 5e-3),
                       mod_theta = unname(getME(mod, "theta")), mod_REML = REMLcrit(mod),
                       mod2_REML = REMLcrit(mod2))

## lme4 tests/testthat/test-rank.R:4-33 data and results
set.seed(101)
n <- 20
x <- y <- rnorm(n)
d <- data.frame(x, y, z = rnorm(n), r = sample(1:5, size = n, replace = TRUE), y2 = y + c(0.001, rep(0, n - 1)))
w(d, "rank_d")
fm <- suppressMessages(lmer(z ~ x + y + (1|r), data = d))
fmy2 <- lmer(z ~ x + y2 + (1|r), data = d)
d2 <- expand.grid(a = factor(1:4), b = factor(1:4), rep = 1:10)
n <- nrow(d2)
d2 <- transform(d2, r = sample(1:5, size = n, replace = TRUE), z = rnorm(n))
d2 <- subset(d2, !(a == "4" & b == "4"))
w(d2, "rank_d2")
fm2 <- suppressMessages(lmer(z ~ a*b + (1|r), data = d2))
out$rank <- list(fixef = unname(fixef(fm)), REML = REMLcrit(fm), y2_fixef = unname(fixef(fmy2)),
                 d2_logLik = as.numeric(logLik(fm2)), d2_nfixef = length(fixef(fm2)),
                 d2_anova_npar = anova(as(fm2, "lmerMod"))[, 1], d2_anova_sumsq = anova(as(fm2, "lmerMod"))[, "Sum Sq"],
                 anova_rows = nrow(anova(as(fm, "lmerMod"))))  # lme4's sequential (type I) table

## lme4 tests/testthat/test-resids.R:3-13 and test-ranef.R:60-79 use nloptwrap with xtol_abs = ftol_abs = 1e-6, which
## stops short of the optimum; the same quantities at the optimum (bobyqa, the default tolerances):
cc <- lmerControl(optimizer = "bobyqa")
fm <- lmer(Reaction ~ Days + (Days|Subject), sleepstudy, control = cc)
out$resids <- list(range = range(resid(fm)), range_scaled = range(resid(fm, scaled = TRUE)), REML = REMLcrit(fm))
fm <- lmer(Reaction ~ Days + (1|Subject) + (0+Days|Subject), sleepstudy, control = cc)
rr <- as.data.frame(ranef(fm, condVar = TRUE))
out$ranef_two_terms <- list(condval = rr$condval[c(1, 19)], condsd = rr$condsd[c(1, 19)],
                            postVar = sapply(attr(ranef(fm, condVar = TRUE)$Subject, "postVar"), function(x) x[1]),
                            REML = REMLcrit(fm))

## lme4 tests/testthat/test-summary.R:7-21 data; the two fits' coefficient tables at the optimum (bobyqa)
set.seed(0)
J <- 8; n <- 10; N <- J * n; beta <- c(5, 2, 4)
u <- matrix(rnorm(J * 3), J, 3)
x.1 <- rnorm(N); x.2 <- rnorm(N); g <- rep(1:J, rep(n, J))
y <- 1 * (beta[1] + u[g,1]) + x.1 * (beta[2] + u[g,2]) + x.2 * (beta[3] + u[g,3]) + rnorm(N)
w(data.frame(y, x.1, x.2, g), "summary_d")
tab <- function(m) list(coef = unname(coef(summary(as(m, "lmerMod")))), corr = unname(as.matrix(cov2cor(vcov(m)))),
                        REML = REMLcrit(m))
out$summary_m1 <- tab(lmer(y ~ x.1 + x.2 + (1 + x.1 | g), control = cc))
out$summary_m2 <- tab(suppressMessages(lmer(y ~ x.1 + x.2 + (1 + x.1 + x.2 | g), control = cc)))
## lme4 tests/testthat/test-summary.R:73-129: a predictor of order 1e6-1e7 (lme4 1.1-31 has no autoscale; plain fit)
set.seed(1)
ss <- sleepstudy
ss$var1 <- runif(nrow(ss), 1e6, 1e7)
w(ss, "summary_scaled")
scf <- suppressWarnings(lmer(Reaction ~ var1 + Days + (Days | Subject), ss, control = cc))
out$summary_scaled <- list(fixef = unname(fixef(scf)), vcov = unname(as.matrix(vcov(scf))), REML = REMLcrit(scf))

## ---- lmerTest (tests/test_*.R at runehaubo/lmerTestR 35dc588): R's tables for the models those tests use ----
coefs <- function(m, ddf) { x <- coef(summary(m, ddf = ddf)); list(rows = rownames(x), table = unname(x)) }
aov <- function(m, type, ddf = "Satterthwaite") {
  x <- anova(m, type = type, ddf = ddf); list(rows = rownames(x), table = unname(as.matrix(x))) }
lt <- list()
fm <- lmer(Reaction ~ Days + (1|Subject) + (0+Days|Subject), sleepstudy)          # test_summary.R:20
lt$summary_fm <- list(sat = coefs(fm, "Satterthwaite"), kr = coefs(fm, "Kenward-Roger"))
m <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)                             # test_anova.R:22
lt$anova_sleep <- list(t1 = aov(m, 1), t3 = aov(m, 3), t2 = aov(m, 2), kr3 = aov(m, 3, "Kenward-Roger"))
m <- lmer(angle ~ recipe * temp + (1|recipe:replicate), cake)                          # test_anova.R:112
lt$anova_cake_temp <- list(t1 = aov(m, 1), t2 = aov(m, 2), t3 = aov(m, 3), kr3 = aov(m, 3, "Kenward-Roger"),
                           kr1 = aov(m, 1, "Kenward-Roger"))
m <- lmer(angle ~ recipe * temperature + (1|recipe:replicate), cake)                   # test_anova.R:140
lt$anova_cake_ordered <- list(t1 = aov(m, 1), t2 = aov(m, 2), t3 = aov(m, 3))
cake2 <- cake; cake2$temperature <- factor(cake2$temperature, ordered = FALSE)
m <- lmer(angle ~ recipe * temperature + (1|recipe:replicate), cake2)                  # test_anova.R:173
lt$anova_cake2 <- list(t1 = aov(m, 1), t2 = aov(m, 2), t3 = aov(m, 3))
m <- lmer(angle ~ 0 + recipe * temp + (1|recipe:replicate), cake)                      # test_anova.R:185
lt$anova_cake_noint <- list(t1 = aov(m, 1), t3 = aov(m, 3), kr3 = aov(m, 3, "Kenward-Roger"))
m <- lmer(angle ~ recipe * temp + (1|recipe:replicate), cake, REML = FALSE)             # test_anova.R:197
lt$anova_cake_ml <- list(t1 = aov(m, 1), t3 = aov(m, 3))
m <- lmer(Reaction ~ Days - 1 + (Days | Subject), sleepstudy, control = lmerControl(optimizer = "bobyqa"))
lt$anova_days_noint <- list(t3 = aov(m, 3), kr3 = aov(m, 3, "Kenward-Roger"))          # test_anova.R:273
m <- lmer(Reaction ~ Days + I(Days^2) + (Days | Subject), sleepstudy)                  # test_anova.R:325
lt$anova_days2 <- list(t1 = aov(m, 1), t3 = aov(m, 3), kr3 = aov(m, 3, "Kenward-Roger"),
                       coef = coefs(m, "Satterthwaite"))
cake4 <- cake; cake4$temperature <- factor(cake4$temperature, ordered = FALSE)          # test_anova.R:347-358
cake4 <- droplevels(subset(cake4, temperature %in% levels(cake4$temperature)[1:3]))
cake4 <- droplevels(subset(cake4, !((recipe == "A" & temperature == "175") | (recipe == "B" & temperature == "185") |
                                    (recipe == "C" & temperature == "195"))))
m <- lmer(angle ~ recipe * temperature + (1|recipe:replicate), cake4)
lt$anova_cake4 <- list(t3 = aov(m, 3), t1 = aov(m, 1), rows = as.integer(rownames(cake4)))
fm <- lmer(Reaction ~ Days + I(Days^2) + (1|Subject) + (0+Days|Subject), sleepstudy)   # test_contest1D.R:22
ct <- function(x) list(cols = colnames(x), values = unname(unlist(x[1, ])))
lt$contest1D <- list(sat = ct(contest1D(fm, c(0, 1, 0))), ci = ct(contest1D(fm, c(0, 1, 0), confint = TRUE)),
                     ci99 = ct(contest1D(fm, c(0, 1, 0), confint = TRUE, level = 0.99)),
                     kr = ct(contest1D(fm, c(0, 1, 0), ddf = "Kenward-Roger")))
fm <- lmer(Reaction ~ Days + (Days|Subject), sleepstudy)                               # test_contest1D.R:80-93
lt$contest_rhs <- list(t = ct(contest1D(fm, L = cbind(0, 1))), t_rhs = ct(contest1D(fm, L = cbind(0, 1), rhs = 10)),
                       kr_rhs = ct(contest1D(fm, L = cbind(0, 1), ddf = "Kenward-Roger", rhs = 10)),
                       md_rhs = ct(contestMD(fm, L = rbind(c(0, 1)), rhs = 10)))
rv <- function(x) list(rows = rownames(x), table = unname(as.matrix(x)))
fm1 <- lmer(Reaction ~ Days + (Days|Subject), sleepstudy)                              # test_ranova_step.R:27-57
lt$ranova_slope <- list(r = rv(ranova(fm1)), nored = rv(ranova(fm1, reduce.terms = FALSE)))
fm1 <- lmer(Reaction ~ Days + (1|Subject), sleepstudy, REML = FALSE)                   # test_ranova_step.R:67-77
lt$ranova_ml <- rv(ranova(fm1))
fm1 <- lmer(Reaction ~ Days + (1 | Subject) + (0 + Days|Subject), sleepstudy)          # test_ranova_step.R:96-100
lt$ranova_two <- rv(ranova(fm1))
fm1 <- lmer(Reaction ~ Days + (0 + Days|Subject), sleepstudy)                          # test_ranova_step.R:103-110
lt$ranova_slope_only <- rv(ranova(fm1))
fm1 <- lmer(Reaction ~ Days + (Days||Subject), sleepstudy)                             # test_ranova_step.R:147-149
lt$ranova_dbl <- rv(ranova(fm1))
fm <- lmer(Coloursaturation ~ TVset*Picture + (1|Assessor:TVset) + (1|Assessor), data = TVbo)  # :152-162
lt$ranova_tvbo <- rv(ranova(fm))
lt$tvbo_anova <- aov(fm, 3)
fm <- lmer(Informed.liking ~ Product+Information+(1|Consumer) + (1|Product:Consumer) + (1|Information:Consumer),
           data = ham)                                                                  # test_ranova_step.R:174-178
lt$ranova_ham <- rv(ranova(fm))
lt$ham_anova <- list(t3 = aov(fm, 3), kr3 = aov(fm, 3, "Kenward-Roger"))
model <- lmer(Preference ~ sens2 + Homesize + (sens1 + sens2 | Consumer), data = carrots)  # :200-206
lt$ranova_carrots <- rv(ranova(model))
lt$carrots_bobyqa_loglik <- as.numeric(logLik(update(model, control = lmerControl(optimizer = "bobyqa"))))
fm <- lmer(Reaction ~ Days + I(Days^2) + (1|Subject) + (0+Days|Subject), sleepstudy)   # test_contestMD.R:21-85
L <- diag(3L)
md <- function(x) list(cols = colnames(x), values = unname(unlist(x[1, ])))
lt$contestMD <- list(sat = md(contestMD(fm, L)), kr = md(contestMD(fm, L, ddf = "Kenward-Roger")),
                     sat23 = md(contestMD(fm, L[2:3, ])), kr23 = md(contestMD(fm, L[2:3, ], ddf = "Kenward-Roger")),
                     sat3 = md(contestMD(fm, L[3, , drop = FALSE])),
                     rankdef = md(contestMD(fm, rbind(c(1, 0, 1), c(0, 1, 0), c(1, -1, 1)))),
                     rankdef_kr = md(contestMD(fm, rbind(c(1, 0, 1), c(0, 1, 0), c(1, -1, 1)), ddf = "Kenward-Roger")))
n <- nrow(sleepstudy)                                                                     # test_zerovar.R:7-41
ssg <- sleepstudy; ssg$g <- factor(rep(1:2, c(n - 10, 10)))
m0 <- lmer(Reaction ~ Days + (Days | Subject), ssg, control = lmerControl(optimizer = "bobyqa"))
m <- lmer(Reaction ~ Days + (Days | Subject) + (1|g), ssg, control = lmerControl(optimizer = "bobyqa"))
w(ssg, "zerovar")
vc <- as.data.frame(VarCorr(m))
lt$zerovar <- list(sd_g = vc[vc$grp == "g", "sdcor"], an0 = aov(m0, 3), an = aov(m, 3), coef0 = coefs(m0, "Satterthwaite"),
                   coef = coefs(m, "Satterthwaite"))
load(system.file("testdata", "potdata.RData", package = "lmerTest"))                      # zlmerTest_zeroDenom.R
w(potdata, "potdata")
lmerout <- lmer(biomass ~ CO2*nutrients + (1|chamber), data = potdata)
lt$potdata <- list(sat = aov(lmerout, 3), kr = aov(lmerout, 3, "Kenward-Roger"))
load(system.file("testdata", "test_paper_objects.RData", package = "lmerTest"))           # test_lmerTest_paper.R
lt$paper <- list(an8.2 = unname(as.matrix(an8.2_save)), sum8.3 = unname(as.matrix(sum8.3_save)),
                 con2_8.5 = unname(unlist(con2_8.5_save[1, ])), ran_C = unname(as.matrix(ran_C_save)),
                 ankr8.2 = unname(as.matrix(ankr8.2_save)))
out$lmertest <- lt

## ---- lme4 tests/*.R (the scripts outside testthat) ----
## REMLdev.R:15-30
fm1 <- lmer(Reaction ~ Days + (Days|Subject), sleepstudy, control = cc)
out$remldev <- list(REML = REMLcrit(fm1), ML = deviance(refitML(fm1)))
## offset.R:7-29 (2600 rows)
set.seed(101)
d <- expand.grid(block = LETTERS[1:26], rep = 1:100)
d$x <- runif(nrow(d)); reff_f <- rnorm(length(levels(d$block)), sd = 1)
d$eta0 <- 4 + 3*d$x; d$eta <- d$eta0 + reff_f[d$block]; d$mu <- d$eta
d$y <- rnorm(nrow(d), mean = d$mu, sd = 1)
d$x <- signif(d$x, 7); d$y <- signif(d$y, 7)  # (7 digits keep the CSV small; the fits below use these values)
w(d[, c("block", "x", "y")], "offset")
fm1 <- lmer(y ~ x + (1|block), data = d); fm1off <- lmer(y ~ x + (1|block) + offset(3*x), data = d)
out$offset <- list(fixef = unname(fixef(fm1)), fixef_off = unname(fixef(fm1off)), theta = unname(getME(fm1off, "theta")))
## minval.R:4-30
set.seed(666)
sims <- function(I, J, sigmab0, sigmaw0) {
  Mu <- rnorm(I, mean = 0, sd = sigmab0); y <- c(sapply(Mu, function(mu) rnorm(J, mu, sigmaw0)))
  data.frame(y = y, group = gl(I, J)) }
dat <- sims(3, 8, 0.15, 0.15)
w(dat, "minval")
out$minval <- list(vc_bobyqa = unname(unlist(VarCorr(lmer(y ~ (1|group), data = dat, control = cc)))))
## varcorr.R:4-9
fm1 <- lmer(distance ~ age + (age|Subject), data = nlme::Orthodont, control = cc)
## (nloptwrap stops 1e-7 above the optimal REML criterion; on this flat surface the variances move by 3e-4)
fm2ML <- lmer(diameter ~ 1 + (1|plate) + (1|sample), Penicillin, REML = 0)
vcdf <- function(m) { x <- as.data.frame(VarCorr(m)); list(grp = x$grp, vcov = x$vcov, sdcor = x$sdcor) }
out$varcorr <- list(orthodont = vcdf(fm1), penicillin_ml = vcdf(fm2ML))
## priorWeights.R:37-101, 119-153
set.seed(1)
nGroups <- 100; nObs <- 1000
explVar1 <- rnorm(nObs); explVar2 <- rnorm(nObs)
groupFac <- as.factor(rep(1:nGroups, each = nObs/nGroups))
randEff0 <- rep(rnorm(nGroups), each = nObs/nGroups); randEff1 <- rep(rnorm(nGroups), each = nObs/nGroups)
randEff2 <- rep(rnorm(nGroups), each = nObs/nGroups)
residSD <- rpois(nObs, 1) + 1; residError <- rnorm(nObs, sd = residSD)
respVar <- randEff0 + (1 + randEff1)*explVar1 + (1 + randEff2)*explVar2 + residError
pw <- data.frame(y = respVar, x = explVar1, z = explVar2, g = groupFac, w = 1/residSD^2)
w(pw, "prior_weights")
pwfit <- function(f, reml) { m <- lmer(f, data = pw, weights = w, REML = reml, control = cc)
  list(sd = c(as.data.frame(VarCorr(m))$sdcor), coef = unname(coef(summary(as(m, "lmerMod")))[, 1:2]),
       dev = if (reml) REMLcrit(m) else deviance(m)) }
out$prior_weights <- list(ML1 = pwfit(y ~ x + (1|g), FALSE), REML1 = pwfit(y ~ x + (1|g), TRUE),
                          ML2 = pwfit(y ~ x + (x|g), FALSE), REML2 = pwfit(y ~ x + (x|g), TRUE),
                          ML3 = pwfit(y ~ x + z + (x+z|g), FALSE), REML3 = pwfit(y ~ x + z + (x+z|g), TRUE))
n <- nrow(sleepstudy); v <- rpois(n, 1) + 1
ssw <- sleepstudy; ssw$w <- 1/v
w(ssw, "sleep_weights")
m <- lmer(Reaction ~ Days + (Days|Subject), ssw, weights = w, REML = FALSE, control = cc)
out$sleep_weights <- list(sd = c(as.data.frame(VarCorr(m))$sdcor), fixef = unname(fixef(m)), dev = deviance(m))
set.seed(2)
n <- 40; wt <- runif(n); x <- runif(n); g <- factor(sample(1:10, n, replace = TRUE))
Z <- model.matrix(~g-1); y <- Z %*% rnorm(ncol(Z)) + x + rnorm(n)/wt^.5
w(data.frame(y = c(y), x, g, w = wt), "weights_lme40")
m <- lmer(y ~ x + (1|g), weights = wt, REML = TRUE, control = cc)
out$weights_lme40 <- list(fixef = unname(fixef(m)), sigma = sigma(m), vc = as.vector(VarCorr(m)$g),
                          se = unname(coef(summary(as(m, "lmerMod")))[, 2]))

## lmer-1.R:130-150 (fit.1) and 170-202 (lagoon / habitat) data
n.groups <- 10; n.reps <- 2
n <- length(group.id <- gl(n.groups, n.reps))
set.seed(0)
a.group <- rnorm(n.groups, 1, 2)
y <- rnorm(n, a.group[group.id], 1)
w(data.frame(y, group.id), "lmer1_fit1")
fit.1 <- lmer(y ~ 1 + (1 | group.id), control = cc)
out$lmer1_fit1 <- list(fixef = unname(fixef(fit.1)), ranef = unname(ranef(fit.1)[[1]][, 1]),
                       postVar = c(attr(ranef(fit.1, condVar = TRUE)[[1]], "postVar")))
set.seed(1)
dat <- within(data.frame(lagoon = factor(rep(1:4, each = 25)), habitat = factor(rep(1:20, each = 5))),
              { y <- round(10*rnorm(100, m = 10*as.numeric(lagoon))) })
w(dat, "lmer1_lagoon")
r2 <- lmer(y ~ 0 + lagoon + (1|habitat), data = dat, control = cc)
out$lmer1_lagoon <- list(r2_fixef = unname(fixef(r2)), r2_theta = unname(getME(r2, "theta")), r2_REML = REMLcrit(r2))

## boundary.R:13-27 and 31-65 (lme4's testdata files dat20101314.csv and koller-data.R)
dat <- read.csv(system.file("testdata", "dat20101314.csv", package = "lme4"))
w(dat, "boundary_dat")
fit_b <- lmer(y ~ (1|Operator)+(1|Part)+(1|Part:Operator), data = dat, control = cc)
source(system.file("testdata", "koller-data.R", package = "lme4"))
ldata <- getData(13)
w(ldata, "koller13")
fm5c <- lmer(y ~ (1|Var2), ldata, control = lmerControl(optimizer = "bobyqa"), start = list(theta = 1))
out$boundary <- list(theta_b = unname(getME(fit_b, "theta")), REML_b = REMLcrit(fit_b),
                     theta_5c = unname(getME(fm5c, "theta")), REML_5c = REMLcrit(fm5c))

## lmer-0.R:18-23 data
set.seed(7)
n <- 10
X <- data.frame(y = runif(n), x = rnorm(n), z = sample(c("A","B"), n, TRUE))
w(X, "lmer0_X")
fm <- lmer(log(y) ~ x | z, data = X)
out$lmer0 <- list(fixef = unname(fixef(fm)), dV = as.numeric(diag(vcov(fm))), theta = unname(getME(fm, "theta")))

## lmer-0.R:65-114 (lme4's test fits fm4. with nloptwrap(ftol_abs = xtol_abs = 1e-6), which stops short; bobyqa:)
lsDat <- data.frame(Operator = as.factor(rep(1:5, c(3,4,8,8,8))),
  Part = as.factor(c(2L, 3L, 5L, 1L, 1L, 2L, 3L, 1L, 1L, 2L, 2L, 3L, 3L, 4L, 5L, 1L, 2L, 3L, 3L, 4L, 4L, 5L, 5L,
                     1L, 2L, 2L, 3L, 3L, 4L, 5L, 5L)),
  y = c(0.34, -1.23, -2.46, -0.84, -1.57,-0.31, -0.18, -0.94, -0.81, 0.77, 0.4, -2.37, -2.78, 1.29, -0.95, -1.58,
        -2.06, -3.11,-3.2, -0.1, -0.49,-2.02, -0.75, 1.71,  -0.85, -1.19, 0.13, 1.35, 1.92, 1.04,  1.08))
fm4 <- lmer(y ~ (1|Part) + (1|Operator) + (1|Part:Operator), data = lsDat[1:29, ], REML = FALSE, control = cc)
vc <- as.data.frame(VarCorr(fm4))
out$lsd29 <- list(grp = vc$grp, sdcor = vc$sdcor, deviance = deviance(fm4))

## test-predict.R:229-244 at R's optimum (bobyqa): lme4's hard-coded numbers come from its default optimizer
## (lme4 1.1-31, installed here, has no se.fit for test-predict.R:439-471)
dd <- read.csv(file.path("data", "predict_gh457.csv")); for (v in c("f", "g", "h")) dd[[v]] <- factor(dd[[v]])
m1 <- lmer(y~1 + f + (1|h/f) + (poly(x,2)|g), data = dd, control = cc)
m1B <- suppressMessages(lmer(y~1 + f + (1|g) + (1|h), data = dd, control = cc))
out$predict_gh457 <- list(hf = unname(predict(m1, re.form = ~1 | h/f, newdata = dd[1, ])),
                          polyg = unname(predict(m1, re.form = ~poly(x,2) | g, newdata = dd[1, ])),
                          m1B_g = unname(predict(m1B, re.form = ~(1|g), newdata = data.frame(f = "1", g = "2"))))

write_json(out, "ported.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
