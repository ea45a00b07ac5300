/*
 * queue.c - see queue.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "engine/queue.h"

int queue_init(struct queue *q, size_t cap)
{
	q->items = calloc(cap, sizeof(void *));
	if (!q->items)
		return -ENOMEM;
	q->cap = cap;
	q->head = q->count = 0;
	q->closed = 0;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->not_empty, NULL);
	pthread_cond_init(&q->not_full, NULL);
	return 0;
}

void queue_destroy(struct queue *q)
{
	if (!q->items)
		return;
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->not_empty);
	pthread_cond_destroy(&q->not_full);
	free(q->items);
	q->items = NULL;
}

int queue_push(struct queue *q, void *item)
{
	pthread_mutex_lock(&q->lock);
	while (q->count == q->cap && !q->closed)
		pthread_cond_wait(&q->not_full, &q->lock);
	if (q->closed) {
		pthread_mutex_unlock(&q->lock);
		return -EPIPE;
	}
	q->items[(q->head + q->count) % q->cap] = item;
	q->count++;
	pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

static void *take(struct queue *q)
{
	void *item = q->items[q->head];

	q->head = (q->head + 1) % q->cap;
	q->count--;
	pthread_cond_signal(&q->not_full);
	return item;
}

void *queue_pop(struct queue *q)
{
	void *item = NULL;

	pthread_mutex_lock(&q->lock);
	while (q->count == 0 && !q->closed)
		pthread_cond_wait(&q->not_empty, &q->lock);
	if (q->count)
		item = take(q);
	pthread_mutex_unlock(&q->lock);
	return item;
}

void *queue_pop_timed(struct queue *q, int ms)
{
	struct timespec ts;
	void *item = NULL;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&q->lock);
	while (q->count == 0 && !q->closed)
		if (pthread_cond_timedwait(&q->not_empty, &q->lock, &ts))
			break;
	if (q->count)
		item = take(q);
	pthread_mutex_unlock(&q->lock);
	return item;
}

void *queue_trypop(struct queue *q)
{
	void *item = NULL;

	pthread_mutex_lock(&q->lock);
	if (q->count)
		item = take(q);
	pthread_mutex_unlock(&q->lock);
	return item;
}

void queue_close(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = 1;
	pthread_cond_broadcast(&q->not_empty);
	pthread_cond_broadcast(&q->not_full);
	pthread_mutex_unlock(&q->lock);
}
