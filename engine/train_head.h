/* train_head: the output head of the training forward and backward, for every head kind of model.h: the logits of
 * the final-normed hidden states (language model and token classification: every position; sequence
 * classification: the mean over each sequence), the loss of the targets (softmax cross-entropy per position or
 * per label group, or binary cross-entropy per label), and the backward from that loss to the final-normed hidden
 * states. Private to engine/train_*.c. */
#ifndef ELMS_TRAIN_HEAD_H
#define ELMS_TRAIN_HEAD_H

#include "engine/err.h"
#include "engine/train.h"

/* head_check_targets: targets (B, model_head_targets(c, T)) are each -1 (ignored) or in range for c's head: a
 * vocabulary id (language model), a label (token head), a label within its group (single-label sequence head),
 * or 0/1 (multi-label). The message names the sequence, the position or label, the value and the range. */
int head_check_targets(const ModelConfig *c, const int *targets, int B, int T, Err *e);
/* head_forward: t->acts->logits from the final-normed hidden states t->acts->xf (B*T, dim) of a batch of B
 * sequences of T tokens (sequence heads also keep the pooled states (B, dim)). */
void head_forward(Trainer *t, int B, int T);
/* head_loss: the summed loss of targets (B, NT) against the logits of head_forward; *counted receives how many
 * targets were not ignored. */
double head_loss(Trainer *t, const int *targets, int B, int T, long *counted);
/* head_backward: dxn (B*T, dim) = the gradient of scale * (summed loss of the forward's targets) with respect to
 * the final-normed hidden states; in full mode the head's weight gradients are added to t->gw. The logits become
 * their gradient (in place). */
void head_backward(Trainer *t, float scale);

#endif
