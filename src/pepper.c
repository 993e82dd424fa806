/*-------------------------------------------------------------------------
 * pepper.c
 *	  The peppers: secret keys of the HMAC-SHA-256 that keys are stored with,
 *	  read from files that only the server's OS user can read.
 *
 * A pepper never passes through a setting: a placeholder setting (library
 * not loaded yet) can be read by any role, and a changed setting is logged.
 * apikey.pepper_file and apikey.previous_pepper_file name the files; they
 * are read once per process when the library loads (in the postmaster when
 * preloaded, so once at server start).  A file that cannot be used never
 * stops the server or a verification: it is reported with a WARNING (never
 * its content), and key creation refuses to run without the pepper it was
 * configured with.  The obsolete setting apikey.pepper is never used.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "apikey.h"
#include "pepper.h"
#include "settings.h"

/* a pepper file holds one line of at most this many bytes */
#define PEPPER_MAX_LEN		1024

/* The peppers in use (NUL-terminated, never empty), or NULL */
char	   *apikey_pepper = NULL;
char	   *apikey_previous_pepper = NULL;

/* GUC variables: paths of the pepper files ('' for none) */
static char *pepper_file = NULL;
static char *previous_pepper_file = NULL;

/* Why the configured current pepper cannot be used (no secret in it), or NULL */
static char *pepper_problem = NULL;

/* The obsolete apikey.pepper setting is present in the configuration */
static bool legacy_pepper_set = false;

/*
 * Reads the pepper in file path into *pepper (TopMemoryContext).  Returns
 * NULL on success, else why the file cannot be used.  The file must be a
 * regular file owned by the server's OS user with no group or world access
 * (or owned by root with at most group read), as PostgreSQL requires of
 * ssl_key_file.  Its content, less a trailing newline, is the pepper: one
 * line of 1 to PEPPER_MAX_LEN bytes, no zero byte.
 */
static char *
pepper_read_file(const char *path, char **pepper)
{
	char		buf[PEPPER_MAX_LEN + 3];
	struct stat st;
	size_t		len = 0;
	int			fd;
	int			save_errno;
	char	   *problem = NULL;

	*pepper = NULL;
	fd = open(path, O_RDONLY | PG_BINARY, 0);
	if (fd < 0)
		return psprintf("could not open file \"%s\": %m", path);
	if (fstat(fd, &st) != 0)
		problem = psprintf("could not stat file \"%s\": %m", path);
	else if (!S_ISREG(st.st_mode))
		problem = psprintf("\"%s\" is not a regular file", path);
	else if (st.st_uid != geteuid() && st.st_uid != 0)
		problem = psprintf("file \"%s\" must be owned by the database user or root", path);
	else if ((st.st_uid == geteuid() && (st.st_mode & (S_IRWXG | S_IRWXO))) ||
			 (st.st_uid == 0 && (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO))))
		problem = psprintf("file \"%s\" has group or world access; it must be u=rw (0600) or less if owned by the database user, or u=rw,g=r (0640) or less if owned by root", path);
	else if (st.st_size > PEPPER_MAX_LEN + 2)
		problem = psprintf("file \"%s\" holds more than %d bytes", path, PEPPER_MAX_LEN);
	else
	{
		for (;;)
		{
			ssize_t		n = read(fd, buf + len, sizeof(buf) - 1 - len);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
			{
				problem = psprintf("could not read file \"%s\": %m", path);
				break;
			}
			len += n;
			if (n == 0 || len == sizeof(buf) - 1)
				break;
		}
	}
	save_errno = errno;
	close(fd);
	errno = save_errno;

	if (problem == NULL)
	{
		/* one line: a trailing newline (LF or CRLF) is not part of the pepper */
		if (len > 0 && buf[len - 1] == '\n')
			len--;
		if (len > 0 && buf[len - 1] == '\r')
			len--;
		if (len == 0)
			problem = psprintf("file \"%s\" is empty", path);
		else if (len > PEPPER_MAX_LEN)
			problem = psprintf("file \"%s\" holds more than %d bytes", path, PEPPER_MAX_LEN);
		else if (memchr(buf, '\0', len) != NULL)
			problem = psprintf("file \"%s\" contains a zero byte", path);
		else if (memchr(buf, '\n', len) != NULL || memchr(buf, '\r', len) != NULL)
			problem = psprintf("file \"%s\" holds more than one line", path);
		else
		{
			buf[len] = '\0';
			*pepper = MemoryContextStrdup(TopMemoryContext, buf);
		}
	}
	explicit_bzero(buf, sizeof(buf));
	return problem;
}

