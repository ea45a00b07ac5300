/*
 * snapshot.c - see snapshot.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine/snapshot.h"
#include "engine/util.h"

#define MAX_CHUNKS_PER_FILE (1u << 28)

int snapshot_new(struct snapshot **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void snapshot_free(struct snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nfiles; i++) {
		free(s->files[i].path);
		free(s->files[i].target);
		free(s->files[i].chunks);
	}
	for (uint32_t i = 0; i < s->nroots; i++)
		free(s->roots[i]);
	free(s->roots);
	free(s->files);
	free(s->schema);
	free(s);
}

int snapshot_add_root(struct snapshot *s, const char *path)
{
	char **nr = realloc(s->roots, (s->nroots + 1) * sizeof(*nr));

	if (!nr)
		return -ENOMEM;
	s->roots = nr;
	s->roots[s->nroots] = strdup(path);
	if (!s->roots[s->nroots])
		return -ENOMEM;
	return (int)s->nroots++;
}

struct snap_file *snapshot_add_file(struct snapshot *s, const char *path)
{
	struct snap_file *f;

	if (s->nfiles == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 256;
		struct snap_file *nf = realloc(s->files, cap * sizeof(*nf));

		if (!nf)
			return NULL;
		s->files = nf;
		s->cap = cap;
	}
	f = &s->files[s->nfiles];
	memset(f, 0, sizeof(*f));
	f->path = strdup(path);
	if (!f->path)
		return NULL;
	s->nfiles++;
	return f;
}

int snapshot_path_ok(const char *p)
{
	const char *c = p;

	if (!*p || *p == '/')
		return 0;
	while (*c) {
		const char *end = strchr(c, '/');
		size_t n = end ? (size_t)(end - c) : strlen(c);

		if (n == 0 || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		if (!end)
			break;
		c = end + 1;
		if (!*c)
			return 0;
	}
	return 1;
}

static json_t *cass_json(const struct snap_cass *c)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
#define PUT(k) \
	if (c->k[0]) \
		json_object_set_new(o, #k, json_string(c->k))
	PUT(keyspace);
	PUT(table);
	PUT(table_id);
	PUT(sstable);
	PUT(component);
	PUT(kind);
	PUT(index_dir);
	PUT(cdigest);
#undef PUT
	return o;
}

static json_t *file_json(const struct snap_file *f)
{
	char hex[2 * SV_ID_LEN + 1], type[2] = { f->type, 0 };
	json_t *o;

	o = json_pack("{s:s, s:i, s:s, s:i, s:I, s:I, s:I}", "path", f->path,
		      "root", (int)f->root, "type", type, "mode", (int)f->mode,
		      "mtime_ns", (json_int_t)f->mtime_ns, "size",
		      (json_int_t)f->size, "inode", (json_int_t)f->inode);
	if (!o)
		return NULL;
	if (f->target)
		json_object_set_new(o, "target", json_string(f->target));
	if (f->has_digest) {
		sv_hex(hex, f->digest, SV_ID_LEN);
		json_object_set_new(o, "digest", json_string(hex));
	}
	if (f->type == SNAP_FILE) {
		uint8_t *rec = malloc((size_t)f->nchunks * SNAP_CHUNK_REC + 1);
		char *b64;

		if (!rec) {
			json_decref(o);
			return NULL;
		}
		for (uint32_t i = 0; i < f->nchunks; i++) {
			memcpy(rec + (size_t)i * SNAP_CHUNK_REC, f->chunks[i].id,
			       SV_ID_LEN);
			sv_put_le32(rec + (size_t)i * SNAP_CHUNK_REC + SV_ID_LEN,
				    f->chunks[i].len);
		}
		b64 = util_b64enc(rec, (size_t)f->nchunks * SNAP_CHUNK_REC);
		free(rec);
		if (!b64) {
			json_decref(o);
			return NULL;
		}
		json_object_set_new(o, "chunks", json_string(b64));
		free(b64);
	}
	if (f->cass.keyspace[0] || f->cass.kind[0])
		json_object_set_new(o, "cassandra", cass_json(&f->cass));
	return o;
}

static char *to_json(const struct snapshot *s)
{
	char t0[40], t1[40];
	json_t *root, *files, *roots;
	char *text = NULL;

	util_fmt_time(t0, sizeof(t0), s->time_ns);
	util_fmt_time(t1, sizeof(t1), s->end_ns);
	root = json_pack("{s:i, s:s, s:I, s:s, s:I, s:s, s:s, s:s, s:s, s:s,"
			 " s:s, s:s, s:s}",
			 "version", SV_FORMAT_VERSION, "time", t0, "time_ns",
			 (json_int_t)s->time_ns, "end", t1, "end_ns",
			 (json_int_t)s->end_ns, "host", s->host, "node", s->node,
			 "cluster", s->cluster, "tag", s->tag, "type", s->type,
			 "host_id", s->host_id, "dc", s->dc, "rack", s->rack);
	files = json_array();
	roots = json_array();
	if (!root || !files || !roots)
		goto out;
	for (uint32_t i = 0; i < s->nroots; i++)
		json_array_append_new(roots, json_string(s->roots[i]));
	for (size_t i = 0; i < s->nfiles; i++) {
		json_t *f = file_json(&s->files[i]);

		if (!f)
			goto out;
		json_array_append_new(files, f);
	}
	json_object_set(root, "roots", roots);
	json_object_set(root, "files", files);
	if (s->schema)
		json_object_set_new(root, "schema", json_string(s->schema));
	json_object_set_new(root, "stats",
			    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
				      "files", (json_int_t)s->stats.files,
				      "bytes", (json_int_t)s->stats.bytes,
				      "bytes_read", (json_int_t)s->stats.bytes_read,
				      "bytes_new", (json_int_t)s->stats.bytes_new,
				      "bytes_stored",
				      (json_int_t)s->stats.bytes_stored,
				      "chunks", (json_int_t)s->stats.chunks,
				      "chunks_new",
				      (json_int_t)s->stats.chunks_new,
				      "damaged", (json_int_t)s->stats.damaged));
	text = json_dumps(root, JSON_COMPACT);
out:
	json_decref(files);
	json_decref(roots);
	json_decref(root);
	return text;
}

static void copy_str(char *dst, size_t cap, json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	snprintf(dst, cap, "%s", v ? v : "");
}

static int parse_file(const struct snapshot *s, json_t *o,
		      struct snap_file *f)
{
	const char *path, *type, *digest = NULL, *chunks = NULL;
	json_int_t root = 0, mode = 0, mtime = 0, size = 0, inode = 0;
	json_t *c;

	if (json_unpack(o, "{s:s, s:I, s:s, s:I, s:I, s:I, s?I, s?s, s?s}",
			"path", &path, "root", &root, "type", &type, "mode",
			&mode, "mtime_ns", &mtime, "size", &size, "inode",
			&inode, "digest", &digest, "chunks", &chunks))
		return -EBADMSG;
	if (root < 0 || (uint64_t)root >= s->nroots || strlen(type) != 1 ||
	    size < 0 || mode < 0 || mode > 07777 || !snapshot_path_ok(path))
		return -EBADMSG;
	f->path = strdup(path);
	if (!f->path)
		return -ENOMEM;
	f->root = (uint32_t)root;
	f->type = type[0];
	f->mode = (uint32_t)mode;
	f->mtime_ns = mtime;
	f->size = (uint64_t)size;
	f->inode = (uint64_t)inode;
	if (f->type == SNAP_LINK) {
		const char *t = json_string_value(json_object_get(o, "target"));

		if (!t)
			return -EBADMSG;
		f->target = strdup(t);
		if (!f->target)
			return -ENOMEM;
	} else if (f->type != SNAP_FILE && f->type != SNAP_DIR) {
		return -EBADMSG;
	}
	if (digest) {
		if (strlen(digest) != 2 * SV_ID_LEN ||
		    sv_unhex(f->digest, digest, SV_ID_LEN))
			return -EBADMSG;
		f->has_digest = 1;
	}
	if (f->type == SNAP_FILE) {
		size_t n = chunks ? strlen(chunks) / 4 * 3 : 0;
		uint8_t *rec;
		ssize_t got;
		uint64_t total = 0;

		if (!chunks)
			return -EBADMSG;
		rec = malloc(n + 1);
		if (!rec)
			return -ENOMEM;
		got = util_b64dec(chunks, rec, n);
		if (got < 0 || got % SNAP_CHUNK_REC ||
		    got / SNAP_CHUNK_REC > MAX_CHUNKS_PER_FILE) {
			free(rec);
			return -EBADMSG;
		}
		f->nchunks = (uint32_t)(got / SNAP_CHUNK_REC);
		f->chunks = malloc((f->nchunks ? f->nchunks : 1) *
				   sizeof(*f->chunks));
		if (!f->chunks) {
			free(rec);
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < f->nchunks; i++) {
			memcpy(f->chunks[i].id, rec + (size_t)i * SNAP_CHUNK_REC,
			       SV_ID_LEN);
			f->chunks[i].len = sv_get_le32(
				rec + (size_t)i * SNAP_CHUNK_REC + SV_ID_LEN);
			total += f->chunks[i].len;
		}
		free(rec);
		/* The chunk list must add up to the file: a manifest that
		 * disagrees with itself is damaged, not a short file. */
		if (total != f->size)
			return -EBADMSG;
	}
	c = json_object_get(o, "cassandra");
	if (json_is_object(c)) {
		copy_str(f->cass.keyspace, sizeof(f->cass.keyspace), c, "keyspace");
		copy_str(f->cass.table, sizeof(f->cass.table), c, "table");
		copy_str(f->cass.table_id, sizeof(f->cass.table_id), c, "table_id");
		copy_str(f->cass.sstable, sizeof(f->cass.sstable), c, "sstable");
		copy_str(f->cass.component, sizeof(f->cass.component), c,
			 "component");
		copy_str(f->cass.kind, sizeof(f->cass.kind), c, "kind");
		copy_str(f->cass.index_dir, sizeof(f->cass.index_dir), c,
			 "index_dir");
		copy_str(f->cass.cdigest, sizeof(f->cass.cdigest), c,
			 "cdigest");
	}
	return 0;
}

