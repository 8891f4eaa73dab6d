#!/usr/bin/env bash
# Regenerate the README's settings table from the settings list itself (src/config/settings_list.h,
# as `omega config --markdown` prints it; tests/config checks that they agree):
# tools/update-readme-settings.sh [path/to/omega] (default build/omega).
set -euo pipefail
cd "$(dirname "$0")/.."
omega=${1:-build/omega}
table=$("$omega" config --markdown)
python3 - "$table" <<'PY'
import sys
begin, end = "<!-- settings:begin -->\n", "<!-- settings:end -->"
text = open("README.md").read()
b, e = text.index(begin) + len(begin), text.index(end)
open("README.md", "w").write(text[:b] + sys.argv[1].rstrip("\n") + "\n" + text[e:])
PY
