/*
 * sstable.c - Cassandra file names, TOC, digests and snapshot manifests.
 * See sstable.h for the contracts.
 *
 * The name parser works on spans (pointer + length) into the caller's
 * string and copies only the final fields, so it never allocates and never
 * needs a scratch buffer. It mirrors Cassandra's Descriptor: a name is
 * split on '-' and read from the end, because the end is the only part
 * every scheme shares ("...-<Component>"), while the front varies (a
 * keyspace and table before 2.2, an optional tmp marker, nothing at all).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "engine/sstable.h"
#include "codecs/hash.h"

/* The most '-'-separated tokens any scheme has: ks-tbl-tmp-ver-gen-Comp. */
#define MAX_TOKENS 6
/* Length of a 4.1+ time-UUID id: 4 + '_' + 4 + '_' + 18 base-36 digits. */
#define UUID_ID_LEN 28

struct span {
	const char *p;
	size_t n;
};

static struct span span_of(const char *p, size_t n)
{
	struct span s = { p, n };

	return s;
}

static bool is_lower(int c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(int c)
{
	return is_digit(c) || is_lower(c) || (c >= 'A' && c <= 'Z');
}

/* Characters of Cassandra identifiers (keyspace, table, index names). */
static bool is_word(int c)
{
	return is_alnum(c) || c == '_';
}

static bool is_base36(int c)
{
	return is_digit(c) || is_lower(c);
}

static bool is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool span_all(struct span s, bool (*pred)(int))
{
	if (s.n == 0)
		return false;
	for (size_t i = 0; i < s.n; i++)
		if (!pred((unsigned char)s.p[i]))
			return false;
	return true;
}

static bool span_eq(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n == n && memcmp(s.p, lit, n) == 0;
}

static bool span_starts(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n >= n && memcmp(s.p, lit, n) == 0;
}

static bool span_ends(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n >= n && memcmp(s.p + s.n - n, lit, n) == 0;
}

/* Callers have checked s.n < cap: every field is sized for any name. */
static void span_copy(char *dst, size_t cap, struct span s)
{
	size_t n = SV_MIN(s.n, cap - 1);

	memcpy(dst, s.p, n);
	dst[n] = '\0';
}

/* ------------------------------------------------------------------ */
/* Components                                                          */
/* ------------------------------------------------------------------ */

static const struct {
	const char *name;
	enum sstable_comp comp;
} known_comps[] = {
	{ "Data.db", SSTABLE_C_DATA },
	{ "Index.db", SSTABLE_C_INDEX },
	{ "Partitions.db", SSTABLE_C_PARTITIONS },
	{ "Rows.db", SSTABLE_C_ROWS },
	{ "Summary.db", SSTABLE_C_SUMMARY },
	{ "Filter.db", SSTABLE_C_FILTER },
	{ "Statistics.db", SSTABLE_C_STATS },
	{ "CompressionInfo.db", SSTABLE_C_COMPRESSION },
	{ "CRC.db", SSTABLE_C_CRC },
	{ "Digest.crc32", SSTABLE_C_DIGEST },
	{ "Digest.adler32", SSTABLE_C_DIGEST },
	{ "Digest.sha1", SSTABLE_C_DIGEST },
	{ "TOC.txt", SSTABLE_C_TOC },
};

/*
 * SAI (Cassandra 5.0) names: "SAI+<ver>[+<generation>][+<index>]+<Part>.db",
 * e.g. "SAI+aa+orders_idx+TermsData.db" or the per-SSTable
 * "SAI+aa+GroupComplete.db". So 3 to 5 '+'-separated words, the last one
 * ending in ".db".
 */
static bool is_sai_plus(struct span s)
{
	size_t start = 0;
	int parts = 0;

	for (size_t i = 0; i <= s.n; i++) {
		struct span part;

		if (i < s.n && s.p[i] != '+')
			continue;
		part = span_of(s.p + start, i - start);
		parts++;
		if (i == s.n) {
			if (!span_ends(part, ".db") || part.n == 3)
				return false;
			part.n -= 3;
		}
		if (!span_all(part, is_word))
			return false;
		start = i + 1;
	}
	return parts >= 3 && parts <= 5;
}

/*
 * Classify a component name. Besides the named components Cassandra
 * accepts custom ones (Component.Type.CUSTOM), so any "<word>.<alnum>" is
 * valid: SASI "SI_<index>.db" and DSE 6.8 SAI "SAI_<idx>_<part>.db" get a
 * class of their own, everything else is SSTABLE_C_OTHER. Spaces, slashes,
 * a second dot or a missing extension are rejected, which keeps garbage
 * such as "Data" or "../x" from ever being taken for a component.
 * Return: enum sstable_comp, or -EINVAL.
 */
static int classify_comp(struct span s)
{
	const char *dot;
	size_t head;

	for (size_t i = 0; i < SV_ARRAY_SIZE(known_comps); i++)
		if (span_eq(s, known_comps[i].name))
			return known_comps[i].comp;
	if (span_starts(s, "SAI+"))
		return is_sai_plus(s) ? SSTABLE_C_SAI : -EINVAL;
	dot = s.n ? memchr(s.p, '.', s.n) : NULL;
	if (!dot)
		return -EINVAL;
	head = (size_t)(dot - s.p);
	if (!span_all(span_of(s.p, head), is_word) ||
	    !span_all(span_of(dot + 1, s.n - head - 1), is_alnum))
		return -EINVAL;
	if (span_ends(s, ".db") && span_starts(s, "SAI_"))
		return SSTABLE_C_SAI;
	if (span_ends(s, ".db") && span_starts(s, "SI_"))
		return SSTABLE_C_SASI;
	return SSTABLE_C_OTHER;
}

/* ------------------------------------------------------------------ */
/* Name tokens                                                         */
/* ------------------------------------------------------------------ */

/*
 * Decimal generation (no sign, no overflow) or 4.1+ time-UUID
 * "[0-9a-z]{4}_[0-9a-z]{4}_[0-9a-z]{18}" (Cassandra's UUIDBasedSSTableId).
 * Overflow is an error rather than a wrap: two different names must never
 * yield the same generation, or collision renaming could merge SSTables.
 * The UUID form is lower case only because Cassandra writes it so; an
 * upper-case one was not written by Cassandra.
 */
static int parse_id(struct span s, enum sstable_id_kind *kind, uint64_t *gen)
{
	uint64_t v = 0;

	if (s.n == 0 || s.n >= SSTABLE_ID_MAX)
		return -EINVAL;
	if (span_all(s, is_digit)) {
		for (size_t i = 0; i < s.n; i++) {
			unsigned d = (unsigned)(s.p[i] - '0');

			if (v > (UINT64_MAX - d) / 10)
				return -EINVAL;
			v = v * 10 + d;
		}
		*kind = SSTABLE_ID_INT;
		*gen = v;
		return 0;
	}
	if (s.n != UUID_ID_LEN || s.p[4] != '_' || s.p[9] != '_' ||
	    !span_all(span_of(s.p, 4), is_base36) ||
	    !span_all(span_of(s.p + 5, 4), is_base36) ||
	    !span_all(span_of(s.p + 10, 18), is_base36))
		return -EINVAL;
	*kind = SSTABLE_ID_UUID;
	*gen = 0;
	return 0;
}

/* SSTable versions are two lower-case letters: "jb", "ka", "nb", "da". */
static bool is_version(struct span s)
{
	return s.n == 2 && span_all(s, is_lower);
}

static bool is_format(struct span s)
{
	return span_eq(s, "big") || span_eq(s, "bti");
}

static enum sstable_temp marker_of(struct span s)
{
	if (span_eq(s, "tmp"))
		return SSTABLE_TEMP_TMP;
	if (span_eq(s, "tmplink"))
		return SSTABLE_TEMP_TMPLINK;
	return SSTABLE_TEMP_NONE;
}

/* Pre-2.2 table part: "<table>" or, for old secondary indexes,
 * "<table>.<index>". */
static bool is_legacy_table(struct span s)
{
	const char *dot = s.n ? memchr(s.p, '.', s.n) : NULL;
	size_t head;

	if (!dot)
		return span_all(s, is_word);
	head = (size_t)(dot - s.p);
	return span_all(span_of(s.p, head), is_word) &&
	       span_all(span_of(dot + 1, s.n - head - 1), is_word);
}

/*
 * Split on '-'. Empty tokens ("nb--big-Data.db") are rejected here, and so
 * is anything with more tokens than any scheme has, so the layout parsers
 * below can index tokens without further checks.
 * Return: token count, or -EINVAL.
 */
static int split_dash(struct span s, struct span *tok, int max)
{
	size_t start = 0;
	int n = 0;

	for (size_t i = 0; i <= s.n; i++) {
		if (i < s.n && s.p[i] != '-')
			continue;
		if (i == start || n == max)
			return -EINVAL;
		tok[n++] = span_of(s.p + start, i - start);
		start = i + 1;
	}
	return n;
}

static int fill_common(struct sstable_name *out, struct span ver,
		       struct span id)
{
	if (!is_version(ver))
		return -EINVAL;
	if (parse_id(id, &out->id_kind, &out->gen) < 0)
		return -EINVAL;
	span_copy(out->version, sizeof(out->version), ver);
	span_copy(out->id, sizeof(out->id), id);
	return 0;
}

/* "[tmp-|tmplink-]<ver>-<id>-<fmt>-<Comp>", t[nt-2] already a format. */
static int parse_modern(const struct span *t, int nt, struct sstable_name *out)
{
	int prefix = nt - 4;

	if (prefix < 0 || prefix > 1)
		return -EINVAL;
	if (prefix == 1) {
		out->temp = marker_of(t[0]);
		if (out->temp == SSTABLE_TEMP_NONE)
			return -EINVAL;
	}
	span_copy(out->format, sizeof(out->format), t[nt - 2]);
	return fill_common(out, t[nt - 4], t[nt - 3]);
}

/* "<ks>-<table>[-tmp|-tmplink]-<ver>-<gen>-<Comp>", t[nt-2] all digits.
 * The marker is only taken as one when three tokens precede the version,
 * so a table called "tmp" stays a table. */
static int parse_legacy(const struct span *t, int nt, struct sstable_name *out)
{
	int prefix = nt - 3;

	if (prefix < 2 || prefix > 3)
		return -EINVAL;
	if (prefix == 3) {
		out->temp = marker_of(t[2]);
		if (out->temp == SSTABLE_TEMP_NONE)
			return -EINVAL;
	}
	if (!span_all(t[0], is_word) || !is_legacy_table(t[1]))
		return -EINVAL;
	span_copy(out->ks, sizeof(out->ks), t[0]);
	span_copy(out->table, sizeof(out->table), t[1]);
	strcpy(out->format, "big");
	out->flags |= SSTABLE_F_LEGACY;
	return fill_common(out, t[nt - 3], t[nt - 2]);
}

/*
 * Parse the first n bytes of name as a component name; *comp_off gets the
 * offset of the component token. Leaves .component to the caller, which
 * knows whether a ".tmp" suffix follows.
 */
static int parse_layout(const char *name, size_t n, struct sstable_name *out,
			size_t *comp_off)
{
	struct span t[MAX_TOKENS];
	int nt, comp, r;

	memset(out, 0, sizeof(*out));
	nt = split_dash(span_of(name, n), t, MAX_TOKENS);
	if (nt < 4)
		return -EINVAL;
	comp = classify_comp(t[nt - 1]);
	if (comp < 0)
		return comp;
	if (is_format(t[nt - 2]))
		r = parse_modern(t, nt, out);
	else if (span_all(t[nt - 2], is_digit))
		r = parse_legacy(t, nt, out);
	else
		r = -EINVAL;
	if (r < 0)
		return r;
	out->comp = (enum sstable_comp)comp;
	*comp_off = (size_t)(t[nt - 1].p - name);
	return 0;
}

/*
 * Cassandra's LogFile.FILE_REGEX is "^(.{2})_txn_(.*)_(.*)\.log$"; the
 * groups are the version, the operation and a dashed UUID. Require
 * non-empty operation and id so that only real logs match.
 */
static bool is_txn_log(struct span s)
{
	struct span mid;
	const char *us;

	if (s.n < 2 + 5 + 3 + 4 || !is_lower(s.p[0]) || !is_lower(s.p[1]) ||
	    memcmp(s.p + 2, "_txn_", 5) != 0 || !span_ends(s, ".log"))
		return false;
	mid = span_of(s.p + 7, s.n - 7 - 4);
	for (size_t i = 0; i < mid.n; i++)
		if (!is_word((unsigned char)mid.p[i]) && mid.p[i] != '-')
			return false;
	us = memrchr(mid.p, '_', mid.n);
	return us && us > mid.p && us < mid.p + mid.n - 1;
}

static bool name_chars_ok(struct span s)
{
	for (size_t i = 0; i < s.n; i++) {
		int c = (unsigned char)s.p[i];

		if (!is_word(c) && c != '-' && c != '.' && c != '+')
			return false;
	}
	return true;
}

static bool is_uuid_char(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F') || c == '-';
}

/*
 * Two kinds of ".tmp" leftovers sit next to live components:
 * "<name>.tmp" (Descriptor.tmpFilenameFor, a component being rewritten,
 * e.g. Statistics.db after a repair) and "<name>.<time-uuid>.tmp"
 * (tmpFilenameForStreaming, hard links of the mutable components made for
 * entire-SSTable streaming). Try the UUID form first, since its dashes
 * would otherwise be taken for name separators.
 */
static int parse_tmp_suffix(const char *name, size_t len,
			    struct sstable_name *out, size_t *comp_off)
{
	size_t base = len - 4;
	const char *dot = memrchr(name, '.', base);
	int r = -EINVAL;

	if (dot && span_all(span_of(dot + 1, (size_t)(name + base - dot - 1)),
			    is_uuid_char))
		r = parse_layout(name, (size_t)(dot - name), out, comp_off);
	if (r < 0)
		r = parse_layout(name, base, out, comp_off);
	if (r < 0)
		return r;
	if (out->temp == SSTABLE_TEMP_NONE)
		out->temp = SSTABLE_TEMP_SUFFIX;
	return 0;
}

int sstable_parse_name(const char *name, struct sstable_name *out)
{
	size_t len = strnlen(name, SSTABLE_NAME_MAX + 1);
	struct span s = span_of(name, len);
	size_t comp_off = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (len > SSTABLE_NAME_MAX)
		return -ENAMETOOLONG;
	/* The character check also rejects '/', so a path can never pass
	 * for a name, and keeps every later step within ASCII. */
	if (len == 0 || !name_chars_ok(s))
		return -EINVAL;
	/* Transaction logs first: their UUID holds dashes that would
	 * otherwise be split as name tokens. */
	if (is_txn_log(s)) {
		span_copy(out->version, sizeof(out->version), span_of(name, 2));
		out->flags = SSTABLE_F_TXNLOG;
		return SSTABLE_TXNLOG;
	}
	if (span_ends(s, ".tmp") && len > 4)
		r = parse_tmp_suffix(name, len, out, &comp_off);
	else
		r = parse_layout(name, len, out, &comp_off);
	if (r < 0) {
		memset(out, 0, sizeof(*out));
		return r;
	}
	span_copy(out->component, sizeof(out->component),
		  span_of(name + comp_off, len - comp_off));
	if (out->temp == SSTABLE_TEMP_NONE)
		return 0;
	out->flags |= SSTABLE_F_TEMP;
	return SSTABLE_TEMPORARY;
}

/* ------------------------------------------------------------------ */
/* Building names                                                      */
/* ------------------------------------------------------------------ */

/*
 * A bounded string builder: len keeps counting past cap so the caller
 * learns the full length, and nothing is written beyond cap.
 */
struct sbuf {
	char *p;
	size_t cap, len;
};

static void sb_add(struct sbuf *b, const char *s)
{
	size_t n = strlen(s);

	if (b->len + n < b->cap)
		memcpy(b->p + b->len, s, n);
	b->len += n;
}

static int sb_end(struct sbuf *b, size_t max)
{
	if (b->len > max || b->len >= b->cap) {
		if (b->cap)
			b->p[0] = '\0';
		return b->len > max ? -ENAMETOOLONG : -ENOSPC;
	}
	b->p[b->len] = '\0';
	return (int)b->len;
}

/*
 * The marker goes where Cassandra's Descriptor.filenameFor puts it: after
 * keyspace and table in pre-2.2 names, first in newer ones.
 */
static void sb_key(struct sbuf *b, const struct sstable_name *n)
{
	const char *marker = n->temp == SSTABLE_TEMP_TMP     ? "tmp-" :
			     n->temp == SSTABLE_TEMP_TMPLINK ? "tmplink-" :
							       "";

	if (n->flags & SSTABLE_F_LEGACY) {
		sb_add(b, n->ks);
		sb_add(b, "-");
		sb_add(b, n->table);
		sb_add(b, "-");
		sb_add(b, marker);
		sb_add(b, n->version);
		sb_add(b, "-");
		sb_add(b, n->id);
		return;
	}
	sb_add(b, marker);
	sb_add(b, n->version);
	sb_add(b, "-");
	sb_add(b, n->id);
	sb_add(b, "-");
	sb_add(b, n->format);
}

int sstable_key(const struct sstable_name *n, char *out, size_t cap)
{
	struct sbuf b = { out, cap, 0 };
	int r;

	if (n->flags & SSTABLE_F_TXNLOG)
		return -EINVAL;
	sb_key(&b, n);
	r = sb_end(&b, SSTABLE_NAME_MAX);
	return r == -ENAMETOOLONG ? -ENOSPC : r;
}

static int build_name(const struct sstable_name *n, const char *component,
		      char *out, size_t cap)
{
	struct sbuf b = { out, cap, 0 };

	if (n->flags & SSTABLE_F_TXNLOG)
		return -EINVAL;
	sb_key(&b, n);
	sb_add(&b, "-");
	sb_add(&b, component);
	return sb_end(&b, SSTABLE_NAME_MAX);
}

int sstable_format_name(const struct sstable_name *n, char *out, size_t cap)
{
	return build_name(n, n->component, out, cap);
}

int sstable_sibling_name(const struct sstable_name *n, const char *component,
			 char *out, size_t cap)
{
	size_t len = strnlen(component, SSTABLE_NAME_MAX + 1);

	if (len > SSTABLE_NAME_MAX ||
	    classify_comp(span_of(component, len)) < 0)
		return -EINVAL;
	return build_name(n, component, out, cap);
}

int sstable_rename_id(const char *name, const char *new_id, char *out,
		      size_t cap)
{
	struct sstable_name n;
	enum sstable_id_kind kind;
	uint64_t gen;
	size_t len = strnlen(new_id, SSTABLE_ID_MAX);
	int r;

	r = sstable_parse_name(name, &n);
	if (r < 0)
		return r;
	if (r == SSTABLE_TXNLOG ||
	    parse_id(span_of(new_id, len), &kind, &gen) < 0)
		return -EINVAL;
	/* Before 2.2 the id sits among digits-only tokens: no UUIDs. */
	if ((n.flags & SSTABLE_F_LEGACY) && kind != SSTABLE_ID_INT)
		return -EINVAL;
	n.id_kind = kind;
	n.gen = gen;
	span_copy(n.id, sizeof(n.id), span_of(new_id, len));
	return sstable_format_name(&n, out, cap);
}

/* ------------------------------------------------------------------ */
/* Table directories                                                   */
/* ------------------------------------------------------------------ */

int sstable_parse_table_dir(const char *name, struct sstable_table_dir *out)
{
	size_t len = strnlen(name, SSTABLE_NAME_MAX + 1);
	const char *dash;
	struct span tbl;

	memset(out, 0, sizeof(*out));
	if (len > SSTABLE_NAME_MAX)
		return -ENAMETOOLONG;
	/* 3.0+ keeps secondary-index SSTables in ".<index>" below the
	 * table directory; Cassandra names never start with a dot. */
	if (name[0] == '.') {
		if (!span_all(span_of(name + 1, len - 1), is_word))
			return -EINVAL;
		out->kind = SSTABLE_DIR_INDEX;
		span_copy(out->name, sizeof(out->name),
			  span_of(name + 1, len - 1));
		return 0;
	}
	dash = memchr(name, '-', len);
	tbl = span_of(name, dash ? (size_t)(dash - name) : len);
	if (!span_all(tbl, is_word))
		return -EINVAL;
	if (dash) {
		/* sv_unhex wants exactly 32 digits followed by the NUL. */
		if (len - tbl.n - 1 != 32 || sv_unhex(out->id, dash + 1, 16))
			return -EINVAL;
		out->has_id = true;
		memcpy(out->id_hex, dash + 1, 33);
	}
	out->kind = SSTABLE_DIR_TABLE;
	span_copy(out->name, sizeof(out->name), tbl);
	return 0;
}

/* ------------------------------------------------------------------ */
/* TOC.txt                                                             */
/* ------------------------------------------------------------------ */

static struct span trim(const char *p, const char *end)
{
	while (p < end && is_blank((unsigned char)*p))
		p++;
	while (end > p && is_blank((unsigned char)end[-1]))
		end--;
	return span_of(p, (size_t)(end - p));
}

static int toc_find(const struct sstable_toc *toc, struct span s)
{
	for (unsigned i = 0; i < toc->count; i++)
		if (span_eq(s, toc->buf + toc->off[i]))
			return (int)i;
	return -1;
}

int sstable_parse_toc(const void *data, size_t len, struct sstable_toc *toc)
{
	const char *p = data ? data : "", *end = p + len;
	size_t used = 0;

	toc->count = 0;
	/* Each entry costs at most its bytes plus one NUL, so a file under
	 * the arena size always fits. */
	if (len >= SSTABLE_TOC_BYTES)
		return -E2BIG;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct span line = trim(p, nl ? nl : end);

		p = nl ? nl + 1 : end;
		/* A TOC is a set: a repeated line would otherwise be
		 * reported missing or present twice by the check. */
		if (line.n == 0 || toc_find(toc, line) >= 0)
			continue;
		if (line.n > SSTABLE_NAME_MAX || classify_comp(line) < 0) {
			toc->count = 0;
			return -EINVAL;
		}
		if (toc->count == SSTABLE_TOC_MAX) {
			toc->count = 0;
			return -E2BIG;
		}
		memcpy(toc->buf + used, line.p, line.n);
		toc->buf[used + line.n] = '\0';
		toc->off[toc->count++] = (uint16_t)used;
		used += line.n + 1;
	}
	return 0;
}

