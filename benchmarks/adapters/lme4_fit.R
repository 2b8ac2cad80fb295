# Fits one lme4 benchmark problem and writes tab-separated "key<TAB>value..." lines to OUT.
#
#   Rscript --vanilla lme4_fit.R CSV FORMULA REML CATEGORICAL KIND REPEATS OUT
#
# CSV          data file, read with read.csv (timed separately from the fit)
# FORMULA      lme4 formula
# REML         TRUE or FALSE
# CATEGORICAL  comma-separated columns turned into factors ("" for none)
# KIND         "fit": one timed lmer() call; "warm": one warm-up call, then REPEATS timed calls
# OUT          output file
#
# Fit times are wall seconds of the lmer() call alone (system.time for a fit, Sys.time differences for the
# warm loop, whose single fits are shorter than system.time's resolution).  The fit's memory peak is VmHWM
# read from /proc/self/status after resetting it (via /proc/self/clear_refs) once the data are loaded.

script_dir <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1]))
source(file.path(script_dir, "harness.R"))
suppressPackageStartupMessages(library(lme4))
emit("lme4_version", as.character(packageVersion("lme4")))
d <- load_data()
m <- timed_fit(function() lmer(form, data = d, REML = reml))
emit("objective", if (reml) REMLcrit(m) else deviance(m))
emit("nobs", nobs(m))
fe <- fixef(m)
emit("fixef_names", names(fe))
emit("fixef", unname(fe))
emit("sigma", sigma(m))
emit("theta", unname(getME(m, "theta")))
conv <- m@optinfo$conv$lme4$messages
emit("converged", is.null(conv) && length(m@optinfo$warnings) == 0)
emit("warnings", unique(c(caught, conv, unlist(m@optinfo$warnings))))
emit("singular", isSingular(m))
emit("optimizer", paste(m@optinfo$optimizer, collapse = ","))
emit("evaluations", m@optinfo$feval)
emit("done", "1")
close(out)
