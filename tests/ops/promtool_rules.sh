#!/bin/sh
# promtool_rules.sh check|test FILE...: `promtool check rules` or `promtool test rules` on the
# files (Debian's prometheus package); exit 77 (skip) when promtool is not installed.
command -v promtool > /dev/null 2>&1 || { echo "SKIP: promtool is not installed (apt-get install prometheus)"; exit 77; }
mode=$1
shift
exec promtool "$mode" rules "$@"
