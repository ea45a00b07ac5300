/*
 * ring.h - liburing setup and the small submit/reap helpers that
 * io/reader.c, io/writer.c and uploaders/local.c share.
 *
 * This header is private to io/ and uploaders/: it pulls in liburing, which
 * engine/ must not see (make check-layering). The reader, the writer and
 * the local store expose io_uring only through their own opaque handles.
 *
 * Availability: io_uring can be missing or forbidden in many ways (kernel
 * older than 5.6, seccomp filters in containers returning -ENOSYS or
 * -EPERM, the kernel.io_uring_disabled sysctl, a probe without the opcodes we
 * need). ring_init() turns every one of them into a -errno plus a short
 * human-readable reason, so callers can fall back to pread()/pwrite() and
 * say why. Setting the environment variable SSTVAULT_NO_URING=1 (any value
 * but "" and "0") forces that fallback everywhere, for tests and for users
 * on kernels whose io_uring misbehaves.
 */
#ifndef SV_IO_RING_H
#define SV_IO_RING_H

#include <stddef.h>
#include <liburing.h>
#include "include/sv.h"

/*
 * Uncached buffered IO (Linux 6.14): the page cache is used for the read
 * but the folios are dropped once the copy is done, unless they were
 * already cached. Older uapi headers lack it; the value is ABI.
 */
#ifndef RWF_DONTCACHE
#define RWF_DONTCACHE 0x00000080
#endif

/* Room for a reason string such as "kernel.io_uring_disabled=2". */
#define RING_WHY_LEN 128

/*
 * Report whether io_uring is ruled out before even trying: the
 * SSTVAULT_NO_URING environment variable, or kernel.io_uring_disabled=2.
 * Return: 1 with a reason in why (NUL-terminated, at most n bytes), or 0.
 */
int ring_disabled(char *why, size_t n);

/*
 * Set up ring with at least entries submission slots and check with the
 * opcode probe that every opcode in ops[0..nops) is supported. Asks for
 * IORING_SETUP_COOP_TASKRUN and retries without it on older kernels.
 * On failure ring is left uninitialised and why holds the reason.
 * Return: 0, or -errno: -ENOSYS or -EPERM (no io_uring here), -EOPNOTSUPP
 * (an opcode is missing), -ENOMEM.
 */
int ring_init(struct io_uring *ring, unsigned entries, const int *ops,
	      size_t nops, char *why, size_t n) SV_MUST_CHECK;

/*
 * Next free submission entry, submitting what is queued to make room when
 * the submission queue is full. The caller fills it before the next call
 * that submits. Return: the entry, or NULL if submitting failed (*err is
 * set to the -errno).
 */
struct io_uring_sqe *ring_get_sqe(struct io_uring *ring, int *err);

/*
 * Submit everything queued. -EINTR is retried; -EAGAIN and -EBUSY (the
 * kernel is short of memory or the completion queue is full) are reported
 * as 0 so the caller reaps and submits again later.
 * Return: number submitted (>= 0), or -errno.
 */
int ring_submit(struct io_uring *ring);

/*
 * Submit everything queued and wait until at least one completion is
 * available. -EINTR is retried. Return: 0, or -errno.
 */
int ring_wait(struct io_uring *ring);

#endif
