#!/bin/bash
# cold/api_run.sh — tests/http/api_run.sh with preload = none: every run starts an
# interpreter of its own, pre-started or not, as without a template.
HTTP_CONFIG="preload = none"
. "$top_srcdir/tests/http/api_run.sh"
