/*
 * progress.c - see progress.h.
 */
#include <stdio.h>
#include <unistd.h>

#include "engine/progress.h"
#include "engine/util.h"

enum progress_mode progress_mode_for(int json, int quiet)
{
	if (json)
		return PROGRESS_JSON;
	if (quiet)
		return PROGRESS_OFF;
	return isatty(STDERR_FILENO) ? PROGRESS_TTY : PROGRESS_LOG;
}

void progress_start(struct progress *p, enum progress_mode mode,
		    const char *what)
{
	p->mode = mode;
	p->what = what;
	p->t0 = util_mono();
	p->last = p->t0;
	p->drawn = 0;
}

static double interval(enum progress_mode m)
{
	return m == PROGRESS_TTY ? 0.2 : m == PROGRESS_JSON ? 2.0 : 10.0;
}

void progress_clear(struct progress *p)
{
	if (p->mode == PROGRESS_TTY && p->drawn) {
		fputs("\r\033[K", stderr);
		p->drawn = 0;
	}
}

void progress_update(struct progress *p, const struct progress_state *s,
		     int final)
{
	double now = util_mono(), el = now - p->t0;
	double rate = el > 0 ? (double)s->bytes_done / el : 0;
	double up = el > 0 ? (double)s->bytes_up / el : 0;
	char done[32], total[32], fresh[32], eta[32] = "-";

	if (p->mode == PROGRESS_OFF ||
	    (!final && now - p->last < interval(p->mode)))
		return;
	p->last = now;
	if (rate > 0 && s->bytes_total > s->bytes_done) {
		double left = (double)(s->bytes_total - s->bytes_done) / rate;

		snprintf(eta, sizeof(eta), "%dm%02ds", (int)(left / 60),
			 (int)left % 60);
	}
	if (p->mode == PROGRESS_JSON) {
		if (final)
			return;   /* the summary object follows */
		printf("{\"event\":\"progress\",\"command\":\"%s\","
		       "\"files_done\":%llu,\"files_total\":%llu,"
		       "\"bytes_done\":%llu,\"bytes_total\":%llu,"
		       "\"bytes_new\":%llu,\"bytes_uploaded\":%llu,"
		       "\"seconds\":%.1f}\n", p->what,
		       (unsigned long long)s->files_done,
		       (unsigned long long)s->files_total,
		       (unsigned long long)s->bytes_done,
		       (unsigned long long)s->bytes_total,
		       (unsigned long long)s->bytes_new,
		       (unsigned long long)s->bytes_up, el);
		fflush(stdout);
		return;
	}
	util_fmt_bytes(done, sizeof(done), s->bytes_done);
	util_fmt_bytes(total, sizeof(total), s->bytes_total);
	util_fmt_bytes(fresh, sizeof(fresh), s->bytes_new);
	if (p->mode == PROGRESS_TTY) {
		fprintf(stderr, "\r\033[K%s: %llu/%llu files, %s/%s, %s new, "
			"%.0f MB/s read, %.0f MB/s up, ETA %s", p->what,
			(unsigned long long)s->files_done,
			(unsigned long long)s->files_total, done, total, fresh,
			rate / 1e6, up / 1e6, eta);
		p->drawn = 1;
		if (final) {
			fputc('\n', stderr);
			p->drawn = 0;
		}
		fflush(stderr);
		return;
	}
	fprintf(stderr, "%s: %llu/%llu files, %s/%s, %s new, %.0f MB/s read, "
		"%.0f MB/s up, ETA %s\n", p->what,
		(unsigned long long)s->files_done,
		(unsigned long long)s->files_total, done, total, fresh,
		rate / 1e6, up / 1e6, eta);
}
