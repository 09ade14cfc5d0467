#!/usr/bin/env bash
# Builds a2v-example.zip: a small, valid audio-to-video dataset (3 groups, 4 s, 128x128, 24 fps).
#   clip01: _start.png + _audio.wav (speech) + _end.mp4 + caption
#   clip02: _start.jpg + _audio.mp3 (speech) + _end.mp4 + caption, inside a sub-folder
#   clip03: _start.mp4 (its first frame held, plus the speech as its audio track; no _audio file)
#           + _end.mp4 + caption
# Needs ffmpeg (lavfi) and espeak-ng; python3 writes the zip with fixed timestamps.
# Usage: make.sh [out.zip]   (default: a2v-example.zip next to this script)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(realpath -m "${1:-$here/a2v-example.zip}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/clips" "$work/more"

ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }
video() { # <lavfi source> <out.mp4>: 4 s of 128x128 H.264 at 24 fps, no audio
  ff -f lavfi -i "$1" -t 4 -r 24 -vf "scale=128:128" -c:v libx264 -preset slow -crf 34 -pix_fmt yuv420p -an "$2"
}
speech() { # <text> <out.wav>: espeak-ng speech, 16 kHz mono, padded or cut to 4 s
  espeak-ng -s 150 -w "$work/raw.wav" "$1"
  ff -i "$work/raw.wav" -af "aresample=16000,apad" -ac 1 -t 4 "$2"
}

video "testsrc2=size=128x128:rate=24" "$work/clips/clip01_end.mp4"
ff -i "$work/clips/clip01_end.mp4" -frames:v 1 "$work/clips/clip01_start.png"
speech "Hello. This clip shows a moving test pattern." "$work/clips/clip01_audio.wav"
printf 'a colourful test pattern scrolling slowly\n' > "$work/clips/clip01.txt"

video "mandelbrot=size=128x128:rate=24" "$work/more/clip02_end.mp4"
ff -i "$work/more/clip02_end.mp4" -frames:v 1 -q:v 4 "$work/more/clip02_start.jpg"
speech "A fractal zooms in while I keep talking." "$work/speech02.wav"
ff -i "$work/speech02.wav" -c:a libmp3lame -b:a 32k "$work/more/clip02_audio.mp3"
printf 'a fractal zooming in, glowing colours\n' > "$work/more/clip02.txt"

video "life=size=128x128:rate=24:mold=10:ratio=0.4:seed=7:life_color=#00ff88,format=yuv420p" "$work/clips/clip03_end.mp4"
speech "The start video carries this voice as its audio track." "$work/speech03.wav"
ff -i "$work/clips/clip03_end.mp4" -frames:v 1 "$work/frame03.png"
ff -loop 1 -framerate 24 -i "$work/frame03.png" -i "$work/speech03.wav" -t 4 \
  -c:v libx264 -preset slow -crf 34 -pix_fmt yuv420p -c:a aac -b:a 32k "$work/clips/clip03_start.mp4"
printf 'cells of the game of life growing and dying\n' > "$work/clips/clip03.txt"

python3 - "$work" "$out" <<'PY'
import os, sys, zipfile
root, out = sys.argv[1], sys.argv[2]
names = sorted(
    os.path.relpath(os.path.join(d, f), root)
    for d, _, files in os.walk(root) for f in files
    if d != root  # only the group folders, not the intermediate speech files
)
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for name in names:
        info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o100644 << 16
        with open(os.path.join(root, name), "rb") as f:
            z.writestr(info, f.read())
PY
ls -l "$out"
