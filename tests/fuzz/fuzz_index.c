/*
 * fuzz_index.c - index object plaintexts (FORMAT.md 6).
 *
 * Input: the plaintext of one index object -> index_parse_object().
 * Properties: an accepted object consumed every byte (re-checked by
 * walking it here), each entry lies inside its pack, and every entry of
 * every pack is found by index_lookup() afterwards (the first location of
 * a chunk listed twice wins, as documented).
 *
 * The index is reused across inputs and replaced every 4096 of them: a
 * fresh one per input costs a 160 KiB calloc, which under ASan is an mmap
 * and munmap each time and made this target ten times slower. Earlier
 * inputs can only add packs and first locations, which the properties
 * allow for.
 */
#include <errno.h>
#include <string.h>

#include "engine/index.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct index *x;
	static unsigned uses;
	size_t pos = 4, total = 0, packs0, entries0;
	int ret;

	if (!x || ++uses % 4096 == 0) {
		index_destroy(x);
		x = NULL;
		if (index_create(&x))
			abort();
	}
	packs0 = index_npacks(x);
	entries0 = index_nentries(x);
	ret = index_parse_object(x, data, size);
	FUZZ_ASSERT(ret == 0 || ret == -EBADMSG);
	if (ret == 0) {
		uint32_t np = sv_get_le32(data);

		FUZZ_ASSERT(index_npacks(x) == packs0 + np);
		for (uint32_t k = 0; k < np; k++) {
			uint32_t i = (uint32_t)packs0 + k;
			uint64_t psize;
			uint32_t n;

			FUZZ_ASSERT(size - pos >= SV_OID_LEN + 12);
			FUZZ_ASSERT(!memcmp(index_pack_oid(x, i), data + pos,
					    SV_OID_LEN));
			psize = sv_get_le64(data + pos + SV_OID_LEN);
			n = sv_get_le32(data + pos + SV_OID_LEN + 8);
			FUZZ_ASSERT(index_pack_size(x, i) == psize);
			pos += SV_OID_LEN + 12;
			for (uint32_t j = 0; j < n; j++) {
				struct pack_entry pe;
				struct index_loc loc;

				pack_entry_get(data + pos, &pe);
				FUZZ_ASSERT(pe.off <= psize &&
					    pe.stored_len <= psize - pe.off);
				FUZZ_ASSERT(index_lookup(x, pe.id, pe.raw_len,
							 &loc) == 0);
				FUZZ_ASSERT(loc.pack <= i);
				pos += PACK_ENTRY_LEN;
				total++;
			}
		}
		FUZZ_ASSERT(pos == size);
		FUZZ_ASSERT(index_nentries(x) - entries0 <= total);
	}
	return 0;
}
