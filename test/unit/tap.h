/*-------------------------------------------------------------------------
 * tap.h
 *	  The few lines of TAP output the unit tests share: ok() records and
 *	  prints one result; ntests and nfailed feed the plan and the exit code.
 *	  Included by exactly one .c file per test program.
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_TAP_H
#define APIKEY_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int	ntests = 0;
static int	nfailed = 0;

/* Records and prints one TAP result. */
static void
ok(int cond, const char *fmt,...)
{
	va_list		ap;

	ntests++;
	if (!cond)
		nfailed++;
	printf("%sok %d - ", cond ? "" : "not ", ntests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

#endif							/* APIKEY_TAP_H */
