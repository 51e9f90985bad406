"""TrainEvaluator: recipes, keys, batching, parameter counts, bad inputs (tiny MLPs on digits)."""

import dataclasses

import jax
import numpy as np
import pytest

from lanas_jax.data import load_dataset
from lanas_jax.evaluators.train import TrainEvaluator, TrainingDiverged
from lanas_jax.spaces.base import get_space, stack
from lanas_jax.spaces.mlp import MLPStack
from lanas_jax.training.recipe import RECIPES, Recipe, get_recipe

SPACE = MLPStack(max_layers=3)
RECIPE = Recipe(epochs=1, batch_size=32, learning_rate=3e-3)


@pytest.fixture(scope="module")
def splits():
    s = load_dataset("digits", n_val=100, n_test=100, seed=0)
    return dataclasses.replace(s, x_train=s.x_train[:256], y_train=s.y_train[:256])


@pytest.fixture(scope="module")
def evaluator(splits):
    return TrainEvaluator(SPACE, splits, RECIPE, vectorize=False)


def _archs(*texts):
    return stack([SPACE.parse(t) for t in texts])


# Three architectures of one group (widest layer 16): one compiled program for the batch.
SMALL = ("(16, relu)", "(8, tanh), dropout, (16, sigmoid)", "(16, elu), (8, relu)")


def test_recipes_are_hashable_round_trip_and_validated():
    r = get_recipe("convnet_digits_4ep")
    assert hash(r) == hash(Recipe(**r.to_dict())) and Recipe(**r.to_dict()) == r
    assert Recipe(seeds=[0, 1]).seeds == (0, 1)
    assert {"tiny", "digits_small", "mnist_small", "convnet_digits_4ep"} <= set(RECIPES)
    with pytest.raises(ValueError, match="known: convnet_digits_4ep, convnet_w16_40ep, digits"):
        get_recipe("huge")
    for bad in ({"optimizer": "lion"}, {"schedule": "step"}, {"seeds": ()}, {"seeds": (1, 1)},
                {"epochs": 0}, {"learning_rate": 0.0}, {"width": 7}, {"channels": 0}):
        with pytest.raises(ValueError, match="recipe"):
            Recipe(**bad)


def test_convnet_recipe_is_the_table_builders_defaults():
    from experiments import build_convnet_table as b

    r = get_recipe("convnet_digits_4ep")
    assert (r.epochs, r.batch_size, r.learning_rate, len(r.seeds)) == (
        b._EPOCHS.default, b._BATCH.default, b._LR.default, b._SEEDS.default)
    assert r.optimizer == "adam" and r.schedule == "constant" and r.weight_decay == 0


def test_optimizers_and_schedules_build(splits):
    for opt in ("adam", "sgd", "momentum"):
        for sched in ("constant", "cosine"):
            tx = Recipe(optimizer=opt, schedule=sched, weight_decay=1e-4).optax_optimizer(256)
            assert tx.init({"w": np.zeros(2)}) is not None


def test_mlp_param_count_matches_flax_network(evaluator):
    # (16, relu), dropout, (8, tanh) on 64 inputs, 10 classes, by hand:
    # 64*16 + 16 = 1,040; 16*8 + 8 = 136; head 8*10 + 10 = 90: 1,266.
    arch = SPACE.parse("(16, relu), dropout, (8, tanh)")
    assert evaluator.trainer.param_count(arch) == 1266
    net = SPACE.network(arch, 10)
    shapes = jax.eval_shape(net.init, jax.random.PRNGKey(0), np.zeros((1, 8, 8, 1), np.float32))
    assert sum(int(np.prod(p.shape)) for p in jax.tree.leaves(shapes)) == 1266


KEY = jax.random.PRNGKey(3)


@pytest.fixture(scope="module")
def batch(evaluator):
    return evaluator.train(_archs(*SMALL), KEY)


def test_batch_equals_one_by_one(batch, splits):
    assert batch.val.shape == (3,) and batch.val_per_seed.shape == (3, 1)
    one = TrainEvaluator(SPACE, splits, RECIPE, vectorize=False, max_batch=1)
    alone = one.train(_archs(SMALL[1]), KEY)
    # lax.map: the loop body is the same HLO for any batch size, so bitwise equal
    assert alone.val[0] == batch.val[1] and alone.loss_per_seed[0, 0] == batch.loss_per_seed[1, 0]
    assert (batch.params == [1210, 834, 1266]).all() and (batch.seconds > 0).all()


def test_same_key_same_values_whatever_the_batch_position(batch, evaluator):
    swapped = evaluator.train(_archs(SMALL[2], SMALL[1], SMALL[0]), KEY)
    np.testing.assert_array_equal(swapped.loss_per_seed[::-1], batch.loss_per_seed)
    typed = evaluator.train(_archs(*SMALL), jax.random.key(3))  # a typed key is the same key
    np.testing.assert_array_equal(typed.loss_per_seed, batch.loss_per_seed)
    other = evaluator.train(_archs(*SMALL), jax.random.PRNGKey(4))
    assert not np.array_equal(other.loss_per_seed, batch.loss_per_seed)


