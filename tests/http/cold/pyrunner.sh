#!/bin/bash
# cold/pyrunner.sh — tests/http/pyrunner.sh with preload = none: every run starts an
# interpreter of its own, pre-started or not, as without a template.
HTTP_CONFIG="preload = none"
. "$top_srcdir/tests/http/pyrunner.sh"
