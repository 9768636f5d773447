# tests/local.mk — TAP helpers shared by every tier.
EXTRA_DIST += tests/tap.h tests/tap.sh tests/template-cache.sh
