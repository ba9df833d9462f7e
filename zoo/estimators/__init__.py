"""Estimators: plain functions over log-weights and samples (importance sampling, SMC), used
by objectives and by evaluation alike."""
