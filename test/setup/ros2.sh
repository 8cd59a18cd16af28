#!/usr/bin/env bash
# Real ROS 2 for the test suite.
#
#   bash test/setup/ros2.sh [COMMAND ARGS...]
#
# Makes sure ROS 2 and rclnodejs (in ros/node_modules) are available, then runs COMMAND with ROS 2
# sourced and O2O_REQUIRE_ROS=1 (the real-ROS suites fail instead of skipping). Without COMMAND it
# only prepares. Where ROS 2 comes from, in order:
#   1. already sourced (ROS_DISTRO and AMENT_PREFIX_PATH set): used as is, nothing is built;
#   2. /opt/ros/<distro>/setup.bash (apt-installed ROS 2, e.g. Ubuntu + Jazzy): sourced, nothing built;
#   3. otherwise ROS 2 Jazzy is built from source with ../shared/ros2/build.sh (next to the checkout,
#      or O2O_ROS_SHARED) into a cache OUTSIDE the checkout:
#        ${O2O_ROS_CACHE:-$HOME/.cache/o2o}/ros2-<sha256 of build.sh, patches and tarballs>
#      (~9-10 min on 2 cores the first time; later runs reuse it in about a second).
# rclnodejs (the version in ros/package-lock.json) is built against that ROS into a cache keyed by the
# ROS prefix, the lock file and the Node ABI (~1.5 min the first time); ros/node_modules links to it.
# flock serialises concurrent runs, so two checkouts never build the same thing twice.
# O2O_SKIP_ROS=1: do nothing ROS-related (the real-ROS suites then skip, saying why). Never in CI.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)   # the checkout (= git rev-parse --show-toplevel)
CACHE_ROOT=${O2O_ROS_CACHE:-$HOME/.cache/o2o}
log() { echo "test setup (ros2): $*" >&2; }

