/*
 * s3.c - the S3 backend: multipart uploads and ranged reads over one libcurl
 * multi handle, SigV4 by libcurl, retries with full-jitter backoff, a
 * request window that shrinks on throttling, and bandwidth caps shared by
 * all transfers.
 *
 * The request engine
 * ------------------
 * Every request, blocking or not, is a `struct s3_req` driven by the same
 * CURLM handle, so all of them share one connection cache, one retry policy
 * and one bandwidth budget. The request slots are allocated once at init():
 * `connections` slots for asynchronous work (UploadPart, ranged GET) and one
 * slot for the blocking operations (put, get, stat, list, complete, ...).
 * A blocking call runs its request with s3_step() in a loop until that
 * request is done; meanwhile the asynchronous transfers keep moving and
 * their completions wait in their slots for reap(). That is why a blocking
 * put() of an index object does not stall the packs being uploaded.
 *
 * A slot goes FREE -> WAIT -> ACTIVE -> (WAIT again for a retry) -> DONE ->
 * FREE. WAIT slots are started in submission order by pump() when their
 * backoff has expired and the window allows; an asynchronous slot stays
 * DONE, holding its result, until reap() hands its cookie back. put_part()
 * and get_part() return SV_Q_BUSY when no slot is FREE, so the memory the
 * caller has in flight is bounded by `connections` buffers.
 *
 * Everything here belongs to the one thread that drives the uploader (the
 * interface's rule): there are no locks, and curl's callbacks run inside
 * curl_multi_perform() on that thread.
 *
 * Failures
 * --------
 * A request that fails with a curl transport error (timeout, reset,
 * refused connection), an HTTP 5xx or 429, or one of the few 4xx codes that
 * mean "try again" (RequestTimeout, BadDigest) goes back to WAIT with a
 * full-jitter delay (AWS architecture blog, "Exponential Backoff And
 * Jitter"): uniform in [0, min(cap, base * 2^(attempt-1))]. After
 * `retries` attempts it fails with -EAGAIN. Everything else fails at once:
 * 403 -> -EACCES, 404 -> -ENOENT, 412 -> -EEXIST, other -> -EIO, with the
 * S3 error Code and the object in u->errbuf.
 *
 * Throttling (503 SlowDown, 429) also halves the window of asynchronous
 * requests allowed to run at once (minimum 1); every `window` successes
 * raise it by one again, up to `connections` (TCP's AIMD). Throttled
 * answers that arrive together count as one signal: only a request started
 * after the last cut can cut again, so eight parts bounced by one overload
 * halve the window once, not eight times.
 *
 * Bandwidth
 * ---------
 * limit_upload / limit_download are token buckets shared by all transfers.
 * The read callback takes tokens before it hands curl more of a body and
 * answers CURL_READFUNC_PAUSE when the bucket is empty; the write callback
 * does the same for ranged GET bodies with CURL_WRITEFUNC_PAUSE. s3_step()
 * refills the buckets and resumes paused transfers round-robin with
 * curl_easy_pause(). Two simpler designs were rejected:
 * CURLOPT_MAX_SEND_SPEED_LARGE divided by the number of transfers wastes the
 * budget whenever one transfer is slow or waiting on the server, and has to
 * be re-set on every start and finish; pacing request starts is far too
 * coarse with 16 MiB parts (one part is two seconds at 8 MiB/s). Grants may
 * overdraw the bucket by one read (at most rate/16), which is paid back
 * before anyone sends again, so the average rate is exact.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "uploaders/s3.h"
#include "uploaders/uploader.h"

#define S3_MIN_PART (5ull << 20)       /* S3: every part but the last */
#define S3_DEF_PART (16ull << 20)
#define S3_MAX_PART (5ull << 30)
#define S3_MAX_PARTS 10000u
#define S3_DEF_CONNS 8u
#define S3_MAX_CONNS 256u
#define S3_DEF_ATTEMPTS 8u
#define S3_DEF_BASE_MS 100u
#define S3_DEF_CAP_MS 10000u
#define S3_KEY_MAX 1024                /* S3's own limit, in bytes */
#define S3_URL_MAX 8192
#define S3_WHAT_MAX (S3_KEY_MAX + 80)
#define S3_ETAG_MAX 96
#define S3_UPLOAD_ID_MAX 512
#define S3_ERR_BODY_MAX (64u << 10)    /* error XML of data requests */
#define S3_XML_BODY_MAX (16u << 20)    /* list pages and other answers */
#define S3_SHA_BODY_MAX (256u << 10)   /* sign the SHA-256 up to this size */
#define S3_DELETE_BATCH 1000u          /* DeleteObjects' limit */
#define S3_ERRMSG_MAX 400

/* SHA-256 of the empty string: the payload hash of bodiless requests. */
static const char s3_empty_sha[] =
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

enum s3_method { M_GET, M_HEAD, M_PUT, M_POST, M_DELETE };
static const char *const s3_method_name[] = {
	"GET", "HEAD", "PUT", "POST", "DELETE",
};

enum req_kind {
	RK_SYNC,  /* blocking operation; its caller waits for it */
	RK_PART,  /* UploadPart, completion through reap() */
	RK_RANGE, /* ranged GET, completion through reap() */
};

enum req_state { RS_FREE, RS_WAIT, RS_ACTIVE, RS_DONE };

enum { PAUSE_NONE, PAUSE_SEND, PAUSE_RECV };

/* A bounded, NUL-terminated growable buffer for response bodies. */
struct s3_buf {
	char *data;
	size_t len, cap, max;
	int overflow; /* more than max arrived */
};

/* A token bucket in bytes; rate 0 means unlimited. */
struct s3_tb {
	uint64_t rate;   /* bytes per second */
	double tokens;   /* may go below zero by one grant */
	double burst;    /* refills stop here */
	size_t grant;    /* most bytes handed out per callback */
	uint64_t last_ns;
};

struct s3_priv;
struct s3_upload;

/* One request slot. Owned by the driving thread, like everything here. */
struct s3_req {
	struct s3_priv *p;
	CURL *easy;                 /* created once, reused for every request */
	struct curl_slist *hdrs;
	enum req_kind kind;
	enum req_state state;
	enum s3_method method;
	int in_multi;
	int paused;                 /* PAUSE_*: waiting for bandwidth tokens */
	char url[S3_URL_MAX];
	char what[S3_WHAT_MAX];     /* "s3://bucket/key" for messages */

	/* Request body, borrowed from the caller until the slot is DONE. */
	const uint8_t *tx;
	size_t tx_len, tx_off;

	/* 2xx bodies of data GETs go to rx (the caller's buffer); every other
	 * body (XML answers and errors) goes to body. */
	uint8_t *rx;
	size_t rx_cap, rx_len;
	int rx_overflow;
	struct s3_buf body;

	/* Response, reset before every attempt. */
	long status;
	char etag[S3_ETAG_MAX];     /* without the quotes */
	uint64_t clen;
	int have_clen;
	uint64_t crange_first;      /* Content-Range: bytes FIRST-LAST/TOTAL */
	uint64_t crange_total;
	int have_crange;
	int etag_not_md5;           /* SSE-KMS / SSE-C answer: see req_header */
	CURLcode cres;
	char cerr[CURL_ERROR_SIZE];
	char code[64];              /* S3 error Code of the last failure */

	/* Scheduling. */
	unsigned attempt;           /* retries done so far */
	uint64_t seq;               /* submission order */
	uint64_t not_before_ms;     /* backoff: do not start before */
	uint64_t started_ms;
	uint64_t done_seq;          /* completion order, for reap() */

	/* Completion. */
	void *cookie;
	struct s3_upload *up;       /* RK_PART: its upload (NULL if aborted) */
	uint32_t part;
	uint8_t md5[16];            /* RK_PART: Content-MD5 we sent */
	uint64_t off;               /* ranged GETs: first byte asked for */
	ssize_t res;
	char emsg[S3_ERRMSG_MAX];   /* detail of the last failed attempt */
};

/* One multipart upload: the private state behind upl_write.priv. */
struct s3_upload {
	struct upl_write *w;
	struct s3_upload *next, *prev;  /* p->uploads, freed by cleanup */
	char key[S3_KEY_MAX + 1];
	char upload_id[S3_UPLOAD_ID_MAX];
	uint32_t nparts;     /* parts submitted */
	uint32_t pending;    /* submitted and not finished */
	uint32_t short_part; /* number of a part below S3_MIN_PART, or 0 */
	uint32_t cap;
	uint8_t (*md5)[16];  /* md5[i]: binary MD5 of part i + 1 */
};

struct s3_priv {
	struct uploader *u;
	CURLM *multi;
	int curl_inited;

	/* Where. */
	char bucket[64];
	char prefix[S3_KEY_MAX + 1];  /* "" or ending in '/' */
	size_t prefix_len;
	char base[1024];              /* URL of the bucket, ending in '/' */
	char region[64];
	char sigv4[128];              /* "aws:amz:<region>:s3" */
	int https;

	/* Who. Wiped by cleanup. */
	char access[256];
	char secret[256];
	char *token_hdr;              /* "x-amz-security-token: ..." or NULL */

	/* TLS. */
	char ca_file[1024];
	char client_cert[1024];
	char client_key[1024];

	/* Tuning, from upl_opts with defaults applied. */
	unsigned conns;
	unsigned attempts;
	unsigned base_ms, cap_ms;
	unsigned list_page;
	uint64_t part_size;

	/* Requests: reqs[0..conns-1] asynchronous, reqs[conns] blocking. */
	struct s3_req *reqs;
	unsigned nreq;
	unsigned active_async;        /* asynchronous slots ACTIVE in curl */
	unsigned window;              /* how many of those may be ACTIVE */
	unsigned win_ok;              /* successes since the last raise */
	uint64_t last_cut_ms;
	uint64_t seq, done_seq;

	/* Bandwidth. */
	struct s3_tb up, down;
	unsigned rr;                  /* round-robin start for resuming */

