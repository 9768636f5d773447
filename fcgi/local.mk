# fcgi/local.mk — coderunner-fcgi, its unit tests and the HTTP tier.

# The program is a library plus main.c, so unit tests link the same code.
noinst_LIBRARIES += fcgi/libcoderunner-fcgi.a
fcgi_libcoderunner_fcgi_a_SOURCES = \
	fcgi/fcgi.h fcgi/die.c fcgi/buf.c fcgi/utf8.c fcgi/config.c fcgi/log.c \
	fcgi/deps.c fcgi/slots.c fcgi/cgroup.c fcgi/request.c fcgi/stage.c \
	fcgi/run.c fcgi/artifacts.c fcgi/response.c fcgi/router.c fcgi/api_run.c \
	fcgi/worker.c fcgi/master.c fcgi/script.c fcgi/pyrunner.c fcgi/execute.c \
	fcgi/info.c fcgi/metrics.c fcgi/json_check.c fcgi/pool.c fcgi/mcp.c fcgi/access.c fcgi/sha256.c fcgi/openapi.c
nodist_fcgi_libcoderunner_fcgi_a_SOURCES = fcgi/runners.c

# The pre-started interpreter every run goes through, and the runners of
# POST /run and /execute, built into the program as C
# strings (passed to python3 -c), so nothing is installed that a run or an
# operator could swap. Generated in the build directory.
fcgi_runners = $(srcdir)/fcgi/runners/execute.py $(srcdir)/fcgi/runners/script.py \
	$(srcdir)/fcgi/runners/prestart.py $(srcdir)/fcgi/openapi.json
fcgi/runners.c: $(srcdir)/fcgi/runners/embed.sh $(fcgi_runners)
	@$(MKDIR_P) fcgi
	$(AM_V_GEN)$(SHELL) $(srcdir)/fcgi/runners/embed.sh $(fcgi_runners) >$@.tmp && mv $@.tmp $@
CLEANFILES += fcgi/runners.c fcgi/runners.c.tmp
EXTRA_DIST += fcgi/runners/embed.sh fcgi/runners/execute.py fcgi/runners/script.py \
	fcgi/runners/prestart.py fcgi/openapi.json

sbin_PROGRAMS += coderunner-fcgi
fcgi_ldadd = fcgi/libcoderunner-fcgi.a $(JSON_C_LIBS) $(CAPNG_LIBS) $(FCGI_LIBS) -lm
coderunner_fcgi_SOURCES = fcgi/main.c
coderunner_fcgi_LDADD = $(fcgi_ldadd)


fcgi_unit_tests = tests/unit/fcgi_encoding_test tests/unit/fcgi_request_test tests/unit/fcgi_config_test \
	tests/unit/fcgi_json_test tests/unit/fcgi_deps_test tests/unit/fcgi_access_test
check_PROGRAMS += $(fcgi_unit_tests)
TESTS += $(fcgi_unit_tests)
# Each test is tests/unit/NAME.c (automake's default source) linked with the library.
tests_unit_fcgi_encoding_test_LDADD = $(fcgi_ldadd)
tests_unit_fcgi_request_test_LDADD = $(fcgi_ldadd)
tests_unit_fcgi_config_test_LDADD = $(fcgi_ldadd)
tests_unit_fcgi_json_test_LDADD = $(fcgi_ldadd)
tests_unit_fcgi_deps_test_LDADD = $(fcgi_ldadd)
tests_unit_fcgi_access_test_LDADD = $(fcgi_ldadd)

# The HTTP tier: a real nginx and spawn-fcgi on 127.0.0.1, run as root.
fcgi_http_tests = tests/http/api_run.sh tests/http/service.sh tests/http/pyrunner.sh \
	tests/http/execute.sh tests/http/info.sh tests/http/limits.sh tests/http/warm.sh tests/http/mcp.sh tests/http/access.sh tests/http/openapi.sh \
	tests/http/valgrind.sh \
	tests/http/cold/api_run.sh tests/http/cold/execute.sh tests/http/cold/pyrunner.sh
TESTS += $(fcgi_http_tests)
EXTRA_DIST += tests/http/lib.sh tests/http/mcp_client.mjs tests/http/openapi_check.mjs $(fcgi_http_tests)


# fcgi/coderunner.conf and nginx/coderunner.conf are installed by systemd/local.mk.
