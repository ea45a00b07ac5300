/*
 * queue.h - bounded multi-producer multi-consumer queue of pointers.
 *
 * The pipeline's backpressure: a push onto a full queue blocks the
 * producer, so slow workers stall the chunker, which stalls the reader,
 * which stops submitting IO. Closing a queue wakes everybody: pops drain
 * what is left and then return NULL; pushes fail with -EPIPE.
 * Putting an item on a queue hands its ownership to the consumer.
 */
#ifndef SV_ENGINE_QUEUE_H
#define SV_ENGINE_QUEUE_H

#include <pthread.h>
#include "include/sv.h"

struct queue {
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	void **items;          /* ring of cap slots, protected by lock */
	size_t cap, head, count;
	int closed;
};

/* Return: 0 or -ENOMEM. */
int queue_init(struct queue *q, size_t cap) SV_MUST_CHECK;
void queue_destroy(struct queue *q);

/* Block while full. Return: 0, or -EPIPE if the queue is closed. */
/* (Not must-check: pushes back onto a pool cannot fail, as pools are
 * never closed while items are out.) */
int queue_push(struct queue *q, void *item);
/* Block while empty. Return: an item, or NULL once closed and drained. */
void *queue_pop(struct queue *q);
/* Pop, waiting at most ms milliseconds: an item or NULL. */
void *queue_pop_timed(struct queue *q, int ms);
/* Non-blocking pop: an item or NULL. */
void *queue_trypop(struct queue *q);
void queue_close(struct queue *q);

#endif
