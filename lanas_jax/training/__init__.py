"""Training: recipes (:mod:`.recipe`), the shared optax loop (:mod:`.loop`), masked programs
per space (:mod:`.convnet`, :mod:`.masked_mlp`, :mod:`.masked_nb201`), the static flax path
(:mod:`.static`) and their dispatch (:mod:`.models`); the evaluator is
:class:`lanas_jax.evaluators.train.TrainEvaluator`."""
