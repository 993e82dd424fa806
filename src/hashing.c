/*-------------------------------------------------------------------------
 * hashing.c
 *	  Owns SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104) of key material.
 *	  Pure C99, no PostgreSQL headers (no clash with pg_sha256_*), no malloc.
 *-------------------------------------------------------------------------
 */
#include "hashing.h"

#include <string.h>

#define SHA256_BLOCK_LEN	64

/* Incremental SHA-256 state; private to this file. */
typedef struct Sha256Ctx
{
	uint32_t	h[8];			/* chaining value */
	uint64_t	total;			/* bytes hashed so far */
	size_t		buflen;			/* bytes waiting in buf */
	uint8_t		buf[SHA256_BLOCK_LEN];
} Sha256Ctx;

/* FIPS 180-4 section 4.2.2: the first 32 bits of the cube roots of the first 64 primes. */
static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5,
	0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
	0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
	0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5,
	0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

/* Rotates x right by n bits (0 < n < 32). */
#define ROTR32(x, n)	((uint32_t) (((x) >> (n)) | ((x) << (32 - (n)))))

/* Overwrites len bytes at p in a way the compiler may not elide. */
static void
wipe(void *p, size_t len)
{
	volatile uint8_t *v = (volatile uint8_t *) p;

	while (len-- > 0)
		*v++ = 0;
}

/* Reads a big-endian 32-bit word, independently of host byte order. */
static uint32_t
load_be32(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) |
		((uint32_t) p[2] << 8) | (uint32_t) p[3];
}

/* Writes v as a big-endian 32-bit word. */
static void
store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

/* Runs the compression function over one 64-byte block. */
static void
sha256_compress(uint32_t h[8], const uint8_t *block)
{
	uint32_t	w[64];
	uint32_t	a,
				b,
				c,
				d,
				e,
				f,
				g,
				hh;
	int			t;

	for (t = 0; t < 16; t++)
		w[t] = load_be32(block + 4 * t);
	for (t = 16; t < 64; t++)
	{
		uint32_t	s0 = ROTR32(w[t - 15], 7) ^ ROTR32(w[t - 15], 18) ^ (w[t - 15] >> 3);
		uint32_t	s1 = ROTR32(w[t - 2], 17) ^ ROTR32(w[t - 2], 19) ^ (w[t - 2] >> 10);

		w[t] = w[t - 16] + s0 + w[t - 7] + s1;
	}

	a = h[0];
	b = h[1];
	c = h[2];
	d = h[3];
	e = h[4];
	f = h[5];
	g = h[6];
	hh = h[7];

	for (t = 0; t < 64; t++)
	{
		uint32_t	S1 = ROTR32(e, 6) ^ ROTR32(e, 11) ^ ROTR32(e, 25);
		uint32_t	ch = (e & f) ^ (~e & g);
		uint32_t	t1 = hh + S1 + ch + sha256_k[t] + w[t];
		uint32_t	S0 = ROTR32(a, 2) ^ ROTR32(a, 13) ^ ROTR32(a, 22);
		uint32_t	maj = (a & b) ^ (a & c) ^ (b & c);
		uint32_t	t2 = S0 + maj;

		hh = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}

	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
	h[5] += f;
	h[6] += g;
	h[7] += hh;

	wipe(w, sizeof(w));
}

/* Sets ctx to the FIPS 180-4 initial hash value. */
static void
sha256_init(Sha256Ctx *ctx)
{
	ctx->h[0] = 0x6a09e667;
	ctx->h[1] = 0xbb67ae85;
	ctx->h[2] = 0x3c6ef372;
	ctx->h[3] = 0xa54ff53a;
	ctx->h[4] = 0x510e527f;
	ctx->h[5] = 0x9b05688c;
	ctx->h[6] = 0x1f83d9ab;
	ctx->h[7] = 0x5be0cd19;
	ctx->total = 0;
	ctx->buflen = 0;
}

