"""Gradient-based architecture search on the supernets: the continuous relaxation
(:mod:`~lanas_jax.gradient.mixed`), DARTS (:mod:`~lanas_jax.gradient.darts`) and GDAS
(:mod:`~lanas_jax.gradient.gdas`)."""
