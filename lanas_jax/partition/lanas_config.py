"""LaNAS's flat configuration: one field per flag, building the composed strategy.

The binaries generate their ``--lanas_*`` flags from :class:`LaNASConfig`'s fields
(``lanas_jax.config``); :meth:`LaNASConfig.build` turns it into
``LaNAS(partition, sampler, ...)``. ``LaNAS(**flat)`` accepts the same keywords.
"""

from __future__ import annotations

import dataclasses

from lanas_jax.partition.lanas import LaNAS


@dataclasses.dataclass(frozen=True)
class LaNASConfig:
    """Latent Action NAS (seed 000) with one field per choice.

    Attributes:
      tree_height: levels of the fixed binary tree (5: 31 nodes, 16 leaves).
      num_selects: queries between two refits of the tree (#selects).
      num_init: uniformly random queries before the first fit (counted in the budget).
        The defaults are the reference code's (height 5, 20 selects, 10 initial samples);
        the paper's Sec. 4.2 study used 100 selects and 400 initial samples.
      empty_leaf: what to do when UCB picks a leaf with no candidate left:
        ``"first_nonempty"`` samples the leftmost non-empty leaf (the reference code);
        ``"skip"`` never walks into an exhausted subtree.
      leaf_sampler: how a query draws inside the selected leaf: ``"tabular"`` (an unseen
        table entry routed there; the default), ``"hit_and_run"`` or ``"nuts"`` (points of the
        leaf's polytope discretised through the space, Sec. 3.2 step 2 / Sec. 4.3), or
        ``"vae"`` (an unseen entry of the leaf proposed by a VAE trained on the top
        ``vae_top_frac`` of the evaluated entries at every refit; one-hot slot features only).
      num_proposals, burn_in, thin: continuous mode: points drawn per query, and the
        hit-and-run chain's burn-in after a restart and thinning.
      nuts_warmup, nuts_depth: continuous mode with NUTS: adaptation draws per query and
        the tree-depth cap.
      require_in_leaf: continuous mode: prefer proposals whose discretised cell the tree
        routes into the selected leaf.
      vae_vocab, vae_tries, vae_top_frac, vae_iters, vae_batch_size, vae_learning_rate:
        VAE leaf sampler: choices per one-hot slot, decodes per query, Alg. 1's ``K``, steps
        per refit, batch size, Adam learning rate (seed 002).
      vae_embed, vae_hidden, vae_latent: the VAE's widths.
      node_model: the node regressor: ``"linear"`` (the paper's) or ``"mlp"`` (Fig. 6b's
        alternative: one hidden layer of ``mlp_hidden`` tanh units, trained from scratch at
        every refit by ``mlp_steps`` full-batch Adam steps at ``mlp_learning_rate``). Table
        samplers only: an MLP leaf is not a polytope.
      mlp_hidden, mlp_steps, mlp_learning_rate: the MLP node model's width, steps and rate.
      local_frac, local_top, local_tries: local search mixed into the leaf sampler
        (:class:`~lanas_jax.partition.samplers.LocalMix`, not in seed 000): the fraction of
        queries that mutate one of the ``local_top`` best evaluated architectures (the first
        new one of ``local_tries`` one-edit mutations). 0 (the default) is the paper's LaNAS.
    """

    tree_height: int = 5
    num_selects: int = 20
    num_init: int = 10
    empty_leaf: str = "first_nonempty"
    leaf_sampler: str = "tabular"
    num_proposals: int = 16
    burn_in: int = 10
    thin: int = 3
    nuts_warmup: int = 20
    nuts_depth: int = 5
    require_in_leaf: bool = True
    vae_vocab: int = 5
    vae_tries: int = 4
    vae_top_frac: float = 0.25
    vae_iters: int = 200
    vae_batch_size: int = 64
    vae_learning_rate: float = 3e-3
    vae_embed: int = 16
    vae_hidden: int = 32
    vae_latent: int = 8
    node_model: str = "linear"
    mlp_hidden: int = 32
    mlp_steps: int = 200
    mlp_learning_rate: float = 1e-2
    local_frac: float = 0.0
    local_top: int = 5
    local_tries: int = 8

    def build(self) -> LaNAS:
        """The composed strategy these choices name."""
        return LaNAS(**dataclasses.asdict(self))
