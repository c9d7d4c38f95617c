#!/usr/bin/env bash
# Install the optional [3d] extra (mmdet3d + FCAF3D) into the active Python environment.
#
# mmcv (with compiled ops) and MinkowskiEngine have no PyPI wheels for this stack. The fast path
# takes prebuilt wheels from WHEELS_DIR (../shared/wheels beside the repository) or from the
# wheel cache. When neither has a wheel for this Python, the package is built once from its PyPI
# source release with the flags of ../shared/wheels/README.md (C++20 for torch's headers; mmcv
# with its CPU ops, MinkowskiEngine CPU-only on OpenBLAS) into the wheel cache, then installed
# from there: about 12 minutes for mmcv and 5 for MinkowskiEngine on 2 cores, once per machine.
# mmdet3d goes in with --no-deps because its declared dependencies would downgrade numpy. torch
# and numpy are pinned to their installed versions while installing, and checked afterwards: the
# extra must never change them. Safe to run again: every step is skipped or a no-op when done.
#
# Environment:
#   PYTHON       interpreter to install into (default: python)
#   WHEELS_DIR   prebuilt wheels (default: <repo>/../shared/wheels)
#   WHEEL_CACHE  where source builds go (default: ~/.cache/octavius/wheels/<python>-torch<version>)
#   DRY_RUN=1    print the commands instead of running them (nothing is installed or built)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python}"
wheels_dir="${WHEELS_DIR:-${repo_root}/../shared/wheels}"
dry_run="${DRY_RUN:-0}"

MMCV_VERSION=2.1.0
MINKOWSKI_VERSION=0.5.4

run() {
    if [ "${dry_run}" = 1 ]; then
        echo "+ $*"
    else
        "$@"
    fi
}

versions() {
    "${python}" -c 'from importlib.metadata import version as v; print("torch==" + v("torch")); print("numpy==" + v("numpy"))'
}

py_tag="$("${python}" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
torch_version="$("${python}" -c 'from importlib.metadata import version; print(version("torch"))')"
wheel_cache="${WHEEL_CACHE:-${HOME}/.cache/octavius/wheels/${py_tag}-torch${torch_version}}"

# MinkowskiEngine links OpenBLAS at run time (and needs its headers to build).
export PATH="${PATH}:/usr/sbin:/sbin"
apt_install() {
    local sudo_cmd=()
    if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
    export DEBIAN_FRONTEND=noninteractive
    run "${sudo_cmd[@]}" apt-get install -y "$@" \
        || { run "${sudo_cmd[@]}" apt-get update && run "${sudo_cmd[@]}" apt-get install -y "$@"; }
}
if ! ldconfig -p | grep -q 'libopenblas\.so\.0'; then
    apt_install libopenblas0
fi

# The newest wheel of <name>-<version> for this Python in the prebuilt dir or the cache.
find_wheel() {
    local name="$1" version="$2" dir
    shopt -s nullglob nocaseglob
    for dir in "${wheels_dir}" "${wheel_cache}"; do
        local found=("${dir}/${name}-${version}-${py_tag}-"*.whl)
        if [ "${#found[@]}" -gt 0 ]; then
            echo "${found[-1]}"
            shopt -u nullglob nocaseglob
            return 0
        fi
    done
    shopt -u nullglob nocaseglob
    return 1
}

# Build <project>==<version> from its PyPI sdist into the wheel cache (README's flags, C++20).
build_wheel() {
    local project="$1" version="$2" minutes="$3"
    echo "install_3d: no prebuilt ${project} ${version} wheel for ${py_tag} in ${wheels_dir} or" \
        "${wheel_cache}; building it from its PyPI source, about ${minutes} minutes on 2 cores" \
        "(once: the wheel is cached in ${wheel_cache})"
    local work src
    work="$(mktemp -d)"
    run mkdir -p "${wheel_cache}"
    # The sdist is fetched from the package index directly: `pip download` would run
    # MinkowskiEngine's setup.py to prepare metadata, which probes BLAS through numpy.distutils
    # and fails on current setuptools.
    run "${python}" "${repo_root}/.ci/fetch_sdist.py" "${project}" "${version}" "${work}"
    run tar -xzf "${work}/${project}-${version}.tar.gz" -C "${work}"
    src="${work}/${project}-${version}"
    # Both setup scripts ask for C++14/17; torch's headers need C++20.
    run sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "${src}/setup.py"
    # MinkowskiEngine: OpenBLAS by default (its own --blas flag does not reach setup.py through
    # pip's config settings on current setuptools); without CUDA it builds CPU-only by itself.
    if [ "${project}" = MinkowskiEngine ]; then
        run sed -i 's/^BLAS, argv = _argparse("--blas", argv, False)$/&\nBLAS = BLAS or "openblas"/' \
            "${src}/setup.py"
    fi
    case "${project}" in
        mmcv)
            run env MMCV_WITH_OPS=1 "${python}" -m pip wheel --no-deps --no-build-isolation \
                -w "${wheel_cache}" "${src}"
            ;;
        MinkowskiEngine)
            run "${python}" -m pip wheel --no-deps --no-build-isolation -w "${wheel_cache}" "${src}"
            ;;
    esac
    rm -rf "${work}"
}

# The wheel to install for <name>: prebuilt, cached, or built now. Progress goes to stderr.
wheel_for() {
    local name="$1" project="$2" version="$3" minutes="$4" wheel
    if wheel="$(find_wheel "${name}" "${version}")"; then
        echo "install_3d: ${project} ${version} from ${wheel}" >&2
    else
        build_wheel "${project}" "${version}" "${minutes}" >&2
        if [ "${dry_run}" = 1 ]; then
            wheel="${wheel_cache}/${name}-${version}-${py_tag}-${py_tag}-linux_x86_64.whl"
        elif ! wheel="$(find_wheel "${name}" "${version}")"; then
            echo "install_3d: building ${project} ${version} left no wheel in ${wheel_cache}" >&2
            exit 1
        fi
    fi
    echo "${wheel}"
}

mmcv_wheel="$(wheel_for mmcv mmcv "${MMCV_VERSION}" 12)"
if ! find_wheel minkowskiengine "${MINKOWSKI_VERSION}" >/dev/null; then
    apt_install libopenblas-dev >&2
fi
minkowski_wheel="$(wheel_for minkowskiengine MinkowskiEngine "${MINKOWSKI_VERSION}" 5)"

constraints="$(mktemp)"
trap 'rm -f "${constraints}"' EXIT
versions > "${constraints}"
before="$(cat "${constraints}")"

run "${python}" -m pip install -c "${constraints}" "${mmcv_wheel}" "${minkowski_wheel}"
run "${python}" -m pip install -c "${constraints}" mmdet==3.3.0 numba pyquaternion
run "${python}" -m pip install -c "${constraints}" --no-deps mmdet3d==1.4.0

if [ "${dry_run}" = 1 ]; then
    echo "install_3d: dry run, nothing installed"
    exit 0
fi
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
