# sandbox/local.mk — coderunner-sandbox and its tests.
bin_PROGRAMS += coderunner-sandbox

# Everything but main() goes into a library the unit tests link against.
noinst_LIBRARIES += sandbox/libsandbox.a
sandbox_sources = \
	sandbox/sandbox.h sandbox/options.c sandbox/die.c sandbox/report.c \
	sandbox/cgroup.c sandbox/init.c sandbox/mounts.c sandbox/loopback.c \
	sandbox/workdir.c sandbox/privileges.c sandbox/seccomp.c \
	sandbox/prestart.h sandbox/prestart.c sandbox/uids.c sandbox/supervisor.c \
	sandbox/forkserver.c sandbox/zygote.c sandbox/remove.h sandbox/remove.c
sandbox_libsandbox_a_SOURCES = $(sandbox_sources)

coderunner_sandbox_SOURCES = sandbox/main.c
coderunner_sandbox_LDADD = sandbox/libsandbox.a $(JSON_C_LIBS) $(CAPNG_LIBS) $(SECCOMP_LIBS) -lm

# coderunner-template: pre-started sandboxes forked from an interpreter that
# has imported the preload list; warm.py, built in as a C string, makes each
# fork a fresh interpreter again.
# It is built from the same sources, without the sanitizers even in a
# sanitizer build: its forks become the scripts' interpreters, and a
# sanitizer's runtime, with terabytes of shadow memory mapped, cannot live
# under a run's RLIMIT_AS.
bin_PROGRAMS += coderunner-template
coderunner_template_SOURCES = sandbox/template/template.h sandbox/template/main.c sandbox/template/cache.c \
	sandbox/template/python.c sandbox/template/memory.c sandbox/template/pages.c sandbox/template/fork.c \
	$(sandbox_sources)
nodist_coderunner_template_SOURCES = sandbox/template/warm.c
coderunner_template_CPPFLAGS = $(AM_CPPFLAGS) $(PYTHON_EMBED_CFLAGS)
coderunner_template_CFLAGS = -std=c11 -Wall -Wextra $(WERROR_CFLAGS)
coderunner_template_LDFLAGS =
coderunner_template_LDADD = $(PYTHON_EMBED_LIBS) $(JSON_C_LIBS) $(CAPNG_LIBS) $(SECCOMP_LIBS) -lm
sandbox/template/warm.c: $(srcdir)/fcgi/running/runners/embed.sh $(srcdir)/sandbox/template/warm.py
	@$(MKDIR_P) sandbox/template
	$(AM_V_GEN)$(SHELL) $(srcdir)/fcgi/running/runners/embed.sh $(srcdir)/sandbox/template/warm.py >$@.tmp && mv $@.tmp $@
CLEANFILES += sandbox/template/warm.c sandbox/template/warm.c.tmp
EXTRA_DIST += sandbox/template/warm.py

sandbox_tests = tests/sandbox/cli.sh tests/sandbox/isolation.sh tests/sandbox/limits.sh \
	tests/sandbox/workdir.sh tests/sandbox/libraries.sh tests/sandbox/prestart.sh \
	tests/sandbox/uids.sh tests/sandbox/template.sh \
	tests/sandbox/warm/isolation.sh tests/sandbox/warm/limits.sh tests/sandbox/warm/workdir.sh
TESTS += $(sandbox_tests)
EXTRA_DIST += tests/sandbox/lib.sh tests/sandbox/prestart_client.py $(sandbox_tests) \
	tests/scripts/fork_twenty.py tests/scripts/fork_and_hold.py

check_PROGRAMS += tests/unit/sandbox_options_test
tests_unit_sandbox_options_test_LDADD = $(coderunner_sandbox_LDADD)
TESTS += tests/unit/sandbox_options_test
check_PROGRAMS += tests/unit/sandbox_forkserver_test
tests_unit_sandbox_forkserver_test_LDADD = $(coderunner_sandbox_LDADD)
TESTS += tests/unit/sandbox_forkserver_test
