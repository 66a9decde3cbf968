#!/usr/bin/env bash
# The side-by-side harness: Postern and Dovecot 2.3 over the same generated Maildirs and
# passwd-file, the same scenarios from postern-load against each in one run, and a ratio
# table (Postern / Dovecot) at the end.
#
#   loadtest/compare.sh [--quick] [--out DIR] [--only reload|memory]
#
# Dovecot runs unprivileged (mail processes as nobody) on loopback high ports, twice: as
# Debian configures it ("default": a login process per connection) and in its
# high-performance mode ("perf": login processes reused, service_count = 0). Process and
# connection limits are raised on both so the largest run fits. Everything binds 127.0.0.1.
# Every load run has a connection count and a time cap.
#
# --quick: smaller runs (for trying the harness), not for docs/BENCHMARKS.md.
# --only reload: just the logins-during-reloads rows.
# --only memory: just the idle session memory rows.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

QUICK=0
OUT=""
ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --out) OUT=$2; shift ;;
        --only) ONLY=$2; shift ;;
        *) echo "usage: $0 [--quick] [--out DIR] [--only reload|memory]" >&2; exit 2 ;;
    esac
    shift
done

if [ $QUICK = 1 ]; then
    BIG=2000 USERS=40 IDLE_N=300 STORM_SECS=5s SLOW_SECS=15s SLOW_N=(300)
else
    BIG=10000 USERS=100 IDLE_N=1000 STORM_SECS=10s SLOW_SECS=30s SLOW_N=(1000 10000)
fi

# Install Dovecot if missing (the README's set-up has Rust; this brings the peer).
if ! command -v dovecot >/dev/null || ! [ -x /usr/lib/dovecot/pop3 ] || ! [ -x /usr/lib/dovecot/imap ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq dovecot-core dovecot-pop3d dovecot-imapd
fi
[ "$(id -u)" -eq 0 ] || { echo "compare.sh: run as root (Dovecot's mail processes switch to nobody)" >&2; exit 1; }

W=${OUT:-$(mktemp -d /tmp/postern-compare.XXXXXX)}
mkdir -p "$W/json"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 1
    [ -n "$OUT" ] || rm -rf "$W"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

echo "== building (release)"
cargo build --release -q -p postern -p postern-load
POSTERN=$ROOT/target/release/postern
LOAD=$ROOT/target/release/postern-load

echo "== generating $BIG messages for 'big' and $USERS users x 50 (seed 1)"
$LOAD gen-maildir --out "$W/data" --seed 1 --users "$USERS" --messages 50 --big-messages "$BIG" --password password >/dev/null
PASSWD=$W/data/passwd
# A certificate both servers use.
$POSTERN demo --dir "$W/demo" --no-serve >/dev/null
CERT=$W/demo/cert.pem
KEY=$W/demo/key.pem
# Dovecot's mail processes run as nobody: the data is theirs (Postern runs as root and can
# read it either way).
chown -R nobody:nogroup "$W/data"
chmod 755 "$W" "$W/data"

cat >"$W/postern.toml" <<EOF
[server]
max_connections = 50000
max_connections_per_ip = 50000
shutdown_grace = "1s"
[tls]
cert = "$CERT"
key = "$KEY"
[auth]
passwd_file = "$PASSWD"
failure_delay = "2s"
[mail]
location = "~/Maildir"
[pop3]
login_type = "plaintext"
lock_session = false
[imap]
login_type = "plaintext"
[[listener]]
kind = "pop3"
address = "127.0.0.1:21110"
[[listener]]
kind = "pop3s"
address = "127.0.0.1:21995"
[[listener]]
kind = "imap"
address = "127.0.0.1:21143"
[[listener]]
kind = "imaps"
address = "127.0.0.1:21993"
EOF

dovecot_conf() { # name pop3 pop3s imap imaps extra-login-settings
    local d=$W/$1
    mkdir -p "$d"
    awk -F: -v uid="$(id -u nobody)" -v gid="$(id -g nobody)" \
        'BEGIN{OFS=":"} /^#/ || NF < 2 {next} {$3=uid; $4=gid; print}' "$PASSWD" >"$d/users"
    cat >"$d/dovecot.conf" <<EOF
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
protocols = pop3 imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <$CERT
ssl_key = <$KEY
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
passdb {
  driver = passwd-file
  args = $d/users
}
userdb {
  driver = passwd-file
  args = $d/users
}
service anvil {
  client_limit = 50000
}
service pop3-login {
  inet_listener pop3 {
    port = $2
  }
  inet_listener pop3s {
    port = $3
    ssl = yes
  }
  $6
}
service imap-login {
  inet_listener imap {
    port = $4
  }
  inet_listener imaps {
    port = $5
    ssl = yes
  }
  $6
}
EOF
}
dovecot_conf dovecot-default 22110 22995 22143 22993 ""
dovecot_conf dovecot-perf 23110 23995 23143 23993 "service_count = 0
  process_min_avail = 2"

SERVER_PID=""
# Server ports are below the ephemeral range (32768 and up by default), so that none of the
# generator's thousands of outgoing connections can hold a port a server is about to bind.
start_server() { # name
    case "$1" in
        postern)
            # Reloads are logged at info: the reload rows count them.
            POSTERN_LOG=warn,postern::server::reload=info $POSTERN serve --config "$W/postern.toml" >/dev/null 2>>"$W/postern.log" &
            SERVER_PID=$! ;;
        dovecot-*)
            dovecot -F -c "$W/$1/dovecot.conf" &
            SERVER_PID=$! ;;
    esac
    PIDS+=("$SERVER_PID")
    sleep 2
}
stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    sleep 1
}
port() { # server proto(pop3|pop3s|imap|imaps)
    local base
    case "$1" in postern) base=21 ;; dovecot-default) base=22 ;; dovecot-perf) base=23 ;; esac
    case "$2" in pop3) echo "${base}110" ;; pop3s) echo "${base}995" ;; imap) echo "${base}143" ;; imaps) echo "${base}993" ;; esac
}
load() { # server label args... (writes json/SERVER.LABEL.json)
    local server=$1 label=$2
    shift 2
    echo "   $server: $label"
    $LOAD run "$@" --insecure --quiet --server-pid "$SERVER_PID" --json "$W/json/$server.$label.json" \
        >"$W/json/$server.$label.txt" 2>&1 || echo "   ($server $label exited non-zero; see $W/json/$server.$label.txt)"
}