run_cmd() { if [[ $# -gt 0 ]]; then exec "$@"; fi; exit 0; }

if [[ "${O2O_SKIP_ROS:-0}" == 1 ]]; then
  log "O2O_SKIP_ROS=1: not preparing ROS 2; the real-ROS suites will skip"
  run_cmd "$@"
fi

source_ros() {  # source_ros <setup.bash>
  set +u
  # shellcheck disable=SC1090
  source "$1"
  set -u
}

t0=$(date +%s)
if [[ -n "${ROS_DISTRO:-}" && -n "${AMENT_PREFIX_PATH:-}" ]]; then
  ROS_FROM="sourced ROS 2 $ROS_DISTRO (AMENT_PREFIX_PATH=$AMENT_PREFIX_PATH)"
  ROS_KEY="sourced-$ROS_DISTRO-$(printf %s "$AMENT_PREFIX_PATH" | sha256sum | cut -c1-12)"
elif compgen -G "/opt/ros/*/setup.bash" >/dev/null; then
  SETUP=/opt/ros/jazzy/setup.bash
  [[ -f $SETUP ]] || SETUP=$(ls /opt/ros/*/setup.bash | head -n1)
  source_ros "$SETUP"
  ROS_FROM="$SETUP"
  ROS_KEY="opt-$ROS_DISTRO"
else
  SHARED=${O2O_ROS_SHARED:-$ROOT/../shared/ros2}
  if [[ ! -x $SHARED/build.sh || ! -d $SHARED/tarballs ]]; then
    log "no ROS 2: not sourced, no /opt/ros/<distro>, and no $SHARED/build.sh to build it from."
    log "Install ROS 2 (Ubuntu: apt install ros-jazzy-ros-base), put ../shared/ros2 beside the checkout,"
    log "or set O2O_SKIP_ROS=1 to skip the real-ROS suites (never in CI)."
    exit 1
  fi
  SHARED=$(cd "$SHARED" && pwd)
  # The cache key: the content of everything build.sh builds from (7 MB to hash: ~30 ms).
  KEY=$(cd "$SHARED" && find build.sh patches tarballs -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
  CACHE=$CACHE_ROOT/ros2-$KEY
  mkdir -p "$CACHE_ROOT"
  exec 9>"$CACHE.lock"
  if ! flock -n 9; then
    log "waiting for another run that holds $CACHE.lock (building ROS 2?)"
    flock 9
  fi
  if [[ ! -f $CACHE/.complete ]]; then
    rm -rf "$CACHE"
    mkdir -p "$CACHE"
    # build.sh installs its Debian packages with apt (root) unless they are all there already.
    pkgs=$(sed -n '/apt-get install/,/^fi/p' "$SHARED/build.sh" | tr -s ' \\\n' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -vE '^(apt-get|install|fi)$' || true)
    n_ok=$(dpkg-query -W -f='${Status}\n' $pkgs 2>/dev/null | grep -c 'install ok installed' || true)
    if [[ -n $pkgs && $n_ok -eq $(echo "$pkgs" | wc -l) ]]; then skip_apt=1; else skip_apt=0; fi
    if [[ $skip_apt == 0 && $(id -u) != 0 ]]; then
      log "build.sh needs Debian packages installed as root; run: sudo SKIP_EXTRACT=1 TARGETS=ament_package $SHARED/build.sh (or install the apt list in $SHARED/RECIPE.md section 1)"
      exit 1
    fi
    log "building ROS 2 Jazzy from $SHARED into $CACHE (once per tarball set; ~10 min on 2 cores; log: $CACHE.build.log)"
    if ! SKIP_APT=$skip_apt "$SHARED/build.sh" "$SHARED/tarballs" "$CACHE/ws" >"$CACHE.build.log" 2>&1; then
      tail -n 40 "$CACHE.build.log" >&2
      log "ROS 2 build failed; full log: $CACHE.build.log"
      exit 1
    fi
    rm -rf "$CACHE/ws/build" "$CACHE/ws/log"   # 260 MB of intermediate files; install/ is self-contained
    date -u +%FT%TZ >"$CACHE/.complete"
    log "built ROS 2 in $(( $(date +%s) - t0 )) s"
  fi
  flock -u 9
  source_ros "$CACHE/ws/install/setup.bash"
  ROS_FROM="$CACHE (built from $SHARED)"
  ROS_KEY="ros2-$KEY"
fi
# Debian's python3 first (pyenv pythons lack empy/lark/catkin_pkg, which rclnodejs' message generator
# imports): a directory with only python3 in it goes first on PATH, so node/npm stay whatever they were.
if [[ -x /usr/bin/python3 && "$(command -v python3)" != /usr/bin/python3 ]]; then
  mkdir -p "$CACHE_ROOT/python-bin" && ln -sfn /usr/bin/python3 "$CACHE_ROOT/python-bin/python3"
  export PATH=$CACHE_ROOT/python-bin:$PATH
fi
export RMW_IMPLEMENTATION=${RMW_IMPLEMENTATION:-rmw_cyclonedds_cpp}
[[ -n "${ROS_DISTRO:-}" ]] || { log "sourcing $ROS_FROM did not set ROS_DISTRO"; exit 1; }

# ---- rclnodejs, built against this ROS, cached per (ROS, lock file, Node ABI) ----
LOCK_SHA=$(cat "$ROOT/ros/package.json" "$ROOT/ros/package-lock.json" | sha256sum | cut -c1-12)
ABI=$(node -p process.versions.modules)
RCLDIR=$CACHE_ROOT/rclnodejs-$ROS_KEY-node$ABI-$LOCK_SHA
addon=node_modules/rclnodejs/build/Release/rclnodejs.node
mkdir -p "$CACHE_ROOT"
exec 8>"$RCLDIR.lock"
flock 8
if [[ ! -f $RCLDIR/.complete ]]; then
  rm -rf "$RCLDIR"
  mkdir -p "$RCLDIR"
  cp "$ROOT/ros/package.json" "$ROOT/ros/package-lock.json" "$RCLDIR/"
  log "installing rclnodejs against $ROS_FROM into $RCLDIR (~1.5 min, once; log: $RCLDIR.install.log)"
  t1=$(date +%s)
  # npm_config_yes: rclnodejs' source build runs `npx rimraf`, which refuses to prompt otherwise.
  if ! (cd "$RCLDIR" && npm_config_yes=true npm ci --no-audit --no-fund --foreground-scripts) >"$RCLDIR.install.log" 2>&1; then
    tail -n 40 "$RCLDIR.install.log" >&2
    log "rclnodejs install failed; full log: $RCLDIR.install.log"
    exit 1
  fi
  [[ -f $RCLDIR/$addon ]] || { log "rclnodejs installed but $addon is missing (see $RCLDIR.install.log)"; exit 1; }
  date -u +%FT%TZ >"$RCLDIR/.complete"
  log "rclnodejs ready in $(( $(date +%s) - t1 )) s"
fi
flock -u 8
# ros/node_modules -> the cached install, unless it already holds a built rclnodejs (a manual
# `cd ros && npm install` with ROS sourced), which is left alone.
NM=$ROOT/ros/node_modules
if [[ -L $NM ]]; then
  [[ "$(readlink "$NM")" == "$RCLDIR/node_modules" ]] || ln -sfn "$RCLDIR/node_modules" "$NM"
elif [[ -d $NM && -f $ROOT/ros/$addon ]]; then
  log "using the rclnodejs already built in ros/node_modules"
else
  rm -rf "$NM"   # e.g. the --ignore-scripts install of `npm run typecheck:ros` (type definitions only)
  ln -s "$RCLDIR/node_modules" "$NM"
fi

# DDS traffic of one test run stays on this machine and in its own domain (other runs may share it).
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$(( 1 + $$ % 100 ))}
export O2O_REQUIRE_ROS=1
log "ROS 2 $ROS_DISTRO from $ROS_FROM, rclnodejs $RCLDIR, ROS_DOMAIN_ID=$ROS_DOMAIN_ID ($(( $(date +%s) - t0 )) s)"
run_cmd "$@"
