/*-------------------------------------------------------------------------
 * actor.h
 *	  The actor check (actor.c): the application user named by apikey.actor
 *	  and the tenant every management call is then confined to.
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_ACTOR_H
#define APIKEY_ACTOR_H

/* the actor of this transaction (apikey.actor), or NULL when unset */
extern const char *actor_or_null(void);

/*
 * Raises 42501 unless the actor may manage keys (of tenant, when not NULL);
 * returns the actor's tenant, or NULL when no actor is set.
 */
extern char *actor_tenant(const char *tenant);

#endif							/* APIKEY_ACTOR_H */
