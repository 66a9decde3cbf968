# The settings behind docs/BENCHMARKS.md and 100k+ connections; sourced by apply.sh and show.sh.
# Each is explained in tuning/README.md.
SYSCTLS=(
    "net.core.somaxconn=65535"
    "net.ipv4.tcp_max_syn_backlog=65535"
    "net.ipv4.ip_local_port_range=1024 65535"
    "net.ipv4.tcp_tw_reuse=1"
    "net.ipv4.tcp_fin_timeout=15"
    "net.core.netdev_max_backlog=16384"
    "net.ipv4.tcp_mem=786432 1048576 1572864"
    "net.ipv4.tcp_rmem=4096 16384 4194304"
    "net.ipv4.tcp_wmem=4096 16384 4194304"
    "net.core.rmem_default=65536"
    "net.core.wmem_default=65536"
    "fs.file-max=2097152"
    "fs.nr_open=2097152"
    "fs.inotify.max_user_watches=1048576"
    "fs.inotify.max_user_instances=8192"
)
NOFILE=1048576
MEMLOCK_KIB=unlimited
# Settings that are only ever raised by apply.sh, never lowered (a machine may already have more).
RAISE_ONLY=(net.core.somaxconn net.ipv4.tcp_max_syn_backlog net.core.netdev_max_backlog fs.file-max fs.nr_open fs.inotify.max_user_watches fs.inotify.max_user_instances)
