# What lme4_fit.R and glmmtmb_fit.R share: the command line, the "key<TAB>value..." output, loading the data,
# and timing the fit with its memory peak.  Sourced by them (the adapters copy it beside the script).
#
#   args: CSV FORMULA REML CATEGORICAL KIND REPEATS OUT (see lme4_fit.R)
#
# Fit times are wall seconds of the fit call alone (system.time for a fit, Sys.time differences for the
# warm loop, whose single fits are shorter than system.time's resolution).  The fit's memory peak is VmHWM
# read from /proc/self/status after resetting it (via /proc/self/clear_refs) once the data are loaded.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 7) stop("usage: Rscript SCRIPT CSV FORMULA REML CATEGORICAL KIND REPEATS OUT")
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

# the data frame, its load time and size
load_data <- function() {
  start <- proc.time()[["elapsed"]]
  d <- read.csv(csv)
  for (v in cats) d[[v]] <- factor(d[[v]])
  emit("load_seconds", proc.time()[["elapsed"]] - start)
  emit("nobs_data", nrow(d))
  emit("data_bytes", as.numeric(object.size(d)))
  d
}

# fit() timed as KIND says, its warnings and messages collected in `caught`; emits the memory peak and times
# and returns the last fit
caught <- character(0)
timed_fit <- function(fit) {
  fit_once <- function() {
    withCallingHandlers(
      fit(),
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
  m
}

emit("r_version", R.version.string)
emit("matrix_version", as.character(packageVersion("Matrix")))
emit("blas", extSoftVersion()[["BLAS"]])
