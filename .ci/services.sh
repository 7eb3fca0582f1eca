# Start the local database and broker services the suite uses when they are installed but stopped.
# (The suite skips a backend that is not reachable, saying so; CI tries to make them reachable.)

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
    local port=$1 i
    for i in $(seq 1 30); do port_open "$port" && return 0; sleep 1; done
    return 1
}

ensure_services() {
    if ! port_open 5432 && [ -d /etc/postgresql ]; then
        echo "ci: starting PostgreSQL"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
        wait_port 5432 || echo "ci: PostgreSQL did not come up" >&2
    fi
    if ! port_open 3306 && [ -x /usr/sbin/mariadbd ]; then
        echo "ci: starting MariaDB"
        start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
        wait_port 3306 || echo "ci: MariaDB did not come up" >&2
    fi
    if ! port_open 5672 && command -v rabbitmq-server >/dev/null; then
        echo "ci: starting RabbitMQ"
        rabbitmq-server -detached || true
        wait_port 5672 || echo "ci: RabbitMQ did not come up" >&2
    fi
}

# The ecosystem tests drive Horizon in Debian's headless Chromium (Playwright downloads no browser).
ensure_chromium() {
    [ -x /usr/bin/chromium ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "ci: installing chromium"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
            || echo "ci: chromium could not be installed" >&2
    fi
}
