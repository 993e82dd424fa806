/*-------------------------------------------------------------------------
 * lastused_standby.c
 *	  On a hot standby, last-used notes go to the primary over libpq: the
 *	  standby never writes.
 *
 * Called by the launcher (lastused_worker.c) every flush interval while the
 * server is in recovery.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "apikey.h"
#include "shmem.h"

char	   *apikey_primary_conninfo = NULL;

/* Ships this standby's pending notes to the primary (not yet: notes wait). */
void
lastused_ship_to_primary(void)
{
}