const char *sstable_toc_get(const struct sstable_toc *toc, unsigned i)
{
	return i < toc->count ? toc->buf + toc->off[i] : NULL;
}

/*
 * Components Cassandra recreates when they are missing. Only Summary.db
 * (rebuilt from Index.db on load) is known to be missing from real
 * SSTables whose TOC lists it, so only it is tolerated.
 */
static bool rebuildable(const char *comp)
{
	return strcmp(comp, "Summary.db") == 0;
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

int sstable_check_toc(const struct sstable_toc *toc,
		      const char *const *present, size_t n_present,
		      struct sstable_toc_check *res)
{
	/* Exact comparison: Cassandra's Component.parse is case sensitive,
	 * so "data.db" next to a TOC saying "Data.db" is not the same file. */
	memset(res, 0, sizeof(*res));
	if (n_present > SSTABLE_TOC_MAX)
		return -E2BIG;
	for (unsigned i = 0; i < toc->count; i++) {
		const char *c = sstable_toc_get(toc, i);

		if (in_list(c, present, n_present))
			continue;
		res->missing_idx[res->missing++] = (uint16_t)i;
		if (!rebuildable(c))
			res->fatal++;
	}
	for (size_t j = 0; j < n_present; j++) {
		size_t n = strlen(present[j]);

		if (toc_find(toc, span_of(present[j], n)) < 0)
			res->unlisted_idx[res->unlisted++] = (uint16_t)j;
	}
	return res->fatal ? -ENOENT : 0;
}

/* ------------------------------------------------------------------ */
/* Digests                                                             */
/* ------------------------------------------------------------------ */

/* Unsigned decimal that fits 32 bits, as Java's Long.toString writes a
 * checksum's getValue(). */
static int parse_u32(struct span s, uint32_t *v)
{
	uint64_t acc = 0;

	if (!span_all(s, is_digit) || s.n > 10)
		return -EINVAL;
	for (size_t i = 0; i < s.n; i++)
		acc = acc * 10 + (uint64_t)(s.p[i] - '0');
	if (acc > UINT32_MAX)
		return -EINVAL;
	*v = (uint32_t)acc;
	return 0;
}

/*
 * Cassandra 2.0's "<40 hex>  <path of Data.db>" (sha1sum layout). The path
 * is not checked against anything: ids get renamed on restore, and the
 * content is what the digest protects.
 */
static int parse_sha1_line(struct span s, uint8_t out[20])
{
	char hex[41];

	if (s.n < 40 || (s.n > 40 && s.p[40] != ' ' && s.p[40] != '\t'))
		return -EINVAL;
	if (memchr(s.p, '\n', s.n))
		return -EINVAL;
	memcpy(hex, s.p, 40);
	hex[40] = '\0';
	return sv_unhex(out, hex, 20) ? -EINVAL : 0;
}

int sstable_parse_digest(const char *component, const void *data, size_t len,
			 struct sstable_digest *out)
{
	const char *p = data ? data : "";
	struct span s = trim(p, p + len);

	memset(out, 0, sizeof(*out));
	if (strcmp(component, "Digest.crc32") == 0) {
		out->kind = SSTABLE_DIGEST_CRC32;
		return parse_u32(s, &out->value);
	}
	if (strcmp(component, "Digest.adler32") == 0) {
		out->kind = SSTABLE_DIGEST_ADLER32;
		return parse_u32(s, &out->value);
	}
	if (strcmp(component, "Digest.sha1") != 0)
		return -EINVAL;
	/* 2.1 wrote an Adler-32 in decimal into Digest.sha1; 2.0 a real
	 * SHA-1. Digits only means the former: a SHA-1 is 40 hex digits. */
	if (s.n <= 10 && span_all(s, is_digit)) {
		out->kind = SSTABLE_DIGEST_ADLER32;
		return parse_u32(s, &out->value);
	}
	out->kind = SSTABLE_DIGEST_SHA1;
	return parse_sha1_line(s, out->sha1);
}

int sstable_format_digest(const struct sstable_digest *d, char *out, size_t cap)
{
	char hex[41];
	int n;

	switch (d->kind) {
	case SSTABLE_DIGEST_CRC32:
		n = snprintf(out, cap, "crc32:%u", (unsigned)d->value);
		break;
	case SSTABLE_DIGEST_ADLER32:
		n = snprintf(out, cap, "adler32:%u", (unsigned)d->value);
		break;
	case SSTABLE_DIGEST_SHA1:
		sv_hex(hex, d->sha1, 20);
		n = snprintf(out, cap, "sha1:%s", hex);
		break;
	default:
		return -EINVAL;
	}
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}

int sstable_verify_init(struct sstable_verify *v,
			const struct sstable_digest *want)
{
	EVP_MD_CTX *md;

	/* zlib documents crc32(0, Z_NULL, 0) and adler32(0, Z_NULL, 0) as
	 * the way to get each checksum's initial value (0 and 1). */
	memset(v, 0, sizeof(*v));
	v->want = *want;
	v->got.kind = want->kind;
	switch (want->kind) {
	case SSTABLE_DIGEST_CRC32:
		v->acc = (uint32_t)crc32(0L, Z_NULL, 0);
		return 0;
	case SSTABLE_DIGEST_ADLER32:
		v->acc = (uint32_t)adler32(0L, Z_NULL, 0);
		return 0;
	case SSTABLE_DIGEST_SHA1:
		md = EVP_MD_CTX_new();
		if (!md)
			return -ENOMEM;
		if (EVP_DigestInit_ex(md, EVP_sha1(), NULL) != 1) {
			EVP_MD_CTX_free(md);
			return -EIO;
		}
		v->md = md;
		return 0;
	}
	return -EINVAL;
}

void sstable_verify_update(struct sstable_verify *v, const void *data,
			   size_t len)
{
	/* zlib returns its initial value for a NULL buffer, which would
	 * silently restart the checksum: skip empty pieces instead. */
	if (v->err || len == 0)
		return;
	v->bytes += len;
	switch (v->want.kind) {
	case SSTABLE_DIGEST_CRC32:
		v->acc = hash_crc32(v->acc, data, len);
		break;
	case SSTABLE_DIGEST_ADLER32:
		v->acc = hash_adler32(v->acc, data, len);
		break;
	case SSTABLE_DIGEST_SHA1:
		if (EVP_DigestUpdate(v->md, data, len) != 1)
			v->err = -EIO;
		break;
	}
}

int sstable_verify_final(struct sstable_verify *v)
{
	unsigned int n = 0;
	int r = v->err;

	if (r)
		goto out;
	switch (v->want.kind) {
	case SSTABLE_DIGEST_CRC32:
	case SSTABLE_DIGEST_ADLER32:
		v->got.value = v->acc;
		r = v->got.value == v->want.value ? 0 : -EBADMSG;
		break;
	case SSTABLE_DIGEST_SHA1:
		if (!v->md || EVP_DigestFinal_ex(v->md, v->got.sha1, &n) != 1 ||
		    n != 20) {
			r = -EIO;
			break;
		}
		r = memcmp(v->got.sha1, v->want.sha1, 20) ? -EBADMSG : 0;
		break;
	default:
		r = -EINVAL;
		break;
	}
out:
	sstable_verify_release(v);
	return r;
}

void sstable_verify_release(struct sstable_verify *v)
{
	EVP_MD_CTX_free(v->md);
	v->md = NULL;
}

/* ------------------------------------------------------------------ */
/* manifest.json                                                       */
/* ------------------------------------------------------------------ */

static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (!err || !cap)
		return;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil), so no time zone or libc state is involved. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int dm[] = { 31, 28, 31, 30, 31, 30,
				  31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dm[m - 1];
}

