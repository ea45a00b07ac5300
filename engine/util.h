/*
 * util.h - small helpers shared by the engine: randomness, base64, time,
 * logging and bounded string formatting.
 */
#ifndef SV_ENGINE_UTIL_H
#define SV_ENGINE_UTIL_H

#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>
#include "include/sv.h"

/* Fill buf with CSPRNG bytes (OpenSSL RAND_bytes). Return: 0 or -EIO. */
int util_random(void *buf, size_t len) SV_MUST_CHECK;

/* Base64 (standard alphabet, padded). util_b64enc returns a malloc'ed
 * NUL-terminated string (caller frees) or NULL. util_b64dec writes at most
 * cap bytes. Return: decoded length or -EINVAL/-ENOSPC. */
char *util_b64enc(const void *data, size_t len);
ssize_t util_b64dec(const char *s, void *out, size_t cap) SV_MUST_CHECK;

/* Wall clock in nanoseconds since the epoch. */
int64_t util_now_ns(void);
/* Monotonic clock in seconds. */
double util_mono(void);
/* RFC 3339 UTC time "2026-11-22T10:00:00.123Z" into out (32 bytes). */
void util_fmt_time(char *out, size_t cap, int64_t ns);
/* Parse RFC 3339 / "YYYY-MM-DD[ HH:MM[:SS]]" (UTC unless an offset is
 * given) or "@<epoch seconds>". Return: 0 or -EINVAL. */
int util_parse_time(const char *s, int64_t *ns) SV_MUST_CHECK;
/* Human-readable bytes "1.5 GiB" into out. */
void util_fmt_bytes(char *out, size_t cap, uint64_t n);
/* Parse "64M", "1G", "512K", "123" (binary multiples). Return 0/-EINVAL. */
int util_parse_size(const char *s, uint64_t *out) SV_MUST_CHECK;

/* Logging: verbosity set once by the CLI; messages go to stderr.
 * log_err/log_warn always print (unless quiet for warn), log_info when
 * verbosity >= 1, log_debug when >= 2. */
extern int util_verbosity;   /* -1 quiet, 0 normal, 1 -v, 2 -vv */
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Read a whole small file (at most max bytes) into a malloc'ed,
 * NUL-terminated buffer. Return: 0 or -errno (-E2BIG if larger). */
int util_read_file(const char *path, size_t max, char **out,
		   size_t *len) SV_MUST_CHECK;

/* mkdir -p. Return: 0 or -errno. */
int util_mkdirs(const char *path, unsigned mode) SV_MUST_CHECK;

/* Wipe secrets (OPENSSL_cleanse, not optimised away). */
void util_wipe(void *p, size_t n);

#endif
