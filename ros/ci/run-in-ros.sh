#!/usr/bin/env bash
# Runs inside ros:jazzy (not run by us: no Docker here): installs Node 20 and the ROS packages the
# suite uses, then test/setup/ros2.sh sources /opt/ros/jazzy, installs rclnodejs against it into its
# cache (prebuilt binary for jazzy/noble, or a build), and runs test/ros with O2O_REQUIRE_ROS=1.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends curl ca-certificates build-essential ros-jazzy-diagnostic-msgs ros-jazzy-sensor-msgs \
  ros-jazzy-geometry-msgs ros-jazzy-lifecycle-msgs ros-jazzy-rosbag2 ros-jazzy-rosbag2-storage-mcap
if ! command -v node >/dev/null || [[ "$(node -p 'process.versions.node.split(".")[0]')" != 20 ]]; then
  curl -fsSL https://deb.nodesource.com/setup_20.x | bash -
  apt-get install -y nodejs
fi
npm ci
bash test/setup/ros2.sh npx tsc --noEmit -p ros
bash test/setup/ros2.sh npx vitest run test/ros
