#!/usr/bin/env bash
# Black-box tests of the omega command line: line conventions, outputs, exit codes.
#   test_cli.sh OMEGA_BIN GENMODEL_BIN VOCAB_TXT SOURCE_DIR
set -u
OMEGA=$1
GENMODEL=$2
VOCAB=$3
SRC=$4
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# auto's cache in the test's folder, not the user's; rows compared across runs pin fp32 (auto
# picks by timing, and another thread count or folder measures again)
export EMBED_CPU_AUTO_CACHE_DIR="$T/cache"
fails=0

ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
# expect_exit CODE NAME CMD...: run CMD, compare its exit status
expect_exit() {
  local want=$1 name=$2
  shift 2
  "$@" > "$T/out" 2> "$T/err"
  local got=$?
  if [ "$got" = "$want" ]; then ok "$name (exit $got)"; else bad "$name: exit $got, wanted $want; stderr: $(head -c 300 "$T/err")"; fi
}
expect_eq() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got [$2] wanted [$3]"; fi; }
expect_grep() { if grep -q -- "$2" "$3"; then ok "$1"; else bad "$1: \"$2\" not in $(head -c 300 "$3")"; fi; }

"$GENMODEL" --out "$T/m" --hidden 32 --layers 2 --heads 2 --intermediate 64 --max-seq-length 8 --seed 4 2> /dev/null \
  || { echo "FAIL cannot generate a model"; exit 1; }

# --help everywhere, usage errors exit 2
expect_exit 0 "omega --help" "$OMEGA" --help
expect_exit 0 "tokenize --help" "$OMEGA" tokenize --help
expect_exit 0 "embed --help" "$OMEGA" embed --help
expect_exit 0 "model --help" "$OMEGA" model --help
expect_exit 0 "model info --help" "$OMEGA" model info --help
expect_exit 0 "version" "$OMEGA" version
expect_exit 2 "no command" "$OMEGA"
expect_exit 2 "unknown command" "$OMEGA" frobnicate
expect_exit 2 "tokenize without --tokenizer" "$OMEGA" tokenize
expect_exit 2 "bad --max-length" "$OMEGA" tokenize --tokenizer "$VOCAB" --max-length abc
expect_exit 2 "negative --max-length" "$OMEGA" tokenize --tokenizer "$VOCAB" --max-length -1
expect_exit 2 "bad --format" "$OMEGA" embed --model "$T/m" --format xml
expect_exit 2 "bad --batch" "$OMEGA" embed --model "$T/m" --batch 0
expect_exit 2 "stray argument" "$OMEGA" embed --model "$T/m" extra
expect_exit 2 "model without info" "$OMEGA" model --model "$T/m"
expect_exit 0 "serve --help" "$OMEGA" serve --help
expect_exit 2 "serve: stray argument" "$OMEGA" serve --model "$T/m" extra
expect_exit 2 "serve: bad --set" "$OMEGA" serve --model "$T/m" --set NOEQUALS
expect_exit 2 "serve: invalid setting" "$OMEGA" serve --model "$T/m" --set EMBED_MAX_BATCH=0
expect_exit 1 "serve: no model" env -u OMEGA_MODEL "$OMEGA" serve --port 0
expect_grep "serve: says what is missing" "no model" "$T/err"
expect_exit 0 "config" "$OMEGA" config
expect_grep "config: lists settings" "EMBED_MAX_BATCH=64" "$T/out"
expect_exit 0 "config --markdown" "$OMEGA" config --markdown
expect_grep "config --markdown: a table" "| \`ACCEL_TARGET_LAT_MS\` |" "$T/out"

# tokenize: split on \n only, \r belongs to the line, a final \n adds no line, empty lines count
printf 'a\r\nb\n\nc' | "$OMEGA" tokenize --tokenizer "$VOCAB" --lowercase > "$T/ids"
expect_eq "tokenize: 4 input lines, 4 output lines" "$(wc -l < "$T/ids")" 4
expect_eq "tokenize: \\r is whitespace" "$(sed -n 1p "$T/ids")" "101 1037 102"
expect_eq "tokenize: empty line" "$(sed -n 3p "$T/ids")" "101 102"
expect_eq "tokenize: last line without \\n" "$(sed -n 4p "$T/ids")" "101 1039 102"
expect_eq "tokenize: empty input" "$(printf '' | "$OMEGA" tokenize --tokenizer "$VOCAB" | wc -l)" 0
expect_eq "tokenize: one line" "$(printf 'x\n' | "$OMEGA" tokenize --tokenizer "$VOCAB" | wc -l)" 1
expect_eq "tokenize: --cased" "$(echo Hello | "$OMEGA" tokenize --tokenizer "$VOCAB" --cased)" "101 100 102"
expect_eq "tokenize: --lowercase" "$(echo Hello | "$OMEGA" tokenize --tokenizer "$VOCAB" --lowercase)" "101 7592 102"

