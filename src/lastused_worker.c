/*-------------------------------------------------------------------------
 * lastused_worker.c
 *	  The last-used background workers: a launcher, started by the
 *	  postmaster when the library is preloaded, and short-lived flush workers.
 *
 * Every apikey.last_used_flush_interval the launcher looks for databases
 * with pending notes (lastused.c) and, one at a time, starts a flush worker
 * connected to that database, which takes the notes out of shared memory
 * (one partition at a time) and writes them in transactions of FLUSH_BATCH
 * rows (synchronous_commit off), skipping rows other transactions have
 * locked, then exits.
 * Flush workers never stay connected, so DROP DATABASE is never blocked.
 * If a flush fails, what it took is counted as dropped; a database whose
 * flush keeps failing (dropped, extension removed) has its notes dropped.
 * On a standby the launcher writes nothing: it ships the notes to the
 * primary (lastused_standby.c).  It exits with the postmaster and is
 * restarted after a crash.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "apikey.h"
#include "lastused.h"
#include "shmem.h"

#define FLUSH_MAX_DATABASES		32	/* databases flushed per round */
#define FLUSH_MAX_FAILURES		3	/* failed rounds before a database's notes are dropped */
#define FLUSH_BATCH				1000	/* notes written per transaction */

int			apikey_last_used_flush_interval = 10000;

PGDLLEXPORT void apikey_launcher_main(Datum main_arg);
PGDLLEXPORT void apikey_flush_main(Datum main_arg);

/* Registers the launcher with the postmaster (from _PG_init, when preloading). */
void
lastused_register_launcher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "apikey");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "apikey_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "apikey last-used launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "apikey last-used launcher");
	RegisterBackgroundWorker(&worker);
}

/* Drops every pending note of a database, counting them. */
static void
launcher_drop_database(Oid dboid)
{
	uint64		n = pending_remove_database(dboid);

	stats_add(CTR_LAST_USED_DROPPED, n);
	if (n > 0)
		ereport(LOG,
				(errmsg("apikey: dropped %llu last-used records of database %u after repeated flush failures",
						(unsigned long long) n, dboid)));
}

/* Runs one flush worker for a database and waits for it; true when it committed. */
static bool
launcher_flush(Oid dboid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	bool		ok;
	int			taken;

	LWLockAcquire(apikey_shared->lock, LW_EXCLUSIVE);
	apikey_shared->flushed_db = InvalidOid;
	apikey_shared->flush_taken = 0;
	LWLockRelease(apikey_shared->lock);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "apikey");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "apikey_flush_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "apikey last-used flush");
	snprintf(worker.bgw_type, BGW_MAXLEN, "apikey last-used flush");
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		ereport(LOG,
				(errmsg("apikey: could not start a last-used flush worker"),
				 errhint("Raise max_worker_processes.")));
		return false;
	}
	if (WaitForBackgroundWorkerShutdown(handle) == BGWH_POSTMASTER_DIED)
		proc_exit(1);

	LWLockAcquire(apikey_shared->lock, LW_EXCLUSIVE);
	ok = (apikey_shared->flushed_db == dboid);
	taken = apikey_shared->flush_taken;
	/* what a failed worker still held is counted as dropped just below */
	apikey_shared->flush_taken = 0;
	LWLockRelease(apikey_shared->lock);
	if (!ok && taken > 0)
		stats_add(CTR_LAST_USED_DROPPED, taken);
	return ok;
}

/*
 * SIGUSR1 handler of the launcher: the postmaster signals the end of a flush
 * worker this way (workers without a database connection ignore SIGUSR1 by
 * default, and WaitForBackgroundWorkerShutdown waits on our latch).
 */
static void
launcher_sigusr1(SIGNAL_ARGS)
{
	int			save_errno = errno;

	SetLatch(MyLatch);
	errno = save_errno;
}

