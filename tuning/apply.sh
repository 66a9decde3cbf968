#!/usr/bin/env bash
# Applies the kernel and process settings for 100k+ connections (as root), for the running
# system only; see tuning/README.md for making them permanent and for what each one does.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=settings.sh
. ./settings.sh
[ "$(id -u)" -eq 0 ] || { echo "apply.sh: run as root" >&2; exit 1; }
for entry in "${SYSCTLS[@]}"; do
    key=${entry%%=*}
    value=${entry#*=}
    if [[ " ${RAISE_ONLY[*]} " == *" $key "* ]]; then
        current=$(sysctl -n "$key" 2>/dev/null || echo 0)
        if [ "$current" -ge "$value" ]; then
            echo "kept $key = $current (already >= $value)"
            continue
        fi
    fi
    if sysctl -q -w "$key=$value" 2>/dev/null; then
        echo "set $key = $value"
    else
        echo "could not set $key (not in this kernel or not in this namespace)" >&2
    fi
done
# The limits of this shell and what it starts; services take them from their unit
# (LimitNOFILE=, LimitMEMLOCK=) or /etc/security/limits.conf.
ulimit -n "$NOFILE" 2>/dev/null && echo "ulimit -n $NOFILE (this shell)" || echo "could not raise ulimit -n" >&2
ulimit -l "$MEMLOCK_KIB" 2>/dev/null && echo "ulimit -l $MEMLOCK_KIB (this shell)" || echo "could not raise ulimit -l" >&2