# a model folder truncates to its max_seq_length unless --max-length says otherwise
long="one two three four five six seven eight nine ten"
expect_eq "tokenize: model folder max_seq_length 8" "$(echo "$long" | "$OMEGA" tokenize --tokenizer "$T/m" | wc -w)" 8
expect_eq "tokenize: --max-length 0" "$(echo "$long" | "$OMEGA" tokenize --tokenizer "$T/m" --max-length 0 | wc -w)" 12
expect_eq "tokenize: --max-length 5" "$(echo "$long" | "$OMEGA" tokenize --tokenizer "$T/m/tokenizer.json" --max-length 5)" \
  "101 2028 2048 2093 102"

# --pairs: lines 2k-1 and 2k are one pair, [CLS] A [SEP] B [SEP]; truncation strategies
expect_eq "tokenize --pairs" "$(printf 'hello\nworld\n' | "$OMEGA" tokenize --tokenizer "$VOCAB" --lowercase --pairs)" \
  "101 7592 102 2088 102"
expect_eq "tokenize --pairs: one line per pair" \
  "$(printf 'a\nb\nc\nd\n' | "$OMEGA" tokenize --tokenizer "$VOCAB" --pairs | wc -l)" 2
expect_eq "tokenize --pairs --truncation only_second" "$(printf 'one two\nthree four five\n' |
  "$OMEGA" tokenize --tokenizer "$VOCAB" --lowercase --pairs --max-length 6 --truncation only_second)" "101 2028 2048 102 2093 102"
printf 'a\nb\nc\n' > "$T/odd.txt"
expect_exit 2 "tokenize --pairs: odd line count" "$OMEGA" tokenize --tokenizer "$VOCAB" --pairs --lowercase < "$T/odd.txt"
expect_grep "tokenize --pairs: names the lone line" "line 3 has no partner" "$T/err"
expect_exit 2 "tokenize --truncation: unknown" "$OMEGA" tokenize --tokenizer "$VOCAB" --pairs --truncation middle
printf 'one two three\nfour\n' > "$T/pair.txt"
expect_exit 1 "tokenize --pairs only_first cannot fit" "$OMEGA" tokenize --tokenizer "$VOCAB" --lowercase --pairs \
  --max-length 4 --truncation only_first < "$T/pair.txt"
expect_grep "tokenize --pairs: names the pair" "pair 1" "$T/err"

# invalid UTF-8: exit 3 naming the line, or replaced on request
printf 'ok\n\xff\n' > "$T/bad.txt"
expect_exit 3 "tokenize: invalid UTF-8" "$OMEGA" tokenize --tokenizer "$VOCAB" --max-length 0 < "$T/bad.txt"
expect_grep "tokenize: error names the line" "line 2" "$T/err"
expect_exit 0 "tokenize: --utf8-replace" "$OMEGA" tokenize --tokenizer "$VOCAB" --utf8-replace < "$T/bad.txt"
expect_eq "tokenize: replaced line" "$(sed -n 2p "$T/out")" "101 102"
expect_exit 1 "tokenize: missing tokenizer" "$OMEGA" tokenize --tokenizer "$T/nope.json"
expect_grep "tokenize: error names the file" "nope.json" "$T/err"

# embed: one row per line in both formats
printf 'first line\n\nthird line is longer than the others by far\n' > "$T/in.txt"
expect_exit 0 "embed: f32" "$OMEGA" embed --model "$T/m" --input "$T/in.txt" --output "$T/out.f32" --format f32 --quiet \
  --precision fp32
expect_eq "embed: f32 size is lines x dim x 4" "$(stat -c %s "$T/out.f32")" $((3 * 32 * 4))
"$OMEGA" embed --model "$T/m" --format jsonl --quiet --precision fp32 < "$T/in.txt" > "$T/out.jsonl"
expect_eq "embed: jsonl rows" "$(wc -l < "$T/out.jsonl")" 3
expect_eq "embed: jsonl dims" "$(awk -F, '{print NF}' "$T/out.jsonl" | sort -u)" 32
# every row is unit length (the model normalises)
norms=$(awk -F'[][,]' '{s=0; for (i=2;i<NF;i++) s+=$i*$i; printf "%.4f\n", sqrt(s)}' "$T/out.jsonl" | sort -u)
expect_eq "embed: unit rows" "$norms" "1.0000"
# CPU precisions: int8 runs wherever AVX2 does (an ARM build has no int8 kernels yet: refused,
# naming its NEON kernels); bf16 without AVX512-BF16 is refused with the reason
if "$OMEGA" embed --model "$T/m" --input "$T/in.txt" --precision int8 --quiet > "$T/out" 2> "$T/err"; then
  ok "embed: --precision int8 (exit 0)"
