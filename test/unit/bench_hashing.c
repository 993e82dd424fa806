/*-------------------------------------------------------------------------
 * bench_hashing.c
 *	  Micro-benchmark of src/hashing.c: nanoseconds per SHA-256 and per
 *	  HMAC-SHA-256 of a 46-byte key (the length of a ck_live_ key), the
 *	  figure verification pays once per call.
 *
 *	  make -C test/unit bench
 *
 * Keys are 1024 distinct well-formed keys from keyfmt_generate(); each
 * figure is the best of 5 rounds of 1,000,000 calls.  Return values are
 * ignored (cast to void) so that this file also builds against a hashing.c
 * whose functions returned void, for a before/after comparison:
 *
 *	  git show main:src/hashing.c > /tmp/old/hashing.c
 *	  git show main:src/hashing.h > /tmp/old/hashing.h
 *	  cc -std=c99 -O2 -I/tmp/old -Isrc -o /tmp/old/bench test/unit/bench_hashing.c \
 *		  /tmp/old/hashing.c src/keyfmt.c [-lcrypto]
 *-------------------------------------------------------------------------
 */
#define _POSIX_C_SOURCE 199309L

#include "hashing.h"
#include "keyfmt.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define NKEYS	1024
#define ROUNDS	5
#define CALLS	1000000

static char keys[NKEYS][KEYFMT_MAX_LEN + 1];
static size_t keylen;

/* keyfmt_random_fn over splitmix64 (deterministic). */
static bool
rnd_splitmix(void *buf, size_t len)
{
	static uint64_t state = 0x9e3779b97f4a7c15ULL;
	uint8_t    *p = buf;

	while (len-- > 0)
	{
		uint64_t	z = (state += 0x9e3779b97f4a7c15ULL);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		*p++ = (uint8_t) (z ^ (z >> 31));
	}
	return true;
}

/* Monotonic time in nanoseconds. */
static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

/* Best ns per call over ROUNDS rounds of CALLS calls; hmac selects HMAC-SHA-256. */
static double
measure(int hmac, unsigned *sink)
{
	/* a pepper as the README makes one: openssl rand -base64 32 */
	static const char pepper[] = "q0m7cYQ2m3E1Vb8yqg3m0m2O9ZbH6Qm7cYQ2m3E1Vb8=";
	uint8_t		out[HASHING_SHA256_LEN];
	double		best = 0;
	int			r;
	long		i;

	for (r = 0; r < ROUNDS; r++)
	{
		double		t0 = now_ns();
		double		ns;

		for (i = 0; i < CALLS; i++)
		{
			const char *k = keys[i & (NKEYS - 1)];

			if (hmac)
				(void) hashing_hmac_sha256(pepper, sizeof(pepper) - 1, k, keylen, out);
			else
				(void) hashing_sha256(k, keylen, out);
			*sink += out[0];
		}
		ns = (now_ns() - t0) / CALLS;
		if (r == 0 || ns < best)
			best = ns;
	}
	return best;
}

int
main(void)
{
	unsigned	sink = 0;
	int			i;

	for (i = 0; i < NKEYS; i++)
	{
		int			n = keyfmt_generate("ck", KEYFMT_ENV_LIVE, rnd_splitmix,
										keys[i], sizeof(keys[i]));

		if (n < 0)
		{
			fprintf(stderr, "keyfmt_generate failed\n");
			return 1;
		}
		keylen = (size_t) n;
	}

	printf("SHA-256 of a %zu-byte key:      %6.1f ns/op (best of %d x %d)\n",
		   keylen, measure(0, &sink), ROUNDS, CALLS);
	printf("HMAC-SHA-256 of a %zu-byte key: %6.1f ns/op (44-byte pepper, best of %d x %d)\n",
		   keylen, measure(1, &sink), ROUNDS, CALLS);
	return sink == 1 ? 2 : 0;	/* keeps the results live */
}
