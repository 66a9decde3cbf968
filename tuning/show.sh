#!/usr/bin/env bash
# Shows the current values of every setting tuning/apply.sh changes, next to the value it sets.
set -u
cd "$(dirname "$0")"
# shellcheck source=settings.sh
. ./settings.sh
printf '%-40s %-28s %s\n' SETTING CURRENT RECOMMENDED
for entry in "${SYSCTLS[@]}"; do
    key=${entry%%=*}
    want=${entry#*=}
    cur=$(sysctl -n "$key" 2>/dev/null | tr '\t' ' ' || echo "n/a")
    printf '%-40s %-28s %s\n' "$key" "$cur" "$want"
done
printf '%-40s %-28s %s\n' "ulimit -n (soft/hard, this shell)" "$(ulimit -Sn)/$(ulimit -Hn)" "$NOFILE"
printf '%-40s %-28s %s\n' "ulimit -l (memlock, KiB)" "$(ulimit -l)" "$MEMLOCK_KIB"
