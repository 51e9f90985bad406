"""An asynchronous, fault-tolerant, resumable evaluation farm (issue 17 items 1-3).

- :mod:`~lanas_jax.farm.tasks`: what a worker runs (picklable evaluation callables);
- :mod:`~lanas_jax.farm.executor`: where it runs (in the driver, or as Ray tasks), with
  injected worker deaths for tests;
- :mod:`~lanas_jax.farm.async_loop`: the asynchronous ask / tell loop over an executor;
- :mod:`~lanas_jax.farm.checkpoint`: its versioned, atomic on-disk state.
"""
