#!/usr/bin/env bash
# Installs what PoseParty needs to build, test and play on Debian 12:
#   - the Debian -dev packages Bevy (audio, input, windowing) and the V4L2 bindings (bindgen) need,
#   - iproute2, nftables and coturn for the NAT tests (mesh/tests/nat.rs builds networks in
#     namespaces and runs coturn in one; the coturn service itself is not enabled),
#   - postgresql (15 on Debian 12) for the server's history tests (server/tests/cluster.rs starts
#     its own throw-away servers from /usr/lib/postgresql/15/bin, not the packaged cluster),
#   - redis-server for cluster mode's tests and `loadgen --nodes` (each starts its own
#     redis-server on a free port; the packaged service is not used), nginx-light as the load
#     balancer in front of the nodes in an end-to-end test (its own config, port and folder),
#   - libvpx-dev, libopus-dev and libwebrtc-audio-processing-dev for the media crate (VP8 video,
#     Opus voice, and echo cancellation + noise suppression of the video call),
#   - the ONNX Runtime library, taken from the onnxruntime==1.31.1 wheel on PyPI, into .ort/.
# Idempotent: when everything is there it prints nothing and exits 0.
# Options: --screenshots also installs Xvfb + Mesa (software Vulkan) for scripts/screenshots.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

ORT_VERSION=1.31.1
ORT_DIR=.ort
ORT_LIB="$ORT_DIR/libonnxruntime.so.$ORT_VERSION"

pkgs=(pkg-config libasound2-dev libudev-dev libwayland-dev libxkbcommon-dev libclang-dev clang
      python3 python3-pip ca-certificates curl iproute2 nftables coturn postgresql redis-server nginx-light
      libvpx-dev libopus-dev libwebrtc-audio-processing-dev)
for arg in "$@"; do
  case "$arg" in
    --screenshots) pkgs+=(xvfb xauth mesa-vulkan-drivers libvulkan1 libgl1-mesa-dri) ;;
    *) echo "setup.sh: unknown option $arg (known: --screenshots)" >&2; exit 2 ;;
  esac
done

sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
  echo "setup.sh: installing the Rust toolchain (rustup)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal >/dev/null
  echo "setup.sh: open a new shell (or run: . \"\$HOME/.cargo/env\") so cargo is on PATH"
fi

if [ ! -s "$ORT_LIB" ]; then
  echo "setup.sh: fetching ONNX Runtime $ORT_VERSION (PyPI wheel onnxruntime==$ORT_VERSION)"
  case "$(uname -m)" in
    x86_64) plat=manylinux_2_28_x86_64 ;;
    aarch64) plat=manylinux_2_28_aarch64 ;;
    *) echo "setup.sh: no ONNX Runtime wheel for $(uname -m)" >&2; exit 1 ;;
  esac
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform "$plat" --python-version 3.11 --implementation cp \
    "onnxruntime==$ORT_VERSION" -d "$tmp"
  mkdir -p "$ORT_DIR"
  python3 - "$tmp" "$ORT_DIR" "$ORT_VERSION" <<'PY'
import glob, sys, zipfile, os
tmp, out, ver = sys.argv[1:4]
wheel = glob.glob(os.path.join(tmp, "onnxruntime-*.whl"))[0]
name = f"onnxruntime/capi/libonnxruntime.so.{ver}"
with zipfile.ZipFile(wheel) as z:
    data = z.read(name)
part = os.path.join(out, f"libonnxruntime.so.{ver}.part")
with open(part, "wb") as f:
    f.write(data)
os.replace(part, os.path.join(out, f"libonnxruntime.so.{ver}"))
PY
  ln -sf "libonnxruntime.so.$ORT_VERSION" "$ORT_DIR/libonnxruntime.so"
  echo "setup.sh: ONNX Runtime is in $ORT_DIR/"
fi
