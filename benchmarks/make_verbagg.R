# Exports lme4's VerbAgg data set for the GLMM benchmarks (benchmarks/glmm_bench.py, problem "verbagg").
#
#   Rscript --vanilla benchmarks/make_verbagg.R [OUT]      (default OUT: benchmarks/data/verbagg.csv)
#
# Columns as in R: Anger (integer), Gender (F/M), item, resp, id, btype, situ, mode, r2 (N/Y).  Factors are
# written as their labels; the benchmark reads Gender, btype, situ, id, item and r2 back as factors, so the
# level order (sorted labels, as R's defaults give for these columns) and the coefficients are R's.
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1] else file.path("benchmarks", "data", "verbagg.csv")
data(VerbAgg, package = "lme4")
d <- VerbAgg
for (v in names(d)) if (is.factor(d[[v]])) d[[v]] <- as.character(d[[v]])
dir.create(dirname(out), showWarnings = FALSE, recursive = TRUE)
write.csv(d, out, row.names = FALSE)
cat("wrote", out, nrow(d), "rows\n")
