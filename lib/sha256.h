/*
 * sha256.h - SHA-256 (FIPS 180-4), used for migration checksums.
 */
#ifndef BH_SHA256_H
#define BH_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define BH_SHA256_LEN 32
#define BH_SHA256_HEX_LEN (2 * BH_SHA256_LEN) /* without the NUL */

typedef struct bh_sha256_ctx {
	uint32_t state[8];
	uint64_t total;    /* bytes hashed so far */
	uint8_t block[64]; /* pending input, fewer than 64 bytes */
	size_t nblock;
} bh_sha256_ctx;

/* Incremental hashing: init, any number of updates, final (which leaves
 * the context unusable until the next init). */
void bh_sha256_init(bh_sha256_ctx *ctx);
void bh_sha256_update(bh_sha256_ctx *ctx, const void *data, size_t len);
void bh_sha256_final(bh_sha256_ctx *ctx, uint8_t out[BH_SHA256_LEN]);

/* The digest of data[0..len) into out. */
void bh_sha256(const void *data, size_t len, uint8_t out[BH_SHA256_LEN]);
/* Lower-case hex of digest into out, NUL-terminated. */
void bh_sha256_digest_hex(const uint8_t digest[BH_SHA256_LEN],
			  char out[BH_SHA256_HEX_LEN + 1]);

#endif