echo "== this machine's ceiling (no mail protocol)"
$LOAD ceiling --duration 5s --json "$W/json/ceiling.json" >"$W/json/ceiling.txt" 2>&1 || true

# IMAP logins over TLS, the same storm twice: without reloads, and with the server told to
# reload (SIGHUP: configuration, accounts, certificates) every second throughout.
reload_rows() { # server
    local server=$1 p
    p=$(port "$server" imaps)
    start_server "$server"
    load "$server" imap-logins-steady login-storm --protocol imap --port "$p" --transport tls --users "$PASSWD" \
        --connections 32 --duration "$STORM_SECS"
    ( while kill -0 "$SERVER_PID" 2>/dev/null; do sleep 1; kill -HUP "$SERVER_PID" 2>/dev/null || true; done ) &
    local reloader=$!
    load "$server" imap-logins-reloading login-storm --protocol imap --port "$p" --transport tls --users "$PASSWD" \
        --connections 32 --duration "$STORM_SECS"
    kill "$reloader" 2>/dev/null || true
    wait "$reloader" 2>/dev/null || true
    stop_server
    case "$server" in
        postern) grep -c 'reloaded (generation' "$W/postern.log" ;;
        *) grep -c 'SIGHUP received' "$W/$server/dovecot.log" ;;
    esac >"$W/json/$server.reloads.txt" || true
}

