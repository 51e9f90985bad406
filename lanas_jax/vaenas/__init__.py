"""VAENAS (seed 002): an LSTM VAE that learns the distribution of good architectures.

* :mod:`~lanas_jax.vaenas.tokens`: architectures as token sequences (NB201, one-hot tables).
* :mod:`~lanas_jax.vaenas.nb101`: NAS-Bench-101 tokens and Appendix A.5's top-9 sampling.
* :mod:`~lanas_jax.vaenas.nb101_cells`: decoded NB101 tokens -> cells of the NB101 space and
  rows of an NB101 table, found up to isomorphism by the table's own pool lookup.
* :mod:`~lanas_jax.vaenas.token_space`: how a benchmark's rows are tokens and decodes become
  rows: one-hot slot tables (NB201) or NAS-Bench-101.
* :mod:`~lanas_jax.vaenas.model`: the encoder, decoder and ELBO (Sec. 3.2, Eq. 2).
* :mod:`~lanas_jax.vaenas.train`: Alg. 1 (train on the top K%) with optax.
* :mod:`~lanas_jax.vaenas.sampler`: VAE samples -> candidate rows of a token table
  (:func:`propose`, LaNAS's VAE leaf sampler).
* :mod:`~lanas_jax.vaenas.views`: a search domain as tokens, and decodes -> new architectures.
* :mod:`~lanas_jax.vaenas.strategy`: Eq. 5's mixture sampler as the ``vaenas`` strategy.
* :mod:`~lanas_jax.vaenas.seeding`: searches whose first queries come from a trained VAE.
"""
