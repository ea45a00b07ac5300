/*
 * fuzz_sealed.c - sealed metadata objects (FORMAT.md 8): the decrypt,
 * decompress, verify path that every snapshot, index object and pack
 * header goes through.
 *
 * Input: one mode byte, then
 *   even: the raw bytes of a sealed object -> repo_unseal() (the tag
 *         cannot be forged: only genuine objects, the seeds, open);
 *   odd:  8 header bytes || body: the body is encrypted with the test key
 *         under that header (as a writer holding the key could), so
 *         repo_unseal() reaches the version/kind/codec checks and zstd
 *         with hostile frames. A raw (codec 0) object must come back
 *         byte for byte.
 * The kind expected is the header's own kind byte when it is 1..5.
 */
#include <errno.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct repo *r = fuzz_repo();
	uint8_t *out = NULL;
	size_t out_len = 0;
	int ret;

	if (size < 1)
		return 0;
	if (!(data[0] & 1)) {
		enum sv_meta_kind kind = (enum sv_meta_kind)(1 + data[0] / 2 % 5);

		ret = repo_unseal(r, kind, data + 1, size - 1, &out, &out_len);
		if (ret == 0)
			FUZZ_ASSERT(out && out[out_len] == '\0' &&
				    data[1 + 5] == kind);
		else
			FUZZ_ASSERT(out == NULL);
	} else {
		const uint8_t *hdr = data + 1;
		size_t blen, olen;
		uint8_t *obj;
		enum sv_meta_kind kind;

		if (size < 1 + SEAL_HDR_LEN)
			return 0;
		blen = size - 1 - SEAL_HDR_LEN;
		kind = hdr[5] >= 1 && hdr[5] <= 5 ? (enum sv_meta_kind)hdr[5] :
						    SV_META_SNAPSHOT;
		obj = fuzz_seal_raw(r, hdr, hdr + SEAL_HDR_LEN, blen, &olen);
		ret = repo_unseal(r, kind, obj, olen, &out, &out_len);
		if (ret == 0) {
			FUZZ_ASSERT(!memcmp(hdr, SEAL_MAGIC, 4) &&
				    hdr[4] == SV_FORMAT_VERSION &&
				    hdr[5] == kind && hdr[6] <= 1);
			FUZZ_ASSERT(out && out[out_len] == '\0');
			FUZZ_ASSERT(out_len <= REPO_MAX_META);
			if (hdr[6] == 0)
				FUZZ_ASSERT(out_len == blen &&
					    !memcmp(out, hdr + SEAL_HDR_LEN,
						    blen));
		} else {
			FUZZ_ASSERT(out == NULL);
			FUZZ_ASSERT(ret == -EBADMSG || ret == -EINVAL ||
				    ret == -EPROTONOSUPPORT || ret == -ENOMEM);
		}
		free(obj);
	}
	free(out);
	return 0;
}
