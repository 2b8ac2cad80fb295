# Regenerate emmeans_reference.json: emmeans' marginal means, trends and contrasts of lmer fits.
#   cd tests/reference && Rscript make_emmeans.R
# Each case records the fit's theta (the Python test evaluates the model at lme4's theta, so the comparison
# does not depend on where either optimizer stops), the Python call that should reproduce it, and emmeans'
# summary table (infer = c(TRUE, TRUE) for contrasts: intervals and tests with the same adjustment).
suppressMessages({library(lme4); library(lmerTest); library(pbkrtest); library(emmeans); library(jsonlite)})
emm_options(msg.interaction = FALSE)
set.seed(20261204)

# ---- data -------------------------------------------------------------------------------------------
# growth: 3 groups x 20 people x 5 waves, about 15% of the visits missing (unbalanced: KR != Satterthwaite)
n_id <- 60
g <- expand.grid(time = 0:4, id = seq_len(n_id))
g$group <- c("ctrl", "drugA", "drugB")[1 + (g$id - 1) %% 3]
u0 <- rnorm(n_id, 0, 2); u1 <- rnorm(n_id, 0, 0.6)
eff0 <- c(ctrl = 0, drugA = 0.8, drugB = -0.5); eff1 <- c(ctrl = 0, drugA = 0.7, drugB = 1.3)
g$y <- round(10 + eff0[g$group] + (1.5 + eff1[g$group]) * g$time - 0.12 * g$time^2 + u0[g$id] +
               u1[g$id] * g$time + rnorm(nrow(g), 0, 1.2), 4)
g <- g[runif(nrow(g)) > 0.15, ]
g$id <- sprintf("p%02d", g$id)
write.csv(g[, c("id", "time", "group", "y")], "data/emm_growth.csv", row.names = FALSE)

# two factors within people (A: 3 levels, B: 2 levels), a covariate x, unbalanced cells
n_s <- 30
t2 <- expand.grid(rep = 1:3, B = c("b1", "b2"), A = c("a1", "a2", "a3"), id = seq_len(n_s))
t2$x <- round(rnorm(nrow(t2), 5, 2), 3)
us <- rnorm(n_s, 0, 1.5)
ea <- c(a1 = 0, a2 = 1.0, a3 = 1.6); eb <- c(b1 = 0, b2 = -0.7)
t2$y <- round(20 + ea[as.character(t2$A)] + eb[as.character(t2$B)] +
                0.9 * (t2$A == "a3" & t2$B == "b2") + (0.3 + 0.2 * (t2$A == "a2")) * t2$x +
                us[t2$id] + rnorm(nrow(t2), 0, 1), 4)
t2 <- t2[runif(nrow(t2)) > 0.25, ]
t2$A <- as.character(t2$A); t2$B <- as.character(t2$B); t2$id <- sprintf("s%02d", t2$id)
write.csv(t2[, c("id", "A", "B", "x", "y")], "data/emm_twofactor.csv", row.names = FALSE)

# the same design with one empty cell (a3, b2): A * B is rank deficient, some means are not estimable
t2m <- t2[!(t2$A == "a3" & t2$B == "b2"), ]
write.csv(t2m[, c("id", "A", "B", "x", "y")], "data/emm_twofactor_missing.csv", row.names = FALSE)

ss <- read.csv("data/sleepstudy.csv"); ss$Subject <- factor(ss$Subject)
pen <- read.csv("../../src/lmmflow/datasets/penicillin.csv", stringsAsFactors = TRUE)
pas <- read.csv("../../src/lmmflow/datasets/pastes.csv", stringsAsFactors = TRUE)
write.csv(pen, "data/emm_penicillin.csv", row.names = FALSE)
write.csv(pas, "data/emm_pastes.csv", row.names = FALSE)

# ---- fits -------------------------------------------------------------------------------------------
ctrl <- lmerControl(optimizer = "nloptwrap",
                    optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-12, ftol_rel = 1e-14, maxeval = 1e5))