	int etag_not_md5;             /* some answer used SSE-KMS or SSE-C */
	uint64_t rng;                 /* xorshift state for the jitter */
	struct s3_upload *uploads;    /* live uploads */
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ms(void)
{
	return now_ns() / 1000000ull;
}

static uint64_t rng_next(struct s3_priv *p)
{
	/* xorshift64*: the jitter needs spread, not secrecy. */
	p->rng ^= p->rng >> 12;
	p->rng ^= p->rng << 25;
	p->rng ^= p->rng >> 27;
	return p->rng * 2685821657736338717ull;
}

static void buf_reset(struct s3_buf *b)
{
	b->len = 0;
	b->overflow = 0;
	if (b->data)
		b->data[0] = '\0';
}

/* Append, keeping a NUL after the data; past max only the flag is set. */
static int buf_add(struct s3_buf *b, const void *d, size_t n)
{
	if (b->len + n > b->max) {
		b->overflow = 1;
		n = b->max - b->len;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *nd;

		while (cap < b->len + n + 1)
			cap *= 2;
		nd = realloc(b->data, cap);
		if (!nd) {
			b->overflow = 1;
			return -ENOMEM;
		}
		b->data = nd;
		b->cap = cap;
	}
	memcpy(b->data + b->len, d, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static void md5_of(uint8_t out[16], const void *d, size_t n)
{
	unsigned int len = 16;

	if (!EVP_Digest(d, n, out, &len, EVP_md5(), NULL))
		memset(out, 0, 16);
}

static void sha256_hex(char out[65], const void *d, size_t n)
{
	uint8_t h[32];
	unsigned int len = 32;

	if (!EVP_Digest(d, n, h, &len, EVP_sha256(), NULL))
		memset(h, 0, sizeof(h));
	sv_hex(out, h, 32);
}

static void base64_of(char *out, const uint8_t *d, size_t n)
{
	EVP_EncodeBlock((unsigned char *)out, d, (int)n);
}

/*
 * Percent-encode s into out as SigV4 wants it (RFC 3986 unreserved
 * characters kept, everything else %XX), keeping '/' if keep_slash.
 * Return: the length, or -ENAMETOOLONG.
 */
static int url_enc(char *out, size_t cap, const char *s, int keep_slash)
{
	static const char hx[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '_' || c == '.' ||
		    c == '~' || (keep_slash && c == '/')) {
			if (o + 1 >= cap)
				return -ENAMETOOLONG;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= cap)
				return -ENAMETOOLONG;
			out[o++] = '%';
			out[o++] = hx[c >> 4];
			out[o++] = hx[c & 15];
		}
	}
	if (o >= cap)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return (int)o;
}

/* ------------------------------------------------------------------ */
/* Minimal XML: S3 answers are flat, tag names are known, and text is   */
/* entity-escaped, so a tag can never appear inside a value.           */
/* ------------------------------------------------------------------ */

/*
 * Find <tag>text</tag> in [s, end). Return a pointer to text and its length
 * in *len, with *after set past the closing tag; NULL if absent.
 */
static const char *xml_find(const char *s, const char *end, const char *tag,
			    size_t *len, const char **after)
{
	char open[64], close[64];
	int ol, cl;
	const char *a, *b;

	ol = snprintf(open, sizeof(open), "<%s>", tag);
	cl = snprintf(close, sizeof(close), "</%s>", tag);
	if (!s || s >= end)
		return NULL;
	a = memmem(s, (size_t)(end - s), open, (size_t)ol);
	if (!a)
		return NULL;
	a += ol;
	b = memmem(a, (size_t)(end - a), close, (size_t)cl);
	if (!b)
		return NULL;
	*len = (size_t)(b - a);
	if (after)
		*after = b + cl;
	return a;
}

static size_t utf8_put(char *o, unsigned long c)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xc0 | (c >> 6));
		o[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (char)(0xe0 | (c >> 12));
		o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		o[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (c >> 18));
	o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	o[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/*
 * Copy XML text into out, resolving the five predefined entities and
 * numeric character references.
 * Return: the length, -ENAMETOOLONG if it does not fit, -EBADMSG for an
 * entity this parser does not know.
 */
static int xml_text(char *out, size_t cap, const char *s, size_t n)
{
	static const struct {
		const char *name;
		char c;
	} ent[] = {
		{ "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' },
		{ "quot;", '"' }, { "apos;", '\'' },
	};
	size_t o = 0, i = 0;

	while (i < n) {
		char tmp[4];
		size_t tl = 1;

		if (s[i] != '&') {
			tmp[0] = s[i++];
		} else {
			size_t k, rest = n - i - 1;
			const char *e = s + i + 1;

			for (k = 0; k < SV_ARRAY_SIZE(ent); k++) {
				size_t el = strlen(ent[k].name);

				if (rest >= el && !memcmp(e, ent[k].name, el)) {
					tmp[0] = ent[k].c;
					i += 1 + el;
					break;
				}
			}
			if (k == SV_ARRAY_SIZE(ent)) {
				const char *semi = memchr(e, ';', rest);
				unsigned long c;
				char num[16], *endp;
				size_t nl;

				if (!semi || rest < 2 || e[0] != '#')
					return -EBADMSG;
				nl = (size_t)(semi - e) - 1;
				if (nl == 0 || nl >= sizeof(num) - 1)
					return -EBADMSG;
				memcpy(num, e + 1, nl);
				num[nl] = '\0';
				if (num[0] == 'x' || num[0] == 'X')
					c = strtoul(num + 1, &endp, 16);
				else
					c = strtoul(num, &endp, 10);
				if (*endp || c == 0 || c > 0x10ffff)
					return -EBADMSG;
				tl = utf8_put(tmp, c);
				i = (size_t)(semi - s) + 1;
			}
		}
		if (o + tl >= cap)
			return -ENAMETOOLONG;
		memcpy(out + o, tmp, tl);
		o += tl;
	}
	if (o >= cap)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return (int)o;
}

/* Find a tag and copy its unescaped text; "" if absent or too long. */
static int xml_get(char *out, size_t cap, const char *s, const char *end,
		   const char *tag)
{
	size_t n;
	const char *t = xml_find(s, end, tag, &n, NULL);
	int rc;

	out[0] = '\0';
	if (!t)
		return -ENOENT;
	rc = xml_text(out, cap, t, n);
	if (rc < 0)
		out[0] = '\0';
	return rc;
}

/* Escape text for an XML body. Return: length or -ENAMETOOLONG. */
static int xml_escape(char *out, size_t cap, const char *s)
{
	size_t o = 0;

	for (; *s; s++) {
		const char *r = NULL;
		char one[2] = { *s, 0 };
		size_t rl;

		switch (*s) {
		case '&': r = "&amp;"; break;
		case '<': r = "&lt;"; break;
		case '>': r = "&gt;"; break;
		case '"': r = "&quot;"; break;
		case '\'': r = "&apos;"; break;
		default: r = one; break;
		}
		rl = strlen(r);
		if (o + rl >= cap)
			return -ENAMETOOLONG;
		memcpy(out + o, r, rl);
		o += rl;
	}
	out[o] = '\0';
	return (int)o;
}

/* "2024-01-02T03:04:05.000Z" -> Unix seconds; 0 if unparsable. */
static int64_t iso8601(const char *s)
{
	struct tm tm;
	int y, mo, d, h, mi, se;

	if (sscanf(s, "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &se) != 6)
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	return (int64_t)timegm(&tm);
}

/* ------------------------------------------------------------------ */
/* Bandwidth buckets                                                   */
/* ------------------------------------------------------------------ */

static void tb_init(struct s3_tb *b, uint64_t rate)
{
	memset(b, 0, sizeof(*b));
	b->rate = rate;
	if (!rate)
		return;
	/*
	 * A burst of 50 ms worth keeps the average honest over a short
	 * measurement while letting a transfer that was paused catch up a
	 * little; grants of rate/16 (at least 4 KiB, at most 256 KiB) keep the
	 * overdraft small and the pauses short.
	 */
	b->burst = SV_MAX((double)rate / 20.0, 4096.0);
	b->grant = (size_t)SV_MIN(SV_MAX(rate / 16, 4096ull), 256ull << 10);
	b->tokens = 0;
	b->last_ns = now_ns();
}

static void tb_refill(struct s3_tb *b, uint64_t ns)
{
	if (!b->rate || ns <= b->last_ns)
		return;
	b->tokens += (double)(ns - b->last_ns) * (double)b->rate / 1e9;
	if (b->tokens > b->burst)
		b->tokens = b->burst;
	b->last_ns = ns;
}

/* Milliseconds until the bucket holds tokens again (at least 1). */
static int tb_wait_ms(const struct s3_tb *b)
{
	double ms;

	if (!b->rate || b->tokens > 0)
		return 0;
	ms = (1.0 - b->tokens) * 1000.0 / (double)b->rate;
	return ms < 1 ? 1 : ms > 1000 ? 1000 : (int)ms + 1;
}

/* ------------------------------------------------------------------ */
/* curl callbacks                                                      */
/* ------------------------------------------------------------------ */

static size_t req_read(char *dst, size_t size, size_t nitems, void *arg)
{
	struct s3_req *r = arg;
	struct s3_priv *p = r->p;
	size_t want = size * nitems, left = r->tx_len - r->tx_off;

	if (!left)
		return 0;
	if (want > left)
		want = left;
	if (p->up.rate) {
		tb_refill(&p->up, now_ns());
		if (p->up.tokens <= 0) {
			r->paused = PAUSE_SEND;
			return CURL_READFUNC_PAUSE;
		}
		if (want > p->up.grant)
			want = p->up.grant;
		p->up.tokens -= (double)want;
	}
	memcpy(dst, r->tx + r->tx_off, want);
	r->tx_off += want;
	p->u->stats.bytes_up += want;
	return want;
}

/* curl rewinds the body when it must send it again on the same attempt. */
static int req_seek(void *arg, curl_off_t off, int origin)
{
	struct s3_req *r = arg;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->tx_len)
		return CURL_SEEKFUNC_FAIL;
	r->tx_off = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

static size_t req_write(char *data, size_t size, size_t nitems, void *arg)
{
	struct s3_req *r = arg;
	struct s3_priv *p = r->p;
	size_t n = size * nitems;

	if (r->rx && r->status >= 200 && r->status < 300) {
		if (p->down.rate) {
			tb_refill(&p->down, now_ns());
			if (p->down.tokens <= 0) {
				r->paused = PAUSE_RECV;
				return CURL_WRITEFUNC_PAUSE;
			}
			/* A write cannot be split: take it all and let
			 * the bucket go into debt (at most one curl
			 * buffer). */
			p->down.tokens -= (double)n;
		}
		if (n > r->rx_cap - r->rx_len) {
			r->rx_overflow = 1;
			return 0;
		}
		memcpy(r->rx + r->rx_len, data, n);
		r->rx_len += n;
		p->u->stats.bytes_down += n;
		return n;
	}
	/* An XML answer or an error body. Error bodies are cut at their
	 * max; an answer we need whole fails the transfer instead. */
	if (buf_add(&r->body, data, n) == -ENOMEM)
		return 0;
	if (r->body.overflow && r->status >= 200 && r->status < 300)
		return 0;
	return n;
}

static size_t req_header(char *buf, size_t size, size_t nitems, void *arg)
{
	struct s3_req *r = arg;
	size_t n = size * nitems;
	char line[1024], *v, *e;

	memcpy(line, buf, SV_MIN(n, sizeof(line) - 1));
	line[SV_MIN(n, sizeof(line) - 1)] = '\0';
	if (!strncmp(line, "HTTP/", 5)) {
		/* A new status line (after a 100 Continue, too): start over. */
		v = strchr(line, ' ');
		r->status = v ? strtol(v + 1, NULL, 10) : 0;
		r->etag[0] = '\0';
		r->have_clen = 0;
		r->have_crange = 0;
		r->etag_not_md5 = 0;
		return n;
	}
	v = strchr(line, ':');
	if (!v)
		return n;
	*v++ = '\0';
	while (*v == ' ' || *v == '\t')
		v++;
	e = v + strlen(v);
	while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
		*--e = '\0';
	if (!strcasecmp(line, "ETag")) {
		if (*v == '"')
			v++;
		e = v + strlen(v);
		if (e > v && e[-1] == '"')
			*--e = '\0';
		snprintf(r->etag, sizeof(r->etag), "%s", v);
	} else if (!strcasecmp(line, "Content-Length")) {
		r->clen = strtoull(v, NULL, 10);
		r->have_clen = 1;
	} else if (!strcasecmp(line, "Content-Range")) {
		unsigned long long first, last, total;

		if (sscanf(v, "bytes %llu-%llu/%llu", &first, &last,
			   &total) == 3) {
			r->crange_first = first;
			r->crange_total = total;
			r->have_crange = 1;
		}
	} else if ((!strcasecmp(line, "x-amz-server-side-encryption") &&
		    !strncmp(v, "aws:kms", 7)) ||
		   !strcasecmp(line, "x-amz-server-side-encryption-customer-"
			       "algorithm")) {
		/*
		 * With SSE-KMS or SSE-C the ETag is not the MD5 of the data.
		 * S3 still checked our Content-MD5, so only the ETag
		 * comparison is skipped.
		 */
		r->etag_not_md5 = 1;
		r->p->etag_not_md5 = 1;
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* Request setup                                                       */
/* ------------------------------------------------------------------ */

/* What one request is; req_prepare() turns it into curl options. */
struct rq {
	enum s3_method method;
	const char *key;        /* full key, or NULL for the bucket */
	const char *query;      /* canonical query string (sorted), or NULL */
	const void *body;
	size_t body_len;
	const uint8_t *md5;     /* Content-MD5 to send, or NULL */
	const char *range;      /* Range header value, or NULL */
	int if_none_match;      /* If-None-Match: * */
	const char *content_type;
	uint8_t *rx;            /* data sink for 2xx GETs, or NULL */
	size_t rx_cap;
	size_t body_max;        /* bound on XML bodies (default error max) */
};

static int req_prepare(struct s3_priv *p, struct s3_req *r,
		       const struct rq *q)
{
	char ekey[3 * S3_KEY_MAX + 1], h[256], sha[65];
	CURL *e = r->easy;
	int n;

	curl_slist_free_all(r->hdrs);
	r->hdrs = NULL;
	r->method = q->method;
	r->tx = q->body;
	r->tx_len = q->body_len;
	r->rx = q->rx;
	r->rx_cap = q->rx_cap;
	r->body.max = q->body_max ? q->body_max : S3_ERR_BODY_MAX;
	r->attempt = 0;
	r->res = 0;
	r->emsg[0] = '\0';
	r->code[0] = '\0';

	if (url_enc(ekey, sizeof(ekey), q->key ? q->key : "", 1) < 0)
		return -ENAMETOOLONG;
	n = snprintf(r->url, sizeof(r->url), "%s%s%s%s", p->base, ekey,
		     q->query ? "?" : "", q->query ? q->query : "");
	if (n < 0 || (size_t)n >= sizeof(r->url))
		return -ENAMETOOLONG;
	snprintf(r->what, sizeof(r->what), "s3://%s/%s", p->bucket,
		 q->key ? q->key : "");

	/*
	 * libcurl 7.88 signs every header we add, and takes the payload hash
	 * from our x-amz-content-sha256 (it does not add that header itself,
	 * and S3 requires it). Small bodies are hashed; large ones (parts,
	 * big objects) go as UNSIGNED-PAYLOAD with a Content-MD5, which S3
	 * checks, so the body is still protected against corruption and we
	 * hash it once (MD5, needed for the ETag check anyway) instead of
	 * twice.
	 */
	if (!q->body_len)
		snprintf(sha, sizeof(sha), "%s", s3_empty_sha);
	else if (q->body_len <= S3_SHA_BODY_MAX || !q->md5)
		sha256_hex(sha, q->body, q->body_len);
	else
		snprintf(sha, sizeof(sha), "UNSIGNED-PAYLOAD");
	snprintf(h, sizeof(h), "x-amz-content-sha256: %s", sha);
	r->hdrs = curl_slist_append(r->hdrs, h);
	if (q->md5) {
		char b64[32];

		base64_of(b64, q->md5, 16);
		snprintf(h, sizeof(h), "Content-MD5: %s", b64);
		r->hdrs = curl_slist_append(r->hdrs, h);
	}
	if (q->range) {
		snprintf(h, sizeof(h), "Range: %s", q->range);
		r->hdrs = curl_slist_append(r->hdrs, h);
	}
	if (q->if_none_match)
		r->hdrs = curl_slist_append(r->hdrs, "If-None-Match: *");
	if (q->content_type) {
		snprintf(h, sizeof(h), "Content-Type: %s", q->content_type);
		r->hdrs = curl_slist_append(r->hdrs, h);
	} else if (q->method == M_POST || q->method == M_PUT) {
		/* curl would add a form content type to POSTs. */
		r->hdrs = curl_slist_append(r->hdrs,
			"Content-Type: application/octet-stream");
	}
	if (p->token_hdr)
		r->hdrs = curl_slist_append(r->hdrs, p->token_hdr);
	if (!r->hdrs)
		return -ENOMEM;

	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->cerr);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/* S3 speaks HTTP/1.1; one connection per request in flight is what
	 * spreads the load over the servers behind the endpoint. */
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, p->https ? "https" : "http");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_AWS_SIGV4, p->sigv4);
	curl_easy_setopt(e, CURLOPT_USERNAME, p->access);
	curl_easy_setopt(e, CURLOPT_PASSWORD, p->secret);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, req_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, req_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	/* No total timeout (a capped 16 MiB part may take long); a transfer
	 * that moves nothing for 60 s is dead and gets retried. */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 128L << 10);
	curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 256L << 10);
	if (p->https) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
		if (p->ca_file[0])
			curl_easy_setopt(e, CURLOPT_CAINFO, p->ca_file);
		if (p->client_cert[0])
			curl_easy_setopt(e, CURLOPT_SSLCERT, p->client_cert);
		if (p->client_key[0])
			curl_easy_setopt(e, CURLOPT_SSLKEY, p->client_key);
	}
	switch (q->method) {
	case M_GET:
		break;
	case M_HEAD:
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
		break;
	case M_PUT:
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)q->body_len);
		break;
	case M_POST:
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)q->body_len);
		break;
	case M_DELETE:
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
		break;
	}
	if (q->method == M_PUT || q->method == M_POST) {
		curl_easy_setopt(e, CURLOPT_READFUNCTION, req_read);
		curl_easy_setopt(e, CURLOPT_READDATA, r);
		curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, req_seek);
		curl_easy_setopt(e, CURLOPT_SEEKDATA, r);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The engine: start, finish, retry, step                              */
