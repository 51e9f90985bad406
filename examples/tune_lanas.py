r"""LaNAS as a Ray Tune searcher on NAS-Bench-201 (seed 000 Alg. 1 inside ``tune.Tuner``).

The trainable looks each architecture up in the embedded NAS-Bench-201 CIFAR-10 table instead of
training it, so this runs on a CPU in well under a minute; replace ``trainable`` with your own
training (``config["arch"]`` is the architecture, ``NB201().parse`` builds it).

  python -m examples.tune_lanas     # from the repository root
"""

import ray
from ray import tune

from lanas_jax.benchmarks import load_benchmark
from lanas_jax.evaluators.table import from_benchmark
from lanas_jax.integrations.tune import StrategySearcher, table_archs

BUDGET = 40


def trainable(config, accuracy):
    """A stand-in for training: the table's validation accuracy of ``config["arch"]``."""
    tune.report({"accuracy": accuracy[config["arch"]]})


def main():
    table = from_benchmark(load_benchmark("nb201_cifar10"))  # 15,625 NB201 cells
    accuracy = dict(zip(table_archs(table), table.metric.tolist(), strict=True))
    searcher = StrategySearcher("lanas", table, budget=BUDGET, metric="accuracy", mode="max",
                                seed=0, num_init=10, num_selects=10)
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        tuner = tune.Tuner(
            tune.with_parameters(trainable, accuracy=accuracy),
            tune_config=tune.TuneConfig(search_alg=searcher, num_samples=BUDGET,
                                        max_concurrent_trials=2, reuse_actors=True),
            run_config=tune.RunConfig(verbose=0),
        )
        best = tuner.fit().get_best_result("accuracy", "max")
    finally:
        ray.shutdown()
    print(f"best of {BUDGET}: {best.config['arch']} accuracy {best.metrics['accuracy']:.4f} "
          f"(table optimum {table.optimum:.4f})")


if __name__ == "__main__":
    main()
