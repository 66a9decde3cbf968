#!/usr/bin/env bash
# The proxy harness: Postern's front proxy and nginx's mail proxy (Debian's
# libnginx-mod-mail) side by side, in front of the same Dovecot backend, routed by the same
# nginx-style auth_http service, plus Dovecot reached directly as the baseline.
#
#   loadtest/compare_proxy.sh [--out DIR]
#
# Measured through each: memory per proxied IMAP session idling in IDLE (the proxy's own
# process tree only), relay MB/s (a POP3 download of a 2000-message mailbox), the latency a
# proxy adds (an IMAP header sync, p99 against direct), and IMAP logins per second. Everything
# binds 127.0.0.1; every run has a connection count and a time cap. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT=$2; shift ;;
        *) echo "usage: $0 [--out DIR]" >&2; exit 2 ;;
    esac
    shift
done
[ "$(id -u)" -eq 0 ] || { echo "compare_proxy.sh: run as root" >&2; exit 1; }
if ! [ -f /usr/lib/nginx/modules/ngx_mail_module.so ] || ! command -v dovecot >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light libnginx-mod-mail \
        dovecot-core dovecot-imapd dovecot-pop3d >/dev/null
    service nginx stop >/dev/null 2>&1 || true
fi

W=${OUT:-$(mktemp -d /tmp/postern-proxy.XXXXXX)}
mkdir -p "$W/json" "$W/nginx" "$W/dovecot"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 1
    [ -n "$OUT" ] || rm -rf "$W"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

cargo build --release -q -p postern -p postern-load
POSTERN=$ROOT/target/release/postern
LOAD=$ROOT/target/release/postern-load
$LOAD gen-maildir --out "$W/data" --seed 1 --users 20 --messages 50 --big-messages 2000 \
    --password password >/dev/null
PASSWD=$W/data/passwd
$POSTERN demo --dir "$W/demo" --no-serve >/dev/null
chown -R nobody:nogroup "$W/data"
chmod 755 "$W" "$W/data"

# The backend: Dovecot, trusting the proxies on loopback with the client's address.
awk -F: -v uid="$(id -u nobody)" -v gid="$(id -g nobody)" \
    'BEGIN{OFS=":"} /^#/ || NF < 2 {next} {$3=uid; $4=gid; print}' "$PASSWD" >"$W/dovecot/users"
cat >"$W/dovecot/dovecot.conf" <<EOF
base_dir = $W/dovecot/run
state_dir = $W/dovecot/state
log_path = $W/dovecot/dovecot.log
protocols = pop3 imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
mail_location = maildir:~/Maildir
default_internal_user = nobody
default_internal_group = nogroup
default_login_user = nobody
first_valid_uid = $(id -u nobody)
default_process_limit = 12000
default_client_limit = 25000
default_vsz_limit = 0
mail_max_userip_connections = 20000
login_trusted_networks = 127.0.0.0/8
passdb {
  driver = passwd-file
  args = $W/dovecot/users
}
userdb {
  driver = passwd-file
  args = $W/dovecot/users
}
service anvil {
  client_limit = 50000
}
service imap-login {
  inet_listener imap {
    port = 25143
  }
  inet_listener imaps {
    port = 0
  }
  service_count = 0
  process_min_avail = 2
}
service pop3-login {
  inet_listener pop3 {
    port = 25110
  }
  inet_listener pop3s {
    port = 0
  }
  service_count = 0
  process_min_avail = 2
}
EOF
dovecot -F -c "$W/dovecot/dovecot.conf" &
PIDS+=($!)
python3 scripts/auth-http-route.py --port 25080 --imap-port 25143 --pop3-port 25110 &
PIDS+=($!)

cat >"$W/nginx/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_mail_module.so;
worker_processes 2;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log warn;
events {
    worker_connections 20000;
}
mail {
    auth_http 127.0.0.1:25080/auth;
    proxy_pass_error_message on;
    imap_capabilities IMAP4rev1 IDLE LITERAL+ SASL-IR;
    imap_auth plain login;
    pop3_auth plain;
    server {
        listen 127.0.0.1:26143;
        protocol imap;
        proxy on;
    }
    server {
        listen 127.0.0.1:26110;
        protocol pop3;
        proxy on;
    }
}
EOF
cat >"$W/postern.toml" <<EOF
[server]
max_connections = 50000
max_connections_per_ip = 50000
shutdown_grace = "1s"
[tls]
cert = "$W/demo/cert.pem"
key = "$W/demo/key.pem"
[auth]
passwd_file = "$PASSWD"
[pop3]
login_type = "plaintext"
[imap]
login_type = "plaintext"
[proxy]
route = "auth-http"
auth_http = "http://127.0.0.1:25080/auth"
backend_tls = "plain"
[[listener]]
kind = "imap-proxy"
address = "127.0.0.1:27143"
[[listener]]
kind = "pop3-proxy"
address = "127.0.0.1:27110"
EOF
sleep 2

