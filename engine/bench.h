/*
 * bench.h - what this host can do: each backup stage alone, then the whole
 * pipeline (the measurement behind `sstvault bench`).
 *
 * Stages, each measured alone, in this order:
 *   read     io/reader over the files of a data directory, sparing the
 *            page cache as a backup does (each inode once, walk order)
 *   fastcdc  codecs/cdc.h over the sample, one thread
 *   xxh3     keyed XXH3-128 of every chunk, one thread
 *   zstd     codecs/compress.h at the given level, with the pipeline's
 *            skip rule, one thread
 *   aes-gcm  AES-256-GCM seal of every chunk, one thread
 *   upload   open/put_part/complete of a few parts to a scratch object
 *            "tmp-bench/<random>" at a location, then its removal
 * The CPU stages run on a sample: buffers spread evenly over everything
 * read from the data directory, or generated SSTable-like data when there
 * is none. Then the
 * pipeline (engine/backup.h) backs up the same files into a "null:" store,
 * which keeps small objects and discards pack data (uploaders/null.c), so
 * it measures everything up to the storage.
 *
 * The limit model (see bench.c) turns the one-thread rates into the rate
 * the pipeline could reach on this host's cores; the result says which
 * stage binds and what share of the limit the pipeline reached.
 *
 * Threading: bench_run() starts the pipeline's threads itself; call it
 * from one thread. Memory: the sample (sample_max, default 128 MiB), one
 * upload part (part_size, default 16 MiB), and the pipeline's own fixed
 * pool (backup -v reports it).
 */
#ifndef SV_ENGINE_BENCH_H
#define SV_ENGINE_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include "include/sv.h"
#include "uploaders/uploader.h"

struct bench_opts {
	const char *data_dir;        /* files to read; NULL: generated data */
	const char *location;        /* upload stage target (a directory,
				      * s3://bucket/prefix, ...); NULL: no
				      * upload stage */
	const struct upl_opts *upl;  /* backend options; NULL: defaults */
	uint64_t read_max;           /* bytes read at most; 0: 2 GiB */
	uint64_t sample_max;         /* sample for CPU stages; 0: 128 MiB */
	int zstd_level;              /* 0: 1 (the repository default) */
	unsigned threads;            /* pipeline workers; 0: all cores */
	unsigned upload_parts;       /* parts uploaded; 0: 4 */
	uint64_t part_size;          /* bytes per part; 0: 16 MiB */
	double min_secs;             /* least time per CPU stage; 0: 0.3 */
	int no_pipeline;             /* skip the pipeline run */
	int keep_cache;              /* reads populate the page cache */
	int no_uring;                /* pread instead of io_uring */
};

enum bench_stage_id {
	BENCH_READ = 0,
	BENCH_CDC,
	BENCH_XXH3,
	BENCH_ZSTD,
	BENCH_AES,
	BENCH_UPLOAD,
	BENCH_NSTAGES,
};

struct bench_stage {
	const char *name;       /* "read", "fastcdc", "xxh3", ... */
	int measured;           /* 0: not run (no location, or it failed) */
	int err;                /* 0, or -errno of a failed stage */
	int parallel;           /* runs on every worker in the pipeline */
	uint64_t bytes;         /* input bytes processed */
	double secs;
	double mbps;            /* measured rate, MB/s (10^6 bytes); one
				 * thread for the CPU stages */
	double allows_mbps;     /* raw MB/s this stage alone lets the
				 * pipeline reach on this host (model) */
};

struct bench_result {
	struct bench_stage stage[BENCH_NSTAGES];
	unsigned cores;             /* CPUs this process may run on */
	unsigned threads;           /* pipeline workers */
	int zstd_level;
	char source[256];           /* the data directory, or "generated" */
	char io_mode[160];          /* reader_mode() of the read stage */
	char location[256];         /* upload target, "" if none */
	uint64_t files;             /* files read by the read stage */
	uint64_t sample_bytes;      /* bytes the CPU stages ran on */
	uint64_t chunks;            /* chunks FastCDC cut in the sample */
	double ratio;               /* raw / stored bytes (zstd + skip rule
				     * + AEAD overhead) */
	/* The model (bench.c). */
	double read_cpu_mbps;       /* bytes read per CPU second the read
				     * stage used (kernel copies included) */
	double digest_mbps;         /* whole-file XXH3 stream, one thread */
	double main_mbps;           /* serial chunker thread: CDC + digest */
	double cpu_mbps;            /* every CPU stage sharing all cores */
	double limit_mbps;          /* min over read, stages, main, cpu */
	const char *limit_by;       /* what binds: a stage name, "main
				     * thread" or "cpu" */
	double upload_limit_mbps;   /* min(limit, upload), 0 if no upload */
	/* The pipeline into "null:". */
	int pipeline_ran;
	int pipeline_err;           /* 0, or -errno */
	uint64_t pipeline_files;
	uint64_t pipeline_bytes;    /* bytes read by the pipeline */
	double pipeline_secs;       /* backup_run() wall time */
	double pipeline_mbps;
	double pipeline_share;      /* pipeline_mbps / limit_mbps */
};

/*
 * Measure. r is zeroed and filled as far as the run got; a stage that
 * fails leaves measured = 0 and its error in err, and the others still
 * run (an unreachable location should not hide the CPU figures).
 * Return: 0 when every requested stage ran; otherwise the first failure's
 * -errno (-ENOENT: no data directory, -ENODATA: it holds no data, -ENOMEM,
 * the uploader's error for the upload stage, backup_run()'s for the
 * pipeline). Messages go through log_err().
 */
int bench_run(const struct bench_opts *o, struct bench_result *r) SV_MUST_CHECK;

/*
 * Print r to f: an aligned table with the model's limit and the
 * pipeline's share of it (json = 0), or one JSON object (json = 1) with
 * the keys "stages" (array of {name, measured, parallel, bytes, seconds,
 * MBps, allows_MBps, error}), "cores", "threads", "zstd_level", "source",
 * "io_mode", "location", "files", "sample_bytes", "chunks", "ratio",
 * "read_cpu_MBps", "digest_MBps", "main_MBps", "cpu_MBps", "limit_MBps", "limit_by",
 * "upload_limit_MBps", "pipeline" ({ran, error, files, bytes, seconds,
 * MBps, share}). MB is 10^6 bytes.
 */
void bench_print(FILE *f, const struct bench_result *r, int json);

#endif
