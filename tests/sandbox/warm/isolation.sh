#!/bin/bash
# warm/isolation.sh — tests/sandbox/isolation.sh, every script run warm: in a sandbox
# forked from coderunner-template (tests/sandbox/lib.sh, SB_MODE=warm).
SB_MODE=warm
. "$top_srcdir/tests/sandbox/isolation.sh"
