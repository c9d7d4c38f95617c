#!/usr/bin/env bash
# Install the optional [3d] extra (mmdet3d + FCAF3D) into the active Python environment.
#
# mmcv (with compiled ops) and MinkowskiEngine have no PyPI wheels for this stack, so they come
# prebuilt from ../shared/wheels (relative to the repository root). mmdet3d goes in with
# --no-deps because its declared dependencies would downgrade numpy. torch and numpy are pinned
# to their installed versions while installing, and checked afterwards: the extra must never
# change them. Safe to run again: every step is skipped or a no-op when already done.
#
# Environment: PYTHON (default: python), WHEELS_DIR (default: <repo>/../shared/wheels).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python}"
wheels_dir="${WHEELS_DIR:-${repo_root}/../shared/wheels}"

versions() {
    "${python}" -c 'from importlib.metadata import version as v; print("torch==" + v("torch")); print("numpy==" + v("numpy"))'
}

# MinkowskiEngine links OpenBLAS at run time.
export PATH="${PATH}:/usr/sbin:/sbin"
if ! ldconfig -p | grep -q 'libopenblas\.so\.0'; then
    sudo_cmd=()
    if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get install -y libopenblas0 \
        || { "${sudo_cmd[@]}" apt-get update && "${sudo_cmd[@]}" apt-get install -y libopenblas0; }
fi

shopt -s nullglob
wheels=("${wheels_dir}"/*.whl)
if [ "${#wheels[@]}" -eq 0 ]; then
    echo "install_3d: no wheels in ${wheels_dir}; build mmcv and MinkowskiEngine as described in its README" >&2
    exit 1
fi

constraints="$(mktemp)"
trap 'rm -f "${constraints}"' EXIT
versions > "${constraints}"
before="$(cat "${constraints}")"

"${python}" -m pip install -c "${constraints}" "${wheels[@]}"
"${python}" -m pip install -c "${constraints}" mmdet==3.3.0 numba pyquaternion
"${python}" -m pip install -c "${constraints}" --no-deps mmdet3d==1.4.0

after="$(versions)"
if [ "${before}" != "${after}" ]; then
    echo "install_3d: torch/numpy changed: before ${before//$'\n'/ }; after ${after//$'\n'/ }" >&2
    exit 1
fi
# MinkowskiEngine needs collections.Sequence (gone since Python 3.10); Octavius aliases it too.
"${python}" -W ignore -c 'import collections, collections.abc
collections.Sequence = collections.abc.Sequence
import MinkowskiEngine, mmcv.ops, mmdet3d.models'
echo "install_3d: done (${after//$'\n'/, })"
