#!/bin/sh
# Emit a C string array NAME holding the concatenated FILEs:
#   embed.sh NAME FILE...
# Used for the shipped mounts.d and environ.d files (the fallback when no
# system configuration directory is installed) and the bundle header.
set -eu
name=$1
shift
printf 'static const char %s[] =\n' "$name"
cat "$@" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$/\\n"/'
printf '\t"";\n'
