#!/usr/bin/env bash
# The GPU runs behind the accelerator figures of BUILD_NOTES.md, in stages that each fit one
# 10-minute device call. Run from the repository root; results go to $OUT (default results/gpu).
#
#   bash experiments/gpu_runs.sh table            # issue 3: convnet1364_digits, default recipe
#   bash experiments/gpu_runs.sh table1364        # issue 13: convnet1364, the reliable recipe
#   bash experiments/gpu_runs.sh nb201sample      # issue 14: 300 NB201 cells trained alone
#   bash experiments/gpu_runs.sh supernet         # issue 14: supernet speed, NB201 one-shot
#   bash experiments/gpu_runs.sh issue14          # issue 14: the two above in one call
#   bash experiments/gpu_runs.sh bench            # issues 4, 6, 2/7: sampler, VAE, search speed
#   bash experiments/gpu_runs.sh nuts             # issue 4: the NUTS rows alone (slow)
#   bash experiments/gpu_runs.sh continuous       # issue 4: continuous vs tabular LaNAS, 100 seeds
#   bash experiments/gpu_runs.sh studies fig6grid fig6rest fig4 fig7a sec2   # issue 5 items 5-8
#   bash experiments/gpu_runs.sh fig5 nb201_cifar10 convnet1364_digits   # issue 5: 100 seeds
#
# Each step has its own time limit (STEP_LIMIT seconds, default 400) so that one slow step
# cannot eat the others; a step that fails or times out prints FAILED and the next one runs.
set -uo pipefail
OUT="${OUT:-results/gpu}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
LIMIT="${STEP_LIMIT:-400}"

step() {  # step NAME CMD...: run CMD with a time limit, log to $OUT/NAME.log
  local name=$1
  shift
  echo "=== $name: $*"
  local t0=$SECONDS
  timeout "$LIMIT" "$@" 2>&1 | grep -v "^I0000\|^W0000" | tee "${LOGDIR:-$OUT}/$name.log"
  local rc=${PIPESTATUS[0]}
  echo "=== $name: rc $rc, $((SECONDS - t0)) s"
  [ "$rc" = 0 ] || echo "=== $name FAILED"
}