int snapshot_parse(const char *text, size_t len, struct snapshot **out)
{
	json_int_t t0 = 0, t1 = 0;
	struct snapshot *s = NULL;
	json_t *root, *files, *roots, *st, *v;
	json_error_t jerr;
	int version = 0, ret = -EBADMSG;
	size_t i;

	*out = NULL;
	root = json_loadb(text, len, 0, &jerr);
	if (!root)
		return -EBADMSG;
	if (json_unpack(root, "{s:i, s:I, s:I, s:o, s:o}", "version",
			&version, "time_ns", &t0, "end_ns", &t1, "roots",
			&roots, "files", &files) ||
	    !json_is_array(roots) || !json_is_array(files))
		goto out;
	if (version != SV_FORMAT_VERSION) {
		ret = -EPROTONOSUPPORT;
		goto out;
	}
	ret = snapshot_new(&s);
	if (ret)
		goto out;
	ret = -EBADMSG;
	s->time_ns = t0;
	s->end_ns = t1;
	copy_str(s->host, sizeof(s->host), root, "host");
	copy_str(s->node, sizeof(s->node), root, "node");
	copy_str(s->cluster, sizeof(s->cluster), root, "cluster");
	copy_str(s->tag, sizeof(s->tag), root, "tag");
	copy_str(s->type, sizeof(s->type), root, "type");
	copy_str(s->host_id, sizeof(s->host_id), root, "host_id");
	copy_str(s->dc, sizeof(s->dc), root, "dc");
	copy_str(s->rack, sizeof(s->rack), root, "rack");
	json_array_foreach(roots, i, v) {
		if (!json_is_string(v) ||
		    snapshot_add_root(s, json_string_value(v)) < 0)
			goto out;
	}
	s->files = calloc(json_array_size(files) + 1, sizeof(*s->files));
	if (!s->files) {
		ret = -ENOMEM;
		goto out;
	}
	s->cap = json_array_size(files) + 1;
	json_array_foreach(files, i, v) {
		int r2 = parse_file(s, v, &s->files[s->nfiles]);

		s->nfiles++;   /* so snapshot_free releases partial entries */
		if (r2) {
			ret = r2;
			goto out;
		}
	}
	v = json_object_get(root, "schema");
	if (json_is_string(v)) {
		s->schema = strdup(json_string_value(v));
		if (!s->schema) {
			ret = -ENOMEM;
			goto out;
		}
	}
	st = json_object_get(root, "stats");
	if (json_is_object(st)) {
		json_int_t a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, g = 0,
			   h = 0;

		json_unpack(st, "{s?I, s?I, s?I, s?I, s?I, s?I, s?I, s?I}",
			    "files", &a, "bytes", &b, "bytes_read", &c,
			    "bytes_new", &d, "bytes_stored", &e, "chunks", &f,
			    "chunks_new", &g, "damaged", &h);
		s->stats = (struct snap_stats){ (uint64_t)a, (uint64_t)b,
						(uint64_t)c, (uint64_t)d,
						(uint64_t)e, (uint64_t)f,
						(uint64_t)g, (uint64_t)h };
	}
	*out = s;
	s = NULL;
	ret = 0;
out:
	snapshot_free(s);
	json_decref(root);
	return ret;
}