fit <- function(f, d) lme4::lmer(as.formula(f), data = d, REML = TRUE, control = ctrl)
models <- list(
  sleep_f = list(r = "Reaction ~ factor(Days) + (1 | Subject)", py = "Reaction ~ C(Days) + (1 | Subject)",
                 data = "sleepstudy.csv", d = ss),
  sleep = list(r = "Reaction ~ Days + (Days | Subject)", py = "Reaction ~ Days + (Days | Subject)",
               data = "sleepstudy.csv", d = ss),
  growth = list(r = "y ~ time * group + (time | id)", py = "y ~ time * group + (time | id)",
                data = "emm_growth.csv", d = g),
  growth_quad = list(r = "y ~ (time + I(time^2)) * group + (1 | id)",
                     py = "y ~ (time + I(time**2)) * group + (1 | id)", data = "emm_growth.csv", d = g),
  twofac = list(r = "y ~ A * B + x + (1 | id)", py = "y ~ A * B + x + (1 | id)", data = "emm_twofactor.csv",
                d = t2),
  twofac_x = list(r = "y ~ A * x + B + (1 | id)", py = "y ~ A * x + B + (1 | id)", data = "emm_twofactor.csv",
                  d = t2),
  twofac_missing = list(r = "y ~ A * B + x + (1 | id)", py = "y ~ A * B + x + (1 | id)",
                        data = "emm_twofactor_missing.csv", d = t2m),
  penicillin = list(r = "diameter ~ sample + (1 | plate)", py = "diameter ~ sample + (1 | plate)",
                    data = "emm_penicillin.csv", d = pen),
  pastes = list(r = "strength ~ cask + (1 | batch) + (1 | sample)",
                py = "strength ~ cask + (1 | batch) + (1 | sample)", data = "emm_pastes.csv", d = pas)
)
for (k in names(models)) models[[k]]$m <- fit(models[[k]]$r, models[[k]]$d)

table_of <- function(obj, infer) {
  s <- as.data.frame(summary(obj, infer = infer))
  names(s)[names(s) %in% c("asymp.LCL")] <- "lower.CL"
  names(s)[names(s) %in% c("asymp.UCL")] <- "upper.CL"
  names(s)[names(s) %in% c("z.ratio")] <- "t.ratio"
  for (nm in names(s)) if (is.factor(s[[nm]])) s[[nm]] <- as.character(s[[nm]])
  s
}

