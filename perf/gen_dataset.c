/*
 * gen_dataset - deterministic generator of a realistic Cassandra 4.x data
 * directory, used by `make demo`, by the tests and by the benchmark against
 * restic and borg.  Standalone program: liblz4, zlib and libc only.
 *
 * Usage (also printed by --help):
 *
 *   gen_dataset --out DIR --size SIZE [--seed N] [--keyspaces K]
 *               [--tables T] [--jbod N] [--snapshot TAG | --no-snapshot]
 *               [--incremental] [--clean] [--jobs N]
 *   gen_dataset --out DIR --day2 [--seed N] [--snapshot TAG] [--incremental]
 *   gen_dataset --verify DIR [-v]
 *
 * Layout written on day 1 (one data directory, the default):
 *
 *   DIR/data/<ks>/<table>-<32 hex id>/nb-<gen>-big-<Component>
 *       live SSTables in the Cassandra 4.x BIG format; components Data.db,
 *       Index.db, Summary.db, Filter.db, Statistics.db, CompressionInfo.db,
 *       Digest.crc32 and TOC.txt; mtime of every component is
 *       1700000000 + gen * 60
 *   DIR/data/<ks>/<table>-<id>/snapshots/<TAG>/
 *       hard links of every live component, manifest.json (4.0 style: the
 *       Data.db of each SSTable) and schema.cql (CREATE KEYSPACE, CREATE
 *       TYPE, CREATE TABLE ... WITH ID = <uuid>, dropped columns, CREATE
 *       INDEX); TAG is "snap1" unless --snapshot or --no-snapshot
 *   DIR/data/<ks>/<table>-<id>/backups/
 *       with --incremental: hard links of the most recently flushed SSTables
 *       (the small, newest generations), as incremental_backups: true does
 *   DIR/data/<ks>/<table>-<id>/.<table>_<column>_idx/nb-1-big-*
 *       one secondary index (Cassandra's default index name) with its own
 *       small SSTable, in the first table that has an indexable column; its
 *       snapshot links go to snapshots/<TAG>/.<index>/
 *   DIR/data/<first ks>/<first table>-<id>/tmp-nb-<gen>-big-Data.db and
 *   nb_txn_compaction_<uuid>.log
 *       leftovers of an unfinished compaction (not with --clean); the
 *       transaction log names the SSTable relative to its folder, where
 *       Cassandra writes an absolute path, so that the output does not
 *       depend on DIR
 *
 * With --jbod N the data directories are DIR/data1 .. DIR/dataN instead of
 * DIR/data.  Every table folder exists in every data directory, as Cassandra
 * creates it; each SSTable (all its components) lives in exactly one of them,
 * spread round-robin.  The secondary index, the leftovers, manifest.json and
 * schema.cql of a snapshot are in DIR/data1 (Cassandra writes the manifest in
 * the first data directory); snapshot and backup links sit in the data
 * directory of the file they link to.
 *
 * Day 2 (--day2) evolves a DIR made by day 1 with the same --seed: in every
 * table one size-tiered compaction replaces 20-30% of the SSTables (picked
 * among the smaller 70%, similar sizes) by one new SSTable of about their
 * combined size with new bytes, new flushes add 3-5% of the live size, the
 * other SSTables are untouched (same inode and mtime).  With --incremental
 * the new flushes are linked into backups/.  A new snapshot (default tag
 * "snap2") links every live SSTable; old snapshots stay.  Day 2 reads the
 * existing layout from disk, so it needs neither --size nor --jbod.
 *
 * Content: each Data.db is a stream of plausible partitions (BIG row format:
 * partition header, rows with flags, clustering, vint sizes, timestamp
 * deltas, cells of text, numbers, timeuuids and random blobs) cut into 16 KiB
 * chunks (64 KiB for some tables), each compressed with LZ4_compress_default
 * behind Cassandra's 4-byte little-endian length header and followed by the
 * big-endian CRC32 of the compressed bytes.  The output is byte-identical for
 * the same arguments and seed: every SSTable's content comes from its own
 * xoshiro256** stream seeded from (seed, table id, generation), never from
 * the clock, so the number of worker threads does not change it.  The
 * partitions are plausible, not exact: Cassandra could not load them.
 *
 * --verify DIR walks DIR and checks every SSTable against its own metadata:
 * the CompressionInfo.db chunk offsets, each chunk's checksum (CRC32 for
 * 3.0+, Adler32 for ka/la), each chunk's LZ4 decompression to its announced
 * length, CRC.db for uncompressed SSTables, and Digest.crc32 (or
 * Digest.adler32 / the 2.1 Digest.sha1 holding Adler32).  Files reached
 * again through a hard link are checked once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <lz4.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "include/sv.h"

#define BASE_EPOCH 1700000000LL
#define MAX_DIRS 64
#define KEY_MAX 96
#define CK_MAX 48
#define ROW_MAX 8192
/* column_index_size_in_kb: 16, so wide partitions get a promoted index. */
#define COL_INDEX_SIZE (16 * 1024)
#define INDEX_INTERVAL 128
#define PART_HIST_N 150
#define CELL_HIST_N 118
#define MAX_BLOCKS 256
#define CORPUS_LEN (1u << 20)
#define WBUF_CAP (1u << 20)

/* ------------------------------------------------------------------ */
/* Deterministic PRNG: splitmix64 to seed, xoshiro256** to draw.      */
/* ------------------------------------------------------------------ */

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t mix3(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t x = a, h;

	h = splitmix64(&x);
	x = h ^ b;
	h = splitmix64(&x);
	x = h ^ c;
	return splitmix64(&x);
}

static void rng_init(struct rng *r, uint64_t seed)
{
	uint64_t x = seed;

	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
	return res;
}

/* Uniform in [0, n) by multiply-shift (n > 0). */
static inline uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static inline uint32_t rng_range(struct rng *r, uint32_t lo, uint32_t hi)
{
	return lo + rng_below(r, hi - lo + 1);
}

static inline double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Index in [0, n), skewed towards 0 (minimum of two draws). */
static inline uint32_t rng_skew(struct rng *r, uint32_t n)
{
	uint32_t a = rng_below(r, n), b = rng_below(r, n);

	return a < b ? a : b;
}

/* Stronger skew (minimum of three draws): word frequencies of text. */
static inline uint32_t rng_skew3(struct rng *r, uint32_t n)
{
	uint32_t a = rng_skew(r, n), b = rng_below(r, n);

	return a < b ? a : b;
}

static void rng_fill(struct rng *r, uint8_t *p, size_t n)
{
	while (n >= 8) {
		uint64_t v = rng_next(r);

		memcpy(p, &v, 8);
		p += 8;
		n -= 8;
	}
	if (n) {
		uint64_t v = rng_next(r);

		memcpy(p, &v, n);
	}
}

static uint64_t hash_bytes(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

/* ------------------------------------------------------------------ */
/* Big-endian and Cassandra vint encoders.                            */
/* ------------------------------------------------------------------ */

static inline uint8_t *put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static inline uint8_t *put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
	return p + 4;
}

static inline uint8_t *put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
	return p + 8;
}

static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static inline uint8_t *put_mem(uint8_t *p, const void *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

/* Size of Cassandra's unsigned vint (VIntCoding.computeUnsignedVIntSize). */
static inline int vint_size(uint64_t v)
{
	int lz = __builtin_clzll(v | 1);

	return (639 - lz * 9) >> 6;
}

/*
 * Cassandra's unsigned vint: the count of leading one bits in the first
 * byte is the number of extra bytes, the value follows big-endian.
 */
static inline uint8_t *put_uvint(uint8_t *p, uint64_t v)
{
	int n = vint_size(v), extra = n - 1;

	if (n == 1) {
		*p = (uint8_t)v;
		return p + 1;
	}
	if (n == 9) {
		*p = 0xff;
		return put_be64(p + 1, v);
	}
	p[0] = (uint8_t)((0xff00u >> extra) & 0xff) |
	       (uint8_t)(v >> (8 * extra));
	for (int i = 1; i <= extra; i++)
		p[i] = (uint8_t)(v >> (8 * (extra - i)));
	return p + n;
}

static inline uint8_t *put_svint(uint8_t *p, int64_t v)
{
	return put_uvint(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

/* Java DataOutput.writeUTF for ASCII strings. */
static inline uint8_t *put_utf(uint8_t *p, const char *s)
{
	size_t n = strlen(s);

	p = put_be16(p, (uint16_t)n);
	return put_mem(p, s, n);
}

/* A string behind its unsigned vint length (writeWithVIntLength). */
static inline uint8_t *put_vstr(uint8_t *p, const char *s)
{
	size_t n = strlen(s);

	p = put_uvint(p, n);
	return put_mem(p, s, n);
}

/* Decimal digits of v, zero-padded to width (no NUL). */
static inline uint8_t *put_dec(uint8_t *p, uint64_t v, int width)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n < width)
		tmp[n++] = '0';
	while (n)
		*p++ = (uint8_t)tmp[--n];
	return p;
}

static inline uint8_t *put_str(uint8_t *p, const char *s)
{
	return put_mem(p, s, strlen(s));
}

/* ------------------------------------------------------------------ */
/* Word lists and the shared text corpus.                             */
/* ------------------------------------------------------------------ */

static const char *const words[] = {
	"the", "of", "and", "to", "a", "in", "is", "it", "you", "that", "he",
	"was", "for", "on", "are", "with", "as", "I", "his", "they", "be",
	"at", "one", "have", "this", "from", "or", "had", "by", "not", "word",
	"but", "what", "some", "we", "can", "out", "other", "were", "all",
	"there", "when", "up", "use", "your", "how", "said", "an", "each",
	"she", "which", "do", "their", "time", "if", "will", "way", "about",
	"many", "then", "them", "write", "would", "like", "so", "these", "her",
	"long", "make", "thing", "see", "him", "two", "has", "look", "more",
	"day", "could", "go", "come", "did", "number", "sound", "no", "most",
	"people", "my", "over", "know", "water", "than", "call", "first", "who",
	"may", "down", "side", "been", "now", "find", "order", "delivery",
	"shipping", "package", "customer", "account", "payment", "refund",
	"product", "quality", "service", "support", "request", "update",
	"server", "cluster", "node", "replica", "latency", "timeout", "error",
	"warning", "sensor", "temperature", "pressure", "humidity", "battery",
	"device", "firmware", "network", "connection", "session", "login",
	"password", "profile", "message", "thanks", "please", "great", "good",
	"problem", "issue", "fixed", "again", "today", "tomorrow", "yesterday",
	"morning", "evening", "weekend", "meeting", "project", "team", "deploy",
	"release", "version", "backup", "restore", "storage", "disk", "memory",
	"table", "keyspace", "query", "index", "partition", "token", "range",
	"repair", "compaction", "snapshot", "schema", "column", "value",
	"price", "discount", "coupon", "invoice", "receipt", "cart", "checkout",
	"address", "street", "city", "country", "phone", "email", "contact",
	"review", "rating", "stars", "recommend", "friend", "family", "photo",
	"video", "link", "share", "comment", "post", "like", "follow", "new",
	"old", "big", "small", "fast", "slow", "high", "low", "hot", "cold",
	"red", "blue", "green", "black", "white", "open", "closed", "ready",
	"waiting", "pending", "done", "started", "finished", "received", "sent",
};

static const char *const first_names[] = {
	"james", "mary", "john", "patricia", "robert", "jennifer", "michael",
	"linda", "william", "elizabeth", "david", "barbara", "richard", "susan",
	"joseph", "jessica", "thomas", "sarah", "charles", "karen", "daniel",
	"nancy", "matthew", "lisa", "anthony", "betty", "mark", "margaret",
	"paul", "sandra", "steven", "ashley", "andrew", "emily", "kenji",
	"amelie", "lukas", "sofia", "mateo", "chloe",
};

static const char *const last_names[] = {
	"smith", "johnson", "williams", "brown", "jones", "garcia", "miller",
	"davis", "rodriguez", "martinez", "hernandez", "lopez", "gonzalez",
	"wilson", "anderson", "thomas", "taylor", "moore", "jackson", "martin",
	"lee", "perez", "thompson", "white", "harris", "sanchez", "clark",
	"ramirez", "lewis", "robinson", "walker", "young", "allen", "king",
	"wright", "scott", "muller", "schmidt", "dubois", "rossi",
};

static const char *const domains[] = {
	"gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com",
	"proton.me", "example.org", "mail.de",
};

static const char *const cities[] = {
	"Berlin", "Paris", "London", "Madrid", "Rome", "Vienna", "Amsterdam",
	"Lisbon", "Dublin", "Prague", "Warsaw", "Stockholm", "Oslo", "Helsinki",
	"Copenhagen", "Brussels", "Zurich", "Munich", "Hamburg", "Lyon",
	"Milan", "Barcelona", "New York", "Chicago", "Austin", "Seattle",
	"Toronto", "Tokyo", "Sydney", "Singapore",
};

static const char *const countries[] = {
	"DE", "FR", "GB", "ES", "IT", "AT", "NL", "PT", "IE", "CZ", "PL", "SE",
	"NO", "FI", "DK", "BE", "CH", "US", "CA", "JP", "AU", "SG",
};

static const char *const statuses[] = {
	"PENDING", "PAID", "SHIPPED", "DELIVERED", "CANCELLED", "REFUNDED",
};

static const char *const event_types[] = {
	"login", "logout", "page_view", "click", "purchase", "add_to_cart",
	"remove_from_cart", "search", "error", "heartbeat", "config_change",
	"firmware_update", "reboot", "alarm",
};

/* Log lines are templates with a few variable fields. */
static const char *const event_msgs[][2] = {
	{ "connection to 10.0.", " timed out after 3000 ms" },
	{ "user logged in from session ", "" },
	{ "firmware update to version 2.", " completed" },
	{ "temperature threshold exceeded on probe ", "" },
	{ "config key sampling_interval changed to ", " s" },
	{ "battery level low: ", "%" },
	{ "checkout completed for cart ", "" },
	{ "search query returned ", " results" },
	{ "page /products/", " rendered in 84 ms" },
	{ "heartbeat ok, uptime ", " s" },
	{ "reboot requested by operator ", "" },
	{ "retrying upload, attempt ", " of 5" },
};

static const char *const metrics[][2] = {
	{ "temperature", "celsius" }, { "humidity", "percent" },
	{ "pressure", "hpa" },	      { "voltage", "volt" },
	{ "current", "ampere" },      { "co2", "ppm" },
	{ "wind_speed", "m/s" },      { "rpm", "rpm" },
};

static const char *const regions[] = {
	"eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-east",
};

static const char *const street_kinds[] = {
	"Street", "Avenue", "Road", "Lane", "Strasse", "Rue", "Way", "Drive",
};

static const char *const user_agents[] = {
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
	"(KHTML, like Gecko) Chrome/",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
	"(KHTML, like Gecko) Version/",
	"Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) "
	"AppleWebKit/605.1.15 Mobile/",
	"okhttp/",
	"Dalvik/2.1.0 (Linux; U; Android 13; Pixel 7 Build/TQ3A) app/",
};

static const char *const reactions[] = {
	"", "", "", "+1:1", "+1:2", "heart:1", "laugh:1,+1:1", "+1:4,heart:2",
	"eyes:1", "tada:3",
};

/*
 * The corpus is built once from the word list before the workers start and
 * is read-only afterwards, so the workers share it without locking.  Text
 * cells are slices of it: within one 16 KiB chunk the same words recur, as
 * in real text, which is what LZ4 and zstd find.
 */
static char *corpus;

#define N_PHRASES 768

/*
 * Text is made of phrases (runs of 2-6 words) rather than single words:
 * real messages repeat word sequences, which is what gives LZ4 matches
 * longer than one word.  Phrases and words are both drawn with a skew.
 */
static int corpus_build(uint64_t seed)
{
	struct rng r;
	size_t pos = 0;
	char *phr = malloc((size_t)N_PHRASES * 64);

	corpus = malloc(CORPUS_LEN);
	if (!corpus || !phr) {
		free(phr);
		return -ENOMEM;
	}
	rng_init(&r, mix3(seed, 0xc0705, 1));
	for (int i = 0; i < N_PHRASES; i++) {
		uint32_t n = rng_range(&r, 2, 6);
		size_t l = 0;

		for (uint32_t k = 0; k < n; k++) {
			const char *w = words[rng_skew3(&r, SV_ARRAY_SIZE(words))];
			size_t wl = strlen(w);

			if (l + wl + 2 > 63)
				break;
			if (k)
				phr[i * 64 + l++] = ' ';
			memcpy(phr + i * 64 + l, w, wl);
			l += wl;
		}
		phr[i * 64 + l] = '\0';
	}
	while (pos < CORPUS_LEN - 128) {
		uint32_t n = rng_range(&r, 2, 5);
		size_t start = pos;

		for (uint32_t i = 0; i < n; i++) {
			const char *ph = phr + 64 * rng_skew3(&r, N_PHRASES);
			size_t l = strlen(ph);

			if (rng_below(&r, 10) == 0) {
				uint8_t tmp[24], *e;

				e = put_dec(tmp, rng_below(&r, 5000), 1);
				memcpy(corpus + pos, tmp, (size_t)(e - tmp));
				pos += (size_t)(e - tmp);
				corpus[pos++] = ' ';
			}
			memcpy(corpus + pos, ph, l);
			pos += l;
			if (i + 1 < n && rng_below(&r, 5) == 0)
				corpus[pos++] = ',';
			corpus[pos++] = ' ';
		}
		if (corpus[start] >= 'a' && corpus[start] <= 'z')
			corpus[start] = (char)(corpus[start] - 32);
		corpus[pos - 1] = rng_below(&r, 8) ? '.' : '!';
		corpus[pos++] = ' ';
	}
	memset(corpus + pos, ' ', CORPUS_LEN - pos);
	free(phr);
	return 0;
}

/* A slice of the corpus that starts at a word boundary. */
static const char *corpus_slice(struct rng *r, size_t len)
{
	uint32_t off = rng_below(r, CORPUS_LEN - (uint32_t)len - 40);

	for (int i = 0; i < 32 && corpus[off] != ' '; i++)
		off++;
	return corpus + off + 1;
}

/* ------------------------------------------------------------------ */
/* Table kinds and their schema.                                      */
/* ------------------------------------------------------------------ */

enum kind {
	K_USERS,
	K_ORDERS,
	K_EVENTS,
	K_READINGS,
	K_SESSIONS,
	K_MESSAGES,
	K_INDEX,
};
#define N_TABLE_KINDS 6

#define M(x) "org.apache.cassandra.db.marshal." x

struct col {
	const char *name, *cql, *marshal;
	char role; /* 'p' partition key, 'c' clustering, 'r' regular */
	bool desc;
};

struct kind_desc {
	const char *names[3];
	const struct col *cols;
	int ncols;
	const char *index_col; /* column of the secondary index, or NULL */
	const char *udt;       /* body of CREATE TYPE, or NULL */
	const char *udt_name;
	const char *dropped;  /* dropped column, replayed in schema.cql */
	const char *comment;
};

/* Regular columns are listed in name order: Cassandra writes cells so. */
static const struct col users_cols[] = {
	{ "tenant_id", "text", M("UTF8Type"), 'p', false },
	{ "user_id", "text", M("UTF8Type"), 'p', false },
	{ "age", "int", M("Int32Type"), 'r', false },
	{ "avatar", "blob", M("BytesType"), 'r', false },
	{ "bio", "text", M("UTF8Type"), 'r', false },
	{ "city", "text", M("UTF8Type"), 'r', false },
	{ "country", "text", M("UTF8Type"), 'r', false },
	{ "created_at", "timestamp", M("TimestampType"), 'r', false },
	{ "email", "text", M("UTF8Type"), 'r', false },
	{ "last_login", "timestamp", M("TimestampType"), 'r', false },
	{ "name", "text", M("UTF8Type"), 'r', false },
	{ "prefs", "text", M("UTF8Type"), 'r', false },
};

static const struct col orders_cols[] = {
	{ "customer_id", "text", M("UTF8Type"), 'p', false },
	{ "order_id", "timeuuid", M("TimeUUIDType"), 'c', true },
	{ "currency", "text", M("UTF8Type"), 'r', false },
	{ "items", "text", M("UTF8Type"), 'r', false },
	{ "note", "text", M("UTF8Type"), 'r', false },
	{ "shipping", "frozen<address>",
	  M("FrozenType(") M("UserType(shop,61646472657373,"
			     "737472656574:" M("UTF8Type") ","
			     "63697479:" M("UTF8Type") ","
			     "7a6970:" M("UTF8Type") "))"),
	  'r', false },
	{ "status", "text", M("UTF8Type"), 'r', false },
	{ "total", "decimal", M("DecimalType"), 'r', false },
};

static const struct col events_cols[] = {
	{ "device_id", "text", M("UTF8Type"), 'p', false },
	{ "day", "text", M("UTF8Type"), 'p', false },
	{ "ts", "timestamp", M("TimestampType"), 'c', true },
	{ "event_type", "text", M("UTF8Type"), 'r', false },
	{ "message", "text", M("UTF8Type"), 'r', false },
	{ "payload", "blob", M("BytesType"), 'r', false },
	{ "severity", "int", M("Int32Type"), 'r', false },
	{ "source_ip", "inet", M("InetAddressType"), 'r', false },
};

static const struct col readings_cols[] = {
	{ "sensor_id", "text", M("UTF8Type"), 'p', false },
	{ "bucket", "int", M("Int32Type"), 'p', false },
	{ "ts", "timestamp", M("TimestampType"), 'c', false },
	{ "metric", "text", M("UTF8Type"), 'r', false },
	{ "quality", "int", M("Int32Type"), 'r', false },
	{ "unit", "text", M("UTF8Type"), 'r', false },
	{ "value", "double", M("DoubleType"), 'r', false },
};

static const struct col sessions_cols[] = {
	{ "session_id", "timeuuid", M("TimeUUIDType"), 'p', false },
	{ "seq", "int", M("Int32Type"), 'c', false },
	{ "data", "text", M("UTF8Type"), 'r', false },
	{ "duration_ms", "int", M("Int32Type"), 'r', false },
	{ "expires_at", "timestamp", M("TimestampType"), 'r', false },
	{ "ip", "inet", M("InetAddressType"), 'r', false },
	{ "path", "text", M("UTF8Type"), 'r', false },
	{ "started_at", "timestamp", M("TimestampType"), 'r', false },
	{ "token", "blob", M("BytesType"), 'r', false },
	{ "user_agent", "text", M("UTF8Type"), 'r', false },
	{ "user_id", "text", M("UTF8Type"), 'r', false },
};

static const struct col messages_cols[] = {
	{ "conversation_id", "text", M("UTF8Type"), 'p', false },
	{ "message_id", "timeuuid", M("TimeUUIDType"), 'c', true },
	{ "attachments", "int", M("Int32Type"), 'r', false },
	{ "body", "text", M("UTF8Type"), 'r', false },
	{ "edited", "boolean", M("BooleanType"), 'r', false },
	{ "reactions", "text", M("UTF8Type"), 'r', false },
	{ "sender", "text", M("UTF8Type"), 'r', false },
};

static const struct kind_desc kinds[N_TABLE_KINDS] = {
	[K_USERS] = { { "users", "customers", "accounts" },
		      users_cols, (int)SV_ARRAY_SIZE(users_cols), "country",
		      NULL, NULL, "legacy_flag boolean", "user profiles" },
	[K_ORDERS] = { { "orders", "invoices", "purchases" },
		       orders_cols, (int)SV_ARRAY_SIZE(orders_cols), "status",
		       "    street text,\n    city text,\n    zip text\n",
		       "address", NULL, "orders per customer" },
	[K_EVENTS] = { { "events", "audit_log", "clicks" },
		       events_cols, (int)SV_ARRAY_SIZE(events_cols), NULL,
		       NULL, NULL, NULL, "device events per day" },
	[K_READINGS] = { { "readings", "metrics", "samples" },
			 readings_cols, (int)SV_ARRAY_SIZE(readings_cols),
			 NULL, NULL, NULL, "raw_value blob",
			 "sensor time series" },
	[K_SESSIONS] = { { "sessions", "tokens", "logins" },
			 sessions_cols, (int)SV_ARRAY_SIZE(sessions_cols),
			 NULL, NULL, NULL, NULL, "web sessions" },
	[K_MESSAGES] = { { "messages", "comments", "posts" },
			 messages_cols, (int)SV_ARRAY_SIZE(messages_cols),
			 NULL, NULL, NULL, NULL, "chat messages" },
};

static const char *const ks_names[] = {
	"shop", "telemetry", "social", "billing", "inventory", "analytics",
	"identity", "archive",
};

/* ------------------------------------------------------------------ */
/* Files.                                                             */
/* ------------------------------------------------------------------ */

/* Buffered writer with a sticky error: one check at close. */
struct wbuf {
	int fd;
	uint8_t *buf;
	size_t len;
	uint64_t total;
	int err;
};

static int write_full(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = write(fd, b, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int wbuf_open(struct wbuf *w, const char *path)
{
	memset(w, 0, sizeof(*w));
	w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		w->err = -errno;
		fprintf(stderr, "cannot create %s: %s\n", path, strerror(errno));
		return w->err;
	}
	w->buf = malloc(WBUF_CAP);
	if (!w->buf)
		w->err = -ENOMEM;
	return w->err;
}

static void wbuf_put(struct wbuf *w, const void *p, size_t n)
{
	w->total += n;
	if (w->err || !w->buf) /* failed, or a discarded stream */
		return;
	if (w->len + n > WBUF_CAP) {
		w->err = write_full(w->fd, w->buf, w->len);
		w->len = 0;
		if (w->err)
			return;
		if (n >= WBUF_CAP) {
			w->err = write_full(w->fd, p, n);
			return;
		}
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static int wbuf_close(struct wbuf *w)
{
	int err = w->err;

	if (!err && w->len)
		err = write_full(w->fd, w->buf, w->len);
	if (w->fd >= 0 && close(w->fd) < 0 && !err)
		err = -errno;
	w->fd = -1;
	free(w->buf);
	w->buf = NULL;
	return err;
}

static int write_file(const char *path, const void *p, size_t n)
{
	int fd, err;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "cannot create %s: %s\n", path, strerror(-err));
		return err;
	}
	err = write_full(fd, p, n);
	if (close(fd) < 0 && !err)
		err = -errno;
	if (err)
		fprintf(stderr, "cannot write %s: %s\n", path, strerror(-err));
	return err;
}

static int set_mtime(const char *path, long long sec)
{
	struct timespec ts[2] = { { (time_t)sec, 0 }, { (time_t)sec, 0 } };

	if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) < 0) {
		fprintf(stderr, "cannot set mtime of %s: %s\n", path,
			strerror(errno));
		return -errno;
	}
	return 0;
}

