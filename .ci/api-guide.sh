#!/usr/bin/env bash
# Runs the examples of docs/api.md against a fresh demo server, so the guide
# cannot rot: every ```sh block runs in order in one bash session (shared
# variables and functions) under `set -euo pipefail`, and every ```text block
# must equal the output of the ```sh block before it.
set -euo pipefail
cd "$(dirname "$0")/.."

GUIDE=docs/api.md
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN="$TARGET_DIR/release/healthsynx-server"

if ! command -v jq >/dev/null; then
  # The guide uses jq, as its readers will.
  (apt-get update -qq && apt-get install -y -qq jq) >/dev/null
fi
cargo build --release -p healthsynx-server --locked

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
HEALTHSYNX_LOG=warn "$BIN" serve --demo --addr "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || {
    cat "$WORK/server.log" >&2
    exit 1
  }
  sleep 0.2
done

# Turn the guide into one script: each sh block in braces (so it runs in the
# same shell) with its stdout captured, then compared with its text block.
python3 - "$GUIDE" "$WORK" >"$WORK/guide.sh" <<'EOF'
import re, shlex, sys

guide, work = sys.argv[1], sys.argv[2]
lines = open(guide, encoding="utf-8").read().split("\n")
blocks, i = [], 0
while i < len(lines):
    m = re.match(r"^```(\w*)\s*$", lines[i])
    if not m:
        i += 1
        continue
    lang, start, i = m.group(1), i + 1, i + 1
    while not lines[i].startswith("```"):
        i += 1
    blocks.append((lang, start, "\n".join(lines[start:i])))
    i += 1

print("set -Eeuo pipefail")
print('trap \'echo "api-guide: the sh block at %s:$BLOCK_LINE failed" >&2\' ERR' % guide)
n = 0
expected = {}
last_sh = None
for lang, line, text in blocks:
    if lang == "sh":
        n += 1
        last_sh = n
        expected[n] = None
        with open(f"{work}/block{n}.sh", "w", encoding="utf-8") as f:
            f.write(text + "\n")
    elif lang == "text":
        if last_sh is None or expected[last_sh] is not None:
            sys.exit(f"{guide}:{line}: a text block must follow its own sh block")
        expected[last_sh] = (line, text)
if n == 0:
    sys.exit(f"{guide}: no sh blocks")

sh_lines = [line for lang, line, _ in blocks if lang == "sh"]
for k in range(1, n + 1):
    out = shlex.quote(f"{work}/out{k}")
    print(f"BLOCK_LINE={sh_lines[k - 1]}")
    print(f"echo '--- {guide}:{sh_lines[k - 1]}' >&2")
    print("{")
    print(open(f"{work}/block{k}.sh", encoding="utf-8").read(), end="")
    print(f"}} >{out}")
    # `curl` prints no newline after a body; the guide's text blocks end in one.
    print(f'if [ -n "$(tail -c1 {out})" ]; then echo >>{out}; fi')
    print(f"cat {out} >&2")
    if expected[k] is not None:
        tline, text = expected[k]
        exp = shlex.quote(f"{work}/expected{k}")
        with open(f"{work}/expected{k}", "w", encoding="utf-8") as f:
            f.write(text + "\n" if text else "")
        print(
            f"if ! diff -u {exp} {out} >&2; then "
            f'echo "api-guide: {guide}:{tline}: the output differs from what the guide shows" >&2; exit 1; fi'
        )
EOF

mkdir "$WORK/run"
(cd "$WORK/run" && BASE="http://127.0.0.1:$PORT" bash "$WORK/guide.sh")
echo "api-guide: every example in $GUIDE ran and printed what the guide shows"
