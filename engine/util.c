/*
 * util.c - see util.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "engine/util.h"

int util_verbosity;

int util_random(void *buf, size_t len)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -EIO;
}

char *util_b64enc(const void *data, size_t len)
{
	char *s = malloc(4 * ((len + 2) / 3) + 1);

	if (!s)
		return NULL;
	EVP_EncodeBlock((unsigned char *)s, data, (int)len);
	return s;
}

ssize_t util_b64dec(const char *s, void *out, size_t cap)
{
	size_t n = strlen(s), pad = 0;
	unsigned char *tmp;
	int got;

	if (n % 4)
		return -EINVAL;
	if (n == 0)
		return 0;
	if (s[n - 1] == '=')
		pad++;
	if (n > 1 && s[n - 2] == '=')
		pad++;
	if (n / 4 * 3 - pad > cap)
		return -ENOSPC;
	tmp = malloc(n / 4 * 3);
	if (!tmp)
		return -ENOMEM;
	got = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)n);
	if (got < 0) {
		free(tmp);
		return -EINVAL;
	}
	memcpy(out, tmp, (size_t)got - pad);
	free(tmp);
	return (ssize_t)((size_t)got - pad);
}

int64_t util_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double util_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void util_fmt_time(char *out, size_t cap, int64_t ns)
{
	time_t s = (time_t)(ns / 1000000000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int)(ns % 1000000000 / 1000000));
}

int util_parse_time(const char *s, int64_t *ns)
{
	struct tm tm = { 0 };
	int y, mo, d, h = 0, mi = 0, n = 0;
	double sec = 0;
	char sep;
	const char *rest;
	long off = 0;

	if (s[0] == '@') {
		char *end;
		long long v = strtoll(s + 1, &end, 10);

		if (*end || end == s + 1)
			return -EINVAL;
		*ns = v * 1000000000LL;
		return 0;
	}
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3)
		return -EINVAL;
	rest = s + n;
	if (*rest == 'T' || *rest == ' ') {
		sep = *rest++;
		(void)sep;
		n = 0;
		if (sscanf(rest, "%2d:%2d%n", &h, &mi, &n) != 2)
			return -EINVAL;
		rest += n;
		if (*rest == ':') {
			char *end;

			sec = strtod(rest + 1, &end);
			rest = end;
		}
	}
	if (*rest == 'Z') {
		rest++;
	} else if (*rest == '+' || *rest == '-') {
		int oh, om;

		if (sscanf(rest + 1, "%2d:%2d", &oh, &om) != 2)
			return -EINVAL;
		off = (oh * 3600L + om * 60L) * (*rest == '+' ? 1 : -1);
		rest += 6;
	}
	if (*rest)
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec < 0 || sec >= 61)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	*ns = ((int64_t)timegm(&tm) - off) * 1000000000LL +
	      (int64_t)(sec * 1e9);
	return 0;
}

void util_fmt_bytes(char *out, size_t cap, uint64_t n)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB",
					     "PiB" };
	double v = (double)n;
	size_t u = 0;

	while (v >= 1024 && u + 1 < SV_ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, cap, "%llu B", (unsigned long long)n);
	else
		snprintf(out, cap, "%.1f %s", v, units[u]);
}

int util_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	case 't': case 'T': mul = 1ull << 40; end++; break;
	default: break;
	}
	if (*end == 'i' || *end == 'I')
		end++;
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

static void vlog(const char *prefix, const char *fmt, va_list ap)
{
	char line[4096];

	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "%s%s\n", prefix, line);
}

void log_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("sstvault: error: ", fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;

	if (util_verbosity < 0)
		return;
	va_start(ap, fmt);
	vlog("sstvault: warning: ", fmt, ap);
	va_end(ap);
}

void log_msg(const char *fmt, ...)
{
	va_list ap;

	if (util_verbosity < 0)
		return;
	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	if (util_verbosity < 1)
		return;
	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (util_verbosity < 2)
		return;
	va_start(ap, fmt);
	vlog("debug: ", fmt, ap);
	va_end(ap);
}

int util_read_file(const char *path, size_t max, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, ret = 0;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		ret = -errno;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		ret = -E2BIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	buf = NULL;
	if (len)
		*len = got;
out:
	free(buf);
	close(fd);
	return ret;
}

int util_mkdirs(const char *path, unsigned mode)
{
	char tmp[4096];
	size_t n = strlen(path);

	if (n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

void util_wipe(void *p, size_t n)
{
	if (p)
		OPENSSL_cleanse(p, n);
}
