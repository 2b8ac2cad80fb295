# Regenerate formula_reference.json: lme4 fits of formula features (powers in I(), || on products and factors,
# offset() terms, '.', non-syntactic names, an unbracketed bar, contrasts, ordered factors).
#   cd tests/reference && Rscript make_formula.R
suppressMessages({library(lme4); library(jsonlite); library(lmerTest)})
set.seed(20261204)
n_g <- 30; per <- 8
d <- data.frame(g = rep(sprintf("G%02d", 1:n_g), each = per))
d$x <- round(rnorm(nrow(d)), 3)
d$z <- round(runif(nrow(d), 0, 2), 3)
d$f <- sample(c("a", "b", "c"), nrow(d), replace = TRUE)
d$o <- sample(c("low", "mid", "high", "top"), nrow(d), replace = TRUE)
d$n <- sample(1:20, nrow(d), replace = TRUE)
u0 <- rnorm(n_g, 0, 1); u1 <- rnorm(n_g, 0, 0.5); uz <- rnorm(n_g, 0, 0.4)
gi <- as.integer(factor(d$g))
fe <- c(a = 0, b = 0.8, c = -0.5)[d$f]
oe <- c(low = 0, mid = 0.3, high = 0.9, top = 1.0)[d$o]
d$y <- round(2 + 0.7 * d$x - 0.4 * d$z + 0.3 * d$x * d$z + fe + oe + 0.2 * log(d$n) + u0[gi] + u1[gi] * d$x +
             uz[gi] * d$z + rnorm(nrow(d), 0, 0.8), 4)
d$Petal.Width <- d$x
d$`reaction time` <- d$y
d$`my g` <- d$g
write.csv(d, "data/formula_sim.csv", row.names = FALSE)

sim <- read.csv("data/formula_sim.csv", check.names = FALSE)
sim$o <- factor(sim$o, levels = c("low", "mid", "high", "top"), ordered = TRUE)
small <- sim[, c("y", "x", "f", "g")]
ss <- read.csv("data/sleepstudy.csv"); ss$Subject <- factor(ss$Subject)