/* Exactly n digits at *p, advancing past them. */
static bool take_num(const char **p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (!is_digit((unsigned char)(*p)[i]))
			return false;
		*v = *v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return true;
}

static bool take_char(const char **p, const char *set)
{
	if (**p == '\0' || !strchr(set, **p))
		return false;
	(*p)++;
	return true;
}

/* "Z", "+hh:mm", "-hh:mm" or "+hhmm": offset east of UTC in seconds. */
static bool take_zone(const char **p, int *off)
{
	int sign, hh, mm;

	if (take_char(p, "Zz")) {
		*off = 0;
		return true;
	}
	sign = **p == '-' ? -1 : 1;
	if (!take_char(p, "+-") || !take_num(p, 2, &hh))
		return false;
	take_char(p, ":");
	if (!take_num(p, 2, &mm) || hh > 23 || mm > 59)
		return false;
	*off = sign * (hh * 3600 + mm * 60);
	return true;
}

/*
 * ISO-8601 instants as Java's Instant.toString writes them,
 * "2021-07-03T10:37:30Z" with an optional fraction of up to 9 digits, plus
 * numeric offsets for hand-written files. Result in epoch milliseconds.
 */
static int parse_iso8601(const char *s, int64_t *ms)
{
	int y, mo, d, h, mi, sec, off, frac = 0, digits = 0;
	const char *p = s;

	if (!take_num(&p, 4, &y) || !take_char(&p, "-") ||
	    !take_num(&p, 2, &mo) || !take_char(&p, "-") ||
	    !take_num(&p, 2, &d) || !take_char(&p, "Tt") ||
	    !take_num(&p, 2, &h) || !take_char(&p, ":") ||
	    !take_num(&p, 2, &mi) || !take_char(&p, ":") ||
	    !take_num(&p, 2, &sec))
		return -EINVAL;
	if (take_char(&p, ".")) {
		while (is_digit((unsigned char)*p) && digits < 9) {
			if (digits++ < 3)
				frac = frac * 10 + (*p - '0');
			p++;
		}
		if (digits == 0 || is_digit((unsigned char)*p))
			return -EINVAL;
		for (int i = digits; i < 3; i++)
			frac *= 10;
	}
	if (!take_zone(&p, &off) || *p != '\0')
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
	    h > 23 || mi > 59 || sec > 59)
		return -EINVAL;
	*ms = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) -
	       off) * 1000 + frac;
	return 0;
}

