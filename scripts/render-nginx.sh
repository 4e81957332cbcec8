#!/usr/bin/env bash
# render-nginx.sh: renders nginx/nginx.conf.in into a runnable nginx.conf for the Funcatron
# frontend, and creates the prefix directory it runs in (pid, logs, temp paths: nothing under
# /var, so nginx can run as root or as a user from a temp dir).
#
# The one renderer: `make run` calls it, and so do the Go tests (internal/servers.NewNginx).
#
#   scripts/render-nginx.sh --prefix DIR [--listen ADDR] [--workers N] [--rabbit-host H]
#       [--rabbit-port P] [--rabbit-hosts H:P,H:P] [--instance-id ID] [--max-body SIZE] [--log-level L]
#       [--access-log PATH|off] [--user USER] [--lua-lib DIR] [--modules-dir DIR]
#       [--resolver ADDR] [--out FILE]
#
# Then: nginx -p DIR -c DIR/nginx.conf -e DIR/logs/error.log   (runs in the foreground)
#
# --rabbit-host, --rabbit-port, --rabbit-hosts and --instance-id are written into the config as
# `env NAME=value;`; without them nginx takes RABBIT_HOST, RABBIT_PORT, RABBIT_HOSTS and
# INSTANCEID from its environment, as it does for the other settings (nginx/README.md).
# A rendered RABBIT_HOST also renders RABBIT_HOSTS (host:port, unless --rabbit-hosts names the
# list): Debian's nginx 1.22 hands Lua a rendered `RABBIT_HOST=value` when it asks for
# RABBIT_HOSTS (a rendered name that is a prefix of the one asked for matches it), so
# RABBIT_HOSTS is rendered first, and always when RABBIT_HOST is.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
template="$here/nginx/nginx.conf.in"

prefix=""
listen="127.0.0.1:8080"
workers="1"
rabbit_host=""
rabbit_port=""
rabbit_hosts=""
instance_id=""
max_body="10m"
log_level="warn"
access_log=""
user=""
lua_lib="$here/frontend-lua/lib"
modules_dir=""
resolver=""
out=""

die() { echo "render-nginx.sh: $*" >&2; exit 2; }

# safe VALUE NAME: a value that cannot break out of its directive
safe_re='^[][A-Za-z0-9_.:/@%+=,-]+$'
safe() {
    [[ "$1" =~ $safe_re ]] || die "bad $2: '$1'"
}

while [[ $# -gt 0 ]]; do
    opt="$1"
    [[ $# -ge 2 ]] || die "$opt needs a value"
    val="$2"
    shift 2
    case "$opt" in
        --prefix) prefix="$val" ;;
        --listen) listen="$val" ;;
        --workers) workers="$val" ;;
        --rabbit-host) rabbit_host="$val" ;;
        --rabbit-port) rabbit_port="$val" ;;
        --rabbit-hosts) rabbit_hosts="$val" ;;
        --instance-id) instance_id="$val" ;;
        --max-body) max_body="$val" ;;
        --log-level) log_level="$val" ;;
        --access-log) access_log="$val" ;;
        --user) user="$val" ;;
        --lua-lib) lua_lib="$val" ;;
        --modules-dir) modules_dir="$val" ;;
        --resolver) resolver="$val" ;;
        --out) out="$val" ;;
        *) die "unknown option $opt" ;;
    esac
done

[[ -n "$prefix" ]] || die "--prefix is required"
mkdir -p "$prefix/logs" "$prefix/tmp"
prefix="$(cd "$prefix" && pwd)"
[[ -f "$template" ]] || die "template $template not found"
[[ -f "$lua_lib/funcatron/startup.lua" ]] || die "no funcatron Lua modules under $lua_lib"

safe "$prefix" prefix
safe "$listen" listen
[[ "$workers" =~ ^([1-9][0-9]*|auto)$ ]] || die "bad workers: '$workers'"
[[ "$max_body" =~ ^[0-9]+[kKmMgG]?$ ]] || die "bad max-body: '$max_body'"
case "$log_level" in debug|info|notice|warn|error|crit) ;; *) die "bad log-level: '$log_level'" ;; esac
safe "$lua_lib" lua-lib
[[ -z "$rabbit_host" ]] || safe "$rabbit_host" rabbit-host
[[ -z "$rabbit_port" || "$rabbit_port" =~ ^[0-9]+$ ]] || die "bad rabbit-port: '$rabbit_port'"
[[ -z "$instance_id" ]] || safe "$instance_id" instance-id
[[ -z "$access_log" ]] && access_log="$prefix/logs/access.log"
[[ "$access_log" == "off" ]] || safe "$access_log" access-log

