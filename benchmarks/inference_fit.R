# R side of benchmarks/inference_bench.py: one inference measurement, written as tab-separated
# "key<TAB>value..." lines to OUT (the format of benchmarks/adapters/lme4_fit.R), flushed line by line so
# that what was measured before a timeout or an error can still be read.
#
#   Rscript --vanilla inference_fit.R boot    CSV OUT NSIM SEED   sleepstudy, lme4::bootMer
#   Rscript --vanilla inference_fit.R profile CSV OUT             growth (reference), confint(method="profile")
#   Rscript --vanilla inference_fit.R ttest   CSV OUT DDF MAXID   growth 800k, lmerTest + pbkrtest
#
# DDF is "Satterthwaite" or "Kenward-Roger"; MAXID > 0 keeps the rows with id < MAXID (0: all rows).
# Times are wall seconds from proc.time()[["elapsed"]] around the timed call alone (reading the CSV file is
# not timed).  For "ttest" the fit is lme4::lmer (timed as "fit_seconds"), lmerTest's preparation of the
# Satterthwaite derivatives is lmerTest::as_lmerModLmerTest (exactly what lmerTest::lmer adds to the fit;
# "prep_seconds"), and the table is summary(m, ddf = DDF) ("table_seconds").  An error is written as an
# "error" line and the script stops with status 1.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 3) stop("usage: inference_fit.R TASK CSV OUT [ARGS]")
task <- args[1]
csv <- args[2]
out <- file(args[3], open = "w")

emit <- function(key, values) {
  if (is.numeric(values)) values <- sprintf("%.17g", values)
  values <- gsub("[\t\r\n]+", " ", as.character(values))
  writeLines(paste(c(key, values), collapse = "\t"), out)
  flush(out)
}
caught <- character(0)
quietly <- function(expr) {
  withCallingHandlers(expr,
    warning = function(w) {
      caught <<- c(caught, conditionMessage(w))
      invokeRestart("muffleWarning")
    },
    message = function(m) {
      caught <<- c(caught, trimws(conditionMessage(m)))
      invokeRestart("muffleMessage")
    })
}
elapsed <- function() proc.time()[["elapsed"]]
emit_warnings <- function() {
  emit("n_warnings", length(caught))
  emit("warnings", head(unique(caught), 5))
}
fail <- function(e) {
  emit("error", conditionMessage(e))
  emit_warnings()
  close(out)
  quit(status = 1)
}

suppressPackageStartupMessages(library(lme4))
emit("r_version", R.version.string)
emit("lme4_version", as.character(packageVersion("lme4")))

tryCatch({
  if (task == "boot") {
    d <- read.csv(csv)
    d$Subject <- factor(d$Subject)
    m <- lmer(Reaction ~ Days + (Days | Subject), data = d, REML = TRUE)
    nsim <- as.integer(args[4])
    seed <- as.integer(args[5])
    t0 <- elapsed()
    b <- quietly(bootMer(m, FUN = function(x) c(fixef(x), sigma(x)), nsim = nsim, seed = seed))
    emit("seconds", elapsed() - t0)
    emit("names", c(names(fixef(m)), "sigma"))
    for (j in seq_len(ncol(b$t))) emit(paste0("rep", j), b$t[, j])
    emit("n_failed", sum(!stats::complete.cases(b$t)))
  } else if (task == "profile") {
    d <- read.csv(csv)
    d$id <- factor(d$id)
    m <- lmer(y ~ time + (1 + time | id), data = d, REML = TRUE)
    t0 <- elapsed()
    ci <- quietly(confint(m, method = "profile", oldNames = FALSE))
    emit("seconds", elapsed() - t0)
    emit("names", rownames(ci))
    emit("lower", unname(ci[, 1]))
    emit("upper", unname(ci[, 2]))
  } else if (task == "ttest") {
    suppressPackageStartupMessages({ library(lmerTest); library(pbkrtest) })
    emit("lmertest_version", as.character(packageVersion("lmerTest")))
    emit("pbkrtest_version", as.character(packageVersion("pbkrtest")))
    ddf <- args[4]
    maxid <- as.integer(args[5])
    d <- read.csv(csv)
    if (maxid > 0) d <- d[d$id < maxid, ]
    d$id <- factor(d$id)
    emit("nobs", nrow(d))
    t0 <- elapsed()
    m0 <- quietly(lme4::lmer(y ~ time * group + (1 + time | id), data = d, REML = TRUE))
    emit("fit_seconds", elapsed() - t0)
    t0 <- elapsed()
    m <- quietly(lmerTest::as_lmerModLmerTest(m0))
    emit("prep_seconds", elapsed() - t0)
    t0 <- elapsed()
    s <- quietly(summary(m, ddf = ddf))
    emit("table_seconds", elapsed() - t0)
    tab <- coef(s)
    emit("names", rownames(tab))
    emit("estimate", unname(tab[, "Estimate"]))
    emit("std_error", unname(tab[, "Std. Error"]))
    emit("df", unname(tab[, "df"]))
    emit("p_value", unname(tab[, "Pr(>|t|)"]))
  } else {
    stop("unknown task: ", task)
  }
}, error = fail)
emit_warnings()
emit("done", "1")
close(out)
