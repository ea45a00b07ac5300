/*
 * mem.h - test hooks of the in-memory backend ("mem:" locations).
 */
#ifndef SV_UPLOADERS_MEM_H
#define SV_UPLOADERS_MEM_H

#include "uploaders/uploader.h"

/* Make the n-th next mutating call (put, put_part, complete, remove) fail
 * with err (negative errno); n = -1 disables injection. */
void mem_fail_after(struct uploader *u, long n, int err);

/* The stored bytes of an object (owned by the store; valid until it is
 * overwritten or removed), or NULL if absent. */
uint8_t *mem_object(struct uploader *u, const char *name, size_t *len);

#endif