memory_rows() { # server: idle POP3 and IMAP session memory, plain and TLS
    local server=$1
    for mode in plain tls; do
        start_server "$server"
        p=$(port "$server" pop3); [ $mode = tls ] && p=$(port "$server" pop3s)
        echo "   $server: idle memory ($mode)"
        python3 scripts/idle-memory.py --pid "$SERVER_PID" --port "$p" \
            --mode "$([ $mode = tls ] && echo ssl || echo plain)" --no-warmup \
            --user user0001 --password password --sessions "$IDLE_N" --hold 3 \
            >"$W/json/$server.idle-$mode.txt" 2>&1 || echo "   (idle memory run failed)"
        stop_server
        # The same for IMAP: logged in, INBOX selected, in IDLE, as mail clients sit.
        start_server "$server"
        p=$(port "$server" imap); [ $mode = tls ] && p=$(port "$server" imaps)
        echo "   $server: idle IMAP memory ($mode)"
        python3 scripts/idle-memory.py --protocol imap --idle --pid "$SERVER_PID" --port "$p" \
            --mode "$([ $mode = tls ] && echo ssl || echo plain)" --no-warmup \
            --user user0001 --password password --sessions "$IDLE_N" --hold 3 \
            >"$W/json/$server.idle-imap-$mode.txt" 2>&1 || echo "   (idle IMAP memory run failed)"
        stop_server
    done
}

SERVERS=(postern dovecot-default dovecot-perf)
if [ "$ONLY" = memory ]; then
    for server in "${SERVERS[@]}"; do
        echo "== $server"
        memory_rows "$server"
    done
    python3 "$ROOT/loadtest/compare_table.py" --present "$W/json" "${SLOW_N[@]}"
    exit 0
fi
if [ "$ONLY" = reload ]; then
    for server in "${SERVERS[@]}"; do
        echo "== $server"
        reload_rows "$server"
    done
    python3 "$ROOT/loadtest/compare_table.py" --present "$W/json" "${SLOW_N[@]}"
    exit 0
fi
for server in "${SERVERS[@]}"; do
    echo "== $server"
    memory_rows "$server"
    start_server "$server"
    for mode in plain tls; do
        p=$(port "$server" pop3); t=plain; [ $mode = tls ] && { p=$(port "$server" pop3s); t=tls; }
        load "$server" "retr-$mode" pop3-download --port "$p" --transport $t --user big --password password \
            --connections 1 --sessions 1 --duration 600s --timeout 120s
        load "$server" "logins-$mode" login-storm --protocol pop3 --port "$p" --transport $t --users "$PASSWD" \
            --connections 32 --duration "$STORM_SECS"
    done
    for n in "${SLOW_N[@]}"; do
        if [ "$server" = dovecot-default ] && [ "$n" -ge 5000 ]; then
            # A login process and a mail process per connection: 20,000 processes would
            # not fit this machine's memory; the perf configuration shows Dovecot's best.
            echo "   $server: slow-$n skipped (two processes per connection)"
            continue
        fi
        load "$server" "slow-$n" pop3-download --port "$(port "$server" pop3)" --transport plain --users "$PASSWD" \
            --connections "$n" --duration "$SLOW_SECS" --link 1mbit --timeout 60s
    done
    # IMAP header FETCH of the big mailbox: cold (no index of the server's own yet), then warm.
    stop_server
    find "$W/data" \( -name 'dovecot.index*' -o -name 'postern.index' \) -delete 2>/dev/null || true
    start_server "$server"
    load "$server" fetch-cold imap-sync --port "$(port "$server" imap)" --transport plain --user big \
        --password password --newest 0 --connections 1 --sessions 1 --duration 600s --timeout 300s
    load "$server" fetch-warm imap-sync --port "$(port "$server" imap)" --transport plain --user big \
        --password password --newest 0 --connections 1 --sessions 1 --duration 600s --timeout 300s
    for mode in plain tls; do
        p=$(port "$server" imap); t=plain; [ $mode = tls ] && { p=$(port "$server" imaps); t=tls; }
        load "$server" "imap-logins-$mode" login-storm --protocol imap --port "$p" --transport $t --users "$PASSWD" \
            --connections 32 --duration "$STORM_SECS"
    done
    # Push: $IDLE_N sessions in IDLE, three rounds of one delivery to every user.
    load "$server" idle-wakeup imap-idle --port "$(port "$server" imap)" --transport plain --users "$PASSWD" \
        --connections "$IDLE_N" --deliveries 3 --maildir-template "$W/data/home/%u/Maildir" \
        --duration 120s --timeout 30s
    stop_server
    reload_rows "$server"
done

echo
grep -v '^postern-load:' "$W/json/ceiling.txt" || true
echo
python3 "$ROOT/loadtest/compare_table.py" "$W/json" "${SLOW_N[@]}"
echo "(raw reports: $W/json${OUT:+, kept})"
