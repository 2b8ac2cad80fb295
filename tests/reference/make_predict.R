# Regenerate predict.json: lme4's predictions (re.form, new levels, NA handling, offsets, na.exclude fits) and
# standard errors of predictions with the joint covariance of (b, beta) (lme4 >= 1.1-35's predict(se.fit=TRUE),
# formed here from the mixed-model equations with dense matrices, since the installed lme4 may be older).
#   cd tests/reference && Rscript make_predict.R
suppressMessages({library(lme4); library(jsonlite); library(Matrix)})
ctrl <- lmerControl(optimizer = "nloptwrap",
                    optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-12, ftol_rel = 1e-14, maxeval = 1e5))
ss <- read.csv("data/sleepstudy.csv"); ss$Subject <- factor(ss$Subject)
pen <- read.csv("../../src/lmmflow/datasets/penicillin.csv"); pen$plate <- factor(pen$plate)
pen$sample <- factor(pen$sample)
iris2 <- read.csv("data/iris.csv"); names(iris2) <- gsub(".", "_", names(iris2), fixed = TRUE)

# the joint covariance of (b - b_hat, beta_hat): sigma^2 T M^-1 T', T = diag(Lambda, I), M the MME matrix
joint_se <- function(fm, Z, X) {
  L <- getME(fm, "Lambda"); Zf <- getME(fm, "Z"); Xf <- getME(fm, "X"); s <- sigma(fm)
  A <- crossprod(Zf %*% L) + Diagonal(ncol(L)); B <- t(L) %*% crossprod(Zf, Xf)
  M <- rbind(cbind(A, B), cbind(t(B), crossprod(Xf)))
  Tm <- bdiag(L, Diagonal(ncol(Xf)))
  C <- s^2 * Tm %*% solve(M) %*% t(Tm)
  ZX <- cbind(Z, X)
  as.numeric(sqrt(rowSums(as.matrix(ZX %*% C) * as.matrix(ZX))))
}
out <- list()

# sleepstudy, correlated slopes (lme4 tests/testthat/test-predict.R "random-slopes model")
fm2 <- lmer(Reaction ~ Days + (Days | Subject), ss, control = ctrl)
nd <- with(ss, expand.grid(Days = range(Days), Subject = unique(Subject)))
out$sleep_newdata <- list(Days = nd$Days, Subject = as.character(nd$Subject),
  all = unname(predict(fm2, nd)), none = unname(predict(fm2, nd, re.form = NA)),
  slope = unname(predict(fm2, nd, re.form = ~(0 + Days | Subject))),
  intercept = unname(predict(fm2, nd, re.form = ~(1 | Subject))))
Z <- getME(fm2, "Z"); X <- getME(fm2, "X")
Zint <- Z; Zint[, seq(2, ncol(Z), 2)] <- 0
out$sleep_se <- list(all = joint_se(fm2, Z, X), intercept = joint_se(fm2, Zint, X),
                     none = joint_se(fm2, 0 * Z, X))
newlev <- data.frame(Days = c(0, 5, 9), Subject = c("308", "new", "new"))
out$sleep_newlevels <- unname(predict(fm2, newlev, allow.new.levels = TRUE))

# Penicillin, crossed (test-predict.R "multi-group model")
fm3 <- lmer(diameter ~ (1 | plate) + (1 | sample), pen, control = ctrl)
Z3 <- getME(fm3, "Z"); X3 <- getME(fm3, "X")
plate_cols <- grepl("^[a-x]$", colnames(Z3))
Zp <- Z3; Zp[, !plate_cols] <- 0
out$penicillin <- list(all = unname(predict(fm3)), none = unname(predict(fm3, re.form = NA)),
  plate = unname(predict(fm3, re.form = ~(1 | plate))), sample = unname(predict(fm3, re.form = ~(1 | sample))),
  se_all = joint_se(fm3, Z3, X3), se_plate = joint_se(fm3, Zp, X3),
  theta = unname(getME(fm3, "theta")), reml_criterion = unname(REMLcrit(fm3)))

# iris (test-predict.R "prediction standard error")
mod1 <- lmer(Petal_Width ~ Sepal_Length + (1 | Species), iris2, control = ctrl)
Zi <- getME(mod1, "Z"); Xi <- getME(mod1, "X")
out$iris <- list(fit = unname(predict(mod1)), se_all = joint_se(mod1, Zi, Xi), se_none = joint_se(mod1, 0 * Zi, Xi),
                 se_random_only = joint_se(mod1, Zi, 0 * Xi))

# missing values in newdata: na.pass gives NA, na.omit drops, na.exclude pads
ndna <- data.frame(Days = c(1, NA, 3, 4), Subject = c("308", "309", "310", "330"))
out$newdata_na <- list(pass = unname(predict(fm2, ndna, na.action = na.pass)),
                       omit = unname(predict(fm2, ndna, na.action = na.omit)),
                       exclude = unname(predict(fm2, ndna, na.action = na.exclude)))

# a fit with na.exclude: fitted and residuals padded to the data's rows
ssna <- ss; ssna$Reaction[c(1, 7)] <- NA; ssna$Days[20] <- NA
fe <- lmer(Reaction ~ Days + (Days | Subject), ssna, na.action = na.exclude, control = ctrl)
out$fit_na_exclude <- list(fitted = unname(fitted(fe)), residuals = unname(residuals(fe)),
                           predict = unname(predict(fe)))

# offset in the formula: recomputed from newdata
sso <- ss; sso$o <- 2 * sso$Days
fo <- lmer(Reaction ~ Days + offset(o) + (1 | Subject), sso, control = ctrl)
ndo <- data.frame(Days = c(0, 4), Subject = c("308", "309"), o = c(1, 10))
out$offset <- list(fitted = unname(head(fitted(fo), 4)), newdata = unname(predict(fo, ndo)),
                   newdata_none = unname(predict(fo, ndo, re.form = NA)))

out$lme4_version <- as.character(packageVersion("lme4"))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), "predict.json")
