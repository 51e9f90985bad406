"""Flags of the VAENAS sampler (seed 002, Eq. 5, Alg. 1-2).

The paper gives no values for the VAE's sizes or optimisation; the defaults here are this
project's (BUILD_NOTES.md). ``--vaenas_top_frac`` is Alg. 1's K (Fig. 1: top 50%; Table 4:
1500 of 6000 = 25%).
"""

from absl import flags

from experiments.algos import builder
from lanas_jax.vaenas.model import VAESizes
from lanas_jax.vaenas.strategy import VAENAS, VAENASParams
from lanas_jax.vaenas.train import TrainConfig

_N_VAE = flags.DEFINE_integer("vaenas_n_vae", 100, "VAENAS: queries between VAE trainings.")
_EPS_INC = flags.DEFINE_float(
    "vaenas_eps_inc", 1e-3, "VAENAS: growth of eps (the VAE's share of Eq. 5) per query."
)
_TOP = flags.DEFINE_float("vaenas_top_frac", 0.25, "VAENAS: Alg. 1's K, as a fraction.")
_ITERS = flags.DEFINE_integer("vaenas_iters", 200, "VAENAS: Adam steps per VAE training.")
_BATCH = flags.DEFINE_integer("vaenas_batch", 64, "VAENAS: VAE minibatch size.")
_LR = flags.DEFINE_float("vaenas_lr", 3e-3, "VAENAS: VAE Adam learning rate.")
_HIDDEN = flags.DEFINE_integer("vaenas_hidden", 32, "VAENAS: LSTM hidden units.")
_LATENT = flags.DEFINE_integer("vaenas_latent", 8, "VAENAS: latent dimensions.")
_EMBED = flags.DEFINE_integer("vaenas_embed", 16, "VAENAS: token / position embedding width.")
_TRIES = flags.DEFINE_integer(
    "vaenas_tries", 4, "VAENAS: decodes per proposal before the nearest unseen row is taken."
)
_VOCAB = flags.DEFINE_integer(
    "vaenas_vocab", 5, "VAENAS: choices per one-hot feature slot (NB201: 5 ops)."
)


def train_config() -> TrainConfig:
    """The VAE's sizes and Alg. 1's settings from the flags (shared with the Table 4 binary)."""
    config = TrainConfig(
        sizes=VAESizes(embed=_EMBED.value, hidden=_HIDDEN.value, latent=_LATENT.value),
        learning_rate=_LR.value,
        batch_size=_BATCH.value,
        n_iters=_ITERS.value,
        top_frac=_TOP.value,
    )
    config.validate()
    return config


@builder("vaenas")
def build():
    c = train_config()
    strategy = VAENAS(
        vocab=_VOCAB.value, n_vae=_N_VAE.value, tries=_TRIES.value, top_frac=c.top_frac,
        n_iters=c.n_iters, vae_batch_size=c.batch_size, learning_rate=c.learning_rate,
        embed=c.sizes.embed, hidden=c.sizes.hidden, latent=c.sizes.latent,
    )
    return strategy, VAENASParams(eps_inc=_EPS_INC.value)