/* ---- local cache of snapshot summaries ----
 *
 * Listing 1,000 snapshots must not download and decrypt 1,000 manifests
 * with millions of chunk ids. Snapshots are immutable and named by a random
 * id, so a summary (the snapshot without its file list) can be cached
 * forever under <cache>/<repo id>/snapshots/<oid>, sealed like any other
 * metadata (kind 4, K_meta): the cache holds nothing readable.
 */
static int cache_dir(const struct repo *r, char *out, size_t cap)
{
	const char *base = getenv("SSTVAULT_CACHE_DIR");
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char idhex[2 * REPO_ID_LEN + 1];
	int n;

	if (base && !strcmp(base, "off"))
		return -ENOENT;
	sv_hex(idhex, r->id, REPO_ID_LEN);
	if (base)
		n = snprintf(out, cap, "%s/%s/snapshots", base, idhex);
	else if (xdg)
		n = snprintf(out, cap, "%s/sstvault/%s/snapshots", xdg, idhex);
	else if (home)
		n = snprintf(out, cap, "%s/.cache/sstvault/%s/snapshots", home,
			     idhex);
	else
		return -ENOENT;
	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	return util_mkdirs(out, 0700);
}

static void cache_put(const struct repo *r, const struct snapshot *s)
{
	struct snapshot shallow = *s;
	char dir[PATH_MAX], path[PATH_MAX + 80], tmp[PATH_MAX + 100];
	uint8_t *sealed = NULL;
	size_t len;
	char *text;
	int fd;

	if (cache_dir(r, dir, sizeof(dir)))
		return;
	shallow.nfiles = 0;   /* the summary has no file list */
	text = to_json(&shallow);
	if (!text)
		return;
	if (repo_seal(r, SV_META_CATALOG, text, strlen(text), &sealed, &len))
		goto out;
	snprintf(path, sizeof(path), "%s/%s", dir, s->id);
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	if (write(fd, sealed, len) == (ssize_t)len && !close(fd))
		(void)rename(tmp, path);
	else
		close(fd);
	unlink(tmp);
out:
	free(sealed);
	free(text);
}

