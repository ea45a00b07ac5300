/*
 * test_queue.c - the bounded MPMC queue (engine/queue.h).
 *
 * Four producers and four consumers move one million items through a
 * queue of 64 slots: every item arrives exactly once, and each consumer
 * sees every producer's items in the order they were pushed. Then FIFO
 * order across ring wrap-around, trypop, close semantics (pushes fail with
 * -EPIPE, pops drain then return NULL, blocked producers and consumers
 * wake up) and pop_timed timeouts.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "engine/queue.h"

static int failures;
static int checks;

#define CHECK(cond, ...)                                              \
	do {                                                          \
		checks++;                                             \
		if (!(cond)) {                                        \
			failures++;                                   \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);   \
			printf(__VA_ARGS__);                          \
			printf("\n");                                 \
		}                                                     \
	} while (0)

#define NPROD 4
#define NCONS 4
#define PER_PROD 250000
#define TOTAL (NPROD * PER_PROD)

static struct queue q;
static _Atomic unsigned char *seen;

/* Item = producer * PER_PROD + sequence + 1 (never NULL). */
static void *producer(void *arg)
{
	uintptr_t p = (uintptr_t)arg;

	for (uintptr_t i = 0; i < PER_PROD; i++)
		if (queue_push(&q, (void *)(p * PER_PROD + i + 1)))
			return (void *)1;
	return NULL;
}

struct cons_result {
	size_t got, out_of_order;
};

static void *consumer(void *arg)
{
	struct cons_result *res = arg;
	long last[NPROD];
	void *item;

	for (int i = 0; i < NPROD; i++)
		last[i] = -1;
	while ((item = queue_pop(&q))) {
		uintptr_t v = (uintptr_t)item - 1;
		size_t p = v / PER_PROD;
		long seq = (long)(v % PER_PROD);

		if (v < TOTAL) {
			atomic_fetch_add(&seen[v], 1);
			if (seq <= last[p])
				res->out_of_order++;
			last[p] = seq;
		}
		res->got++;
	}
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_mpmc(void)
{
	pthread_t pt[NPROD], ct[NCONS];
	struct cons_result res[NCONS] = { { 0, 0 } };
	size_t total = 0, ooo = 0, dup = 0, lost = 0;
	int perr = 0;
	double t0 = now();

	seen = calloc(TOTAL, 1);
	if (!seen || queue_init(&q, 64))
		exit(1);
	for (uintptr_t i = 0; i < NCONS; i++)
		pthread_create(&ct[i], NULL, consumer, &res[i]);
	for (uintptr_t i = 0; i < NPROD; i++)
		pthread_create(&pt[i], NULL, producer, (void *)i);
	for (int i = 0; i < NPROD; i++) {
		void *rv;

		pthread_join(pt[i], &rv);
		perr += rv != NULL;
	}
	queue_close(&q);
	for (int i = 0; i < NCONS; i++) {
		pthread_join(ct[i], NULL);
		total += res[i].got;
		ooo += res[i].out_of_order;
	}
	for (size_t i = 0; i < TOTAL; i++) {
		unsigned char c = atomic_load(&seen[i]);

		dup += c > 1;
		lost += c == 0;
	}
	CHECK(perr == 0, "%d producers saw a push fail", perr);
	CHECK(total == TOTAL, "%zu items popped, want %d", total, TOTAL);
	CHECK(dup == 0 && lost == 0, "%zu items duplicated, %zu lost", dup,
	      lost);
	CHECK(ooo == 0, "%zu items out of per-producer order", ooo);
	for (int i = 0; i < NCONS; i++)
		CHECK(res[i].got > 0, "consumer %d got nothing", i);
	CHECK(q.count == 0, "%zu items left after draining", q.count);
	queue_destroy(&q);
	queue_destroy(&q);      /* idempotent */
	free((void *)seen);
	printf("mpmc: %d items through 64 slots, %d+%d threads, %.2f s\n",
	       TOTAL, NPROD, NCONS, now() - t0);
}

static void test_fifo_close(void)
{
	struct queue s;
	int bad = 0;

	if (queue_init(&s, 3))
		exit(1);
	CHECK(queue_trypop(&s) == NULL, "trypop of an empty queue");
	/* Keep two or three items queued while 30 go through: the ring
	 * wraps around ten times. */
	bad |= queue_push(&s, (void *)1) | queue_push(&s, (void *)2);
	for (uintptr_t i = 3; i <= 30; i++) {
		bad |= queue_push(&s, (void *)i);
		if (s.count != 3)
			bad = 1;
		if ((uintptr_t)(i & 1 ? queue_pop(&s) : queue_trypop(&s)) !=
		    i - 2)
			bad = 1;
	}
	CHECK((uintptr_t)queue_pop(&s) == 29 &&
		      (uintptr_t)queue_trypop(&s) == 30 && s.count == 0,
	      "last two items");
	CHECK(bad == 0, "FIFO order broken across the ring (%d)", bad);
	queue_destroy(&s);

	if (queue_init(&s, 4))
		exit(1);
	for (uintptr_t i = 1; i <= 4; i++)
		queue_push(&s, (void *)i);
	queue_close(&s);
	CHECK(queue_push(&s, (void *)5) == -EPIPE, "push after close");
	for (uintptr_t i = 1; i <= 4; i++)
		CHECK((uintptr_t)queue_pop(&s) == i, "drain after close, item %lu",
		      (unsigned long)i);
	CHECK(queue_pop(&s) == NULL, "pop of a closed, drained queue");
	CHECK(queue_pop_timed(&s, 5000) == NULL,
	      "pop_timed of a closed queue waited or returned an item");
	CHECK(queue_trypop(&s) == NULL, "trypop of a closed queue");
	queue_destroy(&s);
	printf("FIFO, trypop and close checked\n");
}

static struct queue wq;

static void *blocked_pop(void *arg)
{
	(void)arg;
	return queue_pop(&wq);
}

static void *blocked_push(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)queue_push(&wq, (void *)77);
}

