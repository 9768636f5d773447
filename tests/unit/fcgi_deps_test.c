/* fcgi_deps_test.c — the grammar of a dependency and PEP 440's order. */
#include <string.h>

#include "fcgi/fcgi.h"
#include "tests/tap.h"

static struct requirement req;

static bool parses(const char *s)
{
	return deps_parse(s, &req);
}

static bool satisfies(const char *installed, const char *spec)
{
	return deps_parse(spec, &req) && deps_satisfies(installed, &req);
}

int main(void)
{
	/* what is accepted, and what it means */
	ok(parses("numpy") && !strcmp(req.name, "numpy") && !req.op[0], "a bare name");
	ok(parses("Scikit_Learn>=1.0") && !strcmp(req.name, "scikit-learn") && !strcmp(req.op, ">=") &&
	   !strcmp(req.version, "1.0"), "names are normalised (PEP 503), the clause kept");
	static const char *const good[] = {
		"numpy==1.24.2", "numpy!=1.0", "numpy<=2", "numpy<2", "numpy>1", "numpy~=1.24",
		"numpy==1.*", "numpy!=1.24.*", "numpy==1!2.0", "numpy==2.0rc1", "numpy==1.0.post1.dev2",
		"zope.interface", "a", "numpy==1.0a1", "numpy==1.0alpha.1", "numpy>=1.0RC1", "numpy==1.0c1",
		"numpy==1.0.post1", "numpy==1.0r1", "numpy==1.0.dev0", "numpy<2.0b", "numpy==1!0.1.*",
	};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		ok(parses(good[i]), "accepted: %s", good[i]);
	/* everything that is not a name with at most one clause */
	static const char *const bad[] = {
		"", "numpy; rm -rf /", "numpy;python_version>'3'", "numpy[extra]", "numpy >=1.0",
		"numpy>= 1.0", " numpy", "numpy ", "numpy>=1.0,<2", "numpy===1.0", "numpy=1.0",
		"numpy>=", "numpy@https://example.org/numpy.whl", "git+https://example.org/x.git",
		"./pkg", "/tmp/pkg", "-e.", "--index-url=http://x", "-numpy", "numpy-", "num py",
		"numpy>=1.*", "numpy~=1", "numpy~=1.rc1", "numpy~=1!2.post1", "numpy==v1.0", "numpy==1.0+local", "numpy(>=1.0)",
		/* what pip would take for a file's path */
		"numpy==1.zip", "numpy==1.0.whl", "numpy>=1.tar.gz", "numpy==1.tgz", "numpy<=2.tar",
		/* not PEP 440 */
		"numpy==1.0abc", "numpy==1..0", "numpy==1.0.", "numpy==1!", "numpy==1!2!3", "numpy==1.0rc1.*",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		ok(!parses(bad[i]), "refused: \"%s\"", bad[i]);
	ok(!parses("numpy\n") && !parses("numpy\t") && !parses("numpy==1.0\n"), "refused: a control character");

	/* PEP 440's order */
	static const char *const order[] = {
		"0.9", "1.0.dev1", "1.0a1.dev1", "1.0a1", "1.0a2", "1.0b1", "1.0rc1", "1.0", "1.0.post1.dev1",
		"1.0.post1", "1.0.1", "1.1", "1.10", "2", "9223372036854775807", "99999999999999999998",
		"99999999999999999999", "100000000000000000000.0.dev1", "100000000000000000000",
		"1!0.1", "1!0.1.post99999999999999999999", "99999999999999999999!0",
	};
	for (size_t i = 0; i + 1 < sizeof order / sizeof *order; i++)
		ok(deps_version_compare(order[i], order[i + 1]) < 0, "%s < %s", order[i], order[i + 1]);
	ok(deps_version_compare("1.0", "1.0.0") == 0, "1.0 == 1.0.0");
	ok(deps_version_compare("1.0alpha.2", "1.0a2") == 0 && deps_version_compare("1.0a.2", "1.0a1") > 0,
	   "1.0alpha.2 == 1.0a2: a separator before the number");
	/* Every spelling PEP 440 allows, as its normal form */
	static const char *const same[][2] = {
		{ "1.0pre1", "1.0rc1" }, { "1.0preview1", "1.0rc1" }, { "1.0c1", "1.0rc1" }, { "1.0c", "1.0rc0" },
		{ "1.0RC1", "1.0rc1" }, { "1.0A1", "1.0a1" }, { "1.0alpha1", "1.0a1" }, { "1.0BETA2", "1.0b2" },
		{ "1.0rev1", "1.0.post1" }, { "1.0r1", "1.0.post1" }, { "1.0-post1", "1.0.post1" }, { "1.0DEV3", "1.0.dev3" },
	};
	for (size_t i = 0; i < sizeof same / sizeof *same; i++)
		ok(deps_version_compare(same[i][0], same[i][1]) == 0, "%s == %s", same[i][0], same[i][1]);
	ok(!satisfies("1.24.2", "numpy<=1.24.2pre1"), "1.24.2 is not <= 1.24.2pre1, a release candidate");
	ok(deps_version_compare("1.24.2+dfsg", "1.24.2") == 0, "a local label does not count");
	ok(satisfies("99999999999999999999", "hv>99999999999999999998") &&
	   !satisfies("99999999999999999998", "hv==99999999999999999999"), "numbers past a long's compare as numbers");

	/* clauses against an installed version */
	ok(satisfies("1.24.2", "numpy"), "no clause: any version");
	ok(satisfies("1.24.2", "numpy>=1.20"), "1.24.2 >= 1.20");
	ok(!satisfies("1.24.2", "numpy==0.1"), "1.24.2 is not ==0.1");
	ok(satisfies("1.24.2", "numpy==1.24.*"), "1.24.2 == 1.24.*");
	ok(!satisfies("1.25.0", "numpy==1.24.*"), "1.25.0 is not == 1.24.*");
	ok(satisfies("1.25.0", "numpy!=1.24.*"), "1.25.0 != 1.24.*");
	ok(satisfies("1.24.2", "numpy~=1.24"), "1.24.2 ~= 1.24");
	ok(satisfies("1.25", "numpy~=1.24"), "1.25 ~= 1.24");
	ok(!satisfies("2.0", "numpy~=1.24"), "2.0 is not ~= 1.24");
	ok(!satisfies("1.25.0", "numpy~=1.24.2"), "1.25.0 is not ~= 1.24.2");
	ok(satisfies("1.24.9", "numpy~=1.24.2"), "1.24.9 ~= 1.24.2");
	ok(satisfies("1.24.2", "numpy<2") && !satisfies("2.0", "numpy<2"), "< both ways");
	ok(satisfies("2.1", "numpy>2") && !satisfies("2.0", "numpy>2"), "> both ways");
	ok(satisfies("2.0", "numpy<=2") && satisfies("2.0", "numpy!=1.0"), "<= and !=");
	ok(!satisfies("", "json>=1"), "no known version satisfies no clause");
	ok(satisfies("", "json"), "but is installed");

	/* one spelling for each requirement, which keys its install */
	static const char *const spelled[][2] = {
		{ "NumPy==01.0.0", "numpy==1" }, { "numpy>=1.20", "numpy>=1.20" }, { "numpy<2.0", "numpy<2" },
		{ "numpy~=1.0.0", "numpy~=1.0.0" }, { "numpy~=1.0", "numpy~=1.0" }, { "numpy==1.0.*", "numpy==1.0.*" },
		{ "numpy==0!1.0alpha.1", "numpy==1a1" }, { "numpy==1!2.0RC1", "numpy==1!2rc1" },
		{ "numpy==1.0pre2", "numpy==1rc2" }, { "numpy==1.0.r", "numpy==1.post0" },
		{ "numpy==1.0.post1.dev2", "numpy==1.post1.dev2" }, { "numpy!=0.0", "numpy!=0" }, { "numpy", "numpy" },
		/* numbers past a long's stay what they are, each its own install */
		{ "hv==99999999999999999998", "hv==99999999999999999998" },
		{ "hv==099999999999999999999.0", "hv==99999999999999999999" },
		{ "hv>=1.0rc00000000000000000000000001", "hv>=1rc1" },
	};
	for (size_t i = 0; i < sizeof spelled / sizeof *spelled; i++) {
		char out[512] = "";
		if (parses(spelled[i][0]))
			deps_canonical(&req, out, sizeof out);
		ok(!strcmp(out, spelled[i][1]), "%s is spelled %s (got %s)", spelled[i][0], spelled[i][1], out);
	}
	return done_testing();
}
