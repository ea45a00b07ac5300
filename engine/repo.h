/*
 * repo.h - a repository: its config, its keys, and sealed metadata.
 *
 * Opening a repository reads the plaintext "config" object (format version,
 * repository id, chunker parameters), unwraps the master key from one of the
 * key slots under "keys/", verifies the config's MAC and derives the subkeys
 * (docs/FORMAT.md, "Keys"). Everything else in the repository is encrypted:
 * metadata objects (snapshots, index objects, pack headers) are "sealed"
 * with K_meta by repo_seal()/repo_unseal(), chunks by blob.h.
 *
 * A struct repo is read-only after repo_open() and may be shared by threads;
 * the uploader inside it is driven by one thread at a time (the caller's).
 */
#ifndef SV_ENGINE_REPO_H
#define SV_ENGINE_REPO_H

#include <stdint.h>
#include <sys/types.h>
#include "include/sv.h"
#include "codecs/cdc.h"
#include "codecs/hash.h"
#include "uploaders/uploader.h"

#define REPO_ID_LEN 16
#define REPO_MAX_META (1u << 30) /* largest metadata object we will read */

/* Kinds of sealed metadata objects (byte 5 of the sealed header). */
enum sv_meta_kind {
	SV_META_SNAPSHOT = 1,
	SV_META_INDEX = 2,
	SV_META_PACKHDR = 3,
	SV_META_CATALOG = 4,
	SV_META_LOCK = 5,
};

/* Sealed object header: "SVLT" | version | kind | codec | flags. */
#define SEAL_MAGIC "SVLT"
#define SEAL_HDR_LEN 8

struct repo_params {
	uint32_t cdc_min, cdc_avg, cdc_max;   /* chunker sizes */
	int zstd_level;                       /* default compression level */
	uint64_t pack_size;                   /* target pack size */
	uint64_t scrypt_n;                    /* key slot KDF cost */
	uint32_t scrypt_r, scrypt_p;
};

struct repo {
	struct uploader *up;          /* owned */
	char location[1024];
	uint8_t id[REPO_ID_LEN];
	struct repo_params params;
	/* Secrets: wiped by repo_close(). */
	uint8_t master[32];
	uint8_t k_data[32];           /* per-chunk key derivation */
	uint8_t k_meta[32];           /* sealed metadata */
	uint8_t k_catalog[32];        /* local catalog / cache files */
	uint8_t id_secret[HASH_SECRET_LEN]; /* XXH3 secret for chunk ids */
	struct cdc cdc;               /* keyed chunker */
	char slot[2 * SV_OID_LEN + 1]; /* hex id of the slot that opened it */
};

/* Default parameters of a new repository (docs/FORMAT.md). */
void repo_default_params(struct repo_params *p);

/*
 * Create a repository at location: fails with -EEXIST if a config object is
 * already there. Writes one passphrase key slot, then the config (last, so a
 * crash leaves no half-initialised repository that looks valid).
 * Return: 0, -EEXIST, -EINVAL, -errno of the backend; errbuf (512 bytes)
 * says why.
 */
int repo_init(const char *location, const struct upl_opts *uo,
	      const struct repo_params *p, const char *pass, size_t pass_len,
	      char *errbuf) SV_MUST_CHECK;

/*
 * Open a repository with a passphrase. The caller owns *out and frees it
 * with repo_close(). Return: 0; -ENOENT (no repository there); -EACCES
 * (no key slot opens with this passphrase); -EPROTONOSUPPORT (format
 * version newer than this build); -EBADMSG (config tampered); -errno of the
 * backend. errbuf (512 bytes) says why.
 */
int repo_open(struct repo **out, const char *location,
	      const struct upl_opts *uo, const char *pass, size_t pass_len,
	      char *errbuf) SV_MUST_CHECK;

/* Wipe keys, destroy the uploader, free. NULL accepted. */
void repo_close(struct repo *r);

/* Add a passphrase slot for the open repository's master key; the new
 * slot's hex id goes to slot_hex (65 bytes) if not NULL. Return 0/-errno. */
int repo_add_slot(struct repo *r, const char *pass, size_t pass_len,
		  char *slot_hex) SV_MUST_CHECK;
/* The same with a slot kind label: "passphrase" or "keyfile" (a key file's
 * content is the secret; both are stretched with scrypt). */
int repo_add_slot_kind(struct repo *r, const char *pass, size_t pass_len,
		       const char *kind, char *slot_hex) SV_MUST_CHECK;

struct repo_slot {
	char id[2 * SV_OID_LEN + 1];
	char kind[16];
	char created[40];
	int current;          /* the slot that opened this repository */
};

/* List key slots (at most max). Return 0/-errno. */
int repo_list_slots(struct repo *r, struct repo_slot *out, size_t max,
		    size_t *n) SV_MUST_CHECK;

/*
 * Remove the key slot whose id starts with id_prefix (>= 4 hex). Refuses
 * the last slot. Data is never touched: only the slot object goes.
 * Return: 0, -ENOENT, -EINVAL (ambiguous), -EPERM (last slot), -errno;
 * errbuf (512 bytes) says why.
 */
int repo_remove_slot(struct repo *r, const char *id_prefix,
		     char *errbuf) SV_MUST_CHECK;

/*
 * Seal plaintext as a metadata object of the given kind: zstd if it
 * helps, then AES-256-GCM under K_meta. *out is malloc'ed (caller frees).
 * Return: 0 or -errno.
 */
int repo_seal(const struct repo *r, enum sv_meta_kind kind, const void *pt,
	      size_t len, uint8_t **out, size_t *out_len) SV_MUST_CHECK;

/*
 * Verify and open a sealed object of the expected kind; *out is malloc'ed
 * (plaintext, plus a NUL byte not counted in *out_len). Return: 0;
 * -EBADMSG (damaged, wrong key, wrong kind); -EPROTONOSUPPORT (newer
 * version); -EINVAL (not a sealed object).
 */
int repo_unseal(const struct repo *r, enum sv_meta_kind kind,
		const void *buf, size_t len, uint8_t **out,
		size_t *out_len) SV_MUST_CHECK;

/* Seal and store / fetch and open a metadata object by name. */
int repo_put_meta(struct repo *r, const char *name, enum sv_meta_kind kind,
		  const void *pt, size_t len, unsigned flags) SV_MUST_CHECK;
int repo_get_meta(struct repo *r, const char *name, enum sv_meta_kind kind,
		  uint8_t **out, size_t *out_len) SV_MUST_CHECK;

/* A fresh random object id in hex (65 bytes). Return 0/-EIO. */
int repo_new_oid(char hex[2 * SV_OID_LEN + 1]) SV_MUST_CHECK;

/* ---- for tests and fuzzing only ---- */

/*
 * A repository over a fresh in-memory store ("mem:", see uploaders/mem.h)
 * with the given id and master key, parameters p (NULL: the defaults) and
 * every subkey derived as repo_open() derives it. Nothing is written to the
 * store: no config, no key slot. The caller owns *out (repo_close()).
 * Return: 0, -ENOMEM, -EINVAL (bad chunker parameters), -errno.
 */
int repo_open_mem(struct repo **out, const uint8_t id[REPO_ID_LEN],
		  const uint8_t master[32],
		  const struct repo_params *p) SV_MUST_CHECK;

#endif