stage=${1:-}
shift || true
case "$stage" in
  table)
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    "$PY" -c "import jax, flax, optax, numpyro; print(jax.__version__, flax.__version__, \
optax.__version__, numpyro.__version__, jax.devices())"
    step table "$PY" -m experiments.build_convnet_table --output="$OUT/convnet1364_digits.npz"
    ;;
  table1364)  # width 16/8, 40 epochs cosine, 2 seeds (BUILD_NOTES 2026-11-30: the reliability)
    # In three row shards (depths 1-4, then the 1,024 depth-5 networks in two halves), merged
    # at the end, so a step that runs out of time still leaves the shards before it.
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    "$PY" -c "import jax, flax, optax; print(jax.__version__, flax.__version__, \
optax.__version__, jax.devices())"
    mkdir -p /tmp/shards
    for rows in 0:340 340:852 852:1364; do
      step "table1364_${rows/:/_}" "$PY" -m experiments.build_convnet_table \
        --recipe=convnet_w16_40ep --seeds=2 --max_group="${MAX_GROUP:-256}" --rows="$rows" \
        --output="/tmp/shards/convnet1364_${rows/:/_}.npz"
    done
    shards=$(ls /tmp/shards/convnet1364_*.npz | paste -sd, -)
    step table1364_merge "$PY" -m experiments.build_convnet_table --merge="$shards" \
      --output="$OUT/convnet1364.npz"
    ;;
  nb201sample)  # issue 14 item 5: ground truth of supernet ranking, ~4 min on an H200
    # 300 uniform NB201 cells x 2 seeds, recipe nb201_digits (0.26 s a network and seed + ~70 s
    # compile, probe of 2026-12-04). Chunks of 64 write $OUT/nb201_digits_sample.npz.partial.npz
    # as they finish: after a timeout, put that file back under $OUT and rerun the stage.
    "$PY" -c "import jax; print(jax.__version__, jax.devices())"
    LIMIT="${STEP_LIMIT:-540}" step nb201sample "$PY" -m experiments.build_sample_table \
      --space=nb201 --dataset=digits --recipe=nb201_digits --n=300 --seeds=2 --seed=0 \
      --chunk="${CHUNK:-64}" --output="$OUT/nb201_digits_sample.npz"
    ;;
  supernet)  # issue 14: supernet training speed (the NB201 recipe C=16, N=5, batch 64, 32x32)
    # and, when nb201sample left its table under $OUT, the NB201 one-shot run ranked against it.
    step bench_supernet "$PY" -m experiments.bench_supernet \
      --cases=convnet_im2col,convnet_xla,nb201,nasnet_switch,nasnet_onehot --steps=50 \
      --channels=16 --cells=5 --image=32 --output="$OUT/bench_supernet.json"
    if [ -f "$OUT/nb201_digits_sample.npz" ]; then
      step oneshot_nb201 "$PY" -m experiments.oneshot --space=nb201 --method=spos \
        --search=evolution --ground_truth="$OUT/nb201_digits_sample.npz" \
        --output_dir=/tmp/oneshot_nb201
      tar --exclude=checkpoints -C /tmp -cf "$OUT/oneshot_nb201.tar" oneshot_nb201
    fi
    ;;
  issue14)  # issue 14 in one device call (~9.5 min on an H200): the 300-cell NB201 table and
    # the NB201 supernet's training side by side (each with 45% of the GPU memory), then the
    # speed table alone, the one-shot run ranked against the table (--resume: not retrained),
    # the NASNet speed rows. At most 8 files come back: logs and run folders go in archives.
    # SAMPLE_N, SUPERNET_EPOCHS, BENCH_STEPS, RECIPE_NB201, RECIPE_SUPERNET, SCORE_IMAGES shrink
    # it for a smoke run on a CPU.
    "$PY" -c "import jax, flax, optax, orbax.checkpoint as o; print(jax.__version__, \
flax.__version__, optax.__version__, o.__version__, jax.devices())"
    export LOGDIR=/tmp/gpu_logs
    mkdir -p "$LOGDIR"
    pack() { tar -C /tmp -cf "$OUT/logs.tar" gpu_logs; }
    epochs=()
    [ -n "${SUPERNET_EPOCHS:-}" ] && epochs=(--epochs="$SUPERNET_EPOCHS")
    oneshot=("$PY" -m experiments.oneshot --space=nb201 --dataset=digits --method=spos
             --search=evolution --supernet_recipe="${RECIPE_SUPERNET:-supernet_nb201_digits}"
             "${epochs[@]}" --recipe="${RECIPE_NB201:-nb201_digits}"
             --score_images="${SCORE_IMAGES:-0}" --output_dir=/tmp/oneshot_nb201)
    export XLA_PYTHON_CLIENT_MEM_FRACTION=0.45
    LIMIT="${SAMPLE_LIMIT:-330}" step nb201sample "$PY" -m experiments.build_sample_table \
      --space=nb201 --dataset=digits --recipe="${RECIPE_NB201:-nb201_digits}" \
      --n="${SAMPLE_N:-300}" --seeds=2 --seed=0 --chunk="${CHUNK:-64}" \
      --output="$OUT/nb201_digits_sample.npz" &
    LIMIT="${SAMPLE_LIMIT:-330}" step oneshot_nb201_train "${oneshot[@]}" &
    wait
    unset XLA_PYTHON_CLIENT_MEM_FRACTION
    tar --exclude=checkpoints -C /tmp -cf "$OUT/oneshot_train.tar" oneshot_nb201
    pack
    LIMIT="${BENCH_LIMIT:-80}" step bench_supernet "$PY" -m experiments.bench_supernet \
      --cases=nb201,convnet_im2col,convnet_xla --steps="${BENCH_STEPS:-50}" --channels=16 \
      --cells=5 --image=32 --output="$OUT/bench_supernet.json"
    pack
    if [ -f "$OUT/nb201_digits_sample.npz" ]; then
      LIMIT="${RANK_LIMIT:-110}" step oneshot_nb201 "${oneshot[@]}" --resume \
        --ground_truth="$OUT/nb201_digits_sample.npz"
      tar --exclude=checkpoints -C /tmp -cf "$OUT/oneshot_nb201.tar" oneshot_nb201
      pack
    fi
    LIMIT="${NASNET_LIMIT:-60}" step bench_nasnet "$PY" -m experiments.bench_supernet \
      --cases=nasnet_switch,nasnet_onehot --steps="${BENCH_STEPS:-50}" --image=32 \
      --output="$OUT/bench_nasnet.json"
    pack
    ls -la "$OUT"
    ;;
  bench)
    step bench_vae "$PY" -m experiments.bench_vae --output="$OUT/bench_vae.json"
    step bench_samplers "$PY" -m experiments.bench_samplers --output="$OUT/bench_samplers.json"
    step bench_search "$PY" -m experiments.bench_search --output_dir="$OUT"
    ;;
  nuts)
    step bench_nuts "$PY" -m experiments.bench_samplers --samplers=nuts \
      --output="$OUT/bench_nuts.json"
    ;;
  continuous)
    step bench_continuous "$PY" -m experiments.bench_continuous --seeds=100 --budget=1000 \
      --configs="${CONFIGS:-tabular,hit_and_run:16,hit_and_run:64,nuts:16}" \
      --output="$OUT/bench_continuous.json"
    ;;
  studies)  # issue 5 items 5-8, each binary's outputs packed into one archive
    for study in "$@"; do
      mod=$study
      case "$study" in
        fig6grid) mod=fig6; args=(--seeds=100 --budget=0 --parts=grid --heights=3,5,7,8
                                  --selects=10,20,50,100) ;;
        fig6rest) mod=fig6; args=(--seeds=100 --budget=0 --parts=node_model,init) ;;
        fig4) args=(--seeds=100 --budget=5000 --lanas_selects=100 --lanas_init=200) ;;
        fig7a) args=(--seeds=100) ;;
        sec2) args=(--seeds=100) ;;
        *) echo "unknown study $study" >&2; exit 2 ;;
      esac
      step "$study" "$PY" -m "experiments.$mod" "${args[@]}" --output_dir="$OUT/$study"
      tar -C "$OUT" -cf "$OUT/$study.tar" "$study" "$study.log" && rm -rf "${OUT:?}/$study" "$OUT/$study.log"
    done
    ;;
  fig5)
    for bench in "$@"; do
      step "fig5_$bench" "$PY" -m experiments.fig5 --benchmarks="$bench" --seeds=100 \
        --budget="${BUDGET:-0}" --output_dir="$OUT/fig5_$bench"
      # the device returns at most 8 files: one archive per benchmark
      tar -C "$OUT" -cf "$OUT/fig5_$bench.tar" "fig5_$bench" && rm -rf "${OUT:?}/fig5_$bench"
    done
    ;;
  *)
    echo "usage: bash experiments/gpu_runs.sh table | table1364 | nb201sample | bench | nuts | continuous | studies STUDY... | fig5 BENCHMARK..." >&2
    exit 2
    ;;
esac
