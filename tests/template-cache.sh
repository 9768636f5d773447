# tests/template-cache.sh — where the tests' templates keep what each import
# of the preload list brings in (coderunner-template --cache, the service's
# template_cache): one file shared by every test, so that only the first
# template finds it out (tests/sandbox/template.sh tests both ways).
# Sourced by tests/http/lib.sh and tests/sandbox/lib.sh.
template_cache=/var/tmp/coderunner-test-cache/template
mkdir -p "${template_cache%/*}"
