/*-------------------------------------------------------------------------
 * settings.h
 *	  The settings of the extension (GUCs), defined and registered in settings.c.
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_SETTINGS_H
#define APIKEY_SETTINGS_H

#include "apikey.h"

/* GUCs (settings.c) */
extern char *apikey_namespace;
extern int	apikey_last_used_interval;
extern char *apikey_manage_permission;
extern char *apikey_manager_roles;

/* the actor setting (settings.c) */
extern char *apikey_actor;

#endif							/* APIKEY_SETTINGS_H */
