#!/usr/bin/env bash
# What a learner sees: start TensorBoard on 127.0.0.1 over one experiment, screenshot its tabs in
# headless Chromium (Debian's `chromium` package: apt-get install chromium), and the HTML report.
#   scripts/screenshots.sh RUN_DIR [OUT_DIR]      (default OUT_DIR: RUN_DIR/screenshots)
# Not part of CI (it needs a browser); the tests read the event files and the HTML back instead.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
run="${1:?usage: scripts/screenshots.sh RUN_DIR [OUT_DIR]}"
out="${2:-$run/screenshots}"
mkdir -p "$out"
command -v chromium >/dev/null || { echo "screenshots: needs chromium (apt-get install chromium)" >&2; exit 2; }
port=$(python -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
tensorboard --logdir "$run" --host 127.0.0.1 --port "$port" >"$out/tensorboard.log" 2>&1 &
tb=$!
trap 'kill $tb 2>/dev/null || true' EXIT
for _ in $(seq 60); do curl -sf "http://127.0.0.1:$port/data/runs" >/dev/null && break; sleep 1; done
profile=$(mktemp -d)
shot() {   # shot NAME URL [virtual-time budget ms]
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
        --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$profile" \
        --window-size=1600,1200 --virtual-time-budget="${3:-15000}" --screenshot="$out/$1.png" "$2" >/dev/null 2>&1
    echo "wrote $out/$1.png"
}
# ?forceSVG=true: the Time Series tab draws its lines with WebGL by default, which headless Chromium leaves
# blank (axes, no curves); its SVG renderer draws them as a learner's browser does
for tab in timeseries scalars custom_scalars images text hparams graphs projector; do
    shot "tensorboard-$tab" "http://127.0.0.1:$port/?forceSVG=true#$tab"
done
# the check before a PNG is committed: the first chart (curves/loss) must hold the torch twin's cyan line
python - "$out/tensorboard-timeseries.png" <<'PY'
import sys

import numpy as np
from PIL import Image

a = np.asarray(Image.open(sys.argv[1]).convert("RGB")).astype(int)[300:560, 370:810]
cyan = ((abs(a[..., 0] - 18) < 40) & (abs(a[..., 1] - 181) < 40) & (abs(a[..., 2] - 203) < 40)).sum()
if cyan < 200:
    sys.exit(f"screenshots: {sys.argv[1]} shows no curve in curves/loss ({cyan} line pixels): do not commit it")
print(f"checked {sys.argv[1]}: curves/loss draws its lines ({cyan} pixels of the torch twin's)")
PY
simplenet report "$run" -o "$out/report.html" >/dev/null
chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking --hide-scrollbars \
    --user-data-dir="$profile" --window-size=1200,2400 --screenshot="$out/report.png" "file://$(cd "$out" && pwd)/report.html" \
    >/dev/null 2>&1
echo "wrote $out/report.png"
