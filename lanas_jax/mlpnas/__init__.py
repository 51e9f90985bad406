"""MLPNAS (seed 001 Sec. 4-5, issue 16): an LSTM controller over MLPs, children trained as one
vmapped masked program, bigram weight sharing and the accuracy predictor.

``search.search(MLPNASConfig(...), splits, key)`` runs one search and
``search.search_seeds(cfg, splits, keys)`` several vmapped (not re-exported here: they would
shadow their module :mod:`.search`), both resumable from a checkpoint directory; the children's
trainer and the bigram bank are in :mod:`.children`. The space is the ``mlp`` space
(:class:`~lanas_jax.spaces.mlp.MLPStack`, ``max_layers=10``), the controller
:class:`~lanas_jax.controller.lstm.TokenController`.
"""

from lanas_jax.mlpnas.children import (
    Bank,
    ChildConfig,
    FitResult,
    empty_bank,
    finetune,
    from_bank,
    train_children,
    train_children_seeds,
    write_back,
)
from lanas_jax.mlpnas.controller import (
    VARIANTS,
    MLPNASConfig,
    init_controller,
    predict,
    sample,
    sample_seeds,
    update,
    update_seeds,
)
from lanas_jax.mlpnas.search import SearchResult

__all__ = ["VARIANTS", "Bank", "ChildConfig", "FitResult", "MLPNASConfig", "SearchResult",
           "empty_bank", "finetune", "from_bank", "init_controller", "predict", "sample",
           "sample_seeds", "train_children", "train_children_seeds", "update", "update_seeds",
           "write_back"]
