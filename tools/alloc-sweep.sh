#!/usr/bin/env bash
# Routes every allocation of libomega and the omega program (src/) through the allocator hook
# (src/core/alloc.h): malloc( calloc( realloc( free( strdup( strndup( aligned_alloc( become
# omega__malloc( and so on, and the files that call them include "core/alloc.h". Idempotent:
# run it after merging code that allocates; tests/core/test_alloc_torture.c checks the result.
#
# Left alone:
#   - src/core/alloc.[ch], the hook itself;
#   - src/backend/cuda/, the CUDA plugin: a separate module with its own heap, nothing it
#     allocates crosses the plugin boundary;
#   - struct members and other names ending in one of those words (->free(, .free(,
#     omega__buf_free();
#   - every line carrying a "libc:" comment: memory a library allocated with libc's malloc
#     and the caller frees with libc's free (getdelim's line buffer, open_memstream's text).
#     Mark such a free with "/* libc: why */" before running this script.
# posix_memalign has no hook equivalent: the script refuses to run while src/ uses it.
# With FILE arguments (paths under src/) it sweeps only those; files it does not change are
# not written, so a build after it recompiles only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

files=$(if [ $# -gt 0 ]; then printf '%s\n' "$@"; else find src -name '*.[ch]'; fi |
  grep -Ev '^src/backend/cuda/|^src/core/alloc\.[ch]$' | sort || true)
[ -n "$files" ] || exit 0
if grep -n 'posix_memalign\s*(' $files; then
  echo "alloc-sweep: posix_memalign has no hook; use omega__aligned_alloc" >&2
  exit 1
fi

# shellcheck disable=SC2086
perl -e '
for my $f (@ARGV) {
  open my $in, "<", $f or die "$f: $!\n";
  my @l = <$in>;
  close $in;
  my $old = join "", @l;
  for (@l) {
    s/(?<![\w.>])(malloc|calloc|realloc|free|strdup|strndup|aligned_alloc)(\s*\()/omega__$1$2/g unless /\blibc:/;
  }
  my $uses = grep { /\bomega__(malloc|calloc|realloc|free|strdup|strndup|aligned_alloc)\s*\(/ } @l;
  my $has = grep { /^#include "core\/alloc\.h"/ } @l;
  if ($uses && !$has) {
    # Into a block of quoted includes (the one naming core/ headers, else the last), in
    # sorted order; above the system includes when there are no quoted ones.
    my (@blocks, $cur);
    for my $i (0 .. $#l) {
      if ($l[$i] =~ /^#include "/) { push @blocks, $cur = [] unless $cur; push @$cur, $i }
      else { undef $cur }
    }
    my ($block) = grep { grep { $l[$_] =~ /^#include "core\// } @$_ } @blocks;
    $block //= $blocks[-1];
    my $at;
    if ($block) {
      ($at) = grep { ($l[$_] =~ /^#include "([^"]+)"/)[0] gt "core/alloc.h" } @$block;
      $at //= $block->[-1] + 1;
      splice @l, $at, 0, "#include \"core/alloc.h\"\n";
    } else {
      ($at) = grep { $l[$_] =~ /^#include </ } 0 .. $#l;
      die "$f: no #include to put core/alloc.h beside\n" unless defined $at;
      splice @l, $at, 0, "#include \"core/alloc.h\"\n", "\n";
    }
  }
  next if join("", @l) eq $old;
  open my $out, ">", $f or die "$f: $!\n";
  print $out @l;
  close $out or die "$f: $!\n";
}
' $files