/*
 * snprintf for paths and names: truncation is reported, not silent.
 * Return: 0, or -ENAMETOOLONG when the result did not fit.
 */
static int pathf(char *buf, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int pathf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	int l;

	va_start(ap, fmt);
	l = vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return l < 0 || (size_t)l >= n ? -ENAMETOOLONG : 0;
}

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST) {
			int err = -errno;

			fprintf(stderr, "cannot create %s: %s\n", tmp,
				strerror(errno));
			return err;
		}
		if (i < n)
			tmp[i] = '/';
	}
	return 0;
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Growable byte buffer with a hard limit. */
struct dbuf {
	uint8_t *p;
	size_t len, cap;
};

#define DBUF_MAX ((size_t)1 << 31)

static int dbuf_reserve(struct dbuf *d, size_t n)
{
	size_t cap = d->cap ? d->cap : 4096;
	uint8_t *np;

	if (d->len + n <= d->cap)
		return 0;
	if (d->len + n > DBUF_MAX)
		return -E2BIG;
	while (cap < d->len + n)
		cap *= 2;
	np = realloc(d->p, cap);
	if (!np)
		return -ENOMEM;
	d->p = np;
	d->cap = cap;
	return 0;
}

static int dbuf_put(struct dbuf *d, const void *s, size_t n)
{
	int err = dbuf_reserve(d, n);

	if (err)
		return err;
	memcpy(d->p + d->len, s, n);
	d->len += n;
	return 0;
}

static void dbuf_free(struct dbuf *d)
{
	free(d->p);
	d->p = NULL;
	d->len = d->cap = 0;
}

/* ------------------------------------------------------------------ */
/* Plan: tables, SSTables to write (jobs).                            */
/* ------------------------------------------------------------------ */

enum comp {
	C_DATA,
	C_INDEX,
	C_SUMMARY,
	C_FILTER,
	C_STATS,
	C_COMPINFO,
	C_DIGEST,
	C_TOC,
	NCOMP
};

static const char *const comp_name[NCOMP] = {
	[C_DATA] = "Data.db",
	[C_INDEX] = "Index.db",
	[C_SUMMARY] = "Summary.db",
	[C_FILTER] = "Filter.db",
	[C_STATS] = "Statistics.db",
	[C_COMPINFO] = "CompressionInfo.db",
	[C_DIGEST] = "Digest.crc32",
	[C_TOC] = "TOC.txt",
};

/* The order in which Cassandra 4.0 lists components in TOC.txt. */
static const char toc_text[] = "CompressionInfo.db\nIndex.db\nTOC.txt\n"
			       "Filter.db\nSummary.db\nStatistics.db\n"
			       "Digest.crc32\nData.db\n";

struct table {
	char ks[32];
	char name[48];
	char dirname[96]; /* <name>-<32 hex id> */
	uint8_t id[16];
	uint64_t idhash;
	int kind;
	uint32_t chunk_len;
	char idx_name[80]; /* secondary index name, "" if none */
	uint64_t target;   /* day 1: bytes of live SSTables to write */
	uint32_t max_gen;  /* highest generation in use (tmp included) */
	uint64_t live_bytes;
};

struct sst_res {
	uint64_t bytes[NCOMP];
	uint64_t raw;
	uint64_t partitions, rows, chunks;
	unsigned files;
};

/*
 * One SSTable to write.  The planner fills the first block before the
 * workers start; a worker then owns the job it claimed and writes res/err.
 */
struct job {
	char dir[PATH_MAX];
	const struct table *t;
	int kind;
	uint32_t gen;
	uint64_t target;
	uint64_t seed;
	unsigned datadir;
	bool tmp;     /* leftover: tmp-nb-<gen>-big-Data.db only */
	bool flushed; /* newest flush: linked into backups/ */
	bool merged;  /* day 2 compaction output */
	struct sst_res res;
	int err;
};

struct ctx {
	const char *out;
	uint64_t size, seed;
	unsigned nks, ntab, jbod, nthreads;
	bool day2, incremental, clean, no_snapshot, verbose;
	const char *tag;
	char datadir[MAX_DIRS][PATH_MAX];
	unsigned ndirs;
	struct table *tables;
	unsigned ntables;
	struct job *jobs;
	size_t njobs, jobs_cap;
	atomic_size_t next_job;
	uint64_t global_seed;
};

static uint64_t client_ids[8]; /* timeuuid clock_seq+node of 8 clients */

/* ------------------------------------------------------------------ */
/* SSTable writer.                                                    */
/* ------------------------------------------------------------------ */

static uint64_t part_hist_off[PART_HIST_N], cell_hist_off[CELL_HIST_N];

/* EstimatedHistogram.newOffsets: 1, 2, ... growing by 1.2. */
static void hist_offsets(uint64_t *off, int n)
{
	uint64_t last = 1;

	off[0] = 1;
	for (int i = 1; i < n; i++) {
		uint64_t next = (uint64_t)((double)last * 1.2 + 0.5);

		if (next == last)
			next++;
		off[i] = next;
		last = next;
	}
}

