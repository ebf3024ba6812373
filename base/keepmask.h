/* keepmask: the one seeded random keep-mask over prompt tokens: which k of n positions a prompt keeps. The subset
 * is uniform, and kept positions stay in place (a mask is one 0/1 byte per position, so kept tokens keep their
 * order). Every mask draws from its own generator, seeded per item by keepmask_seed, so a mask depends only on
 * (run seed, tag, app, item, ratio), never on the order in which items are processed.
 *
 * Users: the "random" prompt compressor, the random fill of "oracle-relevant", and `elms score --drop-system`.
 * Frozen: the random compressor's masks, and every grid and simulation figure built on them, depend on the seed
 * derivation and the sampling below bit for bit. (The training corpus draws its dropped-token masks from its own
 * running generator instead, so that its bytes stay as the shipped models saw them: see datasets/corpus.c.) */
#ifndef ELMS_BASE_KEEPMASK_H
#define ELMS_BASE_KEEPMASK_H

#include <stddef.h>
#include <stdint.h>

/* keepmask_seed: the seed of one item's mask: FNV-1a 64 (base/hash.h) over tag with its NUL (nothing when tag is
 * NULL), the bytes of run_seed, app and item with their NULs, and the ratio in permille (a long, rounded half
 * up). The tag keeps masks of different users apart ("oracle-relevant", "drop-system"; the random compressor
 * passes NULL). app and item must not be NULL. */
uint64_t keepmask_seed(unsigned long run_seed, const char *tag, const char *app, const char *item, double ratio);

/* keepmask_random: fill keep (n) with 1 at exactly k positions and 0 elsewhere. The positions are a uniform
 * subset drawn by selection sampling (gsl_ran_choose) from an MT19937 generator (gsl_rng_mt19937) seeded with
 * seed ^ (seed >> 32); the same (n, k, seed) always gives the same mask. Needs 0 <= k <= n. Returns k, or -1 when
 * k is out of range or memory runs out (keep is then unspecified). */
int keepmask_random(unsigned char *keep, int n, int k, uint64_t seed);

/* keepmask_add_random: keep `more` further positions of keep (n), a uniform subset of those still 0, drawn as in
 * keepmask_random (over the free positions in order); positions already kept stay kept. keepmask_random is this
 * on an all-zero mask. Returns the number of kept positions afterwards, or -1 when more < 0, more exceeds the
 * free positions, or memory runs out (keep is then unchanged). */
int keepmask_add_random(unsigned char *keep, int n, int more, uint64_t seed);

/* keepmask_top: fill keep (n) with 1 at the k positions of highest score (n) and 0 elsewhere: the rule of every
 * scoring prompt compressor (the tiny LM's score head, LLMLingua-style classifiers). Ties go to the earlier
 * position, so the mask is a pure function of the scores; NaN scores rank below every number. Needs
 * 0 <= k <= n. Returns k, or -1 when k is out of range or memory runs out (keep is then unspecified). */
int keepmask_top(const float *score, int n, int k, unsigned char *keep);

/* keepmask_top_many: n_masks masks of keepmask_top over the same scores, mask j (keep + j * stride, stride >= n)
 * keeping k[j] positions, from one ranking of the scores (each mask equals keepmask_top's, byte for byte). Returns 0,
 * or -1 when a k[j] is out of range, stride is short or memory runs out (keep is then unspecified). */
int keepmask_top_many(const float *score, int n, const int *k, int n_masks, unsigned char *keep, size_t stride);

#endif
