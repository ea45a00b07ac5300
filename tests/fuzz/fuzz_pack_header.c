/*
 * fuzz_pack_header.c - pack trailers and headers (FORMAT.md 5).
 *
 * Input: one mode byte, then
 *   mode 0: le64 pack_size || header plaintext -> pack_parse_header();
 *   mode 1: le16 blob-area size || header plaintext: the plaintext is
 *           sealed (uncompressed; fuzz_sealed covers zstd) with the test
 *           key and stored as a whole pack (zeros,
 *           sealed header, trailer) -> pack_read_header(), whose result
 *           must equal pack_parse_header() of the same plaintext;
 *   mode 2: the raw bytes of a pack object -> pack_read_header().
 * Properties: an accepted header has n entries laid back to back from
 * offset 0 inside the pack, and fills the plaintext exactly.
 */
#include <errno.h>
#include <string.h>

#include "engine/pack.h"
#include "tests/fuzz/fuzz.h"
#include "uploaders/mem.h"

static void check_entries(const struct pack_entry *e, size_t n,
			  size_t pt_len, uint64_t pack_size)
{
	uint64_t end = 0;

	FUZZ_ASSERT(pt_len == SV_OID_LEN + 4 + n * PACK_ENTRY_LEN);
	for (size_t i = 0; i < n; i++) {
		FUZZ_ASSERT(e[i].off == end);
		FUZZ_ASSERT(e[i].stored_len >= 28 && e[i].codec <= 1);
		end += e[i].stored_len;
	}
	FUZZ_ASSERT(end <= pack_size);
}

static int read_stored(struct repo *r, const uint8_t *obj, size_t len,
		       struct pack_entry **e, size_t *n)
{
	char name[100];
	int ret;

	index_pack_name(fuzz_oid, name, sizeof(name));
	if (r->up->ops->put(r->up, name, obj, len, 0))
		abort();
	ret = pack_read_header(r, fuzz_oid, len, e, n);
	(void)r->up->ops->remove(r->up, name);
	if (ret)
		FUZZ_ASSERT(*e == NULL && *n == 0);
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct repo *r = fuzz_repo();
	struct pack_entry *e = NULL, *e2 = NULL;
	size_t n = 0, n2 = 0;
	int ret, ret2;

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0: {
		uint64_t pack_size;

		if (size < 9)
			return 0;
		pack_size = sv_get_le64(data + 1);
		ret = pack_parse_header(data + 9, size - 9, fuzz_oid, pack_size,
					&e, &n);
		if (ret == 0)
			check_entries(e, n, size - 9, pack_size);
		else
			FUZZ_ASSERT(e == NULL && n == 0 && ret == -EBADMSG);
		break;
	}
	case 1: {
		uint8_t *sealed = NULL, *obj;
		size_t sl, area, len;

		if (size < 3)
			return 0;
		area = sv_get_le16(data + 1);
		static const uint8_t hdr[SEAL_HDR_LEN] = {
			'S', 'V', 'L', 'T', SV_FORMAT_VERSION, SV_META_PACKHDR,
			0, 0 };

		sealed = fuzz_seal_raw(r, hdr, data + 3, size - 3, &sl);
		len = area + sl + PACK_TRAILER_LEN;
		obj = calloc(1, len);
		if (!obj)
			abort();
		memcpy(obj + area, sealed, sl);
		sv_put_le32(obj + area + sl, (uint32_t)sl);
		memcpy(obj + area + sl + 4, PACK_MAGIC, 4);
		ret = read_stored(r, obj, len, &e, &n);
		ret2 = pack_parse_header(data + 3, size - 3, fuzz_oid, area,
					 &e2, &n2);
		FUZZ_ASSERT(ret == ret2);
		FUZZ_ASSERT(n == n2);
		if (ret == 0) {
			for (size_t i = 0; i < n; i++)
				FUZZ_ASSERT(!memcmp(e[i].id, e2[i].id,
						    SV_ID_LEN) &&
					    e[i].off == e2[i].off &&
					    e[i].stored_len == e2[i].stored_len &&
					    e[i].raw_len == e2[i].raw_len &&
					    e[i].codec == e2[i].codec);
			check_entries(e, n, size - 3, area);
		}
		free(obj);
		free(sealed);
		break;
	}
	default:
		ret = read_stored(r, data + 1, size - 1, &e, &n);
		FUZZ_ASSERT(ret <= 0);
		break;
	}
	free(e);
	free(e2);
	return 0;
}
