"""Estimators: plain functions over log-weights and samples (importance weights and IWAE, SMC
and FIVO, MMD), used by objectives and by evaluation alike; they import neither."""
