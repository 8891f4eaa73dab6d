#!/usr/bin/env python3
"""libomega.so exports exactly the public API: every dynamic symbol it defines is a function
declared with OMEGA_API in include/omega/*.h, and every such declaration is exported.

usage: check_exports.py LIBOMEGA_SO HEADER_DIR...
Exit 0 when they match, 1 with the differences listed, 77 (skip) without nm."""
import os
import re
import shutil
import subprocess
import sys

DECL = re.compile(r"\b(omega_\w+)\s*\(")
# Exported data: `extern const char *const omega_names[N]` (the enum name lists).
DATA = re.compile(r"^(?:OMEGA_API )?extern\b.*?\b(omega_\w+)\s*(?:\[[^\]]*\])?\s*$")


def declarations(header_dirs):
    """(names declared with OMEGA_API, problems) over the headers' top-level statements."""
    names, problems = set(), []
    for d in header_dirs:
        for f in sorted(os.listdir(d)):
            if not f.endswith(".h"):
                continue
            text = open(os.path.join(d, f), encoding="utf-8").read()
            text = re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)
            text = re.sub(r"^\s*#.*?(?<!\\)$", " ", text, flags=re.M | re.S)
            # Statements end at ';' or at a brace (struct and enum bodies, extern "C").
            for stmt in re.split(r"[;{}]", text):
                stmt = " ".join(stmt.split())
                m = DECL.search(stmt) or DATA.match(stmt)
                if not m or stmt.startswith("typedef"):  # a function pointer type
                    continue
                if not stmt.startswith("OMEGA_API "):
                    problems.append(f"{f}: {m.group(1)} is declared without OMEGA_API")
                names.add(m.group(1))
    return names, problems


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True, capture_output=True, text=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        # Versioned or absolute entries (type A) come from the linker, not from the code.
        # AddressSanitizer adds an ODR indicator (__odr_asan.NAME) beside each exported global:
        # the compiler's, not the code's.
        if len(parts) == 3 and parts[1] != "A" and not parts[2].startswith("__odr_asan"):
            syms.add(parts[2].split("@")[0])
    return syms


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    if not shutil.which("nm"):
        print("skip: nm (binutils) not found")
        return 77
    lib, header_dirs = sys.argv[1], sys.argv[2:]
    declared, problems = declarations(header_dirs)
    syms = exported(lib)
    for s in sorted(syms - declared):
        why = "not declared in include/omega" if s.startswith("omega_") else "not an omega_ name"
        problems.append(f"{os.path.basename(lib)} exports {s}: {why}")
    for s in sorted(declared - syms):
        problems.append(f"{s} is declared in include/omega but {os.path.basename(lib)} does not export it")
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"{len(syms)} exported symbols, all declared with OMEGA_API in include/omega")
    return 0


if __name__ == "__main__":
    sys.exit(main())