/* ------------------------------------------------------------------ */

static void seterr_req(struct s3_priv *p, struct s3_req *r, const char *fmt,
		       ...) __attribute__((format(printf, 3, 4)));

static void seterr_req(struct s3_priv *p, struct s3_req *r, const char *fmt,
		       ...)
{
	char msg[S3_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	uploader_seterr(p->u, "%s: %s %s", r->what,
			s3_method_name[r->method], msg);
}

/* Reset what an attempt leaves behind. */
static void req_reset_response(struct s3_req *r)
{
	r->status = 0;
	r->etag[0] = '\0';
	r->have_clen = 0;
	r->clen = 0;
	r->have_crange = 0;
	r->cres = CURLE_OK;
	r->etag_not_md5 = 0;
	r->cerr[0] = '\0';
	r->rx_len = 0;
	r->rx_overflow = 0;
	r->tx_off = 0;
	r->paused = PAUSE_NONE;
	buf_reset(&r->body);
}

/* Hand a slot to the engine: it starts when the window and its backoff
 * allow, in submission order. */
static void req_submit(struct s3_priv *p, struct s3_req *r, enum req_kind k)
{
	r->kind = k;
	r->state = RS_WAIT;
	r->not_before_ms = 0;
	r->seq = ++p->seq;
}

static void req_complete(struct s3_priv *p, struct s3_req *r, ssize_t res)
{
	r->res = res;
	r->state = RS_DONE;
	r->done_seq = ++p->done_seq;
	if (r->kind == RK_PART && r->up) {
		struct s3_upload *up = r->up;

		up->pending--;
		if (res < 0 && !up->w->err)
			up->w->err = (int)res;
		if (res >= 0)
			p->u->stats.parts_put++;
	} else if (r->kind == RK_RANGE && res >= 0) {
		p->u->stats.gets++;
	}
}

static int req_start(struct s3_priv *p, struct s3_req *r, uint64_t now)
{
	CURLMcode mc;

	req_reset_response(r);
	mc = curl_multi_add_handle(p->multi, r->easy);
	if (mc != CURLM_OK) {
		snprintf(r->emsg, sizeof(r->emsg), "cannot start: %s",
			 curl_multi_strerror(mc));
		seterr_req(p, r, "%s", r->emsg);
		req_complete(p, r, -EIO);
		return -EIO;
	}
	r->in_multi = 1;
	r->state = RS_ACTIVE;
	r->started_ms = now;
	if (r->kind != RK_SYNC) {
		p->active_async++;
		p->u->stats.inflight = p->active_async;
		if (p->active_async > p->u->stats.inflight_max)
			p->u->stats.inflight_max = p->active_async;
	}
	return 0;
}

/* Take a slot out of curl (finished or cancelled). */
static void req_detach(struct s3_priv *p, struct s3_req *r)
{
	if (!r->in_multi)
		return;
	curl_multi_remove_handle(p->multi, r->easy);
	r->in_multi = 0;
	r->paused = PAUSE_NONE;
	if (r->kind != RK_SYNC) {
		p->active_async--;
		p->u->stats.inflight = p->active_async;
	}
}

/*
 * Start waiting slots whose backoff has expired, oldest first, while the
 * window has room (blocking requests ignore the window: their caller is
 * waiting, and there is only one of them). Return the earliest future
 * not_before among those left waiting, 0 if none.
 */
static uint64_t pump(struct s3_priv *p, uint64_t now)
{
	for (;;) {
		struct s3_req *best = NULL;
		uint64_t wake = 0;

		for (unsigned i = 0; i < p->nreq; i++) {
			struct s3_req *r = &p->reqs[i];

			if (r->state != RS_WAIT)
				continue;
			if (r->not_before_ms > now) {
				if (!wake || r->not_before_ms < wake)
					wake = r->not_before_ms;
				continue;
			}
			if (r->kind != RK_SYNC && p->active_async >= p->window)
				continue;
			if (!best || r->seq < best->seq)
				best = r;
		}
		if (!best)
			return wake;
		req_start(p, best, now);
	}
}

static int curl_retryable(CURLcode c)
{
	switch ((int)c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SEND_FAIL_REWIND:
		return 1;
	default:
		return 0;
	}
}

/* S3 error codes that mean "send it again" even on a 4xx or a 200. */
static int code_retryable(const char *code)
{
	static const char *const codes[] = {
		"InternalError", "SlowDown", "ServiceUnavailable",
		"RequestTimeout", "BadDigest", "XAmzContentSHA256Mismatch",
		"ThrottlingException", "RequestLimitExceeded",
	};

	for (size_t i = 0; i < SV_ARRAY_SIZE(codes); i++)
		if (!strcmp(code, codes[i]))
			return 1;
	return 0;
}

/*
 * Did a GET body that holds a whole object arrive damaged? A single-part
 * object's ETag is the MD5 of its bytes (we check that at every PUT), so
 * the small objects read whole - config, key slots, snapshots, index - are
 * checked here, and a bit flipped on the way (plain HTTP, a broken proxy)
 * costs a retry instead of a "wrong passphrase" or "damaged" verdict on an
 * intact repository. Multipart ETags ("...-N"), SSE-KMS and SSE-C ETags,
 * and ranges of an object cannot be checked this way; the AEAD of every
 * blob still catches their damage, as damage.
 */
static int body_damaged(const struct s3_req *r)
{
	uint8_t md5[16];
	char hex[33];

	if (r->method != M_GET || !r->rx || r->etag_not_md5 ||
	    strlen(r->etag) != 32 ||
	    strspn(r->etag, "0123456789abcdefABCDEF") != 32)
		return 0;
	if (r->status == 206 && !(r->have_crange && r->crange_first == 0 &&
				  r->crange_total == r->rx_len))
		return 0;
	if (r->status != 200 && r->status != 206)
		return 0;
	md5_of(md5, r->rx, r->rx_len);
	sv_hex(hex, md5, 16);
	return strcasecmp(hex, r->etag) != 0;
}

enum verdict { V_OK, V_RETRY, V_FAIL };

/*
 * Decide what a finished attempt means. On V_FAIL *res is the -errno; on
 * V_FAIL and V_RETRY r->emsg says why; *throttle is set for SlowDown/429.
 */
static enum verdict classify(struct s3_priv *p, struct s3_req *r,
			     ssize_t *res, int *throttle)
{
	const char *b = r->body.data, *be = b ? b + r->body.len : NULL;
	char msg[200] = "", bname[64] = "";
	const char *err;
	size_t n;

	*throttle = 0;
	*res = 0;
	r->code[0] = '\0';
	if (r->cres != CURLE_OK) {
		if (r->rx_overflow) {
			*res = r->kind == RK_SYNC ? -ENOSPC : -EIO;
			snprintf(r->emsg, sizeof(r->emsg),
				 "answer does not fit in %zu bytes", r->rx_cap);
			return V_FAIL;
		}
		if (r->body.overflow) {
			*res = -E2BIG;
			snprintf(r->emsg, sizeof(r->emsg),
				 "answer larger than %zu bytes", r->body.max);
			return V_FAIL;
		}
		snprintf(r->emsg, sizeof(r->emsg), "failed: %s (%s)",
			 curl_easy_strerror(r->cres),
			 r->cerr[0] ? r->cerr : "no detail");
		if (curl_retryable(r->cres))
			return V_RETRY;
		*res = -EIO;
		return V_FAIL;
	}
	/* Error bodies: <Error><Code>..</Code><Message>..</Message>.. */
	err = b ? xml_find(b, be, "Error", &n, NULL) : NULL;
	if (err) {
		xml_get(r->code, sizeof(r->code), err, err + n, "Code");
		xml_get(msg, sizeof(msg), err, err + n, "Message");
		xml_get(bname, sizeof(bname), err, err + n, "BucketName");
	}
	if (r->status >= 200 && r->status < 300 && !err) {
		if (!body_damaged(r))
			return V_OK;
		snprintf(r->emsg, sizeof(r->emsg), "%ld: body does not match "
			 "its etag %s (damaged in transit)", r->status,
			 r->etag);
		return V_RETRY;
	}
	if (r->status >= 200 && r->status < 300) {
		/* CompleteMultipartUpload may fail after its 200 is sent. */
		snprintf(r->emsg, sizeof(r->emsg), "%ld %s%s%s", r->status,
			 r->code, msg[0] ? ": " : "", msg);
		if (code_retryable(r->code))
			return V_RETRY;
		*res = -EIO;
		return V_FAIL;
	}
	if (!strcmp(r->code, "NoSuchBucket"))
		snprintf(msg, sizeof(msg), "bucket '%s' does not exist",
			 bname[0] ? bname : p->bucket);
	snprintf(r->emsg, sizeof(r->emsg), "%ld %s%s%s", r->status,
		 r->code[0] ? r->code :
		 r->status == 404 ? "NotFound" :
		 r->status == 403 ? "Forbidden" :
		 r->status == 412 ? "PreconditionFailed" : "error",
		 msg[0] ? ": " : "", msg);
	if (r->status == 429 || !strcmp(r->code, "SlowDown") ||
	    (r->status == 503 && !r->code[0]))
		*throttle = 1;
	if (r->status >= 500 || r->status == 429 || code_retryable(r->code))
		return V_RETRY;
	switch (r->status) {
	case 401:
	case 403:
		*res = -EACCES;
		break;
	case 404:
		*res = -ENOENT;
		break;
	case 412:
		*res = -EEXIST;
		break;
	case 416:
		*res = -ERANGE;
		break;
	default:
		*res = -EIO;
		break;
	}
	return V_FAIL;
}

/* Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))] ms. */
static uint64_t backoff_ms(struct s3_priv *p, unsigned attempt)
{
	uint64_t ceil = p->base_ms;

	for (unsigned i = 1; i < attempt && ceil < p->cap_ms; i++)
		ceil *= 2;
	if (ceil > p->cap_ms)
		ceil = p->cap_ms;
	return rng_next(p) % (ceil + 1);
}

static void window_cut(struct s3_priv *p, struct s3_req *r, uint64_t now)
{
	p->u->stats.throttled++;
	if (r->kind == RK_SYNC || r->started_ms <= p->last_cut_ms)
		return;
	p->window = SV_MAX(1u, p->window / 2);
	p->win_ok = 0;
	p->last_cut_ms = now;
}

static void window_grow(struct s3_priv *p)
{
	if (p->window >= p->conns)
		return;
	if (++p->win_ok >= p->window) {
		p->window++;
		p->win_ok = 0;
	}
}

/* Checks that only make sense on success, per kind. */
static ssize_t req_success(struct s3_priv *p, struct s3_req *r)
{
	if (r->kind == RK_PART) {
		char hex[33];

		sv_hex(hex, r->md5, 16);
		if (strcasecmp(r->etag, hex) && !r->etag_not_md5) {
			snprintf(r->emsg, sizeof(r->emsg),
				 "part %u: etag '%s', expected md5 %s",
				 r->part, r->etag, hex);
			seterr_req(p, r, "%s", r->emsg);
			return -EIO;
		}
		return (ssize_t)r->tx_len;
	}
	if (r->kind == RK_RANGE) {
		if (r->status != 206 && r->off) {
			snprintf(r->emsg, sizeof(r->emsg),
				 "server ignored the range (status %ld)",
				 r->status);
			seterr_req(p, r, "%s", r->emsg);
			return -EIO;
		}
		return (ssize_t)r->rx_len;
	}
	return 0;
}

static void req_finished(struct s3_priv *p, struct s3_req *r)
{
	uint64_t now = now_ms();
	int throttle;
	ssize_t res;
	enum verdict v = classify(p, r, &res, &throttle);

	if (throttle)
		window_cut(p, r, now);
	if (v == V_RETRY) {
		if (r->attempt + 1 < p->attempts) {
			r->attempt++;
			p->u->stats.retries++;
			r->not_before_ms = now + backoff_ms(p, r->attempt);
			r->state = RS_WAIT;
			return;
		}
		seterr_req(p, r, "%s (gave up after %u attempts)", r->emsg,
			   r->attempt + 1);
		res = -EAGAIN;
	} else if (v == V_FAIL && res == -ERANGE && r->kind == RK_RANGE) {
		res = 0;  /* 416: the range starts at or after the end */
	} else if (v == V_FAIL) {
		seterr_req(p, r, "%s", r->emsg);
	} else {
		window_grow(p);
		res = req_success(p, r);
	}
	req_complete(p, r, res);
}

/* Collect curl's finished transfers. Return how many. */
static int drain(struct s3_priv *p)
{
	CURLMsg *m;
	int left, n = 0;

	while ((m = curl_multi_info_read(p->multi, &left))) {
		CURL *e = m->easy_handle;
		CURLcode rc = m->data.result;
		char *pv = NULL;
		struct s3_req *r;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, &pv);
		r = (struct s3_req *)(void *)pv;
		req_detach(p, r);
		r->cres = rc;
		req_finished(p, r);
		n++;
	}
	return n;
}

