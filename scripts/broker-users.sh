#!/usr/bin/env bash
# broker-users.sh: least privilege on the broker (spec/protocol.md §7, docs/security.md).
# Creates or updates one RabbitMQ user per role on vhost / and deletes `guest` (an
# administrator that can log in from loopback, where bundles run). Idempotent.
#
#   RABBITMQCTL="<command prefix that runs rabbitmqctl against the node>" \
#       scripts/broker-users.sh <secrets-dir>
#
# e.g. RABBITMQCTL="rabbitmqctl -n rabbit@host", or
#      RABBITMQCTL="docker compose exec -T rabbitmq rabbitmqctl".
# $RABBITMQCTL is split on spaces (no quoting inside it). Passwords go to rabbitmqctl on
# stdin, never on a command line (a command line is world-readable in /proc).
#
# Role passwords are read from <secrets-dir>/broker-<role>-password (role = tron, runner,
# frontend); a missing one is generated (32 random letters and digits, mode 0600). Users:
# funcatron-tron, funcatron-runner, funcatron-frontend.
#
# Permissions (configure / write / read regular expressions, matched against queue and
# exchange names), worked out from what each role declares, publishes and consumes. Facts of
# RabbitMQ they rest on: declaring a queue or exchange needs configure on it (a passive
# declare needs nothing); declaring a queue with a dead-letter exchange also needs read on the
# queue and write on the exchange; binding needs write on the queue and read on the
# exchange; consuming needs read on the queue; publishing needs write on the exchange
# (amq.default for the default exchange, whatever the queue behind it). Route queues are the
# names of 16 letters and digits (protocol.md §2); no other queue of ours has such a name.
#   tron:     declares the exchanges funcatron.{dead,events,logging,configuration}, the queue
#             funcatron.dead (bound to its exchange), for_tron and route queues (both
#             dead-lettered to funcatron.dead); consumes for_tron; publishes through the
#             default exchange (inboxes) and to funcatron.events and funcatron.logging;
#             declares, binds to funcatron.configuration and consumes its TR-<uuid>.config
#             and publishes configuration requests to funcatron.configuration;
#             declares, binds to funcatron.logging (read on that exchange) and consumes its
#             TR-<uuid>.logs (the live log view).
#   runner:   declares its exclusive inbox RU-<uuid> and route queues (dead-lettered to
#             funcatron.dead); consumes them; publishes through the default exchange
#             (answers, for_tron, configuration answers) and to funcatron.logging (its
#             log and bundle output); declares, binds to funcatron.configuration and
#             consumes its RU-<uuid>.config. It cannot ask funcatron.configuration, and it cannot
#             consume for_tron or a frontend inbox, nor declare or delete for_tron or an
#             exchange (for_tron and the exchanges are the Tron's).
#   frontend: its STOMP SUBSCRIBE to /queue/FRNT<uuid> declares and consumes that exclusive
#             inbox; it publishes to /amq/queue/<route queue> and /amq/queue/for_tron, i.e.
#             through the default exchange. It cannot consume a route queue or for_tron, nor
#             declare or delete any queue but FRNT ones (exclusivity keeps each worker to
#             its own), nor declare, bind or publish to any exchange but amq.default.
# The Tron queue is for_tron here: a Tron started with another --tron-queue needs these
# expressions edited to match.
#
# It also bounds funcatron.dead in bytes, with an operator policy (funcatron-dead-bytes,
# max-length-bytes $FUNCATRON_DEAD_LETTER_MAX_BYTES, default 256 MiB). The queue declares
# x-max-length 10000, a count: whoever can publish (a frontend's credentials suffice) can
# have 10000 messages of 16 MiB dead-lettered, 156 GiB the broker keeps, and a broker over
# its memory or disk alarm blocks every publisher, i.e. the whole system. The bound is not
# a queue argument because changing the arguments of an existing durable queue makes every
# later declaration fail (PRECONDITION_FAILED); a policy applies to the queue as it is.
# 256 MiB keeps the 10000 newest dead letters of a few KiB each, or at least 16 of the
# largest, and the oldest go first (drop-head). An operator policy, not a policy: RabbitMQ
# applies one policy per queue, and operators' own (HA, queue leader locator, ...) would
# replace ours or ours theirs; an operator policy is merged with the policy in effect
# (the smaller bound wins). An operator policy of your own that matches funcatron.dead
# with a higher priority than 1 replaces this one: give it max-length-bytes too.
set -euo pipefail

