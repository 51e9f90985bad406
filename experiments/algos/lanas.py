"""Flags of LaNAS (seed 000, Sec. 3 and 4.2)."""

from absl import flags

from experiments.algos import builder
from lanas_jax.partition.lanas import (
    EMPTY_LEAF_RULES,
    LEAF_SAMPLERS,
    NODE_MODELS,
    LaNAS,
    LaNASParams,
)

_HEIGHT = flags.DEFINE_integer("lanas_height", 5, "LaNAS tree height (levels).")
_SELECTS = flags.DEFINE_integer(
    "lanas_selects", 20, "LaNAS #selects between refits (paper Sec. 4.2: 100)."
)
_INIT = flags.DEFINE_integer(
    "lanas_init", 10, "LaNAS uniformly random initial samples (paper Sec. 4.2: 400)."
)
_CP = flags.DEFINE_float("lanas_cp", 0.1, "LaNAS UCB exploration constant Cp.")
_RIDGE = flags.DEFINE_float("lanas_ridge", 1e-3, "LaNAS relative ridge strength.")
_EMPTY = flags.DEFINE_enum(
    "lanas_empty_leaf", "first_nonempty", list(EMPTY_LEAF_RULES), "LaNAS empty-leaf rule."
)
_NODE_MODEL = flags.DEFINE_enum(
    "lanas_node_model", "linear", list(NODE_MODELS),
    "LaNAS node regressor: linear (the paper's) or mlp (the Fig. 6b ablation; table leaf "
    "samplers only).",
)
_MLP_HIDDEN = flags.DEFINE_integer("lanas_mlp_hidden", 32, "LaNAS MLP nodes: hidden width.")
_MLP_STEPS = flags.DEFINE_integer(
    "lanas_mlp_steps", 200, "LaNAS MLP nodes: full-batch Adam steps per refit."
)
_MLP_LR = flags.DEFINE_float("lanas_mlp_learning_rate", 1e-2, "LaNAS MLP nodes: Adam rate.")

_SAMPLER = flags.DEFINE_enum(
    "leaf_sampler", "tabular", list(LEAF_SAMPLERS),
    "How LaNAS draws inside a leaf: an unseen table entry routed there (tabular), or points "
    "of the leaf's polytope, discretised and looked up (hit_and_run, nuts; NB201 tables), or "
    "an unseen entry of the leaf proposed by a VAE trained on the top-K% (vae; one-hot tables).",
)
_PROPOSALS = flags.DEFINE_integer(
    "lanas_proposals", 16, "Continuous LaNAS: polytope points drawn per query."
)
_BURN_IN = flags.DEFINE_integer("lanas_burn_in", 10, "Continuous LaNAS: hit-and-run burn-in.")
_THIN = flags.DEFINE_integer("lanas_thin", 3, "Continuous LaNAS: hit-and-run thinning.")
_NUTS_WARMUP = flags.DEFINE_integer(
    "lanas_nuts_warmup", 20, "Continuous LaNAS: NUTS adaptation draws per query."
)
_NUTS_DEPTH = flags.DEFINE_integer("lanas_nuts_depth", 5, "Continuous LaNAS: NUTS tree depth.")
_IN_LEAF = flags.DEFINE_bool(
    "lanas_require_in_leaf", True,
    "Continuous LaNAS: prefer proposals whose discretised cell routes into the chosen leaf.",
)

_VAE_VOCAB = flags.DEFINE_integer("lanas_vae_vocab", 5, "VAE leaf sampler: choices per slot.")
_VAE_TRIES = flags.DEFINE_integer("lanas_vae_tries", 4, "VAE leaf sampler: decodes per query.")
_VAE_TOP = flags.DEFINE_float(
    "lanas_vae_top_frac", 0.25, "VAE leaf sampler: Alg. 1's K, the top fraction trained on."
)
_VAE_ITERS = flags.DEFINE_integer(
    "lanas_vae_iters", 200, "VAE leaf sampler: training steps at each LaNAS refit."
)
_VAE_BATCH = flags.DEFINE_integer("lanas_vae_batch_size", 64, "VAE leaf sampler: batch size.")
_VAE_LR = flags.DEFINE_float("lanas_vae_learning_rate", 3e-3, "VAE leaf sampler: Adam rate.")


@builder("lanas")
def build():
    strategy = LaNAS(
        tree_height=_HEIGHT.value,
        num_selects=_SELECTS.value,
        num_init=_INIT.value,
        empty_leaf=_EMPTY.value,
        leaf_sampler=_SAMPLER.value,
        num_proposals=_PROPOSALS.value,
        burn_in=_BURN_IN.value,
        thin=_THIN.value,
        nuts_warmup=_NUTS_WARMUP.value,
        nuts_depth=_NUTS_DEPTH.value,
        require_in_leaf=_IN_LEAF.value,
        vae_vocab=_VAE_VOCAB.value,
        vae_tries=_VAE_TRIES.value,
        vae_top_frac=_VAE_TOP.value,
        vae_iters=_VAE_ITERS.value,
        vae_batch_size=_VAE_BATCH.value,
        vae_learning_rate=_VAE_LR.value,
        node_model=_NODE_MODEL.value,
        mlp_hidden=_MLP_HIDDEN.value,
        mlp_steps=_MLP_STEPS.value,
        mlp_learning_rate=_MLP_LR.value,
    )
    return strategy, LaNASParams(cp=_CP.value, ridge=_RIDGE.value)
