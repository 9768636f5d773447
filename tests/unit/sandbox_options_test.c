/* Unit tests of coderunner-sandbox's command line and report encoding. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "sandbox/sandbox.h"
#include "tests/tap.h"

static int parse(struct sandbox_options *o, char *err, const char *const *args)
{
	static char *argv[32];	/* o->argv points into it */
	int argc = 0;
	argv[argc++] = "coderunner-sandbox";
	for (; *args; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	return options_parse(o, argc, argv, err, 256);
}

#define PARSE(...) parse(&o, err, (const char *const[]){ __VA_ARGS__, NULL })

int main(void)
{
	struct sandbox_options o;
	char err[256];

	is_int(PARSE("--", "python3", "x.py"), 0, "a bare command parses");
	is_int(o.timeout_ms, 30000, "default timeout is 30 s");
	is_int(o.memory_mb, 1536, "default memory is 1536 MB");
	is_int(o.pids, 64, "default pids is 64");
	is_int(o.uid, 65534, "default user is nobody");
	is_int(o.report_fd, -1, "no report fd by default");
	is_str(o.argv[0], "python3", "the command starts after --");
	is_str(o.argv[1], "x.py", "its arguments follow");

	is_int(PARSE("--timeout", "2.5", "--memory", "64", "--pids", "10", "--user", "1234",
		     "--report-fd", "3", "--workdir", "/w", "--", "true"), 0, "every option parses");
	is_int(o.timeout_ms, 2500, "fractional seconds become milliseconds");
	is_int(o.memory_mb, 64, "--memory");
	is_int(o.pids, 10, "--pids");
	is_int(o.uid, 1234, "a numeric uid without a passwd entry");
	is_int(o.gid, 1234, "gets its own number as gid");
	is_int(o.report_fd, 3, "--report-fd");
	is_str(o.workdir, "/w", "--workdir");

	static const char *const bad[][3] = {
		{ "--timeout", "0" }, { "--timeout", "-1" }, { "--timeout", "nan" },
		{ "--timeout", "1e9" }, { "--timeout", "1s" }, { "--timeout", "" },
		{ "--memory", "8" }, { "--memory", "12abc" }, { "--memory", "-5" },
		{ "--memory", "99999999999999999999999" }, { "--pids", "0" },
		{ "--report-fd", "2" }, { "--report-fd", "x" }, { "--user", "root" },
		{ "--user", "0" }, { "--user", "no-such-user-here" }, { "--cgroup", "relative" },
		{ "--setenv", "NOEQUALS" }, { "--setenv", "=x" }, { "--keep-fd", "1" },
		{ "--workdir", "" }, { "--accept-fd", "2" }, { "--accept-fd", "-3" },
		{ "--ro-bind", "/srv" }, { "--ro-bind", "srv:/packages" }, { "--ro-bind", "/srv:packages" },
		{ "--ro-bind", "/srv:/usr" }, { "--ro-bind", "/srv:/work" }, { "--ro-bind", "/srv:/a/b" },
		{ "--ro-bind", "/srv:/" }, { "--ro-bind", "/srv:/.." }, { "--ro-bind", "/srv:/P" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		ok(PARSE(bad[i][0], bad[i][1], "--", "true") < 0 && strstr(err, bad[i][0] + 2),
		   "%s \"%s\" is refused with a message naming it (%s)", bad[i][0], bad[i][1], err);
	ok(PARSE("--timeout", "1") < 0 && strstr(err, "no command"), "a missing command is refused");
	ok(PARSE("--frobnicate", "--", "true") < 0 && strstr(err, "--frobnicate"),
	   "an unknown option is named");
	ok(PARSE("--report-fd", "5", "--keep-fd", "5", "--", "true") < 0,
	   "the report fd cannot also be kept");
	ok(PARSE("--accept-fd", "3", "--", "true") == 0 && o.accept_fd == 3, "--accept-fd");
	ok(PARSE("--zygote", "5", "--template-fd", "4", "--accept-fd", "3", "--", "true") == 0 &&
	   o.zygote_fd == 5 && o.template_fd == 4, "--zygote with --template-fd");
	ok(PARSE("--zygote", "5", "--accept-fd", "3", "--", "true") < 0 && strstr(err, "--zygote"),
	   "--zygote without --template-fd is refused (%s)", err);
	ok(PARSE("--zygote", "4", "--template-fd", "4", "--accept-fd", "3", "--", "true") < 0 &&
	   strstr(err, "--zygote"), "--zygote on the template's own fd is refused");
	ok(PARSE("--", "true") == 0 && o.zygote_fd == -1, "by default: no zygote");
	ok(PARSE("--ro-bind", "/var/cache/x:y/sets:/packages", "--share-net", "--", "true") == 0 &&
	   o.n_binds == 1 && !strcmp(o.bind_src[0], "/var/cache/x:y/sets") && !strcmp(o.bind_dst[0], "/packages") &&
	   o.share_net, "--ro-bind DIR:/NAME (the last colon splits) and --share-net");
	ok(PARSE("--ro-bind", "/a:/links", "--ro-bind", "/b:/links", "--", "true") < 0,
	   "one name is bound once");
	ok(PARSE("--", "true") == 0 && !o.share_net && o.n_binds == 0, "by default: no binds, a network of its own");
	static const char *const not_with_accept[][2] = {
		{ "--workdir", "/w" }, { "--report-fd", "5" }, { "--keep-fd", "5" },
	};
	for (size_t i = 0; i < sizeof not_with_accept / sizeof *not_with_accept; i++)
		ok(PARSE("--accept-fd", "3", not_with_accept[i][0], not_with_accept[i][1], "--", "true") < 0 &&
		   strstr(err, "--accept-fd"),
		   "--accept-fd refuses %s: the client gives that (%s)", not_with_accept[i][0], err);

	/* Exit codes follow the service's contract. */
	int sig;
	is_int(report_exit_code(3 << 8, false, false, &sig), 3, "an exit status passes through");
	is_int(report_exit_code(SIGSEGV, false, false, &sig), 128 + SIGSEGV, "a signal is 128+N");
	is_int(sig, SIGSEGV, "and the signal is named");
	is_int(report_exit_code(SIGKILL, true, false, &sig), 124, "a timeout is 124");
	is_int(report_exit_code(SIGKILL, false, true, &sig), 137, "an OOM kill is 137");
	is_int(report_exit_code(0, true, true, &sig), 124, "a timeout wins over OOM");

	/* The report is valid JSON with every field. */
	PARSE("--", "true");
	struct run_report r = { .exit_code = 124, .signal = 9, .timed_out = true,
				.duration_ms = 1000, .options = &o };
	char *json = report_encode(&r);
	is_str(json, "{\"exit_code\":124,\"signal\":9,\"timed_out\":true,\"oom_killed\":false,"
		     "\"memory_starved\":false,\"duration_ms\":1000,\"cpu_ms\":0,\"memory_peak_kb\":0,\"limits\":{\"memory\":"
		     "\"rlimit\",\"memory_mb\":1536,\"pids\":64,\"timeout_ms\":30000}}",
	       "the report encodes every field");
	free(json);
	r = (struct run_report){ .exit_code = -1, .error = "say \"why\"\n", .cgroup = true };
	json = report_encode(&r);
	ok(json && strstr(json, "\"error\":\"say \\\"why\\\"\\n\"") && strstr(json, "cgroup2"),
	   "an error is escaped and the cgroup named: %s", json);
	free(json);
	static struct workdir_omitted left = { .len = 13, .unnamed = 3, .names = "a/b\0q\"\001\377\0sub" };
	r = (struct run_report){ .omitted = &left };
	json = report_encode(&r);
	ok(json && strstr(json, ",\"output_omitted\":[\"a/b\",\"q\\\"\\u0001\377\",\"sub\"],"
				"\"output_omitted_unnamed\":3}"),
	   "the files left behind are named, each escaped, and those past the room counted: %s", json);
	free(json);
	return done_testing();
}
