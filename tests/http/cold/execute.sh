#!/bin/bash
# cold/execute.sh — tests/http/execute.sh with preload = none: every run starts an
# interpreter of its own, pre-started or not, as without a template.
HTTP_CONFIG="preload = none"
. "$top_srcdir/tests/http/execute.sh"
