#!/usr/bin/env bash
# Download a sentence-transformers / HuggingFace model folder for Omega (needs the internet).
#   tools/fetch-model.sh [REPO] [DIR]     default: sentence-transformers/all-MiniLM-L6-v2 models/<name>
# Env: HF_ENDPOINT (default https://huggingface.co; file:// mirrors work), HF_REVISION (main),
#      HF_TOKEN (for gated or private models).
set -euo pipefail
repo=${1:-sentence-transformers/all-MiniLM-L6-v2}
dir=${2:-models/${repo##*/}}
endpoint=${HF_ENDPOINT:-https://huggingface.co}
rev=${HF_REVISION:-main}
auth=()
[ -n "${HF_TOKEN:-}" ] && auth=(-H "Authorization: Bearer $HF_TOKEN")
required=(config.json model.safetensors)
optional=(modules.json sentence_bert_config.json config_sentence_transformers.json 1_Pooling/config.json
  tokenizer.json vocab.txt tokenizer_config.json special_tokens_map.json)
mkdir -p "$dir/1_Pooling"
get() { curl -fsSL --retry 3 "${auth[@]}" -o "$dir/$1.part" "$endpoint/$repo/resolve/$rev/$1" && mv "$dir/$1.part" "$dir/$1"; }
for f in "${required[@]}"; do
  echo "fetching $repo/$f" >&2
  get "$f" || { rm -f "$dir/$f.part"; echo "fetch-model: cannot download $f from $endpoint/$repo (revision $rev)" >&2; exit 1; }
done
for f in "${optional[@]}"; do
  get "$f" 2> /dev/null && echo "fetched $repo/$f" >&2 || rm -f "$dir/$f.part"
done
rmdir "$dir/1_Pooling" 2> /dev/null || true
if [ ! -f "$dir/tokenizer.json" ] && [ ! -f "$dir/vocab.txt" ]; then
  echo "fetch-model: $repo has neither tokenizer.json nor vocab.txt" >&2
  exit 1
fi
echo "$dir"
