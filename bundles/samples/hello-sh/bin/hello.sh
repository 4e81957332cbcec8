#!/bin/sh
# hello-sh: the shell sample bundle, a CGI/1.1 script (RFC 3875) as the exec
# kind's cgi mode runs it: request in the environment and on stdin, response
# (header lines, a blank line, the body) on stdout. Routes and answers are in
# bundles/samples/README.md; JSON answers match hello-go byte for byte.
# Needs only POSIX sh, sed, sort and head -c (coreutils or busybox).
set -u

base=/sh

# The path within the bundle: PATH_INFO, or REQUEST_URI less query and base.
path=${PATH_INFO:-}
if [ -z "$path" ]; then
	path=${REQUEST_URI:-/}
	path=${path%%\?*}
fi
case $path in "$base"/*) path=${path#"$base"} ;; esac
case $path in ?*/) path=${path%/} ;; esac

# json_escape prints $1 with backslashes and double quotes escaped.
json_escape() {
	printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'
}

# query_param prints the raw value of parameter $1 in QUERY_STRING.
query_param() {
	old_ifs=$IFS
	IFS='&'
	for pair in ${QUERY_STRING:-}; do
		case $pair in "$1"=*) IFS=$old_ifs; printf '%s' "${pair#*=}"; return ;; esac
	done
	IFS=$old_ifs
}

# answer STATUS CONTENT-TYPE starts a response; more header lines may follow
# before the blank line.
answer() {
	printf 'Status: %s\nContent-Type: %s\n' "$1" "$2"
}

# The "greeting" prop from FUNCATRON_PROPS (a simple string value); default Hello.
greeting=$(printf '%s' "${FUNCATRON_PROPS:-}" | sed -n 's/.*"greeting"[[:space:]]*:[[:space:]]*"\([^"\\]*\)".*/\1/p')
[ -n "$greeting" ] || greeting=Hello

case "${REQUEST_METHOD:-GET} $path" in
"GET /greet/"*/*)
	answer '404 Not Found' text/plain
	printf '\nnot found\n'
	;;
"GET /greet/"?*)
	name=${path#/greet/}
	answer '200 OK' application/json
	printf 'Set-Cookie: a=1; Path=/\nSet-Cookie: b=2; Path=/\n\n'
	printf '{"greeting":"%s","operation":"%s"}\n' \
		"$(json_escape "$greeting, $name!")" "$(json_escape "${HTTP_X_FUNCATRON_OPERATION:-}")"
	;;
"GET /args")
	answer '200 OK' application/json
	printf '\n{"query":"%s"}\n' "$(json_escape "${QUERY_STRING:-}")"
	;;
"POST /echo")
	length=${CONTENT_LENGTH:-0}
	answer '200 OK' "${CONTENT_TYPE:-application/octet-stream}"
	printf 'X-Echo-Length: %s\n\n' "$length"
	if [ "$length" -gt 0 ]; then head -c "$length"; fi
	;;
"GET /env")
	answer '200 OK' text/plain
	printf '\n'
	env | LC_ALL=C sort
	;;
"GET /health")
	answer '200 OK' text/plain
	printf '\nok\n'
	;;
"GET /sleep")
	ms=$(query_param ms)
	case $ms in '' | *[!0-9]*)
		answer '400 Bad Request' text/plain
		printf '\nms must be a number of milliseconds\n'
		exit 0
		;;
	esac
	ms=$(printf '%s' "$ms" | sed 's/^0*//') # no octal in $(( ))
	ms=${ms:-0}
	sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	answer '200 OK' application/json
	printf '\n{"slept_ms":%s}\n' "$((ms))"
	;;
"GET /crash")
	exit 3 # on purpose, with no output: the runner must answer 502
	;;
*)
	answer '404 Not Found' text/plain
	printf '\nnot found\n'
	;;
esac