static int hist_bucket(const uint64_t *off, int n, uint64_t v)
{
	int lo = 0, hi = n;

	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (off[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo; /* n means overflow bucket */
}

struct block {
	uint8_t first[CK_MAX], last[CK_MAX];
	uint8_t first_len, last_len;
	uint64_t offset, width;
};

struct sw {
	struct rng r;
	const struct job *job;
	int kind;
	uint32_t chunk_len;
	uint8_t *chunk;
	size_t fill;
	uint8_t *cbuf;
	struct wbuf data, index;
	uint64_t raw_pos;
	struct dbuf offsets;
	uint64_t nchunks;
	uint32_t digest;
	double ratio; /* compressed / raw so far */
	struct dbuf summ_off, summ_ent;
	uint8_t first_key[KEY_MAX], last_key[KEY_MAX];
	size_t first_len, last_len;
	uint64_t part_hist[PART_HIST_N + 1], cell_hist[CELL_HIST_N + 1];
	uint64_t min_ts, ts; /* microseconds */
	uint64_t partitions, rows, cells;
	uint64_t part_cap;   /* most raw bytes one partition may take */
	uint32_t key_seq;
	uint64_t key_next; /* ascending partition key ids, see next_id() */
	bool keys_done;
	/* the partition being written */
	uint8_t key[KEY_MAX];
	size_t klen;
	uint64_t part_start, prev_row, part_cells;
	struct block blocks[MAX_BLOCKS];
	unsigned nblocks;
	uint64_t blk_start;
	uint8_t ck_first[CK_MAX], ck_last[CK_MAX];
	size_t ck_first_len, ck_last_len;
	uint8_t min_ck[CK_MAX], max_ck[CK_MAX];
	size_t min_ck_len, max_ck_len;
	uint8_t row[ROW_MAX + 64], body[ROW_MAX];
	uint8_t ctmp[CK_MAX];
	int err;
};

static void sw_flush_chunk(struct sw *w)
{
	int bound = LZ4_compressBound((int)w->chunk_len), clen;
	uint8_t be[8];
	uint32_t crc;

	if (!w->fill)
		return;
	put_be64(be, w->data.total);
	if (dbuf_put(&w->offsets, be, 8) < 0) {
		w->err = -ENOMEM;
		return;
	}
	/* Cassandra's LZ4Compressor: 4-byte little-endian raw length first. */
	sv_put_le32(w->cbuf, (uint32_t)w->fill);
	clen = LZ4_compress_default((const char *)w->chunk,
				    (char *)w->cbuf + 4, (int)w->fill, bound);
	if (clen <= 0) {
		w->err = -EIO;
		return;
	}
	clen += 4;
	crc = (uint32_t)crc32(0, w->cbuf, (uInt)clen);
	put_be32(w->cbuf + clen, crc);
	wbuf_put(&w->data, w->cbuf, (size_t)clen + 4);
	/* The digest covers the whole file: chunk bytes, then their CRC. */
	w->digest = (uint32_t)crc32_combine(w->digest, crc, clen);
	w->digest = (uint32_t)crc32(w->digest, w->cbuf + clen, 4);
	w->nchunks++;
	w->ratio = (double)w->data.total / (double)(w->raw_pos ? w->raw_pos : 1);
	w->fill = 0;
}

static void sw_put(struct sw *w, const uint8_t *p, size_t n)
{
	w->raw_pos += n;
	while (n) {
		size_t k = SV_MIN(n, w->chunk_len - w->fill);

		memcpy(w->chunk + w->fill, p, k);
		w->fill += k;
		p += k;
		n -= k;
		if (w->fill == w->chunk_len)
			sw_flush_chunk(w);
	}
}

static void sw_byte(struct sw *w, uint8_t b)
{
	sw_put(w, &b, 1);
}

/* Time of the next row: strictly increasing, in microseconds. */
static uint64_t sw_tick(struct sw *w, uint32_t max_ms)
{
	w->ts += (uint64_t)rng_range(&w->r, 1, max_ms) * 1000 +
		 rng_below(&w->r, 1000);
	return w->ts;
}

static void part_begin(struct sw *w, const uint8_t *key, size_t klen)
{
	uint8_t hdr[KEY_MAX + 16], *p = hdr;

	memcpy(w->key, key, klen);
	w->klen = klen;
	w->part_start = w->raw_pos;
	w->prev_row = 0;
	w->part_cells = 0;
	w->nblocks = 0;
	w->blk_start = w->raw_pos;
	w->ck_first_len = 0;
	p = put_be16(p, (uint16_t)klen);
	p = put_mem(p, key, klen);
	/* Live partition: localDeletionTime MAX, markedForDeleteAt MIN. */
	p = put_be32(p, 0x7fffffff);
	p = put_be64(p, 0x8000000000000000ULL);
	sw_put(w, hdr, (size_t)(p - hdr));
}

static bool part_full(const struct sw *w)
{
	return w->raw_pos - w->part_start >= w->part_cap;
}

static void ck_minmax(struct sw *w, const uint8_t *ck, size_t n)
{
	if (!w->min_ck_len || memcmp(ck, w->min_ck, n) < 0) {
		memcpy(w->min_ck, ck, n);
		w->min_ck_len = n;
	}
	if (!w->max_ck_len || memcmp(ck, w->max_ck, n) > 0) {
		memcpy(w->max_ck, ck, n);
		w->max_ck_len = n;
	}
}

/*
 * One row: flags (HAS_TIMESTAMP | HAS_ALL_COLUMNS), clustering block header
 * and values, row size and previous row size as vints, then the body (the
 * row timestamp delta and the cells) that the caller built in w->body.
 */
static void emit_row(struct sw *w, const uint8_t *ck, size_t cklen,
		     size_t blen, unsigned ncells)
{
	uint8_t *p = w->row;
	uint64_t start = w->raw_pos, size;

	*p++ = 0x24;
	if (cklen) {
		*p++ = 0x00;
		p = put_mem(p, ck, cklen);
	}
	p = put_uvint(p, blen + (size_t)vint_size(w->prev_row));
	p = put_uvint(p, w->prev_row);
	sw_put(w, w->row, (size_t)(p - w->row));
	sw_put(w, w->body, blen);
	size = w->raw_pos - start;
	w->prev_row = size;
	w->rows++;
	w->cells += ncells;
	w->part_cells += ncells;
	if (!cklen)
		return;
	ck_minmax(w, ck, cklen);
	if (!w->ck_first_len) {
		memcpy(w->ck_first, ck, cklen);
		w->ck_first_len = cklen;
	}
	memcpy(w->ck_last, ck, cklen);
	w->ck_last_len = cklen;
	/* Close an index block every column_index_size bytes. */
	if (w->raw_pos - w->blk_start >= COL_INDEX_SIZE &&
	    w->nblocks < MAX_BLOCKS) {
		struct block *b = &w->blocks[w->nblocks++];

		memcpy(b->first, w->ck_first, w->ck_first_len);
		b->first_len = (uint8_t)w->ck_first_len;
		memcpy(b->last, w->ck_last, w->ck_last_len);
		b->last_len = (uint8_t)w->ck_last_len;
		b->offset = w->blk_start - w->part_start;
		b->width = w->raw_pos - w->blk_start;
		w->blk_start = w->raw_pos;
		w->ck_first_len = 0;
	}
}

/* A clustering prefix as IndexInfo serialises it: kind, size, values. */
static uint8_t *put_prefix(uint8_t *p, const uint8_t *ck, size_t n)
{
	*p++ = 4; /* ClusteringPrefix.Kind.CLUSTERING */
	p = put_be16(p, 1);
	*p++ = 0;
	return put_mem(p, ck, n);
}

static void part_end(struct sw *w)
{
	uint8_t hdr[KEY_MAX + 32], *p = hdr, le[8];
	uint64_t psize, ipos = w->index.total;
	struct dbuf pi = { 0 };

	sw_byte(w, 0x01); /* END_OF_PARTITION */
	psize = w->raw_pos - w->part_start;

	/* Wide partitions get a promoted index (IndexInfo per block). */
	if (w->nblocks) {
		uint8_t tmp[2 * CK_MAX + 64], *q;
		struct dbuf offs = { 0 };

		if (w->ck_first_len && w->nblocks < MAX_BLOCKS) {
			struct block *b = &w->blocks[w->nblocks++];

			memcpy(b->first, w->ck_first, w->ck_first_len);
			b->first_len = (uint8_t)w->ck_first_len;
			memcpy(b->last, w->ck_last, w->ck_last_len);
			b->last_len = (uint8_t)w->ck_last_len;
			b->offset = w->blk_start - w->part_start;
			b->width = w->raw_pos - w->blk_start;
		}
		q = tmp;
		q = put_uvint(q, 2 + w->klen + 12);
		q = put_be32(q, 0x7fffffff);
		q = put_be64(q, 0x8000000000000000ULL);
		q = put_uvint(q, w->nblocks);
		if (dbuf_put(&pi, tmp, (size_t)(q - tmp)) < 0)
			w->err = -ENOMEM;
		for (unsigned i = 0; i < w->nblocks && !w->err; i++) {
			const struct block *b = &w->blocks[i];
			uint8_t ob[4];

			put_be32(ob, (uint32_t)pi.len);
			q = tmp;
			q = put_prefix(q, b->first, b->first_len);
			q = put_prefix(q, b->last, b->last_len);
			q = put_uvint(q, b->offset);
			q = put_svint(q, (int64_t)b->width - 65536);
			*q++ = 0;
			if (dbuf_put(&pi, tmp, (size_t)(q - tmp)) < 0 ||
			    dbuf_put(&offs, ob, 4) < 0)
				w->err = -ENOMEM;
		}
		if (dbuf_put(&pi, offs.p, offs.len) < 0)
			w->err = -ENOMEM;
		dbuf_free(&offs);
	}
	p = put_be16(p, (uint16_t)w->klen);
	p = put_mem(p, w->key, w->klen);
	p = put_uvint(p, w->part_start);
	p = put_uvint(p, pi.len);
	wbuf_put(&w->index, hdr, (size_t)(p - hdr));
	if (pi.len)
		wbuf_put(&w->index, pi.p, pi.len);
	dbuf_free(&pi);

	/* Summary: every INDEX_INTERVAL-th key with its Index.db position. */
	if (w->partitions % INDEX_INTERVAL == 0) {
		uint8_t ob[4];

		sv_put_le32(ob, (uint32_t)w->summ_ent.len);
		sv_put_le64(le, ipos);
		if (dbuf_put(&w->summ_off, ob, 4) < 0 ||
		    dbuf_put(&w->summ_ent, w->key, w->klen) < 0 ||
		    dbuf_put(&w->summ_ent, le, 8) < 0)
			w->err = -ENOMEM;
	}
	if (!w->partitions) {
		memcpy(w->first_key, w->key, w->klen);
		w->first_len = w->klen;
	}
	memcpy(w->last_key, w->key, w->klen);
	w->last_len = w->klen;
	w->partitions++;
	w->part_hist[hist_bucket(part_hist_off, PART_HIST_N, psize)]++;
	w->cell_hist[hist_bucket(cell_hist_off, CELL_HIST_N, w->part_cells)]++;
}

/* Cells: flags USE_ROW_TIMESTAMP | USE_ROW_TTL, then the value. */
static inline uint8_t *cell_fixed(uint8_t *p, const void *v, size_t n)
{
	*p++ = 0x18;
	return put_mem(p, v, n);
}

static inline uint8_t *cell_be32(uint8_t *p, uint32_t v)
{
	*p++ = 0x18;
	return put_be32(p, v);
}

static inline uint8_t *cell_be64(uint8_t *p, uint64_t v)
{
	*p++ = 0x18;
	return put_be64(p, v);
}

static inline uint8_t *cell_var(uint8_t *p, const void *v, size_t n)
{
	if (!n) {
		*p++ = 0x1c; /* HAS_EMPTY_VALUE */
		return p;
	}
	*p++ = 0x18;
	p = put_uvint(p, n);
	return put_mem(p, v, n);
}

static inline uint8_t *cell_str(uint8_t *p, const char *s)
{
	return cell_var(p, s, strlen(s));
}

static uint8_t *cell_text(struct sw *w, uint8_t *p, uint32_t lo, uint32_t hi)
{
	uint32_t n = rng_range(&w->r, lo, hi);

	return cell_var(p, corpus_slice(&w->r, n), n);
}

/* A cell written later than its row carries its own timestamp delta. */
static uint8_t *cell_text_ts(struct sw *w, uint8_t *p, uint32_t lo,
			     uint32_t hi)
{
	uint32_t n = rng_range(&w->r, lo, hi);

	if (rng_below(&w->r, 16))
		return cell_var(p, corpus_slice(&w->r, n), n);
	*p++ = 0x10;
	p = put_uvint(p, w->ts - w->min_ts + rng_below(&w->r, 1u << 30));
	p = put_uvint(p, n);
	return put_mem(p, corpus_slice(&w->r, n), n);
}

/* A version-1 UUID for time us (microseconds) from one of 8 clients. */
static uint8_t *put_timeuuid(uint8_t *p, uint64_t us, unsigned client)
{
	uint64_t t = us * 10 + 0x01B21DD213814000ULL, c = client_ids[client];

	p = put_be32(p, (uint32_t)t);
	p = put_be16(p, (uint16_t)(t >> 32));
	p = put_be16(p, (uint16_t)(((t >> 48) & 0x0fff) | 0x1000));
	p = put_be16(p, (uint16_t)(((c >> 48) & 0x3fff) | 0x8000));
	for (int i = 5; i >= 0; i--)
		*p++ = (uint8_t)(c >> (8 * i));
	return p;
}

/*
 * Partition key ids ascend within an SSTable with small random gaps, as
 * ids handed out in order (sign-ups, orders) would under an ordered
 * partitioner.  Murmur3 would order the partitions by token instead, but
 * the bytes are what the backup compresses: sorted keys make Index.db as
 * compressible as real indexes with their shared key prefixes.
 */
static uint64_t next_id(struct sw *w)
{
	w->key_next += 1 + rng_below(&w->r, 16);
	return w->key_next;
}

static uint8_t *put_user_id(struct sw *w, uint8_t *p)
{
	p = put_str(p, "u-");
	return put_dec(p, rng_next(&w->r) % 10000000000ULL, 10);
}

/* Composite partition key component: length, bytes, end-of-component. */
static uint8_t *comp_put(uint8_t *p, const void *s, size_t n)
{
	p = put_be16(p, (uint16_t)n);
	p = put_mem(p, s, n);
	*p++ = 0;
	return p;
}

static uint8_t *row_ts(struct sw *w, uint8_t *p, uint32_t max_ms)
{
	return put_uvint(p, sw_tick(w, max_ms) - w->min_ts);
}

static void part_users(struct sw *w)
{
	struct rng *r = &w->r;
	uint8_t key[48], *k = key, *p = w->body, tmp[128], *t, id[16], *q;
	uint64_t uid = next_id(w);
	const char *fn = first_names[rng_below(r, SV_ARRAY_SIZE(first_names))];
	const char *ln = last_names[rng_below(r, SV_ARRAY_SIZE(last_names))];
	uint64_t created;

	/* Multi-tenant: PRIMARY KEY ((tenant_id, user_id)). */
	q = put_str(id, "tenant-");
	q = put_dec(q, uid / 100000 % 10000, 4);
	k = comp_put(k, id, (size_t)(q - id));
	q = put_str(id, "u-");
	q = put_dec(q, uid, 10);
	k = comp_put(k, id, (size_t)(q - id));
	part_begin(w, key, (size_t)(k - key));
	p = row_ts(w, p, 40);
	created = w->ts / 1000 - (uint64_t)rng_below(r, 1u << 30) * 64;
	p = cell_be32(p, rng_range(r, 16, 90));
	rng_fill(r, tmp, 16);
	p = cell_fixed(p, tmp, 16);
	if (rng_below(r, 3))
		p = cell_text_ts(w, p, 20, 420);
	else
		p = cell_var(p, NULL, 0);
	p = cell_str(p, cities[rng_skew(r, SV_ARRAY_SIZE(cities))]);
	p = cell_str(p, countries[rng_skew(r, SV_ARRAY_SIZE(countries))]);
	p = cell_be64(p, created);
	t = tmp;
	t = put_str(t, fn);
	*t++ = '.';
	t = put_str(t, ln);
	if (rng_below(r, 2))
		t = put_dec(t, rng_below(r, 1000), 1);
	*t++ = '@';
	t = put_str(t, domains[rng_skew(r, SV_ARRAY_SIZE(domains))]);
	p = cell_var(p, tmp, (size_t)(t - tmp));
	p = cell_be64(p, w->ts / 1000 - rng_below(r, 1u << 28));
	t = tmp;
	t = put_str(t, fn);
	tmp[0] = (uint8_t)(tmp[0] - 32);
	*t++ = ' ';
	*t = (uint8_t)(ln[0] - 32);
	t = put_str(t + 1, ln + 1);
	p = cell_var(p, tmp, (size_t)(t - tmp));
	t = tmp;
	t = put_str(t, "{\"lang\":\"");
	t = put_str(t, rng_below(r, 3) ? "en" : "de");
	t = put_str(t, "\",\"theme\":\"");
	t = put_str(t, rng_below(r, 2) ? "dark" : "light");
	t = put_str(t, "\",\"newsletter\":");
	t = put_str(t, rng_below(r, 4) ? "false" : "true");
	t = put_str(t, ",\"visits\":");
	t = put_dec(t, rng_below(r, 5000), 1);
	*t++ = '}';
	p = cell_var(p, tmp, (size_t)(t - tmp));
	emit_row(w, NULL, 0, (size_t)(p - w->body), 10);
	part_end(w);
}

static uint8_t *put_decimal(uint8_t *p, uint32_t cents)
{
	uint8_t v[8], *q = v;

	q = put_be32(q, 2); /* scale */
	if (cents < 0x80)
		*q++ = (uint8_t)cents;
	else if (cents < 0x8000)
		q = put_be16(q, (uint16_t)cents);
	else
		q = put_be32(q, cents);
	return cell_var(p, v, (size_t)(q - v));
}

static void part_orders(struct sw *w)
{
	struct rng *r = &w->r;
	uint8_t key[32], *k = key, tmp[512], *t;
	uint32_t n = 1 + rng_skew(r, 24), client = rng_below(r, 8);
	const char *cur = rng_below(r, 4) ? "EUR" : "USD";
	const char *city = cities[rng_skew(r, SV_ARRAY_SIZE(cities))];
	uint8_t street[64], *s = street, zip[8], *z = zip;

	k = put_str(k, "c-");
	k = put_dec(k, next_id(w), 9);
	part_begin(w, key, (size_t)(k - key));
	s = put_dec(s, rng_range(r, 1, 400), 1);
	*s++ = ' ';
	s = put_str(s, cities[rng_below(r, SV_ARRAY_SIZE(cities))]);
	*s++ = ' ';
	s = put_str(s, street_kinds[rng_below(r, SV_ARRAY_SIZE(street_kinds))]);
	z = put_dec(z, rng_below(r, 100000), 5);
	for (uint32_t i = 0; i < n && !part_full(w); i++) {
		uint8_t *p = w->body, ck[16];
		uint32_t items = 1 + rng_skew(r, 5), sum = 0;

		p = row_ts(w, p, 4000);
		/* Clustering is DESC: newest order first. */
		put_timeuuid(ck, w->min_ts + (w->ts - w->min_ts) / 2 +
				    (uint64_t)(n - i) * 7200000000ULL,
			     client);
		p = cell_str(p, cur);
		t = tmp;
		*t++ = '[';
		for (uint32_t j = 0; j < items; j++) {
			uint32_t price = rng_range(r, 199, 19999);
			uint32_t qty = 1 + rng_skew(r, 5);

			sum += price * qty;
			t = put_str(t, j ? ",{\"sku\":\"SKU-" : "{\"sku\":\"SKU-");
			t = put_dec(t, rng_below(r, 100000), 5);
			t = put_str(t, "\",\"qty\":");
			t = put_dec(t, qty, 1);
			t = put_str(t, ",\"price\":");
			t = put_dec(t, price / 100, 1);
			*t++ = '.';
			t = put_dec(t, price % 100, 2);
			*t++ = '}';
		}
		*t++ = ']';
		p = cell_var(p, tmp, (size_t)(t - tmp));
		if (rng_below(r, 3) == 0)
			p = cell_text(w, p, 10, 120);
		else
			p = cell_var(p, NULL, 0);
		/* frozen<address>: each field as int length + bytes. */
		t = tmp;
		t = put_be32(t, (uint32_t)(s - street));
		t = put_mem(t, street, (size_t)(s - street));
		t = put_be32(t, (uint32_t)strlen(city));
		t = put_str(t, city);
		t = put_be32(t, 5);
		t = put_mem(t, zip, 5);
		p = cell_var(p, tmp, (size_t)(t - tmp));
		p = cell_str(p, statuses[rng_skew(r, SV_ARRAY_SIZE(statuses))]);
		p = put_decimal(p, sum);
		emit_row(w, ck, 16, (size_t)(p - w->body), 6);
	}
	part_end(w);
}

static void part_events(struct sw *w)
{
	struct rng *r = &w->r;
	uint8_t key[64], *k = key, dev[16], *d = dev, day[10], *y = day;
	uint32_t n = rng_range(r, 20, 600), sev_base = rng_below(r, 3);
	uint64_t ts = w->ts / 1000 + 86400000ULL;
	uint8_t net = (uint8_t)rng_below(r, 256);

	uint64_t id = next_id(w);

	d = put_str(d, "dev-");
	for (int i = 7; i >= 0; i--)
		*d++ = (uint8_t)"0123456789abcdef"[(id >> (4 * i)) & 15];
	y = put_str(y, "2023-");
	y = put_dec(y, rng_range(r, 9, 11), 2);
	*y++ = '-';
	y = put_dec(y, rng_range(r, 1, 30), 2);
	k = comp_put(k, dev, (size_t)(d - dev));
	k = comp_put(k, day, (size_t)(y - day));
	part_begin(w, key, (size_t)(k - key));
	for (uint32_t i = 0; i < n && !part_full(w); i++) {
		uint8_t *p = w->body, ck[8], ip[4], hash[16];
		uint32_t plen = rng_below(r, 3) ? 0 : 16;

		p = row_ts(w, p, 200);
		ts -= rng_range(r, 50, 90000); /* DESC clustering */
		put_be64(ck, ts);
		p = cell_str(p, event_types[rng_skew(r,
						     SV_ARRAY_SIZE(event_types))]);
		{
			uint32_t m = rng_skew(r, SV_ARRAY_SIZE(event_msgs));
			uint8_t msg[96], *q = msg;

			q = put_str(q, event_msgs[m][0]);
			q = put_dec(q, rng_below(r, 1u << (4 + 2 * (m % 6))), 1);
			q = put_str(q, event_msgs[m][1]);
			p = cell_var(p, msg, (size_t)(q - msg));
		}
		rng_fill(r, hash, plen);
		p = cell_var(p, hash, plen);
		p = cell_be32(p, sev_base + rng_skew(r, 4));
		ip[0] = 10;
		ip[1] = net;
		ip[2] = (uint8_t)rng_below(r, 4);
		ip[3] = (uint8_t)rng_below(r, 256);
		p = cell_fixed(p, ip, 4);
		emit_row(w, ck, 8, (size_t)(p - w->body), 5);
	}
	part_end(w);
}

static void part_readings(struct sw *w)
{
	struct rng *r = &w->r;
	uint8_t key[64], *k = key, sid[40], *s = sid, b[4];
	uint32_t n = rng_range(r, 60, 1500), m;
	uint64_t ts = w->ts / 1000 - 3600000ULL;
	double v;

	uint64_t id = next_id(w);

	m = rng_below(r, SV_ARRAY_SIZE(metrics));
	s = put_str(s, "sensor-");
	s = put_str(s, regions[(id / 100000) % SV_ARRAY_SIZE(regions)]);
	*s++ = '-';
	s = put_dec(s, id % 100000, 5);
	put_be32(b, (uint32_t)(ts / 3600000ULL));
	k = comp_put(k, sid, (size_t)(s - sid));
	k = comp_put(k, b, 4);
	part_begin(w, key, (size_t)(k - key));
	v = 10.0 + rng_below(r, 900) / 10.0;
	for (uint32_t i = 0; i < n && !part_full(w); i++) {
		uint8_t *p = w->body, ck[8];
		uint64_t bits;
		double rv;

		p = row_ts(w, p, 20);
		ts += 1000 + rng_below(r, 200);
		put_be64(ck, ts);
		p = cell_str(p, metrics[m][0]);
		p = cell_be32(p, rng_below(r, 10) ? 100 : rng_below(r, 100));
		p = cell_str(p, metrics[m][1]);
		v += (rng_unit(r) - 0.5) * 0.8;
		rv = (double)(int64_t)(v * 100.0) / 100.0;
		memcpy(&bits, &rv, 8);
		p = cell_be64(p, bits);
		emit_row(w, ck, 8, (size_t)(p - w->body), 4);
	}
	part_end(w);
}

static const char *const paths[] = {
	"/", "/products/", "/cart", "/checkout", "/account", "/search?q=",
	"/orders/", "/help", "/products/", "/products/",
};

/* A web session: one row per page view, session fields repeated. */
static void part_sessions(struct sw *w)
{
	struct rng *r = &w->r;
	uint8_t key[16], data[160], *t = data, ua[200], *u = ua, uid[16];
	uint8_t ip[4], token[32];
	uint32_t n = 1 + rng_skew(r, 12);
	uint64_t start, expires;

	/* Time-based session ids, issued in order by a few app servers. */
	put_timeuuid(key, w->min_ts + next_id(w) * 1000, rng_below(r, 3));
	part_begin(w, key, 16);
	start = w->ts / 1000 - rng_below(r, 3600000);
	expires = start + 86400000ULL * rng_range(r, 1, 30);
	t = put_str(t, "{\"cart\":");
	t = put_dec(t, rng_skew(r, 12), 1);
	t = put_str(t, ",\"locale\":\"");
	t = put_str(t, rng_below(r, 3) ? "en_US" : "de_DE");
	t = put_str(t, "\",\"ab\":\"variant_");
	*t++ = (uint8_t)('a' + rng_below(r, 3));
	t = put_str(t, "\",\"csrf\":\"");
	for (int i = 0; i < 16; i++)
		*t++ = (uint8_t)"0123456789abcdef"[rng_below(r, 16)];
	t = put_str(t, "\"}");
	ip[0] = 192;
	ip[1] = 168;
	ip[2] = (uint8_t)rng_below(r, 256);
	ip[3] = (uint8_t)rng_below(r, 256);
	rng_fill(r, token, 32);
	u = put_str(u, user_agents[rng_skew(r, SV_ARRAY_SIZE(user_agents))]);
	u = put_dec(u, rng_range(r, 90, 120), 1);
	*u++ = '.';
	u = put_dec(u, rng_below(r, 10), 1);
	*u++ = '.';
	u = put_dec(u, rng_below(r, 6000), 1);
	put_user_id(w, uid);
	for (uint32_t i = 0; i < n && !part_full(w); i++) {
		uint8_t *p = w->body, ck[4], path[48], *q = path;
		const char *pp = paths[rng_below(r, SV_ARRAY_SIZE(paths))];

		p = row_ts(w, p, 30);
		put_be32(ck, i);
		p = cell_var(p, data, (size_t)(t - data));
		p = cell_be32(p, rng_range(r, 20, 3000));
		p = cell_be64(p, expires);
		p = cell_fixed(p, ip, 4);
		q = put_str(q, pp);
		if (pp[strlen(pp) - 1] == '/' && pp[1])
			q = put_dec(q, rng_below(r, 100000), 1);
		else if (pp[strlen(pp) - 1] == '=')
			q = put_str(q, words[rng_below(r, SV_ARRAY_SIZE(words))]);
		p = cell_var(p, path, (size_t)(q - path));
		p = cell_be64(p, start);
		p = cell_fixed(p, token, 32);
		p = cell_var(p, ua, (size_t)(u - ua));
		p = cell_var(p, uid, 12);
		emit_row(w, ck, 4, (size_t)(p - w->body), 9);
	}
	part_end(w);
}

static void part_messages(struct sw *w)
{
	struct rng *r = &w->r;
	uint8_t key[32], *k = key, senders[5][16];
	uint32_t n = rng_range(r, 3, 40) * (1 + rng_skew(r, 8));
	uint32_t ns = rng_range(r, 2, 5), client = rng_below(r, 8);
	uint64_t ts = w->ts + 86400000000ULL;

	k = put_str(k, "conv-");
	k = put_dec(k, next_id(w), 8);
	part_begin(w, key, (size_t)(k - key));
	for (uint32_t i = 0; i < ns; i++)
		put_user_id(w, senders[i]);
	for (uint32_t i = 0; i < n && !part_full(w); i++) {
		uint8_t *p = w->body, ck[16];

		p = row_ts(w, p, 100);
		ts -= rng_range(r, 1000, 600000) * 1000ULL;
		put_timeuuid(ck, ts, client);
		p = cell_be32(p, rng_below(r, 8) ? 0 : rng_range(r, 1, 4));
		p = cell_text(w, p, 4, rng_below(r, 6) ? 160 : 900);
		p = cell_fixed(p, rng_below(r, 10) ? "\0" : "\1", 1);
		p = cell_str(p, reactions[rng_below(r,
						    SV_ARRAY_SIZE(reactions))]);
		p = cell_var(p, senders[rng_below(r, ns)], 12);
		emit_row(w, ck, 16, (size_t)(p - w->body), 5);
	}
	part_end(w);
}

/*
 * Index table of a secondary index: one partition per indexed value, one
 * row per base row, clustered by the base primary key, no cells.
 */
static void part_index(struct sw *w)
{
	struct rng *r = &w->r;
	const char *const *vals = statuses;
	uint32_t nvals = SV_ARRAY_SIZE(statuses), idx;
	const char *v;

	if (w->job->t->kind == K_USERS) {
		vals = countries;
		nvals = SV_ARRAY_SIZE(countries);
	}
	if (w->key_seq >= nvals) {
		w->keys_done = true;
		return;
	}
	/* Token order: a fixed permutation of the values. */
	idx = (w->key_seq * 7 + 3) % nvals;
	if (nvals % 7 == 0)
		idx = w->key_seq;
	v = vals[idx];
	w->key_seq++;
	part_begin(w, (const uint8_t *)v, strlen(v));
	while (!part_full(w)) {
		uint8_t *p = w->body, ck[32], *c = ck;

		p = row_ts(w, p, 10);
		c = put_uvint(c, 11);
		c = put_str(c, "c-");
		c = put_dec(c, rng_below(r, 1000000000), 9);
		emit_row(w, ck, (size_t)(c - ck), (size_t)(p - w->body), 0);
	}
	part_end(w);
}

static void gen_partition(struct sw *w)
{
	switch ((enum kind)w->kind) {
	case K_USERS:
		part_users(w);
		break;
	case K_ORDERS:
		part_orders(w);
		break;
	case K_EVENTS:
		part_events(w);
		break;
	case K_READINGS:
		part_readings(w);
		break;
	case K_SESSIONS:
		part_sessions(w);
		break;
	case K_MESSAGES:
		part_messages(w);
		break;
	case K_INDEX:
		part_index(w);
		break;
	}
}

static size_t hll_len(uint64_t partitions)
{
	return partitions < 4000 ? 8 + (size_t)partitions * 5 / 4 : 5472;
}

/* Bytes of the small components, predicted while Data.db grows. */
static uint64_t sw_overhead(const struct sw *w, uint64_t data, uint32_t fbp)
{
	return data * fbp / 10000 + 5600 + hll_len(w->partitions) +
	       w->summ_ent.len + w->summ_off.len + 8 * w->nchunks + 200;
}

static const char *marshal_of(const struct col *c, char *buf, size_t n)
{
	if (c->role == 'c' && c->desc) {
		pathf(buf, n, M("ReversedType(%s)"), c->marshal);
		return buf;
	}
	return c->marshal;
}

/*
 * Statistics.db as 4.0 writes it: a table of contents (count, CRC, pairs
 * of type and offset, CRC), then the validation, compaction, stats and
 * serialization header components, each followed by its CRC32.
 */
static int build_stats(struct sw *w, uint8_t **out, size_t *outlen)
{
	size_t cap = 32768 + hll_len(w->partitions), off[4];
	uint8_t *b = malloc(cap), *p, *start;
	const struct kind_desc *kd = NULL;
	uint32_t crc;
	char tbuf[512];
	int npk = 0, nck = 0, nreg = 0;

	if (!b)
		return -ENOMEM;
	if (w->kind != K_INDEX)
		kd = &kinds[w->kind];
	p = b + 4 + 4 + 32 + 4;

	/* Validation: partitioner and bloom filter false-positive chance. */
	off[0] = (size_t)(p - b);
	start = p;
	p = put_utf(p, w->kind == K_INDEX ?
			       "org.apache.cassandra.dht.LocalPartitioner" :
			       "org.apache.cassandra.dht.Murmur3Partitioner");
	p = put_be64(p, 0x3f847ae147ae147bULL); /* 0.01 */
	p = put_be32(p, (uint32_t)crc32(0, start, (uInt)(p - start)));

	/* Compaction: the HyperLogLog++ cardinality estimator. */
	off[1] = (size_t)(p - b);
	start = p;
	{
		size_t n = hll_len(w->partitions);

		p = put_be32(p, (uint32_t)n);
		p = put_be32(p, 0xfffffffe);
		*p++ = 13;
		*p++ = 25;
		for (size_t i = 6; i < n; i++)
			*p++ = (uint8_t)(rng_below(&w->r, 24) + 1);
	}
	p = put_be32(p, (uint32_t)crc32(0, start, (uInt)(p - start)));

	/* Stats: histograms, timestamps, commit log interval, clustering. */
	off[2] = (size_t)(p - b);
	start = p;
	p = put_be32(p, PART_HIST_N + 1);
	for (int i = 0; i <= PART_HIST_N; i++) {
		p = put_be64(p, part_hist_off[i ? i - 1 : 0]);
		p = put_be64(p, w->part_hist[i]);
	}
	p = put_be32(p, CELL_HIST_N + 1);
	for (int i = 0; i <= CELL_HIST_N; i++) {
		p = put_be64(p, cell_hist_off[i ? i - 1 : 0]);
		p = put_be64(p, w->cell_hist[i]);
	}
	p = put_be32(p, 1); /* commit log intervals */
	p = put_be64(p, 1699990000000ULL + w->job->gen);
	p = put_be32(p, 2048 + rng_below(&w->r, 1 << 20));
	p = put_be64(p, 1699990000000ULL + w->job->gen);
	p = put_be32(p, 33554432 - rng_below(&w->r, 1 << 20));
	p = put_be64(p, w->min_ts);
	p = put_be64(p, w->ts);
	p = put_be32(p, 0x7fffffff);
	p = put_be32(p, 0x7fffffff);
	p = put_be32(p, 0);
	p = put_be32(p, 0);
	{
		double ratio = w->ratio;
		uint64_t bits;

		memcpy(&bits, &ratio, 8);
		p = put_be64(p, bits);
	}
	p = put_be32(p, 100); /* tombstone drop time histogram: empty */
	p = put_be32(p, 0);
	p = put_be32(p, 0); /* sstable level */
	p = put_be64(p, 0); /* repairedAt */
	p = put_be32(p, w->min_ck_len ? 1 : 0);
	if (w->min_ck_len) {
		p = put_be16(p, (uint16_t)w->min_ck_len);
		p = put_mem(p, w->min_ck, w->min_ck_len);
	}
	p = put_be32(p, w->max_ck_len ? 1 : 0);
	if (w->max_ck_len) {
		p = put_be16(p, (uint16_t)w->max_ck_len);
		p = put_mem(p, w->max_ck, w->max_ck_len);
	}
	*p++ = 0; /* hasLegacyCounterShards */
	p = put_be64(p, w->cells);
	p = put_be64(p, w->rows);
	*p++ = 1; /* originating host id present */
	p = put_be64(p, 0x6f1e4c2a9b3d4e5fULL ^ w->job->t->idhash);
	p = put_be64(p, 0x8a7b6c5d4e3f2a1bULL);
	*p++ = 0; /* pendingRepair */
	*p++ = 0; /* isTransient */
	p = put_be32(p, (uint32_t)crc32(0, start, (uInt)(p - start)));

	/* Serialization header: encoding stats, key and column types. */
	off[3] = (size_t)(p - b);
	start = p;
	p = put_uvint(p, w->min_ts - 1442880000000000ULL);
	p = put_uvint(p, 0);
	p = put_uvint(p, 0);
	if (kd) {
		for (int i = 0; i < kd->ncols; i++) {
			npk += kd->cols[i].role == 'p';
			nck += kd->cols[i].role == 'c';
			nreg += kd->cols[i].role == 'r';
		}
	}
	if (!kd) {
		p = put_vstr(p, M("UTF8Type"));
		p = put_uvint(p, 1);
		p = put_vstr(p, M("UTF8Type"));
		p = put_uvint(p, 0);
		p = put_uvint(p, 0);
	} else {
		if (npk == 1) {
			p = put_vstr(p, kd->cols[0].marshal);
		} else {
			size_t l = (size_t)snprintf(tbuf, sizeof(tbuf),
						    M("CompositeType("));
			for (int i = 0; i < npk; i++)
				l += (size_t)snprintf(tbuf + l,
						      sizeof(tbuf) - l, "%s%s",
						      i ? "," : "",
						      kd->cols[i].marshal);
			pathf(tbuf + l, sizeof(tbuf) - l, ")");
			p = put_vstr(p, tbuf);
		}
		p = put_uvint(p, (uint64_t)nck);
		for (int i = 0; i < kd->ncols; i++)
			if (kd->cols[i].role == 'c')
				p = put_vstr(p, marshal_of(&kd->cols[i], tbuf,
							   sizeof(tbuf)));
		p = put_uvint(p, 0); /* static columns */
		p = put_uvint(p, (uint64_t)nreg);
		for (int i = 0; i < kd->ncols; i++) {
			if (kd->cols[i].role != 'r')
				continue;
			p = put_vstr(p, kd->cols[i].name);
			p = put_vstr(p, kd->cols[i].marshal);
		}
	}
	p = put_be32(p, (uint32_t)crc32(0, start, (uInt)(p - start)));

	/* Table of contents, with its two checksums. */
	{
		uint8_t *q = b;

		q = put_be32(q, 4);
		crc = (uint32_t)crc32(0, b, 4);
		q = put_be32(q, crc);
		for (int i = 0; i < 4; i++) {
			q = put_be32(q, (uint32_t)i);
			q = put_be32(q, (uint32_t)off[i]);
		}
		crc = (uint32_t)crc32(0, b, 4);
		crc = (uint32_t)crc32(crc, b + 8, 32);
		put_be32(q, crc);
	}
	*out = b;
	*outlen = (size_t)(p - b);
	return 0;
}

static int sw_small_file(const char *prefix, enum comp c, const void *p,
			 size_t n, struct sst_res *res)
{
	char path[PATH_MAX];
	int err;

	if ((size_t)snprintf(path, sizeof(path), "%s%s", prefix,
			     comp_name[c]) >= sizeof(path))
		return -ENAMETOOLONG;
	err = write_file(path, p, n);
	if (err)
		return err;
	res->bytes[c] += n;
	res->files++;
	return 0;
}

/* Write the components other than Data.db and Index.db. */
static int sw_finish(struct sw *w, const char *prefix, struct sst_res *res)
{
	uint8_t *buf = NULL, *p;
	size_t n, fbytes;
	int err;
	uint32_t fbp = 100 + (uint32_t)(w->job->seed % 101);

	/* Filter.db: hash count, word count, a half-set bit field. */
	fbytes = (size_t)(w->data.total * fbp / 10000 + 7) & ~(size_t)7;
	if (fbytes < 16)
		fbytes = 16;
	buf = malloc(fbytes + 8);
	if (!buf)
		return -ENOMEM;
	p = put_be32(buf, 7);
	p = put_be32(p, (uint32_t)(fbytes / 8));
	rng_fill(&w->r, p, fbytes);
	err = sw_small_file(prefix, C_FILTER, buf, fbytes + 8, res);
	free(buf);
	buf = NULL;
	if (err)
		return err;

	/* Summary.db: header, offsets (LE), entries, first and last key. */
	{
		uint32_t cnt = (uint32_t)(w->summ_off.len / 4);

		n = 28 + w->summ_off.len + w->summ_ent.len + 8 + w->first_len +
		    w->last_len;
		buf = malloc(n);
		if (!buf)
			return -ENOMEM;
		p = put_be32(buf, INDEX_INTERVAL);
		p = put_be32(p, cnt);
		p = put_be64(p, w->summ_off.len + w->summ_ent.len);
		p = put_be32(p, INDEX_INTERVAL); /* sampling level */
		p = put_be32(p, cnt);
		for (uint32_t i = 0; i < cnt; i++) {
			uint32_t o = sv_get_le32(w->summ_off.p + 4 * i);

			sv_put_le32(p, o + 4 * cnt);
			p += 4;
		}
		p = put_mem(p, w->summ_ent.p, w->summ_ent.len);
		p = put_be32(p, (uint32_t)w->first_len);
		p = put_mem(p, w->first_key, w->first_len);
		p = put_be32(p, (uint32_t)w->last_len);
		p = put_mem(p, w->last_key, w->last_len);
		err = sw_small_file(prefix, C_SUMMARY, buf, (size_t)(p - buf),
				    res);
		free(buf);
		buf = NULL;
		if (err)
			return err;
	}

	err = build_stats(w, &buf, &n);
	if (err)
		return err;
	err = sw_small_file(prefix, C_STATS, buf, n, res);
	free(buf);
	buf = NULL;
	if (err)
		return err;

	/*
	 * CompressionInfo.db (4.0 "na"+): compressor class, option count,
	 * chunk length, max compressed length, data length, chunk count,
	 * chunk offsets.
	 */
	n = 64 + w->offsets.len;
	buf = malloc(n);
	if (!buf)
		return -ENOMEM;
	p = put_utf(buf, "LZ4Compressor");
	p = put_be32(p, 0);
	p = put_be32(p, w->chunk_len);
	p = put_be32(p, 0x7fffffff);
	p = put_be64(p, w->raw_pos);
	p = put_be32(p, (uint32_t)w->nchunks);
	p = put_mem(p, w->offsets.p, w->offsets.len);
	err = sw_small_file(prefix, C_COMPINFO, buf, (size_t)(p - buf), res);
	free(buf);
	if (err)
		return err;

	{
		char d[16];
		int l = snprintf(d, sizeof(d), "%" PRIu32, w->digest);

		err = sw_small_file(prefix, C_DIGEST, d, (size_t)l, res);
		if (err)
			return err;
	}
	return sw_small_file(prefix, C_TOC, toc_text, strlen(toc_text), res);
}

static int sstable_mtimes(const char *prefix, long long mt)
{
	char path[PATH_MAX];
	int err;

	for (int c = 0; c < NCOMP; c++) {
		pathf(path, sizeof(path), "%s%s", prefix, comp_name[c]);
		err = set_mtime(path, mt);
		if (err)
			return err;
	}
	return 0;
}

static long long gen_mtime(uint32_t gen)
{
	return BASE_EPOCH + (long long)gen * 60;
}

/*
 * Write one SSTable (or a tmp leftover) for job j.  Partitions are added
 * until the predicted size of all components reaches the target; the
 * prediction takes half of the average partition into account so that
 * the overshoot of the last partition averages out.
 */
static int sstable_write(struct job *j)
{
	struct sw *w = calloc(1, sizeof(*w));
	char prefix[PATH_MAX] = "", path[PATH_MAX];
	uint32_t fbp = 100 + (uint32_t)(j->seed % 101);
	int err = 0, n;

	if (!w)
		return -ENOMEM;
	w->data.fd = w->index.fd = -1;
	rng_init(&w->r, j->seed);
	w->job = j;
	w->kind = j->kind;
	w->chunk_len = j->t->chunk_len;
	w->chunk = malloc(w->chunk_len);
	w->cbuf = malloc((size_t)LZ4_compressBound((int)w->chunk_len) + 16);
	if (!w->chunk || !w->cbuf) {
		err = -ENOMEM;
		goto out;
	}
	w->ratio = 0.42;
	w->min_ts = (uint64_t)(BASE_EPOCH - 40 * 86400 + (long long)j->gen * 1800) *
		    1000000ULL;
	w->ts = w->min_ts;
	w->key_next = (uint64_t)rng_below(&w->r, 1u << 20) * 1000;
	w->part_cap = j->target / 3;
	if (w->part_cap < 2048)
		w->part_cap = 2048;
	if (w->part_cap > (4u << 20))
		w->part_cap = 4u << 20;
	if (j->kind == K_INDEX)
		w->part_cap = SV_MAX(j->target * 2 / 10, 1024);

	n = snprintf(prefix, sizeof(prefix), "%s/%snb-%" PRIu32 "-big-", j->dir,
		     j->tmp ? "tmp-" : "", j->gen);
	if (n < 0 || (size_t)n + 32 >= sizeof(prefix)) {
		err = -ENAMETOOLONG;
		goto out;
	}
	pathf(path, sizeof(path), "%sData.db", prefix);
	err = wbuf_open(&w->data, path);
	if (err)
		goto out;
	if (!j->tmp) {
		pathf(path, sizeof(path), "%sIndex.db", prefix);
		err = wbuf_open(&w->index, path);
		if (err)
			goto out;
	} else {
		w->index.fd = -1;
	}

	for (;;) {
		uint64_t data_est, est, avg;

		gen_partition(w);
		if (w->err || w->data.err || w->index.err || w->keys_done)
			break;
		data_est = w->data.total + (uint64_t)((double)w->fill * w->ratio);
		avg = (uint64_t)((double)w->raw_pos * w->ratio) / w->partitions;
		if (j->tmp) {
			if (w->data.total >= j->target)
				break;
			continue;
		}
		est = data_est + w->index.total + sw_overhead(w, data_est, fbp);
		if (est + avg / 2 >= j->target)
			break;
	}
	if (!j->tmp)
		sw_flush_chunk(w);
	err = w->err ? w->err : w->data.err ? w->data.err : w->index.err;
	if (err)
		goto out;
	j->res.bytes[C_DATA] = w->data.total;
	j->res.bytes[C_INDEX] = w->index.total;
	j->res.files = j->tmp ? 1 : 2;
	err = wbuf_close(&w->data);
	if (!err && !j->tmp)
		err = wbuf_close(&w->index);
	if (err)
		goto out;
	if (j->tmp) {
		pathf(path, sizeof(path), "%sData.db", prefix);
		err = set_mtime(path, gen_mtime(j->gen));
		goto out;
	}
	err = sw_finish(w, prefix, &j->res);
	if (err)
		goto out;
	err = sstable_mtimes(prefix, gen_mtime(j->gen));
out:
	j->res.raw = w->raw_pos;
	j->res.partitions = w->partitions;
	j->res.rows = w->rows;
	j->res.chunks = w->nchunks;
	if (w->data.fd >= 0)
		(void)wbuf_close(&w->data);
	if (w->index.fd >= 0)
		(void)wbuf_close(&w->index);
	free(w->chunk);
	free(w->cbuf);
	dbuf_free(&w->offsets);
	dbuf_free(&w->summ_off);
	dbuf_free(&w->summ_ent);
	free(w);
	if (err)
		fprintf(stderr, "cannot write sstable %s: %s\n", prefix,
			strerror(-err));
	return err;
}

/* ------------------------------------------------------------------ */
/* Workers.                                                           */
/* ------------------------------------------------------------------ */

static void *worker(void *arg)
{
	struct ctx *c = arg;

	for (;;) {
		size_t i = atomic_fetch_add(&c->next_job, 1);

		if (i >= c->njobs)
			break;
		c->jobs[i].err = sstable_write(&c->jobs[i]);
	}
	return NULL;
}

static int cmp_job_size(const void *a, const void *b)
{
	const struct job *x = a, *y = b;

	if (x->target != y->target)
		return x->target > y->target ? -1 : 1;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->gen < y->gen ? -1 : x->gen > y->gen;
}

/* Run every planned job, largest first, on c->nthreads threads. */
static int run_jobs(struct ctx *c)
{
	pthread_t th[64];
	unsigned n = SV_MIN(c->nthreads, SV_ARRAY_SIZE(th)), started = 0;
	int err = 0;

	if (c->njobs)
		qsort(c->jobs, c->njobs, sizeof(*c->jobs), cmp_job_size);
	atomic_store(&c->next_job, 0);
	for (unsigned i = 0; i < n; i++) {
		if (pthread_create(&th[i], NULL, worker, c) != 0)
			break;
		started++;
	}
	if (!started)
		worker(c);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (size_t i = 0; i < c->njobs; i++)
		if (c->jobs[i].err && !err)
			err = c->jobs[i].err;
	return err;
}

static struct job *job_add(struct ctx *c)
{
	struct job *j;

	if (c->njobs == c->jobs_cap) {
		size_t cap = c->jobs_cap ? c->jobs_cap * 2 : 64;
		struct job *nj = realloc(c->jobs, cap * sizeof(*nj));

		if (!nj)
			return NULL;
		c->jobs = nj;
		c->jobs_cap = cap;
	}
	j = &c->jobs[c->njobs++];
	memset(j, 0, sizeof(*j));
	return j;
}

static int table_dir(const struct ctx *c, const struct table *t, unsigned d,
		     char *buf, size_t n)
{
	if ((size_t)snprintf(buf, n, "%s/%s/%s", c->datadir[d], t->ks,
			     t->dirname) >= n)
		return -ENAMETOOLONG;
	return 0;
}

static uint64_t job_seed(const struct ctx *c, const struct table *t,
			 uint32_t gen, int kind)
{
	return mix3(c->global_seed ^ (uint64_t)kind, t->idhash, gen);
}

static struct job *plan_sstable(struct ctx *c, struct table *t, unsigned d,
				uint32_t gen, uint64_t target, int kind)
{
	struct job *j = job_add(c);

	if (!j)
		return NULL;
	if (table_dir(c, t, d, j->dir, sizeof(j->dir)) < 0) {
		c->njobs--;
		return NULL;
	}
	j->t = t;
	j->kind = kind;
	j->gen = gen;
	j->target = target;
	j->datadir = d;
	j->seed = job_seed(c, t, gen, kind);
	if (gen > t->max_gen)
		t->max_gen = gen;
	return j;
}

/* ------------------------------------------------------------------ */
/* Day 1 planning.                                                    */
/* ------------------------------------------------------------------ */

static void uuid_text(char *out, const uint8_t *id)
{
	char hex[33];

	sv_hex(hex, id, 16);
	pathf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
		 hex + 16, hex + 20);
}

/* A version-1 (time-based) UUID, as Cassandra gives new tables. */
static void make_timeuuid(uint8_t *id, struct rng *r, long long unix_s)
{
	uint64_t t = (uint64_t)unix_s * 10000000ULL + 0x01B21DD213814000ULL +
		     rng_below(r, 10000000);
	uint64_t c = rng_next(r);
	uint8_t *p = id;

	p = put_be32(p, (uint32_t)t);
	p = put_be16(p, (uint16_t)(t >> 32));
	p = put_be16(p, (uint16_t)(((t >> 48) & 0x0fff) | 0x1000));
	p = put_be16(p, (uint16_t)(((c >> 48) & 0x3fff) | 0x8000));
	for (int i = 5; i >= 0; i--)
		*p++ = (uint8_t)(c >> (8 * i));
}

static void table_set_id(struct table *t, const uint8_t *id)
{
	char hex[33];

	memcpy(t->id, id, 16);
	sv_hex(hex, id, 16);
	pathf(t->dirname, sizeof(t->dirname), "%s-%s", t->name, hex);
	t->idhash = hash_bytes(id, 16);
}

static int plan_tables(struct ctx *c)
{
	struct rng r;
	double wsum = 0, *wt;
	unsigned n = c->nks * c->ntab;
	bool idx_done = false;

	c->tables = calloc(n, sizeof(*c->tables));
	wt = calloc(n, sizeof(*wt));
	if (!c->tables || !wt) {
		free(wt);
		return -ENOMEM;
	}
	c->ntables = n;
	for (unsigned i = 0; i < c->nks; i++) {
		for (unsigned k = 0; k < c->ntab; k++) {
			unsigned ti = i * c->ntab + k;
			struct table *t = &c->tables[ti];
			uint8_t id[16];

			rng_init(&r, mix3(c->global_seed, 0x7ab1e, ti));
			if (i < SV_ARRAY_SIZE(ks_names))
				pathf(t->ks, sizeof(t->ks), "%s", ks_names[i]);
			else
				pathf(t->ks, sizeof(t->ks), "ks%u", i);
			t->kind = (int)(ti % N_TABLE_KINDS);
			pathf(t->name, sizeof(t->name), "%s",
				 kinds[t->kind].names[(ti / N_TABLE_KINDS) % 3]);
			for (unsigned q = i * c->ntab; q < ti; q++) {
				if (strcmp(c->tables[q].name, t->name))
					continue;
				pathf(t->name, sizeof(t->name), "%s_%u",
					 kinds[t->kind].names[(ti / N_TABLE_KINDS) % 3],
					 k);
				break;
			}
			make_timeuuid(id, &r, 1690000000LL + ti * 3607LL);
			table_set_id(t, id);
			/* 4.0 defaults to 16 KiB chunks; older tables 64. */
			t->chunk_len = (ti % 4 == 2) ? 65536 : 16384;
			wt[ti] = 0.35 + 1.65 * rng_unit(&r);
			wsum += wt[ti];
			if (!idx_done && kinds[t->kind].index_col) {
				pathf(t->idx_name, sizeof(t->idx_name),
					 "%s_%s_idx", t->name,
					 kinds[t->kind].index_col);
				idx_done = true;
			}
		}
	}
	for (unsigned ti = 0; ti < n; ti++)
		c->tables[ti].target = (uint64_t)((double)c->size * wt[ti] / wsum);
	free(wt);
	return 0;
}

/* Split share bytes into n parts with random weights in [lo, lo + span]. */
static void split_sizes(struct rng *r, uint64_t share, unsigned n, double lo,
			double span, uint64_t *out)
{
	double w[32], sum = 0;

	for (unsigned i = 0; i < n; i++) {
		w[i] = lo + span * rng_unit(r);
		sum += w[i];
	}
	for (unsigned i = 0; i < n; i++)
		out[i] = (uint64_t)((double)share * w[i] / sum);
}

static int plan_day1(struct ctx *c)
{
	for (unsigned ti = 0; ti < c->ntables; ti++) {
		struct table *t = &c->tables[ti];
		struct rng r;
		unsigned nb, nm, ns, k = 0;
		uint64_t sz[3][32], budget = t->target;
		uint32_t gen;

		rng_init(&r, mix3(c->global_seed, 0x91a4, t->idhash));
		if (t->idx_name[0]) {
			uint64_t isz = SV_MAX(budget / 200, 24 * 1024);
			char dir[PATH_MAX];
			struct job *j;

			budget = budget > isz ? budget - isz : 0;
			j = plan_sstable(c, t, 0, 1, isz, K_INDEX);
			if (!j)
				return -ENOMEM;
			pathf(dir, sizeof(dir), "%s/.%s", j->dir, t->idx_name);
			memcpy(j->dir, dir, sizeof(dir));
			t->max_gen = 0;
		}
		nb = 1 + rng_below(&r, 3);
		nm = 4 + rng_below(&r, 7);
		ns = 3 + rng_below(&r, 6);
		/* Small tables keep SSTables of at least ~48 KiB. */
		while (nb + nm + ns > 3 && budget / (nb + nm + ns) < 48 * 1024) {
			if (nm > 1)
				nm--;
			else if (ns > 1)
				ns--;
			else if (nb > 1)
				nb--;
			else
				break;
		}
		split_sizes(&r, budget * 30 / 100, nb, 0.6, 0.8, sz[0]);
		split_sizes(&r, budget * 50 / 100, nm, 0.5, 1.0, sz[1]);
		split_sizes(&r, budget - budget * 80 / 100, ns, 0.5, 1.0, sz[2]);
		/*
		 * Generations: the big SSTables are the oldest compaction
		 * results, the small ones the newest flushes; the gaps are
		 * SSTables that compactions consumed long ago.
		 */
		gen = 1 + rng_below(&r, 3);
		for (unsigned tier = 0; tier < 3; tier++) {
			unsigned cnt = tier == 0 ? nb : tier == 1 ? nm : ns;

			for (unsigned i = 0; i < cnt; i++, k++) {
				struct job *j;

				j = plan_sstable(c, t, (ti + k) % c->ndirs, gen,
						 sz[tier][i], t->kind);
				if (!j)
					return -ENOMEM;
				j->flushed = tier == 2;
				gen += tier == 2 ? 1 + rng_below(&r, 2) :
						   1 + rng_below(&r, 6);
			}
		}
	}
	return 0;
}

/* Leftovers of an unfinished compaction in the first table. */
static int plan_leftovers(struct ctx *c)
{
	struct table *t = &c->tables[0];
	struct job *j;

	j = plan_sstable(c, t, 0, t->max_gen + 1,
			 SV_MAX(SV_MIN(t->target / 20, 8u << 20), 64 * 1024),
			 t->kind);
	if (!j)
		return -ENOMEM;
	j->tmp = true;
	return 0;
}

static int write_txn_log(struct ctx *c)
{
	struct table *t = &c->tables[0];
	char dir[PATH_MAX], path[PATH_MAX], line[256], uuid[40];
	uint8_t id[16];
	struct rng r;
	uint32_t gen = t->max_gen;
	int err, n, m;

	rng_init(&r, mix3(c->global_seed, 0x7a9, t->idhash));
	make_timeuuid(id, &r, BASE_EPOCH + gen * 60LL);
	uuid_text(uuid, id);
	err = table_dir(c, t, 0, dir, sizeof(dir));
	if (err)
		return err;
	if ((size_t)snprintf(path, sizeof(path), "%s/nb_txn_compaction_%s.log",
			     dir, uuid) >= sizeof(path))
		return -ENAMETOOLONG;
	/* LogRecord: TYPE:[path,updateTime,numFiles][checksum] per line. */
	n = snprintf(line, sizeof(line), "ADD:[nb-%" PRIu32 "-big,0,8]", gen);
	m = snprintf(line + n, sizeof(line) - (size_t)n, "[%lu]\n",
		     crc32(0, (const Bytef *)line, (uInt)n));
	err = write_file(path, line, (size_t)(n + m));
	if (err)
		return err;
	return set_mtime(path, gen_mtime(gen));
}

/* ------------------------------------------------------------------ */
/* Scanning what is on disk: live SSTables, snapshots, backups.       */
/* ------------------------------------------------------------------ */

struct names {
	char **v;
	size_t n, cap;
};

static int names_add(struct names *s, const char *name)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		char **nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n] = strdup(name);
	if (!s->v[s->n])
		return -ENOMEM;
	s->n++;
	return 0;
}

