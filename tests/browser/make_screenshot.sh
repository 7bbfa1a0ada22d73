#!/usr/bin/env bash
# Regenerate docs/painter.png: run the browser test, which saves the painter's output
# area after its stroke when GENLAB_PAINTER_SCREENSHOT is set. Needs /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")/../.."
GENLAB_PAINTER_SCREENSHOT="${1:-docs/painter.png}" .venv/bin/python -m pytest -q -p no:cacheprovider \
    tests/browser/test_painter_browser.py
echo "wrote ${1:-docs/painter.png}"
