#!/usr/bin/env bash
# Makes the sample videos' posters and clips in serve/video/media: test patterns drawn by ffmpeg
# (Debian's ffmpeg package), a distinct hue each, small enough to ship (a few hundred KB in all).
# The files are committed; run this only to make them again.
set -euo pipefail
cd "$(dirname "$0")/../serve/video/media"
command -v ffmpeg >/dev/null || { echo "ffmpeg is needed: apt-get install -y ffmpeg" >&2; exit 1; }
names=(01-harbor-lights 02-the-long-ridge 03-night-train 04-paper-kites 05-salt-and-copper
  06-letters-from-the-hills 07-orbit-nine 08-the-quiet-workshop 09-tidewater 10-bluestone-lane)
sources=(testsrc2 smptebars testsrc2 rgbtestsrc testsrc2 smptehdbars testsrc2 testsrc pal75bars testsrc2)
for i in "${!names[@]}"; do
  n=${names[$i]}
  src="${sources[$i]}=size=320x180:rate=12:duration=3"
  hue="hue=h=$((i * 36))"
  ffmpeg -loglevel error -y -f lavfi -i "$src" -vf "$hue" -c:v libx264 -preset veryslow -crf 36 -pix_fmt yuv420p -movflags +faststart -an "$n.mp4"
  ffmpeg -loglevel error -y -f lavfi -i "$src" -vf "$hue" -frames:v 1 -q:v 7 "$n.jpg"
done
du -ch ./* | tail -1
