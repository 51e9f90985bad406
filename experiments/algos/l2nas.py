"""Flags of L2NAS (seed 003: DDPG with a quantile-regression critic)."""

from absl import flags

from experiments.algos import builder
from lanas_jax.strategies.l2nas import L2NAS, REPEAT_RULES, REWARDS, L2NASParams

_TOP_K = flags.DEFINE_integer("l2nas_top_k", 10, "L2NAS: architectures kept by the environment.")
_HIDDEN = flags.DEFINE_list("l2nas_hidden", ["64", "64"], "L2NAS: actor/critic hidden widths.")
_BATCH = flags.DEFINE_integer("l2nas_batch", 32, "L2NAS: replayed transitions per update.")
_UPDATES = flags.DEFINE_integer("l2nas_updates", 3, "L2NAS: gradient steps after every query.")
_BUFFER = flags.DEFINE_integer("l2nas_buffer", 1000, "L2NAS: replay buffer capacity.")
_RANDOM = flags.DEFINE_integer("l2nas_random", 10, "L2NAS: initial uniformly random actions.")
_REWARD = flags.DEFINE_enum("l2nas_reward", "normalized", list(REWARDS), "L2NAS reward.")
_REPEATS = flags.DEFINE_enum(
    "l2nas_repeats",
    "unseen",
    list(REPEAT_RULES),
    "L2NAS: when Discretize lands on a queried cell, query the best unseen cell by the actor's "
    "scores (unseen) or query it again at the cost of one query (requery).",
)
_TAU = flags.DEFINE_float("l2nas_tau", 0.9, "L2NAS critic quantile (seed: 0.9 or 0.95).")
_NOISE = flags.DEFINE_float("l2nas_noise", 0.3, "L2NAS exploration noise std.")
_ACTOR_LR = flags.DEFINE_float("l2nas_actor_lr", 3e-3, "L2NAS actor Adam learning rate.")
_CRITIC_LR = flags.DEFINE_float("l2nas_critic_lr", 3e-3, "L2NAS critic Adam learning rate.")
_ACC_ENV = flags.DEFINE_float(
    "l2nas_acc_env", 0.0, "L2NAS Acc(Env) of the normalized reward (<= 0: best seen so far)."
)


def _hidden() -> tuple[int, ...]:
    try:
        return tuple(int(h) for h in _HIDDEN.value)
    except ValueError as e:
        raise ValueError(f"--l2nas_hidden must be integers, got {_HIDDEN.value}") from e


@builder("l2nas")
def build():
    strategy = L2NAS(
        top_k=_TOP_K.value,
        hidden=_hidden(),
        replay_batch_size=_BATCH.value,
        num_updates=_UPDATES.value,
        buffer_size=_BUFFER.value,
        num_random=_RANDOM.value,
        reward=_REWARD.value,
        repeats=_REPEATS.value,
    )
    params = L2NASParams(
        tau=_TAU.value,
        noise=_NOISE.value,
        actor_lr=_ACTOR_LR.value,
        critic_lr=_CRITIC_LR.value,
        acc_env=_ACC_ENV.value,
    )
    if not 0.0 < _TAU.value < 1.0:
        raise ValueError(f"--l2nas_tau must be in (0, 1), got {_TAU.value}")
    return strategy, params
