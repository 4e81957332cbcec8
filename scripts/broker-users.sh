#!/usr/bin/env bash
# broker-users.sh: one RabbitMQ user per role on vhost /, and no `guest` (spec/protocol.md §7).
# Idempotent: run it after every start of a fresh broker, or again at any time.
#
#   RABBITMQCTL="<command prefix that runs rabbitmqctl against the node>" \
#       scripts/broker-users.sh <secrets-dir>
#
# e.g. RABBITMQCTL="rabbitmqctl -n rabbit@rabbitmq" (docker/docker-compose.yml's broker-users
# step). Passwords are read from <secrets-dir>/broker-{tron,runner,frontend}-password; a missing
# one is generated (32 letters and digits, mode 0600). They reach rabbitmqctl on stdin, never on
# a command line (world-readable in /proc). Users: funcatron-tron, funcatron-runner,
# funcatron-frontend.
#
# This version gives each user every permission on / (configure, write, read '.*'): a stand-in
# for the least-privilege expressions of docs/security.md, with the same interface.
set -euo pipefail

die() { echo "broker-users.sh: $*" >&2; exit 2; }

[[ $# -eq 1 ]] || die "usage: RABBITMQCTL=\"<rabbitmqctl command>\" $0 <secrets-dir>"
[[ -n "${RABBITMQCTL:-}" ]] || die "set RABBITMQCTL to the command that runs rabbitmqctl against the node"
secrets="$1"
read -r -a ctl <<<"$RABBITMQCTL"

# password ROLE: the role's password, generated into its file first when missing.
password() {
	local f="$secrets/broker-$1-password"
	if [[ ! -s "$f" ]]; then
		local gen
		gen="$(head -c 512 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9')"
		(umask 077 && printf '%s\n' "${gen:0:32}" >"$f")
	fi
	head -n 1 "$f" | tr -d '\n'
}

mkdir -p "$secrets"
users="$("${ctl[@]}" list_users --quiet --no-table-headers | cut -f1)"
exists() { grep -qxF -- "$1" <<<"$users"; }

for role in tron runner frontend; do
	user="funcatron-$role"
	if exists "$user"; then
		password "$role" | "${ctl[@]}" change_password "$user" >/dev/null
	else
		password "$role" | "${ctl[@]}" add_user "$user" >/dev/null
	fi
	"${ctl[@]}" set_permissions -p / "$user" '.*' '.*' '.*' >/dev/null
	echo "broker-users.sh: $user on vhost /"
done

if exists guest; then
	"${ctl[@]}" delete_user guest >/dev/null
	echo "broker-users.sh: deleted guest"
fi
