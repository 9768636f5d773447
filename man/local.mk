# man/local.mk — the manual pages. coderunner-sandbox(1) documents the same
# contract as the README; coderunner.conf(5) lists every key of the
# configuration file (tests/system/run checks it against
# `coderunner-fcgi --help-config`).
dist_man_MANS += man/coderunner-sandbox.1 man/coderunner-template.1 man/coderunner-fcgi.8 \
	man/coderunner.conf.5