# Debian's nginx loads the Lua module dynamically; OpenResty has it built in.
load_modules=""
if [[ -z "$modules_dir" && -f /usr/lib/nginx/modules/ngx_http_lua_module.so ]]; then
    modules_dir=/usr/lib/nginx/modules
fi
if [[ -n "$modules_dir" ]]; then
    safe "$modules_dir" modules-dir
    [[ -f "$modules_dir/ngx_http_lua_module.so" ]] ||
        die "$modules_dir/ngx_http_lua_module.so not found (Debian: apt-get install libnginx-mod-http-lua)"
    load_modules="load_module $modules_dir/ndk_http_module.so;
load_module $modules_dir/ngx_http_lua_module.so;"
fi

# Workers keep the master's user when it is root (default: nobody, who cannot read a temp dir).
user_line=""
if [[ -z "$user" && "$(id -u)" == "0" ]]; then
    user="root"
fi
if [[ -n "$user" ]]; then
    safe "$user" user
    user_line="user $user;"
fi

# Only needed when RABBIT_HOST is a name; nginx does not read /etc/hosts.
if [[ -z "$resolver" && -r /etc/resolv.conf ]]; then
    resolver="$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf)"
fi
resolver_line=""
if [[ -n "$resolver" ]]; then
    safe "$resolver" resolver
    [[ "$resolver" == *:*:* ]] && resolver="[$resolver]"
    resolver_line="resolver $resolver ipv6=off;"
fi

if [[ -z "$rabbit_hosts" && ( -n "$rabbit_host" || -n "$rabbit_port" ) ]]; then
    rabbit_hosts="${rabbit_host:-127.0.0.1}:${rabbit_port:-61613}"
fi
[[ -z "$rabbit_hosts" ]] || safe "$rabbit_hosts" rabbit-hosts

env_value() { [[ -n "$1" ]] && printf '=%s' "$1" || true; }

rendered="$(awk \
    -v load_modules="$load_modules" \
    -v user_line="$user_line" \
    -v workers="$workers" \
    -v prefix="$prefix" \
    -v log_level="$log_level" \
    -v env_rabbit_host="$(env_value "$rabbit_host")" \
    -v env_rabbit_port="$(env_value "$rabbit_port")" \
    -v env_rabbit_hosts="$(env_value "$rabbit_hosts")" \
    -v env_instanceid="$(env_value "$instance_id")" \
    -v lua_lib="$lua_lib" \
    -v resolver_line="$resolver_line" \
    -v access_log="$access_log" \
    -v listen="$listen" \
    -v max_body="$max_body" \
    '{
        gsub(/@LOAD_MODULES@/, load_modules)
        gsub(/@USER@/, user_line)
        gsub(/@WORKERS@/, workers)
        gsub(/@PREFIX@/, prefix)
        gsub(/@LOG_LEVEL@/, log_level)
        gsub(/@ENV_RABBIT_HOST@/, env_rabbit_host)
        gsub(/@ENV_RABBIT_PORT@/, env_rabbit_port)
        gsub(/@ENV_RABBIT_HOSTS@/, env_rabbit_hosts)
        gsub(/@ENV_INSTANCEID@/, env_instanceid)
        gsub(/@LUA_LIB@/, lua_lib)
        gsub(/@RESOLVER@/, resolver_line)
        gsub(/@ACCESS_LOG@/, access_log)
        gsub(/@LISTEN@/, listen)
        gsub(/@MAX_BODY@/, max_body)
        print
    }' "$template")"

if grep -q '@[A-Z_]*@' <<<"$rendered"; then
    die "unfilled placeholder: $(grep -o '@[A-Z_]*@' <<<"$rendered" | head -1)"
fi

if [[ -n "$out" ]]; then
    printf '%s\n' "$rendered" >"$out"
else
    printf '%s\n' "$rendered"
fi