static int cache_get(const struct repo *r, const char *oid,
		     struct snapshot **out)
{
	char dir[PATH_MAX], path[PATH_MAX + 80], *raw = NULL;
	uint8_t *pt = NULL;
	size_t len, plen;
	int ret;

	ret = cache_dir(r, dir, sizeof(dir));
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "%s/%s", dir, oid);
	ret = util_read_file(path, 64u << 20, &raw, &len);
	if (!ret)
		ret = repo_unseal(r, SV_META_CATALOG, raw, len, &pt, &plen);
	if (!ret)
		ret = snapshot_parse((const char *)pt, plen, out);
	if (!ret)
		snprintf((*out)->id, sizeof((*out)->id), "%s", oid);
	else if (raw)
		unlink(path);   /* damaged cache entry: fetch again */
	free(raw);
	free(pt);
	return ret;
}

int snapshot_save(struct repo *r, struct snapshot *s)
{
	char name[100];
	char *text;
	int ret;

	ret = repo_new_oid(s->id);
	if (ret)
		return ret;
	text = to_json(s);
	if (!text)
		return -ENOMEM;
	snprintf(name, sizeof(name), "snapshots/%s", s->id);
	ret = repo_put_meta(r, name, SV_META_SNAPSHOT, text, strlen(text),
			    UPL_PUT_NO_OVERWRITE);
	free(text);
	if (!ret)
		cache_put(r, s);
	return ret;
}