/* Integers at or above this magnitude are taken as milliseconds: 1e11 s
 * is the year 5138, 1e11 ms is 1973. */
#define MS_THRESHOLD 100000000000LL

/* A JSON number as epoch milliseconds; see sstable.h for the rule.
 * Return: 0 or -ERANGE. */
static int number_ms(const json_t *v, int64_t *ms)
{
	double d;

	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i >= MS_THRESHOLD * 1000 || i <= -MS_THRESHOLD * 1000)
			return -ERANGE;
		*ms = (int64_t)i;
		if (i < MS_THRESHOLD && i > -MS_THRESHOLD)
			*ms *= 1000;
		return 0;
	}
	/* Jackson's seconds.nanos; the negated test also catches NaN. */
	d = json_real_value(v);
	if (!(d > -(double)MS_THRESHOLD && d < (double)MS_THRESHOLD))
		return -ERANGE;
	*ms = (int64_t)llround(d * 1000.0);
	return 0;
}

static int manifest_time(const json_t *root, const char *key, bool *has,
			 int64_t *ms, char *err, size_t cap)
{
	const json_t *v = json_object_get(root, key);

	*has = false;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		if (parse_iso8601(json_string_value(v), ms) < 0) {
			set_err(err, cap,
				"manifest.json: %s \"%.64s\" is not an ISO-8601 time",
				key, json_string_value(v));
			return -EBADMSG;
		}
	} else if (json_is_number(v)) {
		if (number_ms(v, ms) < 0) {
			set_err(err, cap, "manifest.json: %s out of range",
				key);
			return -EBADMSG;
		}
	} else {
		set_err(err, cap,
			"manifest.json: %s is neither a string nor a number",
			key);
		return -EBADMSG;
	}
	*has = true;
	return 0;
}

