"""Weight-sharing supernets and one-shot NAS (issue 14): see :mod:`lanas_jax.supernet.base`."""
