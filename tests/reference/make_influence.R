# Regenerate influence_reference.json: hat values, Cook's distances (observations and groups), DFBETAS,
# leave-one-group-out refits, and broom.mixed's glance/augment columns, from lme4 (and broom.mixed).
#   cd tests/reference && Rscript make_influence.R
# Group deletion follows lme4's influence.merMod (update(m, subset = group != g, start = theta)) with tight
# optimizer tolerances; the group Cook's distance and DFBETAS are influence.ME's definitions:
#   D_j = (b - b_(-j))' V^-1 (b - b_(-j)) / p   (V the full fit's vcov),   DFBETAS_j = (b - b_(-j)) / se_(-j).
# lme4's own cooks.distance(influence(m, groups)) scales D_j by (G - p) / G (G groups) and its dfbetas()
# has the opposite sign; both are stored too ("cooks_lme4", and checked below against influence()).
suppressMessages({library(lme4); library(jsonlite); library(broom.mixed)})

ss <- read.csv("data/sleepstudy.csv"); ss$Subject <- factor(ss$Subject)
ss$w <- 1 + (ss$Days %% 3) / 2
pen <- Penicillin
pastes <- Pastes
set.seed(20261204)
n_id <- 30; waves <- 0:4
g <- expand.grid(time = waves, id = seq_len(n_id))
g$arm <- factor(c("control", "low", "high")[1 + (g$id - 1) %% 3], levels = c("control", "high", "low"))
u0 <- rnorm(n_id, 0, 2); u1 <- rnorm(n_id, 0, 0.5)
g$y <- round(10 + 1.0 * g$time + 0.8 * g$time * (g$arm == "high") + 0.3 * g$time * (g$arm == "low") +
             u0[g$id] + u1[g$id] * g$time + rnorm(nrow(g), 0, 1.5), 3)
g$id <- sprintf("P%02d", g$id)
g <- g[-c(7, 23, 24, 58, 101, 149), ]  # a few missed waves: unequal group sizes
write.csv(g[, c("id", "time", "arm", "y")], "data/growth_arm.csv", row.names = FALSE)
g$id <- factor(g$id)

# minqa's BOBYQA run to a trust radius of 1e-12: the fits (and refits) sit at the optimum, not where the
# default tolerances stop (nloptwrap's stops ~1e-5 away in theta on these flat optima)
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))

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

one <- function(name, formula, data, data_file, groups, reml = TRUE, weights = NULL) {
  args <- list(formula = as.formula(formula), data = data, REML = reml, control = ctrl)
  if (!is.null(weights)) args$weights <- data[[weights]]
  m <- do.call(lmer, args)  # the call holds its values, so that influence()'s update() can re-evaluate it
  p <- length(fixef(m))
  gl <- as.data.frame(glance(m)); au <- as.data.frame(augment(m))
  V <- as.matrix(vcov(m)); b <- fixef(m)
  levs <- unique(as.character(data[[groups]]))
  th <- getME(m, "theta")
  dels <- lapply(levs, function(lv) {
    keep <- as.character(data[[groups]]) != lv
    d <- data[keep, , drop = FALSE]
    a1 <- list(formula = as.formula(formula), data = d, REML = reml, control = ctrl, start = list(theta = th))
    if (!is.null(weights)) a1$weights <- d[[weights]]
    m1 <- do.call(lmer, a1)
    b1 <- fixef(m1); se1 <- sqrt(diag(as.matrix(vcov(m1))))
    list(fixef = unname(b1), se = unname(se1), theta = unname(getME(m1, "theta")), sigma = sigma(m1),
         vc = unname(vc_vector(m1)),
         cooks = as.numeric(t(b - b1) %*% solve(V) %*% (b - b1)) / p,
         dfbetas = unname((b - b1) / se1))
  })
  G <- length(levs)
  cooks <- sapply(dels, `[[`, "cooks")
  if (name %in% c("sleep_reml", "sleep_ml")) {  # lme4's influence() (default optimizer) for the record
    inf <- influence(m, groups = groups)
    cat(name, ": max |lme4 cooks - (G-p)/G * D| =",
        max(abs(cooks.distance(inf) - (G - p) / G * cooks)),
        " max |lme4 dfbetas + influence.ME dfbetas| =",
        max(abs(dfbetas(inf) + t(sapply(dels, `[[`, "dfbetas")))), "\n")
  }
  list(name = name, formula = formula, data = data_file, reml = reml, weights = weights, groups = groups,
       theta = unname(th), fixef = as.list(b), sigma = sigma(m), nobs = nobs(m),
       hat = unname(hatvalues(m)), cooksd = unname(cooks.distance(m)),
       glance = as.list(gl),
       augment = list(.fitted = au$.fitted, .resid = au$.resid, .fixed = au$.fixed, .mu = au$.mu,
                      .wtres = au$.wtres, .hat = au$.hat, .cooksd = au$.cooksd),
       deleted = levs, vc_names = names(vc_vector(m)), vc = unname(vc_vector(m)),
       del_fixef = lapply(dels, `[[`, "fixef"), del_se = lapply(dels, `[[`, "se"),
       del_theta = lapply(dels, `[[`, "theta"), del_sigma = sapply(dels, `[[`, "sigma"),
       del_vc = lapply(dels, `[[`, "vc"), cooks = cooks, cooks_lme4 = (G - p) / G * cooks,
       dfbetas = lapply(dels, `[[`, "dfbetas"))
}

cases <- list(
  one("sleep_reml", "Reaction ~ Days + (Days | Subject)", ss, "sleepstudy", "Subject"),
  one("sleep_ml", "Reaction ~ Days + (Days | Subject)", ss, "sleepstudy", "Subject", reml = FALSE),
  one("sleep_weights", "Reaction ~ Days + (Days | Subject)", ss, "sleepstudy", "Subject", weights = "w"),
  one("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", pen, "penicillin", "plate"),
  one("pastes_nested", "strength ~ 1 + (1 | batch/cask)", pastes, "pastes", "batch"),
  one("growth_arm", "y ~ time * arm + (time | id)", g, "growth_arm.csv", "id")
)
writeLines(toJSON(cases, digits = NA, auto_unbox = TRUE, null = "null", pretty = FALSE), "influence_reference.json")
