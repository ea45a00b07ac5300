/*
 * bench_codecs.c - single-core throughput of each codec stage.
 *
 *   build/perf/bench_codecs [--size MiB] [--reps N] [--level-extra L]
 *
 * Each stage runs over the same buffer (256 MiB by default) of synthetic
 * SSTable-like data: 4 KiB blocks that are random (like LZ4-compressed
 * Data.db payload), row-like (keys from a small set, increasing timestamps,
 * small integers, short strings) or text, in roughly equal parts. Per-chunk
 * stages work on 1 MiB pieces, as the pipeline sees CDC chunks of ~1 MiB.
 *
 * Output: one line per stage, "stage=NAME bytes=N secs=S MBps=M" (MB is
 * 10^6 bytes, bytes are input bytes, secs the best of --reps passes), with
 * extra key=value fields after those where useful. Lines starting with '#'
 * are commentary.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codecs/aead.h"
#include "codecs/cdc.h"
#include "codecs/compress.h"
#include "codecs/hash.h"
#include "codecs/kdf.h"

#define MiB ((size_t)1 << 20)
#define PIECE MiB

static uint64_t rng_state = 42;
static volatile uint64_t sink;   /* keeps results observable */

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void gen_random(uint8_t *p, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		sv_put_le64(p + i, rnd());
	for (; i < n; i++)
		p[i] = (uint8_t)rnd();
}

static size_t put_str(uint8_t *p, size_t n, const char *s)
{
	size_t l = SV_MIN(strlen(s), n);

	memcpy(p, s, l);
	return l;
}

static void gen_rows(uint8_t *p, size_t n, uint64_t *ts)
{
	static const char *names[] = { "alice", "bob", "carol", "dave",
				       "erin", "frank", "grace", "heidi" };
	size_t off = 0;

	while (off + 48 <= n) {
		uint64_t key = rnd() % 1000;

		/* 16-byte partition key from a small population. */
		sv_put_le64(p + off, key * UINT64_C(0x9e3779b97f4a7c15));
		sv_put_le64(p + off + 8, key);
		/* Microsecond write timestamp, slowly increasing. */
		*ts += rnd() % 5000;
		sv_put_le64(p + off + 16, *ts);
		/* A few small integer columns. */
		sv_put_le32(p + off + 24, (uint32_t)(rnd() % 100));
		sv_put_le32(p + off + 28, (uint32_t)(rnd() % 65536));
		off += 32;
		off += put_str(p + off, n - off,
			       names[rnd() % SV_ARRAY_SIZE(names)]);
		p[off++] = 0;
	}
	memset(p + off, 0, n - off);
}

static void gen_text(uint8_t *p, size_t n)
{
	static const char *words[] = {
		"the", "partition", "compaction", "of", "keyspace", "replica",
		"timestamp", "and", "row", "cell", "tombstone", "value", "a",
		"INFO", "WARN", "[CompactionExecutor:4]", "2024-01-17", "to",
	};
	size_t off = 0;

	while (off < n) {
		off += put_str(p + off, n - off,
			       words[rnd() % SV_ARRAY_SIZE(words)]);
		if (off < n)
			p[off++] = (rnd() % 10) ? ' ' : '\n';
	}
}

static void gen_data(uint8_t *p, size_t n)
{
	uint64_t ts = UINT64_C(1700000000000000);

	for (size_t off = 0; off < n; off += 4096) {
		size_t l = SV_MIN((size_t)4096, n - off);

		switch (rnd() % 3) {
		case 0:
			gen_random(p + off, l);
			break;
		case 1:
			gen_rows(p + off, l, &ts);
			break;
		default:
			gen_text(p + off, l);
			break;
		}
	}
}

