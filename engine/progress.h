/*
 * progress.h - progress reporting for long commands.
 *
 * One reporter per command run, in one of four modes chosen by the CLI:
 *  - PROGRESS_TTY: a live status line on stderr, redrawn in place
 *    ("\r" + erase line) about five times a second;
 *  - PROGRESS_LOG: plain lines on stderr every 10 s, no control characters
 *    (journald, cron mail);
 *  - PROGRESS_JSON: JSON lines {"event":"progress",...} on stdout every
 *    2 s, before the command's summary object;
 *  - PROGRESS_OFF.
 * The reporter is driven by one thread (the command's main thread).
 */
#ifndef SV_ENGINE_PROGRESS_H
#define SV_ENGINE_PROGRESS_H

#include <stdint.h>

enum progress_mode {
	PROGRESS_OFF = 0,
	PROGRESS_TTY,
	PROGRESS_LOG,
	PROGRESS_JSON,
};

struct progress_state {
	uint64_t files_done, files_total;
	uint64_t bytes_done, bytes_total;
	uint64_t bytes_new;        /* backup: bytes not yet in the repository */
	uint64_t bytes_up;         /* bytes sent to the store */
};

struct progress {
	enum progress_mode mode;
	const char *what;          /* "backup", "restore", "check", "prune" */
	double t0, last;
	int drawn;                 /* a TTY line is on screen */
};

/* The mode for a command: JSON if json, OFF if quiet, else TTY when
 * stderr is a terminal and LOG otherwise. */
enum progress_mode progress_mode_for(int json, int quiet);

void progress_start(struct progress *p, enum progress_mode mode,
		    const char *what);
/* Report if it is time to (always when final). */
void progress_update(struct progress *p, const struct progress_state *s,
		     int final);
/* Erase a TTY line before other output (warnings) goes to stderr. */
void progress_clear(struct progress *p);

#endif
