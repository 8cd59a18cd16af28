#!/usr/bin/env bash
# Runs inside ros:jazzy: installs Node 20 and the message packages, installs rclnodejs against the
# sourced ROS 2 (prebuilt binary for jazzy/noble, or a build), type-checks the rclnodejs proof
# with the generated message interfaces, and runs test/ros with the real-ROS suite required.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends curl ca-certificates ros-jazzy-diagnostic-msgs ros-jazzy-sensor-msgs ros-jazzy-geometry-msgs
if ! command -v node >/dev/null || [[ "$(node -p 'process.versions.node.split(".")[0]')" != 20 ]]; then
  curl -fsSL https://deb.nodesource.com/setup_20.x | bash -
  apt-get install -y nodejs
fi
set +u; source /opt/ros/jazzy/setup.bash; set -u
npm ci
(cd ros && npm ci)
npx tsc --noEmit -p ros
O2O_REQUIRE_ROS=1 npx vitest run test/ros