/* Refill the buckets and resume paused transfers that may go on,
 * starting one further each call so no transfer is always last. */
static void limiter_tick(struct s3_priv *p)
{
	uint64_t ns;

	if (!p->up.rate && !p->down.rate)
		return;
	ns = now_ns();
	tb_refill(&p->up, ns);
	tb_refill(&p->down, ns);
	for (unsigned i = 0; i < p->nreq; i++) {
		struct s3_req *r = &p->reqs[(p->rr + i) % p->nreq];
		struct s3_tb *b;

		if (!r->paused || !r->in_multi)
			continue;
		b = r->paused == PAUSE_SEND ? &p->up : &p->down;
		if (b->tokens <= 0)
			continue;
		r->paused = PAUSE_NONE;
		/* May call our callback at once, which may pause again. */
		curl_easy_pause(r->easy, CURLPAUSE_CONT);
	}
	p->rr++;
}

/* How long until a paused transfer may go on (0: none is paused). A
 * paused transfer has no socket event to wake curl_multi_poll(), so this
 * bounds the sleep. */
static int limiter_wait(const struct s3_priv *p)
{
	int wait = 0;

	if (!p->up.rate && !p->down.rate)
		return 0;
	for (unsigned i = 0; i < p->nreq; i++) {
		const struct s3_req *r = &p->reqs[i];
		int w;

		if (!r->paused || !r->in_multi)
			continue;
		w = tb_wait_ms(r->paused == PAUSE_SEND ? &p->up : &p->down);
		if (!w)
			w = 1;
		if (!wait || w < wait)
			wait = w;
	}
	return wait;
}

/*
 * One turn of the engine: resume, start, let curl work, and collect what
 * finished; if nothing did, sleep in curl_multi_poll() until a socket is
 * ready, curl's own timer, a backoff or a bucket refill is due, or
 * max_wait_ms passed. Return the number of transfers that finished.
 */
static int s3_step(struct s3_priv *p, int max_wait_ms)
{
	uint64_t now = now_ms(), wake;
	int running, n, wait, tw;
	long ct = -1;

	limiter_tick(p);
	wake = pump(p, now);
	curl_multi_perform(p->multi, &running);
	n = drain(p);
	if (n > 0 || max_wait_ms == 0)
		return n;
	tw = limiter_wait(p);
	wait = max_wait_ms < 0 ? 1000 : max_wait_ms;
	curl_multi_timeout(p->multi, &ct);
	if (ct >= 0 && ct < wait)
		wait = (int)ct;
	if (wake && wake > now && wake - now < (uint64_t)wait)
		wait = (int)(wake - now);
	else if (wake && wake <= now)
		wait = 0;
	if (tw && tw < wait)
		wait = tw;
	if (wait > 0)
		curl_multi_poll(p->multi, NULL, 0, wait, NULL);
	limiter_tick(p);
	pump(p, now_ms());
	curl_multi_perform(p->multi, &running);
	return drain(p);
}

/* Anything asynchronous still moving (not DONE, not FREE)? */
static int async_busy(const struct s3_priv *p)
{
	for (unsigned i = 0; i < p->conns; i++) {
		enum req_state st = p->reqs[i].state;

		if (st == RS_WAIT || st == RS_ACTIVE)
			return 1;
	}
	return 0;
}

static struct s3_req *sync_slot(struct s3_priv *p)
{
	struct s3_req *r = &p->reqs[p->conns];

	if (r->state != RS_FREE) {
		uploader_seterr(p->u, "s3: blocking call while another one "
				"is running (from a callback?)");
		return NULL;
	}
	return r;
}

/* Run a prepared blocking request to its end, retries included. */
static ssize_t sync_run(struct s3_priv *p, struct s3_req *r)
{
	req_submit(p, r, RK_SYNC);
	while (r->state != RS_DONE)
		s3_step(p, 1000);
	return r->res;
}

static void sync_release(struct s3_req *r)
{
	r->state = RS_FREE;
}

/* Detach a finished XML body from the blocking slot, so the caller can
 * parse it while callbacks it calls reuse the slot. Caller frees. */
static char *sync_take_body(struct s3_req *r, size_t *len)
{
	char *b = r->body.data;

	*len = r->body.len;
	r->body.data = NULL;
	r->body.len = r->body.cap = 0;
	return b;
}

static void *priv_of(struct uploader *u)
{
	return u->priv;
}

