# shellcheck shell=bash
# common.sh - what script/server, script/test and .ci/run share: installing the
# Debian packages of script/packages.txt and building with meson.

CS_ROOT=${CS_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

cs_log() { printf '==> %s\n' "$*" >&2; }

# cs_packages: the package names of script/packages.txt (comments stripped).
cs_packages() {
	sed -e 's/#.*//' -e 's/[[:space:]]//g' "$CS_ROOT/script/packages.txt" | grep -v '^$'
}

# cs_missing_packages: the listed packages that are not installed. nodejs and
# npm count as present when `node` / `npm` run: CI images bring Node 20 from
# elsewhere, and Debian's npm package conflicts with it.
cs_missing_packages() {
	local p
	for p in $(cs_packages); do
		case $p in
		nodejs) command -v node >/dev/null && continue ;;
		npm) command -v npm >/dev/null && continue ;;
		esac
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			printf '%s\n' "$p"
	done
}

# cs_install_packages: apt-get installs what is missing (as root; otherwise
# with sudo if it works without a password, else prints the command).
cs_install_packages() {
	local missing sudo="" created_policy=0
	missing=$(cs_missing_packages | tr '\n' ' ')
	[ -z "${missing// /}" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
			sudo="sudo -n"
		else
			cs_log "missing Debian packages: $missing"
			cs_log "install them with: sudo apt-get install -y $missing"
			return 1
		fi
	fi
	cs_log "installing: $missing"
	# Keep the system's own nginx/mariadb services from starting on install
	# (there may be no init system, and the project runs its own instances).
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null &&
			$sudo chmod 755 /usr/sbin/policy-rc.d && created_policy=1
	fi
	# shellcheck disable=SC2086
	if ! { $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing; } >&2; then
		[ $created_policy = 1 ] && $sudo rm -f /usr/sbin/policy-rc.d
		cs_log "apt-get failed"
		return 1
	fi
	[ $created_policy = 1 ] && $sudo rm -f /usr/sbin/policy-rc.d
	return 0
}

# cs_build BUILDDIR [MESON SETUP OPTIONS...]: meson setup (once) + compile.
cs_build() {
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		cs_log "meson setup $dir $*"
		meson setup "$dir" "$CS_ROOT" "$@" >&2 || return 1
	else
		# test folders are found at configure time: pick up new ones
		meson setup --reconfigure "$dir" "$CS_ROOT" "$@" >/dev/null 2>&1 ||
			meson setup --reconfigure "$dir" "$CS_ROOT" "$@" >&2 || return 1
	fi
	cs_log "meson compile -C $dir"
	meson compile -C "$dir" >&2
}
