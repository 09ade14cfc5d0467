#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine with only Node 20 and npm:
# system packages (ffmpeg, Vulkan loader + lavapipe when no GPU driver exists, espeak-ng, sox, openssl, python3,
# fonts-dejavu-core and chromium for the validation reel and its browser test, redis-server for the queue service),
# the pinned pnpm, workspace dependencies and a build. A second run does no work.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

log() { printf '[setup] %s\n' "$*" >&2; }

PNPM_VERSION=$(node -p "require('./package.json').packageManager.split('@')[1]")

# ---- system packages ------------------------------------------------------------------------
missing=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
# grep reads the whole listing (no -q): an early exit would SIGPIPE ldconfig and fail the pipeline under pipefail.
have_lib() { { ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -F "$1" >/dev/null; }
# openssl and python3: the dataset tests make a TLS certificate and a listener that never accepts.
for c in ffmpeg ffprobe espeak-ng sox openssl python3; do have_cmd "$c" || missing+=("$c"); done
have_lib 'libvulkan.so.1' || missing+=(libvulkan1)
# The validation reel's band text (ffmpeg drawtext) and the headless-browser test that plays the reel.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
have_cmd chromium || missing+=(chromium)
# The hosted queue service (@a2v/service) runs on Redis; its tests start their own redis-server.
have_cmd redis-server || missing+=(redis-server)

# A software Vulkan driver is only needed where no vendor driver is installed. Debian bookworm's
# lavapipe (mesa 22) is too old for Dawn; the one in bookworm-backports (mesa >= 25) works.
need_lavapipe=0
if ! ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1 \
   && [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then
  mesa_ver=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  case "$mesa_ver" in
    2[5-9].*|[3-9][0-9].*) ;;
    *) need_lavapipe=1 ;;
  esac
fi

debian_pkgs() {
  local pkgs=()
  for m in "${missing[@]}"; do
    case "$m" in
      ffmpeg|ffprobe) pkgs+=(ffmpeg) ;;
      *) pkgs+=("$m") ;;
    esac
  done
  printf '%s\n' "${pkgs[@]}" | sort -u | tr '\n' ' '
}

if [ ${#missing[@]} -gt 0 ] || [ "$need_lavapipe" = 1 ]; then
  pkgs=$(debian_pkgs)
  if [ "$(id -u)" != 0 ]; then
    log "missing system packages and not root. Run as root:"
    [ -n "$pkgs" ] && echo "  apt-get update && apt-get install -y $pkgs"
    if [ "$need_lavapipe" = 1 ]; then
      echo "  echo 'deb http://deb.debian.org/debian bookworm-backports main' > /etc/apt/sources.list.d/backports.list"
      echo "  apt-get update && apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1"
    fi
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ "$need_lavapipe" = 1 ] && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    log "adding bookworm-backports for a Dawn-capable lavapipe"
    echo 'deb http://deb.debian.org/debian bookworm-backports main' > /etc/apt/sources.list.d/a2v-backports.list
  fi
  log "apt-get update"
  apt-get update -qq
  if [ -n "$pkgs" ]; then
    log "installing: $pkgs"
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  fi
  if [ "$need_lavapipe" = 1 ]; then
    log "installing lavapipe (mesa-vulkan-drivers) from bookworm-backports"
    apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
  fi
fi

# ---- pnpm -----------------------------------------------------------------------------------
if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  log "installing pnpm@$PNPM_VERSION"
  if [ -w "$(npm prefix -g)/lib" ] || [ "$(id -u)" = 0 ]; then
    npm install -g --silent "pnpm@$PNPM_VERSION" >/dev/null
  else
    npm install -g --silent --prefix "$HOME/.local" "pnpm@$PNPM_VERSION" >/dev/null
    export PATH="$HOME/.local/bin:$PATH"
  fi
fi

# ---- workspace dependencies and build (skipped when nothing changed) ------------------------
stamp=node_modules/.a2v-install-stamp
want=$(cat pnpm-lock.yaml package.json packages/*/package.json examples/package.json 2>/dev/null | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  log "pnpm install"
  pnpm install --frozen-lockfile --reporter=silent
  echo "$want" > "$stamp"
fi
# Turbo restores unchanged packages from its cache; its log is shown only when the build fails.
if ! build_log=$(pnpm exec turbo run build --output-logs=errors-only 2>&1); then
  printf '%s\n' "$build_log" >&2
  log "build failed"
  exit 1
fi