die() { echo "broker-users.sh: $*" >&2; exit 2; }

[[ $# -eq 1 ]] || die "usage: RABBITMQCTL=\"<rabbitmqctl command>\" $0 <secrets-dir>"
[[ -n "${RABBITMQCTL:-}" ]] || die "set RABBITMQCTL to the command that runs rabbitmqctl against the node"
secrets="$1"
read -r -a ctl <<<"$RABBITMQCTL"

route='[A-Za-z0-9]{16}'
# the configuration queues of internal/rtconfig (binding one needs write on it)
tronconf='TR-[0-9a-f-]{36}\.config'
# the Tron's queue on funcatron.logging (amqpbus.TronLogsQueue, GET /api/v1/logs)
tronlogs='TR-[0-9a-f-]{36}\.logs'
runnerconf='RU-[0-9a-f-]{36}\.config'
# role → "configure<TAB>write<TAB>read"
declare -A perms=(
    [tron]="^(for_tron|funcatron\.(dead|events|logging|configuration)|$route|$tronconf|$tronlogs)\$	^(amq\.default|funcatron\.(dead|events|logging|configuration)|$tronconf|$tronlogs)\$	^(for_tron|funcatron\.(dead|configuration|logging)|$route|$tronconf|$tronlogs)\$"
    [runner]="^(RU-.*|$route)\$	^(amq\.default|funcatron\.(dead|logging)|$runnerconf)\$	^(RU-.*|$route|funcatron\.configuration)\$"
    [frontend]="^FRNT	^amq\.default\$	^FRNT"
)

# password ROLE: the role's password, generated into its file first when missing.
password() {
    local f="$secrets/broker-$1-password"
    if [[ ! -s "$f" ]]; then
        local gen
        gen="$(head -c 512 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9')"
        [[ ${#gen} -ge 32 ]] || die "could not generate a password for $1"
        (umask 077 && printf '%s\n' "${gen:0:32}" >"$f")
    fi
    chmod 600 "$f"
    local pw
    pw="$(head -n 1 "$f")"
    [[ -n "$pw" ]] || die "$f is empty"
    printf '%s' "$pw"
}

mkdir -p "$secrets"
chmod 700 "$secrets"
users="$("${ctl[@]}" list_users --quiet --no-table-headers | cut -f1)"
exists() { grep -qxF -- "$1" <<<"$users"; }

for role in tron runner frontend; do
    user="funcatron-$role"
    if exists "$user"; then
        password "$role" | "${ctl[@]}" change_password "$user" >/dev/null
    else
        password "$role" | "${ctl[@]}" add_user "$user" >/dev/null
    fi
    IFS=$'\t' read -r conf write read <<<"${perms[$role]}"
    "${ctl[@]}" set_permissions -p / "$user" "$conf" "$write" "$read" >/dev/null
    echo "broker-users.sh: $user on vhost / (configure '$conf', write '$write', read '$read')"
done

dead_max="${FUNCATRON_DEAD_LETTER_MAX_BYTES:-268435456}"
[[ "$dead_max" =~ ^[1-9][0-9]*$ ]] || die "FUNCATRON_DEAD_LETTER_MAX_BYTES must be a positive number of bytes, not '$dead_max'"
"${ctl[@]}" set_operator_policy -p / --priority 1 --apply-to queues funcatron-dead-bytes \
    '^funcatron\.dead$' "{\"max-length-bytes\": $dead_max}" >/dev/null
echo "broker-users.sh: funcatron.dead holds at most $dead_max bytes (operator policy funcatron-dead-bytes)"

if exists guest; then
    "${ctl[@]}" delete_user guest >/dev/null
    echo "broker-users.sh: deleted guest"
fi
