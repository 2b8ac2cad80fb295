# performance::r2_nakagawa / icc / check_overdispersion for GLMMs, for tests/diagnostics/test_glmm_variance.py and
# test_overdispersion.py.  Run from tests/reference:  Rscript make_glmm_performance.R  (writes glmm_performance.json)
# Cases, formulas and the data come from glmm_reference.json and data/glmm_*.csv.  Each model is refitted with tight
# optimizer settings so that its estimates are those of the reference optimum (lme4's default tolerances leave the
# variance parameters ~1e-4 off); `objective` is kept so the test can check that.  performance 0.10.2 / insight 0.19.0
# offer only the lognormal approximation for the Poisson distribution-specific variance, log(1 + 1/lambda) with
# lambda = exp(intercept of the null model: same random terms, formula offset kept); the delta (1/lambda) and
# trigamma (trigamma(lambda)) variants of Nakagawa et al. (2017) are recorded from their formulas at that lambda.
suppressPackageStartupMessages({library(lme4); library(jsonlite); library(performance); library(insight)})
ref <- fromJSON("glmm_reference.json", simplifyVector = FALSE)
pick <- c("cbpp_logit", "cbpp_probit", "contraception_logit", "contraception_cloglog", "grouseticks_poisson",
          "binary_growth_rs", "owls_offset", "arabidopsis_poisson", "verbagg_crossed")
ctrl <- glmerControl(optimizer = "nloptwrap", tolPwrss = 1e-12,
                     optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12, maxeval = 1e5))
num <- function(x) unname(as.numeric(x))
out <- list()
for (cs in ref$cases) {
  if (!(cs$name %in% pick)) next
  df <- read.csv(file.path("data", basename(cs$data)), stringsAsFactors = FALSE)
  for (f in unlist(cs$factors)) df[[f]] <- factor(df[[f]])
  fam <- get(cs$family)(link = cs$link)
  m <- glmer(as.formula(cs$formula), data = df, family = fam, control = ctrl)
  rec <- list(name = cs$name, objective = -2 * as.numeric(logLik(m)), objective_best = cs$objective_best)
  v <- suppressWarnings(get_variance(m))
  rec$var_fixed <- num(v$var.fixed); rec$var_random <- num(v$var.random)
  rec$var_distribution <- num(v$var.distribution); rec$var_residual <- num(v$var.residual)
  r2 <- suppressWarnings(r2_nakagawa(m))
  rec$r2_marginal <- num(r2$R2_marginal); rec$r2_conditional <- num(r2$R2_conditional)
  ic <- suppressWarnings(icc(m))
  rec$icc_adjusted <- num(ic$ICC_adjusted); rec$icc_unadjusted <- num(ic$ICC_unadjusted)
  if (cs$family == "poisson") {
    m0 <- suppressWarnings(null_model(m))
    lam <- exp(num(fixef(m0)))
    rec$null_intercept <- num(fixef(m0)); rec$null_objective <- -2 * as.numeric(logLik(m0))
    rec$var_distribution_delta <- 1 / lam; rec$var_distribution_trigamma <- trigamma(lam)
  }
  od <- tryCatch(check_overdispersion(m), error = function(e) conditionMessage(e))
  if (is.character(od)) rec$overdispersion_error <- od else
    rec$overdispersion <- list(chisq = num(od$chisq_statistic), ratio = num(od$dispersion_ratio),
                               rdf = num(od$residual_df), p = num(od$p_value))
  out[[cs$name]] <- rec
  cat(cs$name, rec$objective - cs$objective_best, "\n")
}
res <- list(generator = "tests/reference/make_glmm_performance.R",
            versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                            performance = as.character(packageVersion("performance")),
                            insight = as.character(packageVersion("insight"))), cases = out)
write(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), "glmm_performance.json")
