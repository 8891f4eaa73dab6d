#!/usr/bin/env python3
"""The include rules of docs/ARCHITECTURE.md, checked: each module of src/ may include only
the modules below it (LAYERS), the public headers (omega/), and itself; no header includes
itself back through others (an include cycle). Exit 1 naming each offending line.
    tools/check-layers.py [SRC_DIR]"""
import os
import re
import sys

# module -> the modules it may include besides itself and omega/ (the public API).
# libomega is core, text, model, backend, engine, index; config, metrics, server and cli
# make the omega program and may use the library, never the other way round.
LAYERS = {
    "core": set(),
    "text": {"core"},
    "model": {"core", "text"},
    "backend": {"core", "model"},
    "engine": {"core", "text", "model", "backend"},
    "index": {"core", "backend"},
    "config": {"core"},
    "metrics": {"core"},
    "server": {"core", "text", "model", "backend", "engine", "index", "config", "metrics"},
    "cli": {"core", "text", "model", "backend", "engine", "index", "config", "metrics", "server"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def main():
    src = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "src"))
    bad, graph = [], {}
    for root, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith((".c", ".h", ".cu", ".cuh", ".def")):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, src)
            mod = rel.split(os.sep)[0]
            if mod not in LAYERS:
                bad.append(f"{rel}: module {mod!r} is not in tools/check-layers.py's LAYERS")
                continue
            graph[rel] = []
            with open(path, encoding="utf-8", errors="replace") as fh:
                for n, line in enumerate(fh, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    inc = m.group(1)
                    top = inc.split("/")[0] if "/" in inc else None
                    if top is None:
                        # a sibling file, the CUDA sources' local style
                        inc = os.path.relpath(os.path.normpath(os.path.join(os.path.dirname(rel), inc)))
                        top = inc.split(os.sep)[0]
                    if top == "omega":
                        continue
                    if top != mod and top not in LAYERS[mod]:
                        bad.append(f"{rel}:{n}: {mod} may not include {inc} ({top} is not below {mod})")
                    graph[rel].append(inc)
    # Include cycles between headers (a .c file is never included, so cycles run through .h).
    state = {}

    def visit(node, stack):
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                bad.append("include cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif not state.get(nxt):
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if not state.get(node):
            visit(node, [])
    for b in bad:
        print(b)
    if bad:
        print(f"check-layers: {len(bad)} violation(s); the rules are in docs/ARCHITECTURE.md", file=sys.stderr)
        return 1
    print(f"check-layers: {len(graph)} files follow the module order")
    return 0


if __name__ == "__main__":
    sys.exit(main())