/*
 * A relative path that stays inside the snapshot directory. Empty
 * components ("a//b", trailing '/') are refused too: Cassandra never writes
 * them, so they mean a damaged or forged manifest.
 */
static bool safe_rel_path(const char *s)
{
	const char *p = s;

	if (*s == '\0' || *s == '/' || strlen(s) > 4096)
		return false;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
		if (*p == '/')
			p++;
	}
	return p[-1] != '/';
}

static int manifest_files(const json_t *root, struct sstable_manifest *m,
			  char *err, size_t cap)
{
	const json_t *files = json_object_get(root, "files");
	size_t n;

	if (!json_is_array(files)) {
		set_err(err, cap, "manifest.json: %s",
			files ? "\"files\" is not an array" :
				"no \"files\" array");
		return -EBADMSG;
	}
	n = json_array_size(files);
	m->files = calloc(n ? n : 1, sizeof(*m->files));
	if (!m->files)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const json_t *f = json_array_get(files, i);
		const char *s = json_string_value(f);

		if (!s) {
			set_err(err, cap,
				"manifest.json: files[%zu] is not a string", i);
			return -EBADMSG;
		}
		if (!safe_rel_path(s)) {
			set_err(err, cap,
				"manifest.json: files[%zu] \"%.64s\" leaves the snapshot directory",
				i, s);
			return -EBADMSG;
		}
		m->files[i] = strdup(s);
		if (!m->files[i])
			return -ENOMEM;
		m->n_files = i + 1;
	}
	return 0;
}

