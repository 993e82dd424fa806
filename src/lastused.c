/*-------------------------------------------------------------------------
 * lastused.c
 *	  Last-used tracking: when a valid key was last seen.
 *
 * Without preloading, a verification writes last_used_at itself, at most
 * once per key per apikey.last_used_interval, only in a read-write READ
 * COMMITTED transaction on a primary, as the tables' owner, in a
 * subtransaction that never lets an error escape, and skipping a row that
 * another transaction holds locked.  Verification never waits or fails
 * because of tracking.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "apikey.h"

/* True when this transaction may write last_used_at without risk. */
static bool
lastused_can_write(void)
{
	return !RecoveryInProgress() &&
		!XactReadOnly &&
		!IsolationUsesXactSnapshot() &&
		!IsInParallelMode();
}

/* Writes last_used_at for row now, in a subtransaction that swallows errors. */
static void
lastused_write_now(int64 id, TimestampTz now)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);

	PG_TRY();
	{
		Oid			save_userid;
		int			save_sec_context;

		keystore_become_owner(&save_userid, &save_sec_context);
		keystore_touch(id, now);
		keystore_restore_user(save_userid, save_sec_context);

		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		/* the subtransaction's abort restores the user and SPI */
		MemoryContextSwitchTo(oldcontext);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_END_TRY();
}

/* Records that row's key was just used successfully. */
void
lastused_record(const KeyRow *row)
{
	TimestampTz now = GetCurrentTimestamp();

	if (!row->last_used_null &&
		row->last_used_at > now - (int64) apikey_last_used_interval * USECS_PER_SEC)
		return;
	if (!lastused_can_write())
		return;
	lastused_write_now(row->id, now);
}
