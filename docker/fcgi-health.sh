#!/bin/sh
# Health check of the app image: GET /health over FastCGI straight to the
# responder pool (no nginx needed); healthy if it answers and the status is
# not an error (an answer without a Status header is a 200).
out=$(env -i REQUEST_METHOD=GET SCRIPT_NAME=/health 'REQUEST_URI=/health?check=db' QUERY_STRING=check=db \
	SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1 \
	cgi-fcgi -bind -connect "${1:-127.0.0.1:9000}" 2>/dev/null) || exit 1
[ -n "$out" ] || exit 1
printf '%s\n' "$out" | grep -qi '^Status: *[45]' && exit 1
exit 0