static int manifest_ephemeral(const json_t *root, struct sstable_manifest *m,
			      char *err, size_t cap)
{
	const json_t *v = json_object_get(root, "ephemeral");

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v)) {
		set_err(err, cap, "manifest.json: ephemeral is not a boolean");
		return -EBADMSG;
	}
	m->ephemeral = json_is_true(v);
	return 0;
}

int sstable_parse_manifest(const void *data, size_t len,
			   struct sstable_manifest **out, char *err,
			   size_t errcap)
{
	struct sstable_manifest *m = NULL;
	json_t *root = NULL;
	json_error_t je;
	int r;

	*out = NULL;
	set_err(err, errcap, "%s", "");
	if (len > SSTABLE_MANIFEST_MAX) {
		set_err(err, errcap, "manifest.json: %zu bytes, limit %u", len,
			SSTABLE_MANIFEST_MAX);
		return -E2BIG;
	}
	root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		set_err(err, errcap, "manifest.json: line %d column %d: %s",
			je.line, je.column, je.text);
		r = -EBADMSG;
		goto out;
	}
	if (!json_is_object(root)) {
		set_err(err, errcap, "manifest.json: not a JSON object");
		r = -EBADMSG;
		goto out;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		r = -ENOMEM;
		set_err(err, errcap, "manifest.json: out of memory");
		goto out;
	}
	r = manifest_files(root, m, err, errcap);
	if (!r)
		r = manifest_time(root, "created_at", &m->has_created,
				  &m->created_ms, err, errcap);
	if (!r)
		r = manifest_time(root, "expires_at", &m->has_expires,
				  &m->expires_ms, err, errcap);
	if (!r)
		r = manifest_ephemeral(root, m, err, errcap);
	if (r == -ENOMEM)
		set_err(err, errcap, "manifest.json: out of memory");
	if (r)
		goto out;
	*out = m;
	m = NULL;
out:
	sstable_manifest_free(m);
	json_decref(root);
	return r;
}

void sstable_manifest_free(struct sstable_manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_files; i++)
		free(m->files[i]);
	free(m->files);
	free(m);
}