else
  expect_grep "embed: --precision int8 refused only on ARM" "(neon kernels)" "$T/err"
fi
expect_exit 1 "embed: bf16 on a CPU without it" env OMEGA_CPU_ISA=avx2 "$OMEGA" embed --model "$T/m" \
  --input "$T/in.txt" --precision bf16 --quiet
expect_grep "embed: bf16 refusal names the instructions" "AVX512-BF16" "$T/err"
expect_exit 1 "embed: unknown precision" "$OMEGA" embed --model "$T/m" --input "$T/in.txt" --precision fp8 --quiet
expect_exit 0 "embed: fp32 on the portable path" env OMEGA_CPU_ISA=portable "$OMEGA" embed --model "$T/m" \
  --input "$T/in.txt" --quiet
# omega embed takes its settings through the settings table: a config file (--config or
# OMEGA_CONFIG_FILE), the environment, --set, and its own options on top
printf 'EMBED_CPU_PRECISION=int8\nOMEGA_CPU_ISA=portable\n' > "$T/embed.env"
expect_exit 1 "embed: precision and ISA from --config" "$OMEGA" embed --model "$T/m" --input "$T/in.txt" \
  --config "$T/embed.env" --quiet
expect_grep "embed: int8 refused on the portable path (--config)" "AVX2" "$T/err"
expect_exit 1 "embed: precision and ISA from OMEGA_CONFIG_FILE" env OMEGA_CONFIG_FILE="$T/embed.env" \
  "$OMEGA" embed --model "$T/m" --input "$T/in.txt" --quiet
expect_grep "embed: int8 refused on the portable path (OMEGA_CONFIG_FILE)" "AVX2" "$T/err"
expect_exit 0 "embed: --precision over the config file" "$OMEGA" embed --model "$T/m" --input "$T/in.txt" \
  --config "$T/embed.env" --precision fp32 --quiet
expect_exit 1 "embed: --set OMEGA_CPU_ISA" "$OMEGA" embed --model "$T/m" --input "$T/in.txt" --set OMEGA_CPU_ISA=avx2 \
  --set EMBED_CPU_PRECISION=bf16 --quiet
expect_grep "embed: bf16 refused under --set OMEGA_CPU_ISA=avx2" "AVX512-BF16" "$T/err"
# an invalid setting stops omega embed, naming the setting, its values and where it came from
expect_exit 1 "embed: invalid EMBED_CPU_PRECISION in the environment" env EMBED_CPU_PRECISION=fp8 "$OMEGA" embed \
  --model "$T/m" --input "$T/in.txt" --quiet
expect_grep "embed: the environment's bad value explained" \
  "environment EMBED_CPU_PRECISION: EMBED_CPU_PRECISION must be one of fp32, bf16, bf16x3, int8" "$T/err"
printf 'OMEGA_CPU_ISA=avx3\n' > "$T/badisa.env"
expect_exit 1 "embed: invalid OMEGA_CPU_ISA in a config file" "$OMEGA" embed --model "$T/m" --input "$T/in.txt" \
  --config "$T/badisa.env" --quiet
expect_grep "embed: the file's bad value explained" \
  "badisa.env:1: OMEGA_CPU_ISA must be one of auto, amx, avx512, avx2, neon, portable" "$T/err"
expect_exit 1 "embed: unknown precision named" "$OMEGA" embed --model "$T/m" --input "$T/in.txt" --precision fp8 --quiet
expect_grep "embed: the option's bad value explained" "EMBED_CPU_PRECISION must be one of" "$T/err"
expect_exit 2 "embed: bad --set" "$OMEGA" embed --model "$T/m" --set NOEQUALS
expect_exit 2 "embed: --batch past EMBED_MAX_BATCH's bound" "$OMEGA" embed --model "$T/m" --batch 4097
# jsonl and f32 carry the same numbers
f32rows=$(od -An -v -f -w128 "$T/out.f32" | awk '{printf "%.5f\n", $1}')
jsrows=$(awk -F'[][,]' '{printf "%.5f\n", $2}' "$T/out.jsonl")
expect_eq "embed: f32 and jsonl agree" "$f32rows" "$jsrows"
# a line embedded alone equals the same line inside a batch
sed -n 3p "$T/in.txt" | "$OMEGA" embed --model "$T/m" --quiet --precision fp32 > "$T/one.jsonl"
alone=$(awk -F'[][,]' '{printf "%.5f %.5f\n", $2, $20}' "$T/one.jsonl")
inbatch=$(sed -n 3p "$T/out.jsonl" | awk -F'[][,]' '{printf "%.5f %.5f\n", $2, $20}')
expect_eq "embed: batch-independent" "$alone" "$inbatch"
expect_exit 0 "embed: --batch 1 --threads 1" "$OMEGA" embed --model "$T/m" --batch 1 --threads 1 --quiet --precision fp32 < "$T/in.txt"
expect_eq "embed: same rows with --batch 1" "$(awk -F'[][,]' '{printf "%.5f\n", $2}' "$T/out")" "$jsrows"
expect_exit 0 "embed: empty input" "$OMEGA" embed --model "$T/m" --quiet < /dev/null
expect_eq "embed: empty input, no rows" "$(wc -c < "$T/out")" 0

