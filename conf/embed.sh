#!/bin/sh
# Emit a C header holding the shipped mounts.d and environ.d files, used when
# no system configuration directory is installed (e.g. a build-tree capsa).
set -eu
emit() {
	printf 'static const char %s[] =\n' "$1"
	shift
	cat "$@" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$/\\n"/'
	printf '\t"";\n'
}
emit builtin_mounts conf/mounts.d/*.fstab
emit builtin_environ conf/environ.d/*.env