int snapshot_load(struct repo *r, const char *oid, struct snapshot **out)
{
	char name[100];
	uint8_t *pt = NULL;
	size_t len;
	int ret;

	*out = NULL;
	snprintf(name, sizeof(name), "snapshots/%s", oid);
	ret = repo_get_meta(r, name, SV_META_SNAPSHOT, &pt, &len);
	if (!ret)
		ret = snapshot_parse((const char *)pt, len, out);
	if (!ret)
		snprintf((*out)->id, sizeof((*out)->id), "%s", oid);
	free(pt);
	return ret;
}

struct list_ctx {
	int summaries;
	struct repo *r;
	struct snapshot **v;
	size_t n, cap, damaged;
	int err;
};

static int list_one(void *arg, const char *name, uint64_t size,
		    int64_t mtime)
{
	struct list_ctx *c = arg;
	struct snapshot *s = NULL;
	const char *oid = name + strlen("snapshots/");
	int ret;

	(void)size, (void)mtime;
	if (strlen(oid) != 2 * SV_OID_LEN)
		return 0;
	ret = -ENOENT;
	if (c->summaries)
		ret = cache_get(c->r, oid, &s);
	if (ret) {
		ret = snapshot_load(c->r, oid, &s);
		if (!ret && c->summaries) {
			/* Cache it, and keep only the summary in memory. */
			cache_put(c->r, s);
			for (size_t i = 0; i < s->nfiles; i++) {
				free(s->files[i].path);
				free(s->files[i].target);
				free(s->files[i].chunks);
			}
			s->nfiles = 0;
		}
	}
	if (ret == -ENOMEM)
		return ret;
	if (ret) {
		log_err("snapshot %.8s (%s): %s", oid, name,
			ret == -EPROTONOSUPPORT ? "written by a newer sstvault" :
			"damaged or unreadable; run 'sstvault check'");
		c->damaged++;
		return 0;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 32;
		struct snapshot **nv = realloc(c->v, cap * sizeof(*nv));

		if (!nv) {
			snapshot_free(s);
			return -ENOMEM;
		}
		c->v = nv;
		c->cap = cap;
	}
	c->v[c->n++] = s;
	return 0;
}

static int by_time(const void *a, const void *b)
{
	const struct snapshot *x = *(struct snapshot *const *)a;
	const struct snapshot *y = *(struct snapshot *const *)b;

	if (x->time_ns != y->time_ns)
		return x->time_ns < y->time_ns ? -1 : 1;
	return strcmp(x->id, y->id);
}

static int list_all(struct repo *r, struct snapshot ***out, size_t *n,
		    size_t *damaged, int summaries)
{
	struct list_ctx c = { .r = r, .summaries = summaries };
	int ret = r->up->ops->list(r->up, "snapshots/", list_one, &c);

	if (ret) {
		snapshot_list_free(c.v, c.n);
		return ret;
	}
	if (c.n)
		qsort(c.v, c.n, sizeof(*c.v), by_time);
	*out = c.v;
	*n = c.n;
	if (damaged)
		*damaged = c.damaged;
	return 0;
}

int snapshot_list(struct repo *r, struct snapshot ***out, size_t *n,
		  size_t *damaged)
{
	return list_all(r, out, n, damaged, 0);
}

int snapshot_list_summaries(struct repo *r, struct snapshot ***out,
			    size_t *n, size_t *damaged)
{
	return list_all(r, out, n, damaged, 1);
}

void snapshot_list_free(struct snapshot **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		snapshot_free(v[i]);
	free(v);
}

int snapshot_find(struct snapshot **v, size_t n, const char *what)
{
	size_t len = strlen(what);
	int found = -ENOENT;

	if (strcmp(what, "latest") == 0)
		return n ? (int)n - 1 : -ENOENT;
	if (len < 4)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(v[i]->id, what, len))
			continue;
		if (found >= 0)
			return -EINVAL;
		found = (int)i;
	}
	return found;
}
