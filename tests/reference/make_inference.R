# Regenerate inference.json: R's residuals (lme4), t intervals with the p-values' df (lmerTest contest1D),
# type I/II/III anova tables (lmerTest), joint F tests of rank-deficient and zero-row L (lmerTest contestMD)
# and arm::sim's draws summarized (means, SDs, correlations), for tests/results/test_model.py,
# tests/results/test_tables.py, tests/inference/test_anova.py and tests/inference/test_posterior.py.
#   cd tests/reference && Rscript make_inference.R
# Made with R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5-2, arm 1.13-1, jsonlite 1.8.4.
suppressMessages({library(lme4); library(lmerTest); library(pbkrtest); library(arm); library(jsonlite)})
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10, maxfun = 1e5))

ss <- read.csv("data/sleepstudy.csv"); ss$Subject <- factor(ss$Subject)
ss$w <- 1 + (ss$Days %% 3) / 2

# ---- residuals of a weighted fit ----
mw <- lmer(Reaction ~ Days + (Days | Subject), ss, weights = w, control = ctrl)
resid_out <- list(formula = "Reaction ~ Days + (Days | Subject)", data = "data/sleepstudy.csv",
                  weights = "1 + (Days %% 3) / 2", sigma = sigma(mw))
for (type in c("response", "working", "pearson", "deviance")) {
  resid_out[[type]] <- unname(residuals(mw, type = type))
  resid_out[[paste0(type, "_scaled")]] <- unname(residuals(mw, type = type, scaled = TRUE))
}

# ---- a design with two factors and a covariate, unbalanced ----
fg <- ss[-c(2, 6, 18, 41, 77, 123), c("Reaction", "Days", "Subject")]
subj <- sort(unique(as.character(fg$Subject)))
fg$f <- c("a", "b", "c")[1 + (match(as.character(fg$Subject), subj) %% 3)]
fg$g <- ifelse(fg$Days %% 2 == 0, "even", "odd")
write.csv(fg, "data/sleepstudy_fg.csv", row.names = FALSE)
fg$f <- factor(fg$f); fg$g <- factor(fg$g)
cake <- read.csv("data/cake.csv"); cake$recipe <- factor(cake$recipe); cake$replicate <- factor(cake$replicate)

fits <- list(
  fg_interaction = list(formula = "Reaction ~ f * g + Days + (1 | Subject)", data = "data/sleepstudy_fg.csv",
                        factors = c("f", "g", "Subject"), d = fg),
  fg_factor_by_numeric = list(formula = "Reaction ~ f * Days + g + (Days | Subject)", data = "data/sleepstudy_fg.csv",
                              factors = c("f", "g", "Subject"), d = fg),
  cake = list(formula = "angle ~ recipe * temp + (1 | recipe:replicate)", data = "data/cake.csv",
              factors = c("recipe", "replicate"), d = cake),
  sleepstudy = list(formula = "Reaction ~ Days + (Days | Subject)", data = "data/sleepstudy.csv",
                    factors = character(), d = ss)
)
ftab <- function(a) list(term = rownames(a), sum_sq = unname(a[["Sum Sq"]]), mean_sq = unname(a[["Mean Sq"]]),
                         num_df = unname(a$NumDF), den_df = unname(a$DenDF), f_value = unname(a[["F value"]]),
                         p_value = unname(a[["Pr(>F)"]]))
