#!/usr/bin/env bash
# Installs what the swarm benchmark needs, and only what is missing (safe to run again).
#
#   bench/swarm/install_tools.sh [--python PY] [TOOL ...]
#
# TOOL is one of: iproute2 (ip, tc), curl, aria2 (aria2c), matplotlib (into PY's
# environment, default: the python3 on PATH). No TOOL means all of them.
# Debian packages come from apt-get (root only; `apt-get update` runs once, and only
# when something has to be installed); matplotlib comes from PyPI through pip.
set -euo pipefail

python=python3
tools=()
while (($#)); do
    case "$1" in
        --python) python="$2"; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) tools+=("$1"); shift ;;
    esac
done
((${#tools[@]})) || tools=(iproute2 curl aria2 matplotlib)

debs=()
need_matplotlib=0
for tool in "${tools[@]}"; do
    case "$tool" in
        iproute2) { command -v ip && command -v tc; } >/dev/null || debs+=(iproute2) ;;
        curl) command -v curl >/dev/null || debs+=(curl) ;;
        aria2) command -v aria2c >/dev/null || debs+=(aria2) ;;
        matplotlib) "$python" -c 'import matplotlib' 2>/dev/null || need_matplotlib=1 ;;
        *) echo "install_tools.sh: unknown tool '$tool'" >&2; exit 2 ;;
    esac
done

if ((${#debs[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "install_tools.sh: ${debs[*]} missing; install them as root (apt-get install ${debs[*]})" >&2
        exit 1
    fi
    echo "install_tools.sh: apt-get install ${debs[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt_opts=(-o DPkg::Lock::Timeout=300 -qq)
    apt-get "${apt_opts[@]}" update >&2
    apt-get "${apt_opts[@]}" install -y --no-install-recommends "${debs[@]}" >&2
fi

if ((need_matplotlib)); then
    echo "install_tools.sh: pip install matplotlib into $python" >&2
    "$python" -m pip install --quiet 'matplotlib>=3.7' >&2
fi
