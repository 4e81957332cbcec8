#!/bin/sh
# init-secrets.sh: the compose file's one-shot `secrets` step (run as root before anything
# else). Generates every secret once, on volumes, and hands each container only what it
# reads, owned by the user it runs as, mode 0600:
#   /secrets/tron      (uid 10001): admin-token, bus-key, frontend-key, broker-tron-password
#   /secrets/runner    (root):      bus-key, broker-runner-password
#   /secrets/frontend  (uid 10002): frontend-key, broker-frontend-password
#   /secrets/broker    (uid 10003): broker-{tron,runner,frontend}-password
#                                   (read by broker-users.sh, which creates the users)
# A value that exists is kept, so a second `up` keeps the token, keys and passwords; delete
# the volumes (`docker-compose down -v`) to make new ones. The uids are the images' users
# (docker/README.md).
set -eu

tron=10001 frontend=10002 broker=10003
umask 077

# gen FILE: 32 random bytes as 64 hex digits into FILE, unless it holds a value already.
gen() {
	[ -s "$1" ] || head -c 32 /dev/urandom | od -An -tx1 -v | tr -d ' \n' >"$1"
}

# give SRC DIR UID [MODE]: a copy of SRC in DIR, owned by UID, MODE (default 0600).
give() {
	cp "$1" "$2/$(basename "$1")"
	chown "$3:$3" "$2/$(basename "$1")"
	chmod "${4:-600}" "$2/$(basename "$1")"
}

for d in tron runner frontend broker; do mkdir -p "/secrets/$d"; done
gen /secrets/tron/admin-token
gen /secrets/tron/bus-key
gen /secrets/tron/frontend-key
for role in tron runner frontend; do gen "/secrets/broker/broker-$role-password"; done

chown -R "$tron:$tron" /secrets/tron && chmod 700 /secrets/tron && chmod 600 /secrets/tron/*
give /secrets/tron/bus-key /secrets/runner 0
give /secrets/broker/broker-runner-password /secrets/runner 0
give /secrets/tron/frontend-key /secrets/frontend "$frontend"
give /secrets/broker/broker-frontend-password /secrets/frontend "$frontend"
give /secrets/broker/broker-tron-password /secrets/tron "$tron"
chown -R "$broker:$broker" /secrets/broker && chmod 700 /secrets/broker && chmod 600 /secrets/broker/*
chown root:root /secrets/runner && chmod 700 /secrets/runner
chown "$frontend:$frontend" /secrets/frontend && chmod 700 /secrets/frontend
echo "init-secrets: secrets in place"
