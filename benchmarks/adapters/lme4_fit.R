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

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 7) stop("usage: lme4_fit.R CSV FORMULA REML CATEGORICAL KIND REPEATS OUT")
csv <- args[1]
form <- as.formula(args[2])
reml <- as.logical(args[3])
cats <- if (nzchar(args[4])) strsplit(args[4], ",", fixed = TRUE)[[1]] else character(0)
kind <- args[5]
repeats <- as.integer(args[6])
out <- file(args[7], open = "w")

emit <- function(key, values) {
  if (is.numeric(values)) values <- sprintf("%.17g", values)
  values <- gsub("[\t\r\n]+", " ", as.character(values))
  writeLines(paste(c(key, values), collapse = "\t"), out)
  flush(out)
}
status_kb <- function(key) {
  line <- grep(paste0("^", key, ":"), readLines("/proc/self/status"), value = TRUE)
  if (length(line) == 0) NA_real_ else as.numeric(gsub("[^0-9]", "", line))
}
reset_peak <- function() {
  tryCatch({ writeLines("5", "/proc/self/clear_refs"); TRUE }, error = function(e) FALSE)
}

suppressPackageStartupMessages(library(lme4))
emit("r_version", R.version.string)
emit("lme4_version", as.character(packageVersion("lme4")))
emit("matrix_version", as.character(packageVersion("Matrix")))
emit("blas", extSoftVersion()[["BLAS"]])

start <- proc.time()[["elapsed"]]
d <- read.csv(csv)
for (v in cats) d[[v]] <- factor(d[[v]])
emit("load_seconds", proc.time()[["elapsed"]] - start)
emit("nobs_data", nrow(d))
emit("data_bytes", as.numeric(object.size(d)))

caught <- character(0)
fit_once <- function() {
  withCallingHandlers(
    lmer(form, data = d, REML = reml),
    warning = function(w) {
      caught <<- c(caught, conditionMessage(w))
      invokeRestart("muffleWarning")
    },
    message = function(m) {
      caught <<- c(caught, trimws(conditionMessage(m)))
      invokeRestart("muffleMessage")
    }
  )
}

invisible(gc())
emit("rss_after_load_kb", status_kb("VmRSS"))
peak_reset <- reset_peak()
if (kind == "fit") {
  times <- system.time(m <- fit_once())[["elapsed"]]
} else if (kind == "warm") {
  m <- fit_once()
  times <- numeric(repeats)
  for (i in seq_len(repeats)) {
    t0 <- Sys.time()
    m <- fit_once()
    times[i] <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  }
} else {
  stop("unknown kind: ", kind)
}
emit("fit_peak_kb", if (peak_reset) status_kb("VmHWM") else NA_real_)
emit("times", times)
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
