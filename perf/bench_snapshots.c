/*
 * bench_snapshots - fill a repository with many snapshots, for timing
 * `sstvault snapshots` over a large history (issue: 1,000 manifests).
 *
 *   bench_snapshots --repo DIR --password-file F [--count N] [--files M]
 *
 * Writes N snapshots of M files each (sizes and chunk lists made up: they
 * are never restored) through the real snapshot_save() path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/repo.h"
#include "engine/snapshot.h"
#include "engine/util.h"

int main(int argc, char **argv)
{
	const char *repo = NULL, *pwf = NULL;
	int count = 1000, files = 200;
	char errbuf[512], *pass = NULL;
	size_t plen = 0;
	struct repo *r = NULL;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--repo"))
			repo = argv[i + 1];
		else if (!strcmp(argv[i], "--password-file"))
			pwf = argv[i + 1];
		else if (!strcmp(argv[i], "--count"))
			count = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--files"))
			files = atoi(argv[i + 1]);
	}
	if (!repo || !pwf || util_read_file(pwf, 4096, &pass, &plen)) {
		fprintf(stderr, "usage: bench_snapshots --repo DIR "
			"--password-file F [--count N] [--files M]\n");
		return 2;
	}
	if (plen && pass[plen - 1] == '\n')
		pass[--plen] = '\0';
	if (repo_open(&r, repo, NULL, pass, plen, errbuf)) {
		fprintf(stderr, "%s\n", errbuf);
		return 1;
	}
	for (int k = 0; k < count; k++) {
		struct snapshot *s = NULL;
		char path[64];

		if (snapshot_new(&s) || snapshot_add_root(s, "/data") < 0)
			return 1;
		s->time_ns = util_now_ns() - (int64_t)(count - k) * 3600000000000LL;
		s->end_ns = s->time_ns + 1000000000;
		snprintf(s->node, sizeof(s->node), "node%d", k % 10);
		snprintf(s->type, sizeof(s->type), "snapshot");
		for (int i = 0; i < files; i++) {
			struct snap_file *f;

			snprintf(path, sizeof(path), "ks/t/nb-%d-big-Data.db", i);
			f = snapshot_add_file(s, path);
			if (!f)
				return 1;
			f->type = SNAP_FILE;
			f->mode = 0644;
			f->size = 4u << 20;
			f->nchunks = 4;
			f->chunks = calloc(4, sizeof(*f->chunks));
			for (int c = 0; c < 4; c++) {
				f->chunks[c].len = 1u << 20;
				if (util_random(f->chunks[c].id, SV_ID_LEN))
					return 1;
			}
			f->has_digest = 1;
		}
		s->stats.files = (uint64_t)files;
		if (snapshot_save(r, s)) {
			fprintf(stderr, "save failed: %s\n", r->up->errbuf);
			return 1;
		}
		snapshot_free(s);
	}
	repo_close(r);
	free(pass);
	printf("wrote %d snapshots of %d files\n", count, files);
	return 0;
}