# embed errors
expect_exit 1 "embed: missing model" "$OMEGA" embed --model "$T/none" < "$T/in.txt"
expect_grep "embed: error names the folder" "$T/none" "$T/err"
expect_exit 3 "embed: invalid UTF-8" "$OMEGA" embed --model "$T/m" --quiet < "$T/bad.txt"
expect_grep "embed: error names the line" "input line 2" "$T/err"
expect_exit 0 "embed: --utf8-replace" "$OMEGA" embed --model "$T/m" --utf8-replace --quiet < "$T/bad.txt"
expect_exit 3 "embed: --no-truncate on a long line" "$OMEGA" embed --model "$T/m" --no-truncate --quiet \
  < <(echo "$long")
expect_grep "embed: --no-truncate explains" "max_seq_length 8" "$T/err"
expect_exit 1 "embed: unwritable output" "$OMEGA" embed --model "$T/m" --output /nonexistent/dir/x --quiet < "$T/in.txt"
expect_exit 0 "embed: --progress" "$OMEGA" embed --model "$T/m" --progress < "$T/in.txt"
expect_grep "embed: progress on stderr" "3 lines" "$T/err"

# model info
expect_exit 0 "model info" "$OMEGA" model info --model "$T/m"
expect_grep "model info: dimension" "embedding dimension: 32" "$T/out"
expect_grep "model info: max length" "max sequence length: 8" "$T/out"
expect_grep "model info: pooling" "pooling:             mean" "$T/out"
expect_exit 1 "model info: broken model" "$OMEGA" model info --model /nonexistent

# tools/fetch-model.sh against a file:// mirror laid out like the HuggingFace hub
mirror="$T/mirror/org/tiny/resolve/main"
mkdir -p "$mirror"
cp -r "$T/m"/. "$mirror"/
rm "$mirror/vocab.txt"
expect_exit 0 "fetch-model: from a mirror" env HF_ENDPOINT="file://$T/mirror" "$SRC/tools/fetch-model.sh" org/tiny "$T/fetched"
expect_exit 0 "fetch-model: the fetched model loads" "$OMEGA" model info --model "$T/fetched"
expect_eq "fetch-model: same embeddings" "$(echo hello | "$OMEGA" embed --model "$T/fetched" --quiet --precision fp32)" \
  "$(echo hello | "$OMEGA" embed --model "$T/m" --quiet --precision fp32)"
rm "$mirror/model.safetensors"
expect_exit 1 "fetch-model: missing weights" env HF_ENDPOINT="file://$T/mirror" "$SRC/tools/fetch-model.sh" org/tiny "$T/f2"
expect_grep "fetch-model: names the file" "model.safetensors" "$T/err"

# omega index build refuses vectors whose distances could overflow float32, naming the point
python3 -c "import struct,sys; sys.stdout.buffer.write(struct.pack('<8f', 1, 2, 3, 4, 3e18, 0, 0, 0))" > "$T/big.f32"
expect_exit 1 "index build: a vector past the norm bound" "$OMEGA" index build --input "$T/big.f32" --dim 4 \
  --metric l2 --kind flat --out "$T/big.omg"
expect_grep "index build: names the point and the bound" "point 1: its norm 3e+18 is past the bound" "$T/err"
expect_eq "index build: no index written" "$([ -e "$T/big.omg" ] && echo written || echo none)" none
python3 -c "import struct,sys; sys.stdout.buffer.write(struct.pack('<8f', 1, 2, 3, 4, 9e17, 0, 0, 0))" > "$T/edge.f32"
expect_exit 0 "index build: a vector at the bound" "$OMEGA" index build --input "$T/edge.f32" --dim 4 --metric l2 \
  --kind flat --out "$T/edge.omg" --quiet

# omega index takes OMEGA_SIMD and OMEGA_CPU_ISA through the settings table too
expect_exit 0 "index stats" env OMEGA_SIMD=portable "$OMEGA" index stats --index "$T/edge.omg"
expect_exit 1 "index: invalid OMEGA_SIMD" env OMEGA_SIMD=sse2 "$OMEGA" index stats --index "$T/edge.omg"
expect_grep "index: the bad value explained" "environment OMEGA_SIMD: OMEGA_SIMD must be one of" "$T/err"

echo "$fails failure(s)"
[ "$fails" = 0 ]
