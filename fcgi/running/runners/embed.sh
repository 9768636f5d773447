#!/bin/sh
# embed.sh FILE... — print C definitions `const char runner_NAME[]` holding
# each runner's source (NAME.py), so coderunner-fcgi carries its runners inside itself
# and passes them to python3 -c: nothing to install, nothing a run can swap;
# any other file (NAME.json) becomes `const char doc_NAME[]`.
# Whole-line comments are left out (the runners keep no "#" line inside a
# string); every "?" is escaped so no "??" can become a C trigraph.
set -e
for f in "$@"; do
	case $f in
	*.py) name=runner_$(basename "$f" .py) ;;
	*) name=doc_$(basename "$f" | sed 's/\..*//') ;;
	esac
	printf '/* Generated from %s by embed.sh; edit that file. */\n' "$(basename "$f")"
	printf 'const char %s[] =\n' "$name"
	sed -e '/^[[:space:]]*#/d' -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' \
		-e 's/^/\t"/' -e 's/$/\\n"/' "$f"
	printf '\t;\n'
done
