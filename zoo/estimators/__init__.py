"""Estimators: plain functions over log-weights and samples (importance weights and IWAE, SMC
and FIVO, MMD) and over traces (which sites are latent), used by objectives, evaluation and
training alike; they import none of them."""
