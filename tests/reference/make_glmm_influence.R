# Hat values, Cook's distances and leave-one-group-out refits of glmer fits, for
# tests/diagnostics/test_glmm_influence.py.  Run from tests/reference:  Rscript make_glmm_influence.R
# (writes glmm_influence.json).  Cases, formulas and data come from glmm_reference.json and data/glmm_*.csv.
#
# hatvalues(m) is lme4 1.1-31's hatvalues.merMod (it warns "the hat matrix may not make sense for GLMMs"): the
# rows are scaled by the square roots of the *prior* weights while L, RZX and RX are those of the final PIRLS
# system (working weights), so values can exceed 1.  cooks.distance(m) is lme4's cooks.distance.merMod:
# (r / (1 - h))^2 h / (sigma^2 p), r the Pearson residuals, sigma = 1, p = rank(X).
# Group deletion follows lme4's influence.merMod (update(m, subset = group != g, start = list(theta, fixef))),
# here with tight optimizer settings (bobyqa both stages, rhoend 1e-9, tolPwrss 1e-14, then a second fit from there
# with nloptwrap at xtol 1e-12) so that each refit sits at its optimum (the full fit starts at the reference
# one); the measures are influence.ME's, as tests/reference/make_influence.R (LMMs):
#   D_j = (b - b_(-j))' V^-1 (b - b_(-j)) / p,   DFBETAS_j = (b - b_(-j)) / se_(-j).
# lme4's own influence() (default tolerances) is run for the record: its cooks.distance() is (G - p) / G D_j.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
ref <- fromJSON("glmm_reference.json", simplifyVector = FALSE)
hat_cases <- c("cbpp_logit", "cbpp_prop_weights", "grouseticks_poisson", "contraception_logit", "binary_growth_rs",
               "owls_offset")
inf_cases <- list(cbpp_logit = c("herd", ".case"), owls_offset = "Nest")
ctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-14, optCtrl = list(rhoend = 1e-9, maxfun = 1e5))
ctrl2 <- glmerControl(optimizer = "nloptwrap", tolPwrss = 1e-14,
                      optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12, maxeval = 1e5))
num <- function(x) unname(as.numeric(x))

vc_vector <- function(m) {
  Vs <- VarCorr(m); nms <- names(Vs); sep <- ":"
  if (length(nms) == 1) { nms <- ""; sep <- "" }
  vc <- c("sigma^2" = sigma(m)^2)
  for (i in seq_along(Vs)) {
    V <- Vs[[i]]; cn <- colnames(V)
    e <- outer(cn, cn, function(a, b) paste0("C[", a, ",", b, "]")); diag(e) <- paste0("v[", cn, "]")
    v <- V[lower.tri(V, diag = TRUE)]; names(v) <- paste0(nms[i], sep, e[lower.tri(e, diag = TRUE)])
    vc <- c(vc, v)
  }
  vc
}

out <- list()
for (cs in ref$cases) {
  if (!(cs$name %in% c(hat_cases, names(inf_cases)))) next
  df <- read.csv(file.path("data", basename(cs$data)), stringsAsFactors = FALSE)
  for (f in unlist(cs$factors)) df[[f]] <- factor(df[[f]])
  df$.case <- as.character(seq_len(nrow(df)) - 1L)  # the data frame's index, as pandas numbers it
  fam <- get(cs$family)(link = cs$link)
  fitit <- function(d, start = NULL, control = ctrl) {
    args <- list(formula = as.formula(cs$formula), data = d, family = fam, control = control)
    if (!is.null(cs$offset)) args$offset <- d[[cs$offset]]
    if (!is.null(cs$weights)) args$weights <- d[[cs$weights]]
    if (!is.null(start)) args$start <- start
    do.call(glmer, args)
  }
  m <- fitit(df, list(theta = unlist(cs$theta), fixef = unlist(cs$fixef)))  # started at the reference optimum
  rec <- list(name = cs$name, objective = -2 * as.numeric(logLik(m)), objective_best = cs$objective_best,
              hat = num(suppressWarnings(hatvalues(m))), cooksd = num(suppressWarnings(cooks.distance(m))),
              pearson = num(residuals(m, type = "pearson")))
  if (cs$name %in% names(inf_cases)) {
    b <- fixef(m); V <- as.matrix(vcov(m)); p <- length(b)
    start <- list(theta = getME(m, "theta"), fixef = b)
    rec$influence <- list()
    for (grp in inf_cases[[cs$name]]) {
      levs <- unique(as.character(df[[grp]]))
      dels <- lapply(levs, function(lv) {
        d1 <- df[as.character(df[[grp]]) != lv, , drop = FALSE]
        m1 <- suppressWarnings(fitit(d1, start))
        # bobyqa stops ~1e-6 above the optimum on owls' refits: polish from there with nloptwrap's BOBYQA
        m1 <- suppressWarnings(fitit(d1, list(theta = getME(m1, "theta"), fixef = fixef(m1)), ctrl2))
        b1 <- fixef(m1); se1 <- sqrt(diag(as.matrix(vcov(m1))))
        # lme4's finite-difference Hessian is not always stable in PIRLS' tolerance (owls: a few refits' SEs
        # drop by a third at tolPwrss 1e-14): the same estimates' SEs at tolPwrss 1e-12 flag those
        ctrl3 <- glmerControl(optimizer = "nloptwrap", tolPwrss = 1e-12, optCtrl = list(maxeval = 1))
        m3 <- suppressWarnings(fitit(d1, list(theta = getME(m1, "theta"), fixef = b1), ctrl3))
        se3 <- sqrt(diag(as.matrix(vcov(m3))))
        list(fixef = num(b1), se = num(se1), se_stable = max(abs(se3 / se1 - 1)) < 1e-3, theta = num(getME(m1, "theta")), vc = num(vc_vector(m1)),
             cooks = as.numeric(t(b - b1) %*% solve(V) %*% (b - b1)) / p, dfbetas = num((b - b1) / se1))
      })
      G <- length(levs)
      cooks <- sapply(dels, `[[`, "cooks")
      if (cs$name == "cbpp_logit" && grp == "herd") {  # lme4's own influence(), default tolerances, for the record
        mdef <- glmer(as.formula(cs$formula), data = df, family = fam,
                      offset = if (!is.null(cs$offset)) df[[cs$offset]] else NULL)
        inf <- suppressWarnings(influence(mdef, groups = grp, data = df))
        cat(cs$name, grp, ": max |lme4 cooks - (G-p)/G * D| =",
            max(abs(cooks.distance(inf) - (G - p) / G * cooks)), "(lme4 default tolerances)\n")
      }
      rec$influence[[grp]] <- list(
        groups = grp, deleted = levs, vc_names = names(vc_vector(m)), vc = num(vc_vector(m)),
        del_fixef = lapply(dels, `[[`, "fixef"), del_se = lapply(dels, `[[`, "se"),
        se_stable = sapply(dels, `[[`, "se_stable"),
        del_theta = lapply(dels, `[[`, "theta"), del_vc = lapply(dels, `[[`, "vc"),
        cooks = cooks, cooks_lme4 = (G - p) / G * cooks, dfbetas = lapply(dels, `[[`, "dfbetas"))
    }
  }
  out[[cs$name]] <- rec
  cat(cs$name, "objective", rec$objective, "vs best", cs$objective_best, " max hat", max(rec$hat), "\n")
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = FALSE), "glmm_influence.json")
