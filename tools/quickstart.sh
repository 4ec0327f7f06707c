#!/usr/bin/env bash
# The main job: installs what is missing, builds armor, and runs experiments/quickstart.toml
# (PGD adversarial training of a small MoE CNN on Fashion-MNIST), recording it in runs.db.
# Extra arguments are passed to `armor run` as overrides, e.g. `tools/quickstart.sh trainer.epochs=1`.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/build.sh --target armor armor_plugins
exec build/armor run experiments/quickstart.toml "$@"