static void *late_push(void *arg)
{
	(void)arg;
	usleep(50000);
	queue_push(&wq, (void *)99);
	return NULL;
}

static void test_wakeups(void)
{
	pthread_t t[3];
	void *rv;
	double t0;

	/* Consumers blocked on an empty queue return NULL on close. */
	if (queue_init(&wq, 2))
		exit(1);
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, blocked_pop, NULL);
	usleep(50000);
	queue_close(&wq);
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], &rv);
		CHECK(rv == NULL, "blocked pop %d returned %p after close", i,
		      rv);
	}
	queue_destroy(&wq);

	/* Producers blocked on a full queue get -EPIPE on close. */
	if (queue_init(&wq, 1))
		exit(1);
	queue_push(&wq, (void *)1);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, blocked_push, NULL);
	usleep(50000);
	CHECK(wq.count == 1, "push into a full queue did not block");
	queue_close(&wq);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], &rv);
		CHECK((intptr_t)rv == -EPIPE, "blocked push %d returned %ld", i,
		      (long)(intptr_t)rv);
	}
	CHECK((uintptr_t)queue_pop(&wq) == 1, "item pushed before close lost");
	queue_destroy(&wq);

	/* pop_timed: timeout, immediate item, item arriving while waiting. */
	if (queue_init(&wq, 4))
		exit(1);
	t0 = now();
	rv = queue_pop_timed(&wq, 120);
	t0 = now() - t0;
	CHECK(rv == NULL && t0 >= 0.1 && t0 < 2.0,
	      "pop_timed(120 ms) on empty: %p after %.3f s", rv, t0);
	t0 = now();
	rv = queue_pop_timed(&wq, 0);
	t0 = now() - t0;
	CHECK(rv == NULL && t0 < 0.5, "pop_timed(0) took %.3f s", t0);
	t0 = now();
	rv = queue_pop_timed(&wq, 1300);     /* crosses a second boundary */
	t0 = now() - t0;
	CHECK(rv == NULL && t0 >= 1.25 && t0 < 3.0,
	      "pop_timed(1300 ms): %.3f s", t0);
	queue_push(&wq, (void *)5);
	t0 = now();
	rv = queue_pop_timed(&wq, 5000);
	t0 = now() - t0;
	CHECK((uintptr_t)rv == 5 && t0 < 0.5,
	      "pop_timed with an item waiting: %p after %.3f s", rv, t0);
	pthread_create(&t[0], NULL, late_push, NULL);
	t0 = now();
	rv = queue_pop_timed(&wq, 5000);
	t0 = now() - t0;
	pthread_join(t[0], NULL);
	CHECK((uintptr_t)rv == 99 && t0 < 2.0,
	      "pop_timed woken by a push: %p after %.3f s", rv, t0);
	queue_destroy(&wq);
	printf("blocking, wakeups and pop_timed checked\n");
}

int main(void)
{
	test_fifo_close();
	test_wakeups();
	test_mpmc();
	printf("%d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