static void report(const char *stage, size_t bytes, double secs,
		   const char *extra)
{
	printf("stage=%s bytes=%zu secs=%.4f MBps=%.1f%s%s\n", stage, bytes,
	       secs, (double)bytes / secs / 1e6, extra[0] ? " " : "", extra);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	size_t size_mib = 256, n, pieces, bound;
	int reps = 3;
	uint8_t *buf, *out, *dec, gear[CDC_GEAR_BYTES];
	uint8_t secret[HASH_SECRET_LEN], key[AEAD_KEY_LEN];
	uint8_t nonce[AEAD_NONCE_LEN] = { 0 }, id[SV_ID_LEN];
	size_t *clen;
	struct compress *z1 = NULL, *z3 = NULL;
	struct aead *a = NULL;
	struct cdc c;
	char extra[128];
	double best, t;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--size") && i + 1 < argc) {
			size_mib = strtoul(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
			reps = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: %s [--size MiB] [--reps N]\n",
				argv[0]);
			return 2;
		}
	}
	if (size_mib == 0 || reps < 1) {
		fprintf(stderr, "bench_codecs: --size and --reps must be "
				"positive\n");
		return 2;
	}
	n = size_mib * MiB;
	pieces = n / PIECE;
	bound = compress_bound(PIECE);
	buf = malloc(n);
	out = malloc(pieces * bound + AEAD_OVERHEAD * pieces);
	dec = malloc(n);
	clen = calloc(pieces, sizeof(size_t));
	if (!buf || !out || !dec || !clen) {
		fprintf(stderr, "bench_codecs: cannot allocate %zu MiB\n",
			3 * size_mib);
		return 1;
	}
	gen_data(buf, n);
	gen_random(gear, sizeof(gear));
	gen_random(secret, sizeof(secret));
	gen_random(key, sizeof(key));
	/* Touch the output buffers so page faults stay out of the timings. */
	memset(out, 0, pieces * bound + AEAD_OVERHEAD * pieces);
	memset(dec, 0, n);
	if (cdc_init(&c, gear, CDC_MIN_DEFAULT, CDC_AVG_DEFAULT,
		     CDC_MAX_DEFAULT) ||
	    compress_create(&z1, 1) || compress_create(&z3, 3) ||
	    aead_create(&a)) {
		fprintf(stderr, "bench_codecs: codec setup failed\n");
		return 1;
	}
	printf("# bench_codecs: %zu MiB synthetic SSTable-like data, "
	       "1 MiB pieces, best of %d, one thread\n", size_mib, reps);

	/* cdc: boundaries over the whole buffer at 256 KiB/1 MiB/4 MiB. */
	best = 1e30;
	{
		size_t chunks = 0;

		for (int r = 0; r < reps; r++) {
			size_t off = 0;

			chunks = 0;
			t = now();
			while (off < n) {
				off += cdc_next(&c, buf + off,
						SV_MIN(n - off, (size_t)c.max));
				chunks++;
			}
			best = SV_MIN(best, now() - t);
		}
		snprintf(extra, sizeof(extra), "chunks=%zu avg_KiB=%.0f",
			 chunks, (double)n / (double)chunks / 1024);
		report("cdc", n, best, extra);
	}

	/* xxh3: keyed 128-bit chunk ids of each piece. */
	best = 1e30;
	for (int r = 0; r < reps; r++) {
		t = now();
		for (size_t i = 0; i < pieces; i++) {
			hash_chunk_id(secret, buf + i * PIECE, PIECE, id);
			sink += id[0];
		}
		best = SV_MIN(best, now() - t);
	}
	report("xxh3", pieces * PIECE, best, "");

	/*
	 * xxh3_hot: the same piece again and again, from cache. The xxh3
	 * stage above streams from DRAM and so mostly measures memory
	 * bandwidth; this one is the hash's own CPU cost.
	 */
	best = 1e30;
	for (int r = 0; r < reps; r++) {
		t = now();
		for (size_t i = 0; i < pieces; i++) {
			hash_chunk_id(secret, buf, PIECE, id);
			sink += id[0];
		}
		best = SV_MIN(best, now() - t);
	}
	report("xxh3_hot", pieces * PIECE, best, "");

	/* xxh3_stream: whole-file digest fed in 1 MiB updates. */
	best = 1e30;
	for (int r = 0; r < reps; r++) {
		struct hash_stream hs;

		t = now();
		hash_stream_init(&hs, secret);
		for (size_t i = 0; i < pieces; i++)
			hash_stream_update(&hs, buf + i * PIECE, PIECE);
		hash_stream_final(&hs, id);
		sink += id[0];
		best = SV_MIN(best, now() - t);
	}
	report("xxh3_stream", pieces * PIECE, best, "");

	/* zstd1 / zstd3: compress_data per piece. */
	for (int lv = 0; lv < 2; lv++) {
		struct compress *z = lv ? z3 : z1;
		size_t total = 0;

		best = 1e30;
		for (int r = 0; r < reps; r++) {
			total = 0;
			t = now();
			for (size_t i = 0; i < pieces; i++) {
				ssize_t k = compress_data(z, out + i * bound,
							  bound,
							  buf + i * PIECE,
							  PIECE);

				if (k < 0) {
					fprintf(stderr, "compress: %zd\n", k);
					return 1;
				}
				clen[i] = (size_t)k;
				total += (size_t)k;
			}
			best = SV_MIN(best, now() - t);
		}
		snprintf(extra, sizeof(extra), "ratio=%.3f",
			 (double)(pieces * PIECE) / (double)total);
		report(lv ? "zstd3" : "zstd1", pieces * PIECE, best, extra);
	}

	/* unzstd3: decompression of the level-3 output (restore path). */
	best = 1e30;
	for (int r = 0; r < reps; r++) {
		t = now();
		for (size_t i = 0; i < pieces; i++) {
			ssize_t k = compress_undo(z3, dec + i * PIECE, PIECE,
						  out + i * bound, clen[i],
						  PIECE);

			if (k != (ssize_t)PIECE) {
				fprintf(stderr, "decompress: %zd\n", k);
				return 1;
			}
		}
		best = SV_MIN(best, now() - t);
	}
	if (memcmp(dec, buf, pieces * PIECE)) {
		fprintf(stderr, "decompressed data differs\n");
		return 1;
	}
	report("unzstd3", pieces * PIECE, best, "");

	/* zstd1_skip: compress_chunk with the default skip rule (1/32). */
	{
		size_t total = 0, raw = 0;

		best = 1e30;
		for (int r = 0; r < reps; r++) {
			total = 0;
			raw = 0;
			t = now();
			for (size_t i = 0; i < pieces; i++) {
				enum sv_codec codec;
				ssize_t k = compress_chunk(z1, out + i * bound,
							   bound,
							   buf + i * PIECE,
							   PIECE, 32, &codec);

				if (k < 0)
					return 1;
				total += (size_t)k;
				raw += codec == SV_CODEC_NONE;
			}
			best = SV_MIN(best, now() - t);
		}
		snprintf(extra, sizeof(extra), "ratio=%.3f raw_chunks=%zu/%zu",
			 (double)(pieces * PIECE) / (double)total, raw, pieces);
		report("zstd1_skip", pieces * PIECE, best, extra);
	}

	/* aes_gcm: seal each piece (AAD sized like the engine's, 53 bytes). */
	best = 1e30;
	for (int r = 0; r < reps; r++) {
		uint8_t aad[53] = { 0 };

		t = now();
		for (size_t i = 0; i < pieces; i++) {
			ssize_t k;

			sv_put_le64(nonce, i);
			k = aead_seal(a, key, nonce, aad, sizeof(aad),
				      buf + i * PIECE, PIECE,
				      out + i * (PIECE + AEAD_OVERHEAD));
			if (k < 0)
				return 1;
		}
		best = SV_MIN(best, now() - t);
	}
	report("aes_gcm", pieces * PIECE, best, "");

	/* aes_gcm_open: verify and decrypt what was just sealed. */
	best = 1e30;
	for (int r = 0; r < reps; r++) {
		uint8_t aad[53] = { 0 };

		t = now();
		for (size_t i = 0; i < pieces; i++) {
			ssize_t k = aead_open(a, key, aad, sizeof(aad),
					      out + i * (PIECE + AEAD_OVERHEAD),
					      PIECE + AEAD_OVERHEAD,
					      dec + i * PIECE);

			if (k != (ssize_t)PIECE) {
				fprintf(stderr, "open: %zd\n", k);
				return 1;
			}
		}
		best = SV_MIN(best, now() - t);
	}
	report("aes_gcm_open", pieces * PIECE, best, "");

	/*
	 * hmac: the per-chunk key derivation (HMAC-SHA256 over id || raw_len,
	 * 20 bytes). Reported per call; bytes are the message bytes.
	 */
	{
		const size_t calls = 100000;
		uint8_t msg[20] = { 0 }, mac[32];

		best = 1e30;
		for (int r = 0; r < reps; r++) {
			t = now();
			for (size_t i = 0; i < calls; i++) {
				sv_put_le64(msg, i);
				if (kdf_hmac_sha256(key, sizeof(key), msg,
						    sizeof(msg), mac))
					return 1;
				sink += mac[0];
			}
			best = SV_MIN(best, now() - t);
		}
		snprintf(extra, sizeof(extra), "calls=%zu us_per_call=%.2f",
			 calls, best / (double)calls * 1e6);
		report("hmac", calls * sizeof(msg), best, extra);
	}

	compress_destroy(z1);
	compress_destroy(z3);
	aead_destroy(a);
	free(buf);
	free(out);
	free(dec);
	free(clen);
	return 0;
}