static void names_free(struct names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entries of dir; want 'f' regular files, 'd' directories. */
static int list_dir(const char *dir, char want, struct names *out)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int err = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		pathf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) < 0)
			continue;
		if ((want == 'f' && S_ISREG(st.st_mode)) ||
		    (want == 'd' && S_ISDIR(st.st_mode))) {
			err = names_add(out, e->d_name);
			if (err)
				break;
		}
	}
	closedir(d);
	if (!err && out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_str);
	return err;
}

/*
 * A live component name: "<2 letter version>-<id>-<big|bti>-<Component>".
 * tmp-/tmplink- leftovers and *_txn_*.log files do not match.
 */
static bool live_component(const char *n, uint32_t *gen)
{
	char *end;
	unsigned long g;

	if (!(n[0] >= 'a' && n[0] <= 'z' && n[1] >= 'a' && n[1] <= 'z' &&
	      n[2] == '-'))
		return false;
	g = strtoul(n + 3, &end, 10);
	if (end == n + 3 || (strncmp(end, "-big-", 5) && strncmp(end, "-bti-", 5)))
		return false;
	if (gen)
		*gen = (uint32_t)g;
	return true;
}

struct live {
	uint32_t gen;
	unsigned dir;
	uint64_t bytes;
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int link_sstable_files(const char *from, const char *to, uint32_t gen,
			      const struct names *files)
{
	int err = mkdir_p(to);

	for (size_t i = 0; i < files->n && !err; i++) {
		char src[PATH_MAX], dst[PATH_MAX];
		uint32_t g;

		if (!live_component(files->v[i], &g) || (gen && g != gen))
			continue;
		pathf(src, sizeof(src), "%s/%s", from, files->v[i]);
		pathf(dst, sizeof(dst), "%s/%s", to, files->v[i]);
		if (link(src, dst) < 0) {
			err = -errno;
			fprintf(stderr, "cannot link %s: %s\n", dst,
				strerror(errno));
		}
	}
	return err;
}

/* Hard-link every component of SSTable gen into <table dir>/backups/. */
static int backup_sstable(const char *tdir, uint32_t gen)
{
	struct names files = { 0 };
	char to[PATH_MAX];
	int err;

	err = list_dir(tdir, 'f', &files);
	if (!err) {
		pathf(to, sizeof(to), "%s/backups", tdir);
		err = link_sstable_files(tdir, to, gen, &files);
	}
	names_free(&files);
	return err;
}

static void cql_col_list(FILE *f, const struct kind_desc *kd, char role,
			 bool with_order)
{
	bool first = true;

	for (int i = 0; i < kd->ncols; i++) {
		if (kd->cols[i].role != role)
			continue;
		fprintf(f, "%s%s", first ? "" : ", ", kd->cols[i].name);
		if (with_order)
			fprintf(f, " %s", kd->cols[i].desc ? "DESC" : "ASC");
		first = false;
	}
}

static int write_schema(const struct table *t, const char *path)
{
	const struct kind_desc *kd = &kinds[t->kind];
	char uuid[40], *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int npk = 0, nck = 0, err;

	if (!f)
		return -ENOMEM;
	uuid_text(uuid, t->id);
	for (int i = 0; i < kd->ncols; i++) {
		npk += kd->cols[i].role == 'p';
		nck += kd->cols[i].role == 'c';
	}
	fprintf(f, "CREATE KEYSPACE IF NOT EXISTS %s WITH replication = "
		   "{'class': 'NetworkTopologyStrategy', 'dc1': '3'} AND "
		   "durable_writes = true;\n\n",
		t->ks);
	if (kd->udt)
		fprintf(f, "CREATE TYPE IF NOT EXISTS %s.%s (\n%s);\n\n", t->ks,
			kd->udt_name, kd->udt);
	fprintf(f, "CREATE TABLE IF NOT EXISTS %s.%s (\n", t->ks, t->name);
	for (int i = 0; i < kd->ncols; i++)
		fprintf(f, "    %s %s,\n", kd->cols[i].name, kd->cols[i].cql);
	fprintf(f, "    PRIMARY KEY (");
	if (npk > 1)
		fprintf(f, "(");
	cql_col_list(f, kd, 'p', false);
	if (npk > 1)
		fprintf(f, ")");
	if (nck) {
		fprintf(f, ", ");
		cql_col_list(f, kd, 'c', false);
	}
	fprintf(f, ")\n) WITH ID = %s\n", uuid);
	if (nck) {
		fprintf(f, "    AND CLUSTERING ORDER BY (");
		cql_col_list(f, kd, 'c', true);
		fprintf(f, ")\n");
	}
	fprintf(f,
		"    AND additional_write_policy = '99p'\n"
		"    AND bloom_filter_fp_chance = 0.01\n"
		"    AND caching = {'keys': 'ALL', 'rows_per_partition': 'NONE'}\n"
		"    AND cdc = false\n"
		"    AND comment = '%s'\n"
		"    AND compaction = {'class': 'org.apache.cassandra.db."
		"compaction.SizeTieredCompactionStrategy', 'max_threshold': "
		"'32', 'min_threshold': '4'}\n"
		"    AND compression = {'chunk_length_in_kb': '%u', 'class': "
		"'org.apache.cassandra.io.compress.LZ4Compressor'}\n"
		"    AND crc_check_chance = 1.0\n"
		"    AND default_time_to_live = 0\n"
		"    AND extensions = {}\n"
		"    AND gc_grace_seconds = 864000\n"
		"    AND max_index_interval = 2048\n"
		"    AND memtable_flush_period_in_ms = 0\n"
		"    AND min_index_interval = 128\n"
		"    AND read_repair = 'BLOCKING'\n"
		"    AND speculative_retry = '99p';\n",
		kd->comment, t->chunk_len / 1024);
	if (kd->dropped) {
		char col[64];
		const char *sp = strchr(kd->dropped, ' ');

		pathf(col, sizeof(col), "%.*s", (int)(sp - kd->dropped),
			 kd->dropped);
		fprintf(f, "\nALTER TABLE %s.%s DROP %s USING TIMESTAMP "
			   "1695000000000000;\n",
			t->ks, t->name, col);
	}
	if (t->idx_name[0])
		fprintf(f, "\nCREATE INDEX IF NOT EXISTS %s ON %s.%s (%s);\n",
			t->idx_name, t->ks, t->name, kd->index_col);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	err = write_file(path, buf, len);
	free(buf);
	return err;
}

/*
 * nodetool snapshot: hard links of every live component of the table,
 * in each data directory, plus manifest.json and schema.cql in the first.
 */
static int snapshot_table(struct ctx *c, struct table *t, const char *tag)
{
	struct names idx = { 0 };
	struct dbuf out = { 0 };
	char tdir[PATH_MAX], to[PATH_MAX], path[PATH_MAX], e[PATH_MAX + 8];
	uint32_t *gens = NULL;
	size_t ngens = 0;
	int err = 0;
	long long mt = gen_mtime(t->max_gen) + 30;

	for (unsigned d = 0; d < c->ndirs && !err; d++) {
		struct names files = { 0 }, subs = { 0 };
		bool any = false;

		err = table_dir(c, t, d, tdir, sizeof(tdir));
		if (!err)
			err = list_dir(tdir, 'f', &files);
		for (size_t i = 0; i < files.n && !err; i++) {
			uint32_t g, *ng;

			if (!live_component(files.v[i], &g))
				continue;
			any = true;
			if (!strstr(files.v[i], "-Data.db"))
				continue;
			ng = realloc(gens, (ngens + 1) * sizeof(*gens));
			if (!ng) {
				err = -ENOMEM;
				break;
			}
			gens = ng;
			gens[ngens++] = g;
		}
		pathf(to, sizeof(to), "%s/snapshots/%s", tdir, tag);
		if (!err && (any || d == 0))
			err = link_sstable_files(tdir, to, 0, &files);
		if (!err)
			err = list_dir(tdir, 'd', &subs);
		for (size_t i = 0; i < subs.n && !err; i++) {
			struct names ifiles = { 0 };
			char from[PATH_MAX], ito[PATH_MAX];

			if (subs.v[i][0] != '.')
				continue;
			pathf(from, sizeof(from), "%s/%s", tdir, subs.v[i]);
			pathf(ito, sizeof(ito), "%s/%s", to, subs.v[i]);
			err = list_dir(from, 'f', &ifiles);
			if (!err)
				err = link_sstable_files(from, ito, 0, &ifiles);
			for (size_t q = 0; q < ifiles.n && !err; q++) {
				if (!live_component(ifiles.v[q], NULL) ||
				    !strstr(ifiles.v[q], "-Data.db"))
					continue;
				/* json-simple escapes '/' as '\/'. */
				pathf(e, sizeof(e), "\"%s\\/%s\"",
					 subs.v[i], ifiles.v[q]);
				err = names_add(&idx, e);
			}
			names_free(&ifiles);
		}
		names_free(&subs);
		names_free(&files);
	}
	if (err)
		goto out;

	/* manifest.json: the Data.db of each SSTable, by generation. */
	if (ngens)
		qsort(gens, ngens, sizeof(*gens), cmp_u32);
	err = dbuf_put(&out, "{\"files\":[", 10);
	for (size_t i = 0; i < ngens && !err; i++) {
		int l = snprintf(e, sizeof(e), "%s\"nb-%" PRIu32 "-big-Data.db\"",
				 i ? "," : "", gens[i]);

		err = dbuf_put(&out, e, (size_t)l);
	}
	for (size_t i = 0; i < idx.n && !err; i++) {
		if (ngens || i)
			err = dbuf_put(&out, ",", 1);
		if (!err)
			err = dbuf_put(&out, idx.v[i], strlen(idx.v[i]));
	}
	if (!err)
		err = dbuf_put(&out, "]}\n", 3);
	if (!err)
		err = table_dir(c, t, 0, tdir, sizeof(tdir));
	if (err)
		goto out;
	pathf(path, sizeof(path), "%s/snapshots/%s/manifest.json", tdir, tag);
	err = write_file(path, out.p, out.len);
	if (!err)
		err = set_mtime(path, mt);
	if (err)
		goto out;
	pathf(path, sizeof(path), "%s/snapshots/%s/schema.cql", tdir, tag);
	err = write_schema(t, path);
	if (!err)
		err = set_mtime(path, mt);
out:
	free(gens);
	names_free(&idx);
	dbuf_free(&out);
	return err;
}

static int snapshot_exists(struct ctx *c, const char *tag)
{
	for (unsigned ti = 0; ti < c->ntables; ti++) {
		for (unsigned d = 0; d < c->ndirs; d++) {
			char tdir[PATH_MAX], p[PATH_MAX];

			if (table_dir(c, &c->tables[ti], d, tdir, sizeof(tdir)))
				continue;
			pathf(p, sizeof(p), "%s/snapshots/%s", tdir, tag);
			if (is_dir(p))
				return 1;
		}
	}
	return 0;
}

/* Sum the live SSTables (files, bytes) of all tables, 2i included. */
static void count_live(struct ctx *c, uint64_t *files, uint64_t *bytes)
{
	*files = *bytes = 0;
	for (unsigned ti = 0; ti < c->ntables; ti++) {
		for (unsigned d = 0; d < c->ndirs; d++) {
			struct names f = { 0 }, s = { 0 };
			char tdir[PATH_MAX], p[PATH_MAX];

			if (table_dir(c, &c->tables[ti], d, tdir, sizeof(tdir)))
				continue;
			(void)list_dir(tdir, 'f', &f);
			(void)list_dir(tdir, 'd', &s);
			for (size_t q = 0; q < s.n; q++) {
				struct names fi = { 0 };
				char sub[PATH_MAX];

				if (s.v[q][0] != '.')
					continue;
				pathf(sub, sizeof(sub), "%s/%s", tdir, s.v[q]);
				(void)list_dir(sub, 'f', &fi);
				for (size_t i = 0; i < fi.n; i++) {
					struct stat st;

					if (!live_component(fi.v[i], NULL))
						continue;
					pathf(p, sizeof(p), "%s/%s", sub,
						 fi.v[i]);
					if (stat(p, &st) == 0) {
						(*files)++;
						*bytes += (uint64_t)st.st_size;
					}
				}
				names_free(&fi);
			}
			for (size_t i = 0; i < f.n; i++) {
				struct stat st;

				if (!live_component(f.v[i], NULL))
					continue;
				pathf(p, sizeof(p), "%s/%s", tdir, f.v[i]);
				if (stat(p, &st) == 0) {
					(*files)++;
					*bytes += (uint64_t)st.st_size;
				}
			}
			names_free(&f);
			names_free(&s);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Day 2: read the layout back and evolve it.                         */
/* ------------------------------------------------------------------ */

static int kind_of_name(const char *name)
{
	char base[64];
	size_t n = strlen(name);

	for (int pass = 0; pass < 2; pass++) {
		for (int k = 0; k < N_TABLE_KINDS; k++)
			for (int i = 0; i < 3; i++)
				if (!strcmp(kinds[k].names[i], name))
					return k;
		/* "<name>_<n>" disambiguates repeated names in a keyspace. */
		while (n && name[n - 1] >= '0' && name[n - 1] <= '9')
			n--;
		if (!n || name[n - 1] != '_' || n - 1 >= sizeof(base))
			return -1;
		pathf(base, sizeof(base), "%.*s", (int)(n - 1), name);
		name = base;
		n = strlen(base);
	}
	return -1;
}

static int detect_datadirs(struct ctx *c)
{
	char p[PATH_MAX];

	pathf(p, sizeof(p), "%s/data", c->out);
	if (is_dir(p)) {
		memcpy(c->datadir[0], p, sizeof(p));
		c->ndirs = 1;
		return 0;
	}
	for (c->ndirs = 0; c->ndirs < MAX_DIRS; c->ndirs++) {
		pathf(p, sizeof(p), "%s/data%u", c->out, c->ndirs + 1);
		if (!is_dir(p))
			break;
		memcpy(c->datadir[c->ndirs], p, sizeof(p));
	}
	return c->ndirs ? 0 : -ENOENT;
}

static uint32_t read_chunk_len(const char *tdir, const struct names *files)
{
	for (size_t i = 0; i < files->n; i++) {
		char p[PATH_MAX];
		uint8_t b[64];
		ssize_t n;
		int fd;
		uint16_t l;

		if (!live_component(files->v[i], NULL) ||
		    !strstr(files->v[i], "-CompressionInfo.db"))
			continue;
		pathf(p, sizeof(p), "%s/%s", tdir, files->v[i]);
		fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, b, sizeof(b));
		close(fd);
		if (n < 2)
			continue;
		l = (uint16_t)(b[0] << 8 | b[1]);
		if ((size_t)l + 10 <= (size_t)n)
			return get_be32(b + 2 + l + 4);
	}
	return 0;
}

/* Rebuild the table list from the folders, sorted by keyspace and name. */
static int scan_tables(struct ctx *c)
{
	struct names kss = { 0 };
	int err;

	err = list_dir(c->datadir[0], 'd', &kss);
	for (size_t i = 0; i < kss.n && !err; i++) {
		struct names tabs = { 0 };
		char kdir[PATH_MAX];

		pathf(kdir, sizeof(kdir), "%s/%s", c->datadir[0], kss.v[i]);
		err = list_dir(kdir, 'd', &tabs);
		for (size_t q = 0; q < tabs.n && !err; q++) {
			const char *dash = strrchr(tabs.v[q], '-');
			struct table *t, *nt;
			uint8_t id[16];

			if (!dash || strlen(dash + 1) != 32 ||
			    sv_unhex(id, dash + 1, 16) < 0)
				continue;
			nt = realloc(c->tables, (c->ntables + 1) * sizeof(*nt));
			if (!nt) {
				err = -ENOMEM;
				break;
			}
			c->tables = nt;
			t = &c->tables[c->ntables];
			memset(t, 0, sizeof(*t));
			pathf(t->ks, sizeof(t->ks), "%s", kss.v[i]);
			pathf(t->name, sizeof(t->name), "%.*s",
				 (int)(dash - tabs.v[q]), tabs.v[q]);
			t->kind = kind_of_name(t->name);
			if (t->kind < 0) {
				fprintf(stderr,
					"table %s.%s: not made by gen_dataset\n",
					t->ks, t->name);
				err = -EINVAL;
				break;
			}
			table_set_id(t, id);
			c->ntables++;
		}
		names_free(&tabs);
	}
	names_free(&kss);
	return err;
}

/* Live SSTables of table t (over all data dirs) and its highest gen. */
static int scan_live(struct ctx *c, struct table *t, struct live **out,
		     size_t *nout)
{
	struct live *lv = NULL;
	size_t n = 0;
	int err = 0;

	t->max_gen = 0;
	t->live_bytes = 0;
	for (unsigned d = 0; d < c->ndirs && !err; d++) {
		struct names files = { 0 }, subs = { 0 };
		char tdir[PATH_MAX];

		err = table_dir(c, t, d, tdir, sizeof(tdir));
		if (!err)
			err = list_dir(tdir, 'f', &files);
		if (!err)
			err = list_dir(tdir, 'd', &subs);
		if (!t->chunk_len)
			t->chunk_len = read_chunk_len(tdir, &files);
		for (size_t q = 0; q < subs.n; q++)
			if (subs.v[q][0] == '.')
				pathf(t->idx_name, sizeof(t->idx_name), "%s",
					 subs.v[q] + 1);
		for (size_t i = 0; i < files.n && !err; i++) {
			const char *nm = files.v[i];
			char p[PATH_MAX];
			struct stat st;
			uint32_t g;
			size_t k;

			if (!strncmp(nm, "tmp-", 4))
				nm += 4;
			if (!live_component(nm, &g))
				continue;
			if (g > t->max_gen)
				t->max_gen = g;
			if (nm != files.v[i])
				continue;
			pathf(p, sizeof(p), "%s/%s", tdir, nm);
			if (stat(p, &st) < 0)
				continue;
			t->live_bytes += (uint64_t)st.st_size;
			for (k = 0; k < n; k++)
				if (lv[k].gen == g && lv[k].dir == d)
					break;
			if (k == n) {
				struct live *nl = realloc(lv, (n + 1) * sizeof(*nl));

				if (!nl) {
					err = -ENOMEM;
					break;
				}
				lv = nl;
				lv[n].gen = g;
				lv[n].dir = d;
				lv[n].bytes = 0;
				n++;
			}
			lv[k].bytes += (uint64_t)st.st_size;
		}
		names_free(&files);
		names_free(&subs);
	}
	if (!t->chunk_len)
		t->chunk_len = 16384;
	*out = lv;
	*nout = n;
	return err;
}

static int cmp_live_size(const void *a, const void *b)
{
	const struct live *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? -1 : 1;
	return x->gen < y->gen ? -1 : x->gen > y->gen;
}

static int remove_sstable(const char *tdir, uint32_t gen)
{
	struct names files = { 0 };
	int err = list_dir(tdir, 'f', &files);

	for (size_t i = 0; i < files.n && !err; i++) {
		char p[PATH_MAX];
		uint32_t g;

		if (!live_component(files.v[i], &g) || g != gen)
			continue;
		pathf(p, sizeof(p), "%s/%s", tdir, files.v[i]);
		if (unlink(p) < 0) {
			err = -errno;
			fprintf(stderr, "cannot remove %s: %s\n", p,
				strerror(errno));
		}
	}
	names_free(&files);
	return err;
}

struct removal {
	const struct table *t;
	unsigned dir;
	uint32_t gen;
};

static int day2(struct ctx *c, struct removal **rm, size_t *nrm,
		uint64_t *removed_bytes)
{
	uint64_t total = 0;
	double flush_frac;
	struct rng g;
	int err = 0;
	struct live **lv = calloc(c->ntables, sizeof(*lv));
	size_t *nlv = calloc(c->ntables, sizeof(*nlv));

	*rm = NULL;
	*nrm = 0;
	*removed_bytes = 0;
	if (!lv || !nlv) {
		err = -ENOMEM;
		goto out;
	}
	for (unsigned ti = 0; ti < c->ntables && !err; ti++) {
		err = scan_live(c, &c->tables[ti], &lv[ti], &nlv[ti]);
		total += c->tables[ti].live_bytes;
	}
	if (err)
		goto out;
	rng_init(&g, mix3(c->global_seed, 0xda2, total));
	flush_frac = 0.03 + 0.02 * rng_unit(&g);

	for (unsigned ti = 0; ti < c->ntables && !err; ti++) {
		struct table *t = &c->tables[ti];
		size_t n = nlv[ti], k, m, start;
		uint64_t sum = 0, fl;
		uint32_t gen = t->max_gen, nfl;
		struct rng r;
		struct job *j;

		rng_init(&r, mix3(c->global_seed, 0xda2, t->idhash ^ t->max_gen));
		if (n)
			qsort(lv[ti], n, sizeof(**lv), cmp_live_size);
		/* One size-tiered compaction over similar, smaller SSTables. */
		k = (size_t)((double)n * (0.20 + 0.10 * rng_unit(&r)) + 0.5);
		if (n >= 3 && k < 2)
			k = 2;
		m = (n * 7 + 9) / 10;
		if (k > m)
			k = m;
		if (k >= 2) {
			struct removal *nr;

			start = rng_below(&r, (uint32_t)(m - k + 1));
			nr = realloc(*rm, (*nrm + k) * sizeof(**rm));
			if (!nr) {
				err = -ENOMEM;
				break;
			}
			*rm = nr;
			for (size_t i = start; i < start + k; i++) {
				struct removal *x = &(*rm)[(*nrm)++];

				x->t = t;
				x->dir = lv[ti][i].dir;
				x->gen = lv[ti][i].gen;
				sum += lv[ti][i].bytes;
			}
			*removed_bytes += sum;
			gen++;
			j = plan_sstable(c, t, gen % c->ndirs, gen,
					 (uint64_t)((double)sum *
						    (0.90 + 0.10 * rng_unit(&r))),
					 t->kind);
			if (!j) {
				err = -ENOMEM;
				break;
			}
			j->merged = true;
		}
		/* New flushes: the table's share of 3-5% of the live size. */
		fl = (uint64_t)((double)t->live_bytes * flush_frac);
		nfl = 1 + rng_below(&r, 2);
		for (uint32_t i = 0; i < nfl && fl >= 32 * 1024; i++) {
			gen++;
			j = plan_sstable(c, t, gen % c->ndirs, gen, fl / nfl,
					 t->kind);
			if (!j) {
				err = -ENOMEM;
				break;
			}
			j->flushed = true;
		}
	}
out:
	for (unsigned ti = 0; lv && ti < c->ntables; ti++)
		free(lv[ti]);
	free(lv);
	free(nlv);
	return err;
}

/* ------------------------------------------------------------------ */
/* Verify.                                                            */
/* ------------------------------------------------------------------ */

struct vstate {
	uint64_t ok, failed, skipped, linked, chunks, bytes;
	uint64_t *seen; /* open-addressing set of dev ^ ino keys */
	size_t nseen, capseen;
	bool verbose;
	uint8_t *dbuf;
	size_t dcap;
};

static bool seen_add(struct vstate *v, uint64_t dev, uint64_t ino)
{
	uint64_t key = (dev * 0x9e3779b97f4a7c15ULL) ^ ino;
	size_t i;

	if (!key) /* 0 marks an empty slot */
		key = ~0ULL;

	if (v->nseen * 2 >= v->capseen) {
		size_t cap = v->capseen ? v->capseen * 2 : 1024;
		uint64_t *ns = calloc(cap, sizeof(*ns));

		if (!ns)
			return false;
		for (size_t q = 0; q < v->capseen; q++) {
			if (!v->seen[q])
				continue;
			i = (size_t)(v->seen[q] * 0x9e3779b97f4a7c15ULL) & (cap - 1);
			while (ns[i])
				i = (i + 1) & (cap - 1);
			ns[i] = v->seen[q];
		}
		free(v->seen);
		v->seen = ns;
		v->capseen = cap;
	}
	i = (size_t)(key * 0x9e3779b97f4a7c15ULL) & (v->capseen - 1);
	while (v->seen[i]) {
		if (v->seen[i] == key)
			return false;
		i = (i + 1) & (v->capseen - 1);
	}
	v->seen[i] = key;
	v->nseen++;
	return true;
}

static int read_small(const char *path, uint8_t **out, size_t *len)
{
	struct stat st;
	uint8_t *b;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	size_t got = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_size > (1 << 30)) {
		close(fd);
		return -EFBIG;
	}
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, b + got, (size_t)st.st_size - got);

		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (err) {
		free(b);
		return err;
	}
	b[got] = 0;
	*out = b;
	*len = got;
	return 0;
}

/*
 * The version of an SSTable from its Data.db name: "nb-1-big-Data.db"
 * (2.2+) or "ks-tbl-ka-1-Data.db" (2.1 and older).
 */
static void sst_version(const char *name, char ver[3])
{
	const char *tok[8];
	size_t len[8];
	int n = 0;
	const char *p = name;

	while (n < 8) {
		const char *d = strchr(p, '-');

		tok[n] = p;
		len[n] = d ? (size_t)(d - p) : strlen(p);
		n++;
		if (!d)
			break;
		p = d + 1;
	}
	ver[0] = ver[1] = '?';
	ver[2] = 0;
	if (n >= 4 && len[2] == 3 &&
	    (!strncmp(tok[2], "big", 3) || !strncmp(tok[2], "bti", 3)) &&
	    len[0] == 2) {
		memcpy(ver, tok[0], 2);
		return;
	}
	if (n >= 3 && len[n - 3] == 2)
		memcpy(ver, tok[n - 3], 2);
}

static uint32_t checksum(bool adler, const uint8_t *p, size_t n)
{
	uLong v = adler ? adler32(0, NULL, 0) : crc32(0, NULL, 0);

	while (n) {
		uInt k = (uInt)SV_MIN(n, (size_t)1 << 30);

		v = adler ? adler32(v, p, k) : crc32(v, p, k);
		p += k;
		n -= k;
	}
	return (uint32_t)v;
}

static int vfail(struct vstate *v, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int vfail(struct vstate *v, const char *path, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL %s: ", path);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	v->failed++;
	return -EBADMSG;
}

/* Compressed Data.db: offsets, per-chunk checksum, LZ4, data length. */
static int verify_compressed(struct vstate *v, const char *dpath,
			     const char *cpath, const uint8_t *data,
			     size_t size, bool adler)
{
	uint8_t *ci = NULL;
	size_t clen = 0, p, rem;
	uint32_t chunk_len, count, maxc = 0x7fffffff;
	uint64_t data_len, total = 0;
	bool hasmax;
	char cname[128];
	int err, opts;

	err = read_small(cpath, &ci, &clen);
	if (err) {
		err = vfail(v, cpath, "cannot read: %s", strerror(-err));
		goto out;
	}
	if (clen < 2 || (size_t)(ci[0] << 8 | ci[1]) + 2 > clen) {
		err = vfail(v, cpath, "truncated compressor name");
		goto out;
	}
	p = (size_t)(ci[0] << 8 | ci[1]);
	pathf(cname, sizeof(cname), "%.*s", (int)SV_MIN(p, 100), ci + 2);
	p += 2;
	if (p + 4 > clen) {
		err = vfail(v, cpath, "truncated options");
		goto out;
	}
	opts = (int)get_be32(ci + p);
	p += 4;
	for (int i = 0; i < 2 * opts; i++) {
		if (opts < 0 || p + 2 > clen ||
		    p + 2 + (size_t)(ci[p] << 8 | ci[p + 1]) > clen) {
			err = vfail(v, cpath, "truncated options");
			goto out;
		}
		p += 2 + (size_t)(ci[p] << 8 | ci[p + 1]);
	}
	if (p + 4 > clen) {
		err = vfail(v, cpath, "truncated header");
		goto out;
	}
	chunk_len = get_be32(ci + p);
	p += 4;
	rem = clen - p;
	/*
	 * 4.0 BIG ("na"+) adds maxCompressedLength after the chunk length;
	 * 3.x and the BTI "na" of these fixtures do not.  The two layouts
	 * differ by 4 bytes while the offsets come in multiples of 8, so
	 * only one of them can match the file size.
	 */
	if (rem >= 12 && rem == 12 + 8 * (size_t)get_be32(ci + p + 8)) {
		hasmax = false;
	} else if (rem >= 16 &&
		   rem == 16 + 8 * (size_t)get_be32(ci + p + 12)) {
		hasmax = true;
		maxc = get_be32(ci + p);
		p += 4;
	} else {
		err = vfail(v, cpath, "size %zu matches no known layout", clen);
		goto out;
	}
	if (strcmp(cname, "LZ4Compressor") &&
	    strcmp(cname, "org.apache.cassandra.io.compress.LZ4Compressor")) {
		fprintf(stderr, "skip %s: compressor %s not supported\n", dpath,
			cname);
		v->skipped++;
		err = 0;
		goto out;
	}
	data_len = get_be64(ci + p);
	count = get_be32(ci + p + 8);
	p += 12;
	if (chunk_len == 0 || chunk_len > (1u << 30) ||
	    (uint64_t)count != (data_len + chunk_len - 1) / chunk_len) {
		err = vfail(v, cpath, "chunk count %u does not cover %" PRIu64
				      " bytes in chunks of %u",
			    count, data_len, chunk_len);
		goto out;
	}
	if (v->dcap < chunk_len) {
		free(v->dbuf);
		v->dbuf = malloc(chunk_len);
		v->dcap = v->dbuf ? chunk_len : 0;
		if (!v->dbuf) {
			err = -ENOMEM;
			goto out;
		}
	}
	for (uint32_t i = 0; i < count; i++) {
		uint64_t start = get_be64(ci + p + 8 * (size_t)i);
		uint64_t end = i + 1 < count ?
				       get_be64(ci + p + 8 * ((size_t)i + 1)) :
				       size;
		uint64_t expect = SV_MIN((uint64_t)chunk_len,
					 data_len - (uint64_t)i * chunk_len);
		const uint8_t *cb;
		size_t cn;
		uint32_t want, got;

		if ((i == 0 && start != 0) || end > size || end < start + 8) {
			err = vfail(v, dpath, "chunk %u: bad offsets %" PRIu64
					      "..%" PRIu64 " (file %zu)",
				    i, start, end, size);
			goto out;
		}
		cb = data + start;
		cn = (size_t)(end - start - 4);
		want = get_be32(data + end - 4);
		got = checksum(adler, cb, cn);
		if (want != got) {
			err = vfail(v, dpath, "chunk %u: %s %08x, expected %08x",
				    i, adler ? "adler32" : "crc32", got, want);
			goto out;
		}
		if (hasmax && cn >= maxc) {
			/* Stored uncompressed (min_compress_ratio). */
			if (cn != expect) {
				err = vfail(v, dpath,
					    "chunk %u: raw length %zu, expected "
					    "%" PRIu64,
					    i, cn, expect);
				goto out;
			}
		} else {
			int n;

			if (sv_get_le32(cb) != expect) {
				err = vfail(v, dpath,
					    "chunk %u: header length %u, "
					    "expected %" PRIu64,
					    i, sv_get_le32(cb), expect);
				goto out;
			}
			n = LZ4_decompress_safe((const char *)cb + 4,
						(char *)v->dbuf, (int)cn - 4,
						(int)chunk_len);
			if (n < 0 || (uint64_t)n != expect) {
				err = vfail(v, dpath,
					    "chunk %u: lz4 gave %d bytes, "
					    "expected %" PRIu64,
					    i, n, expect);
				goto out;
			}
		}
		total += expect;
		v->chunks++;
	}
	if (total != data_len) {
		err = vfail(v, dpath, "chunks hold %" PRIu64 " bytes, "
				      "CompressionInfo says %" PRIu64,
			    total, data_len);
		goto out;
	}
	err = 1; /* verified */
out:
	free(ci);
	return err;
}

/* Uncompressed Data.db with CRC.db: chunk length, then one sum a chunk. */
static int verify_crcdb(struct vstate *v, const char *dpath, const char *cpath,
			const uint8_t *data, size_t size, bool adler)
{
	uint8_t *cr = NULL;
	size_t len = 0, n;
	uint32_t chunk;
	int err = read_small(cpath, &cr, &len);

	if (err) {
		err = vfail(v, cpath, "cannot read: %s", strerror(-err));
		goto out;
	}
	chunk = len >= 4 ? get_be32(cr) : 0;
	n = chunk ? (size + chunk - 1) / chunk : 0;
	if (!chunk || len != 4 + 4 * n) {
		err = vfail(v, cpath, "size %zu does not match %zu chunks", len,
			    n);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		size_t off = i * chunk, l = SV_MIN((size_t)chunk, size - off);
		uint32_t got = checksum(adler, data + off, l);

		if (got != get_be32(cr + 4 + 4 * i)) {
			err = vfail(v, dpath, "chunk %zu: checksum %08x, "
					      "CRC.db has %08x",
				    i, got, get_be32(cr + 4 + 4 * i));
			goto out;
		}
		v->chunks++;
	}
	err = 1;
out:
	free(cr);
	return err;
}

/* Digest.crc32, Digest.adler32, or 2.1's Digest.sha1 holding Adler32. */
static int verify_digest(struct vstate *v, const char *dpath,
			 const char *prefix, const uint8_t *data, size_t size)
{
	static const struct {
		const char *suffix;
		bool adler;
	} dg[] = { { "Digest.crc32", false },
		   { "Digest.adler32", true },
		   { "Digest.sha1", true } };
	char path[PATH_MAX];

	for (size_t i = 0; i < SV_ARRAY_SIZE(dg); i++) {
		uint8_t *b = NULL;
		size_t len = 0;
		char *end;
		unsigned long want;
		uint32_t got;

		pathf(path, sizeof(path), "%s%s", prefix, dg[i].suffix);
		if (read_small(path, &b, &len) < 0)
			continue;
		want = strtoul((char *)b, &end, 10);
		if (len == 0 || len > 10 || end != (char *)b + len) {
			/* 2.0: "<sha1 hex>  <file>" - needs SHA-1, skip. */
			if (v->verbose)
				fprintf(stderr, "note %s: %s not decimal, "
						"not checked\n",
					dpath, dg[i].suffix);
			free(b);
			return 0;
		}
		free(b);
		got = checksum(dg[i].adler, data, size);
		if (got != want)
			return vfail(v, dpath, "%s %u, %s says %lu",
				     dg[i].adler ? "adler32" : "crc32", got,
				     dg[i].suffix, want);
		return 1;
	}
	if (v->verbose)
		fprintf(stderr, "note %s: no digest component\n", dpath);
	return 0;
}

static void verify_sstable(struct vstate *v, const char *dir,
			   const char *name)
{
	char dpath[PATH_MAX], prefix[PATH_MAX], cpath[PATH_MAX], ver[3];
	const uint8_t *data = NULL;
	void *map = MAP_FAILED;
	struct stat st;
	bool adler;
	int fd = -1, r1, r2;
	size_t pl = strlen(name) - strlen("Data.db");

	pathf(dpath, sizeof(dpath), "%s/%s", dir, name);
	if (!strncmp(name, "tmp", 3) || strstr(name, "-tmp-") ||
	    strstr(name, "-tmplink-")) {
		if (v->verbose)
			fprintf(stderr, "skip %s: unfinished write\n", dpath);
		v->skipped++;
		return;
	}
	pathf(prefix, sizeof(prefix), "%s/%.*s", dir, (int)pl, name);
	sst_version(name, ver);
	if (ver[0] < 'k') {
		fprintf(stderr, "skip %s: version %s not supported\n", dpath,
			ver);
		v->skipped++;
		return;
	}
	/* ka and la sum chunks with Adler32; 3.0 ("ma") onwards CRC32. */
	adler = ver[0] < 'm';
	fd = open(dpath, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		vfail(v, dpath, "cannot open: %s", strerror(errno));
		goto out;
	}
	if (!seen_add(v, (uint64_t)st.st_dev, (uint64_t)st.st_ino)) {
		v->linked++;
		goto out;
	}
	if (st.st_size > 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd,
			   0);
		if (map == MAP_FAILED) {
			vfail(v, dpath, "cannot map: %s", strerror(errno));
			goto out;
		}
		data = map;
	}
	pathf(cpath, sizeof(cpath), "%sCompressionInfo.db", prefix);
	if (access(cpath, F_OK) == 0) {
		r1 = verify_compressed(v, dpath, cpath, data,
				       (size_t)st.st_size, adler);
	} else {
		pathf(cpath, sizeof(cpath), "%sCRC.db", prefix);
		if (access(cpath, F_OK) == 0)
			r1 = verify_crcdb(v, dpath, cpath, data,
					  (size_t)st.st_size, adler);
		else
			r1 = 0;
	}
	if (r1 < 0)
		goto out;
	r2 = verify_digest(v, dpath, prefix, data, (size_t)st.st_size);
	if (r2 < 0)
		goto out;
	if (r1 == 0 && r2 == 0) {
		fprintf(stderr, "skip %s: no checksum component\n", dpath);
		v->skipped++;
		goto out;
	}
	v->ok++;
	v->bytes += (uint64_t)st.st_size;
	if (v->verbose)
		fprintf(stderr, "ok %s (version %s)\n", dpath, ver);
out:
	if (map != MAP_FAILED)
		munmap(map, (size_t)st.st_size);
	if (fd >= 0)
		close(fd);
}

static int verify_walk(struct vstate *v, const char *dir, int depth)
{
	struct names files = { 0 }, subs = { 0 };
	int err;

	if (depth > 16)
		return 0;
	err = list_dir(dir, 'f', &files);
	if (!err)
		err = list_dir(dir, 'd', &subs);
	for (size_t i = 0; i < files.n && !err; i++) {
		size_t l = strlen(files.v[i]);

		if (l > 8 && !strcmp(files.v[i] + l - 8, "-Data.db"))
			verify_sstable(v, dir, files.v[i]);
	}
	for (size_t i = 0; i < subs.n && !err; i++) {
		char sub[PATH_MAX];

		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir,
				     subs.v[i]) >= sizeof(sub))
			continue;
		err = verify_walk(v, sub, depth + 1);
	}
	names_free(&files);
	names_free(&subs);
	return err;
}