SERVER_PID=""
start() { # name
    case "$1" in
        postern)
            POSTERN_LOG=warn $POSTERN serve --config "$W/postern.toml" >/dev/null 2>>"$W/postern.log" &
            SERVER_PID=$!
            PIDS+=("$SERVER_PID") ;;
        nginx)
            nginx -c "$W/nginx/nginx.conf" -g 'daemon off;' &
            SERVER_PID=$!
            PIDS+=("$SERVER_PID") ;;
        direct)
            SERVER_PID=$(cat "$W/dovecot/run/master.pid") ;;
    esac
    sleep 2
}
stop() {
    [ "$1" = direct ] || { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; sleep 1; }
}
ports() { # name -> "imap pop3"
    case "$1" in postern) echo "27143 27110" ;; nginx) echo "26143 26110" ;; direct) echo "25143 25110" ;; esac
}
load() { # name label args...
    local name=$1 label=$2
    shift 2
    echo "   $name: $label"
    $LOAD run "$@" --quiet --json "$W/json/$name.$label.json" >"$W/json/$name.$label.txt" 2>&1 \
        || echo "   ($name $label exited non-zero; see $W/json/$name.$label.txt)"
}

for name in direct postern nginx; do
    echo "== $name"
    read -r imap pop3 < <(ports "$name")
    start "$name"
    if [ "$name" != direct ]; then
        # Only the proxy's own processes: the backend sessions behind it are Dovecot's.
        python3 scripts/idle-memory.py --protocol imap --idle --pid "$SERVER_PID" --port "$imap" \
            --mode plain --no-warmup --user user0001 --password password --sessions 1000 --hold 3 \
            >"$W/json/$name.idle.txt" 2>&1 || echo "   (idle memory failed)"
    fi
    load "$name" relay pop3-download --port "$pop3" --user big --password password \
        --connections 1 --sessions 1 --duration 300s --timeout 120s
    load "$name" sync imap-sync --port "$imap" --users "$PASSWD" --newest 10 \
        --connections 8 --duration 10s
    load "$name" logins login-storm --protocol imap --port "$imap" --users "$PASSWD" \
        --connections 32 --duration 10s
    stop "$name"
done

python3 - "$W/json" <<'PY'
import json, os, re, sys
d = sys.argv[1]
def rep(n, l):
    try:
        return json.load(open(os.path.join(d, "%s.%s.json" % (n, l))))
    except Exception:
        return None
def step(r, name, key):
    for s in (r or {}).get("steps", []):
        if s["step"].replace("-", "").lower() == name:
            return s[key]
def idle(n):
    try:
        m = re.search(r"PSS per session:\s+([0-9.]+) KiB", open(os.path.join(d, n + ".idle.txt")).read())
        return float(m.group(1)) if m else None
    except OSError:
        return None
def errs(r):
    return "" if r is None or not r.get("errors_total") else "*"
rows = []
rows.append(("memory per proxied IMAP session in IDLE (KiB PSS)", "lower",
             [None, idle("postern"), idle("nginx")]))
v = []
for n in ("direct", "postern", "nginx"):
    r = rep(n, "relay")
    v.append(r["throughput"]["mb_per_sec"] if r else None)
rows.append(("relay, POP3 download of 2000 messages (MB/s)", "higher", v))
for key, what in (("p50_ms", "p50"), ("p99_ms", "p99")):
    rows.append(("IMAP header sync session %s (ms)" % what, "lower",
                 [step(rep(n, "sync"), "session", key) for n in ("direct", "postern", "nginx")]))
v = []
for n in ("direct", "postern", "nginx"):
    r = rep(n, "logins")
    v.append(r["throughput"]["sessions_per_sec"] if r else None)
rows.append(("IMAP logins per second", "higher", v))
rows.append(("IMAP login p99 (ms)", "lower",
             [step(rep(n, "logins"), "login", "p99_ms") for n in ("direct", "postern", "nginx")]))
fmt = lambda x: "-" if x is None else ("%.0f" % x if x >= 100 else "%.2f" % x)
print("| measurement | better | Dovecot direct | Postern proxy | nginx proxy | Postern/nginx |")
print("|---|---|---|---|---|---|")
for label, better, (a, b, c) in rows:
    ratio = "%.3f" % (b / c) if b is not None and c else "-"
    print("| %s | %s | %s | %s | %s | %s |" % (label, better, fmt(a), fmt(b), fmt(c), ratio))
for n in ("direct", "postern", "nginx"):
    for l in ("relay", "sync", "logins"):
        r = rep(n, l)
        if r and r.get("errors_total"):
            print("  errors: %s %s: %s" % (n, l, r["errors"]))
PY
echo "(raw reports: $W/json${OUT:+, kept})"
