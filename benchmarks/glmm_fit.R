# Fits one GLMM benchmark problem with lme4's glmer or glmmTMB and writes a JSON record to OUT.
#
#   Rscript --vanilla benchmarks/glmm_fit.R LIB CSV FORMULA FAMILY CATEGORICAL OUT
#
# LIB          "lme4" (glmer, Laplace, its default optimizer settings) or "glmmTMB" (Laplace)
# CSV          data file, read with read.csv (timed separately from the fit)
# FORMULA      lme4 formula
# FAMILY       "binomial" or "poisson" (canonical link)
# CATEGORICAL  comma-separated columns turned into factors ("" for none)
# OUT          output file (JSON)
#
# The time is the elapsed seconds of the glmer() / glmmTMB() call alone (system.time), as
# benchmarks/adapters/lme4_fit.R times lmer(); cpu_seconds is user + system time of the same call.  loglik is logLik(m); objective is -2 logLik.
args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 6) stop("usage: glmm_fit.R LIB CSV FORMULA FAMILY CATEGORICAL OUT")
lib <- args[1]
form <- as.formula(args[3])
fam <- get(args[4], mode = "function")()
cats <- if (nzchar(args[5])) strsplit(args[5], ",", fixed = TRUE)[[1]] else character(0)
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
if (lib == "glmmTMB") suppressPackageStartupMessages(library(glmmTMB))

t0 <- proc.time()[["elapsed"]]
d <- read.csv(args[2])
for (v in cats) d[[v]] <- factor(d[[v]])
load_seconds <- proc.time()[["elapsed"]] - t0

caught <- character(0)
fit_once <- function() {
  withCallingHandlers(
    if (lib == "lme4") glmer(form, data = d, family = fam) else glmmTMB(form, data = d, family = fam),
    warning = function(w) { caught <<- c(caught, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { caught <<- c(caught, trimws(conditionMessage(m))); invokeRestart("muffleMessage") })
}
invisible(gc())
st <- system.time(m <- fit_once())
seconds <- st[["elapsed"]]
cpu_seconds <- st[["user.self"]] + st[["sys.self"]]
ll <- as.numeric(logLik(m))
if (lib == "lme4") {
  fe <- fixef(m)
  version <- as.character(packageVersion("lme4"))
  conv <- m@optinfo$conv$lme4$messages
  caught <- unique(c(caught, conv, unlist(m@optinfo$warnings)))
} else {
  fe <- fixef(m)$cond
  version <- as.character(packageVersion("glmmTMB"))
  caught <- unique(c(caught, if (m$fit$convergence != 0) m$fit$message))
}
rec <- list(lib = lib, version = version, r_version = R.version.string, seconds = seconds, cpu_seconds = cpu_seconds,
            load_seconds = load_seconds, nobs = nobs(m), loglik = ll, objective = -2 * ll,
            fixef = as.list(fe), warnings = as.list(caught))
writeLines(toJSON(rec, auto_unbox = TRUE, digits = NA), args[6])
