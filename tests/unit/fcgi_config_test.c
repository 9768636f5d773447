/* fcgi_config_test.c — the configuration file: defaults, values, errors naming the key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fcgi/fcgi.h"
#include "tests/tap.h"

static char path[] = "/tmp/coderunner-config-test.XXXXXX";
static char err[1024];
static struct config cfg;

static int load(const char *text)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	err[0] = '\0';
	return config_load(&cfg, path, true, err, sizeof err);
}

int main(void)
{
	int fd = mkstemp(path);
	if (fd < 0)
		return 1;
	close(fd);

	config_defaults(&cfg);
	ok(cfg.max_runs >= 2 && cfg.queue_size == 2 * cfg.max_runs, "max_runs and queue_size default from the CPU count");
	is_int(cfg.workers, cfg.max_runs + cfg.queue_size + 2, "workers leave two free for health checks");
	is_int(cfg.timeout_default_s, 30, "timeout_default_s defaults to 30");
	is_int(cfg.timeout_max_s, 300, "timeout_max_s defaults to 300");
	is_int(cfg.max_script_kib, 256, "max_script_kib defaults to 256");
	ok(cfg.uid_first == 2000000000 && cfg.uid_last == 2000000999, "run_uids defaults to 2000000000-2000000999");
	ok(cfg.drain_timeout_s >= cfg.package_install_timeout_s + 30 + cfg.queue_timeout_s + cfg.timeout_max_s,
	   "drain_timeout_s lets the longest request finish: an install, a wait for a slot, a run");

	is_int(load("# a comment\n\n  max_runs = 3  \nqueue_size = 0\nuser = coderunner-run\nrun_uids = 70000-70099\ncgroup = off\n"), 0, "a valid file loads, the obsolete key user included");
	ok(cfg.max_runs == 3 && cfg.queue_size == 0 && cfg.workers == 5, "explicit values, and workers follow them");
	ok(cfg.uid_first == 70000 && cfg.uid_last == 70099, "run_uids FIRST-LAST");
	ok(cfg.cgroup == CGROUP_OFF, "cgroup = off");
	is_int(load("max_runs = auto\n"), 0, "auto is a value");
	is_int(load("max_runs = 3\nmax_runs = 5\n"), 0, "a key given twice loads");
	is_int(cfg.max_runs, 5, "and takes its last value, so a line added at the end overrides");

	is_int(load("max_runz = 3\n"), -1, "an unknown key is an error");
	ok(strstr(err, "unknown key \"max_runz\"") && strstr(err, ":1:"), "naming the key and the line");
	is_int(load("max_runs = 3\n"), 0, "defaults");
	is_int(config_check_timeouts(&cfg, err, sizeof err), 0, "the default timeouts fit nginx's and the drain");
	is_int(load("timeout_max_s = 400\npackage_index_url = https://pypi.org/simple\n"), 0, "a longer timeout_max_s, with installs");
	is_int(config_check_timeouts(&cfg, err, sizeof err), -1, "is one nginx's fastcgi_read_timeout would cut");
	ok(strstr(err, "up to 570 s") && strstr(err, "fastcgi_read_timeout") && strstr(err, "drain_timeout_s = 480"),
	   "saying how long, and what to raise: nginx's timeout and the drain");
	is_int(load("execute_timeout_s = 600\n"), 0, "a longer execute_timeout_s");
	is_int(config_check_timeouts(&cfg, err, sizeof err), -1, "counts too");
	ok(strstr(err, "up to 610 s (queue_timeout_s + execute_timeout_s)") != NULL, "saying so");
	is_int(load("drain_timeout_s = 60\n"), 0, "a short drain_timeout_s");
	is_int(config_check_timeouts(&cfg, err, sizeof err), -1, "is one a stop would cut");
	ok(strstr(err, "drain_timeout_s = 60") != NULL, "saying so");
	is_int(load("\xef\xbb\xbfmax_runs = 3\n"), 0, "a byte order mark before the first key is not part of it");
	is_int(cfg.max_runs, 3, "and the key takes its value");
	is_int(load("max_runs = 3\n\xef\xbb\xbfmax_runs = 3\n"), -1, "one further down is");
	is_int(load("max_runs = lots\n"), -1, "a non-number is an error");
	ok(strstr(err, "max_runs") != NULL, "naming the key");
	is_int(load("timeout_max_s = 0\n"), -1, "a value below its range is an error");
	is_int(load("max_runs = 99999\n"), -1, "a value above its range is an error");
	is_int(load("max_runs = -1\n"), -1, "a negative value is an error");
	is_int(load("max_runs 3\n"), -1, "a line without = is an error");
	is_int(load("cgroup = maybe\n"), -1, "a bad cgroup mode is an error");
	is_int(load("run_uids = 70000\n"), -1, "run_uids without LAST is an error");
	is_int(load("run_uids = 70099-70000\n"), -1, "run_uids with LAST below FIRST is an error");
	is_int(load("run_uids = 0-100\n"), -1, "run_uids from root is an error");
	is_int(load("run_uids = 2147483600-2147483700\n"), -1, "run_uids past 2^31 - 1 is an error");
	is_int(load("run_uids = 70000-70001\n"), -1, "run_uids too small for the sandboxes at once is an error");
	is_int(load("work_root = relative/dir\n"), -1, "a relative path is an error");
	ok(strstr(err, "work_root") != NULL, "naming the key");
	ok(!config_installs(&cfg), "installs are off by default");
	is_int(load("package_index_url = https://mirror.example/simple\n"), 0, "an https index");
	ok(config_installs(&cfg), "turns installs on");
	is_int(load("package_find_links = /srv/wheels\n"), 0, "a directory of wheels");
	ok(config_installs(&cfg), "turns them on too");
	is_int(load("package_index_url = file:///srv/simple\n"), -1, "an index that is not http(s) is an error");
	is_int(load("package_index_url = http://a b/\n"), -1, "an index URL with a space is an error");
	is_int(load("package_find_links = wheels\n"), -1, "a relative wheel directory is an error");
	is_int(load("package_index_url = http://i/simple\npackage_find_links = /w\n"), -1,
	       "an index and a directory together are an error");
	ok(strstr(err, "package_index_url and package_find_links") != NULL, "naming both");
	is_int(load("timeout_default_s = 400\n"), -1, "a default above its maximum is an error");
	ok(strstr(err, "timeout_default_s") != NULL, "naming the key");
	is_int(load("max_runs = 2\nqueue_size = 2\nworkers = 4\n"), -1, "too few workers for health checks is an error");
	is_int(load("python =\n"), -1, "an empty string is an error");
	is_int(config_load(&cfg, "/nonexistent/coderunner.conf", true, err, sizeof err), -1, "a missing file is an error when named");
	is_int(config_load(&cfg, "/nonexistent/coderunner.conf", false, err, sizeof err), 0, "but not when it is the default path");
	unlink(path);
	return done_testing();
}
