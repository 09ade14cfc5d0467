# Sourced by the entry scripts: environment every a2v command needs.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/a2v-xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
[ -d "$HOME/.local/bin" ] && export PATH="$HOME/.local/bin:$PATH"
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
