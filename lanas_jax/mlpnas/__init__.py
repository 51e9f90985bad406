"""MLPNAS (seed 001 Sec. 4-5, issue 16): an LSTM controller over MLPs, children trained as one
vmapped masked program, bigram weight sharing and the accuracy predictor.

``search.search(MLPNASConfig(...), splits, key)`` runs one search (the function is not
re-exported here: it would shadow its module :mod:`.search`); the children's
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
    write_back,
)
from lanas_jax.mlpnas.search import (
    VARIANTS,
    MLPNASConfig,
    SearchResult,
    init_controller,
    predict,
    sample,
    update,
)

__all__ = ["VARIANTS", "Bank", "ChildConfig", "FitResult", "MLPNASConfig", "SearchResult",
           "empty_bank", "finetune", "from_bank", "init_controller", "predict", "sample",
           "train_children", "update", "write_back"]