one <- function(name, formula_r, formula_py, data, data_file, reml = TRUE, contrasts = NULL,
                offset = NULL, offset_py = NULL, columns = NULL) {
  # tight tolerances, two optimizers, the better optimum kept: the reference sits at the optimum rather than
  # where one optimizer stops (nloptwrap alone stops 2e-8 short on double_bar_product, moving x:z by 1e-5)
  ctrls <- list(lmerControl(optimizer = "nloptwrap",
                            optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-12, ftol_rel = 1e-14, maxeval = 1e5)),
                lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5)))
  m <- NULL
  for (ctrl in ctrls) {
    args <- list(formula = as.formula(formula_r), data = data, REML = reml, control = ctrl)
    if (!is.null(contrasts)) args$contrasts <- contrasts
    if (!is.null(offset)) args$offset <- offset
    mi <- suppressWarnings(do.call(lmer, args))
    if (is.null(m) || REMLcrit(mi) < REMLcrit(m) && reml || deviance(mi) < deviance(m) && !reml) m <- mi
  }
  list(name = name, formula = formula_py, data = data_file, reml = reml,
       contrasts = if (is.null(contrasts)) NULL else lapply(contrasts, function(v) sub("contr.", "", v)),
       offset = offset_py, columns = columns,
       objective = if (reml) unname(REMLcrit(m)) else unname(deviance(m)),
       sigma = sigma(m), theta = unname(getME(m, "theta")), fixef = as.list(fixef(m)),
       nobs = nobs(m))
}
cases <- list(
  one("power_in_I", "Reaction ~ Days + I(Days^2) + (Days | Subject)", "Reaction ~ Days + I(Days^2) + (Days | Subject)",
      ss, "sleepstudy.csv"),
  one("power_in_log", "y ~ log(n^2) + x + (1 | g)", "y ~ log(n^2) + x + (1 | g)", sim, "formula_sim.csv"),
  one("interaction_power", "y ~ (x + z + f)^2 + (1 | g)", "y ~ (x + z + f)^2 + (1 | g)", sim, "formula_sim.csv"),
  one("double_bar_product", "y ~ x * z + (x * z || g)", "y ~ x * z + (x * z || g)", sim, "formula_sim.csv"),
  one("double_bar_factor", "y ~ f + x + (f + x || g)", "y ~ f + x + (f + x || g)", sim, "formula_sim.csv"),
  one("double_bar_no_intercept", "y ~ x + z + (0 + x + z || g)", "y ~ x + z + (0 + x + z || g)", sim,
      "formula_sim.csv"),
  one("offset_term", "y ~ x + offset(log(n)) + (1 | g)", "y ~ x + offset(log(n)) + (1 | g)", sim,
      "formula_sim.csv"),
  one("offset_terms_and_argument", "y ~ x + offset(log(n)) + offset(0.5 * z) + (x | g)",
      "y ~ x + offset(log(n)) + offset(0.5 * z) + (x | g)", sim, "formula_sim.csv", offset = 0.1 * sim$x,
      offset_py = "0.1 * x"),
  one("dot", "y ~ . + (1 | g)", "y ~ . + (1 | g)", small, "formula_sim.csv", columns = list("y", "x", "f", "g")),
  one("dot_minus", "y ~ . - f + (x | g)", "y ~ . - f + (x | g)", small, "formula_sim.csv",
      columns = list("y", "x", "f", "g")),
  one("names", "`reaction time` ~ Petal.Width + (Petal.Width | `my g`)",
      "`reaction time` ~ Petal.Width + (Petal.Width | `my g`)", sim, "formula_sim.csv"),
  one("names_log", "y ~ log(n) + I(Petal.Width^2) + (1 | `my g`)", "y ~ log(n) + I(Petal.Width^2) + (1 | `my g`)",
      sim, "formula_sim.csv"),
  one("orthogonal_poly", "y ~ poly(x, 2) + z + (1 | g)", "y ~ poly(x, 2) + z + (1 | g)", sim, "formula_sim.csv"),
  one("unbracketed_bar", "Reaction ~ Days + 1 | Subject", "Reaction ~ Days + 1 | Subject", ss, "sleepstudy.csv"),
  one("contrast_sum", "y ~ f * x + (1 | g)", "y ~ f * x + (1 | g)", sim, "formula_sim.csv",
      contrasts = list(f = "contr.sum")),
  one("contrast_helmert", "y ~ f + x + (1 | g)", "y ~ f + x + (1 | g)", sim, "formula_sim.csv",
      contrasts = list(f = "contr.helmert")),
  one("contrast_poly", "y ~ f + x + (1 | g)", "y ~ f + x + (1 | g)", sim, "formula_sim.csv",
      contrasts = list(f = "contr.poly")),
  one("ordered_default_poly", "y ~ o + x + (1 | g)", "y ~ o + x + (1 | g)", sim, "formula_sim.csv"),
  one("ordered_treatment", "y ~ o + x + (1 | g)", "y ~ o + x + (1 | g)", sim, "formula_sim.csv",
      contrasts = list(o = "contr.treatment")),
  one("ordered_and_sum", "y ~ o + f + x + (1 | g)", "y ~ o + f + x + (1 | g)", sim, "formula_sim.csv",
      contrasts = list(f = "contr.sum"), reml = FALSE)
)
# lmerTest's type III anova does not depend on the coding: the same table for sum-coded f and ordered o
a3 <- anova(lmerTest::lmer(y ~ f * x + o + (1 | g), data = sim, contrasts = list(f = "contr.sum")))
anova3 <- list(formula = "y ~ f * x + o + (1 | g)", contrasts = list(f = "sum"), term = rownames(a3),
               num_df = a3$NumDF, den_df = a3$DenDF, f_value = a3$`F value`)
meta <- list(generator = paste("lme4", packageVersion("lme4"), R.version.string),
             note = paste("formula_sim.csv: o is an ordered factor (low < mid < high < top) in the tests;",
                          "'columns' restricts the data to those columns; 'offset' is an offset= argument"))
writeLines(toJSON(list(meta = meta, cases = cases, anova_type3 = anova3), auto_unbox = TRUE, digits = NA, na = "null", null = "null"),
           "formula_reference.json")
cat("wrote", length(cases), "cases\n")
