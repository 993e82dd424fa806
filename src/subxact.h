/*-------------------------------------------------------------------------
 * subxact.h
 *	  Running a piece of work in a subtransaction whose errors are swallowed
 *	  (see subxact.c).
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_SUBXACT_H
#define APIKEY_SUBXACT_H

#include "apikey.h"

typedef void (*SubxactFn) (void *arg);

/*
 * Runs body(arg) in an internal subtransaction.  Returns true when it
 * completed (the subtransaction is released).  On an error the
 * subtransaction is rolled back, on_error(arg) is called (if not NULL) and
 * false is returned; a query cancel or an admin shutdown is rethrown after
 * on_error.  The caller's memory context and resource owner are restored.
 */
extern bool subxact_run(SubxactFn body, SubxactFn on_error, void *arg);

#endif							/* APIKEY_SUBXACT_H */
