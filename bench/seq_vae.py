"""Shakespeare lines: can a sequence VAE carry information in its code and still match the
language model? (He et al. 2019 report that a plain text VAE collapses to the LM's NLL.)

    python -m bench.seq_vae [--steps 15000 --particles 500 --models char_lstm seq_vae_free_bits]
    python -m bench.seq_vae --models seq_ae_mmd seq_ae_gan seq_ae_aae --steps 3000 --tag codes

bench.seq_autoencoders with this question's defaults: every model trains for the same number
of steps (not minutes: the VAE also runs an encoder), reloads its best checkpoint and is
evaluated on the first `--test-limit` test lines. Printed, in nats per character: char_lstm's
exact NLL, and the seq_vae's -ELBO and -IWAE-K (K=500); the code's KL in nats per line, active
units and I(x; z); for seq_ae_mmd, seq_ae_gan and seq_ae_aae (mmd_latent, gan_latent, aae),
the MMD of their new codes to the encoded test codes. The seq_vae has free bits 0.15 and a
bidirectional encoder (`--no-bidirectional`: Bowman et al.'s one-way encoder); `--feed-latent`
feeds z to its decoder at every step. Writes bench/results/seq_autoencoders_shakespeare_lines[_<tag>].json;
the models of one --tag may run in separate processes (one per core) and accumulate there.
"""

from bench.seq_autoencoders import main

if __name__ == "__main__":
    main(
        __doc__,
        data="shakespeare_lines",
        models=["char_lstm", "seq_vae_free_bits"],
        particles=500,
        steps=15000,
        minutes=None,
        free_bits=0.15,
        bidirectional=True,
        steps_per_epoch=250,
        valid_limit=500,
        test_limit=1000,
    )
