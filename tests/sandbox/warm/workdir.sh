#!/bin/bash
# warm/workdir.sh — tests/sandbox/workdir.sh, every script run warm: in a sandbox
# forked from coderunner-template (tests/sandbox/lib.sh, SB_MODE=warm).
SB_MODE=warm
. "$top_srcdir/tests/sandbox/workdir.sh"
