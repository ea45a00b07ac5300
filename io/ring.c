/*
 * ring.c - liburing setup, availability checks and submit/reap helpers.
 *
 * Everything here is deliberately thin: the reader and the writer own their
 * rings and their completion logic. What they share is the question "can we
 * use io_uring at all, and if not, why not", plus the retry rules for
 * io_uring_enter (EINTR is retried, EAGAIN/EBUSY mean "reap first").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/ring.h"

/* Read a small integer sysctl; returns -1 when it cannot be read. */
static int read_sysctl(const char *path)
{
	char buf[32];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return atoi(buf);
}

int ring_disabled(char *why, size_t n)
{
	const char *env = getenv("SSTVAULT_NO_URING");
	int v;

	if (env && env[0] && strcmp(env, "0") != 0) {
		snprintf(why, n, "SSTVAULT_NO_URING is set");
		return 1;
	}
	/*
	 * 0: everyone may use io_uring; 1: only members of
	 * kernel.io_uring_group or CAP_SYS_ADMIN (we simply try, and report
	 * the sysctl if setup then fails); 2: nobody.
	 */
	v = read_sysctl("/proc/sys/kernel/io_uring_disabled");
	if (v == 2) {
		snprintf(why, n, "kernel.io_uring_disabled=2");
		return 1;
	}
	return 0;
}

int ring_init(struct io_uring *ring, unsigned entries, const int *ops,
	      size_t nops, char *why, size_t n)
{
	struct io_uring_probe *probe = NULL;
	int ret, v;

	if (ring_disabled(why, n))
		return -EPERM;

	/*
	 * COOP_TASKRUN (5.19) avoids an IPI per completion: completions are
	 * run when we next enter the kernel, which we do anyway to wait. It
	 * has no thread restriction, unlike SINGLE_ISSUER, so a reader or
	 * writer may be created in one thread and driven from another.
	 */
	ret = io_uring_queue_init(entries, ring, IORING_SETUP_COOP_TASKRUN);
	if (ret == -EINVAL)
		ret = io_uring_queue_init(entries, ring, 0);
	if (ret < 0) {
		v = read_sysctl("/proc/sys/kernel/io_uring_disabled");
		if (ret == -EPERM && v > 0)
			snprintf(why, n, "%s (kernel.io_uring_disabled=%d)",
				 strerror(-ret), v);
		else
			snprintf(why, n, "%s", strerror(-ret));
		return ret;
	}

	/*
	 * The probe opcode exists since 5.6, which is also the first kernel
	 * with IORING_OP_READ/WRITE; a kernel without it is too old for us.
	 */
	probe = io_uring_get_probe_ring(ring);
	if (!probe) {
		snprintf(why, n, "no io_uring opcode probe (kernel < 5.6)");
		ret = -EOPNOTSUPP;
		goto out;
	}
	for (size_t i = 0; i < nops; i++) {
		if (!io_uring_opcode_supported(probe, ops[i])) {
			snprintf(why, n, "io_uring opcode %d not supported",
				 ops[i]);
			ret = -EOPNOTSUPP;
			goto out;
		}
	}
	ret = 0;
out:
	io_uring_free_probe(probe);
	if (ret < 0)
		io_uring_queue_exit(ring);
	return ret;
}

struct io_uring_sqe *ring_get_sqe(struct io_uring *ring, int *err)
{
	struct io_uring_sqe *sqe;
	int ret;

	*err = 0;
	sqe = io_uring_get_sqe(ring);
	if (sqe)
		return sqe;
	/*
	 * The callers size their rings so that this should not happen (one
	 * entry per buffer or request), but submitting frees the queue in
	 * any case.
	 */
	ret = ring_submit(ring);
	if (ret < 0) {
		*err = ret;
		return NULL;
	}
	sqe = io_uring_get_sqe(ring);
	if (!sqe)
		*err = -EBUSY;
	return sqe;
}

int ring_submit(struct io_uring *ring)
{
	int ret;

	do
		ret = io_uring_submit(ring);
	while (ret == -EINTR);
	if (ret == -EAGAIN || ret == -EBUSY)
		return 0;
	return ret;
}

int ring_wait(struct io_uring *ring)
{
	int ret;

	for (;;) {
		ret = io_uring_submit_and_wait(ring, 1);
		if (ret >= 0)
			return 0;
		if (ret == -EINTR)
			continue;
		/*
		 * -EAGAIN/-EBUSY: the entries could not be submitted now,
		 * but if completions are pending we can make progress by
		 * reaping them; otherwise wait for one without submitting.
		 */
		if (ret == -EAGAIN || ret == -EBUSY) {
			struct io_uring_cqe *cqe;

			if (io_uring_cq_ready(ring))
				return 0;
			do
				ret = io_uring_wait_cqe(ring, &cqe);
			while (ret == -EINTR);
			return ret < 0 ? ret : 0;
		}
		return ret;
	}
}
