/*-------------------------------------------------------------------------
 * lifecycle.h
 *	  Key lifecycle (lifecycle.c): apikey.max_idle, the idle rule used by
 *	  verification, apikey_revoke_user and apikey_prune.
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_LIFECYCLE_H
#define APIKEY_LIFECYCLE_H

#include "apikey.h"

/* apikey.max_idle, in seconds; 0: off (settings.c) */
extern int	apikey_max_idle;

extern bool lifecycle_idle(const KeyRow *row);
extern bool lifecycle_refresh_last_use(KeyRow *row);

#endif							/* APIKEY_LIFECYCLE_H */
