#!/bin/sh
# `make run`: serve the default model folders on http://127.0.0.1:8091 with a real llama-server.
# Finds (or fetches, via scripts/get-llama-server) a llama-server; when the default model folders
# (~/.clara/llama-models and build/models/, the bundled folder beside build/ggswap) hold no
# .gguf, writes a small demo set into build/models/ with build/ggswap-mkgguf; then execs
# `build/ggswap serve`. Arguments are passed on to `ggswap serve` (e.g. --listen 0.0.0.0:8091).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
say() { echo "run: $*" >&2; }

for f in build/ggswap build/ggswap-mkgguf; do
    [ -x "$f" ] || { say "$f is missing: run 'make all' first (or use 'make run', which does)."; exit 1; }
done

if ! LLAMA_SERVER=$(sh scripts/get-llama-server | tail -n 1) || [ ! -x "$LLAMA_SERVER" ]; then
    say "FAILED: no llama-server, so ggswap could serve no model (get-llama-server says why, above)."
    say "Install llama.cpp's llama-server and put it on \$PATH, or run"
    say "  GGSWAP_LLAMA_SERVER=/path/to/llama-server make run"
    exit 1
fi
say "llama-server: $LLAMA_SERVER"

# The default folders of `ggswap serve` (SPEC §1): the user's and the bundled one.
USER_MODELS="${HOME:-/root}/.clara/llama-models"
BUNDLED="$ROOT/build/models"
has_gguf() { [ -d "$1" ] && [ -n "$(find "$1" -name '*.gguf' -type f 2>/dev/null | head -n 1)" ]; }

if has_gguf "$USER_MODELS" || has_gguf "$BUNDLED"; then
    say "models: using the .gguf files in $USER_MODELS and $BUNDLED"
else
    # Tiny llama-architecture models (random weights: they answer fast, in printable gibberish).
    # The file names give the ggswap names demo-chat:1m, demo-chat:3m and demo-embed, and the
    # aliases gpt-3.5-turbo (the smallest chat model), text-davinci-003 (the largest) and
    # text-embedding-ada-002 (the embedding model, found by "embed" in its name).
    say "models: none in $USER_MODELS or $BUNDLED; writing a demo set into $BUNDLED"
    mkdir -p "$BUNDLED"
    build/ggswap-mkgguf tiny "$BUNDLED/demo-chat-1m-f32.gguf" --name "ggswap demo chat 1M" \
        --seed 1 --embd 128 --layers 4 --ff 384
    build/ggswap-mkgguf tiny "$BUNDLED/demo-chat-3m-f32.gguf" --name "ggswap demo chat 3M" \
        --seed 2 --embd 192 --layers 6 --ff 512
    build/ggswap-mkgguf tiny "$BUNDLED/demo-embed-f32.gguf" --name "ggswap demo embedding" \
        --seed 3
    say "models: these are demo models with random weights; put real .gguf files into"
    say "  $USER_MODELS (and delete $BUNDLED/demo-*.gguf) to serve real ones."
fi

# The demo models never emit end-of-sequence, so a request without max_tokens would run until
# the context is full (4096 tokens, many seconds). While only demo models are served, cap every
# answer with llama-server's own setting (its environment variable for -n), which children
# inherit; a real model of yours is never capped by this script.
if ! has_gguf "$USER_MODELS" && [ -z "$(find "$BUNDLED" -name '*.gguf' ! -name 'demo-*' 2>/dev/null | head -n 1)" ]; then
    export LLAMA_ARG_N_PREDICT="${LLAMA_ARG_N_PREDICT:-128}"
    say "demo models only: answers are capped at $LLAMA_ARG_N_PREDICT tokens (LLAMA_ARG_N_PREDICT)"
fi

say "starting ggswap serve (by default on http://127.0.0.1:8091, the page at /ui/); Ctrl-C stops"
exec build/ggswap serve --llama-server "$LLAMA_SERVER" "$@"
