# playground/local.mk — the page at /playground/: plain HTML, CSS and
# JavaScript, served by nginx from where the package installs them (the
# nginx snippet's alias), and tested in headless Chromium.
playgrounddir = $(datadir)/coderunner/playground
dist_playground_DATA = playground/index.html playground/playground.css playground/playground.js

TESTS += tests/http/playground.sh
EXTRA_DIST += tests/http/playground.sh tests/http/playground_check.mjs