# one case: 'expr' is evaluated with m bound to the model; 'py' holds the Python arguments
case <- function(name, model, kind, expr, py, infer = c(TRUE, kind == "contrast")) {
  mm <- models[[model]]
  m <- mm$m
  obj <- eval(expr)
  list(name = name, kind = kind, model = model, formula = mm$py, data = mm$data,
       theta = unname(getME(m, "theta")), r_call = paste(deparse(expr), collapse = " "), py = py,
       table = table_of(obj, infer))
}
E <- function(...) list(...)
cases <- list(
  # emmeans
  case("sleep_days_kr", "sleep_f", "emmeans", quote(emmeans(m, "Days")), E(emm = E(specs = "Days"))),
  case("growth_group_at_kr", "growth", "emmeans", quote(emmeans(m, ~ group | time, at = list(time = c(0, 4)))),
       E(emm = E(specs = "~ group | time", at = E(time = c(0, 4))))),
  case("growth_group_satt", "growth", "emmeans", quote(emmeans(m, "group", lmer.df = "satterthwaite")),
       E(emm = E(specs = "group", ddf = "satterthwaite"))),
  case("growth_group_asym", "growth", "emmeans", quote(emmeans(m, "group", lmer.df = "asymptotic", level = 0.9)),
       E(emm = E(specs = "group", ddf = "asymptotic", level = 0.9))),
  case("growth_quad_kr", "growth_quad", "emmeans", quote(emmeans(m, ~ group, at = list(time = 3))),
       E(emm = E(specs = "~ group", at = E(time = 3)))),
  case("penicillin_kr", "penicillin", "emmeans", quote(emmeans(m, "sample")), E(emm = E(specs = "sample"))),
  case("pastes_kr", "pastes", "emmeans", quote(emmeans(m, ~ cask)), E(emm = E(specs = "~ cask"))),
  case("twofac_by_kr", "twofac", "emmeans", quote(emmeans(m, ~ A | B)), E(emm = E(specs = "~ A | B"))),
  case("twofac_A_equal", "twofac", "emmeans", quote(emmeans(m, "A")), E(emm = E(specs = "A"))),
  case("twofac_A_prop", "twofac", "emmeans", quote(emmeans(m, "A", weights = "proportional")),
       E(emm = E(specs = "A", weights = "proportional"))),
  case("twofac_A_cells", "twofac", "emmeans", quote(emmeans(m, "A", weights = "cells")),
       E(emm = E(specs = "A", weights = "cells"))),
  case("twofac_A_outer", "twofac", "emmeans", quote(emmeans(m, "A", weights = "outer")),
       E(emm = E(specs = "A", weights = "outer"))),
  case("twofac_B_cells_at", "twofac", "emmeans", quote(emmeans(m, "B", weights = "cells", at = list(x = c(3, 7)))),
       E(emm = E(specs = "B", weights = "cells", at = E(x = c(3, 7))))),
  case("twofac_AB_list_satt", "twofac", "emmeans",
       quote(emmeans(m, c("A", "B"), at = list(x = 4, A = c("a1", "a3")), lmer.df = "satterthwaite")),
       E(emm = E(specs = c("A", "B"), at = E(x = 4, A = c("a1", "a3")), ddf = "satterthwaite"))),
  case("twofac_B_by_satt", "twofac", "emmeans", quote(emmeans(m, "B", by = "A", lmer.df = "satterthwaite")),
       E(emm = E(specs = "B", by = "A", ddf = "satterthwaite"))),
  case("sleep_overall", "sleep", "emmeans", quote(emmeans(m, ~ 1)), E(emm = E(specs = "~ 1"))),
  # emtrends
  case("growth_trend_kr", "growth", "emtrends", quote(emtrends(m, "group", var = "time")),
       E(trend = E(specs = "group", var = "time"))),
  case("growth_trend_satt", "growth", "emtrends",
       quote(emtrends(m, ~ group, var = "time", lmer.df = "satterthwaite")),
       E(trend = E(specs = "~ group", var = "time", ddf = "satterthwaite"))),
  case("growth_quad_trend_kr", "growth_quad", "emtrends", quote(emtrends(m, "group", var = "time")),
       E(trend = E(specs = "group", var = "time"))),
  case("growth_quad_trend_at", "growth_quad", "emtrends",
       quote(emtrends(m, ~ group | time, var = "time", at = list(time = c(1, 3)))),
       E(trend = E(specs = "~ group | time", var = "time", at = E(time = c(1, 3))))),
  case("twofac_x_trend", "twofac_x", "emtrends", quote(emtrends(m, "A", var = "x")),
       E(trend = E(specs = "A", var = "x"))),
  case("sleep_trend_overall", "sleep", "emtrends", quote(emtrends(m, ~ 1, var = "Days")),
       E(trend = E(specs = "~ 1", var = "Days"))),
  case("twofac_x_trend_by", "twofac_x", "emtrends", quote(emtrends(m, ~ A | B, var = "x", lmer.df = "satterthwaite")),
       E(trend = E(specs = "~ A | B", var = "x", ddf = "satterthwaite"))),
  # contrasts
  case("sleep_pairs_tukey", "sleep_f", "contrast", quote(pairs(emmeans(m, "Days"))),
       E(emm = E(specs = "Days"), contrast = E(method = "pairwise"))),
  case("sleep_trt_dunnettx", "sleep_f", "contrast", quote(contrast(emmeans(m, "Days"), "trt.vs.ctrl")),
       E(emm = E(specs = "Days"), contrast = E(method = "trt.vs.ctrl"))),
  case("sleep_poly", "sleep_f", "contrast", quote(contrast(emmeans(m, "Days"), "poly")),
       E(emm = E(specs = "Days"), contrast = E(method = "poly"))),
  case("growth_pairs_time_tukey", "growth", "contrast",
       quote(pairs(emmeans(m, ~ group | time, at = list(time = c(0, 4))))),
       E(emm = E(specs = "~ group | time", at = E(time = c(0, 4))), contrast = E(method = "pairwise"))),
  case("growth_pairs_holm", "growth", "contrast",
       quote(pairs(emmeans(m, ~ group | time, at = list(time = c(0, 4))), adjust = "holm")),
       E(emm = E(specs = "~ group | time", at = E(time = c(0, 4))), contrast = E(method = "pairwise", adjust = "holm"))),
  case("growth_pairs_bonferroni", "growth", "contrast", quote(pairs(emmeans(m, "group"), adjust = "bonferroni")),
       E(emm = E(specs = "group"), contrast = E(method = "pairwise", adjust = "bonferroni"))),
  case("growth_pairs_sidak_satt", "growth", "contrast",
       quote(pairs(emmeans(m, "group", lmer.df = "satterthwaite"), adjust = "sidak")),
       E(emm = E(specs = "group", ddf = "satterthwaite"), contrast = E(method = "pairwise", adjust = "sidak"))),
  case("growth_pairs_none", "growth", "contrast", quote(pairs(emmeans(m, "group"), adjust = "none")),
       E(emm = E(specs = "group"), contrast = E(method = "pairwise", adjust = "none"))),
  case("growth_trend_pairs", "growth", "contrast", quote(pairs(emtrends(m, "group", var = "time"))),
       E(trend = E(specs = "group", var = "time"), contrast = E(method = "pairwise"))),
  case("growth_revpairs_scheffe", "growth", "contrast",
       quote(contrast(emmeans(m, "group"), "revpairwise", adjust = "scheffe")),
       E(emm = E(specs = "group"), contrast = E(method = "revpairwise", adjust = "scheffe"))),
  case("penicillin_pairs_satt", "penicillin", "contrast",
       quote(pairs(emmeans(m, "sample", lmer.df = "satterthwaite"))),
       E(emm = E(specs = "sample", ddf = "satterthwaite"), contrast = E(method = "pairwise"))),
  case("penicillin_trtk", "penicillin", "contrast", quote(contrast(emmeans(m, "sample"), "trt.vs.ctrlk")),
       E(emm = E(specs = "sample"), contrast = E(method = "trt.vs.ctrlk"))),
  case("penicillin_eff", "penicillin", "contrast", quote(contrast(emmeans(m, "sample"), "eff")),
       E(emm = E(specs = "sample"), contrast = E(method = "eff"))),
  case("penicillin_del_eff_hochberg", "penicillin", "contrast",
       quote(contrast(emmeans(m, "sample"), "del.eff", adjust = "hochberg")),
       E(emm = E(specs = "sample"), contrast = E(method = "del.eff", adjust = "hochberg"))),
  case("pastes_consec_holm", "pastes", "contrast", quote(contrast(emmeans(m, "cask"), "consec", adjust = "holm")),
       E(emm = E(specs = "cask"), contrast = E(method = "consec", adjust = "holm"))),
  case("twofac_pairs_by", "twofac", "contrast", quote(pairs(emmeans(m, ~ A | B))),
       E(emm = E(specs = "~ A | B"), contrast = E(method = "pairwise"))),
  case("twofac_trt_ref_by", "twofac", "contrast",
       quote(contrast(emmeans(m, ~ A | B), "trt.vs.ctrl", ref = 2)),
       E(emm = E(specs = "~ A | B"), contrast = E(method = "trt.vs.ctrl", ref = 2))),
  case("twofac_pairs_cells", "twofac", "contrast", quote(pairs(emmeans(m, c("A", "B")), adjust = "BH")),
       E(emm = E(specs = c("A", "B")), contrast = E(method = "pairwise", adjust = "BH"))),
  case("twofac_custom", "twofac", "contrast",
       quote(contrast(emmeans(m, "A"), list(a1_vs_rest = c(1, -0.5, -0.5), a2_vs_a3 = c(0, 1, -1)),
                      adjust = "sidak")),
       E(emm = E(specs = "A"), contrast = E(method = E(a1_vs_rest = c(1, -0.5, -0.5), a2_vs_a3 = c(0, 1, -1)),
                                            adjust = "sidak"))),
  case("missing_cell_by", "twofac_missing", "emmeans", quote(emmeans(m, ~ A | B)), E(emm = E(specs = "~ A | B"))),
  case("missing_cell_avg", "twofac_missing", "emmeans", quote(emmeans(m, "B", lmer.df = "satterthwaite")),
       E(emm = E(specs = "B", ddf = "satterthwaite"))),
  case("missing_cell_flat", "twofac_missing", "emmeans", quote(emmeans(m, "A", weights = "flat")),
       E(emm = E(specs = "A", weights = "flat"))),
  case("missing_cell_cells", "twofac_missing", "emmeans", quote(emmeans(m, "B", weights = "cells")),
       E(emm = E(specs = "B", weights = "cells"))),
  case("missing_cell_pairs", "twofac_missing", "contrast", quote(pairs(emmeans(m, ~ A | B))),
       E(emm = E(specs = "~ A | B"), contrast = E(method = "pairwise"))),
  case("missing_cell_pairs_holm", "twofac_missing", "contrast",
       quote(pairs(emmeans(m, ~ A | B), by = NULL, adjust = "holm")),
       E(emm = E(specs = "~ A | B"), contrast = E(method = "pairwise", by = list(), adjust = "holm"))),
  case("growth_trt_asym", "growth", "contrast",
       quote(contrast(emmeans(m, "group", lmer.df = "asymptotic"), "trt.vs.ctrl")),
       E(emm = E(specs = "group", ddf = "asymptotic"), contrast = E(method = "trt.vs.ctrl"))),
  case("growth_tukey_asym_scheffe", "growth", "contrast",
       quote(pairs(emmeans(m, "group", lmer.df = "asymptotic"), adjust = "scheffe")),
       E(emm = E(specs = "group", ddf = "asymptotic"), contrast = E(method = "pairwise", adjust = "scheffe"))),
  case("twofac_interaction_contrast", "twofac", "contrast",
       quote(contrast(pairs(emmeans(m, ~ A | B)), "revpairwise", by = "contrast", adjust = "bonferroni")),
       E(emm = E(specs = "~ A | B"), contrast = E(method = "pairwise"),
         contrast2 = E(method = "revpairwise", by = "contrast", adjust = "bonferroni"))),
  case("twofac_pairs_by_contrast", "twofac", "contrast", quote(pairs(emmeans(m, ~ A | B), by = NULL, adjust = "none")),
       E(emm = E(specs = "~ A | B"), contrast = E(method = "pairwise", by = list(), adjust = "none")))
)
out <- list(r_version = R.version.string,
            packages = lapply(c(lme4 = "lme4", emmeans = "emmeans", pbkrtest = "pbkrtest", lmerTest = "lmerTest"),
                              function(p) as.character(packageVersion(p))),
            cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, dataframe = "columns", null = "null", na = "null"),
           "emmeans_reference.json")
cat("wrote", length(cases), "cases\n")
