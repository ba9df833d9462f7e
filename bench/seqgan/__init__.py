"""Adversarial text on the field's own oracle: one table of token generators on SeqGAN's synthetic
benchmark, ours measured side by side at one budget, the published figures beside them.

    python -m bench.seqgan --oracle seqgan                       # the table: 3 seeds, about 40 min on a CPU
    python -m bench.seqgan --oracle seqgan --seeds 0 --mle-steps 200 --adversarial-minutes 0.5 --tag smoke
    python -m bench.seqgan --oracle seqgan --adversarial-steps 40   # the same generator updates, not minutes
    python -m bench.seqgan --oracle seqgan --paper               # SeqGAN's own schedule (a GPU's work)
    python -m bench.seqgan --oracle seqgan --mle-schedule paper --mle-minutes 20 --tag paper_mle
    python -m bench.seqgan --oracle random                       # the same table on a fresh N(0, 1) oracle
    python -m bench.seqgan --data shakespeare_lines --hidden 128 --embedding 32 --lr 0.002

Rows (`--rows`), each char_lstm with SeqGAN's generator sizes (embedding and hidden 32, batch 64):

    untrained    the seed's initial weights, as `python -m zoo.run` draws them (the "random" row)
    mle          `python -m zoo.run model=char_lstm data=oracle data.oracle=<oracle> ...`: at most
                 `--mle-steps` of Adam (`--lr`, SeqGAN's 0.01), halved on a plateau, stopped early on
                 the validation NLL; its best checkpoint is the MLE generator. `--mle-schedule paper`
                 trains as sequence_gan.py does (120 epochs of 156 steps at Adam 0.01, no stopping) and
                 the last checkpoint is the generator; `--mle-minutes` caps either schedule
    seqgan_cnn   from that seed's MLE checkpoint (`train.init`), `objective=seqgan` with SeqGAN's
    seqgan_rnn   convolutional discriminator, or with an LSTM one: D trains alone for
                 `--discriminator-steps` steps (`objective.discriminator_warmup_steps`), then each
                 step is one REINFORCE update of G with `--rollouts` Monte Carlo rollouts and one D step
    gumbel_gan   from the same checkpoint, `objective=gumbel_gan` (RelGAN's relaxation, RSGAN loss,
                 5 D steps per G step, beta rising from 1 towards 1000 over 5,000 steps)

The adversarial rows get one budget: `--adversarial-minutes` of wall time each (train.max_minutes,
D's warm-up included) or, with `--adversarial-steps`, that many generator updates each; all with
Adam at `--adversarial-lr`. The defaults (1,200 MLE steps, 1.5 adversarial minutes, 4 rollouts)
fit 3 seeds in about 40 minutes on one CPU thread; SeqGAN's own schedule is a thousand times
larger, which the table's header says. Columns, nats per token, mean ± sd over `--seeds`:

    NLL-oracle   the oracle's NLL of `--samples` sequences drawn from the generator
    NLL-test     the generator's exact NLL of the oracle's 2,000 test sequences
    BLEU-2..5    mean sentence BLEU (NLTK's, smoothing 1) of `--bleu-samples` drawn sequences against
                 the oracle's test sequences as references; self-BLEU-2..5 of the same against each other
    2-sample     a classifier two-sample test (zoo.evaluation.two_sample) of `--two-sample` N drawn against
                 N test sequences: held-out accuracy, 0.5 when the classifier cannot tell them apart
    its own D    the adversarial run's discriminator, from its checkpoint, on `--samples` drawn sequences
                 and as many held-out test sequences: its accuracy, 0.5 when its rewards know nothing of
                 the oracle beyond chance; in brackets the share of training sequences (its real class)
                 it calls real, far above the held-out ones' when it has learnt them by heart
    G updates    the generator's updates: to the best checkpoint for MLE, after D's warm-up for SeqGAN
    minutes      the cell's training time (D's warm-up included; start-up and measurement not)

next to the oracle's own held-out sequences (its validation split scored as a generator's samples
would be: the floor and the scale of every column) and a uniform generator. Each cell (row, seed)
is one `python -m zoo.run` in its own folder, bench/results/seqgan/<oracle>/<tag>/<row>/seed<k>/;
a finished cell is skipped, an interrupted one resumes, a cell trained with other options is
refused (use another `--tag`), and its measurement is kept beside it, so the table accumulates
over several invocations. Every cell records its command, budget and hardware in
bench/results/seqgan_<oracle>_<tag>.json. `--paper` trains MLE for SeqGAN's 120 epochs (18,720
steps, every weight drawn from N(0, 0.1^2) as SeqGAN's generator.py draws them) and gives each
SeqGAN row SeqGAN's schedule and loss (those of `experiment=seqgan`: D pre-trained on 50 rounds of
10,000 fresh negatives, then 200 generator steps each after 5 rounds, rewards without a baseline;
a warm-up pass over the training data fills the pool of real sequences first) and gumbel_gan RelGAN's (3,000
steps, Adam 1e-4, beta_max 100): days on a CPU, so each method at its own paper's budget.

Published NLL-oracle on SeqGAN's oracle (their runs, printed beside ours): Yu et al. 2017 Table 1,
Lin et al. 2017 (RankGAN), Guo et al. 2018 (LeakGAN, sequences of 20), Nie et al. 2019 (RelGAN);
PUBLISHED says which we found in a stored copy of a source and which are only as cited.

`--data shakespeare_lines` keeps the text comparison: MLE then SeqGAN (LSTM D) in this process,
with the sample statistics of zoo.evaluation.sample_stats against held-out lines; it writes
bench/results/seqgan_shakespeare_lines.json.

The modules: cells (each cell's zoo.run options, trained or resumed), measure (the columns of one
cell), frontier (the MLE generator's temperature curve and each adversarial cell against it), table
(the grid, its Markdown, JSON and pictures), text (the shakespeare_lines comparison) and cli.
"""
