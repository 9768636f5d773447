/* main.c — coderunner-fcgi: options, configuration, start-up checks.
 *
 *   spawn-fcgi -n -s /run/coderunner/fcgi.sock -- coderunner-fcgi [--config FILE]
 *   coderunner-fcgi --check-config [--config FILE]
 *
 * spawn-fcgi hands the listening socket over as fd 0; everything that can be
 * done once (config, the list of importable packages, the cgroup decision,
 * the shared page) is done here, before the workers are forked.
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fcgi/fcgi.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: spawn-fcgi -n -s SOCKET -- coderunner-fcgi [--config FILE]\n"
		"       coderunner-fcgi --check-config [--config FILE]\n"
		"\n"
		"  --config FILE    the configuration file (default " DEFAULT_CONFIG_PATH ")\n"
		"  --check-config   validate the configuration and the programs it names, then exit\n"
		"  --print-config   print every key with the value in force, then exit\n"
		"  --help-config    list every key, its default and meaning, then exit\n"
		"  --version        print the version and exit\n");
}

/* A script's OOM score of 1000 is a floor it cannot lower only where the
 * sandbox writes it with CAP_SYS_RESOURCE (sandbox/init.c). Without it the
 * floor is ours, which a script may lower its score back to: said once,
 * where ours is below 1000 (under coderunner.service, -1000). */
static void say_oom_floor(void)
{
	FILE *f = fopen("/proc/self/oom_score_adj", "re");
	int ours = 1000;
	if (f && fscanf(f, "%d", &ours) != 1)
		ours = 1000;
	if (f)
		fclose(f);
	if (ours < 1000 && !config_sandbox_has_sys_resource())
		log_msg("warning: the sandbox has no CAP_SYS_RESOURCE, so a script may lower its OOM score "
			"from 1000 to this service's %d and outlive other processes when memory runs out", ours);
}

int main(int argc, char **argv)
{
	enum { OPT_CHECK = 256, OPT_PRINT, OPT_HELP_CONFIG, OPT_VERSION, OPT_HELP };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "print-config", no_argument, NULL, OPT_PRINT },
		{ "help-config", no_argument, NULL, OPT_HELP_CONFIG },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = DEFAULT_CONFIG_PATH;
	bool explicit_config = false, check = false, print = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config_path = optarg; explicit_config = true; break;
		case OPT_CHECK: check = true; break;
		case OPT_PRINT: print = true; break;
		case OPT_HELP_CONFIG: config_describe(stdout); return 0;
		case OPT_VERSION: printf("coderunner-fcgi %s\n", PACKAGE_VERSION_STRING); return 0;
		case OPT_HELP: usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	char err[1024];
	service.config_path = config_path;
	/* The packaged file always exists; a developer may run without one. */
	service.config_must_exist = explicit_config || check;
	if (config_load(&service.cfg, config_path, service.config_must_exist, err, sizeof err) < 0) {
		fprintf(stderr, "coderunner-fcgi: %s\n", err);
		return 1;
	}
	if (print) {
		config_print(&service.cfg, stdout);
		return 0;
	}
	if (check) {
		int rc = 0;
		if (config_check_programs(&service.cfg, err, sizeof err) < 0) {
			fprintf(stderr, "coderunner-fcgi: %s\n", err);
			rc = 1;
		}
		if (config_check_run_uids(&service.cfg, err, sizeof err) < 0) {
			fprintf(stderr, "coderunner-fcgi: %s\n", err);
			rc = 1;
		}
		if (config_check_limits(&service.cfg, err, sizeof err) < 0) {
			fprintf(stderr, "coderunner-fcgi: %s\n", err);
			rc = 1;
		}
		if (config_check_timeouts(&service.cfg, err, sizeof err) < 0)
			fprintf(stderr, "coderunner-fcgi: warning: %s\n", err);
		if (rc == 0)
			printf("%s: ok\n", config_path);
		return rc;
	}

	/* From here on this is the service. A reload or a stop that comes
	 * while it starts (systemd takes one as soon as we are exec'd) waits
	 * for the master's signalfd instead of ending us by default action. */
	master_block_signals();

	int listening = 0;
	socklen_t len = sizeof listening;
	if (getsockopt(STDIN_FILENO, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening)
		die("fd 0 is not a listening socket: start me with "
		    "spawn-fcgi -n -s SOCKET -- coderunner-fcgi");

	if (config_check_run_uids(&service.cfg, err, sizeof err) < 0 ||
	    config_check_limits(&service.cfg, err, sizeof err) < 0)
		die("%s", err);
	char failed[4096];
	if (stage_make_root(service.cfg.work_root, 0700, failed, sizeof failed) < 0)
		die_errno("work_root: cannot create %s", failed);
	stage_remove_leftovers(service.cfg.work_root, "run", 0);
	cgroup_setup(service.cfg.cgroup, service.cgroup_dir, sizeof service.cgroup_dir);
	service.memory_ceiling_mb = cgroup_memory_ceiling(service.cgroup_dir,
							  config_template(&service.cfg));
	log_msg("a run may have at most %u MB of memory on this host%s", service.memory_ceiling_mb,
		service.cfg.memory_default_mb > service.memory_ceiling_mb ?
		", less than memory_default_mb: requests get that much" : "");
	if (packages_init(&service.cfg, true, err, sizeof err) < 0) {
		log_msg("%s; dependencies will not be installed", err);
		strcpy(service.cfg.package_index_url, "none");
		strcpy(service.cfg.package_find_links, "none");
	}
	pool_start(&service.cfg);
	if (deps_load(&service.cfg, err, sizeof err) < 0)
		log_msg("%s; requests naming dependencies will be refused", err);
	if (config_check_programs(&service.cfg, err, sizeof err) < 0)
		log_msg("%s: runs will fail (or, without a template, start cold) until it is mended", err);
	if (config_check_timeouts(&service.cfg, err, sizeof err) < 0)
		log_msg("warning: %s", err);
	say_oom_floor();
	slots_init();
	metrics_init();
	health_init();
	log_msg("started: %u workers, %u run slots, queue %u, %u sandboxes pre-started, limits by %s",
		service.cfg.workers, service.cfg.max_runs, service.cfg.queue_size, service.cfg.prestarted,
		service.cgroup_dir[0] ? "cgroup v2" : "rlimits");
	int rc = master_main(STDIN_FILENO);
	/* Every sandbox has ended, and with it every claim on a uid. */
	char lock[4096 + 16];
	snprintf(lock, sizeof lock, "%s/uids.lock", service.cfg.work_root);
	unlink(lock);
	cgroup_teardown();
	return rc;
}
