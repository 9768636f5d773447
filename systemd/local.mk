# systemd/local.mk — the service unit, the slice that caps all runs together,
# and the system users and directories they need. The directories come from
# configure (--with-systemdsystemunitdir, --with-sysusersdir, --with-tmpfilesdir).
nodist_systemdsystemunit_DATA = systemd/coderunner.service
dist_systemdsystemunit_DATA = systemd/coderunner.slice
dist_sysusers_DATA = systemd/sysusers.d/coderunner.conf
dist_tmpfiles_DATA = systemd/tmpfiles.d/coderunner.conf
EXTRA_DIST += systemd/coderunner.service.in
CLEANFILES += systemd/coderunner.service

# The unit names the installed programs, so it is made for the configured
# directories at build time (not by configure: they may contain ${prefix}).
systemd/coderunner.service: systemd/coderunner.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
		$(srcdir)/systemd/coderunner.service.in >$@.tmp && mv $@.tmp $@

# What an operator edits or includes, installed with the units so that
# `make install` alone gives a working service: the configuration file (a
# conffile in the Debian package) and the nginx snippet, which goes where
# Debian's nginx keeps snippets and is included inside a server {} block.
coderunnerconfdir = $(sysconfdir)/coderunner
dist_coderunnerconf_DATA = fcgi/coderunner.conf
nginxsnippetsdir = $(sysconfdir)/nginx/snippets
dist_nginxsnippets_DATA = nginx/coderunner.conf
nginxconfddir = $(sysconfdir)/nginx/conf.d
dist_nginxconfd_DATA = nginx/coderunner-limits.conf
# The front end of a fleet is an example for another machine, not this one.
fleetdir = $(datadir)/coderunner
dist_fleet_DATA = nginx/coderunner-fleet.conf
