#!/usr/bin/env bash
# Idle POP3 session memory, Postern next to Dovecot 2.3, measured in one run over the same
# Maildir and accounts (the demo's). Each server gets N logged-in idle sessions, plain and
# TLS; scripts/idle-memory.py sums RSS/PSS over each server's whole process tree.
#
# Dovecot runs twice: as Debian configures it (one login process per connection) and in its
# high-performance mode (login processes reused: service_count = 0). In both, each POP3
# session is its own mail process, which is how Dovecot works. Process limits are raised so
# that N sessions fit.
#
#   scripts/compare-idle-memory.sh [SESSIONS]      (default 500; needs dovecot-pop3d)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-500}
WORK=$(mktemp -d /tmp/postern-idle.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 1
    rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release -q
BIN=target/release/postern
$BIN demo --dir "$WORK/demo" --no-serve >/dev/null
D="$WORK/demo"

# Postern: same data, plaintext logins allowed so the plain case can be measured, no
# maildrop lock so one account can hold N sessions (Dovecot's default: no lock either).
sed -e 's/login_type = "plaintext-login"/login_type = "plaintext"\nlock_session = false/' \
    -e 's/127.0.0.1:1110/127.0.0.1:21110/' -e 's/127.0.0.1:1995/127.0.0.1:21995/' \
    -e 's/max_connections = 1000/max_connections = 20000/' \
    -e 's/max_connections_per_ip = 100/max_connections_per_ip = 20000/' \
    -e 's/max_sessions_per_user = 20/max_sessions_per_user = 0/' \
    "$D/postern.toml" >"$D/bench.toml"
# Dovecot: unprivileged mail processes (nobody), its own base_dir, same Maildirs.
chown -R nobody:nogroup "$D/mail"
chmod 755 "$WORK" "$D" "$D/mail"
printf 'bob:{PLAIN}demo:%s:%s::%s/mail/bob::\n' "$(id -u nobody)" "$(id -g nobody)" "$D" >"$D/dovecot-users"
dovecot_conf() { # $1 name, $2 pop3 port, $3 pop3s port, $4 extra login settings
    mkdir -p "$WORK/$1"
    cat >"$WORK/$1/dovecot.conf" <<EOF
base_dir = $WORK/$1/run
state_dir = $WORK/$1/state
log_path = $WORK/$1/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <$D/cert.pem
ssl_key = <$D/key.pem
disable_plaintext_auth = no
mail_location = maildir:~/Maildir
default_internal_user = nobody
default_internal_group = nogroup
default_login_user = nobody
first_valid_uid = $(id -u nobody)
mail_max_userip_connections = $((N + 100))
default_process_limit = $((N + 100))
default_client_limit = $((N * 2 + 100))
passdb {
  driver = passwd-file
  args = $D/dovecot-users
}
userdb {
  driver = passwd-file
  args = $D/dovecot-users
}
service pop3-login {
  inet_listener pop3 {
    port = $2
  }
  inet_listener pop3s {
    port = $3
    ssl = yes
  }
  $4
}
service anvil {
  client_limit = $((N * 4 + 100))
}
EOF
}
dovecot_conf dovecot-default 22110 22995 ""
dovecot_conf dovecot-perf 23110 23995 "service_count = 0
  process_min_avail = 2"

measure() { # $1 label, $2 pid, $3 port, $4 mode
    echo "### $1, $4"
    # Cold: the growth of a freshly started server while it holds N sessions, so memory
    # that a server keeps once it has grown is counted, not hidden by an earlier round.
    python3 scripts/idle-memory.py --pid "$2" --port "$3" --mode "$4" --no-warmup \
        --user bob --password demo --sessions "$N" --hold 3 | sed 's/^/    /'
}

for mode in plain ssl; do
    POSTERN_LOG=warn $BIN serve --config "$D/bench.toml" >/dev/null 2>>"$WORK/postern.log" &
    pid=$!
    PIDS+=($pid)
    sleep 1
    port=$([ $mode = plain ] && echo 21110 || echo 21995)
    measure postern "$pid" "$port" "$mode"
    kill "$pid"
    wait "$pid" || true
done

for name in dovecot-default dovecot-perf; do
    for mode in plain ssl; do
        dovecot -F -c "$WORK/$name/dovecot.conf" &
        pid=$!
        PIDS+=($pid)
        sleep 2
        prefix=$([ $name = dovecot-default ] && echo 22 || echo 23)
        port=$([ $mode = plain ] && echo "${prefix}110" || echo "${prefix}995")
        measure "$name" "$pid" "$port" "$mode"
        kill "$pid"
        wait "$pid" || true
        sleep 1
    done
done