def test_vmapped_batch_equals_sequential_batch(batch, splits):
    # vmap (the accelerator path) computes the same networks, to float rounding
    vec = TrainEvaluator(SPACE, splits, RECIPE, vectorize=True).train(_archs(*SMALL), KEY)
    np.testing.assert_allclose(vec.loss_per_seed, batch.loss_per_seed, rtol=1e-5)
    np.testing.assert_allclose(vec.val, batch.val, atol=1 / 100 + 1e-6)


def test_a_trained_mlp_beats_chance(splits):
    ev = TrainEvaluator(SPACE, splits, Recipe(epochs=2, batch_size=32, learning_rate=1e-2),
                        vectorize=False)
    out = ev.evaluate(_archs("(64, relu)"), jax.random.PRNGKey(0))
    assert float(out.value[0]) > 0.5 and float(out.test[0]) > 0.5 and int(out.row[0]) == -1


def test_divergence_is_reported_never_a_good_value(splits):
    blowup = Recipe(epochs=1, batch_size=32, optimizer="sgd", learning_rate=1e30)
    ev = TrainEvaluator(SPACE, splits, blowup, vectorize=False)
    res = ev.train(_archs("(8, relu)"), jax.random.PRNGKey(0))
    assert res.diverged[0] and np.isnan(res.val[0]) and np.isnan(res.val_per_seed[0, 0])
    with pytest.raises(TrainingDiverged, match=r"\(8, relu\)"):
        ev.evaluate(_archs("(8, relu)"), jax.random.PRNGKey(0))
    zero = TrainEvaluator(SPACE, splits, blowup, vectorize=False, on_nan="zero")
    assert float(zero.evaluate(_archs("(8, relu)"), jax.random.PRNGKey(0)).value[0]) == 0.0


def test_bad_inputs_are_refused(evaluator, splits):
    with pytest.raises(ValueError, match="leading batch axis"):
        evaluator.train(SPACE.parse("(8, relu)"))
    with pytest.raises(ValueError, match="not a batch of mlp"):
        evaluator.train(stack([get_space("nb201").parse(
            "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")]))
    empty = jax.tree.map(lambda a: a[:0], _archs("(8, relu)"))
    with pytest.raises(ValueError, match="non-empty"):
        evaluator.train(empty)
    with pytest.raises(ValueError, match="images"):
        TrainEvaluator(get_space("convnet"), dataclasses.replace(
            splits, x_train=splits.x_train.reshape(256, -1), x_val=splits.x_val.reshape(100, -1),
            x_test=splits.x_test.reshape(100, -1)), RECIPE)
    with pytest.raises(ValueError, match="per-example shape"):
        TrainEvaluator(SPACE, dataclasses.replace(splits, x_val=splits.x_val[:, :4]), RECIPE)
    with pytest.raises(ValueError, match="labels"):
        TrainEvaluator(SPACE, dataclasses.replace(splits, y_test=splits.y_test + 10), RECIPE)
    with pytest.raises(ValueError, match="batch_size"):
        TrainEvaluator(SPACE, splits, Recipe(batch_size=1000))
    with pytest.raises(ValueError, match="on_nan"):
        TrainEvaluator(SPACE, splits, RECIPE, on_nan="ignore")
    bad = _archs("(8, relu)").replace(length=np.zeros(1, np.int32))
    with pytest.raises(ValueError, match="not an MLP architecture"):
        evaluator.train(bad)
    with pytest.raises(ValueError, match="PRNG key"):
        evaluator.train(_archs("(8, relu)"), np.zeros(3, np.uint32))
    assert not evaluator.jittable and evaluator.domain.space == SPACE


def test_augmentation_changes_training_and_stays_keyed(splits):
    """A recipe with pad-crop and flips trains on other images (another final loss), and the
    same key still gives the same numbers."""
    archs = _archs("(16, relu)")
    key = jax.random.PRNGKey(4)
    plain = TrainEvaluator(SPACE, splits, RECIPE, vectorize=False).train(archs, key)
    aug = dataclasses.replace(RECIPE, augment_pad=1, augment_flip=True)
    one = TrainEvaluator(SPACE, splits, aug, vectorize=False).train(archs, key)
    two = TrainEvaluator(SPACE, splits, aug, vectorize=False).train(archs, key)
    assert one.loss_per_seed[0, 0] != plain.loss_per_seed[0, 0]
    np.testing.assert_array_equal(one.loss_per_seed, two.loss_per_seed)
    np.testing.assert_array_equal(one.val, two.val)


def test_masked_programs_are_kept_and_static_ones_released():
    """A masked group's trainer (its architecture an input: all of NB201) is kept for the next
    chunk; a static network's (one NASNet cell) is released. Before this, NB201's masked model
    counted as static and every chunk of a sample table recompiled (70 s each on an H200)."""
    from lanas_jax.evaluators.train import _static
    from lanas_jax.training.models import SpaceTrainer

    for name, static in (("nb201", False), ("nasnet", True), ("convnet", False)):
        space = get_space(name)
        trainer = SpaceTrainer(space, (8, 8, 1), 10, get_recipe("tiny"))
        arch = space.sample(jax.random.PRNGKey(0))
        assert _static(trainer.model(trainer.group(space.to_host(arch)))) is static, name
