#!/usr/bin/env bash
# The installed library as another program sees it: install the build tree into a fresh
# prefix, build tests/install/embed_one.c against it three ways (pkg-config and the shared
# library, pkg-config --static and libomega.a, find_package(omega) in CMake), check that none
# of them needs the server's libraries (libmicrohttpd, OpenSSL), and run each on a generated
# model: the same embedding as `omega embed`, the same line printed by all three.
# usage: test_install.sh BUILD_DIR     (exit 77, skipped, without cc, pkg-config or readelf)
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}
for tool in "$cc" pkg-config readelf ldd cmake; do
  command -v "$tool" > /dev/null || { echo "skip: $tool not found"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" > "$tmp/install.log" || { cat "$tmp/install.log"; fail "cmake --install"; }
pc=$(find "$prefix" -name omega.pc)
[ -n "$pc" ] || fail "omega.pc not installed"
libdir=$(dirname "$(dirname "$pc")")
for f in "$prefix"/include/omega/{omega,engine,error,export,index,tokenizer,version}.h "$libdir"/libomega.{so,a} \
  "$libdir"/cmake/omega/omega{Config,ConfigVersion,Targets}.cmake "$prefix"/bin/omega{,-genmodel}; do
  [ -e "$f" ] || fail "${f#"$prefix"/} not installed"
done
# Only the public API is installed: no internal headers, no server archive.
extra=$(cd "$prefix" && find . -name '*internal*' -o -name 'libomega-server*' -o -path './include/*' ! -path './include/omega*')
[ -z "$extra" ] || fail "installed but internal: $extra"

version=$("$prefix/bin/omega" --version)
[ "$version" = "omega $(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --modversion omega)" ] ||
  fail "omega.pc's version differs from '$version'"
export PKG_CONFIG_PATH=$libdir/pkgconfig

model=$tmp/model
text="The installed library embeds this sentence."
"$prefix/bin/omega-genmodel" --out "$model" --shape tiny --seed 1 > /dev/null
printf '%s' "$text" | "$prefix/bin/omega" embed --model "$model" --format f32 --threads 1 --precision fp32 --output "$tmp/ref.f32"

# Whether a program (with the library folder it runs against) avoids the server's libraries,
# directly and through everything it loads.
check_deps() {
  local bin=$1 needed
  needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  echo "$(basename "$bin") needs: $(echo $needed)"
  if LD_LIBRARY_PATH=$libdir ldd "$bin" | grep -E 'libmicrohttpd|libcrypto|libssl'; then
    fail "$bin loads the server's libraries"
  fi
}
check_deps "$libdir/libomega.so"
flags=(-std=c11 -Wall -Wextra -Wpedantic -Werror)

# shellcheck disable=SC2046 # pkg-config's output is a list of words
"$cc" "${flags[@]}" -o "$tmp/embed_shared" "$here/embed_one.c" $(pkg-config --cflags --libs omega)
check_deps "$tmp/embed_shared"
readelf -d "$tmp/embed_shared" | grep -q 'NEEDED.*\[libomega\.so' || fail "embed_shared does not load libomega.so"
LD_LIBRARY_PATH=$libdir "$tmp/embed_shared" "$model" "$text" "$tmp/ref.f32" > "$tmp/shared.out"

# Static: libomega.a by name (-lomega would take the .so) and Libs.private / Requires.private.
libs=$(pkg-config --static --libs omega)
# shellcheck disable=SC2046,SC2086
"$cc" "${flags[@]}" -o "$tmp/embed_static" "$here/embed_one.c" $(pkg-config --cflags omega) ${libs/-lomega/-l:libomega.a}
check_deps "$tmp/embed_static"
readelf -d "$tmp/embed_static" | grep -q 'NEEDED.*libomega' && fail "embed_static still loads libomega.so"
"$tmp/embed_static" "$model" "$text" "$tmp/ref.f32" > "$tmp/static.out"

# CMake: find_package(omega) at the version omega.pc gives, omega::omega, and the RPATH it sets.
cmake -S "$here/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$prefix" -DOMEGA_VERSION="${version#omega }" \
  -DCMAKE_C_FLAGS="${flags[*]}" > "$tmp/consumer.log" || { cat "$tmp/consumer.log"; fail "find_package(omega)"; }
cmake --build "$tmp/consumer" > "$tmp/consumer.log" || { cat "$tmp/consumer.log"; fail "building against omega::omega"; }
check_deps "$tmp/consumer/embed_one"
"$tmp/consumer/embed_one" "$model" "$text" "$tmp/ref.f32" > "$tmp/cmake.out"

cat "$tmp/shared.out"
grep -qx 'dim=128 checksum=.*' "$tmp/shared.out" || fail "expected the tiny model's 128 dimensions"
cmp "$tmp/shared.out" "$tmp/static.out" || fail "the static build printed another line"
cmp "$tmp/shared.out" "$tmp/cmake.out" || fail "the CMake build printed another line"
echo "ok: pkg-config (shared and static) and find_package(omega) builds embed like omega embed"