static int cmd_verify(const char *dir, bool verbose)
{
	struct vstate v = { .verbose = verbose };
	int err;

	if (!is_dir(dir)) {
		fprintf(stderr, "cannot open %s: not a directory\n", dir);
		return 1;
	}
	err = verify_walk(&v, dir, 0);
	printf("verify: %" PRIu64 " sstables ok, %" PRIu64 " failed, %" PRIu64
	       " skipped, %" PRIu64 " hard links seen before, %" PRIu64
	       " chunks, %" PRIu64 " bytes of Data.db\n",
	       v.ok, v.failed, v.skipped, v.linked, v.chunks, v.bytes);
	free(v.seen);
	free(v.dbuf);
	if (err) {
		fprintf(stderr, "cannot walk %s: %s\n", dir, strerror(-err));
		return 1;
	}
	if (!v.ok && !v.failed) {
		fprintf(stderr, "no sstables found under %s\n", dir);
		return 1;
	}
	return v.failed ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* Command line.                                                      */
/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
"usage: gen_dataset --out DIR --size SIZE [options]   write day 1\n"
"       gen_dataset --out DIR --day2 [options]        evolve DIR to day 2\n"
"       gen_dataset --verify DIR [-v]                 check SSTable checksums\n"
"\n"
"Writes a deterministic, realistic Cassandra 4.x data directory: the same\n"
"arguments and seed give byte-identical files with identical mtimes.\n"
"\n"
"options:\n"
"  -o, --out DIR        output root (may exist, but must not hold data yet)\n"
"  -s, --size SIZE      bytes of live SSTables to write, suffix K, M or G\n"
"                       (powers of 1024); the result is within about 5%%\n"
"      --seed N         seed of every random choice (default 1)\n"
"      --keyspaces K    number of keyspaces (default 2)\n"
"      --tables T       tables per keyspace (default 3)\n"
"      --jbod N         N data directories DIR/data1..dataN (default: one,\n"
"                       DIR/data)\n"
"      --snapshot TAG   snapshot tag (default snap1, or snap2 with --day2)\n"
"      --no-snapshot    take no snapshot\n"
"      --incremental    link flushed SSTables into backups/\n"
"      --clean          no tmp- leftover and no transaction log\n"
"      --day2           evolve DIR (made with the same --seed): compaction\n"
"                       of 20-30%% of each table's SSTables into one new\n"
"                       SSTable, 3-5%% new flushes, a new snapshot\n"
"  -j, --jobs N         worker threads (default: online CPUs, at most 16)\n"
"      --verify DIR     verify chunk checksums, LZ4 chunks and digests of\n"
"                       every SSTable under DIR (3.0+ CRC32, ka/la Adler32)\n"
"  -v, --verbose        more detail\n"
"  -h, --help           this text\n"
"\n"
"layout (one data directory):\n"
"  DIR/data/<ks>/<table>-<32 hex id>/nb-<gen>-big-{Data.db,Index.db,\n"
"      Summary.db,Filter.db,Statistics.db,CompressionInfo.db,Digest.crc32,\n"
"      TOC.txt}                     live SSTables, mtime 1700000000+gen*60\n"
"  .../snapshots/<TAG>/             hard links, manifest.json, schema.cql\n"
"  .../backups/                     hard links of flushed SSTables\n"
"  .../.<table>_<column>_idx/       secondary index SSTable (one table)\n"
"  .../tmp-nb-<gen>-big-Data.db     unfinished compaction and its log\n"
"  .../nb_txn_compaction_<uuid>.log   in the first table (not with --clean)\n"
"with --jbod N: DIR/data1..DIR/dataN each hold every table folder; each\n"
"SSTable lives in one of them (round-robin); the secondary index, leftovers,\n"
"manifest.json and schema.cql are in DIR/data1.\n");
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	double v = strtod(s, &end);
	uint64_t mul = 1;

	if (end == s || v < 0)
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		mul = 1024;
		end++;
		break;
	case 'm':
	case 'M':
		mul = 1024 * 1024;
		end++;
		break;
	case 'g':
	case 'G':
		mul = 1024ULL * 1024 * 1024;
		end++;
		break;
	case 't':
	case 'T':
		mul = 1024ULL * 1024 * 1024 * 1024;
		end++;
		break;
	default:
		break;
	}
	if (*end == 'i' || *end == 'B')
		end += (*end == 'i') + (end[*end == 'i'] == 'B');
	if (*end)
		return -EINVAL;
	*out = (uint64_t)(v * (double)mul);
	return 0;
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (end == s || *end || v < lo || v > hi)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static void print_summary(struct ctx *c, double secs, uint64_t removed_bytes,
			  size_t nremoved)
{
	struct sst_res tot = { 0 };
	uint64_t new_bytes = 0, live_files, live_bytes, tmp_bytes = 0;
	size_t nsst = 0;

	for (size_t i = 0; i < c->njobs; i++) {
		const struct job *j = &c->jobs[i];

		if (j->tmp) {
			tmp_bytes += j->res.bytes[C_DATA];
			continue;
		}
		nsst++;
		for (int k = 0; k < NCOMP; k++) {
			tot.bytes[k] += j->res.bytes[k];
			new_bytes += j->res.bytes[k];
		}
		tot.raw += j->res.raw;
		tot.partitions += j->res.partitions;
		tot.rows += j->res.rows;
		tot.chunks += j->res.chunks;
		tot.files += j->res.files;
	}
	count_live(c, &live_files, &live_bytes);
	printf("gen_dataset: %s %s: %zu tables, %u data dir%s, %zu new "
	       "sstables (%u files) in %.1f s\n",
	       c->day2 ? "day 2 of" : "day 1 in", c->out, (size_t)c->ntables,
	       c->ndirs, c->ndirs > 1 ? "s" : "", nsst, tot.files, secs);
	for (int k = 0; k < NCOMP; k++)
		printf("  %-20s %14" PRIu64 " bytes\n", comp_name[k],
		       tot.bytes[k]);
	printf("  Data.db raw %" PRIu64 " bytes, lz4 ratio %.2f, %" PRIu64
	       " chunks, %" PRIu64 " partitions, %" PRIu64 " rows\n",
	       tot.raw,
	       tot.bytes[C_DATA] ? (double)tot.raw / (double)tot.bytes[C_DATA] : 0,
	       tot.chunks, tot.partitions, tot.rows);
	if (tmp_bytes)
		printf("  tmp leftover %" PRIu64 " bytes\n", tmp_bytes);
	if (c->day2)
		printf("  compacted away %zu sstables, %" PRIu64 " bytes\n",
		       nremoved, removed_bytes);
	printf("summary: live_files=%" PRIu64 " live_bytes=%" PRIu64
	       " new_bytes=%" PRIu64 " new_sstables=%zu removed_sstables=%zu\n",
	       live_files, live_bytes, new_bytes, nsst, nremoved);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* After the jobs: backups/ links of flushed SSTables, then the snapshot. */
static int finish_links(struct ctx *c)
{
	int err = 0;

	if (c->incremental) {
		for (size_t i = 0; i < c->njobs && !err; i++) {
			const struct job *j = &c->jobs[i];

			if (j->flushed && !j->tmp && j->kind != K_INDEX)
				err = backup_sstable(j->dir, j->gen);
		}
	}
	for (unsigned ti = 0; ti < c->ntables && !err && !c->no_snapshot; ti++)
		err = snapshot_table(c, &c->tables[ti], c->tag);
	return err;
}

static int run_day1(struct ctx *c)
{
	char p[PATH_MAX];
	int err;

	if (!c->size) {
		fprintf(stderr, "missing --size\n");
		return -EINVAL;
	}
	/* Either layout already there means day 1 ran: never mix them. */
	pathf(p, sizeof(p), "%s/data", c->out);
	if (is_dir(p) || (pathf(p, sizeof(p), "%s/data1", c->out), is_dir(p))) {
		fprintf(stderr, "%s already exists (use --day2 to evolve it)\n",
			p);
		return -EEXIST;
	}
	err = plan_tables(c);
	if (!err)
		err = plan_day1(c);
	if (!err && !c->clean)
		err = plan_leftovers(c);
	for (unsigned ti = 0; ti < c->ntables && !err; ti++) {
		const struct table *t = &c->tables[ti];

		for (unsigned d = 0; d < c->ndirs && !err; d++) {
			err = table_dir(c, t, d, p, sizeof(p));
			if (!err)
				err = mkdir_p(p);
			if (!err && d == 0 && t->idx_name[0]) {
				size_t l = strlen(p);

				pathf(p + l, sizeof(p) - l, "/.%s",
					 t->idx_name);
				err = mkdir_p(p);
			}
		}
	}
	if (err)
		return err;
	err = run_jobs(c);
	if (!err && !c->clean)
		err = write_txn_log(c);
	if (!err)
		err = finish_links(c);
	return err;
}

static int run_day2(struct ctx *c, struct removal **rm, size_t *nrm,
		    uint64_t *removed_bytes)
{
	int err;

	err = detect_datadirs(c);
	if (err) {
		fprintf(stderr, "cannot open %s/data: no data directory "
				"(run day 1 first)\n",
			c->out);
		return err;
	}
	err = scan_tables(c);
	if (err)
		return err;
	if (!c->ntables) {
		fprintf(stderr, "no tables under %s\n", c->datadir[0]);
		return -ENOENT;
	}
	if (!c->no_snapshot && snapshot_exists(c, c->tag)) {
		fprintf(stderr, "snapshot %s already exists (choose another "
				"--snapshot tag)\n",
			c->tag);
		return -EEXIST;
	}
	err = day2(c, rm, nrm, removed_bytes);
	if (!err)
		err = run_jobs(c);
	/* The compaction's inputs go only once its output is complete. */
	for (size_t i = 0; i < *nrm && !err; i++) {
		char tdir[PATH_MAX];

		err = table_dir(c, (*rm)[i].t, (*rm)[i].dir, tdir, sizeof(tdir));
		if (!err)
			err = remove_sstable(tdir, (*rm)[i].gen);
	}
	if (!err)
		err = finish_links(c);
	return err;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "size", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ "keyspaces", required_argument, NULL, 'K' },
		{ "tables", required_argument, NULL, 'T' },
		{ "jbod", required_argument, NULL, 'J' },
		{ "snapshot", required_argument, NULL, 'n' },
		{ "no-snapshot", no_argument, NULL, 'N' },
		{ "incremental", no_argument, NULL, 'i' },
		{ "clean", no_argument, NULL, 'c' },
		{ "day2", no_argument, NULL, '2' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "verify", required_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctx c = { .seed = 1, .nks = 2, .ntab = 3, .jbod = 0 };
	const char *verify = NULL;
	struct removal *rm = NULL;
	size_t nrm = 0;
	uint64_t removed_bytes = 0;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	double t0;
	int opt, err = 0;
	char *end;

	c.nthreads = ncpu > 0 ? (unsigned)SV_MIN(ncpu, 16L) : 1;
	while ((opt = getopt_long(argc, argv, "o:s:j:vh", lo, NULL)) != -1) {
		switch (opt) {
		case 'o':
			c.out = optarg;
			break;
		case 's':
			if (parse_size(optarg, &c.size) < 0) {
				fprintf(stderr, "invalid --size %s\n", optarg);
				return 2;
			}
			break;
		case 'S':
			c.seed = strtoull(optarg, &end, 0);
			if (end == optarg || *end) {
				fprintf(stderr, "invalid --seed %s\n", optarg);
				return 2;
			}
			break;
		case 'K':
			if (parse_uint(optarg, 1, 64, &c.nks) < 0) {
				fprintf(stderr, "invalid --keyspaces %s\n", optarg);
				return 2;
			}
			break;
		case 'T':
			if (parse_uint(optarg, 1, 64, &c.ntab) < 0) {
				fprintf(stderr, "invalid --tables %s\n", optarg);
				return 2;
			}
			break;
		case 'J':
			if (parse_uint(optarg, 1, MAX_DIRS, &c.jbod) < 0) {
				fprintf(stderr, "invalid --jbod %s\n", optarg);
				return 2;
			}
			break;
		case 'n':
			if (!*optarg || strchr(optarg, '/')) {
				fprintf(stderr, "invalid --snapshot %s\n", optarg);
				return 2;
			}
			c.tag = optarg;
			break;
		case 'N':
			c.no_snapshot = true;
			break;
		case 'i':
			c.incremental = true;
			break;
		case 'c':
			c.clean = true;
			break;
		case '2':
			c.day2 = true;
			break;
		case 'j':
			if (parse_uint(optarg, 1, 64, &c.nthreads) < 0) {
				fprintf(stderr, "invalid --jobs %s\n", optarg);
				return 2;
			}
			break;
		case 'V':
			verify = optarg;
			break;
		case 'v':
			c.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "unexpected argument %s\n", argv[optind]);
		return 2;
	}
	if (verify)
		return cmd_verify(verify, c.verbose);
	if (!c.out) {
		usage(stderr);
		return 2;
	}
	if (!c.tag)
		c.tag = c.day2 ? "snap2" : "snap1";
	c.global_seed = mix3(c.seed, 0x5eed, 0x6e62);
	hist_offsets(part_hist_off, PART_HIST_N);
	hist_offsets(cell_hist_off, CELL_HIST_N);
	{
		uint64_t x = mix3(c.global_seed, 0xc11e, 0);

		for (int i = 0; i < 8; i++)
			client_ids[i] = splitmix64(&x);
	}
	err = corpus_build(c.seed);
	if (err)
		goto out;
	t0 = now_s();
	if (!c.day2) {
		if (c.jbod) {
			c.ndirs = c.jbod;
			for (unsigned d = 0; d < c.jbod; d++)
				pathf(c.datadir[d], sizeof(c.datadir[d]),
					 "%s/data%u", c.out, d + 1);
		} else {
			c.ndirs = 1;
			pathf(c.datadir[0], sizeof(c.datadir[0]), "%s/data",
				 c.out);
		}
		err = run_day1(&c);
	} else {
		err = run_day2(&c, &rm, &nrm, &removed_bytes);
	}
	if (!err)
		print_summary(&c, now_s() - t0, removed_bytes, nrm);
out:
	free(corpus);
	free(c.tables);
	free(c.jobs);
	free(rm);
	if (err) {
		fprintf(stderr, "gen_dataset: %s\n", strerror(-err));
		return 1;
	}
	return 0;
}