models <- list()
for (nm in names(fits)) {
  f <- fits[[nm]]
  m <- lmerTest::lmer(as.formula(f$formula), f$d, control = ctrl)
  out <- list(formula = f$formula, data = f$data, factors = I(f$factors), fixef = as.list(fixef(m)))
  for (ddf in c("Satterthwaite", "Kenward-Roger")) {
    key <- if (ddf == "Satterthwaite") "satterthwaite" else "kenward_roger"
    out$anova[[key]] <- list(type1 = ftab(anova(m, type = 1, ddf = ddf)), type2 = ftab(anova(m, type = 2, ddf = ddf)),
                             type3 = ftab(anova(m, type = 3, ddf = ddf)))
    ci <- list()
    for (level in c(0.95, 0.9)) {
      rows <- lapply(seq_along(fixef(m)), function(j) {
        L <- numeric(length(fixef(m))); L[j] <- 1
        contest1D(m, L, ddf = ddf, confint = TRUE, level = level)
      })
      tab <- do.call(rbind, rows)
      ci[[as.character(level)]] <- list(term = names(fixef(m)), estimate = tab$Estimate, std_error = tab[["Std. Error"]],
                                        df = tab$df, t_value = tab[["t value"]], p_value = tab[["Pr(>|t|)"]],
                                        conf_low = tab$lower, conf_high = tab$upper)
    }
    out$tidy[[key]] <- ci
  }
  models[[nm]] <- out
}

# ---- joint F tests of rank-deficient and zero-row L (contestMD) ----
m <- lmerTest::lmer(Reaction ~ f * g + Days + (1 | Subject), fg, control = ctrl)
nb <- names(fixef(m))
unit <- function(nmz, w = rep(1, length(nmz))) { r <- setNames(numeric(length(nb)), nb); r[nmz] <- w; r }
Ls <- list(
  rank2_of_3 = rbind(unit("fb"), unit("fc"), unit(c("fb", "fc"))),
  duplicated_row = rbind(unit("Days"), unit("Days"), unit("godd")),
  rank1_of_2 = rbind(unit("fb"), unit("fb", 2)),
  full_rank = rbind(unit("fb"), unit("fc"), unit("godd"))
)
contests <- list()
for (nm in names(Ls)) {
  L <- Ls[[nm]]
  res <- list(L = unname(L))
  for (ddf in c("Satterthwaite", "Kenward-Roger")) {
    key <- if (ddf == "Satterthwaite") "satterthwaite" else "kenward_roger"
    res[[key]] <- ftab(contestMD(m, L, ddf = ddf))
  }
  contests[[nm]] <- res
}
zero <- contestMD(m, matrix(numeric(0), nrow = 0, ncol = length(nb)))
contests$zero_rows <- list(nrow = nrow(zero), columns = names(zero))
contest_out <- list(formula = "Reaction ~ f * g + Days + (1 | Subject)", data = "data/sleepstudy_fg.csv",
                    fixef_names = nb, cases = contests)

# ---- arm::sim: the joint draws summarized ----
sims <- list()
for (form in c("Reaction ~ Days + (1 | Subject)", "Reaction ~ Days + (Days | Subject)")) {
  for (reml in c(TRUE, FALSE)) {
    m <- lme4::lmer(as.formula(form), ss, REML = reml, control = ctrl)
    set.seed(20261204)
    s <- arm::sim(m, n.sims = 40000)
    fe <- s@fixef; sg <- s@sigma; re <- s@ranef$Subject   # n.sims x 18 x terms
    lev1 <- re[, 1, ]                                      # first subject's draws (308)
    joint <- cbind(fe, if (is.matrix(lev1)) lev1 else matrix(lev1, ncol = 1), sg)
    sims[[length(sims) + 1]] <- list(
      formula = form, reml = reml, n_sims = 40000,
      fixef_mean = unname(colMeans(fe)), fixef_sd = unname(apply(fe, 2, sd)),
      sigma_mean = mean(sg), sigma_sd = sd(sg),
      ranef_mean = unname(apply(re, c(2, 3), mean)), ranef_sd = unname(apply(re, c(2, 3), sd)),
      joint_cor = unname(cor(joint)),                      # fixef, level 308's ranef, sigma
      pwrss = getME(m, "devcomp")$cmp[["pwrss"]])
  }
}

writeLines(toJSON(list(generator = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                                        lmerTest = as.character(packageVersion("lmerTest")),
                                        pbkrtest = as.character(packageVersion("pbkrtest")),
                                        arm = as.character(packageVersion("arm"))),
                       residuals = resid_out, models = models, contests = contest_out, sim = sims),
                  auto_unbox = TRUE, digits = NA, null = "null"), "inference.json")
