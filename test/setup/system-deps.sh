#!/usr/bin/env bash
# Debian packages the tests use as independent checkers and real services:
#   python3-onnx (onnx.checker), python3-h5py + python3-numpy (D4RL-layout files written by h5py),
#   python3-torch (a real torch.onnx export served as a foreign policy),
#   protobuf-compiler (protoc --decode checks our wire format), mosquitto + mosquitto-clients (broker).
# Installs what is missing when run as root with apt; otherwise prints the exact apt line and fails.
set -euo pipefail
need=()
/usr/bin/python3 -c 'import onnx' 2>/dev/null || need+=(python3-onnx)
/usr/bin/python3 -c 'import h5py' 2>/dev/null || need+=(python3-h5py)
/usr/bin/python3 -c 'import numpy' 2>/dev/null || need+=(python3-numpy)
/usr/bin/python3 -c 'import torch' 2>/dev/null || need+=(python3-torch)
command -v protoc >/dev/null || need+=(protobuf-compiler)
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_pub >/dev/null || need+=(mosquitto-clients)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "test setup: installing Debian packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "test setup: missing Debian packages. Install them with:" >&2
  echo "  sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
