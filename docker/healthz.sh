#!/bin/bash
# healthz.sh PORT PATH: the images' HEALTHCHECK. GET http://127.0.0.1:PORT/PATH and succeed on
# a 2xx status. bash's /dev/tcp, so the images need neither curl nor wget.
set -eu
exec 3<>"/dev/tcp/127.0.0.1/$1"
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
read -r -t 5 _ status _ <&3
[[ "$status" == 2?? ]]
