/*-------------------------------------------------------------------------
 * lastused.h
 *	  Last-used tracking: notes in shared memory, the flush worker and the
 *	  standby's shipper (lastused.c, lastused_worker.c, lastused_standby.c).
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_LASTUSED_H
#define APIKEY_LASTUSED_H

#include "apikey.h"

/* lastused.c, lastused_worker.c: last-used tracking */
extern int	apikey_last_used_flush_interval;
extern bool lastused_record(const KeyRow *row);
extern void lastused_register_launcher(void);

/* lastused_standby.c: shipping a standby's notes to the primary */
extern char *apikey_primary_conninfo;
extern void lastused_ship_to_primary(void);

#endif							/* APIKEY_LASTUSED_H */
