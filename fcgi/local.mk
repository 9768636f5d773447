# fcgi/local.mk — coderunner-fcgi, its unit tests and the HTTP tier.

# The program is a library plus main.c, so unit tests link the same code.
# Its sources by layer: the service's own ground here (configuration,
# buffers, encodings); http/ the FastCGI loop and what every request goes
# through (master, workers, router, access, response, log, metrics);
# dialects/ what each endpoint accepts and answers; running/ how a run
# happens (run slots, staging, the pool of sandboxes, the run itself and
# start/ the ways it starts, artifacts, and the Python runners built in);
# and the sandbox's removal of a tree a run left, which the work dirs need too.
noinst_LIBRARIES += fcgi/libcoderunner-fcgi.a
fcgi_libcoderunner_fcgi_a_SOURCES = \
	fcgi/fcgi.h fcgi/die.c fcgi/clock.c fcgi/buf.c fcgi/utf8.c fcgi/config.c fcgi/sha256.c \
	fcgi/http/worker.c fcgi/http/master.c fcgi/http/router.c fcgi/http/access.c \
	fcgi/http/response.c fcgi/http/log.c fcgi/http/metrics.c \
	fcgi/dialects/request.c fcgi/dialects/deps.c fcgi/dialects/api_run.c \
	fcgi/dialects/pyrunner.c fcgi/dialects/execute.c fcgi/dialects/json_check.c \
	fcgi/dialects/mcp.c fcgi/dialects/info.c fcgi/dialects/openapi.c \
	fcgi/running/slots.c fcgi/running/stage.c fcgi/running/script.c fcgi/running/run.c \
	fcgi/running/start/claim.c fcgi/running/start/own.c \
	fcgi/running/pool.c fcgi/running/cgroup.c fcgi/running/artifacts.c \
	fcgi/running/packages.c sandbox/remove.h sandbox/remove.c
nodist_fcgi_libcoderunner_fcgi_a_SOURCES = fcgi/runners.c

# The pre-started interpreter every run goes through, and the runners of
# POST /run and /execute, built into the program as C
# strings (passed to python3 -c), so nothing is installed that a run or an
# operator could swap; and the OpenAPI document. Generated in the build
# directory.
fcgi_embed = $(srcdir)/fcgi/running/runners/embed.sh
fcgi_runners = $(srcdir)/fcgi/running/runners/execute.py $(srcdir)/fcgi/running/runners/script.py \
	$(srcdir)/fcgi/running/runners/prestart.py $(srcdir)/fcgi/running/runners/install.py \
	$(srcdir)/fcgi/dialects/openapi.json
fcgi/runners.c: $(fcgi_embed) $(fcgi_runners)
	@$(MKDIR_P) fcgi
	$(AM_V_GEN)$(SHELL) $(fcgi_embed) $(fcgi_runners) >$@.tmp && mv $@.tmp $@
CLEANFILES += fcgi/runners.c fcgi/runners.c.tmp
EXTRA_DIST += fcgi/running/runners/embed.sh fcgi/running/runners/execute.py \
	fcgi/running/runners/script.py fcgi/running/runners/prestart.py fcgi/running/runners/install.py \
	fcgi/dialects/openapi.json

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
	tests/http/packages.sh tests/http/faults.sh \
	tests/http/valgrind.sh \
	tests/http/cold/api_run.sh tests/http/cold/execute.sh tests/http/cold/pyrunner.sh
TESTS += $(fcgi_http_tests)
EXTRA_DIST += tests/http/lib.sh tests/http/wheels.py tests/http/fcgi_client.py tests/http/mcp_client.mjs tests/http/openapi_check.mjs $(fcgi_http_tests)


# fcgi/coderunner.conf and nginx/coderunner.conf are installed by systemd/local.mk.