/* Feeds len bytes of data into ctx. */
static void
sha256_update(Sha256Ctx *ctx, const void *data, size_t len)
{
	const uint8_t *p = (const uint8_t *) data;

	if (len == 0)
		return;					/* data may then be NULL */
	ctx->total += (uint64_t) len;

	if (ctx->buflen > 0)
	{
		size_t		take = SHA256_BLOCK_LEN - ctx->buflen;

		if (take > len)
			take = len;
		memcpy(ctx->buf + ctx->buflen, p, take);
		ctx->buflen += take;
		p += take;
		len -= take;
		if (ctx->buflen < SHA256_BLOCK_LEN)
			return;
		sha256_compress(ctx->h, ctx->buf);
		ctx->buflen = 0;
	}

	while (len >= SHA256_BLOCK_LEN)
	{
		sha256_compress(ctx->h, p);
		p += SHA256_BLOCK_LEN;
		len -= SHA256_BLOCK_LEN;
	}

	if (len > 0)
	{
		memcpy(ctx->buf, p, len);
		ctx->buflen = len;
	}
}

/* Pads, writes the digest to out and wipes ctx. */
static void
sha256_final(Sha256Ctx *ctx, uint8_t out[HASHING_SHA256_LEN])
{
	uint64_t	bits = ctx->total << 3;
	int			i;

	ctx->buf[ctx->buflen++] = 0x80;
	if (ctx->buflen > SHA256_BLOCK_LEN - 8)
	{
		memset(ctx->buf + ctx->buflen, 0, SHA256_BLOCK_LEN - ctx->buflen);
		sha256_compress(ctx->h, ctx->buf);
		ctx->buflen = 0;
	}
	memset(ctx->buf + ctx->buflen, 0, SHA256_BLOCK_LEN - 8 - ctx->buflen);

	/* message length in bits, big-endian 64-bit */
	store_be32(ctx->buf + SHA256_BLOCK_LEN - 8, (uint32_t) (bits >> 32));
	store_be32(ctx->buf + SHA256_BLOCK_LEN - 4, (uint32_t) bits);
	sha256_compress(ctx->h, ctx->buf);

	for (i = 0; i < 8; i++)
		store_be32(out + 4 * i, ctx->h[i]);
	wipe(ctx, sizeof(*ctx));
}

/* out = SHA-256(data) */
void
hashing_sha256(const void *data, size_t len, uint8_t out[HASHING_SHA256_LEN])
{
	Sha256Ctx	ctx;

	sha256_init(&ctx);
	sha256_update(&ctx, data, len);
	sha256_final(&ctx, out);
}

/* out = HMAC-SHA-256(key, data) */
void
hashing_hmac_sha256(const void *key, size_t keylen,
					const void *data, size_t len,
					uint8_t out[HASHING_SHA256_LEN])
{
	uint8_t		k0[SHA256_BLOCK_LEN];
	uint8_t		pad[SHA256_BLOCK_LEN];
	uint8_t		inner[HASHING_SHA256_LEN];
	Sha256Ctx	ctx;
	int			i;

	/* K0: the key, hashed first if longer than a block, zero-padded */
	memset(k0, 0, sizeof(k0));
	if (keylen > SHA256_BLOCK_LEN)
		hashing_sha256(key, keylen, k0);
	else if (keylen > 0)
		memcpy(k0, key, keylen);

	/* inner = H((K0 ^ ipad) || data) */
	for (i = 0; i < SHA256_BLOCK_LEN; i++)
		pad[i] = k0[i] ^ 0x36;
	sha256_init(&ctx);
	sha256_update(&ctx, pad, sizeof(pad));
	sha256_update(&ctx, data, len);
	sha256_final(&ctx, inner);

	/* out = H((K0 ^ opad) || inner) */
	for (i = 0; i < SHA256_BLOCK_LEN; i++)
		pad[i] = k0[i] ^ 0x5c;
	sha256_init(&ctx);
	sha256_update(&ctx, pad, sizeof(pad));
	sha256_update(&ctx, inner, sizeof(inner));
	sha256_final(&ctx, out);

	wipe(k0, sizeof(k0));
	wipe(pad, sizeof(pad));
	wipe(inner, sizeof(inner));
}
