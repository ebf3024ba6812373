/* hash: FNV-1a 64, the project's one non-cryptographic hash (started from the project's own offset, see
 * HASH_FNV_OFFSET). It addresses the open-addressing tables (interned strings, tokenizer pieces, split
 * bookkeeping, word counts), derives per-item random seeds (keepmask.h) and names weights and keep-masks in the
 * evaluation cache. Its values are stored in databases (`evals.model_hash`, configuration keys) and decide random
 * masks, so the function is frozen: a different hash would change stored keys and figures. Hashes of floats are
 * of their bytes in the host's byte order. */
#ifndef ELMS_BASE_HASH_H
#define ELMS_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* The starting value of a fresh hash. Note: this is not the published FNV-1a 64 offset basis
 * (14695981039346656037 = 0xcbf29ce484222325) but that number with its last digit missing (0x14650fb0739d0383),
 * as the project has always used it. Stored model hashes, configuration keys and the random masks' seeds depend
 * on it, so it stays. */
#define HASH_FNV_OFFSET 1469598103934665603ULL

/* hash_fnv1a: FNV-1a 64 of the n bytes at p, continuing from h. Start a fresh hash with HASH_FNV_OFFSET; chain
 * calls to hash several fields as one byte string. p may be NULL when n is 0 (h is returned unchanged). */
uint64_t hash_fnv1a(uint64_t h, const void *p, size_t n);

/* hash_hex: h as 16 lower-case hexadecimal digits and a NUL into out. */
void hash_hex(uint64_t h, char out[17]);

/* hash_floats: hash_fnv1a from HASH_FNV_OFFSET over the bytes of the n floats at x, as 16 hex digits into out
 * (17 bytes). This is how the evaluation cache names a model's or an adapter's weights. */
void hash_floats(const float *x, size_t n, char out[17]);

#endif