/*
 * Loads the pepper of file path (setting name) into *pepper.  When it cannot,
 * returns why and warns; the reason, which names the path, goes to the
 * server log only.
 */
static char *
pepper_load(const char *name, const char *path, char **pepper)
{
	char	   *problem;

	*pepper = NULL;
	if (path == NULL || path[0] == '\0')
		return NULL;
	problem = pepper_read_file(path, pepper);
	if (problem != NULL)
	{
		problem = MemoryContextStrdup(TopMemoryContext, problem);
		ereport(WARNING,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("%s cannot be used", name),
				 errdetail_log("%s", problem),
				 errhint("Keys stored with this pepper answer \"unknown\" until the file is fixed and the server restarted.")));
	}
	return problem;
}

/* True when the obsolete setting name has a value (never looked at further). */
static bool
legacy_setting_present(const char *name)
{
	const char *value = GetConfigOption(name, true, false);

	return value != NULL && value[0] != '\0';
}

/*
 * Called by _PG_init before MarkGUCPrefixReserved: notes the obsolete
 * settings, defines apikey.pepper_file and apikey.previous_pepper_file, and
 * reads the files they name.
 */
void
pepper_init(void)
{
	GucContext	context;

	/*
	 * apikey.pepper and apikey.previous_pepper (1.1) are no longer defined:
	 * MarkGUCPrefixReserved removes them, and they are never used.
	 */
	legacy_pepper_set = legacy_setting_present("apikey.pepper");
	if (legacy_pepper_set || legacy_setting_present("apikey.previous_pepper"))
		ereport(WARNING,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("apikey.pepper and apikey.previous_pepper are no longer supported and are ignored"),
				 errdetail("Any role can read a setting of a library that its session has not loaded."),
				 errhint("Write each pepper into a file readable only by the server's OS user, name the files in apikey.pepper_file and apikey.previous_pepper_file, remove apikey.pepper and apikey.previous_pepper from the configuration, and restart the server.")));

	/* PGC_POSTMASTER settings can only be defined while preloading */
	context = process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SIGHUP;
	DefineCustomStringVariable("apikey.pepper_file",
							   "File holding the secret key of the HMAC-SHA-256 that new keys are stored with.",
							   "Readable only by the server's OS user; read when the library loads. Empty: new keys are stored as plain SHA-256.",
							   &pepper_file,
							   "",
							   context,
							   GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("apikey.previous_pepper_file",
							   "File holding the pepper before the last rotation: keys stored with it keep verifying.",
							   NULL,
							   &previous_pepper_file,
							   "",
							   context,
							   GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);

	pepper_problem = pepper_load("apikey.pepper_file", pepper_file, &apikey_pepper);
	/* reported only: new keys never need the previous pepper */
	(void) pepper_load("apikey.previous_pepper_file", previous_pepper_file,
					   &apikey_previous_pepper);
}

/*
 * Raises 55000 unless new keys can be stored with the configured pepper:
 * a key stored without it would not be what the DBA asked for.
 */
void
pepper_require_usable(void)
{
	if (legacy_pepper_set)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("apikey.pepper is set but no longer supported"),
				 errdetail("A pepper kept in a setting can be read by any role while the apikey library is not loaded."),
				 errhint("Move it into the file named by apikey.pepper_file, remove apikey.pepper from the configuration, and restart the server.")));
	if (pepper_problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("apikey.pepper_file cannot be used"),
				 errdetail_internal("%s", pepper_problem),
				 errhint("Fix the file, then restart the server (without preloading, a new session reads it again).")));
}
