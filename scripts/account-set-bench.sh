#!/usr/bin/env bash
# Times `postern account set --all` (and a --match and a list for scale) on a generated
# 10,000-account passwd-file, each run on a fresh copy of the file: one lock, two parses,
# one render, one fsynced atomic rewrite per run. Usage:
#   scripts/account-set-bench.sh [path/to/postern] [runs]
# (default: target/release/postern, 20 runs). Prints min/median/max wall time per command.
set -euo pipefail
bin=${1:-target/release/postern}
runs=${2:-20}
bin=$(realpath "$bin")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export POSTERN_LOG=warn

# The same shape as tests/account_cli.rs's big_file(): comments, blank lines, CRLF lines,
# short lines, unknown extra fields and ':' inside extra fields.
python3 - <<'PY'
out = ["# Generated accounts\n#\n\n"]
for i in range(10000):
    if i % 100 == 0:
        out.append("# --- block %d ---\n" % (i // 100))
    if i % 250 == 0:
        out.append("   \n")
    user = "user%d@%s" % (i, "example.org" if i % 2 == 0 else "example.net")
    end = "\r\n" if i % 7 == 0 else "\n"
    line = [
        "%s:{PLAIN}pw%d" % (user, i),
        "%s:{PLAIN}pw%d:%d:100:User %d:/home/u%d:/bin/false:x-billing-id=%d userdb_quota_rule=*:storage=1G"
        % (user, i, 10000 + i, i, i, i),
        "%s:{PLAIN}pw%d::::/home/u%d::mail=maildir:~/Mail:LAYOUT=fs" % (user, i, i),
        "%s:{PLAIN}pw%d:::::: pop3=off   x-note=keep" % (user, i),
    ][i % 4]
    out.append(line + end)
out.append("# end")
open("mixed", "w", newline="").write("".join(out))
PY
# 10,000 real ARGON2ID hashes as `postern account add` writes them (one hash, reused: parsing
# cost is what matters here, not verification).
echo pw | "$bin" account --passwd-file seed add seed --password-stdin >/dev/null
hash=$(cut -d: -f2 seed)
python3 -c '
import sys
h = sys.argv[1]
open("argon2", "w").write("".join(
    "user%d@example.org:%s:%d:100::/home/u%d::quota=1G\n" % (i, h, 10000 + i, i) for i in range(10000)))
' "$hash"

bench() {
    local file=$1
    shift
    local times=()
    for _ in $(seq 1 "$runs"); do
        cp "$file" users
        local start end
        start=$(date +%s%N)
        "$bin" account --passwd-file users "$@" >/dev/null
        end=$(date +%s%N)
        times+=($(((end - start) / 1000)))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk -v what="$file: $*" '
        { t[NR] = $1 }
        END { printf "%-62s min %6.1f ms  median %6.1f ms  max %6.1f ms  (n=%d)\n",
              what, t[1] / 1000, (t[int((NR + 1) / 2)] + t[int(NR / 2) + 1]) / 2000, t[NR] / 1000, NR }'
}

bench mixed set --all --imap off
bench mixed set --all --login-type pop3=secure --retrieval-format imap=text-only
bench mixed set --match '*@example.net' --pop3 off
bench argon2 set --all --imap off
bench mixed list
