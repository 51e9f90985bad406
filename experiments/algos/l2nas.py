"""Flags of L2NAS (seed 003: DDPG with a quantile-regression critic)."""

from experiments.algos import register
from lanas_jax.config import ConfigFlags, FlagSpec
from lanas_jax.strategies.l2nas import L2NAS, REPEAT_RULES, REWARDS, L2NASParams

STRATEGY = ConfigFlags(
    L2NAS,
    "l2nas_",
    rename={"replay_batch_size": "l2nas_batch", "num_updates": "l2nas_updates",
            "buffer_size": "l2nas_buffer", "num_random": "l2nas_random"},
    overrides={"reward": FlagSpec(choices=REWARDS),
               "repeats": FlagSpec(
                   choices=REPEAT_RULES,
                   help="L2NAS: when Discretize lands on a queried cell, query the best unseen "
                        "cell by the actor's scores (unseen) or query it again at the cost of "
                        "one query (requery).")},
    exclude=("num_ops",),
)
PARAMS = ConfigFlags(
    L2NASParams,
    "l2nas_",
    overrides={
        "tau": FlagSpec(help="L2NAS critic quantile (seed: 0.9 or 0.95)."),
        "noise": FlagSpec(help="L2NAS exploration noise std."),
        "actor_lr": FlagSpec(help="L2NAS actor Adam learning rate."),
        "critic_lr": FlagSpec(help="L2NAS critic Adam learning rate."),
        "acc_env": FlagSpec(
            help="L2NAS Acc(Env) of the normalized reward (<= 0: best seen so far)."),
    },
)


def _check(strategy: L2NAS, params: L2NASParams) -> None:
    if not 0.0 < params.tau < 1.0:
        raise ValueError(f"--l2nas_tau must be in (0, 1), got {params.tau}")


register("l2nas", STRATEGY, PARAMS, _check)
