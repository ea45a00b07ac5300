/*
 * check.h - repository verification.
 *
 * Structure check (always): every index object opens; every indexed pack
 * exists with the recorded size; every snapshot opens and every chunk it
 * names is in the index. With read_data: every pack is read whole, its
 * trailer and header verify and agree with the index, and every blob
 * decrypts, decompresses and hashes to its id. Damage is reported by pack
 * and by the files (snapshot, path) it affects.
 */
#ifndef SV_ENGINE_CHECK_H
#define SV_ENGINE_CHECK_H

#include <stdint.h>
#include "include/sv.h"
#include "engine/repo.h"

struct check_result {
	uint64_t snapshots, index_objects, packs, blobs, bytes_read;
	uint64_t damaged_packs, damaged_blobs, missing_packs, missing_chunks;
	uint64_t damaged_snapshots, damaged_index, unreferenced_packs;
	uint64_t affected_files;
};

/* progress is an enum progress_mode (packs read during --read-data).
 * Return: 0 if the repository is sound, -EBADMSG if damage was found
 * (details logged), another -errno if the check could not run. */
int check_run(struct repo *r, int read_data, int progress,
	      struct check_result *res) SV_MUST_CHECK;

#endif