/* prefix + name, validated. Return: 0, -EINVAL, -ENAMETOOLONG. */
static int make_key(struct s3_priv *p, char *out, size_t cap,
		    const char *name)
{
	int n;

	if (!name || !*name) {
		uploader_seterr(p->u, "s3: empty object name");
		return -EINVAL;
	}
	n = snprintf(out, cap, "%s%s", p->prefix, name);
	if (n < 0 || (size_t)n >= cap || n > S3_KEY_MAX) {
		uploader_seterr(p->u, "s3://%s/%s%s: name too long", p->bucket,
				p->prefix, name);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Configuration: location, endpoint, credentials                      */
/* ------------------------------------------------------------------ */

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
			 e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/*
 * Read one profile from the shared credentials file, INI as the AWS tools
 * write it: "[name]" sections (the config file's "[profile name]" is
 * accepted too), "key = value" lines, '#' and ';' comments.
 * Return: 0, -ENOENT (no file or no such profile), -EINVAL (no key pair).
 */
static int creds_file(struct s3_priv *p, const char *profile, char *path,
		      size_t pcap)
{
	char line[4096], token[4096] = "";
	const char *f = env_nonempty("AWS_SHARED_CREDENTIALS_FILE");
	const char *home = env_nonempty("HOME");
	int in = 0, found = 0, rc = 0;
	FILE *fp;

	if (f && f[0] == '~' && f[1] == '/' && home)
		snprintf(path, pcap, "%s%s", home, f + 1);
	else if (f)
		snprintf(path, pcap, "%s", f);
	else
		snprintf(path, pcap, "%s/.aws/credentials", home ? home : "");
	fp = fopen(path, "r");
	if (!fp)
		return -ENOENT;
	while (fgets(line, sizeof(line), fp)) {
		char *s = trim(line), *eq, *k, *v;

		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *e = strchr(s, ']');

			if (!e)
				continue;
			*e = '\0';
			s = trim(s + 1);
			if (!strncmp(s, "profile ", 8))
				s = trim(s + 8);
			in = !strcmp(s, profile);
			found |= in;
			continue;
		}
		if (!in || !(eq = strchr(s, '=')))
			continue;
		*eq = '\0';
		k = trim(s);
		v = trim(eq + 1);
		if (!strcmp(k, "aws_access_key_id"))
			snprintf(p->access, sizeof(p->access), "%s", v);
		else if (!strcmp(k, "aws_secret_access_key"))
			snprintf(p->secret, sizeof(p->secret), "%s", v);
		else if (!strcmp(k, "aws_session_token") ||
			 (!strcmp(k, "aws_security_token") && !token[0]))
			snprintf(token, sizeof(token), "%s", v);
	}
	fclose(fp);
	OPENSSL_cleanse(line, sizeof(line));
	if (!found)
		rc = -ENOENT;
	else if (!p->access[0] || !p->secret[0])
		rc = -EINVAL;
	else if (token[0] && asprintf(&p->token_hdr, "x-amz-security-token: %s",
				      token) < 0)
		rc = -ENOMEM;
	OPENSSL_cleanse(token, sizeof(token));
	return rc;
}

/*
 * Credentials as the AWS tools look for them: an explicit profile wins;
 * else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
 * else the profile AWS_PROFILE or "default" in the credentials file.
 */
static int load_creds(struct s3_priv *p, const char *opt_profile)
{
	const char *ak = env_nonempty("AWS_ACCESS_KEY_ID");
	const char *sk = env_nonempty("AWS_SECRET_ACCESS_KEY");
	const char *tok = env_nonempty("AWS_SESSION_TOKEN");
	const char *profile;
	char path[1024];
	int rc;

	if (!opt_profile && ak && sk) {
		snprintf(p->access, sizeof(p->access), "%s", ak);
		snprintf(p->secret, sizeof(p->secret), "%s", sk);
		if (tok && asprintf(&p->token_hdr, "x-amz-security-token: %s",
				    tok) < 0)
			return -ENOMEM;
		return 0;
	}
	profile = opt_profile ? opt_profile : env_nonempty("AWS_PROFILE");
	if (!profile)
		profile = "default";
	rc = creds_file(p, profile, path, sizeof(path));
	if (rc == -ENOENT)
		uploader_seterr(p->u, "s3: no credentials: set "
				"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
				"or profile '%s' in %s", profile, path);
	else if (rc == -EINVAL)
		uploader_seterr(p->u, "%s: profile '%s' lacks "
				"aws_access_key_id or aws_secret_access_key",
				path, profile);
	return rc == -ENOENT || rc == -EINVAL ? -EACCES : rc;
}

static int host_is_ip(const char *host, size_t n)
{
	char h[256];
	unsigned char a[16];

	if (n >= sizeof(h))
		return 0;
	memcpy(h, host, n);
	h[n] = '\0';
	if (h[0] == '[' && n > 2 && h[n - 1] == ']') {
		h[n - 1] = '\0';
		return inet_pton(AF_INET6, h + 1, a) == 1;
	}
	return inet_pton(AF_INET, h, a) == 1 || !strcasecmp(h, "localhost");
}

/*
 * Build p->base, the bucket's URL ending in '/'. Path-style puts the bucket
 * in the path (http://host:port/bucket/key), virtual-hosted in the host name
 * (https://bucket.s3.region.amazonaws.com/key), which AWS prefers. Virtual
 * hosting cannot work with an IP address or localhost, nor over TLS with a
 * dotted bucket name (the wildcard certificate covers one label), so those
 * always use path-style. s3_path_style 1 forces path-style everywhere (most
 * self-hosted servers under a plain host name want it); 0 and -1 both mean
 * "virtual-hosted where it can work" - a zeroed upl_opts must work against
 * http://127.0.0.1:7480.
 */
static int make_base(struct s3_priv *p, const char *ep, int path_style)
{
	char def[256];
	const char *rest, *slash, *hp_end, *colon;
	size_t hl, pl;
	int n, ps;

	if (!ep) {
		snprintf(def, sizeof(def), "https://s3.%s.amazonaws.com",
			 p->region);
		ep = def;
	}
	if (!strncasecmp(ep, "https://", 8)) {
		p->https = 1;
		rest = ep + 8;
	} else if (!strncasecmp(ep, "http://", 7)) {
		p->https = 0;
		rest = ep + 7;
	} else if (strstr(ep, "://")) {
		uploader_seterr(p->u, "s3 endpoint %s: not http:// or https://",
				ep);
		return -EINVAL;
	} else {
		p->https = 1;  /* no scheme: never fall back to plain text */
		rest = ep;
	}
	slash = strchr(rest, '/');
	hp_end = slash ? slash : rest + strlen(rest);
	if (hp_end == rest) {
		uploader_seterr(p->u, "s3 endpoint %s: no host", ep);
		return -EINVAL;
	}
	/* Host without the port; an IPv6 literal is bracketed. */
	if (rest[0] == '[') {
		const char *rb = memchr(rest, ']', (size_t)(hp_end - rest));

		hl = rb ? (size_t)(rb - rest) + 1 : (size_t)(hp_end - rest);
	} else {
		colon = memchr(rest, ':', (size_t)(hp_end - rest));
		hl = colon ? (size_t)(colon - rest) : (size_t)(hp_end - rest);
	}
	/* An endpoint path (rare: a gateway behind a proxy) is kept. */
	pl = slash ? strlen(slash) : 0;
	while (pl && slash[pl - 1] == '/')
		pl--;
	ps = path_style == 1 || host_is_ip(rest, hl) ||
	     (p->https && strchr(p->bucket, '.'));
	if (ps)
		n = snprintf(p->base, sizeof(p->base), "%s://%.*s%.*s/%s/",
			     p->https ? "https" : "http",
			     (int)(hp_end - rest), rest, (int)pl,
			     slash ? slash : "", p->bucket);
	else
		n = snprintf(p->base, sizeof(p->base), "%s://%s.%.*s%.*s/",
			     p->https ? "https" : "http", p->bucket,
			     (int)(hp_end - rest), rest, (int)pl,
			     slash ? slash : "");
	if (n < 0 || (size_t)n >= sizeof(p->base)) {
		uploader_seterr(p->u, "s3 endpoint %s: too long", ep);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* "s3://bucket/prefix" -> bucket, prefix ("" or ending in '/'). */
static int parse_location(struct s3_priv *p, const char *loc)
{
	const char *b, *s;
	size_t bl, pl;

	if (strncmp(loc, "s3://", 5)) {
		uploader_seterr(p->u, "%s: not an s3:// location", loc);
		return -EINVAL;
	}
	b = loc + 5;
	s = strchr(b, '/');
	bl = s ? (size_t)(s - b) : strlen(b);
	if (bl < 3 || bl > 63) {
		uploader_seterr(p->u, "%s: bucket name must have 3 to 63 "
				"characters", loc);
		return -EINVAL;
	}
	for (size_t i = 0; i < bl; i++) {
		unsigned char c = (unsigned char)b[i];

		if (!(islower(c) || isdigit(c) || c == '-' || c == '.' ||
		      c == '_' || isupper(c))) {
			uploader_seterr(p->u, "%s: bad character in bucket "
					"name", loc);
			return -EINVAL;
		}
	}
	memcpy(p->bucket, b, bl);
	p->bucket[bl] = '\0';
	s = s ? s : b + bl;
	while (*s == '/')
		s++;
	pl = strlen(s);
	while (pl && s[pl - 1] == '/')
		pl--;
	if (pl + 1 > S3_KEY_MAX / 2) {
		uploader_seterr(p->u, "%s: prefix too long", loc);
		return -ENAMETOOLONG;
	}
	memcpy(p->prefix, s, pl);
	if (pl)
		p->prefix[pl++] = '/';
	p->prefix[pl] = '\0';
	p->prefix_len = pl;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */
/* ------------------------------------------------------------------ */

static void free_upload(struct s3_priv *p, struct s3_upload *up)
{
	if (!up)
		return;
	for (unsigned i = 0; i < p->nreq; i++)
		if (p->reqs && p->reqs[i].up == up)
			p->reqs[i].up = NULL;
	if (up->prev)
		up->prev->next = up->next;
	else if (p->uploads == up)
		p->uploads = up->next;
	if (up->next)
		up->next->prev = up->prev;
	free(up->md5);
	free(up);
}

static void s3_cleanup(struct uploader *u)
{
	struct s3_priv *p = priv_of(u);

	if (!p)
		return;
	while (p->uploads) {
		struct s3_upload *up = p->uploads;

		if (up->w && up->w->priv == up)
			up->w->priv = NULL;
		free_upload(p, up);
	}
	for (unsigned i = 0; p->reqs && i < p->nreq; i++) {
		struct s3_req *r = &p->reqs[i];

		req_detach(p, r);
		if (r->easy)
			curl_easy_cleanup(r->easy);
		curl_slist_free_all(r->hdrs);
		free(r->body.data);
	}
	free(p->reqs);
	p->reqs = NULL;
	p->nreq = 0;
	if (p->multi)
		curl_multi_cleanup(p->multi);
	p->multi = NULL;
	if (p->curl_inited)
		curl_global_cleanup();
	p->curl_inited = 0;
	if (p->token_hdr) {
		OPENSSL_cleanse(p->token_hdr, strlen(p->token_hdr));
		free(p->token_hdr);
		p->token_hdr = NULL;
	}
	OPENSSL_cleanse(p->secret, sizeof(p->secret));
	OPENSSL_cleanse(p->access, sizeof(p->access));
}

static int s3_init(struct uploader *u, const char *location,
		   const struct upl_opts *o)
{
	struct s3_priv *p = priv_of(u);
	const char *region, *ep, *ca;
	int rc;

	memset(p, 0, sizeof(*p));
	p->u = u;
	rc = parse_location(p, location);
	if (rc)
		goto err;
	region = o->s3_region ? o->s3_region : env_nonempty("AWS_REGION");
	if (!region)
		region = env_nonempty("AWS_DEFAULT_REGION");
	snprintf(p->region, sizeof(p->region), "%s",
		 region ? region : "us-east-1");
	snprintf(p->sigv4, sizeof(p->sigv4), "aws:amz:%s:s3", p->region);
	ep = o->s3_endpoint;
	if (!ep)
		ep = env_nonempty("AWS_ENDPOINT_URL_S3");
	if (!ep)
		ep = env_nonempty("AWS_ENDPOINT_URL");
	rc = make_base(p, ep, o->s3_path_style);
	if (rc)
		goto err;
	rc = load_creds(p, o->s3_profile);
	if (rc)
		goto err;
	/* CA bundle as the AWS tools pick it; SSL_CERT_FILE is what
	 * OpenSSL itself would read. */
	ca = o->ca_file ? o->ca_file : env_nonempty("AWS_CA_BUNDLE");
	if (!ca)
		ca = env_nonempty("SSL_CERT_FILE");
	snprintf(p->ca_file, sizeof(p->ca_file), "%s", ca ? ca : "");
	snprintf(p->client_cert, sizeof(p->client_cert), "%s",
		 o->client_cert ? o->client_cert : "");
	snprintf(p->client_key, sizeof(p->client_key), "%s",
		 o->client_key ? o->client_key : "");

	p->conns = o->connections ? SV_MIN(o->connections, S3_MAX_CONNS) :
		   S3_DEF_CONNS;
	p->part_size = o->part_size ? o->part_size : S3_DEF_PART;
	if (p->part_size < S3_MIN_PART || p->part_size > S3_MAX_PART) {
		uploader_seterr(u, "s3: part size %" PRIu64 " outside "
				"S3's 5 MiB to 5 GiB", p->part_size);
		rc = -EINVAL;
		goto err;
	}
	p->attempts = o->retries ? o->retries : S3_DEF_ATTEMPTS;
	p->base_ms = o->retry_base_ms ? o->retry_base_ms : S3_DEF_BASE_MS;
	p->cap_ms = o->retry_cap_ms ? o->retry_cap_ms : S3_DEF_CAP_MS;
	p->list_page = o->s3_list_page ? SV_MIN(o->s3_list_page, 1000u) :
		       1000u;
	p->window = p->conns;
	/* Let the engine see what is in effect. */
	u->opts.connections = p->conns;
	u->opts.part_size = p->part_size;
	tb_init(&p->up, o->limit_upload);
	tb_init(&p->down, o->limit_download);
	p->rng = now_ns() ^ ((uint64_t)getpid() << 32) ^
		 (uint64_t)(uintptr_t)p;
	if (!p->rng)
		p->rng = 1;

	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		uploader_seterr(u, "s3: cannot initialise libcurl");
		rc = -EIO;
		goto err;
	}
	p->curl_inited = 1;
	p->multi = curl_multi_init();
	p->nreq = p->conns + 1;
	p->reqs = calloc(p->nreq, sizeof(*p->reqs));
	if (!p->multi || !p->reqs) {
		rc = -ENOMEM;
		goto err;
	}
	/* One connection per request slot, kept between requests. */
	curl_multi_setopt(p->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
			  (long)p->nreq);
	curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS, (long)p->nreq);
	for (unsigned i = 0; i < p->nreq; i++) {
		p->reqs[i].p = p;
		p->reqs[i].easy = curl_easy_init();
		if (!p->reqs[i].easy) {
			rc = -ENOMEM;
			goto err;
		}
	}
	return 0;
err:
	s3_cleanup(u);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Blocking single-object operations                                   */
/* ------------------------------------------------------------------ */

/* HEAD key: size and ETag. Uses the blocking slot. */
static int head_key(struct s3_priv *p, const char *key, uint64_t *size,
		    char *etag, size_t ecap)
{
	struct s3_req *r = sync_slot(p);
	struct rq q = { .method = M_HEAD, .key = key };
	int rc;

	if (!r)
		return -EBUSY;
	rc = req_prepare(p, r, &q);
	if (!rc)
		rc = (int)sync_run(p, r);
	if (!rc && size)
		*size = r->clen;
	if (!rc && etag)
		snprintf(etag, ecap, "%s", r->etag);
	sync_release(r);
	return rc;
}

static int s3_stat(struct uploader *u, const char *name, uint64_t *size)
{
	struct s3_priv *p = priv_of(u);
	char key[S3_KEY_MAX + 1];
	int rc = make_key(p, key, sizeof(key), name);

	if (rc)
		return rc;
	return head_key(p, key, size, NULL, 0);
}

static int s3_put(struct uploader *u, const char *name, const void *data,
		  size_t len, unsigned flags)
{
	struct s3_priv *p = priv_of(u);
	char key[S3_KEY_MAX + 1], hex[33], etag[S3_ETAG_MAX];
	uint8_t md5[16];
	struct s3_req *r;
	struct rq q = { .method = M_PUT, .key = key, .body = data,
			.body_len = len, .md5 = md5,
			.if_none_match = !!(flags & UPL_PUT_NO_OVERWRITE) };
	unsigned attempts;
	int rc;

	rc = make_key(p, key, sizeof(key), name);
	if (rc)
		return rc;
	if (len > S3_MAX_PART) {
		uploader_seterr(u, "s3://%s/%s: %zu bytes is too large for "
				"one PUT", p->bucket, key, len);
		return -EFBIG;
	}
	r = sync_slot(p);
	if (!r)
		return -EBUSY;
	md5_of(md5, data, len);
	sv_hex(hex, md5, 16);
	rc = req_prepare(p, r, &q);
	if (!rc)
		rc = (int)sync_run(p, r);
	attempts = r->attempt;
	if (!rc && strcasecmp(r->etag, hex) && !r->etag_not_md5) {
		seterr_req(p, r, "etag '%s', expected md5 %s", r->etag, hex);
		rc = -EIO;
	}
	sync_release(r);
	/*
	 * A retried conditional PUT can see its own first attempt: that one
	 * reached the server but its answer was lost. If the object there
	 * has our MD5 it is ours.
	 */
	if (rc == -EEXIST && attempts > 0 &&
	    !head_key(p, key, NULL, etag, sizeof(etag)) &&
	    !strcasecmp(etag, hex))
		rc = 0;
	if (!rc)
		u->stats.objects_put++;
	return rc;
}

static ssize_t s3_get(struct uploader *u, const char *name, uint64_t off,
		      uint64_t len, void *buf, size_t cap)
{
	struct s3_priv *p = priv_of(u);
	char key[S3_KEY_MAX + 1], range[64] = "";
	struct rq q = { .method = M_GET, .key = key, .rx = buf };
	struct s3_req *r;
	ssize_t rc;

	rc = make_key(p, key, sizeof(key), name);
	if (rc)
		return rc;
	if (len == 0)
		return 0;
	if (len == UINT64_MAX) {
		if (off)
			snprintf(range, sizeof(range), "bytes=%" PRIu64 "-",
				 off);
		q.rx_cap = cap;
	} else {
		snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64,
			 off, off + len - 1);
		q.rx_cap = (size_t)SV_MIN(len, (uint64_t)cap);
	}
	q.range = range[0] ? range : NULL;
	r = sync_slot(p);
	if (!r)
		return -EBUSY;
	rc = req_prepare(p, r, &q);
	if (!rc)
		rc = sync_run(p, r);
	if (!rc && r->status != 206 && off) {
		seterr_req(p, r, "server ignored the range");
		rc = -EIO;
	} else if (!rc) {
		rc = (ssize_t)r->rx_len;
		u->stats.gets++;
	} else if (rc == -ERANGE) {
		rc = 0;  /* 416: the range starts at or after the end */
	}
	sync_release(r);
	return rc;
}

static int delete_key(struct s3_priv *p, const char *key, const char *query)
{
	struct s3_req *r = sync_slot(p);
	struct rq q = { .method = M_DELETE, .key = key, .query = query };
	int rc;

	if (!r)
		return -EBUSY;
	rc = req_prepare(p, r, &q);
	if (!rc)
		rc = (int)sync_run(p, r);
	sync_release(r);
	return rc;
}

/*
 * S3 answers 204 to a DELETE whether or not the object existed, so the
 * interface's -ENOENT costs a HEAD first. Bulk deletes go through
 * remove_many(), which does not care.
 */
static int s3_remove(struct uploader *u, const char *name)
{
	struct s3_priv *p = priv_of(u);
	char key[S3_KEY_MAX + 1];
	int rc = make_key(p, key, sizeof(key), name);

	if (!rc)
		rc = head_key(p, key, NULL, NULL, 0);
	if (!rc)
		rc = delete_key(p, key, NULL);
	if (!rc)
		u->stats.deletes++;
	return rc;
}

/* One DeleteObjects request for names[0..n-1]. */
static int delete_batch(struct s3_priv *p, const char *const *names,
			size_t n)
{
	static const char head[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
		"<Delete><Quiet>true</Quiet>";
	static const char tail[] = "</Delete>";
	char key[S3_KEY_MAX + 1], esc[6 * S3_KEY_MAX + 1];
	struct s3_buf x = { .max = n * (sizeof(esc) + 32) + 256 };
	struct rq q = { .method = M_POST, .query = "delete=",
			.content_type = "application/xml",
			.body_max = S3_XML_BODY_MAX };
	uint8_t md5[16];
	struct s3_req *r = NULL;
	const char *s, *e, *blk, *after;
	size_t bl;
	int rc = 0;

	buf_add(&x, head, sizeof(head) - 1);
	for (size_t i = 0; i < n && !rc; i++) {
		rc = make_key(p, key, sizeof(key), names[i]);
		if (!rc && xml_escape(esc, sizeof(esc), key) < 0)
			rc = -ENAMETOOLONG;
		if (!rc) {
			buf_add(&x, "<Object><Key>", 13);
			buf_add(&x, esc, strlen(esc));
			buf_add(&x, "</Key></Object>", 15);
		}
	}
	buf_add(&x, tail, sizeof(tail) - 1);
	if (!rc && x.overflow)
		rc = -ENOMEM;
	if (rc)
		goto out;
	r = sync_slot(p);
	if (!r) {
		rc = -EBUSY;
		goto out;
	}
	/* DeleteObjects requires a Content-MD5. */
	md5_of(md5, x.data, x.len);
	q.body = x.data;
	q.body_len = x.len;
	q.md5 = md5;
	rc = req_prepare(p, r, &q);
	if (!rc)
		rc = (int)sync_run(p, r);
	if (rc)
		goto out;
	/* Quiet mode lists only the failures: <Error><Key/><Code/>.. */
	s = r->body.data;
	e = s ? s + r->body.len : NULL;
	while (s && (blk = xml_find(s, e, "Error", &bl, &after))) {
		char k[S3_KEY_MAX + 1], code[64], msg[200];

		xml_get(k, sizeof(k), blk, blk + bl, "Key");
		xml_get(code, sizeof(code), blk, blk + bl, "Code");
		xml_get(msg, sizeof(msg), blk, blk + bl, "Message");
		if (strcmp(code, "NoSuchKey")) {
			uploader_seterr(p->u, "s3://%s/%s: delete failed: "
					"%s%s%s", p->bucket, k, code,
					msg[0] ? ": " : "", msg);
			rc = !strcmp(code, "AccessDenied") ? -EACCES : -EIO;
			goto out;
		}
		s = after;
	}
	p->u->stats.deletes += n;
out:
	if (r)
		sync_release(r);
	free(x.data);
	return rc;
}

static int s3_remove_many(struct uploader *u, const char *const *names,
			  size_t n)
{
	struct s3_priv *p = priv_of(u);

	for (size_t i = 0; i < n; i += S3_DELETE_BATCH) {
		int rc = delete_batch(p, names + i,
				      SV_MIN(n - i, (size_t)S3_DELETE_BATCH));

		if (rc)
			return rc;
	}
	return 0;
}

/* Occurrences of the NUL-terminated string t in [s, e). */
static size_t count_str(const char *s, const char *e, const char *t)
{
	size_t n = 0, tl = strlen(t);

	while (s && s < e && (s = memmem(s, (size_t)(e - s), t, tl))) {
		n++;
		s += tl;
	}
	return n;
}

/*
 * Is a ListObjectsV2 page whole? Nothing signs an answer over plain HTTP,
 * and one bit flipped in a <Contents> tag hides an entry from xml_find()
 * without any error - prune would then take what that entry names for
 * garbage. So every entry must parse, every <Key> must be in one, and
 * IsTruncated must say true or false (or be absent from a last page, which
 * has no NextContinuationToken either). A flipped bit inside a name still
 * passes; it names an object that is not there, which fails loudly.
 */
static int list_page_ok(const char *body, size_t len)
{
	const char *s = body, *e = body ? body + len : NULL, *blk, *after;
	size_t bl, kl, blocks = 0;
	char trunc[8];

	while (s && (blk = xml_find(s, e, "Contents", &bl, &after))) {
		if (!xml_find(blk, blk + bl, "Key", &kl, NULL))
			return 0;
		blocks++;
		s = after;
	}
	if (count_str(body, e, "<Key>") != blocks ||
	    count_str(body, e, "</Key>") != blocks)
		return 0;
	if (xml_get(trunc, sizeof(trunc), body, e, "IsTruncated") == -ENOENT)
		return !count_str(body, e, "NextContinuationToken");
	return !strcmp(trunc, "true") || !strcmp(trunc, "false");
}

/*
 * ListObjectsV2 under the repository prefix + prefix, page by page. Each
 * page's body is detached from the blocking slot before the callbacks run,
 * so they may call other operations (remove, get) on the same uploader.
 */
static int s3_list(struct uploader *u, const char *prefix, upl_list_cb cb,
		   void *arg)
{
	struct s3_priv *p = priv_of(u);
	char full[S3_KEY_MAX + 1], efull[3 * S3_KEY_MAX + 1];
	char token[2048] = "", etoken[3 * sizeof(token)];
	char query[S3_URL_MAX / 2];
	char *body = NULL;
	unsigned bad = 0;
	int rc = 0, n;

	n = snprintf(full, sizeof(full), "%s%s", p->prefix,
		     prefix ? prefix : "");
	if (n < 0 || (size_t)n >= sizeof(full) ||
	    url_enc(efull, sizeof(efull), full, 0) < 0)
		return -ENAMETOOLONG;
	for (;;) {
		struct rq q = { .method = M_GET, .query = query,
				.body_max = S3_XML_BODY_MAX };
		struct s3_req *r = sync_slot(p);
		const char *s, *e, *blk, *after;
		char trunc[8];
		size_t blen, bl;

		if (!r)
			return -EBUSY;
		if (url_enc(etoken, sizeof(etoken), token, 0) < 0)
			return -ENAMETOOLONG;
		/* Canonical (sorted) order, as SigV4 signs it. */
		n = snprintf(query, sizeof(query),
			     "%s%s%slist-type=2&max-keys=%u&prefix=%s",
			     token[0] ? "continuation-token=" : "", etoken,
			     token[0] ? "&" : "", p->list_page, efull);
		if (n < 0 || (size_t)n >= sizeof(query)) {
			rc = -ENAMETOOLONG;
			break;
		}
		rc = req_prepare(p, r, &q);
		if (!rc)
			rc = (int)sync_run(p, r);
		if (!rc)
			body = sync_take_body(r, &blen);
		sync_release(r);
		if (rc)
			break;
		if (!list_page_ok(body, blen)) {
			/* Damaged on the way: ask for the same page again. */
			free(body);
			body = NULL;
			if (++bad < p->attempts) {
				u->stats.retries++;
				continue;
			}
			uploader_seterr(u, "s3://%s/%s: list answer damaged "
					"(gave up after %u attempts)",
					p->bucket, full, bad);
			rc = -EIO;
			break;
		}
		bad = 0;
		s = body;
		e = body ? body + blen : NULL;
		while (s && (blk = xml_find(s, e, "Contents", &bl, &after))) {
			char key[S3_KEY_MAX + 1], num[32], lm[64];

			const char *be = blk + bl;

			if (xml_get(key, sizeof(key), blk, be, "Key") < 0 ||
			    strncmp(key, p->prefix, p->prefix_len)) {
				uploader_seterr(u, "s3://%s/%s: bad list "
						"answer", p->bucket, full);
				rc = -EIO;
				break;
			}
			xml_get(num, sizeof(num), blk, blk + bl, "Size");
			xml_get(lm, sizeof(lm), blk, blk + bl, "LastModified");
			rc = cb(arg, key + p->prefix_len,
				strtoull(num, NULL, 10), iso8601(lm));
			if (rc)
				break;
			s = after;
		}
		if (rc)
			break;
		xml_get(trunc, sizeof(trunc), body, e, "IsTruncated");
		if (strcmp(trunc, "true"))
			break;
		if (xml_get(token, sizeof(token), body, e,
			    "NextContinuationToken") <= 0) {
			uploader_seterr(u, "s3://%s/%s: truncated list "
					"without a continuation token",
					p->bucket, full);
			rc = -EIO;
			break;
		}
		free(body);
		body = NULL;
	}
	free(body);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Multipart upload                                                    */
/* ------------------------------------------------------------------ */

static int s3_open(struct uploader *u, struct upl_write *w)
{
	struct s3_priv *p = priv_of(u);
	struct s3_upload *up = calloc(1, sizeof(*up));
	struct rq q = { .method = M_POST, .query = "uploads=",
			.body_max = S3_ERR_BODY_MAX };
	struct s3_req *r = NULL;
	int rc;

	if (!up)
		return -ENOMEM;
	up->w = w;
	rc = make_key(p, up->key, sizeof(up->key), w->name);
	if (rc)
		goto err;
	r = sync_slot(p);
	if (!r) {
		rc = -EBUSY;
		goto err;
	}
	q.key = up->key;
	rc = req_prepare(p, r, &q);
	if (!rc)
		rc = (int)sync_run(p, r);
	if (!rc && xml_get(up->upload_id, sizeof(up->upload_id),
			   r->body.data, r->body.data + r->body.len,
			   "UploadId") <= 0) {
		seterr_req(p, r, "no UploadId in the answer");
		rc = -EIO;
	}
	sync_release(r);
	if (rc)
		goto err;
	up->next = p->uploads;
	if (up->next)
		up->next->prev = up;
	p->uploads = up;
	w->priv = up;
	w->next_part = 1;
	w->size = 0;
	w->err = 0;
	return 0;
err:
	free(up);
	return rc;
}

static int s3_put_part(struct uploader *u, struct upl_write *w,
		       const void *data, size_t len, void *cookie)
{
	struct s3_priv *p = priv_of(u);
	struct s3_upload *up = w->priv;
	char query[64 + 3 * S3_UPLOAD_ID_MAX], eid[3 * S3_UPLOAD_ID_MAX];
	struct s3_req *r = NULL;
	struct rq q = { .method = M_PUT, .body = data, .body_len = len };
	uint32_t part = w->next_part;
	int rc;

	if (w->err)
		return w->err;
	if (!up)
		return -EINVAL;
	if (part > S3_MAX_PARTS) {
		uploader_seterr(u, "s3://%s/%s: more than %u parts",
				p->bucket, up->key, S3_MAX_PARTS);
		return w->err = -EFBIG;
	}
	if (up->short_part) {
		uploader_seterr(u, "s3://%s/%s: part %u is below 5 MiB but "
				"not the last", p->bucket, up->key,
				up->short_part);
		return w->err = -EINVAL;
	}
	for (unsigned i = 0; i < p->conns; i++)
		if (p->reqs[i].state == RS_FREE) {
			r = &p->reqs[i];
			break;
		}
	if (!r)
		return SV_Q_BUSY;
	if (part > up->cap) {
		uint32_t cap = up->cap ? up->cap * 2 : 64;
		void *m;

		cap = SV_MIN(cap, S3_MAX_PARTS);
		m = realloc(up->md5, (size_t)cap * 16);
		if (!m)
			return -ENOMEM;
		up->md5 = m;
		up->cap = cap;
	}
	md5_of(up->md5[part - 1], data, len);
	memcpy(r->md5, up->md5[part - 1], 16);
	if (url_enc(eid, sizeof(eid), up->upload_id, 0) < 0)
		return -ENAMETOOLONG;
	snprintf(query, sizeof(query), "partNumber=%u&uploadId=%s", part, eid);
	q.key = up->key;
	q.query = query;
	q.md5 = r->md5;
	rc = req_prepare(p, r, &q);
	if (rc)
		return rc;
	r->cookie = cookie;
	r->up = up;
	r->part = part;
	req_submit(p, r, RK_PART);
	if (len < S3_MIN_PART)
		up->short_part = part;
	up->nparts = part;
	up->pending++;
	w->next_part = part + 1;
	w->size += len;
	/* Give it a push so the connection starts now, not at reap(). */
	s3_step(p, 0);
	return SV_Q_QUEUED;
}

/* The ETag S3 gives a multipart object: md5(md5_1 || .. || md5_n)-n. */
static void multipart_etag(const struct s3_upload *up, char *out, size_t cap)
{
	uint8_t m[16];
	char hex[33];

	md5_of(m, up->md5, (size_t)up->nparts * 16);
	sv_hex(hex, m, 16);
	snprintf(out, cap, "%s-%u", hex, up->nparts);
}

static int s3_abort(struct uploader *u, struct upl_write *w);

static int s3_complete(struct uploader *u, struct upl_write *w)
{
	struct s3_priv *p = priv_of(u);
	struct s3_upload *up = w->priv;
	char expect[S3_ETAG_MAX], got[S3_ETAG_MAX], hex[33];
	char query[64 + 3 * S3_UPLOAD_ID_MAX], eid[3 * S3_UPLOAD_ID_MAX];
	struct s3_buf x = { .max = (size_t)S3_MAX_PARTS * 96 + 256 };
	struct rq q = { .method = M_POST, .content_type = "application/xml",
			.body_max = S3_ERR_BODY_MAX };
	struct s3_req *r = NULL;
	unsigned attempts = 0;
	int rc = 0;

	if (!up)
		return -EINVAL;
	/* Wait for every part of this object; others keep going. */
	while (up->pending > 0)
		s3_step(p, 1000);
	if (w->err)
		return w->err;
	if (up->nparts == 0) {
		/* S3 refuses an empty part list: store an empty object. */
		rc = s3_abort(u, w);
		if (!rc)
			rc = s3_put(u, w->name, "", 0, w->flags);
		return rc;
	}
	buf_add(&x, "<CompleteMultipartUpload>", 25);
	for (uint32_t i = 0; i < up->nparts; i++) {
		char part[128];
		int n;

		sv_hex(hex, up->md5[i], 16);
		n = snprintf(part, sizeof(part), "<Part><PartNumber>%u"
			     "</PartNumber><ETag>\"%s\"</ETag></Part>",
			     i + 1, hex);
		buf_add(&x, part, (size_t)n);
	}
	buf_add(&x, "</CompleteMultipartUpload>", 26);
	if (x.overflow) {
		rc = -ENOMEM;
		goto out;
	}
	multipart_etag(up, expect, sizeof(expect));
	/*
	 * No-overwrite: S3 (since 2024) makes a conditional complete atomic
	 * with If-None-Match; Ceph 16 ignores the header on complete, so a
	 * HEAD first catches every case but a concurrent writer there.
	 */
	if (w->flags & UPL_PUT_NO_OVERWRITE) {
		rc = head_key(p, up->key, NULL, NULL, 0);
		if (!rc) {
			uploader_seterr(u, "s3://%s/%s: already exists",
					p->bucket, up->key);
			rc = -EEXIST;
			goto out;
		}
		if (rc != -ENOENT)
			goto out;
		rc = 0;
	}
	r = sync_slot(p);
	if (!r) {
		rc = -EBUSY;
		goto out;
	}
	if (url_enc(eid, sizeof(eid), up->upload_id, 0) < 0) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	snprintf(query, sizeof(query), "uploadId=%s", eid);
	q.key = up->key;
	q.query = query;
	q.body = x.data;
	q.body_len = x.len;
	q.if_none_match = !!(w->flags & UPL_PUT_NO_OVERWRITE);
	rc = req_prepare(p, r, &q);
	if (!rc)
		rc = (int)sync_run(p, r);
	attempts = r->attempt;
	got[0] = '\0';
	if (!rc) {
		xml_get(got, sizeof(got), r->body.data,
			r->body.data + r->body.len, "ETag");
		/* The ETag comes quoted ("&quot;" before unescaping). */
		if (got[0] == '"') {
			memmove(got, got + 1, strlen(got));
			if (got[0] && got[strlen(got) - 1] == '"')
				got[strlen(got) - 1] = '\0';
		}
	}
	sync_release(r);
	r = NULL;
	/*
	 * Ceph 16's gateway answers with an empty <ETag></ETag>; and when an
	 * earlier attempt completed the upload but its answer was lost, the
	 * retry gets NoSuchUpload. In both cases the object's own ETag (a
	 * HEAD) tells whether what is there is what we sent.
	 */
	if ((!rc && !got[0]) || (rc == -ENOENT && attempts > 0)) {
		int hrc = head_key(p, up->key, NULL, got, sizeof(got));

		if (!hrc)
			rc = 0;
		else if (!rc)
			rc = hrc;
	}
	if (!rc && strcasecmp(got, expect) && !p->etag_not_md5) {
		uploader_seterr(u, "s3://%s/%s: POST multipart etag '%s', "
				"expected %s", p->bucket, up->key, got, expect);
		rc = -EIO;
	}
	if (rc)
		goto out;
	u->stats.objects_put++;
	free_upload(p, up);
	w->priv = NULL;
out:
	if (r)
		sync_release(r);
	free(x.data);
	return rc;
}

/* Cancel the parts of up still queued or in flight. Their cookies come
 * back through reap() with -ECANCELED, so the caller can free buffers. */
static void cancel_parts(struct s3_priv *p, struct s3_upload *up)
{
	for (unsigned i = 0; i < p->conns; i++) {
		struct s3_req *r = &p->reqs[i];

		if (r->up != up)
			continue;
		if (r->state == RS_WAIT || r->state == RS_ACTIVE) {
			req_detach(p, r);
			req_complete(p, r, -ECANCELED);
		}
		r->up = NULL;
	}
}

static int abort_id(struct s3_priv *p, const char *key, const char *id)
{
	char query[64 + 3 * S3_UPLOAD_ID_MAX], eid[3 * S3_UPLOAD_ID_MAX];
	int rc;

	if (url_enc(eid, sizeof(eid), id, 0) < 0)
		return -ENAMETOOLONG;
	snprintf(query, sizeof(query), "uploadId=%s", eid);
	/* Retried like any request; gone already is what we want. */
	rc = delete_key(p, key, query);
	return rc == -ENOENT ? 0 : rc;
}

static int s3_abort(struct uploader *u, struct upl_write *w)
{
	struct s3_priv *p = priv_of(u);
	struct s3_upload *up = w->priv;
	int rc = 0;

	char saved[sizeof(u->errbuf)];

	if (!up)
		return 0;
	/* abort() follows a failure: keep its detail unless we fail too. */
	memcpy(saved, u->errbuf, sizeof(saved));
	cancel_parts(p, up);
	if (up->upload_id[0])
		rc = abort_id(p, up->key, up->upload_id);
	if (!rc)
		memcpy(u->errbuf, saved, sizeof(saved));
	if (rc)
		uploader_seterr(u, "s3://%s/%s: cannot abort upload %s; "
				"`sstvault uploads abort` can retry it",
				p->bucket, up->key, up->upload_id);
	free_upload(p, up);
	w->priv = NULL;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Asynchronous ranged reads and completions                           */
/* ------------------------------------------------------------------ */

static int s3_get_part(struct uploader *u, const char *name, uint64_t off,
		       uint64_t len, void *buf, void *cookie)
{
	struct s3_priv *p = priv_of(u);
	char key[S3_KEY_MAX + 1], range[64];
	struct rq q = { .method = M_GET, .key = key, .range = range,
			.rx = buf, .rx_cap = (size_t)len };
	struct s3_req *r = NULL;
	int rc;

	rc = make_key(p, key, sizeof(key), name);
	if (rc)
		return rc;
	if (len == 0 || len == UINT64_MAX || len > SIZE_MAX)
		return len == 0 ? SV_Q_DONE : -EINVAL;
	for (unsigned i = 0; i < p->conns; i++)
		if (p->reqs[i].state == RS_FREE) {
			r = &p->reqs[i];
			break;
		}
	if (!r)
		return SV_Q_BUSY;
	snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off,
		 off + len - 1);
	rc = req_prepare(p, r, &q);
	if (rc)
		return rc;
	r->cookie = cookie;
	r->up = NULL;
	r->off = off;
	req_submit(p, r, RK_RANGE);
	s3_step(p, 0);
	return SV_Q_QUEUED;
}

/* Hand back up to max finished asynchronous slots, oldest first. */
static int collect(struct s3_priv *p, struct upl_event *ev, int max)
{
	int n = 0;

	while (n < max) {
		struct s3_req *best = NULL;

		for (unsigned i = 0; i < p->conns; i++) {
			struct s3_req *r = &p->reqs[i];

			if (r->state == RS_DONE &&
			    (!best || r->done_seq < best->done_seq))
				best = r;
		}
		if (!best)
			break;
		ev[n].cookie = best->cookie;
		ev[n].res = best->res;
		n++;
		best->state = RS_FREE;
		best->up = NULL;
		best->cookie = NULL;
	}
	return n;
}

static int s3_reap(struct uploader *u, struct upl_event *ev, int max,
		   int timeout_ms)
{
	struct s3_priv *p = priv_of(u);
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX :
			    now_ms() + (uint64_t)timeout_ms, now;
	int n;

	if (max <= 0)
		return -EINVAL;
	for (;;) {
		n = collect(p, ev, max);
		if (n > 0)
			return n;
		/* Nothing can complete if nothing is moving. */
		if (!async_busy(p))
			return 0;
		/* Drive the transfers at least once, even with a zero
		 * timeout: a poll that never steps makes no progress. */
		now = now_ms();
		s3_step(p, now >= deadline ? 0 : deadline == UINT64_MAX ?
			1000 : (int)SV_MIN(deadline - now, 1000ull));
		n = collect(p, ev, max);
		if (n > 0 || now_ms() >= deadline)
			return n;
	}
}

/* ------------------------------------------------------------------ */
/* Exported extras (s3.h)                                              */
/* ------------------------------------------------------------------ */

int s3_create_bucket(struct uploader *u)
{
	struct s3_priv *p;
	struct s3_req *r;
	char body[256];
	struct rq q = { .method = M_PUT, .content_type = "application/xml" };
	int rc;

	if (!u || u->ops != &uploader_s3)
		return -EINVAL;
	p = priv_of(u);
	r = sync_slot(p);
	if (!r)
		return -EBUSY;
	if (strcmp(p->region, "us-east-1")) {
		snprintf(body, sizeof(body), "<CreateBucketConfiguration>"
			 "<LocationConstraint>%s</LocationConstraint>"
			 "</CreateBucketConfiguration>", p->region);
		q.body = body;
		q.body_len = strlen(body);
	}
	rc = req_prepare(p, r, &q);
	if (!rc)
		rc = (int)sync_run(p, r);
	if (rc && !strcmp(r->code, "BucketAlreadyOwnedByYou"))
		rc = 0;
	else if (rc && !strcmp(r->code, "BucketAlreadyExists"))
		rc = -EEXIST;
	sync_release(r);
	return rc;
}

int s3_list_uploads(struct uploader *u, s3_upload_cb cb, void *arg)
{
	struct s3_priv *p;
	char kmark[S3_KEY_MAX + 1] = "", imark[S3_UPLOAD_ID_MAX] = "";
	char ek[3 * S3_KEY_MAX + 1], ei[3 * S3_UPLOAD_ID_MAX];
	char ep[3 * S3_KEY_MAX + 1], query[S3_URL_MAX / 2];
	char *body = NULL;
	int rc = 0, n;

	if (!u || u->ops != &uploader_s3)
		return -EINVAL;
	p = priv_of(u);
	if (url_enc(ep, sizeof(ep), p->prefix, 0) < 0)
		return -ENAMETOOLONG;
	for (;;) {
		struct rq q = { .method = M_GET, .query = query,
				.body_max = S3_XML_BODY_MAX };
		struct s3_req *r = sync_slot(p);
		const char *s, *e, *blk, *after;
		char trunc[8];
		size_t blen, bl;

		if (!r)
			return -EBUSY;
		if (url_enc(ek, sizeof(ek), kmark, 0) < 0 ||
		    url_enc(ei, sizeof(ei), imark, 0) < 0)
			return -ENAMETOOLONG;
		/* Sorted: key-marker, prefix, upload-id-marker, uploads. */
		n = snprintf(query, sizeof(query),
			     "%s%s%sprefix=%s%s%s%suploads=",
			     kmark[0] ? "key-marker=" : "", ek,
			     kmark[0] ? "&" : "", ep,
			     imark[0] ? "&upload-id-marker=" : "", ei,
			     "&");
		if (n < 0 || (size_t)n >= sizeof(query)) {
			rc = -ENAMETOOLONG;
			break;
		}
		rc = req_prepare(p, r, &q);
		if (!rc)
			rc = (int)sync_run(p, r);
		if (!rc)
			body = sync_take_body(r, &blen);
		sync_release(r);
		if (rc)
			break;
		s = body;
		e = body ? body + blen : NULL;
		while (s && (blk = xml_find(s, e, "Upload", &bl, &after))) {
			char key[S3_KEY_MAX + 1], id[S3_UPLOAD_ID_MAX];
			char ini[64];

			const char *be = blk + bl;

			if (xml_get(key, sizeof(key), blk, be, "Key") < 0 ||
			    xml_get(id, sizeof(id), blk, blk + bl,
				    "UploadId") <= 0 ||
			    strncmp(key, p->prefix, p->prefix_len)) {
				uploader_seterr(u, "s3://%s/%s: bad upload "
						"list answer", p->bucket,
						p->prefix);
				rc = -EIO;
				break;
			}
			xml_get(ini, sizeof(ini), blk, blk + bl, "Initiated");
			rc = cb(arg, key + p->prefix_len, id, iso8601(ini));
			if (rc)
				break;
			s = after;
		}
		if (rc)
			break;
		xml_get(trunc, sizeof(trunc), body, e, "IsTruncated");
		if (strcmp(trunc, "true"))
			break;
		xml_get(kmark, sizeof(kmark), body, e, "NextKeyMarker");
		xml_get(imark, sizeof(imark), body, e, "NextUploadIdMarker");
		if (!kmark[0]) {
			uploader_seterr(u, "s3://%s/%s: truncated upload list "
					"without a marker", p->bucket,
					p->prefix);
			rc = -EIO;
			break;
		}
		free(body);
		body = NULL;
	}
	free(body);
	return rc;
}

int s3_abort_upload(struct uploader *u, const char *name,
		    const char *upload_id)
{
	struct s3_priv *p;
	char key[S3_KEY_MAX + 1];
	int rc;

	if (!u || u->ops != &uploader_s3 || !upload_id || !*upload_id)
		return -EINVAL;
	p = priv_of(u);
	rc = make_key(p, key, sizeof(key), name);
	if (rc)
		return rc;
	return abort_id(p, key, upload_id);
}

const struct uploader_ops uploader_s3 = {
	.name = "s3",
	.version = UPLOADER_VERSION,
	.flags = UPL_F_MULTIPART | UPL_F_RANGED_GET | UPL_F_NOOVERWRITE |
		 UPL_F_REMOTE,
	.priv_size = sizeof(struct s3_priv),
	.init = s3_init,
	.open = s3_open,
	.put_part = s3_put_part,
	.complete = s3_complete,
	.abort = s3_abort,
	.reap = s3_reap,
	.put = s3_put,
	.get = s3_get,
	.get_part = s3_get_part,
	.stat = s3_stat,
	.list = s3_list,
	.remove = s3_remove,
	.cleanup = s3_cleanup,
	.remove_many = s3_remove_many,
};
