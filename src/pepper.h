/*-------------------------------------------------------------------------
 * pepper.h
 *	  The peppers of HMAC key hashes, read from files (pepper.c).
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_PEPPER_H
#define APIKEY_PEPPER_H

#include "apikey.h"

/* pepper.c: the peppers, read from apikey.pepper_file and apikey.previous_pepper_file */
extern char *apikey_pepper;
extern char *apikey_previous_pepper;
extern void pepper_init(void);
extern void pepper_require_usable(void);

#endif							/* APIKEY_PEPPER_H */
