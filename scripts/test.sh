#!/usr/bin/env bash
# Install everything the checks need on a bare Debian machine, then run lint, type checks and every
# test, once, in a shuffled order (the seed is printed: FACESEARCH_TEST_SEED=N replays it). Then, unless FACESEARCH_SKIP_LOWEST=1, every page and the library tests again on the
# lowest versions requirements.txt and the extras allow (`uv pip install --resolution lowest-direct`).
# Uses the active virtualenv, or makes .venv (Debian's system Python refuses `pip install`).
# Arguments go to the main pytest run (e.g. `-m "not slow"`).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
if ! command -v chromium >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
if [ -z "${VIRTUAL_ENV:-}" ]; then
  if ! python3 -m venv .venv 2>/dev/null; then
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv .venv
  fi
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi
python -m pip install -q --upgrade pip
python -m pip install -q -e '.[all]' -r requirements-dev.txt
echo "== ruff check"; ruff check .
echo "== mypy"; mypy
SEED="${FACESEARCH_TEST_SEED:-$RANDOM}"
echo "== pytest, shuffled by module and within modules (FACESEARCH_TEST_SEED=$SEED replays this order)"
python -m pytest -q -p random_order --random-order-bucket=module --random-order-seed="$SEED" "$@"

if [ "${FACESEARCH_SKIP_LOWEST:-0}" != 1 ]; then
  echo "== the lowest allowed versions: every page opened, the library tests of each floor"
  LOW="${TMPDIR:-/tmp}/facesearch-lowest"
  export UV_NATIVE_TLS=1  # the system's certificates, as pip uses them
  rm -rf "$LOW"
  python -m uv venv -q --python "$(python -c 'import sys; print(sys.executable)')" "$LOW"
  # Runtime floors at their lowest (direct dependencies and extras); the test tools as usual.
  python -m uv pip install -q --python "$LOW/bin/python" --resolution lowest-direct -e '.[all]'
  python -m uv pip install -q --python "$LOW/bin/python" -r requirements-dev.txt
  python -m uv pip list --python "$LOW/bin/python" 2>/dev/null \
    | grep -iE '^(streamlit|opencv-python-headless|numpy|pandas|pillow|scipy|scikit-learn|boto3|distributed|dlib-bin) ' || true
  # Every page opened, and the library tests of each floor: pandas/streamlit (pages), opencv/numpy/pillow
  # (images, the offline engine), dlib, scikit-learn/scipy (people), boto3/diskcache (Rekognition), distributed.
  # (Other AppTest tests use AppTest methods newer than the app's floor, e.g. camera_input.)
  "$LOW/bin/python" -m pytest -q -p no:cacheprovider -m "not slow" tests/test_pages_open.py tests/test_images.py \
    tests/test_local_engine.py tests/test_people.py tests/test_rekognition.py tests/test_settings.py \
    tests/test_query_plans.py
  "$LOW/bin/python" -m pytest -q -p no:cacheprovider \
    "tests/test_cluster.py::test_the_cluster_indexes_the_same_faces_boxes_and_vectors_as_the_pool[LocalCluster]"
fi
