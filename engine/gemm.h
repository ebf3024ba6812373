/* gemm: the engine's own matrix-matrix product for prefill, on AVX-512. On a CPU that has it this product runs
 * the 512-bit FMA units that the machine's OpenBLAS may not select (its core type is a setting of the machine,
 * which the engine does not change); without AVX-512 it declines and the caller uses BLAS. Weights are F32,
 * F16 or BF16 (widened while they are packed, so half precision costs no extra pass); x, out and every
 * accumulation are F32.
 *
 * Blocking: a panel of 32 weight rows x KC inputs is packed (transposed, 16 x 16 in registers, or copied when the
 * weights are held as rows of inputs) into a buffer on
 * the stack that stays in L1, then multiplied with every block of up to 12 token rows (24 accumulators, the
 * inputs broadcast straight from x; a panel of at most 16 weight rows, such as a LoRA adapter's A with its 8,
 * runs only the first 16-wide vector, with the same multiply-adds per output); while a panel is multiplied, the
 * next panel's weights are prefetched, and the first panel of each block of inputs is requested whole, to L2,
 * before it is packed. Packing
 * reads each weight once per KC block of every call, so the product pays off only for enough token rows
 * (GEMM_MIN_ROWS). */
#ifndef ELMS_GEMM_H
#define ELMS_GEMM_H

#include <stdbool.h>

#include "engine/dtype.h"

/* the fewest token rows for which the packed gemm_nt beats gemm_nt_small (packing is amortised over the rows):
 * measured on this machine's core at the base's and the 110M shape's products, the two are level between 16 and
 * 24 rows; both are ahead of OpenBLAS's sgemm from 2 rows (3-5 times below 8 rows) */
#define GEMM_MIN_ROWS 20
/* the shortest rows (inputs k) for gemm_nt_small: it dots 16 inputs at a time, so shorter rows (a LoRA adapter's
 * B, k = its rank) go to the packed gemm */
#define GEMM_SMALL_MIN_K 32

/* gemm_available: this CPU has AVX-512F and the kernels are not restricted below it (gemv_isa_force). */
bool gemm_available(void);
/* gemm_nt: out (n, m; row stride ldo) = x (n, k; row stride ldx) . W[:m, :k]^T, or out += when accumulate; W is
 * (>= m, ldw) of type t. Returns 0, or -1 without touching out when gemm_available() is false. */
int gemm_nt(float *out, int ldo, const float *x, int ldx, const void *W, StDtype t, int ldw, int n, int k, int m,
            int accumulate);
/* gemm_nt_small: gemm_nt for a few token rows (n below GEMM_MIN_ROWS, where packing does not pay): every weight row
 * is read once per 4 token rows and dotted with each. Returns as gemm_nt. */
int gemm_nt_small(float *out, int ldo, const float *x, int ldx, const void *W, StDtype t, int ldw, int n, int k,
                  int m, int accumulate);
/* gemm_nn: out (n, m; row stride ldo) = x (n, k; row stride ldx) . W[:k, :m], or out += when accumulate; W is
 * (>= k, ldw) of type t (weights held as rows of inputs). Returns as gemm_nt. */
int gemm_nn(float *out, int ldo, const float *x, int ldx, const void *W, StDtype t, int ldw, int n, int k, int m,
            int accumulate);

#endif
