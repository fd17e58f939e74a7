#!/bin/sh
# Renders conf/nginx/crowdsky.conf.in from CROWDSKY_* variables (the same keys
# as the native set-up) and runs nginx in the foreground.
set -eu
: "${CROWDSKY_WEBDAV_USER:?set CROWDSKY_WEBDAV_USER}"
: "${CROWDSKY_WEBDAV_PASSWORD:?set CROWDSKY_WEBDAV_PASSWORD}"
FCGI_UPSTREAM=${CROWDSKY_FCGI_UPSTREAM:-fcgi:9000}
printf '%s:%s\n' "$CROWDSKY_WEBDAV_USER" "$(openssl passwd -apr1 "$CROWDSKY_WEBDAV_PASSWORD")" \
	>/etc/crowdsky/htpasswd
sed -e "s|@LISTEN@|8080|g" \
	-e "s|@SERVER_NAME@|${CROWDSKY_SERVER_NAME:-localhost}|g" \
	-e "s|@FCGI_UPSTREAM@|$FCGI_UPSTREAM|g" \
	-e "s|@STATIC_DIR@|/srv/crowdsky/static|g" \
	-e "s|@DAV_ROOT@|/srv/dav|g" \
	-e "s|@HTPASSWD@|/etc/crowdsky/htpasswd|g" \
	-e "s|@PAGE_CACHE@|/var/lib/nginx/tmp/pages|g" \
	/etc/crowdsky/crowdsky.conf.in >/etc/crowdsky/crowdsky-site.conf
exec nginx -c /etc/crowdsky/nginx.conf -e /dev/stderr -g 'daemon off;'
