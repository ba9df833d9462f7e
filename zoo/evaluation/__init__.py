"""Evaluation: held-out figures and their kinds (zoo.evaluation.likelihood, .plan), diagnostics
of importance weights and chains, a NUTS gold standard, oracle metrics, what the codes of an
autoencoder carry, calibration, sample statistics and a two-sample test. Computed here, written
to files by zoo.reports; nothing here imports the reports, the training loop or the commands."""
