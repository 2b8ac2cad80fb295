"""Inference on a fitted model: t and F tests with Satterthwaite or Kenward-Roger df, model comparison,
profile and bootstrap intervals, posterior simulation, prediction intervals."""