/* Main loop of the launcher. */
void
apikey_launcher_main(Datum main_arg)
{
	Oid			failed_db[FLUSH_MAX_DATABASES];
	int			failures[FLUSH_MAX_DATABASES];
	int			nfailed = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGUSR1, launcher_sigusr1);
	BackgroundWorkerUnblockSignals();
	apikey_shared->launcher_pid = MyProcPid;
	/* a previous launcher that failed while shipping held nothing any more */
	apikey_shared->ship_taken = 0;

	for (;;)
	{
		Oid			dbs[FLUSH_MAX_DATABASES];
		int			ndbs,
					i,
					j;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 apikey_last_used_flush_interval, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (RecoveryInProgress())
		{
			/* a standby writes nothing: its notes go to the primary */
			lastused_ship_to_primary();
			continue;
		}

		ndbs = pending_databases(dbs, FLUSH_MAX_DATABASES);
		for (i = 0; i < ndbs; i++)
		{
			bool		ok = launcher_flush(dbs[i]);

			for (j = 0; j < nfailed && failed_db[j] != dbs[i]; j++)
				;
			if (ok)
			{
				if (j < nfailed)	/* forget its failures */
				{
					failed_db[j] = failed_db[nfailed - 1];
					failures[j] = failures[nfailed - 1];
					nfailed--;
				}
				continue;
			}
			if (j == nfailed)
			{
				if (nfailed == FLUSH_MAX_DATABASES)
					continue;
				failed_db[nfailed] = dbs[i];
				failures[nfailed++] = 0;
			}
			if (++failures[j] >= FLUSH_MAX_FAILURES)
			{
				launcher_drop_database(dbs[i]);
				failed_db[j] = failed_db[nfailed - 1];
				failures[j] = failures[nfailed - 1];
				nfailed--;
			}
		}
	}
}

/* Forgets n notes the flush worker took out: written, or counted as dropped. */
static void
flush_untake(int n)
{
	LWLockAcquire(apikey_shared->lock, LW_EXCLUSIVE);
	apikey_shared->flush_taken -= n;
	LWLockRelease(apikey_shared->lock);
}

/*
 * Takes this database's notes and writes them, FLUSH_BATCH per transaction,
 * so that no key row stays locked for longer than one small batch.
 */
static void
flush_database(Oid dboid)
{
	PendingUse *notes;
	int			n;
	int			off;

	notes = lastused_take_notes(&n);
	for (off = 0; off < n; off += FLUSH_BATCH)
	{
		int			m = Min(FLUSH_BATCH, n - off);
		int			written = 0;
		Oid			nsp;
		bool		gone;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);
		/* a table lock held by a long transaction must not stall every later flush */
		SetConfigOption("lock_timeout", "1s", PGC_SUSET, PGC_S_OVERRIDE);
		SetConfigOption("statement_timeout", "10s", PGC_SUSET, PGC_S_OVERRIDE);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "apikey: writing last_used_at");

		nsp = get_namespace_oid(APIKEY_SCHEMA, true);
		gone = !OidIsValid(nsp) || !OidIsValid(get_relname_relid(APIKEY_KEYS_TABLE, nsp));
		if (!gone)
			written = lastused_flush_batch(notes + off, m);

		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();

		if (gone)
		{
			/* the extension is gone from this database: its notes go nowhere */
			stats_add(CTR_LAST_USED_DROPPED, n - off);
			flush_untake(n - off);
			launcher_drop_database(dboid);
			break;
		}
		stats_add(CTR_LAST_USED_WRITTEN, written);
		flush_untake(m);
	}
	pfree(notes);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * A flush worker: writes the pending notes of one database, then exits.
 * An error is logged by its message alone: PostgreSQL's details of a failed
 * row (a constraint a DBA added, say) would print the row, hash included.
 */
void
apikey_flush_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	MemoryContext oldcontext;

	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	oldcontext = CurrentMemoryContext;

	PG_TRY();
	{
		flush_database(dboid);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(LOG,
				(errmsg("apikey: could not write last_used_at: %s", edata->message)));
		proc_exit(1);
	}
	PG_END_TRY();

	LWLockAcquire(apikey_shared->lock, LW_EXCLUSIVE);
	apikey_shared->flushed_db = dboid;
	LWLockRelease(apikey_shared->lock);
	proc_exit(0);
}
