/*
 * fuzz_sstable.c - Cassandra file names, TOC.txt, digest files and
 * snapshot manifest.json (engine/sstable.h): everything sstvault reads
 * from a data directory before trusting it.
 *
 * Input: one selector byte, then the bytes for
 *   0: a component file name -> sstable_parse_name(); an accepted name
 *      must format back to itself (documented exact inverse), give a key
 *      that prefixes it, and survive sstable_rename_id() to an id that
 *      parses back; also sstable_parse_table_dir();
 *   1: TOC.txt -> sstable_parse_toc(), then sstable_check_toc() against
 *      its own entries (nothing may be missing);
 *   2: a digest file (next byte picks the component name) ->
 *      sstable_parse_digest() and sstable_format_digest();
 *   3: manifest.json -> sstable_parse_manifest(); accepted file entries are
 *      never absolute and have no ".." component.
 */
#include <errno.h>
#include <string.h>

#include "engine/sstable.h"
#include "tests/fuzz/fuzz.h"

static void fuzz_name(const uint8_t *data, size_t size)
{
	static struct sstable_name n, n2;
	static struct sstable_table_dir td;
	char name[SSTABLE_NAME_MAX + 64], out[SSTABLE_NAME_MAX + 64];
	char key[SSTABLE_NAME_MAX + 1];
	int ret, len;

	if (size >= sizeof(name))
		size = sizeof(name) - 1;
	memcpy(name, data, size);
	name[size] = '\0';
	ret = sstable_parse_name(name, &n);
	FUZZ_ASSERT(ret == 0 || ret == SSTABLE_TEMPORARY ||
		    ret == SSTABLE_TXNLOG || ret == -EINVAL ||
		    ret == -ENAMETOOLONG);
	if (ret == 0 || ret == SSTABLE_TEMPORARY) {
		len = sstable_format_name(&n, out, sizeof(out));
		FUZZ_ASSERT(len == (int)strlen(name));
		FUZZ_ASSERT(!strcmp(out, name));
		len = sstable_key(&n, key, sizeof(key));
		FUZZ_ASSERT(len > 0 && !strncmp(name, key, (size_t)len) &&
			    name[len] == '-');
		len = sstable_sibling_name(&n, "TOC.txt", out, sizeof(out));
		FUZZ_ASSERT(len > 0 || len == -ENAMETOOLONG);
		if (len > 0) {
			char key2[SSTABLE_NAME_MAX + 1];

			ret = sstable_parse_name(out, &n2);
			FUZZ_ASSERT(ret == 0 || ret == SSTABLE_TEMPORARY);
			FUZZ_ASSERT(n2.comp == SSTABLE_C_TOC);
			FUZZ_ASSERT(sstable_key(&n2, key2, sizeof(key2)) ==
				    (int)strlen(key) && !strcmp(key, key2));
		}
		len = sstable_sibling_name(&n, name, out, sizeof(out));
		FUZZ_ASSERT(len != -ENOSPC);
		len = sstable_rename_id(name, "42", out, sizeof(out));
		if (len > 0) {
			ret = sstable_parse_name(out, &n2);
			FUZZ_ASSERT(ret == 0 || ret == SSTABLE_TEMPORARY);
			FUZZ_ASSERT(n2.id_kind == SSTABLE_ID_INT &&
				    n2.gen == 42);
			FUZZ_ASSERT(!strcmp(n2.component, n.component));
		}
		len = sstable_rename_id(name, "3gq8_0x1a_2h5ol2b8mwr1uf0zp4",
					out, sizeof(out));
		if (len > 0) {
			ret = sstable_parse_name(out, &n2);
			FUZZ_ASSERT(ret == 0 || ret == SSTABLE_TEMPORARY);
			FUZZ_ASSERT(n2.id_kind == SSTABLE_ID_UUID);
		}
	} else if (ret == SSTABLE_TXNLOG) {
		FUZZ_ASSERT(sstable_format_name(&n, out, sizeof(out)) ==
			    -EINVAL);
	}
	ret = sstable_parse_table_dir(name, &td);
	FUZZ_ASSERT(ret == 0 || ret == -EINVAL || ret == -ENAMETOOLONG);
}

static void fuzz_toc(const uint8_t *data, size_t size)
{
	static struct sstable_toc toc;
	static struct sstable_toc_check res;
	const char *present[SSTABLE_TOC_MAX];
	int ret;

	ret = sstable_parse_toc(data, size, &toc);
	FUZZ_ASSERT(ret == 0 || ret == -E2BIG || ret == -EINVAL);
	if (ret)
		return;
	FUZZ_ASSERT(toc.count <= SSTABLE_TOC_MAX);
	for (unsigned i = 0; i < toc.count; i++) {
		present[i] = sstable_toc_get(&toc, i);
		FUZZ_ASSERT(present[i] != NULL && present[i][0] != '\0');
		for (unsigned k = 0; k < i; k++)
			FUZZ_ASSERT(strcmp(present[i], present[k]));
	}
	ret = sstable_check_toc(&toc, present, toc.count, &res);
	FUZZ_ASSERT(ret == 0 && res.missing == 0 && res.fatal == 0 &&
		    res.unlisted == 0);
	/* With nothing present, every entry is missing. */
	ret = sstable_check_toc(&toc, present, 0, &res);
	FUZZ_ASSERT(res.missing == toc.count && res.unlisted == 0);
	FUZZ_ASSERT(ret == (res.fatal ? -ENOENT : 0));
}

static void fuzz_digest(const uint8_t *data, size_t size)
{
	static const char *comps[] = { "Digest.crc32", "Digest.adler32",
				       "Digest.sha1", "Data.db" };
	struct sstable_digest d;
	char out[48];
	int ret;

	if (size < 1)
		return;
	ret = sstable_parse_digest(comps[data[0] % 4], data + 1, size - 1, &d);
	FUZZ_ASSERT(ret == 0 || ret == -EINVAL);
	if (ret == 0) {
		FUZZ_ASSERT(data[0] % 4 != 3);
		FUZZ_ASSERT(sstable_format_digest(&d, out, sizeof(out)) > 0);
	}
}

static void fuzz_manifest(const uint8_t *data, size_t size)
{
	struct sstable_manifest *m = (struct sstable_manifest *)1;
	char err[256];
	int ret;

	ret = sstable_parse_manifest(data, size, &m, err, sizeof(err));
	FUZZ_ASSERT(ret == 0 || ret == -EBADMSG || ret == -E2BIG ||
		    ret == -ENOMEM);
	if (ret) {
		FUZZ_ASSERT(m == NULL);
		return;
	}
	for (size_t i = 0; i < m->n_files; i++) {
		const char *f = m->files[i], *c = f;

		FUZZ_ASSERT(f[0] != '/');
		while (*c) {
			const char *end = strchr(c, '/');
			size_t n = end ? (size_t)(end - c) : strlen(c);

			FUZZ_ASSERT(!(n == 2 && c[0] == '.' && c[1] == '.'));
			if (!end)
				break;
			c = end + 1;
		}
	}
	sstable_manifest_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		fuzz_name(data + 1, size - 1);
		break;
	case 1:
		fuzz_toc(data + 1, size - 1);
		break;
	case 2:
		fuzz_digest(data + 1, size - 1);
		break;
	default:
		fuzz_manifest(data + 1, size - 1);
		break;
	}
	return 0;
}
