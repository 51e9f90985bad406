"""Flags of LaNAS (seed 000, Sec. 3 and 4.2): one per field of ``LaNASConfig`` / ``LaNASParams``
(the flat config builds the composed ``LaNAS``)."""

from experiments.algos import register
from lanas_jax.config import ConfigFlags, FlagSpec
from lanas_jax.partition.lanas import (
    EMPTY_LEAF_RULES,
    LEAF_SAMPLERS,
    NODE_MODELS,
    LaNASParams,
)
from lanas_jax.partition.lanas_config import LaNASConfig

STRATEGY = ConfigFlags(
    LaNASConfig,
    "lanas_",
    rename={"tree_height": "lanas_height", "num_selects": "lanas_selects",
            "num_init": "lanas_init", "num_proposals": "lanas_proposals",
            "leaf_sampler": "leaf_sampler"},
    overrides={"empty_leaf": FlagSpec(choices=EMPTY_LEAF_RULES),
               "leaf_sampler": FlagSpec(choices=LEAF_SAMPLERS),
               "node_model": FlagSpec(choices=NODE_MODELS)},
    exclude=("vae_embed", "vae_hidden", "vae_latent"),
)
PARAMS = ConfigFlags(
    LaNASParams,
    "lanas_",
    overrides={"cp": FlagSpec(help="LaNAS UCB exploration constant Cp."),
               "ridge": FlagSpec(help="LaNAS relative ridge strength.")},
)
register("lanas", STRATEGY, PARAMS, make=LaNASConfig.build)
# Not in seed 000: LaNAS with half its queries one-edit mutations of the 5 best evaluated
# architectures (``LocalMix``), which removes the tail of seeds whose optimum is routed into a
# leaf UCB starves (experiments/lanas_tail.py; BUILD_NOTES issue 18). Same flags as ``lanas``.
TAILFREE = {"local_frac": 0.5, "local_top": 5, "local_tries": 8}
register("lanas_tailfree", STRATEGY, PARAMS, make=LaNASConfig.build, preset=TAILFREE)
